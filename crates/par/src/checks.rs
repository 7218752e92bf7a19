//! The ordered list of small checks an authorization request passes, shared by `/par` and
//! `/authorize` (like node-oidc-provider's per-endpoint check pipeline). Each check reads the
//! parameters, fills its part of the [`Draft`] and cites the rule it enforces. The order
//! matters: identity and redirect URI first (after them, an error may be sent to the client),
//! then each parameter.

use bulwark_core::{Client, Profile};
use serde_json::{Map, Value};

use crate::request::{AcrRequest, INTENT_CLAIM, SUPPORTED_ACRS};
use crate::{AuthorizationRequest, ParError, Params, ResponseMode, ResponseType};

/// What a check may look at.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The client (authenticated at `/par`; named by `client_id` at `/authorize`).
    pub client: &'a Client,
    /// The profile the client is judged by.
    pub profile: Profile,
    /// The request's parameters (a request object's claims when one was sent).
    pub params: &'a Params,
    /// The request is being pushed (PAR), not passed by value to `/authorize`.
    pub pushed: bool,
}

/// The request as the checks build it.
#[derive(Debug, Default)]
pub struct Draft {
    response_type: Option<ResponseType>,
    response_mode: Option<ResponseMode>,
    redirect_uri: Option<String>,
    scope: Vec<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    intent_id: Option<String>,
    acr: AcrRequest,
    sub: Option<String>,
    max_age: Option<i64>,
    prompt: Option<String>,
}

