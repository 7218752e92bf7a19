//! What the embedded default makes for a newcomer (OP-1), beside the development PKI: a demo
//! PSU with accounts (its password printed at start and kept in the data directory), and the
//! pairwise-subject salt.

use std::path::Path;

use anyhow::Context;
use bulwark_authz::StoredPsuDirectory;
use bulwark_core::Rng;

use crate::config::Config;

/// The demo PSU's username.
pub const DEMO_USERNAME: &str = "demo";

/// Creates the demo PSU (once) and says how to log in as it.
pub async fn ensure_demo_psu(
    psus: &StoredPsuDirectory,
    data_dir: &Path,
    rng: &dyn Rng,
    now: i64,
) -> anyhow::Result<String> {
    let file = data_dir.join("demo-psu.txt");
    if let Ok(text) = std::fs::read_to_string(&file)
        && let Some(password) = text.lines().find_map(|l| l.strip_prefix("password: "))
        && bulwark_authz::PsuDirectory::authenticate(psus, DEMO_USERNAME, password)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .is_some()
    {
        return Ok(format!(
            "demo PSU: username {DEMO_USERNAME}, password {password} ({})",
            file.display()
        ));
    }
    let password = rng.token(12);
    let record = match psus
        .add(DEMO_USERNAME, "Demo Customer", &password, rng, now)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            return Ok(format!(
                "demo PSU not created ({e}); add one with `bulwark psu add`"
            ));
        }
    };
    psus.seed_accounts(&record.subject, rng)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(
        &file,
        format!("username: {DEMO_USERNAME}\npassword: {password}\n"),
    )
    .with_context(|| format!("writing {}", file.display()))?;
    Ok(format!(
        "created demo PSU: username {DEMO_USERNAME}, password {password} ({})",
        file.display()
    ))
}

/// The pairwise salt: configured, or generated once into the data directory.
pub fn pairwise_salt(config: &Config, rng: &dyn Rng) -> anyhow::Result<Vec<u8>> {
    if let Some(salt) = &config.pages.pairwise_salt {
        return Ok(salt.as_bytes().to_vec());
    }
    let file = config.data_dir.join("pairwise.salt");
    if let Ok(salt) = std::fs::read_to_string(&file) {
        return Ok(salt.trim().as_bytes().to_vec());
    }
    let salt = rng.token(32);
    std::fs::create_dir_all(&config.data_dir)?;
    std::fs::write(&file, &salt).with_context(|| format!("writing {}", file.display()))?;
    Ok(salt.into_bytes())
}
