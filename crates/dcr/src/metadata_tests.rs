//! DCR-2 metadata rules, table by table.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::ssa::Organisation;
use serde_json::json;

fn ssa(roles: &[&str]) -> SoftwareStatement {
    SoftwareStatement {
        iss: "dir".into(),
        iat: 0,
        software_id: "sw-1".into(),
        software_roles: roles.iter().map(|r| r.to_string()).collect(),
        software_redirect_uris: vec![
            "https://tpp.example/cb".into(),
            "https://tpp.example/cb2".into(),
        ],
        org_id: "org-1".into(),
        software_jwks_endpoint: Some("https://dir.example/sw-1.jwks".into()),
        software_jwks: None,
        software_client_name: Some("TPP App".into()),
        software_on_behalf_of_org: None,
        organisation: Organisation {
            org_id: "org-1".into(),
            authority_id: None,
            registration_id: None,
            status: None,
            member_states: vec![],
            authorised_roles: None,
        },
    }
}

/// [`super::build`] for a FAPI 2.0 bank, the default.
fn build(
    requested: Map<String, Value>,
    ssa: &SoftwareStatement,
) -> Result<ClientMetadata, DcrError> {
    super::build(requested, ssa, Profile::Fapi2)
}

/// OB CEG: the pages name the TPP and its agent; the agent comes from the software statement,
/// never from the registrant, and a client no page could name is refused.
#[test]
fn dcr_2_the_client_is_named_and_its_agent_comes_from_the_ssa() {
    let mut agent = ssa(&["AISP"]);
    agent.software_on_behalf_of_org = Some("Acme Retail Ltd".into());
    let m = build(
        req(json!({"software_on_behalf_of_org": "Forged Principal"})),
        &agent,
    )
    .unwrap();
    assert_eq!(
        m.extra.get(ClientMetadata::ON_BEHALF_OF),
        Some(&json!("Acme Retail Ltd"))
    );
    assert_eq!(m.display_name("c1"), "TPP App (agent: Acme Retail Ltd)");
    let m = build(
        req(json!({"software_on_behalf_of_org": "Forged Principal"})),
        &ssa(&["AISP"]),
    )
    .unwrap();
    assert!(
        m.extra.get(ClientMetadata::ON_BEHALF_OF).is_none(),
        "{:?}",
        m.extra
    );
    assert_eq!(m.display_name("c1"), "TPP App");
    let mut directory_reference = ssa(&["AISP"]);
    directory_reference.software_on_behalf_of_org =
        Some("https://api.openbanking.org.uk/scim2/OBTrustedPaymentParty/1234567789".into());
    let m = build(req(json!({})), &directory_reference).unwrap();
    assert_eq!(m.display_name("c1"), "TPP App", "a URI is no name to show");
    let mut nameless = ssa(&["AISP"]);
    nameless.software_client_name = None;
    assert!(build(req(json!({})), &nameless).is_err());
    assert!(build(req(json!({"client_name": "  "})), &nameless).is_err());
    let named = build(req(json!({"client_name": "Budget Buddy"})), &nameless).unwrap();
    assert_eq!(named.display_name("c1"), "Budget Buddy");
}

#[test]
fn dcr_2_response_types_default_to_what_the_banks_profile_authorises() {
    let aisp = ssa(&["AISP"]);
    let fapi1 = super::build(
        req(json!({"response_types": null})),
        &aisp,
        Profile::Fapi1Advanced,
    )
    .unwrap();
    assert_eq!(
        fapi1.response_types,
        ["code id_token"],
        "OB DCR 3.3's default"
    );
    let fapi2 = super::build(req(json!({"response_types": null})), &aisp, Profile::Fapi2).unwrap();
    assert_eq!(fapi2.response_types, ["code"]);
    let asked = super::build(
        req(json!({"response_types": ["code"]})),
        &aisp,
        Profile::Fapi1Advanced,
    )
    .unwrap();
    assert_eq!(
        asked.response_types,
        ["code"],
        "what the TPP asks for is kept"
    );
    let app_only = super::build(
        req(json!({"grant_types": ["client_credentials"], "response_types": null})),
        &aisp,
        Profile::Fapi1Advanced,
    )
    .unwrap();
    assert!(app_only.response_types.is_empty());
}

