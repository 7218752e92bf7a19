//! DS-2 signing keys at start: load the active keys from the database (shared by every node),
//! generating a PS256 and an ES256 key on first start.

use bulwark_core::Clock;
use bulwark_jose::{Alg, KeySet, SigningKey};
use bulwark_store::{KeyStore, StoreError, StoredKey};

/// Loads the active signing keys, generating and storing a key for each algorithm that has
/// none. Returns the key set and the kids generated now.
pub async fn load_or_generate(
    store: &dyn KeyStore,
    clock: &dyn Clock,
) -> Result<(KeySet, Vec<String>), anyhow::Error> {
    let mut generated = Vec::new();
    let existing = store.active_signing_keys().await?;
    for alg in Alg::ALL {
        if existing.iter().any(|k| k.alg == alg.as_str()) {
            continue;
        }
        let key = SigningKey::generate(alg)?;
        let stored = StoredKey {
            kid: key.kid().to_string(),
            alg: alg.as_str().to_string(),
            private_jwk: key.private_jwk_json(),
            created_at: clock.unix(),
            retired_at: None,
        };
        match store.insert_signing_key(&stored).await {
            Ok(()) => generated.push(stored.kid),
            // Another node generated the same key id: impossible in practice, harmless anyway.
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut keys = Vec::new();
    for stored in store.active_signing_keys().await? {
        let alg = Alg::parse(&stored.alg).ok_or_else(|| {
            anyhow::anyhow!(
                "signing key {} has unsupported alg {}",
                stored.kid,
                stored.alg
            )
        })?;
        keys.push(SigningKey::from_private_jwk_json(alg, &stored.private_jwk)?);
    }
    Ok((KeySet::new(keys), generated))
}
