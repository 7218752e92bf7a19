//! The published API contract (CO-5 issue, item 5): an OpenAPI 3.1 document of every
//! TPP-facing and bank-facing JSON API, built from the route table. [`operations`] is an
//! exhaustive match over [`Endpoint`], so a new endpoint does not compile until it is either
//! described here or declared not to be a JSON API (pages, static files, operations endpoints);
//! `co_5_openapi_every_json_route_has_a_schema` checks the document against the router, and a
//! schemathesis run (`tests/e2e/openapi.rs`) checks the server against the document.

use bulwark_consent::ConsentKind;
use serde_json::{Map, Value, json};

use crate::routes::Endpoint;

/// One documented operation: method, the operation object.
pub type Operation = (&'static str, Value);

fn ob_error() -> Value {
    json!({"$ref": "#/components/schemas/OBErrorResponse1"})
}

fn oauth_error() -> Value {
    json!({"$ref": "#/components/schemas/OAuthError"})
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn empty(description: &str) -> Value {
    json!({"description": description})
}

fn form(schema: Value) -> Value {
    json!({"required": true, "content": {"application/x-www-form-urlencoded": {"schema": schema}}})
}

/// The client authentication members of a form (RFC 7523 / RFC 8705: `private_key_jwt`, or
/// the certificate of the TLS connection with `client_id`).
fn client_auth(mut properties: Map<String, Value>, required: &[&str]) -> Value {
    for (k, v) in [
        ("client_id", json!({"type": "string"})),
        (
            "client_assertion_type",
            json!({"type": "string", "enum": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]}),
        ),
        ("client_assertion", json!({"type": "string"})),
    ] {
        properties.insert(k.into(), v);
    }
    json!({"type": "object", "properties": properties, "required": required})
}

fn oauth_responses(ok: (&str, Value)) -> Value {
    let mut r = Map::new();
    r.insert(ok.0.into(), ok.1);
    r.insert(
        "400".into(),
        json_response(
            "A malformed or refused request (RFC 6749 5.2)",
            oauth_error(),
        ),
    );
    r.insert(
        "401".into(),
        json_response(
            "Client authentication failed (invalid_client)",
            oauth_error(),
        ),
    );
    Value::Object(r)
}

fn oauth_op(summary: &str, tag: &str, body: Value, ok: (&str, Value)) -> Value {
    json!({
        "summary": summary,
        "tags": [tag],
        "security": [{"mtls": []}, {"private_key_jwt": []}],
        "requestBody": form(body),
        "responses": oauth_responses(ok),
    })
}

fn kind_schemas(kind: ConsentKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        ConsentKind::AccountAccess => ("OBReadConsent1", "OBReadConsentResponse1", "accounts"),
        ConsentKind::DomesticPayment => (
            "OBWriteDomesticConsent4",
            "OBWriteDomesticConsentResponse5",
            "payments",
        ),
        ConsentKind::FundsConfirmation => (
            "OBFundsConfirmationConsent1",
            "OBFundsConfirmationConsentResponse1",
            "fundsconfirmations",
        ),
    }
}

fn header(name: &str, required: bool, description: &str) -> Value {
    json!({"name": name, "in": "header", "required": required,
           "description": description, "schema": {"type": "string"}})
}

fn consent_headers(kind: ConsentKind, post: bool) -> Vec<Value> {
    let mut h = vec![
        header(
            "x-fapi-interaction-id",
            false,
            "Echoed (generated when absent)",
        ),
        header(
            "x-fapi-auth-date",
            false,
            "When the PSU last logged in with the TPP (HTTP-date)",
        ),
        header("x-fapi-customer-ip-address", false, "The PSU's IP address"),
    ];
    if post && kind == ConsentKind::DomesticPayment {
        h.push(header(
            "x-idempotency-key",
            true,
            "Idempotency key (24 hours), at most 40 characters",
        ));
        h.push(header(
            "x-jws-signature",
            true,
            "Detached JWS over the body (OB message signing, v3.1.4+ form)",
        ));
    }
    h
}