fn req(extra: Value) -> Map<String, Value> {
    let mut m = json!({
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "PS256",
        "redirect_uris": ["https://tpp.example/cb"],
        "grant_types": ["authorization_code", "client_credentials"],
        "scope": "openid accounts",
    })
    .as_object()
    .unwrap()
    .clone();
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            m.remove(k);
        } else {
            m.insert(k.clone(), v.clone());
        }
    }
    m
}

#[test]
fn dcr_2_defaults_come_from_the_ssa() {
    let m = build(
        req(json!({"scope": null, "grant_types": null, "logo_uri": "https://x", "resource_server": true, "software_id": "forged",
                   "resources": ["https://other-bank.example/open-banking"],
                   "fapi_profile": "fapi1-advanced", "client_name": "Big Bank Secure Connect"})),
        &ssa(&["AISP", "PISP"]),
    )
    .unwrap();
    assert_eq!(m.jwks_uri.as_deref(), Some("https://dir.example/sw-1.jwks"));
    assert_eq!(m.scope.as_deref(), Some("openid accounts payments"));
    assert_eq!(m.grant_types, ["authorization_code"]);
    assert_eq!(m.response_types, ["code"]);
    assert_eq!(m.application_type.as_deref(), Some("web"));
    assert_eq!(m.software_id.as_deref(), Some("sw-1"));
    assert_eq!(m.org_id.as_deref(), Some("org-1"));
    assert_eq!(
        m.client_name.as_deref(),
        Some("TPP App"),
        "RFC 7591 3.1.1: the statement's name wins"
    );
    assert_eq!(
        m.fapi_profile, None,
        "AZ-3: the profile is the bank's choice"
    );
    assert!(
        !m.resource_server,
        "a TPP cannot make itself a resource server"
    );
    assert!(
        m.resources.is_empty(),
        "RFC 8707: where a client's tokens may be used is the bank's to set"
    );
    assert!(m.extra.is_empty(), "unknown metadata is ignored");
    assert!(m.tls_client_certificate_bound_access_tokens);
}

#[test]
fn dcr_2_scopes_follow_roles() {
    let aisp = ssa(&["AISP"]);
    assert!(build(req(json!({"scope": "openid accounts"})), &aisp).is_ok());
    for scope in ["payments", "fundsconfirmations", "accounts admin"] {
        let err = build(req(json!({ "scope": scope })), &aisp).unwrap_err();
        assert!(matches!(err, DcrError::Metadata(_)), "{scope}: {err}");
    }
    assert!(
        build(
            req(json!({"scope": "fundsconfirmations"})),
            &ssa(&["CBPII"])
        )
        .is_ok()
    );
    assert!(build(req(json!({"scope": "payments"})), &ssa(&["PSP_PI"])).is_ok());
    assert!(matches!(
        build(req(json!({})), &ssa(&["WIZARD"])).unwrap_err(),
        DcrError::SoftwareStatement(_)
    ));
}