/// One check.
pub type Check = fn(&Ctx<'_>, &mut Draft) -> Result<(), ParError>;

/// The pipeline, in order.
pub const CHECKS: &[(&str, Check)] = &[
    ("request_object_required", request_object_required),
    ("client_id", client_id),
    ("redirect_uri", redirect_uri),
    ("response_type", response_type),
    ("response_mode", response_mode),
    ("scope", scope),
    ("pkce", pkce),
    ("state", state),
    ("nonce", nonce),
    ("claims", claims),
    ("max_age_prompt", max_age_prompt),
];

/// Runs every check in order and builds the validated request.
pub fn run(ctx: &Ctx<'_>) -> Result<AuthorizationRequest, ParError> {
    let mut draft = Draft::default();
    for (name, check) in CHECKS {
        if let Err(e) = check(ctx, &mut draft) {
            tracing::warn!(target: "bulwark::security", client_id = %ctx.client.client_id, check = name, error = %e, "authorization request refused");
            return Err(e);
        }
    }
    let missing = |what: &str| ParError::Internal(format!("check pipeline left {what} unset"));
    Ok(AuthorizationRequest {
        client_id: ctx.client.client_id.clone(),
        profile: ctx.profile,
        response_type: draft
            .response_type
            .ok_or_else(|| missing("response_type"))?,
        response_mode: draft
            .response_mode
            .ok_or_else(|| missing("response_mode"))?,
        redirect_uri: draft.redirect_uri.ok_or_else(|| missing("redirect_uri"))?,
        scope: draft.scope,
        state: draft.state,
        nonce: draft.nonce,
        code_challenge: draft.code_challenge,
        intent_id: draft.intent_id.ok_or_else(|| missing("intent"))?,
        acr: draft.acr,
        sub: draft.sub,
        max_age: draft.max_age,
        prompt: draft.prompt,
    })
}

/// FAPI 1.0 Advanced 5.2.2-1: the request must be a signed request object.
fn request_object_required(ctx: &Ctx<'_>, _: &mut Draft) -> Result<(), ParError> {
    match ctx.profile {
        Profile::Fapi1Advanced if !ctx.params.from_request_object() => Err(ParError::BadRequest(
            "FAPI 1.0 Advanced requires a signed request object (request parameter)".into(),
        )),
        Profile::Fapi1Advanced | Profile::Fapi2 => Ok(()),
    }
}

/// RFC 9126 2.1 / RFC 9101 6.3: a `client_id` in the request is the client's.
fn client_id(ctx: &Ctx<'_>, _: &mut Draft) -> Result<(), ParError> {
    match ctx.params.str("client_id")? {
        Some(id) if id != ctx.client.client_id => Err(ParError::BadRequest(
            "client_id does not match the authenticated client".into(),
        )),
        _ => Ok(()),
    }
}

/// FAPI 1.0 Adv 5.2.2-9/-20, FAPI 2.0 SP 5.3.1.2 and RFC 6749 3.1.2.3: `redirect_uri` is
/// required, https, and exactly one of the registered URIs (simple string comparison).
fn redirect_uri(ctx: &Ctx<'_>, d: &mut Draft) -> Result<(), ParError> {
    let uri = ctx.params.require("redirect_uri")?;
    // Held to the registration rule again: a URI registered before that rule was as strict
    // would otherwise still reach the pages' CSP.
    if bulwark_clients::check_redirect_uri(uri).is_err() {
        return Err(ParError::BadRequest(
            "redirect_uri must be an https URL without a fragment".into(),
        ));
    }
    if !ctx.client.metadata.redirect_uris.iter().any(|r| r == uri) {
        return Err(ParError::BadRequest(
            "redirect_uri is not registered for this client".into(),
        ));
    }
    d.redirect_uri = Some(uri.to_string());
    Ok(())
}

/// FAPI 2.0 SP 5.3.1.2-1: only `code`. FAPI 1.0 Adv 5.2.2-2: `code id_token`, or `code`
/// with JARM (checked with the mode). The client must have registered the type.
fn response_type(ctx: &Ctx<'_>, d: &mut Draft) -> Result<(), ParError> {
    let raw = ctx.params.require("response_type")?;
    let rt = ResponseType::parse(raw)
        .ok_or_else(|| ParError::ResponseType(format!("response_type {raw:?} is not supported")))?;
    if ctx.profile == Profile::Fapi2 && rt != ResponseType::Code {
        return Err(ParError::ResponseType(
            "FAPI 2.0 allows only response_type=code".into(),
        ));
    }
    let registered = &ctx.client.metadata.response_types;
    let allowed = if registered.is_empty() {
        rt == ResponseType::Code
    } else {
        registered
            .iter()
            .any(|r| ResponseType::parse(r) == Some(rt))
    };
    if !allowed {
        return Err(ParError::UnauthorizedClient(format!(
            "the client is not registered for response_type {}",
            rt.as_str()
        )));
    }
    d.response_type = Some(rt);
    Ok(())
}

/// JARM 2.3 / FAPI 1.0 Adv 5.2.2-2: `code` alone needs a JWT response mode under FAPI 1.0
/// Advanced; the hybrid flow never answers in the query (OAuth Multiple Response Types 5).
fn response_mode(ctx: &Ctx<'_>, d: &mut Draft) -> Result<(), ParError> {
    let rt = d
        .response_type
        .ok_or_else(|| ParError::Internal("response_mode checked before response_type".into()))?;
    let raw = ctx.params.str("response_mode")?;
    let mode = ResponseMode::resolve(raw, rt).ok_or_else(|| {
        ParError::BadRequest(format!(
            "response_mode {:?} is not supported",
            raw.unwrap_or("")
        ))
    })?;
    if rt == ResponseType::CodeIdToken
        && matches!(mode, ResponseMode::Query | ResponseMode::QueryJwt)
    {
        return Err(ParError::BadRequest(
            "code id_token responses are never sent in the query".into(),
        ));
    }
    if ctx.profile == Profile::Fapi1Advanced && rt == ResponseType::Code && !mode.is_jwt() {
        return Err(ParError::BadRequest(
            "FAPI 1.0 Advanced requires response_mode=jwt with response_type=code (JARM)".into(),
        ));
    }
    d.response_mode = Some(mode);
    Ok(())
}

/// RFC 6749 3.3: requested scopes are among the client's. OIDC Core 3.3.2.1: the hybrid
/// flow needs `openid`.
fn scope(ctx: &Ctx<'_>, d: &mut Draft) -> Result<(), ParError> {
    let raw = ctx.params.require("scope")?;
    let requested: Vec<String> = raw.split_ascii_whitespace().map(str::to_string).collect();
    let allowed: Vec<&str> = ctx.client.metadata.scopes().collect();
    if let Some(bad) = requested
        .iter()
        .find(|s| s.as_str() != "openid" && !allowed.contains(&s.as_str()))
    {
        return Err(ParError::Scope(format!(
            "scope {bad} is not registered for this client"
        )));
    }
    let openid = requested.iter().any(|s| s == "openid");
    if d.response_type == Some(ResponseType::CodeIdToken) && !openid {
        return Err(ParError::Scope(
            "response_type code id_token needs the openid scope".into(),
        ));
    }
    if requested.iter().all(|s| s == "openid") {
        return Err(ParError::Scope(
            "an Open Banking scope (accounts, payments, fundsconfirmations) is required".into(),
        ));
    }
    d.scope = requested;
    Ok(())
}

/// RFC 7636 4.3 with FAPI 2.0 SP 5.3.1.2-5 and FAPI 1.0 Adv 5.2.2-18 (pushed requests): a S256
/// challenge is required; by value under FAPI 1.0 it is optional; `plain` is refused always
/// (AZ-4).
fn pkce(ctx: &Ctx<'_>, d: &mut Draft) -> Result<(), ParError> {
    let challenge = ctx.params.str("code_challenge")?;
    let method = ctx.params.str("code_challenge_method")?;
    match (challenge, method) {
        (None, None) if ctx.profile == Profile::Fapi1Advanced && !ctx.pushed => Ok(()),
        (None, _) => Err(ParError::BadRequest(
            "code_challenge (PKCE, S256) is required".into(),
        )),
        (Some(_), Some(m)) if m != "S256" => Err(ParError::BadRequest(
            "code_challenge_method must be S256 (plain is not allowed)".into(),
        )),
        (Some(_), None) => Err(ParError::BadRequest(
            "code_challenge_method=S256 is required (the default, plain, is not allowed)".into(),
        )),
        (Some(c), Some(_)) => {
            // RFC 7636 4.2: BASE64URL(SHA256(verifier)) is 43 characters of the base64url
            // alphabet.
            if c.len() != 43
                || !c
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(ParError::BadRequest(
                    "code_challenge is not a base64url SHA-256 value".into(),
                ));
            }
            d.code_challenge = Some(c.to_string());
            Ok(())
        }
    }
}

