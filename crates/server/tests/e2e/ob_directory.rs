//! OB fidelity item 6: TPPs of the UK Open Banking directory present OBWAC (transport) and
//! OBSeal (signing) certificates without qcStatements. Where the directory's CA is trusted as
//! `[trust] ob_directory`, they are held to the `ob-directory` profile: the organisation is the
//! subject OU, the software the CN, and the PSD2 roles are the client's registered ones. The
//! same certificates under an `eidas` anchor set are no QWACs.

use bulwark_server::Config;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::consents::{AISP, CBPII, PISP, aac_body, as_tpp, call, cof_body, pay_body};
use crate::support::seal::Seal;
use bulwark_store::ClientStore;

use crate::support::{
    Dcr, Harness, Identity, PkjClient, assert_oauth_error, both_backends, now, ob_directory_pki,
};

/// The directory organisation id and software id of the test TPP (the shapes the UK directory
/// writes: an 18-character Salesforce id, a 22-character software id).
const ORG_ID: &str = "0015800001041RHAAY";
const SOFTWARE_ID: &str = "2gmfYn4Btfhv8Ha4ZNqNJF";

fn trust_directory(c: &mut Config) {
    c.trust.ob_directory = vec![ob_directory_pki().ca_pem_path.clone()];
}

/// A refusal whose first OB error message contains `why`.
fn assert_refused_for(refused: &crate::support::consents::Answer, why: &str) {
    assert!(
        refused.body["Errors"][0]["Message"]
            .as_str()
            .unwrap()
            .contains(why),
        "{why}: {:?}",
        refused.body
    );
}

/// A refusal whose OB error message says the certificate is another organisation's (CERT-8).
fn assert_names_another_organisation(refused: &crate::support::consents::Answer) {
    assert_refused_for(refused, "another organisation");
}

/// An OBWAC `OU=<ou>, CN=<cn>` of the directory's CA.
fn obwac(ou: Option<&str>, cn: &str) -> Identity {
    ob_directory_pki().directory_cert(ou, cn, false).0
}

/// A directory TPP registered statically as the directory describes it (org_id, software_id,
/// software_roles), with its OBSeal key in its JWK Set, calling with `identity`; returns the
/// client and a client-credentials token.
async fn directory_tpp(
    h: &Harness,
    software_id: &str,
    roles: &[&str],
    identity: Identity,
) -> (PkjClient, String) {
    let c = registered_directory_tpp(h, software_id, roles, identity).await;
    let resp = c.token(h, &c.assertion(h)).await;
    assert_eq!(resp.0, 200, "{:?}", resp.2);
    let token = resp.2["access_token"].as_str().unwrap().to_string();
    (c, token)
}

/// [`directory_tpp`]'s client, registered, before it asks for a token.
async fn registered_directory_tpp(
    h: &Harness,
    software_id: &str,
    roles: &[&str],
    identity: Identity,
) -> PkjClient {
    let key = bulwark_jose::SigningKey::generate(bulwark_jose::Alg::Es256).unwrap();
    let (seal, seal_jwk) = Seal::directory(&format!("{ORG_ID}/{software_id}"), ORG_ID, software_id);
    h.register(
        software_id,
        json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
               "scope": "accounts payments fundsconfirmations",
               "org_id": ORG_ID, "software_id": software_id, "software_roles": roles,
               "jwks": {"keys": [Value::Object(key.public_jwk().clone()), seal_jwk]}}),
    )
    .await;
    h.seals.lock().unwrap().insert(software_id.to_owned(), seal);
    PkjClient {
        id: software_id.into(),
        key,
        identity,
    }
}

both_backends!(
    /// An OBWAC authenticates at the token endpoint and calls the consent APIs; the roles are
    /// those registered (AISP and PISP here), so funds confirmation is refused; an OBSeal signs
    /// the payment consent.
    ob_6_directory_tpp_uses_the_consent_apis_with_its_registered_roles,
    ob_6_directory_tpp_uses_the_consent_apis_with_its_registered_roles_on_postgres
        => directory_tpp_consents,
    tweak = trust_directory
);

async fn directory_tpp_consents(h: Harness) {
    let (c, token) = directory_tpp(
        &h,
        SOFTWARE_ID,
        &["AISP", "PISP"],
        obwac(Some(ORG_ID), SOFTWARE_ID),
    )
    .await;
    let tpp = as_tpp(&h, &c, &token);
    let aac = tpp.post(AISP, &aac_body(), &[]).await;
    assert_eq!(aac.status, 201, "{:?}", aac.body);
    let pay = tpp
        .post(
            PISP,
            &pay_body("10.00"),
            &[("x-idempotency-key", "k-directory-1")],
        )
        .await;
    assert_eq!(pay.status, 201, "{:?}", pay.body);
    let cof = tpp.post(CBPII, &cof_body(), &[]).await;
    assert_eq!(cof.status, 403, "{:?}", cof.body);
    assert_refused_for(&cof, "PSP_IC");
    assert_eq!(
        crate::support::consents::stored(&h).await,
        2,
        "the refused funds-confirmation consent left nothing behind"
    );
}

