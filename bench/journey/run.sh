#!/usr/bin/env bash
# The FAPI 2.0 authorization-code journey with the certified RP library openid-client 6 and a real
# headless Chromium, against Bulwark (with the UK Open Banking consent steps) and, for comparison,
# against the peer OP ../shared/peers/oidc-provider/fapi2-op.mjs (panva oidc-provider 9).
# See openid-client-journey.mjs for the steps. Idempotent; installs nothing inside the repo.
#
#   bench/journey/run.sh                      # both: Bulwark, then the peer
#   ONLY=bulwark bench/journey/run.sh         # or ONLY=peer
#   BIN=/path/to/bulwark bench/journey/run.sh # default: target/release/bulwark if present,
#                                             # else /tmp/bulwark-bin/bulwark. Nothing is built here.
# Env: DEPS (/tmp/journey-deps: npm ci of package-lock.json here), PEERS_DEPS (/tmp/peers-deps),
#      PEERS_PKI (/tmp/peers-pki), WORK (/tmp/journey-bulwark: Bulwark's config + data, recreated
#      each run), OUT (/tmp/journey-results/<timestamp>: logs and screenshots), CHROMIUM
#      (/usr/bin/chromium), PORT / PEER_PORT (default: free ports).
# Needs: node >= 20 + npm, openssl, curl, Debian's chromium.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PEERS="${PEERS:-$ROOT/../shared/peers}"
DEPS="${DEPS:-/tmp/journey-deps}"
PEERS_DEPS="${PEERS_DEPS:-/tmp/peers-deps}"
export PEERS_PKI="${PEERS_PKI:-/tmp/peers-pki}"
WORK="${WORK:-/tmp/journey-bulwark}"
OUT="${OUT:-/tmp/journey-results/$(date -u +%Y%m%dT%H%M%SZ)}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
ONLY="${ONLY:-all}"
if [[ -z "${BIN:-}" ]]; then
  if [[ -x "$ROOT/target/release/bulwark" ]]; then BIN="$ROOT/target/release/bulwark"; else BIN=/tmp/bulwark-bin/bulwark; fi
fi
mkdir -p "$OUT"

# npm ci of a pinned lockfile into $2, skipped when the same lockfile is already installed there
npm_ci() {
  local src="$1" dst="$2"
  mkdir -p "$dst"
  if cmp -s "$src/package-lock.json" "$dst/package-lock.json" && [[ -d "$dst/node_modules" ]]; then
    echo "npm deps: up to date in $dst"; return
  fi
  cp "$src/package.json" "$src/package-lock.json" "$dst/"
  (cd "$dst" && npm ci --no-audit --no-fund --loglevel=error)
  echo "npm deps: installed in $dst"
}
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

npm_ci "$HERE" "$DEPS"
[[ -x "$CHROMIUM" ]] || { echo "no Chromium at $CHROMIUM (apt-get install chromium)"; exit 1; }

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# wait_ready URL CAFILE PID LOG: polls the discovery document until it answers 200
wait_ready() {
  local url="$1" pid="$3" log="$4"
  for _ in $(seq 100); do
    if ! kill -0 "$pid" 2>/dev/null; then echo "server exited; log:"; tail -30 "$log"; return 1; fi
    if [[ -f "$2" ]] && curl -sf -o /dev/null --cacert "$2" "$url/.well-known/openid-configuration"; then return 0; fi
    sleep 0.2
  done
  echo "server not ready after 20 s; log:"; tail -30 "$log"; return 1
}

declare -A RESULT=()
run_check() { # LABEL LOGFILE, env already set by the caller
  local label="$1" log="$2" rc=0
  echo "== journey against $label"
  LABEL="$label" DEPS_DIR="$DEPS" timeout 180 node "$HERE/openid-client-journey.mjs" 2>&1 | tee "$log" || rc=$?
  RESULT[$label]="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1 || true) (exit $rc)"
  [[ -n "$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1 || true)" ]] || RESULT[$label]="no result line (exit $rc)"
  return "$rc"
}

STATUS=0

# ---------------------------------------------------------------------------------------------
# Bulwark: embedded development mode (generates its dev PKI with a QWAC client certificate and a
# demo PSU in data_dir); the TPP is registered with the CLI before serving.
if [[ "$ONLY" == all || "$ONLY" == bulwark ]]; then
  [[ -x "$BIN" ]] || { echo "no Bulwark binary at $BIN (set BIN=)"; exit 1; }
  PORT="${PORT:-$(free_port)}"
  ISSUER="https://localhost:$PORT"
  rm -rf "$WORK"; mkdir -p "$WORK"
  cat > "$WORK/bulwark.toml" <<TOML
