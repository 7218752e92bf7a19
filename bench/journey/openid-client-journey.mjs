// The whole FAPI 2.0 authorization-code journey, driven by the certified relying-party library
// panva/openid-client 6 (unmodified) and a real headless Chromium (playwright-core), against any
// OP: Bulwark (BULWARK=1: the UK Open Banking steps too) or the peer OP
// /work/shared/peers/oidc-provider/fapi2-op.mjs.
//
//   discovery -> [BULWARK=1: client_credentials app token -> account-access consent]
//   -> PAR (private_key_jwt over mTLS, PKCE S256, state, nonce[, OB claims])
//   -> /authorize in Chromium through the OP's login and consent pages
//   -> callback captured by intercepting redirect_uri in the browser (no server needed)
//   -> authorization response validated by openid-client (state, RFC 9207 iss)
//   -> authorization_code grant (PKCE, mTLS, private_key_jwt; ID token validated: nonce, iss, aud)
//   -> access token is a JWT, signature checked against the OP's JWKS, cnf.x5t#S256 == SHA-256
//      thumbprint of the TLS client certificate
//   -> refresh_token grant -> the refreshed access token is cert-bound too
//   -> token introspection (private_key_jwt over mTLS)
// Every step prints PASS/FAIL (INFO lines are not counted); the last line is `N passed, M failed`,
// and the exit code is non-zero when anything failed.
//
// Env (the run.sh next to this file sets all of them):
//   ISSUER        the OP's issuer URL (required)
//   CA_FILE       PEM of the CA that signed the OP's TLS certificate
//   CLIENT_CERT   PEM client certificate for mTLS (Bulwark: a QWAC)      CLIENT_KEY  its key
//   JWT_KEY       PKCS#8 PEM private key for private_key_jwt             KID         its kid
//   JWT_ALG       ES256 (default) or PS256
//   CLIENT_ID     REDIRECT_URI (https://127.0.0.1/cb)     SCOPE (openid accounts)
//   PSU_USERNAME  PSU_PASSWORD  what is typed into the OP's login page
//   BULWARK=1     Open Banking mode: app token + account-access consent, OB `claims` in the PAR,
//                 consent id in the ID token and in the introspection answer
//   INTROSPECT    which token the counted introspection step uses: access_token (default) or
//                 refresh_token (for an OP that cannot introspect JWT access tokens)
//   AT_JWT_TYP    expected `typ` of the JWT access token (default: not checked, printed as INFO)
//   DEPS_DIR      where package.json's dependencies are installed (/tmp/journey-deps)
//   CHROMIUM      Chromium executable (/usr/bin/chromium)
//   ARTIFACTS     a folder for screenshots of each page (optional)
//   LABEL         a name printed in the header
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const env = (k, d) => (process.env[k] === undefined || process.env[k] === '' ? d : process.env[k]);
const ISSUER = env('ISSUER');
if (!ISSUER) { console.error('ISSUER is required'); process.exit(2); }
const DEPS_DIR = env('DEPS_DIR', '/tmp/journey-deps');
const CA_FILE = env('CA_FILE');
const CLIENT_CERT = env('CLIENT_CERT');
const CLIENT_KEY = env('CLIENT_KEY');
const JWT_KEY = env('JWT_KEY');
const KID = env('KID');
const JWT_ALG = env('JWT_ALG', 'ES256');
const CLIENT_ID = env('CLIENT_ID');
const REDIRECT_URI = env('REDIRECT_URI', 'https://127.0.0.1/cb');
const SCOPE = env('SCOPE', 'openid accounts');
const PSU_USERNAME = env('PSU_USERNAME', 'psu');
const PSU_PASSWORD = env('PSU_PASSWORD', 'psu');
const BULWARK = env('BULWARK', '0') === '1';
const INTROSPECT = env('INTROSPECT', 'access_token');
const AT_JWT_TYP = env('AT_JWT_TYP');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
const ARTIFACTS = env('ARTIFACTS');
const LABEL = env('LABEL', ISSUER);
for (const [k, v] of Object.entries({ CA_FILE, CLIENT_CERT, CLIENT_KEY, JWT_KEY, CLIENT_ID })) {
  if (!v) { console.error(`${k} is required`); process.exit(2); }
}