fn consent_ops(kind: ConsentKind, item: bool) -> Vec<Operation> {
    let (request, response, scope) = kind_schemas(kind);
    let tag = "Open Banking consents";
    let security = json!([{"bearer": [scope], "mtls": []}]);
    let id_param =
        json!({"name": "consent_id", "in": "path", "required": true, "schema": {"type": "string"}});
    let forbidden = json_response(
        "The certificate, role, scope or client does not allow it",
        ob_error(),
    );
    let unauthorised = empty("No valid access token bound to this connection's certificate");
    if !item {
        let mut responses = Map::new();
        responses.insert(
            "201".into(),
            json_response(
                "Created",
                json!({"$ref": format!("#/components/schemas/{response}")}),
            ),
        );
        responses.insert("400".into(), json_response("Invalid request", ob_error()));
        responses.insert("401".into(), unauthorised);
        responses.insert("403".into(), forbidden);
        responses.insert(
            "406".into(),
            json_response(
                "The Accept header asks for something else than JSON",
                ob_error(),
            ),
        );
        responses.insert(
            "415".into(),
            json_response("The body is not application/json", ob_error()),
        );
        return vec![(
            "post",
            json!({
                "summary": format!("Create a {} consent", kind.as_str()),
                "tags": [tag],
                "security": security,
                "parameters": consent_headers(kind, true),
                "requestBody": {"required": true, "content": {"application/json": {
                    "schema": {"$ref": format!("#/components/schemas/{request}")}}}},
                "responses": responses,
            }),
        )];
    }
    let params = |id: Value| -> Vec<Value> {
        std::iter::once(id)
            .chain(consent_headers(kind, false))
            .collect()
    };
    let mut ops = vec![(
        "get",
        json!({
            "summary": format!("Read a {} consent", kind.as_str()),
            "tags": [tag],
            "security": security,
            "parameters": params(id_param.clone()),
            "responses": {
                "200": json_response("The consent", json!({"$ref": format!("#/components/schemas/{response}")})),
                "400": json_response("Unknown consent (UK.OBIE.Resource.NotFound)", ob_error()),
                "401": unauthorised.clone(),
                "403": forbidden.clone(),
                "406": json_response("The Accept header asks for something else than JSON", ob_error()),
            },
        }),
    )];
    if kind != ConsentKind::DomesticPayment {
        ops.push((
            "delete",
            json!({
                "summary": format!("Delete a {} consent", kind.as_str()),
                "tags": [tag],
                "security": security,
                "parameters": params(id_param),
                "responses": {
                    "204": empty("Deleted"),
                    "400": json_response("Unknown or already deleted consent", ob_error()),
                    "401": unauthorised,
                    "403": forbidden,
                },
            }),
        ));
    }
    ops
}

fn registration_ops(item: bool) -> Vec<Operation> {
    let tag = "Dynamic client registration";
    let jwt = json!({"schema": {"type": "string", "description": "A registration request JWT signed by the software, carrying the software statement"}});
    let jwt_body =
        json!({"required": true, "content": {"application/jwt": jwt, "application/jose": jwt}});
    let client = json!({"$ref": "#/components/schemas/ClientInformation"});
    let error = json!({"$ref": "#/components/schemas/RegistrationError"});
    let client_id =
        json!({"name": "client_id", "in": "path", "required": true, "schema": {"type": "string"}});
    if !item {
        return vec![(
            "post",
            json!({
                "summary": "Register a TPP's software (RFC 7591, OB DCR v3.3)",
                "tags": [tag],
                "security": [{"mtls": []}],
                "requestBody": jwt_body,
                "responses": {
                    "201": json_response("Registered", client),
                    "400": json_response("Refused (RFC 7591 3.2.2)", error),
                },
            }),
        )];
    }
    // RFC 7592's registration access token, or (OB DCR 3.3) a client credentials access token.
    let security = json!([{"registration_token": [], "mtls": []}, {"bearer": [], "mtls": []}]);
    let unauthorised = json_response(
        "No or another client's registration access token, or another organisation's certificate",
        json!({"$ref": "#/components/schemas/RegistrationError"}),
    );
    vec![
        (
            "get",
            json!({
                "summary": "Read a registration (RFC 7592)",
                "tags": [tag], "security": security, "parameters": [client_id.clone()],
                "responses": {"200": json_response("The registration", client.clone()), "401": unauthorised.clone()},
            }),
        ),
        (
            "put",
            json!({
                "summary": "Re-register (RFC 7592)",
                "tags": [tag], "security": security, "parameters": [client_id.clone()],
                "requestBody": jwt_body,
                "responses": {
                    "200": json_response("Updated", client),
                    "400": json_response("Refused", error),
                    "401": unauthorised.clone(),
                },
            }),
        ),
        (
            "delete",
            json!({
                "summary": "Delete a registration (RFC 7592)",
                "tags": [tag], "security": security, "parameters": [client_id],
                "responses": {"204": empty("Deleted"), "401": unauthorised},
            }),
        ),
    ]
}