/// Longest state and nonce accepted (they come back in responses and tokens).
const MAX_OPAQUE: usize = 1024;

/// True when the request asks for an ID token (`openid` scope).
fn asks_openid(d: &Draft) -> bool {
    d.scope.iter().any(|s| s == "openid")
}

/// RFC 6749 4.1.1: opaque, returned as is; bounded. FAPI 1.0 Part 1 5.2.2.3 (kept by
/// Advanced 5.2.2): a request without `openid` must carry a state (there is no nonce then).
fn state(ctx: &Ctx<'_>, d: &mut Draft) -> Result<(), ParError> {
    match ctx.params.str("state")? {
        Some(s) if s.len() > MAX_OPAQUE => Err(ParError::BadRequest("state is too long".into())),
        Some(s) => {
            d.state = Some(s.to_string());
            Ok(())
        }
        None if ctx.profile == Profile::Fapi1Advanced && !asks_openid(d) => {
            Err(ParError::BadRequest(
                "state is required when the openid scope is not requested (FAPI 1.0 Part 1 5.2.2.3)"
                    .into(),
            ))
        }
        None => Ok(()),
    }
}

/// OIDC Core 3.3.2.11 / FAPI 1.0 Adv 5.2.2.2-1: the hybrid flow requires a nonce; FAPI 1.0
/// Part 1 5.2.2.2 (kept by Advanced 5.2.2): so does any FAPI 1.0 request for `openid`, JARM's
/// `code` included. FAPI 2.0 leaves it optional (PKCE binds the code).
fn nonce(ctx: &Ctx<'_>, d: &mut Draft) -> Result<(), ParError> {
    match ctx.params.str("nonce")? {
        Some(n) if n.len() > MAX_OPAQUE => Err(ParError::BadRequest("nonce is too long".into())),
        Some(n) => {
            d.nonce = Some(n.to_string());
            Ok(())
        }
        None if d.response_type == Some(ResponseType::CodeIdToken) => Err(ParError::BadRequest(
            "nonce is required with response_type code id_token".into(),
        )),
        None if ctx.profile == Profile::Fapi1Advanced && asks_openid(d) => {
            Err(ParError::BadRequest(
                "nonce is required when the openid scope is requested (FAPI 1.0 Part 1 5.2.2.2)"
                    .into(),
            ))
        }
        None => Ok(()),
    }
}

/// OB Security Profile / AZ-5: the consent is named by the essential `openbanking_intent_id`
/// claim in `claims.id_token` and/or `claims.userinfo` (the same value in both). OIDC Core
/// 5.5.1.1: an essential `acr` with `values` is honoured; `acr_values` (3.1.2.1) is voluntary.
/// OIDC Core 3.1.2.2 / 5.5.1: a `sub` with a `value` names the only End-User who may answer
/// (the same value in both sections); `authz` holds the login to it.
fn claims(ctx: &Ctx<'_>, d: &mut Draft) -> Result<(), ParError> {
    let claims = ctx.params.claims()?.unwrap_or_default();
    let mut intent: Option<String> = None;
    let mut sub: Option<String> = None;
    for member in ["id_token", "userinfo"] {
        let Some(section) = claims.get(member) else {
            continue;
        };
        let Value::Object(section) = section else {
            return Err(ParError::BadRequest(format!(
                "claims.{member} must be an object"
            )));
        };
        if let Some(found) = intent_in(section)? {
            match &intent {
                Some(prev) if *prev != found => {
                    return Err(ParError::BadRequest(
                        "claims.id_token and claims.userinfo name different openbanking_intent_id values".into(),
                    ));
                }
                _ => intent = Some(found),
            }
        }
        if let Some(found) = sub_in(section)? {
            match &sub {
                Some(prev) if *prev != found => {
                    return Err(ParError::BadRequest(
                        "claims.id_token and claims.userinfo name different sub values".into(),
                    ));
                }
                _ => sub = Some(found),
            }
        }
        if member == "id_token"
            && let Some(acr) = section.get("acr")
        {
            d.acr = acr_claim(acr)?;
        }
    }
    d.sub = sub;
    let intent = intent.ok_or_else(|| {
        ParError::BadRequest(
            "the openbanking_intent_id claim (the consent to authorise) is required".into(),
        )
    })?;
    if intent.is_empty() || intent.len() > 128 {
        return Err(ParError::BadRequest(
            "openbanking_intent_id is malformed".into(),
        ));
    }
    d.intent_id = Some(intent);
    if d.acr.values.is_empty()
        && let Some(values) = ctx.params.str("acr_values")?
    {
        d.acr = AcrRequest {
            values: values
                .split_ascii_whitespace()
                .map(str::to_string)
                .collect(),
            essential: false,
        };
    }
    Ok(())
}