const req = createRequire(path.join(DEPS_DIR, 'package.json'));
const load = (n) => import(pathToFileURL(req.resolve(n)).href);
const client = await load('openid-client');
const jose = await load('jose');
const undici = await load('undici');
const pw = await load('playwright-core');
const chromium = pw.chromium ?? pw.default?.chromium; // CommonJS package
const versionOf = (n) => JSON.parse(fs.readFileSync(path.join(DEPS_DIR, 'node_modules', n, 'package.json'), 'utf8')).version;

const read = (f) => fs.readFileSync(f, 'utf8');
const caPem = read(CA_FILE);
const certPem = read(CLIENT_CERT);
const certX5t = crypto.createHash('sha256').update(new crypto.X509Certificate(certPem).raw).digest('base64url');

let passed = 0; let failed = 0;
const check = (name, ok, detail = '') => {
  if (ok) passed += 1; else failed += 1;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ` - ${detail}` : ''}`);
  return ok;
};
const info = (msg) => console.log(`INFO ${msg}`);
// openid-client errors carry the OP's answer in .error/.error_description, or .code + .cause
const why = (e) => {
  const parts = [e?.error ?? e?.code ?? e?.name, e?.error_description ?? e?.message];
  if (e?.status) parts.push(`HTTP ${e.status}`);
  if (e?.cause && !(e.cause instanceof Error)) {
    try { parts.push(`cause=${JSON.stringify(e.cause).slice(0, 600)}`); } catch { /* ignore */ }
  } else if (e?.cause?.message) parts.push(`cause=${e.cause.message}`);
  return parts.filter(Boolean).join(': ');
};
const finish = async (code) => {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(code ?? (failed ? 1 : 0));
};
// A step that must succeed for the journey to go on.
const step = async (name, fn, detail) => {
  try {
    const v = await fn();
    check(name, true, detail ? detail(v) : '');
    return v;
  } catch (e) {
    check(name, false, why(e));
    await cleanup();
    return finish(1);
  }
};

console.log(`== openid-client ${versionOf('openid-client')} (oauth4webapi ${versionOf('oauth4webapi')}), playwright-core ${versionOf('playwright-core')}, node ${process.version}`);
console.log(`== ${LABEL}: issuer ${ISSUER}, client ${CLIENT_ID}${BULWARK ? ', Open Banking mode' : ''}`);

const mtlsAgent = new undici.Agent({ connect: { ca: caPem, cert: certPem, key: read(CLIENT_KEY) } });
const mtlsFetch = (url, opts) => undici.fetch(url, { ...opts, dispatcher: mtlsAgent });
let browser;
async function cleanup() {
  try { await browser?.close(); } catch { /* ignore */ }
  try { await mtlsAgent.close(); } catch { /* ignore */ }
}

// ---------------------------------------------------------------------------------------------
// 1. discovery; private_key_jwt (openid-client puts aud = issuer, iss = sub = client_id, jti, exp)
const jwtKey = await jose.importPKCS8(read(JWT_KEY), JWT_ALG);
const auth = client.PrivateKeyJwt(KID ? { key: jwtKey, kid: KID } : jwtKey);
const config = await step('discovery', () => client.discovery(new URL(ISSUER), CLIENT_ID, {
  token_endpoint_auth_signing_alg: JWT_ALG,
  tls_client_certificate_bound_access_tokens: true,
  use_mtls_endpoint_aliases: true, // RFC 8705 5: an mTLS client uses the aliases where published
}, auth, { [client.customFetch]: mtlsFetch }), (c) => `issuer=${c.serverMetadata().issuer}`);
const md = config.serverMetadata();
check('discovery: PAR endpoint, PKCE S256, iss response parameter advertised',
  typeof md.pushed_authorization_request_endpoint === 'string'
  && md.code_challenge_methods_supported?.includes('S256')
  && md.authorization_response_iss_parameter_supported === true,
  `par=${md.pushed_authorization_request_endpoint} pkce=${md.code_challenge_methods_supported} iss_param=${md.authorization_response_iss_parameter_supported}`);
const jwks = jose.createLocalJWKSet(await (await mtlsFetch(md.jwks_uri)).json());

// ---------------------------------------------------------------------------------------------
// 2. Open Banking: application token + account-access consent (the PSU authorises it later)
let consentId;
if (BULWARK) {
  const app = await step('client_credentials grant (scope accounts, private_key_jwt over mTLS)',
    () => client.clientCredentialsGrant(config, { scope: 'accounts' }),
    (t) => `token_type=${t.token_type} scope=${t.scope ?? ''} expires_in=${t.expires_in}`);
  const expiry = new Date(Date.now() + 86400_000).toISOString().replace(/\.\d{3}Z$/, '+00:00');
  const body = JSON.stringify({ Data: { Permissions: ['ReadAccountsDetail', 'ReadBalances'], ExpirationDateTime: expiry }, Risk: {} });
  const url = new URL('/open-banking/v3.1/aisp/account-access-consents', ISSUER.endsWith('/') ? ISSUER : `${ISSUER}/`);
  const res = await step('POST account-access-consents (bearer app token over mTLS) -> 201',
    async () => {
      const r = await client.fetchProtectedResource(config, app.access_token, url, 'POST', body,
        new Headers({ 'content-type': 'application/json', accept: 'application/json', 'x-fapi-interaction-id': crypto.randomUUID() }));
      const text = await r.text();
      if (r.status !== 201) throw new Error(`HTTP ${r.status} ${text.slice(0, 400)}`);
      return JSON.parse(text);
    }, (j) => `ConsentId=${j?.Data?.ConsentId} Status=${j?.Data?.Status}`);
  consentId = res?.Data?.ConsentId;
  if (!check('consent has Data.ConsentId', typeof consentId === 'string' && consentId.length > 0)) {
    await cleanup(); await finish(1);
  }
}

// ---------------------------------------------------------------------------------------------
// 3. PAR
const codeVerifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const parParams = {
  response_type: 'code',
  redirect_uri: REDIRECT_URI,
  scope: SCOPE,
  state,
  nonce,
  code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
  code_challenge_method: 'S256',
};
if (BULWARK) {
  parParams.claims = JSON.stringify({
    id_token: {
      openbanking_intent_id: { value: consentId, essential: true },
      acr: { essential: true, values: ['urn:openbanking:psd2:sca'] },
    },
    userinfo: { openbanking_intent_id: { value: consentId, essential: true } },
  });
}
const authUrl = await step('PAR (private_key_jwt over mTLS) returns request_uri',
  () => client.buildAuthorizationUrlWithPAR(config, parParams),
  (u) => `request_uri=${u.searchParams.get('request_uri')}`);
check('authorization URL carries only client_id + request_uri',
  [...authUrl.searchParams.keys()].sort().join(',') === 'client_id,request_uri', authUrl.href);

// ---------------------------------------------------------------------------------------------
// 4. the PSU's browser: /authorize -> login -> consent -> redirect_uri (intercepted)
let shot = 0;
const snap = async (page, what) => {
  if (!ARTIFACTS) return;
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  shot += 1;
  await page.screenshot({ path: path.join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${what}.png`), fullPage: true }).catch(() => {});
};
const callbackUrl = await step('browser: /authorize -> login -> consent -> redirect to redirect_uri', async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const cb = new URL(REDIRECT_URI);
  const isCallback = (u) => { const x = new URL(u); return x.origin === cb.origin && x.pathname === cb.pathname; };
  let resolveCb;
  const gotCallback = new Promise((r) => { resolveCb = r; });
  // The redirect_uri is not served by anything: the browser request to it is intercepted here.
  await context.route((u) => isCallback(u.href), async (route) => {
    resolveCb(route.request().url());
    await route.fulfill({ status: 200, contentType: 'text/html', body: '<title>callback</title><p>callback captured</p>' });
  });
  // also seen when the redirect target is reached through a 303 chain
  page.on('request', (r) => { if (isCallback(r.url())) resolveCb(r.url()); });
  const trail = [];
  page.on('response', (r) => { if (r.request().isNavigationRequest()) trail.push(`${r.status()} ${r.url().split('?')[0]}`); });

  let done = false;
  gotCallback.then(() => { done = true; });
  await page.goto(authUrl.href, { waitUntil: 'domcontentloaded' }).catch((e) => { if (!done) throw e; });
  const acted = [];
  for (let i = 0; i < 8 && !done; i += 1) {
    await page.waitForLoadState('domcontentloaded').catch(() => {});
    if (done) break;
    const has = async (sel) => (await page.locator(sel).count()) > 0;
    const pageText = async () => (await page.locator('body').innerText().catch(() => '')).replace(/\s+/g, ' ').slice(0, 400);
    // the same page again (wrong password, consent refused, ...): stop with what it says
    const again = async (kind) => {
      if (acted.length && acted[acted.length - 1].startsWith(kind)) {
        await snap(page, `${kind}-again`);
        throw new Error(`${kind} page shown again at ${page.url()} [${trail.join(' -> ')}]: ${await pageText()}`);
      }
    };
    if (await has('input[name=username]') && await has('input[name=password]')) {
      await again('login');
      await snap(page, 'login');
      await page.fill('input[name=username]', PSU_USERNAME);
      await page.fill('input[name=password]', PSU_PASSWORD);
      acted.push('login(username/password)');
      await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }).catch(() => {}), page.click('form button[type=submit], form input[type=submit]')]);
    } else if (await has('input[name=login]') && await has('input[name=password]')) {
      await again('login');
      await snap(page, 'login');
      await page.fill('input[name=login]', PSU_USERNAME);
      await page.fill('input[name=password]', PSU_PASSWORD);
      acted.push('login(login/password)');
      await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }).catch(() => {}), page.click('form button[type=submit]')]);
    } else if (await has('button[name=decision][value=authorise]')) {
      await again('consent');
      // Bulwark's consent page: pick every account (click the <label>, the input is covered), Authorise
      const accounts = page.locator('input[name=account]');
      const n = await accounts.count();
      for (let k = 0; k < n; k += 1) {
        const id = await accounts.nth(k).getAttribute('id');
        const type = await accounts.nth(k).getAttribute('type');
        if (type === 'radio' && k > 0) break;
        if (id) await page.click(`label[for="${id}"]`);
        else await accounts.nth(k).check({ force: true });
      }
      await snap(page, 'consent');
      acted.push(`consent(${n} account${n === 1 ? '' : 's'}, authorise)`);
      await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }).catch(() => {}), page.click('button[name=decision][value=authorise]')]);
    } else if (await has('input[name=prompt][value=consent]')) {
      await again('consent');
      // oidc-provider devInteractions consent page: "Continue"
      await snap(page, 'consent');
      acted.push('consent(continue)');
      await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }).catch(() => {}), page.click('form button[type=submit]')]);
    } else {
      await new Promise((r) => { setTimeout(r, 300); });
      if (done) break;
      await snap(page, 'unknown');
      throw new Error(`unexpected page ${page.url()} [${trail.join(' -> ')}]: ${await pageText()}`);
    }
  }
  const url = await Promise.race([gotCallback, new Promise((_, rej) => { setTimeout(() => rej(new Error(`no redirect to ${REDIRECT_URI} [${trail.join(' -> ')}] at ${page.url()}`)), 10_000); })]);
  info(`browser: ${acted.join(' -> ')}; navigations: ${trail.join(' -> ')}`);
  return new URL(url);
}, (u) => `${u.origin}${u.pathname}?${[...u.searchParams.keys()].join('&')}`);
await browser.close().catch(() => {}); browser = undefined;