/// The documented operations of `ep`; empty for what is not a JSON API.
pub fn operations(ep: Endpoint) -> Vec<Operation> {
    match ep {
        Endpoint::Discovery => vec![(
            "get",
            json!({"summary": "OpenID Provider metadata", "tags": ["Discovery"],
                   "responses": {"200": json_response("The metadata", json!({"type": "object", "required": ["issuer", "jwks_uri", "token_endpoint"]}))}}),
        )],
        Endpoint::Jwks => vec![(
            "get",
            json!({"summary": "The public signing keys", "tags": ["Discovery"],
                   "responses": {"200": json_response("A JWK Set", json!({"type": "object", "required": ["keys"], "properties": {"keys": {"type": "array", "items": {"type": "object", "required": ["kty"]}}}}))}}),
        )],
        Endpoint::Token => vec![(
            "post",
            oauth_op(
                "Issue tokens (client_credentials, authorization_code, refresh_token)",
                "OAuth",
                client_auth(
                    json!({
                        "grant_type": {"type": "string", "enum": ["client_credentials", "authorization_code", "refresh_token"]},
                        "scope": {"type": "string"},
                        "code": {"type": "string"},
                        "redirect_uri": {"type": "string"},
                        "code_verifier": {"type": "string"},
                        "refresh_token": {"type": "string"},
                    })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                    &["grant_type"],
                ),
                (
                    "200",
                    json_response(
                        "Tokens",
                        json!({"$ref": "#/components/schemas/TokenResponse"}),
                    ),
                ),
            ),
        )],
        Endpoint::Introspect => vec![(
            "post",
            oauth_op(
                "Introspect a token (RFC 7662)",
                "OAuth",
                client_auth(
                    json!({"token": {"type": "string"}, "token_type_hint": {"type": "string"}})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                    &["token"],
                ),
                (
                    "200",
                    json_response(
                        "The token's state",
                        json!({"$ref": "#/components/schemas/Introspection"}),
                    ),
                ),
            ),
        )],
        Endpoint::Revoke => vec![(
            "post",
            oauth_op(
                "Revoke a token (RFC 7009)",
                "OAuth",
                client_auth(
                    json!({"token": {"type": "string"}, "token_type_hint": {"type": "string"}})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                    &["token"],
                ),
                ("200", empty("Revoked (or unknown: the answer is the same)")),
            ),
        )],
        Endpoint::Par => vec![(
            "post",
            oauth_op(
                "Push an authorization request (RFC 9126)",
                "OAuth",
                client_auth(
                    json!({
                        "response_type": {"type": "string"},
                        "redirect_uri": {"type": "string"},
                        "scope": {"type": "string"},
                        "state": {"type": "string"},
                        "nonce": {"type": "string"},
                        "code_challenge": {"type": "string"},
                        "code_challenge_method": {"type": "string", "enum": ["S256"]},
                        "claims": {"type": "string"},
                        "request": {"type": "string"},
                    })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                    &[],
                ),
                (
                    "201",
                    json_response(
                        "The request_uri to send the browser with",
                        json!({"type": "object", "required": ["request_uri", "expires_in"],
                               "properties": {"request_uri": {"type": "string"}, "expires_in": {"type": "integer"}}}),
                    ),
                ),
            ),
        )],
        Endpoint::Userinfo => ["get", "post"]
            .into_iter()
            .map(|m| {
                (
                    m,
                    json!({"summary": "OIDC userinfo", "tags": ["OAuth"], "security": [{"bearer": ["openid"], "mtls": []}],
                           "responses": {"200": json_response("Claims about the PSU", json!({"type": "object", "required": ["sub"]})),
                                         "401": empty("No valid access token bound to this connection's certificate"),
                                         "403": empty("The token lacks the openid scope")}}),
                )
            })
            .collect(),
        Endpoint::Register => registration_ops(false),
        Endpoint::RegisterClient => registration_ops(true),
        Endpoint::Consents(kind) => consent_ops(kind, false),
        Endpoint::Consent(kind) => consent_ops(kind, true),
        Endpoint::PaymentFundsConfirmation => vec![(
            "get",
            json!({
                "summary": "Funds confirmation of an authorised domestic payment consent",
                "tags": ["Open Banking consents"],
                "security": [{"bearer": ["payments"], "mtls": []}],
                "parameters": [{"name": "consent_id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {
                    "200": json_response("The bank's answer (FundsAvailableResult when it can tell)",
                        json!({"$ref": "#/components/schemas/OBWriteFundsConfirmationResponse1"})),
                    "400": json_response("Unknown consent, or not Authorised (UK.OBIE.Resource.InvalidConsentStatus)", ob_error()),
                    "401": empty("No valid PSU access token bound to this connection's certificate"),
                    "403": json_response("The token is for another consent, or the certificate, role or client does not allow it", ob_error()),
                    "406": json_response("The Accept header asks for something else than JSON", ob_error()),
                },
            }),
        )],
        // Pages, static files and operations endpoints are not JSON APIs.
        Endpoint::Healthz
        | Endpoint::Readyz
        | Endpoint::Metrics
        | Endpoint::OpenApi
        | Endpoint::Authorize
        | Endpoint::Interaction
        | Endpoint::InteractionLogin
        | Endpoint::InteractionDecision
        | Endpoint::Stylesheet
        | Endpoint::Logo
        | Endpoint::StaffHome
        | Endpoint::StaffLogin
        | Endpoint::StaffLogout
        | Endpoint::StaffConsents
        | Endpoint::StaffConsent
        | Endpoint::StaffConsentRevoke
        | Endpoint::StaffClients
        | Endpoint::StaffClient
        | Endpoint::StaffClientStatus
        | Endpoint::StaffAudit
        | Endpoint::StaffMembers
        | Endpoint::StaffMemberRole
        | Endpoint::StaffMemberRemove => Vec::new(),
    }
}

fn components() -> Value {
    let ob_date = json!({"type": "string", "format": "date-time"});
    let consent_response = |status: &[&str], extra: Value| {
        let mut data = json!({
            "type": "object",
            "required": ["ConsentId", "CreationDateTime", "Status", "StatusUpdateDateTime"],
            "properties": {
                "ConsentId": {"type": "string", "minLength": 1, "maxLength": 128},
                "CreationDateTime": ob_date,
                "Status": {"type": "string", "enum": status},
                "StatusUpdateDateTime": ob_date,
            }
        });
        if let (Some(props), Some(more)) = (
            data.get_mut("properties").and_then(Value::as_object_mut),
            extra.as_object(),
        ) {
            props.extend(more.clone());
        }
        json!({
            "type": "object",
            "required": ["Data", "Links", "Meta"],
            "properties": {
                "Data": data,
                "Risk": {"type": "object"},
                "Links": {"type": "object", "required": ["Self"], "properties": {"Self": {"type": "string", "format": "uri"}}},
                "Meta": {"type": "object"},
            }
        })
    };
    json!({
        "securitySchemes": {
            "mtls": {"type": "mutualTLS", "description": "The TPP's transport certificate (eIDAS QWAC or UK directory OBWAC)"},
            "private_key_jwt": {"type": "http", "scheme": "bearer", "description": "RFC 7523 client assertion in the form (client_assertion)"},
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "A certificate-bound access token (RFC 8705)"},
            "registration_token": {"type": "http", "scheme": "bearer", "description": "The registration access token (RFC 7592)"},
        },
        "schemas": {
            "OAuthError": {"type": "object", "required": ["error"], "properties": {
                "error": {"type": "string"}, "error_description": {"type": "string"}}},
            "RegistrationError": {"type": "object", "required": ["error"], "properties": {
                "error": {"type": "string"}, "error_description": {"type": "string"}}},
            "TokenResponse": {"type": "object", "required": ["access_token", "token_type", "expires_in"], "properties": {
                "access_token": {"type": "string"}, "token_type": {"type": "string", "enum": ["Bearer"]},
                "expires_in": {"type": "integer"}, "scope": {"type": "string"},
                "refresh_token": {"type": "string"}, "id_token": {"type": "string"}}},
            "Introspection": {"type": "object", "required": ["active"], "properties": {
                "active": {"type": "boolean"}, "iss": {"type": "string"}, "sub": {"type": "string"},
                "aud": {"type": "string"}, "client_id": {"type": "string"}, "scope": {"type": "string"},
                "exp": {"type": "integer"}, "iat": {"type": "integer"}, "jti": {"type": "string"},
                "token_type": {"type": "string"}, "consent_id": {"type": "string"},
                "cnf": {"type": "object", "properties": {"x5t#S256": {"type": "string"}}}}},
            "OBWriteFundsConfirmationResponse1": {"type": "object", "required": ["Data", "Links", "Meta"], "properties": {
                "Data": {"type": "object", "properties": {
                    "FundsAvailableResult": {"type": "object", "required": ["FundsAvailableDateTime", "FundsAvailable"], "properties": {
                        "FundsAvailableDateTime": {"type": "string", "format": "date-time"},
                        "FundsAvailable": {"type": "boolean"}}}}},
                "Links": {"type": "object", "required": ["Self"], "properties": {"Self": {"type": "string"}}},
                "Meta": {"type": "object"}}},
            "ClientInformation": {"type": "object", "required": ["client_id"], "properties": {
                "client_id": {"type": "string"}, "client_id_issued_at": {"type": "integer"},
                "registration_access_token": {"type": "string"}, "registration_client_uri": {"type": "string"},
                "software_statement": {"type": "string"}, "software_id": {"type": "string"},
                "redirect_uris": {"type": "array", "items": {"type": "string"}},
                "token_endpoint_auth_method": {"type": "string"}}},
            "OBErrorResponse1": {"type": "object", "required": ["Code", "Message", "Errors"], "properties": {
                "Code": {"type": "string", "maxLength": 40}, "Id": {"type": "string", "maxLength": 40},
                "Message": {"type": "string", "maxLength": 500},
                "Errors": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["ErrorCode", "Message"], "properties": {
                    "ErrorCode": {"type": "string"}, "Message": {"type": "string", "maxLength": 500},
                    "Path": {"type": "string", "maxLength": 500}, "Url": {"type": "string"}}}}}},
            "OBReadConsent1": {"type": "object", "required": ["Data", "Risk"], "properties": {
                "Data": {"type": "object", "required": ["Permissions"], "properties": {
                    "Permissions": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                    "ExpirationDateTime": ob_date, "TransactionFromDateTime": ob_date, "TransactionToDateTime": ob_date}},
                "Risk": {"type": "object"}}},
            "OBReadConsentResponse1": consent_response(
                &["AwaitingAuthorisation", "Authorised", "Rejected", "Revoked"],
                json!({"Permissions": {"type": "array", "items": {"type": "string"}},
                       "ExpirationDateTime": ob_date, "TransactionFromDateTime": ob_date, "TransactionToDateTime": ob_date}),
            ),
            "OBWriteDomesticConsent4": {"type": "object", "required": ["Data", "Risk"], "properties": {
                "Data": {"type": "object", "required": ["Initiation"], "properties": {
                    "ReadRefundAccount": {"type": "string", "enum": ["Yes", "No"]},
                    "Initiation": {"type": "object", "required": ["InstructionIdentification", "EndToEndIdentification", "InstructedAmount", "CreditorAccount"], "properties": {
                        "InstructionIdentification": {"type": "string", "minLength": 1, "maxLength": 35},
                        "EndToEndIdentification": {"type": "string", "minLength": 1, "maxLength": 35},
                        "InstructedAmount": {"type": "object", "required": ["Amount", "Currency"], "properties": {
                            "Amount": {"type": "string", "pattern": "^\\d{1,13}$|^\\d{1,13}\\.\\d{1,5}$"},
                            "Currency": {"type": "string", "pattern": "^[A-Z]{3,3}$"}}},
                        "CreditorAccount": {"type": "object", "required": ["SchemeName", "Identification", "Name"], "properties": {
                            "SchemeName": {"type": "string"}, "Identification": {"type": "string"}, "Name": {"type": "string"}}}}},
                    "Authorisation": {"type": "object"}, "SCASupportData": {"type": "object"}}},
                "Risk": {"type": "object"}}},
            "OBWriteDomesticConsentResponse5": consent_response(
                &["AwaitingAuthorisation", "Authorised", "Consumed", "Rejected"],
                json!({"Initiation": {"type": "object"}, "Charges": {"type": "array"},
                       "ReadRefundAccount": {"type": "string", "enum": ["Yes", "No"]},
                       "CutOffDateTime": ob_date, "ExpectedExecutionDateTime": ob_date, "ExpectedSettlementDateTime": ob_date}),
            ),
            "OBFundsConfirmationConsent1": {"type": "object", "required": ["Data"], "properties": {
                "Data": {"type": "object", "required": ["DebtorAccount"], "properties": {
                    "ExpirationDateTime": ob_date,
                    "DebtorAccount": {"type": "object", "required": ["SchemeName", "Identification"], "properties": {
                        "SchemeName": {"type": "string"}, "Identification": {"type": "string"}, "Name": {"type": "string"}}}}}}},
            "OBFundsConfirmationConsentResponse1": consent_response(
                &["AwaitingAuthorisation", "Authorised", "Rejected", "Revoked"],
                json!({"ExpirationDateTime": ob_date, "DebtorAccount": {"type": "object"}}),
            ),
        }
    })
}

