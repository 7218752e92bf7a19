//! The Open Banking consent APIs as a TPP calls them: the consent paths, valid request bodies,
//! a TPP holding a QWAC with given PSD2 roles and a client-credentials token, and calls with
//! their OB error answers.

use bulwark_certs::PspRole;
use bulwark_jose::{Alg, SigningKey};
use bulwark_store::{ConsentQuery, ConsentStore};
use serde_json::{Value, json};

use super::seal::Seal;
use super::{Harness, Identity, PkjClient, http_client, now};

pub const AISP: &str = "/open-banking/v3.1/aisp/account-access-consents";
pub const PISP: &str = "/open-banking/v3.1/pisp/domestic-payment-consents";
pub const CBPII: &str = "/open-banking/v3.1/cbpii/funds-confirmation-consents";

/// `now() + offset` as an OB date-time.
pub fn iso(offset: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(now() + offset).unwrap();
    bulwark_consent::format_datetime(t)
}

/// A valid account-access consent request.
pub fn aac_body() -> Value {
    json!({"Data": {"Permissions": ["ReadAccountsDetail", "ReadBalances"], "ExpirationDateTime": iso(86_400)}, "Risk": {}})
}

/// A valid domestic-payment consent request for `amount` GBP.
pub fn pay_body(amount: &str) -> Value {
    json!({"Data": {"Initiation": {
        "InstructionIdentification": "ACME412", "EndToEndIdentification": "FRESCO.21302.GFX.20",
        "InstructedAmount": {"Amount": amount, "Currency": "GBP"},
        "CreditorAccount": {"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "08080021325698", "Name": "ACME Inc"}
    }}, "Risk": {"PaymentContextCode": "EcommerceGoods"}})
}

/// A valid funds-confirmation consent request.
pub fn cof_body() -> Value {
    json!({"Data": {"ExpirationDateTime": iso(86_400),
        "DebtorAccount": {"SchemeName": "UK.OBIE.IBAN", "Identification": "GB76LOYD30949301273801", "Name": "Andrea Smith"}}})
}

/// A TPP with a QWAC carrying `roles`, registered for client_credentials with all OB scopes.
pub async fn tpp(h: &Harness, id: &str, roles: &[PspRole]) -> (PkjClient, String) {
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let (seal, seal_jwk) = Seal::new(h, id, "PSDGB-FCA-123456", roles);
    h.register(
        id,
        json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
               "scope": "accounts payments fundsconfirmations",
               "jwks": {"keys": [Value::Object(key.public_jwk().clone()), seal_jwk]}}),
    )
    .await;
    h.seals.lock().unwrap().insert(id.to_owned(), seal);
    let identity = h.pki.qwac(id, Some("PSDGB-FCA-123456"), None, roles);
    let c = PkjClient {
        id: id.into(),
        key,
        identity,
    };
    let resp = c.token(h, &c.assertion(h)).await;
    assert_eq!(resp.0, 200, "{:?}", resp.2);
    let token = resp.2["access_token"].as_str().unwrap().to_string();
    (c, token)
}

/// An Open Banking API answer: status, headers and JSON body (Null when empty).
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

/// Calls an Open Banking API with an optional certificate, bearer token, JSON body and extra
/// headers.
pub async fn call(
    h: &Harness,
    id: Option<&Identity>,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    extra: &[(&str, &str)],
) -> Answer {
    let mut req = http_client(&h.dev_ca, id).request(method, h.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    Answer {
        status,
        headers,
        body: if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        },
    }
}

/// A TPP calling the consent APIs with its own QWAC and bearer token.
pub struct AsTpp<'a> {
    h: &'a Harness,
    client_id: &'a str,
    identity: &'a Identity,
    token: &'a str,
}

/// `c` calling with `token`.
pub fn as_tpp<'a>(h: &'a Harness, c: &'a PkjClient, token: &'a str) -> AsTpp<'a> {
    AsTpp {
        h,
        client_id: &c.id,
        identity: &c.identity,
        token,
    }
}

impl AsTpp<'_> {
    /// POST a JSON body with extra headers. A payment consent (a signed endpoint) is signed
    /// with the TPP's sealing key unless `extra` brings its own `x-jws-signature`.
    pub async fn post(&self, path: &str, body: &Value, extra: &[(&str, &str)]) -> Answer {
        let method = reqwest::Method::POST;
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        let signature;
        let seal = self.h.seals.lock().unwrap().get(self.client_id).cloned();
        if path == PISP
            && !extra
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("x-jws-signature"))
            && let Some(seal) = seal
        {
            signature = seal.sign(body.to_string().as_bytes());
            headers.push(("x-jws-signature", &signature));
        }
        call(
            self.h,
            Some(self.identity),
            method,
            path,
            Some(self.token),
            Some(body),
            &headers,
        )
        .await
    }

    /// GET.
    pub async fn get(&self, path: &str) -> Answer {
        let method = reqwest::Method::GET;
        call(
            self.h,
            Some(self.identity),
            method,
            path,
            Some(self.token),
            None,
            &[],
        )
        .await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> Answer {
        let method = reqwest::Method::DELETE;
        call(
            self.h,
            Some(self.identity),
            method,
            path,
            Some(self.token),
            None,
            &[],
        )
        .await
    }
}

/// How many consents the store holds.
pub async fn stored(h: &Harness) -> usize {
    h.store
        .search_consents(&ConsentQuery {
            limit: 500,
            ..ConsentQuery::default()
        })
        .await
        .unwrap()
        .len()
}

/// An OB error answer: `status`, the first `ErrorCode` = `code`, and `Id`, `Code`, `Message`.
pub fn assert_ob(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{:?}", a.body);
    assert_eq!(a.body["Errors"][0]["ErrorCode"], code, "{:?}", a.body);
    assert!(
        a.body["Id"].is_string() && a.body["Code"].is_string() && a.body["Message"].is_string()
    );
}
