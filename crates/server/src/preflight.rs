//! `bulwark check-config`: everything `serve` would refuse in the configuration, found without
//! starting anything (no listener, no database, no generated files): the settings each service
//! checks when it is built, and every file the configuration names (TLS chain and key, trust
//! anchors, the pages' logo, the response-signing seal).

use anyhow::Context;
use bulwark_certs::TrustAnchors;

use crate::config::Config;

/// Checks `config` as `serve` would; the first problem found.
pub fn check(config: &Config) -> anyhow::Result<()> {
    config.par.check().map_err(anyhow::Error::msg)?;
    bulwark_jose::Alg::parse(&config.tokens.access_token_alg).ok_or_else(|| {
        anyhow::anyhow!(
            "tokens.access_token_alg {:?} must be PS256 or ES256",
            config.tokens.access_token_alg
        )
    })?;
    config.dcr.check_files().map_err(anyhow::Error::msg)?;
    config.authorization.check().map_err(anyhow::Error::msg)?;
    if let Some(codes) = &config.consents.supported_permissions {
        bulwark_consent::parse_permissions(codes)
            .map_err(|e| anyhow::anyhow!("consents.supported_permissions: {e}"))?;
    }
    if let Some(codes) = &config.consents.supported_local_instruments {
        bulwark_consent::LocalInstruments::parse(codes)
            .map_err(|e| anyhow::anyhow!("consents.supported_local_instruments: {e}"))?;
    }
    if let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) {
        let chain =
            crate::tls::load_chain(cert).with_context(|| format!("tls.cert {}", cert.display()))?;
        let key =
            crate::tls::load_key(key).with_context(|| format!("tls.key {}", key.display()))?;
        // As `serve` builds it: the key must be the certificate's.
        crate::tls::server_config(chain, key, Vec::new(), config.tokens.profile)
            .context("tls.cert and tls.key")?;
    }
    for path in &config.http.outbound_ca {
        crate::tls::load_chain(path)
            .with_context(|| format!("http.outbound_ca {}", path.display()))?;
    }
    // The validator as `serve` builds it (the development CA aside, which `serve` makes):
    // the revocation settings (`exclude_issuers` entries) and the anchors of both profiles.
    let (anchor_paths, revocation) = crate::app::trust_setup(config, None, &mut Vec::new());
    let anchors = anchor_paths
        .try_map(|paths| TrustAnchors::load(paths))
        .context("trust anchors")?;
    let ob_directory =
        TrustAnchors::load(&config.trust.ob_directory).context("trust.ob_directory")?;
    bulwark_certs::CertValidator::with_profiles(
        &anchors,
        &ob_directory,
        std::time::Duration::from_secs(config.trust.clock_skew_secs),
        revocation,
    )
    .context("trust and revocation settings")?;
    if let Some(logo) = &config.pages.logo {
        std::fs::read(logo).with_context(|| format!("pages.logo {}", logo.display()))?;
    }
    crate::response_signing::load(
        config.consents.response_signing.as_ref(),
        &config.consents.jws_trust_anchor,
    )?;
    Ok(())
}