#[tokio::test]
async fn ob_6_directory_certificate_of_another_organisation_or_software_is_refused() {
    let h = Harness::start(trust_directory).await;
    // Registered for ORG_ID / SOFTWARE_ID, presenting OBWACs naming something else: the
    // certificate authenticates nothing and no token is bound to it (CERT-8 at the token
    // endpoint, whatever the authentication method).
    for (id, identity) in [
        (SOFTWARE_ID, obwac(Some("0015800001ZZZZZZZZ"), SOFTWARE_ID)),
        (
            "tpp-other-software",
            obwac(Some(ORG_ID), "otherSoftwareOfTheOrg1"),
        ),
        // An OBWAC without the OU is no directory transport certificate at all.
        ("tpp-no-ou", obwac(None, "tpp-no-ou")),
    ] {
        let c = registered_directory_tpp(&h, id, &["AISP"], identity).await;
        assert_oauth_error(&c.token(&h, &c.assertion(&h)).await, 401, "invalid_client");
    }
    // A client the bank registered without a directory organisation and software id (an
    // eIDAS client, organization_identifier only) cannot be matched to any directory
    // certificate: refused, whatever the certificate names.
    let key = bulwark_jose::SigningKey::generate(bulwark_jose::Alg::Es256).unwrap();
    h.register(
        "eidas-only",
        json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
               "scope": "accounts", "organization_identifier": "PSDGB-FCA-123456",
               "software_roles": ["AISP"],
               "jwks": {"keys": [Value::Object(key.public_jwk().clone())]}}),
    )
    .await;
    let c = PkjClient {
        id: "eidas-only".into(),
        key,
        identity: obwac(Some(ORG_ID), SOFTWARE_ID),
    };
    assert_oauth_error(&c.token(&h, &c.assertion(&h)).await, 401, "invalid_client");
    // The consent API holds a token to the same rule at every call: a client whose registered
    // software changed since its token was issued (its OBWAC no longer names it) is refused.
    let (c, token) = directory_tpp(
        &h,
        "tpp-renamed",
        &["AISP"],
        obwac(Some(ORG_ID), "tpp-renamed"),
    )
    .await;
    let mut client = h.store.get_client("tpp-renamed").await.unwrap().unwrap();
    client.metadata.software_id = Some("tpp-renamed-2".into());
    assert!(
        h.store
            .update_client_metadata("tpp-renamed", &client.metadata, now())
            .await
            .unwrap()
    );
    let refused = as_tpp(&h, &c, &token).post(AISP, &aac_body(), &[]).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_names_another_organisation(&refused);
    assert_eq!(crate::support::consents::stored(&h).await, 0);
}

/// CERT-8 for `tls_client_auth`: a client registered by a directory certificate's subject DN
/// is authenticated by that OBWAC only when it has the directory organisation and software id
/// the certificate must name; without them it cannot be held to one and is refused, though
/// the DN matches.
#[tokio::test]
async fn ob_6_cert_8_tls_client_auth_by_an_obwac_needs_the_directory_ids() {
    let h = Harness::start(trust_directory).await;
    let wac = obwac(Some(ORG_ID), SOFTWARE_ID);
    let leaf = {
        use x509_cert::der::Decode;
        x509_cert::Certificate::from_der(wac.chain[0].as_ref()).unwrap()
    };
    let dn =
        bulwark_certs::DistinguishedName::from_name(&leaf.tbs_certificate.subject).to_rfc4514();
    h.register(
        "mtls-directory",
        json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": dn,
               "org_id": ORG_ID, "software_id": SOFTWARE_ID, "software_roles": ["AISP"],
               "grant_types": ["client_credentials"], "scope": "accounts"}),
    )
    .await;
    h.register(
        "mtls-no-directory-ids",
        json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": dn,
               "software_roles": ["AISP"],
               "grant_types": ["client_credentials"], "scope": "accounts"}),
    )
    .await;
    let form = |id: &'static str| [("grant_type", "client_credentials"), ("client_id", id)];
    let ok = h.post(Some(&wac), "/token", &form("mtls-directory")).await;
    assert_eq!(ok.0, 200, "{:?}", ok.2);
    crate::support::assert_oauth_error(
        &h.post(Some(&wac), "/token", &form("mtls-no-directory-ids"))
            .await,
        401,
        "invalid_client",
    );
}

#[tokio::test]
async fn ob_6_directory_certificates_under_eidas_anchors_are_no_qwacs() {
    // The directory's CA configured as an ordinary (eIDAS) anchor: an OBWAC is no QWAC.
    let h = Harness::start(|c| c.trust.anchors.push(ob_directory_pki().ca_pem_path.clone())).await;
    let (c, token) =
        directory_tpp(&h, SOFTWARE_ID, &["AISP"], obwac(Some(ORG_ID), SOFTWARE_ID)).await;
    let refused = as_tpp(&h, &c, &token).post(AISP, &aac_body(), &[]).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_refused_for(&refused, "not_qwac");
}