fn intent_in(section: &Map<String, Value>) -> Result<Option<String>, ParError> {
    match section.get(INTENT_CLAIM) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(request)) => match request.get("value") {
            Some(Value::String(v)) => Ok(Some(v.clone())),
            _ => Err(ParError::BadRequest(
                "openbanking_intent_id must carry a string value".into(),
            )),
        },
        Some(_) => Err(ParError::BadRequest(
            "openbanking_intent_id must be a claim request object".into(),
        )),
    }
}

/// OIDC Core 5.5.1: the value a `sub` claim request names, if it names one (`null` or
/// `{"essential": true}` names none). A subject is a string of at most 255 ASCII characters
/// (OIDC Core 2); anything else can name no End-User and is refused.
fn sub_in(section: &Map<String, Value>) -> Result<Option<String>, ParError> {
    let malformed = || ParError::BadRequest("the sub claim request is malformed".into());
    match section.get("sub") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(request)) => match request.get("value") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(v)) if !v.is_empty() && v.len() <= 255 && v.is_ascii() => {
                Ok(Some(v.clone()))
            }
            Some(_) => Err(malformed()),
        },
        Some(_) => Err(malformed()),
    }
}

/// OIDC Core 5.5.1.1: `{"essential": true, "values": [...]}` or `{"value": ...}`. An essential
/// request none of whose values Bulwark supports cannot be met.
fn acr_claim(acr: &Value) -> Result<AcrRequest, ParError> {
    let Value::Object(acr) = acr else {
        return Ok(AcrRequest::default());
    };
    let essential = acr
        .get("essential")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let values: Vec<String> = match (acr.get("values"), acr.get("value")) {
        (Some(Value::Array(list)), _) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        (_, Some(Value::String(v))) => vec![v.clone()],
        _ => Vec::new(),
    };
    if essential
        && !values.is_empty()
        && !values.iter().any(|v| SUPPORTED_ACRS.contains(&v.as_str()))
    {
        return Err(ParError::BadRequest(
            "none of the essential acr values can be met".into(),
        ));
    }
    Ok(AcrRequest { values, essential })
}