const cbErr = callbackUrl.searchParams.get('error');
if (cbErr) {
  check('authorization response has a code', false, `error=${cbErr} ${callbackUrl.searchParams.get('error_description') ?? ''}`);
  await cleanup(); await finish(1);
}
check('authorization response: code, state and iss (RFC 9207) present',
  !!callbackUrl.searchParams.get('code') && callbackUrl.searchParams.get('state') === state && !!callbackUrl.searchParams.get('iss'),
  `iss=${callbackUrl.searchParams.get('iss')}`);
check('authorization response: iss == issuer', callbackUrl.searchParams.get('iss') === md.issuer,
  `iss=${callbackUrl.searchParams.get('iss')} issuer=${md.issuer}`);

// ---------------------------------------------------------------------------------------------
// 5. code -> tokens (openid-client validates the response: state, iss; then the ID token)
const tokens = await step('authorization_code grant (PKCE, private_key_jwt over mTLS; openid-client validated state, iss, ID token, nonce)',
  () => client.authorizationCodeGrant(config, callbackUrl, {
    pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce, idTokenExpected: SCOPE.split(' ').includes('openid'),
  }),
  (t) => `token_type=${t.token_type} expires_in=${t.expires_in} scope=${t.scope ?? ''} refresh_token=${t.refresh_token ? 'yes' : 'no'} id_token=${t.id_token ? 'yes' : 'no'}`);