issuer = "$ISSUER"
data_dir = "$WORK/data"
[http]
listen = "127.0.0.1:$PORT"
TOML
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/tpp-jwt.key" 2>/dev/null
  openssl pkey -in "$WORK/tpp-jwt.key" -pubout -out "$WORK/tpp-jwt.pub.pem"
  cat > "$WORK/client.json" <<'JSON'
{"client_id": "journey-tpp", "client_name": "Journey TPP",
 "token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "ES256",
 "grant_types": ["client_credentials", "authorization_code", "refresh_token"], "response_types": ["code"],
 "redirect_uris": ["https://127.0.0.1/cb"], "scope": "openid accounts",
 "tls_client_certificate_bound_access_tokens": true, "resource_server": true}
JSON
  "$BIN" --config "$WORK/bulwark.toml" clients add --metadata "$WORK/client.json" \
    --public-key-pem "$WORK/tpp-jwt.pub.pem" --kid journey-tpp-es256 > "$WORK/client-added.json"
  "$BIN" --config "$WORK/bulwark.toml" serve > "$OUT/bulwark-server.log" 2>&1 &
  BPID=$!; PIDS+=("$BPID")
  PKI="$WORK/data/dev-pki"
  wait_ready "$ISSUER" "$PKI/ca.pem" "$BPID" "$OUT/bulwark-server.log"
  echo "Bulwark $("$BIN" --version 2>/dev/null || true) ($BIN) pid $BPID on $ISSUER"
  ISSUER="$ISSUER" CA_FILE="$PKI/ca.pem" CLIENT_CERT="$PKI/client.pem" CLIENT_KEY="$PKI/client-key.pem" \
  JWT_KEY="$WORK/tpp-jwt.key" KID=journey-tpp-es256 JWT_ALG=ES256 CLIENT_ID=journey-tpp \
  REDIRECT_URI=https://127.0.0.1/cb SCOPE="openid accounts" BULWARK=1 INTROSPECT=access_token \
  PSU_USERNAME="$(sed -n 's/^username: //p' "$WORK/data/demo-psu.txt")" \
  PSU_PASSWORD="$(sed -n 's/^password: //p' "$WORK/data/demo-psu.txt")" \
  ARTIFACTS="$OUT/bulwark-pages" \
    run_check "Bulwark" "$OUT/bulwark.log" || STATUS=1
  kill "$BPID" 2>/dev/null || true; wait "$BPID" 2>/dev/null || true
  if [[ "$STATUS" != 0 ]]; then echo "-- Bulwark server log (tail):"; tail -20 "$OUT/bulwark-server.log"; fi
fi

# ---------------------------------------------------------------------------------------------
# The peer: oidc-provider 9 as a FAPI 2.0 OP (what ../shared/peers/setup.sh does for it, minus the
# Rust load generator it also builds: npm ci of deps/op9 and gen-certs.sh).
if [[ "$ONLY" == all || "$ONLY" == peer ]]; then
  npm_ci "$PEERS/deps/op9" "$PEERS_DEPS/op9"
  "$PEERS/gen-certs.sh" >/dev/null
  PEER_PORT="${PEER_PORT:-$(free_port)}"
  PEER_ISSUER="https://127.0.0.1:$PEER_PORT"
  PORT="$PEER_PORT" OP_DIR="$PEERS_DEPS/op9" node "$PEERS/oidc-provider/fapi2-op.mjs" > "$OUT/peer-server.log" 2>&1 &
  PPID_=$!; PIDS+=("$PPID_")
  wait_ready "$PEER_ISSUER" "$PEERS_PKI/ca.crt" "$PPID_" "$OUT/peer-server.log"
  echo "peer: $(grep -m1 '"ready"' "$OUT/peer-server.log" || true)"
  # oidc-provider cannot introspect JWT access tokens (unsupported_token_type, see the peers
  # README), so the counted introspection step uses the refresh token there; the access token's
  # answer is printed as INFO.
  ISSUER="$PEER_ISSUER" CA_FILE="$PEERS_PKI/ca.crt" CLIENT_CERT="$PEERS_PKI/client.crt" CLIENT_KEY="$PEERS_PKI/client.key" \
  JWT_KEY="$PEERS_PKI/client-jwt.key" KID=bench-client-es256 JWT_ALG=ES256 CLIENT_ID=bench-client \
  REDIRECT_URI=https://127.0.0.1/cb SCOPE="openid accounts" BULWARK=0 INTROSPECT=refresh_token \
  PSU_USERNAME=psu PSU_PASSWORD=any ARTIFACTS="$OUT/peer-pages" \
    run_check "oidc-provider (peer)" "$OUT/peer.log" || STATUS=1
  kill "$PPID_" 2>/dev/null || true; wait "$PPID_" 2>/dev/null || true
fi

echo
echo "== results ($OUT)"
for k in "${!RESULT[@]}"; do printf '%-22s %s\n' "$k:" "${RESULT[$k]}"; done | sort
exit "$STATUS"