#[test]
fn dcr_2_redirect_uris() {
    let s = ssa(&["AISP"]);
    for bad in [
        json!({"redirect_uris": null}),
        json!({"redirect_uris": []}),
        json!({"redirect_uris": ["https://evil.example/cb"]}),
        json!({"redirect_uris": ["http://tpp.example/cb"]}),
        json!({"redirect_uris": ["https://tpp.example/cb#frag"]}),
        // RFC 3986 6.2.1 simple string comparison: not another case, not a longer URI.
        json!({"redirect_uris": ["https://tpp.example/CB"]}),
        json!({"redirect_uris": ["https://tpp.example/cb.evil.example"]}),
        json!({"redirect_uris": ["https://tpp.example/cb/../admin"]}),
    ] {
        assert!(
            matches!(build(req(bad.clone()), &s), Err(DcrError::RedirectUri(_))),
            "{bad}"
        );
    }
    assert!(
        build(
            req(json!({"redirect_uris": ["https://tpp.example/cb2", "https://tpp.example/cb"]})),
            &s
        )
        .is_ok()
    );
    // A statement listing a plain-http, fragment or CSP-breaking URI does not make it
    // acceptable.
    let hostile = [
        "http://tpp.example/cb",
        "https://tpp.example/cb#f",
        "https://tpp.example; frame-ancestors */cb",
        "https://tpp.example/cb\u{7}",
        "https://user@tpp.example/cb",
    ];
    let mut lax = ssa(&["AISP"]);
    lax.software_redirect_uris
        .extend(hostile.iter().map(|u| u.to_string()));
    for bad in hostile {
        assert!(
            matches!(
                build(req(json!({"redirect_uris": [bad]})), &lax),
                Err(DcrError::RedirectUri(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn dcr_2_fapi_methods_algorithms_grants_and_types() {
    let s = ssa(&["AISP"]);
    let public_key = Value::Object(
        bulwark_jose::SigningKey::generate(bulwark_jose::Alg::Es256)
            .unwrap()
            .public_jwk()
            .clone(),
    );
    for bad in [
        json!({"token_endpoint_auth_method": "client_secret_basic"}),
        json!({"token_endpoint_auth_method": "none"}),
        json!({"token_endpoint_auth_method": null}),
        json!({"token_endpoint_auth_signing_alg": "RS256"}),
        json!({"request_object_signing_alg": "none"}),
        json!({"id_token_signed_response_alg": "HS256"}),
        json!({"grant_types": ["implicit"]}),
        json!({"grant_types": ["password"]}),
        json!({"response_types": ["token"]}),
        json!({"application_type": "native"}),
        json!({"tls_client_certificate_bound_access_tokens": false}),
        json!({"token_endpoint_auth_method": "tls_client_auth"}),
        json!({"jwks_uri": "http://tpp.example/jwks"}),
        json!({"jwks": {"keys": []}}),
        json!({"jwks": "not a set"}),
        json!({"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "secret"}]}}),
        // One private key among public ones is as bad as a private key alone.
        json!({"jwks": {"keys": [public_key.clone(), {"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "secret"}]}}),
        json!({"sector_identifier_uri": "http://tpp.example/sector"}),
    ] {
        assert!(
            matches!(build(req(bad.clone()), &s), Err(DcrError::Metadata(_))),
            "{bad}"
        );
    }
    let tls = build(
        req(json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=tpp,O=TPP", "token_endpoint_auth_signing_alg": null})),
        &s,
    )
    .unwrap();
    assert_eq!(
        tls.tls_client_auth_subject_dn.as_deref(),
        Some("CN=tpp,O=TPP")
    );
    assert!(
        build(
            req(json!({"response_types": ["code", "code id_token"], "id_token_signed_response_alg": "ES256"})),
            &s
        )
        .is_ok()
    );
}

#[test]
fn dcr_2_grant_and_response_types_agree() {
    let s = ssa(&["AISP"]);
    let m = build(
        req(json!({"grant_types": ["client_credentials"], "response_types": null})),
        &s,
    )
    .unwrap();
    assert!(m.response_types.is_empty());
    let err = build(
        req(json!({"grant_types": ["client_credentials"], "response_types": ["code"]})),
        &s,
    )
    .unwrap_err();
    assert!(matches!(err, DcrError::Metadata(_)), "{err}");
}

#[test]
fn dcr_2_sector_identifier_document_lists_every_redirect_uri() {
    let uris = vec!["https://tpp.example/cb".to_string()];
    assert!(check_sector_document(&json!(["https://tpp.example/cb", "https://x"]), &uris).is_ok());
    assert!(check_sector_document(&json!(["https://x"]), &uris).is_err());
    assert!(check_sector_document(&json!({"uris": []}), &uris).is_err());
}