const idClaims = tokens.claims();
if (idClaims) {
  info(`ID token: ${JSON.stringify(idClaims)}`);
  if (BULWARK) {
    check('ID token openbanking_intent_id == consent id', idClaims.openbanking_intent_id === consentId, `${idClaims.openbanking_intent_id}`);
    check('ID token acr == urn:openbanking:psd2:sca', idClaims.acr === 'urn:openbanking:psd2:sca', `${idClaims.acr}`);
  }
}

// A JWT access token signed by the OP (JWKS), bound to our certificate.
async function checkAccessToken(what, at) {
  let parts;
  try {
    parts = await jose.jwtVerify(at, jwks, { issuer: md.issuer });
  } catch (e) {
    let hdr = '';
    try { hdr = JSON.stringify(jose.decodeProtectedHeader(at)); } catch { hdr = `(not a JWT: ${String(at).slice(0, 20)}...)`; }
    check(`${what} is a JWT signed by the OP (JWKS)`, false, `${why(e)} header=${hdr}`);
    return undefined;
  }
  const { payload, protectedHeader } = parts;
  check(`${what} is a JWT signed by the OP (JWKS)`, true, `alg=${protectedHeader.alg} typ=${protectedHeader.typ} kid=${protectedHeader.kid}`);
  if (AT_JWT_TYP) check(`${what} typ == ${AT_JWT_TYP}`, protectedHeader.typ === AT_JWT_TYP, `typ=${protectedHeader.typ}`);
  check(`${what} cnf.x5t#S256 == SHA-256 thumbprint of the client certificate`,
    payload.cnf?.['x5t#S256'] === certX5t, `cnf=${JSON.stringify(payload.cnf)} expected=${certX5t}`);
  info(`${what} claims: ${JSON.stringify(payload)}`);
  return payload;
}
const at1 = await checkAccessToken('access token', tokens.access_token);
check('token response has a refresh_token', typeof tokens.refresh_token === 'string');

