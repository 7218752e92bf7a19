//! Checks of client metadata that every registration path shares (operator CLI and DCR): FAPI
//! authentication methods and algorithms, keys present where the method needs them, exactly
//! one certificate subject for `tls_client_auth`, redirect URIs (`check_redirect_uri`).

use bulwark_core::{AuthMethod, ClientMetadata};
use bulwark_jose::{Alg, PublicKeySet};

/// Why metadata is unacceptable; the text is meant for the registrant.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct MetadataError(pub String);

fn bad(msg: impl Into<String>) -> MetadataError {
    MetadataError(msg.into())
}

/// TK-5 / OIDC Registration 2: `id_token_encrypted_response_alg` and `_enc` together, from
/// the supported sets, with an encryption key for the algorithm registered by value.
fn id_token_encryption(meta: &ClientMetadata) -> Result<(), MetadataError> {
    use bulwark_jose::encrypt::{CONTENT_ENCS, KEY_ALGS, encryption_key};
    fn text<'a>(
        meta: &'a ClientMetadata,
        name: &'static str,
    ) -> Result<Option<&'a str>, MetadataError> {
        match meta.extra.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| bad(format!("{name} must be a string"))),
        }
    }
    let alg = text(meta, "id_token_encrypted_response_alg")?;
    let enc = text(meta, "id_token_encrypted_response_enc")?;
    match (alg, enc) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(bad(
            "id_token_encrypted_response_enc needs id_token_encrypted_response_alg",
        )),
        (Some(alg), enc) => {
            if !KEY_ALGS.contains(&alg) {
                return Err(bad(format!(
                    "id_token_encrypted_response_alg must be one of {KEY_ALGS:?}"
                )));
            }
            match enc {
                Some(e) if CONTENT_ENCS.contains(&e) => {}
                _ => {
                    return Err(bad(format!(
                        "id_token_encrypted_response_enc must be one of {CONTENT_ENCS:?}"
                    )));
                }
            }
            // By value it is checked here; at a jwks_uri when it is fetched (registration, and
            // each issue: a client that asked for encryption never gets a plain ID token).
            let has_key = match &meta.jwks {
                Some(jwks) => encryption_key(jwks, alg).is_some(),
                None => meta.jwks_uri.is_some(),
            };
            if !has_key {
                return Err(bad(format!(
                    "ID token encryption with {alg} needs an encryption key (use \"enc\") in jwks or at jwks_uri"
                )));
            }
            Ok(())
        }
    }
}

/// RFC 7517 4.7: the first `x5c` certificate's public key is the JWK's own key; a JWK naming
/// another key's certificate is refused at registration.
fn x5c_matches_key(jwk: &serde_json::Map<String, serde_json::Value>) -> Result<(), MetadataError> {
    use base64::Engine;
    let Some(first) = jwk
        .get("x5c")
        .and_then(serde_json::Value::as_array)
        .and_then(|a| a.first())
    else {
        return Ok(());
    };
    let der = first
        .as_str()
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .ok_or_else(|| bad("x5c[0] is not base64 DER"))?;
    let from_cert = certificate_key(&der).map_err(|e| bad(format!("x5c[0]: {e}")))?;
    if same_public_key(&from_cert, jwk) {
        Ok(())
    } else {
        Err(bad("the key's x5c certificate holds another public key"))
    }
}

/// The public key a certificate (DER) holds, as a JWK.
pub(crate) fn certificate_key(
    der: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    use x509_cert::der::{Decode, Encode};
    let cert =
        x509_cert::Certificate::from_der(der).map_err(|e| format!("not a certificate: {e}"))?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    let pem = x509_cert::der::pem::encode_string(
        "PUBLIC KEY",
        x509_cert::der::pem::LineEnding::LF,
        &spki,
    )
    .map_err(|e| e.to_string())?;
    bulwark_jose::pem::jwk_from_public_pem(&pem, None).map_err(|e| format!("its key: {e}"))
}

/// True when two JWKs hold the same public key (the members RFC 7638 names for RSA and EC).
pub(crate) fn same_public_key(
    a: &serde_json::Map<String, serde_json::Value>,
    b: &serde_json::Map<String, serde_json::Value>,
) -> bool {
    a.get("kty").is_some()
        && ["kty", "crv", "n", "e", "x", "y"]
            .iter()
            .all(|m| a.get(*m) == b.get(*m))
}