#[tokio::test]
async fn ob_6_directory_seal_of_another_software_does_not_sign_for_the_client() {
    let h = Harness::start(trust_directory).await;
    let (c, token) =
        directory_tpp(&h, SOFTWARE_ID, &["PISP"], obwac(Some(ORG_ID), SOFTWARE_ID)).await;
    // A client whose JWK Set lodges an OBSeal of another software of the same organisation:
    // the seal is a valid directory certificate, but not this software's (CN).
    let (other, other_jwk) = Seal::directory(
        &format!("{ORG_ID}/{SOFTWARE_ID}"),
        ORG_ID,
        "otherSoftwareOfTheOrg1",
    );
    h.register(
        "tpp-other-seal",
        json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
               "scope": "payments", "org_id": ORG_ID, "software_id": SOFTWARE_ID,
               "software_roles": ["PISP"],
               "jwks": {"keys": [Value::Object(c.key.public_jwk().clone()), other_jwk]}}),
    )
    .await;
    let c2 = PkjClient {
        id: "tpp-other-seal".into(),
        key: c.key.clone(),
        identity: obwac(Some(ORG_ID), SOFTWARE_ID),
    };
    let token2 = c2.token(&h, &c2.assertion(&h)).await.2["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let body = pay_body("10.00");
    let sig = other.sign(body.to_string().as_bytes());
    let refused = call(
        &h,
        Some(&c2.identity),
        Method::POST,
        PISP,
        Some(&token2),
        Some(&body),
        &[
            ("x-jws-signature", &sig),
            ("x-idempotency-key", "k-other-seal"),
        ],
    )
    .await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert_eq!(
        refused.body["Errors"][0]["ErrorCode"],
        "UK.OBIE.Signature.Invalid"
    );
    assert_names_another_organisation(&refused);
    // The client's own seal still works.
    let ok = as_tpp(&h, &c, &token)
        .post(PISP, &body, &[("x-idempotency-key", "k-own-seal")])
        .await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
}

/// Dynamic registration with an OBWAC: the SSA's roles stand (the certificate carries none),
/// its org_id must be the OU and its software_id the CN; refusals store nothing; the
/// registration management call is held to the same certificate rules.
async fn directory_registration(d: &Dcr) {
    let ssa_org = d.ssa_claims()["org_id"].as_str().unwrap().to_owned();
    let sw = crate::support::SOFTWARE_ID;
    for (ou, cn) in [
        (Some("0015800001ZZZZZZZZ"), sw),
        (Some(ssa_org.as_str()), "otherSoftwareOfTheOrg1"),
        (None, sw),
    ] {
        let resp = d.register(Some(&obwac(ou, cn)), &d.request()).await;
        // Another organisation or software: the statement is not this certificate's; no
        // organisation at all: the certificate is refused.
        let code = if ou.is_some() {
            "unapproved_software_statement"
        } else {
            "invalid_client_metadata"
        };
        crate::support::assert_oauth_error(&resp, 400, code);
        assert_eq!(
            d.client_count().await,
            0,
            "a refused registration stores no client"
        );
    }
    let cert = obwac(Some(&ssa_org), sw);
    let resp = d.register(Some(&cert), &d.request()).await;
    assert_eq!(resp.0, 201, "{:?}", resp.2);
    assert_eq!(resp.2["software_roles"], json!(["AISP", "PISP"]));
    let client_id = resp.2["client_id"].as_str().unwrap();
    let rat = resp.2["registration_access_token"].as_str().unwrap();
    let path = format!("/register/{client_id}");
    let read = d
        .send(Method::GET, &path, Some(&cert), Some(rat), None)
        .await;
    assert_eq!(read.0, 200, "{:?}", read.2);
    // Another software's OBWAC of the same organisation cannot manage this registration.
    let other = obwac(Some(&ssa_org), "otherSoftwareOfTheOrg1");
    let refused = d
        .send(Method::GET, &path, Some(&other), Some(rat), None)
        .await;
    assert_eq!(refused.0, 401, "{:?}", refused.2);
}

#[tokio::test]
async fn ob_6_directory_tpp_registers_with_its_obwac() {
    let d = Dcr::start_with(None, trust_directory).await;
    directory_registration(&d).await;
}

#[tokio::test]
async fn ob_6_directory_tpp_registers_with_its_obwac_on_postgres() {
    let Some(db) = bulwark_store::testing::TestDb::postgres()
        .await
        .expect("PostgreSQL")
    else {
        return;
    };
    let d = Dcr::start_with(Some(db.url.clone()), trust_directory).await;
    directory_registration(&d).await;
}