// ---------------------------------------------------------------------------------------------
// 6. refresh
let refreshed;
if (tokens.refresh_token) {
  try {
    refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    check('refresh_token grant (private_key_jwt over mTLS)', typeof refreshed.access_token === 'string',
      `token_type=${refreshed.token_type} expires_in=${refreshed.expires_in} new refresh_token=${refreshed.refresh_token ? (refreshed.refresh_token === tokens.refresh_token ? 'same' : 'rotated') : 'none'} id_token=${refreshed.id_token ? 'yes' : 'no'}`);
  } catch (e) {
    check('refresh_token grant (private_key_jwt over mTLS)', false, why(e));
  }
}
if (refreshed) {
  check('refreshed access token differs from the first', refreshed.access_token !== tokens.access_token);
  const at2 = await checkAccessToken('refreshed access token', refreshed.access_token);
  if (at1 && at2 && at1.sub !== undefined) check('refreshed access token has the same sub', at2.sub === at1.sub, `${at1.sub} / ${at2.sub}`);
}

// ---------------------------------------------------------------------------------------------
// 7. introspection (private_key_jwt over mTLS)
const introspectWhat = INTROSPECT === 'refresh_token' ? 'refresh token' : 'access token';
const introspectToken = INTROSPECT === 'refresh_token'
  ? (refreshed?.refresh_token ?? tokens.refresh_token)
  : (refreshed?.access_token ?? tokens.access_token);
if (INTROSPECT !== 'access_token') {
  // still show what the OP says about the access token, without counting it
  try {
    const i = await client.tokenIntrospection(config, refreshed?.access_token ?? tokens.access_token);
    info(`introspection of the access token -> ${JSON.stringify(i)}`);
  } catch (e) {
    info(`introspection of the access token -> ${why(e)}`);
  }
}
try {
  const intro = await client.tokenIntrospection(config, introspectToken);
  check(`introspection of the ${refreshed && INTROSPECT === 'access_token' ? 'refreshed ' : ''}${introspectWhat}: active`, intro.active === true, JSON.stringify(intro));
  check('introspection: client_id', intro.client_id === CLIENT_ID, `client_id=${intro.client_id}`);
  if (INTROSPECT === 'access_token') {
    check('introspection: cnf.x5t#S256 == client certificate thumbprint', intro.cnf?.['x5t#S256'] === certX5t, `cnf=${JSON.stringify(intro.cnf)}`);
  }
  if (BULWARK) check('introspection: consent_id == consent id', intro.consent_id === consentId, `consent_id=${intro.consent_id}`);
} catch (e) {
  check(`introspection of the ${introspectWhat}: active`, false, why(e));
}

await cleanup();
await finish();