/// Validates metadata for a FAPI client.
pub fn validate(meta: &ClientMetadata) -> Result<(), MetadataError> {
    for (name, value) in [
        (
            "token_endpoint_auth_signing_alg",
            &meta.token_endpoint_auth_signing_alg,
        ),
        (
            "request_object_signing_alg",
            &meta.request_object_signing_alg,
        ),
        (
            "id_token_signed_response_alg",
            &meta.id_token_signed_response_alg,
        ),
    ] {
        if let Some(alg) = value
            && Alg::parse(alg).is_none()
        {
            return Err(bad(format!("{name} must be PS256 or ES256, not {alg:?}")));
        }
    }
    id_token_encryption(meta)?;
    // JARM: the response signing algorithm, when registered, is one Bulwark signs with.
    if let Some(alg) = meta.extra.get("authorization_signed_response_alg")
        && alg.as_str().and_then(Alg::parse).is_none()
    {
        return Err(bad(
            "authorization_signed_response_alg must be PS256 or ES256",
        ));
    }
    if meta.jwks.is_some() && meta.jwks_uri.is_some() {
        return Err(bad("give jwks or jwks_uri, not both"));
    }
    if let Some(jwks) = &meta.jwks {
        for key in jwks
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_object)
        {
            x5c_matches_key(key)?;
        }
        let set = PublicKeySet::from_jwks(jwks).map_err(|e| bad(format!("jwks: {e}")))?;
        if set.keys().is_empty() {
            return Err(bad(
                "jwks holds no PS256 (RSA) or ES256 (P-256) signing key",
            ));
        }
    }
    if let Some(uri) = &meta.jwks_uri
        && !uri.starts_with("https://")
    {
        return Err(bad("jwks_uri must be an https URL"));
    }
    let has_keys = meta.jwks.is_some() || meta.jwks_uri.is_some();
    match meta.token_endpoint_auth_method {
        AuthMethod::PrivateKeyJwt | AuthMethod::SelfSignedTlsClientAuth if !has_keys => {
            return Err(bad(format!(
                "{} needs jwks or jwks_uri",
                meta.token_endpoint_auth_method.as_str()
            )));
        }
        AuthMethod::TlsClientAuth => {
            let subjects = [
                &meta.tls_client_auth_subject_dn,
                &meta.tls_client_auth_san_dns,
                &meta.tls_client_auth_san_uri,
                &meta.tls_client_auth_san_ip,
                &meta.tls_client_auth_san_email,
            ];
            if subjects.iter().filter(|s| s.is_some()).count() != 1 {
                return Err(bad(
                    "tls_client_auth needs exactly one of tls_client_auth_subject_dn or a tls_client_auth_san_* value",
                ));
            }
            // RFC 8705 2.1.2: the one value names the certificate's subject; an empty one
            // (a DN with no RDNs, an empty SAN) names none, and would match a certificate
            // with an empty subject.
            for (name, value) in [
                (
                    "tls_client_auth_subject_dn",
                    &meta.tls_client_auth_subject_dn,
                ),
                ("tls_client_auth_san_dns", &meta.tls_client_auth_san_dns),
                ("tls_client_auth_san_uri", &meta.tls_client_auth_san_uri),
                ("tls_client_auth_san_ip", &meta.tls_client_auth_san_ip),
                ("tls_client_auth_san_email", &meta.tls_client_auth_san_email),
            ] {
                if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                    return Err(bad(format!("{name} is empty")));
                }
            }
            // Parsed now, so a malformed DN fails the registration, not every later
            // authentication.
            if let Some(dn) = &meta.tls_client_auth_subject_dn {
                bulwark_certs::DistinguishedName::parse_rfc4514(dn).map_err(|e| {
                    bad(format!(
                        "tls_client_auth_subject_dn is not an RFC 4514 distinguished name: {e}"
                    ))
                })?;
            }
            if let Some(ip) = &meta.tls_client_auth_san_ip
                && ip.parse::<std::net::IpAddr>().is_err()
            {
                return Err(bad("tls_client_auth_san_ip is not an IP address"));
            }
        }
        _ => {}
    }
    for uri in &meta.redirect_uris {
        crate::check_redirect_uri(uri).map_err(|e| bad(e.to_string()))?;
    }
    // OIDC Core 8.1: a pairwise `sub` is per sector; redirect URIs on several hosts name
    // several sectors unless a sector_identifier_uri names the one they share.
    if meta.sector_identifier_uri.is_none() && meta.redirect_hosts().len() > 1 {
        return Err(bad(
            "redirect_uris on more than one host need a sector_identifier_uri (OIDC Core 8.1)",
        ));
    }
    for grant in &meta.grant_types {
        if !matches!(
            grant.as_str(),
            "authorization_code" | "client_credentials" | "refresh_token"
        ) {
            return Err(bad(format!("grant type {grant:?} is not supported")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn meta(v: serde_json::Value) -> ClientMetadata {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn az_8_redirect_uris_on_several_hosts_need_a_sector() {
        let two_hosts = serde_json::json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "https://tpp.example/jwks",
            "redirect_uris": ["https://a.tpp.example/cb", "https://b.tpp.example/cb"]
        });
        assert!(validate(&meta(two_hosts.clone())).is_err());
        let mut with_sector = two_hosts;
        with_sector["sector_identifier_uri"] = "https://tpp.example/sector.json".into();
        assert_eq!(
            validate(&meta(with_sector)).map_err(|e| e.to_string()),
            Ok(())
        );
        let one_host = serde_json::json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "https://tpp.example/jwks",
            "redirect_uris": ["https://a.tpp.example/cb", "https://A.tpp.example:443/other"]
        });
        assert_eq!(validate(&meta(one_host)).map_err(|e| e.to_string()), Ok(()));
    }

    #[test]
    fn ca_2_tls_client_auth_needs_exactly_one_subject() {
        assert!(
            validate(&meta(
                serde_json::json!({"token_endpoint_auth_method": "tls_client_auth"})
            ))
            .is_err()
        );
        assert!(
            validate(&meta(serde_json::json!({
                "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_subject_dn": "CN=tpp",
                "tls_client_auth_san_dns": "tpp.example"
            })))
            .is_err()
        );
        assert!(
            validate(&meta(
                serde_json::json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=tpp"})
            ))
            .is_ok()
        );
    }

    #[test]
    fn ca_1_private_key_jwt_needs_keys_and_fapi_algs() {
        assert!(
            validate(&meta(
                serde_json::json!({"token_endpoint_auth_method": "private_key_jwt"})
            ))
            .is_err()
        );
        assert!(
            validate(&meta(serde_json::json!({
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": "https://tpp.example/jwks",
                "token_endpoint_auth_signing_alg": "RS256"
            })))
            .is_err()
        );
        assert!(
            validate(&meta(serde_json::json!({
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": "http://tpp.example/jwks"
            })))
            .is_err()
        );
    }

    #[test]
    fn tk_5_id_token_encryption_needs_supported_algorithms_and_a_key() {
        let mut enc_key: serde_json::Map<String, serde_json::Value> = josekit::jwe::RSA_OAEP
            .generate_key_pair(2048)
            .unwrap()
            .to_jwk_public_key()
            .into();
        enc_key.insert("use".into(), "enc".into());
        let sig_key = bulwark_jose::SigningKey::generate(bulwark_jose::Alg::Es256)
            .unwrap()
            .public_jwk()
            .clone();
        let base = |extra: serde_json::Value| {
            let mut v = serde_json::json!({
                "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_subject_dn": "CN=tpp",
                "jwks": {"keys": [enc_key.clone(), sig_key.clone()]}
            });
            if let (serde_json::Value::Object(m), serde_json::Value::Object(e)) = (&mut v, extra) {
                m.extend(e);
            }
            meta(v)
        };
        let ok = base(
            serde_json::json!({"id_token_encrypted_response_alg": "RSA-OAEP", "id_token_encrypted_response_enc": "A256GCM"}),
        );
        assert_eq!(validate(&ok), Ok(()));
        for bad in [
            serde_json::json!({"id_token_encrypted_response_alg": "RSA1_5", "id_token_encrypted_response_enc": "A256GCM"}),
            serde_json::json!({"id_token_encrypted_response_alg": "RSA-OAEP"}),
            serde_json::json!({"id_token_encrypted_response_enc": "A256GCM"}),
            serde_json::json!({"id_token_encrypted_response_alg": "ECDH-ES", "id_token_encrypted_response_enc": "A256GCM"}),
            serde_json::json!({"id_token_encrypted_response_alg": "RSA-OAEP", "id_token_encrypted_response_enc": "A128CBC-HS256"}),
        ] {
            let m = base(bad.clone());
            let err = validate(&m).unwrap_err();
            assert!(err.0.contains("encrypt"), "{bad}: {err}");
        }
        // FAPI 2.0 SP 5.4: an RSA encryption key under 2048 bits is no key to encrypt to.
        let mut weak: serde_json::Map<String, serde_json::Value> =
            josekit::jwk::alg::rsa::RsaKeyPair::generate(1024)
                .unwrap()
                .to_jwk_public_key()
                .into();
        weak.insert("use".into(), "enc".into());
        let mut m = ok.clone();
        m.jwks = Some(serde_json::json!({"keys": [weak, sig_key.clone()]}));
        let err = validate(&m).unwrap_err();
        assert!(err.0.contains("encrypt"), "{err}");
        assert!(id_token_encryption(&ok).is_ok());
    }

    #[test]
    fn hardening_malformed_subject_dn_fails_registration() {
        for dn in ["CN", "=x", "CN=a,,O"] {
            let m = meta(serde_json::json!({
                "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_subject_dn": dn
            }));
            assert!(validate(&m).is_err(), "{dn}");
        }
        let ip = meta(serde_json::json!({
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_san_ip": "not-an-ip"
        }));
        assert!(validate(&ip).is_err());
        // An empty or blank subject names no certificate.
        for field in [
            "tls_client_auth_subject_dn",
            "tls_client_auth_san_dns",
            "tls_client_auth_san_uri",
            "tls_client_auth_san_ip",
            "tls_client_auth_san_email",
        ] {
            for blank in ["", "  "] {
                let mut v = serde_json::json!({"token_endpoint_auth_method": "tls_client_auth"});
                v[field] = blank.into();
                assert_eq!(
                    validate(&meta(v)),
                    Err(MetadataError(format!("{field} is empty"))),
                    "{field} {blank:?}"
                );
            }
        }
        let ok = meta(serde_json::json!({
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": "organizationIdentifier=PSDGB-FCA-123456,CN=tpp,O=TPP Ltd"
        }));
        assert!(validate(&ok).is_ok());
    }

    /// RFC 7517 4.7: a JWK's `x5c` names its own key's certificate; another key's is refused.
    #[test]
    fn dcr_2_a_jwk_x5c_must_certify_the_jwk_key() {
        use base64::Engine;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["tpp.example".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let x5c = base64::engine::general_purpose::STANDARD.encode(cert.der());
        let with_x5c = |pem: &str| {
            let mut jwk = bulwark_jose::pem::jwk_from_public_pem(pem, None).unwrap();
            jwk.insert("x5c".into(), serde_json::json!([x5c]));
            jwk
        };
        assert!(x5c_matches_key(&with_x5c(&key.public_key_pem())).is_ok());
        let other = rcgen::KeyPair::generate().unwrap();
        assert!(x5c_matches_key(&with_x5c(&other.public_key_pem())).is_err());
        let mut garbled = with_x5c(&key.public_key_pem());
        garbled.insert("x5c".into(), serde_json::json!(["bm90IGEgY2VydA=="]));
        assert!(x5c_matches_key(&garbled).is_err());
    }

    /// FAPI redirect URIs are plain https URLs without a fragment (RFC 6749 3.1.2); only the grants
    /// Bulwark implements may be registered.
    #[test]
    fn dcr_2_redirect_uris_are_https_without_fragment_and_grants_are_known() {
        let with = |field: &str, value: serde_json::Value| {
            let mut v = serde_json::json!({
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": "https://tpp.example/jwks",
                "redirect_uris": ["https://tpp.example/cb"],
                "grant_types": ["authorization_code", "client_credentials", "refresh_token"]
            });
            v[field] = value;
            validate(&meta(v)).map_err(|e| e.to_string())
        };
        assert_eq!(with("scope", "accounts".into()), Ok(()));
        for uri in ["http://tpp.example/cb", "https://tpp.example/cb#done"] {
            assert!(
                with("redirect_uris", serde_json::json!([uri]))
                    .is_err_and(|e| e.contains("must be https without a fragment")),
                "{uri}"
            );
        }
        // The URI's origin goes into the pages' CSP: nothing that ends a directive or a
        // header, no userinfo, a host.
        for uri in [
            "https://tpp.example; frame-ancestors */cb",
            "https://tpp.example,https://evil.example/cb",
            "https://tpp.example/cb\u{1}",
            "https://tpp.example/c b",
            "https://user@tpp.example/cb",
            "https:///cb",
        ] {
            assert!(
                with("redirect_uris", serde_json::json!([uri])).is_err(),
                "{uri:?}"
            );
        }
        assert!(
            with("grant_types", serde_json::json!(["password"]))
                .is_err_and(|e| e.contains("grant type \"password\" is not supported"))
        );
    }
}