/// OIDC Core 3.1.2.1: `max_age` is a number of seconds; `prompt=none` cannot be honoured for a
/// consent that awaits the PSU's decision.
fn max_age_prompt(ctx: &Ctx<'_>, d: &mut Draft) -> Result<(), ParError> {
    d.max_age = ctx.params.int("max_age")?;
    if let Some(prompt) = ctx.params.str("prompt")? {
        let words: Vec<&str> = prompt.split_ascii_whitespace().collect();
        if words
            .iter()
            .any(|w| !matches!(*w, "none" | "login" | "consent" | "select_account"))
        {
            return Err(ParError::BadRequest("prompt has an unknown value".into()));
        }
        if words.contains(&"none") && words.len() > 1 {
            return Err(ParError::BadRequest(
                "prompt=none cannot be combined with other values".into(),
            ));
        }
        // Kept as the words were read, one space apart: `/authorize` compares `none` and looks
        // for `login` word by word, so `login<TAB>consent` or `none ` must mean what they were
        // checked to mean (a fresh login; no page shown).
        d.prompt = (!words.is_empty()).then(|| words.join(" "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use bulwark_core::Form;
    use serde_json::json;

    fn client(extra: Value) -> Client {
        let mut v = json!({
            "client_id": "tpp-1",
            "token_endpoint_auth_method": "private_key_jwt",
            "redirect_uris": ["https://tpp.example/cb"],
            "response_types": ["code", "code id_token"],
            "scope": "openid accounts payments",
            "status": "active",
            "client_id_issued_at": 1,
            "updated_at": 1
        });
        if let (Value::Object(base), Value::Object(more)) = (&mut v, extra) {
            base.extend(more);
        }
        serde_json::from_value(v).unwrap()
    }

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn fapi2_form(overrides: &[(&'static str, &'static str)]) -> Form {
        let claims = r#"{"id_token":{"openbanking_intent_id":{"value":"aac-1","essential":true},"acr":{"essential":true,"values":["urn:openbanking:psd2:sca"]}}}"#;
        let mut pairs: Vec<(&str, &str)> = vec![
            ("client_id", "tpp-1"),
            ("response_type", "code"),
            ("redirect_uri", "https://tpp.example/cb"),
            ("scope", "openid accounts"),
            ("state", "s1"),
            ("nonce", "n1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("claims", claims),
        ];
        for (k, v) in overrides {
            pairs.retain(|(name, _)| name != k);
            if !v.is_empty() {
                pairs.push((k, v));
            }
        }
        Form::from_pairs(pairs)
    }

    fn judge(profile: Profile, params: &Params) -> Result<AuthorizationRequest, ParError> {
        let c = client(json!({}));
        run(&Ctx {
            client: &c,
            profile,
            params,
            pushed: false,
        })
    }

    #[test]
    fn az_3_fapi2_plain_request_is_accepted_with_everything_read() {
        let r = judge(Profile::Fapi2, &Params::from_form(&fapi2_form(&[]))).unwrap();
        assert_eq!(r.intent_id, "aac-1");
        assert_eq!(r.response_mode, ResponseMode::Query);
        assert_eq!(r.code_challenge.as_deref(), Some(CHALLENGE));
        assert!(r.acr.essential);
        assert_eq!(r.scope_string(), "openid accounts");
    }

    #[test]
    fn az_4_pkce_plain_or_missing_is_refused() {
        for o in [
            vec![("code_challenge_method", "plain")],
            vec![("code_challenge_method", "")],
            vec![("code_challenge", ""), ("code_challenge_method", "")],
            vec![("code_challenge", "short")],
        ] {
            let r = judge(Profile::Fapi2, &Params::from_form(&fapi2_form(&o)));
            assert!(matches!(r, Err(ParError::BadRequest(_))), "{o:?}");
        }
    }

    #[test]
    fn az_3_fapi2_allows_only_code() {
        let r = judge(
            Profile::Fapi2,
            &Params::from_form(&fapi2_form(&[("response_type", "code id_token")])),
        );
        assert!(matches!(r, Err(ParError::ResponseType(_))));
    }

    #[test]
    fn az_7_redirect_uri_must_match_exactly() {
        for uri in [
            "https://tpp.example/cb/",
            "https://tpp.example/cb?x=1",
            "http://tpp.example/cb",
            "",
        ] {
            let r = judge(
                Profile::Fapi2,
                &Params::from_form(&fapi2_form(&[("redirect_uri", uri)])),
            );
            assert!(matches!(r, Err(ParError::BadRequest(_))), "{uri}");
        }
    }

    /// A redirect URI registered before registration held it to `check_redirect_uri` (one
    /// that would add a directive to the pages' CSP) is refused although it matches.
    #[test]
    fn az_7_a_registered_redirect_uri_is_held_to_the_registration_rule() {
        let hostile = "https://tpp.example; frame-ancestors */cb";
        let c = client(json!({"redirect_uris": ["https://tpp.example/cb", hostile]}));
        let form = Form::from_pairs(vec![("redirect_uri", hostile)]);
        let ctx = Ctx {
            client: &c,
            profile: Profile::Fapi2,
            params: &Params::from_form(&form),
            pushed: false,
        };
        assert!(matches!(
            redirect_uri(&ctx, &mut Draft::default()),
            Err(ParError::BadRequest(_))
        ));
        let form = Form::from_pairs(vec![("redirect_uri", "https://tpp.example/cb")]);
        let ctx = Ctx {
            params: &Params::from_form(&form),
            ..ctx
        };
        assert!(redirect_uri(&ctx, &mut Draft::default()).is_ok());
    }

    #[test]
    fn az_5_intent_claim_is_required_and_consistent() {
        let r = judge(
            Profile::Fapi2,
            &Params::from_form(&fapi2_form(&[("claims", "")])),
        );
        assert!(
            matches!(r, Err(ParError::BadRequest(ref m)) if m.contains("openbanking_intent_id"))
        );
        let both = r#"{"id_token":{"openbanking_intent_id":{"value":"a"}},"userinfo":{"openbanking_intent_id":{"value":"b"}}}"#;
        let r = judge(
            Profile::Fapi2,
            &Params::from_form(&fapi2_form(&[("claims", both)])),
        );
        assert!(r.is_err());
        let unmeetable = r#"{"id_token":{"openbanking_intent_id":{"value":"a"},"acr":{"essential":true,"values":["urn:x"]}}}"#;
        let r = judge(
            Profile::Fapi2,
            &Params::from_form(&fapi2_form(&[("claims", unmeetable)])),
        );
        assert!(r.is_err());
    }

    #[test]
    fn az_2_fapi1_requires_a_request_object_and_jarm_or_hybrid() {
        let plain = Params::from_form(&fapi2_form(&[]));
        assert!(matches!(
            judge(Profile::Fapi1Advanced, &plain),
            Err(ParError::BadRequest(_))
        ));
        let mut obj = Map::new();
        for (k, v) in fapi2_form(&[]).iter() {
            obj.insert(k.to_string(), Value::String(v.to_string()));
        }
        obj.insert(
            "claims".into(),
            serde_json::from_str(obj["claims"].as_str().unwrap()).unwrap(),
        );
        // code without JARM is refused under FAPI 1.0 Advanced
        let r = judge(Profile::Fapi1Advanced, &Params::from_object(obj.clone()));
        assert!(matches!(r, Err(ParError::BadRequest(ref m)) if m.contains("JARM")));
        obj.insert("response_mode".into(), json!("jwt"));
        let r = judge(Profile::Fapi1Advanced, &Params::from_object(obj.clone())).unwrap();
        assert_eq!(r.response_mode, ResponseMode::QueryJwt);
        obj.insert("response_type".into(), json!("code id_token"));
        obj.remove("response_mode");
        obj.remove("nonce");
        assert!(judge(Profile::Fapi1Advanced, &Params::from_object(obj.clone())).is_err());
        obj.insert("nonce".into(), json!("n"));
        let r = judge(Profile::Fapi1Advanced, &Params::from_object(obj.clone())).unwrap();
        assert_eq!(r.response_mode, ResponseMode::Fragment);
        // A number where a string belongs is refused, not coerced.
        obj.insert("state".into(), json!(7));
        assert!(judge(Profile::Fapi1Advanced, &Params::from_object(obj)).is_err());
    }

    /// `fapi1-advanced-final-ensure-request-object-without-nonce-fails` in the JARM variant and
    /// FAPI 1.0 Part 1 5.2.2.2/5.2.2.3: under FAPI 1.0 a request for `openid` needs a nonce
    /// whatever its response type, one without `openid` needs a state; FAPI 2.0 needs neither.
    #[test]
    fn az_2_fapi1_nonce_with_openid_and_state_without() {
        let mut obj = Map::new();
        for (k, v) in fapi2_form(&[]).iter() {
            obj.insert(k.to_string(), Value::String(v.to_string()));
        }
        obj.insert(
            "claims".into(),
            serde_json::from_str(obj["claims"].as_str().unwrap()).unwrap(),
        );
        obj.insert("response_mode".into(), json!("jwt"));
        let fapi1 =
            |o: &Map<String, Value>| judge(Profile::Fapi1Advanced, &Params::from_object(o.clone()));
        assert!(fapi1(&obj).is_ok());
        let mut no_nonce = obj.clone();
        no_nonce.remove("nonce");
        assert!(
            matches!(fapi1(&no_nonce), Err(ParError::BadRequest(ref m)) if m.contains("nonce"))
        );
        // Without openid, no nonce is needed, but a state is.
        no_nonce.insert("scope".into(), json!("accounts"));
        assert!(fapi1(&no_nonce).is_ok());
        let mut no_state = no_nonce.clone();
        no_state.remove("state");
        assert!(
            matches!(fapi1(&no_state), Err(ParError::BadRequest(ref m)) if m.contains("state"))
        );
        // FAPI 2.0: both optional.
        let plain = fapi2_form(&[("nonce", ""), ("state", "")]);
        assert!(judge(Profile::Fapi2, &Params::from_form(&plain)).is_ok());
    }

    #[test]
    fn az_4_fapi1_pushed_requests_need_pkce() {
        let c = client(json!({}));
        let mut obj = Map::new();
        for (k, v) in fapi2_form(&[("code_challenge", ""), ("code_challenge_method", "")]).iter() {
            obj.insert(k.to_string(), Value::String(v.to_string()));
        }
        obj.insert(
            "claims".into(),
            serde_json::from_str(obj["claims"].as_str().unwrap()).unwrap(),
        );
        obj.insert("response_type".into(), json!("code id_token"));
        let params = Params::from_object(obj);
        let by_value = Ctx {
            client: &c,
            profile: Profile::Fapi1Advanced,
            params: &params,
            pushed: false,
        };
        assert!(run(&by_value).is_ok());
        let pushed = Ctx {
            pushed: true,
            ..by_value
        };
        assert!(matches!(run(&pushed), Err(ParError::BadRequest(_))));
    }

    #[test]
    fn az_1_unregistered_scope_is_refused() {
        let r = judge(
            Profile::Fapi2,
            &Params::from_form(&fapi2_form(&[("scope", "openid fundsconfirmations")])),
        );
        assert!(matches!(r, Err(ParError::Scope(_))));
        let r = judge(
            Profile::Fapi2,
            &Params::from_form(&fapi2_form(&[("scope", "openid")])),
        );
        assert!(matches!(r, Err(ParError::Scope(_))));
    }

    /// The FAPI 1.0 Advanced request object built from the FAPI 2.0 form (claims as JSON).
    fn fapi1_object(overrides: &[(&'static str, &'static str)]) -> Map<String, Value> {
        let mut obj = Map::new();
        for (k, v) in fapi2_form(overrides).iter() {
            obj.insert(k.to_string(), Value::String(v.to_string()));
        }
        if let Some(Value::String(c)) = obj.get("claims").cloned() {
            obj.insert("claims".into(), serde_json::from_str(&c).unwrap());
        }
        obj
    }

    /// The message of a refusal, or a panic with what was accepted.
    fn refusal(r: Result<AuthorizationRequest, ParError>) -> String {
        match r {
            Err(e) => e.to_string(),
            Ok(r) => panic!("accepted: {:?}", r.scope_string()),
        }
    }

    fn fapi2(overrides: &[(&'static str, &'static str)]) -> Result<AuthorizationRequest, ParError> {
        judge(Profile::Fapi2, &Params::from_form(&fapi2_form(overrides)))
    }

    /// FAPI 1.0 Advanced 5.2.2-1 and RFC 9126 2.1: each refusal is the one its check makes,
    /// not whichever check happens to come later.
    #[test]
    fn az_2_each_check_refuses_for_its_own_reason() {
        // A plain (unsigned) request under FAPI 1.0 Advanced, otherwise a valid hybrid one.
        let plain = Params::from_form(&fapi2_form(&[("response_type", "code id_token")]));
        assert!(
            refusal(judge(Profile::Fapi1Advanced, &plain))
                .contains("requires a signed request object")
        );
        // A client_id that is not the authenticated client's.
        assert!(refusal(fapi2(&[("client_id", "tpp-2")])).contains("client_id does not match"));
        assert!(
            fapi2(&[("client_id", "")]).is_ok(),
            "client_id may be left out"
        );
    }

    /// AZ-3: FAPI 1.0 Advanced takes the hybrid response type FAPI 2.0 refuses; a client that
    /// registered no response types gets `code` only (RFC 7591 2: the default).
    #[test]
    fn az_3_response_types_by_profile_and_registration() {
        let hybrid = fapi1_object(&[("response_type", "code id_token")]);
        let r = judge(Profile::Fapi1Advanced, &Params::from_object(hybrid)).unwrap();
        assert_eq!(r.response_type, ResponseType::CodeIdToken);
        let bare = client(json!({"response_types": []}));
        let judge_bare = |overrides: &[(&'static str, &'static str)]| {
            run(&Ctx {
                client: &bare,
                profile: Profile::Fapi1Advanced,
                params: &Params::from_object(fapi1_object(overrides)),
                pushed: false,
            })
        };
        assert!(judge_bare(&[("response_mode", "jwt")]).is_ok());
        assert!(matches!(
            judge_bare(&[("response_type", "code id_token")]),
            Err(ParError::UnauthorizedClient(_))
        ));
        // Registered for `code` alone: the hybrid flow is not the client's.
        let code_only = client(json!({"response_types": ["code"]}));
        let hybrid = fapi1_object(&[("response_type", "code id_token")]);
        assert!(matches!(
            run(&Ctx {
                client: &code_only,
                profile: Profile::Fapi1Advanced,
                params: &Params::from_object(hybrid),
                pushed: false,
            }),
            Err(ParError::UnauthorizedClient(_))
        ));
    }

    /// AZ-1: a request without `openid` is fine for `code`; the hybrid flow needs it.
    #[test]
    fn az_3_openid_is_needed_by_the_hybrid_flow_only() {
        let r = fapi2(&[("scope", "accounts")]).unwrap();
        assert_eq!(r.scope_string(), "accounts");
        let hybrid = fapi1_object(&[("response_type", "code id_token"), ("scope", "accounts")]);
        assert!(
            refusal(judge(Profile::Fapi1Advanced, &Params::from_object(hybrid)))
                .contains("needs the openid scope")
        );
    }

    /// RFC 7636 4.2: a challenge is 43 characters of the base64url alphabet, `-` and `_`
    /// included; anything else (standard base64's `+`, `/`, `=`) is refused.
    #[test]
    fn az_4_a_code_challenge_is_base64url() {
        let with_both = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c_";
        assert!(fapi2(&[("code_challenge", with_both)]).is_ok());
        for bad in [
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw/cM",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstwcM=",
        ] {
            assert!(
                refusal(fapi2(&[("code_challenge", bad)])).contains("not a base64url SHA-256"),
                "{bad}"
            );
        }
    }

    /// RFC 6749 4.1.1: state and nonce are bounded at 1,024 bytes, that many accepted; FAPI
    /// 2.0 needs neither, also without `openid`.
    #[test]
    fn az_3_state_and_nonce_are_bounded_and_optional_under_fapi2() {
        let at_bound = "s".repeat(MAX_OPAQUE);
        let over = "s".repeat(MAX_OPAQUE + 1);
        let (at_bound, over): (&'static str, &'static str) = (
            Box::leak(at_bound.into_boxed_str()),
            Box::leak(over.into_boxed_str()),
        );
        let r = fapi2(&[("state", at_bound), ("nonce", at_bound)]).unwrap();
        assert_eq!(r.state.as_deref(), Some(at_bound));
        assert_eq!(r.nonce.as_deref(), Some(at_bound));
        assert_eq!(refusal(fapi2(&[("state", over)])), "state is too long");
        assert_eq!(refusal(fapi2(&[("nonce", over)])), "nonce is too long");
        let r = fapi2(&[("state", ""), ("nonce", ""), ("scope", "accounts")]).unwrap();
        assert_eq!((r.state, r.nonce), (None, None));
        // The hybrid flow's nonce rule is its own (OIDC Core 3.3.2.11), before FAPI 1.0's.
        let hybrid = fapi1_object(&[("response_type", "code id_token"), ("nonce", "")]);
        assert_eq!(
            refusal(judge(Profile::Fapi1Advanced, &Params::from_object(hybrid))),
            "nonce is required with response_type code id_token"
        );
    }

    /// AZ-5: the same intent in `id_token` and `userinfo` is one consent; the intent id is
    /// 1 to 128 bytes.
    #[test]
    fn az_5_intent_in_both_sections_and_its_length() {
        let both = r#"{"id_token":{"openbanking_intent_id":{"value":"aac-1","essential":true}},"userinfo":{"openbanking_intent_id":{"value":"aac-1","essential":true}}}"#;
        assert_eq!(fapi2(&[("claims", both)]).unwrap().intent_id, "aac-1");
        let with = |id: &str| -> &'static str {
            Box::leak(
                format!(r#"{{"id_token":{{"openbanking_intent_id":{{"value":"{id}","essential":true}}}}}}"#)
                    .into_boxed_str(),
            )
        };
        assert_eq!(
            fapi2(&[("claims", with(&"a".repeat(128)))])
                .unwrap()
                .intent_id
                .len(),
            128
        );
        for bad in [String::new(), "a".repeat(129)] {
            assert_eq!(
                refusal(fapi2(&[("claims", with(&bad))])),
                "openbanking_intent_id is malformed"
            );
        }
    }

    /// OIDC Core 3.1.2.2 / 5.5.1: a `sub` with a value is kept with the request, the same in
    /// both sections or refused; a `sub` request without a value changes nothing.
    #[test]
    fn az_5_a_sub_claim_value_is_kept_and_consistent() {
        let intent = r#""openbanking_intent_id":{"value":"aac-1","essential":true}"#;
        let with = |id_token: &str, userinfo: &str| -> &'static str {
            Box::leak(
                format!(r#"{{"id_token":{{{intent}{id_token}}},"userinfo":{{{userinfo}}}}}"#)
                    .into_boxed_str(),
            )
        };
        let r = fapi2(&[("claims", with(r#","sub":{"value":"psu-1"}"#, ""))]).unwrap();
        assert_eq!(r.sub.as_deref(), Some("psu-1"));
        let r = fapi2(&[("claims", with("", r#""sub":{"value":"psu-1"}"#))]).unwrap();
        assert_eq!(r.sub.as_deref(), Some("psu-1"));
        let r = fapi2(&[(
            "claims",
            with(r#","sub":{"value":"psu-1"}"#, r#""sub":{"value":"psu-1"}"#),
        )])
        .unwrap();
        assert_eq!(r.sub.as_deref(), Some("psu-1"));
        assert_eq!(
            refusal(fapi2(&[(
                "claims",
                with(r#","sub":{"value":"psu-1"}"#, r#""sub":{"value":"psu-2"}"#),
            )])),
            "claims.id_token and claims.userinfo name different sub values"
        );
        for none in [r#","sub":{"essential":true}"#, r#","sub":null"#, ""] {
            assert_eq!(fapi2(&[("claims", with(none, ""))]).unwrap().sub, None);
        }
        for bad in [
            r#","sub":{"value":7}"#,
            r#","sub":{"value":""}"#,
            r#","sub":"psu-1""#,
        ] {
            assert_eq!(
                refusal(fapi2(&[("claims", with(bad, ""))])),
                "the sub claim request is malformed"
            );
        }
    }

    /// OIDC Core 5.5.1.1: an `acr` claim request names one value with `value`.
    #[test]
    fn az_6_an_acr_claim_with_one_value() {
        let one = r#"{"id_token":{"openbanking_intent_id":{"value":"aac-1","essential":true},"acr":{"essential":true,"value":"urn:openbanking:psd2:ca"}}}"#;
        let r = fapi2(&[("claims", one)]).unwrap();
        assert_eq!(r.acr.values, ["urn:openbanking:psd2:ca"]);
        assert!(r.acr.essential);
        let unmeetable = r#"{"id_token":{"openbanking_intent_id":{"value":"aac-1","essential":true},"acr":{"essential":true,"value":"urn:example:loa4"}}}"#;
        assert_eq!(
            refusal(fapi2(&[("claims", unmeetable)])),
            "none of the essential acr values can be met"
        );
    }

    /// OIDC Core 3.1.2.1: `prompt` takes its four words; `none` only alone; `max_age` is read.
    #[test]
    fn az_6_prompt_words_and_max_age() {
        let r = fapi2(&[("prompt", "login consent"), ("max_age", "300")]).unwrap();
        assert_eq!(r.prompt.as_deref(), Some("login consent"));
        assert_eq!(r.max_age, Some(300));
        assert_eq!(
            fapi2(&[("prompt", "none")]).unwrap().prompt.as_deref(),
            Some("none")
        );
        assert_eq!(
            refusal(fapi2(&[("prompt", "login shout")])),
            "prompt has an unknown value"
        );
        for mixed in ["none login", "consent none"] {
            assert_eq!(
                refusal(fapi2(&[("prompt", mixed)])),
                "prompt=none cannot be combined with other values"
            );
        }
        // Words apart by any whitespace are kept as the words, one space apart, as they were
        // checked (a tab-separated `login` still forces a login; `none ` is `none`).
        for (sent, kept) in [
            ("login\tconsent", "login consent"),
            ("none ", "none"),
            (" login  ", "login"),
        ] {
            assert_eq!(
                fapi2(&[("prompt", sent)]).unwrap().prompt.as_deref(),
                Some(kept),
                "{sent:?}"
            );
        }
    }
}