/// The OpenAPI 3.1 document, with the server at `base` (the issuer).
pub fn document(base: &str) -> Value {
    let mut paths = Map::new();
    for ep in Endpoint::ALL {
        let ops = operations(ep);
        if ops.is_empty() {
            continue;
        }
        let item = paths
            .entry(ep.path().to_string())
            .or_insert_with(|| json!({}));
        for (method, op) in ops {
            if let Some(item) = item.as_object_mut() {
                item.insert(method.into(), op);
            }
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Bulwark: FAPI authorization server for Open Banking",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The TPP-facing APIs: OAuth 2.0 (token, introspection, revocation, PAR, userinfo), dynamic client registration (RFC 7591/7592, OB DCR v3.3) and the Open Banking Read/Write v3.1.10 consent resources. Every call is over mutual TLS.",
        },
        "servers": [{"url": base}],
        "paths": paths,
        "components": components(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn co_5_openapi_every_json_route_has_a_schema() {
        let doc = document("https://localhost:8443");
        let paths = doc["paths"].as_object().unwrap();
        // Every endpoint that is not a page, a static file or an operations endpoint is
        // documented with every method the router serves.
        let served: &[(Endpoint, &[&str])] = &[
            (Endpoint::Discovery, &["get"]),
            (Endpoint::Jwks, &["get"]),
            (Endpoint::Token, &["post"]),
            (Endpoint::Introspect, &["post"]),
            (Endpoint::Revoke, &["post"]),
            (Endpoint::Par, &["post"]),
            (Endpoint::Userinfo, &["get", "post"]),
            (Endpoint::Register, &["post"]),
            (Endpoint::RegisterClient, &["get", "put", "delete"]),
            (Endpoint::Consents(ConsentKind::AccountAccess), &["post"]),
            (
                Endpoint::Consent(ConsentKind::AccountAccess),
                &["get", "delete"],
            ),
            (Endpoint::Consents(ConsentKind::DomesticPayment), &["post"]),
            (Endpoint::Consent(ConsentKind::DomesticPayment), &["get"]),
            (Endpoint::PaymentFundsConfirmation, &["get"]),
            (
                Endpoint::Consents(ConsentKind::FundsConfirmation),
                &["post"],
            ),
            (
                Endpoint::Consent(ConsentKind::FundsConfirmation),
                &["get", "delete"],
            ),
        ];
        for (ep, methods) in served {
            let item = paths
                .get(ep.path())
                .unwrap_or_else(|| panic!("{} has no schema", ep.path()));
            for m in *methods {
                let op = &item[*m];
                assert!(op.is_object(), "{} {m} undocumented", ep.path());
                assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
            }
        }
        for ep in Endpoint::ALL {
            let json_api = served.iter().any(|(e, _)| *e == ep);
            assert_eq!(
                !operations(ep).is_empty(),
                json_api,
                "{}: documented iff a JSON API",
                ep.path()
            );
        }
        // Every $ref resolves.
        let text = doc.to_string();
        for (i, _) in text.match_indices("#/components/schemas/") {
            let rest = &text[i + "#/components/schemas/".len()..];
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(
                doc["components"]["schemas"].get(&name).is_some(),
                "dangling $ref {name}"
            );
        }
    }
}
