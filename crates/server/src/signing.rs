//! DS-2 signing keys: loaded from the database (shared by every node), generated on first
//! start, rotated by `bulwark keys rotate`, and reloaded by every node while it runs.
//!
//! A key's life is three moments stored with it: published (in `/jwks`) from its creation,
//! signing from `activates_at`, unpublished at `retired_at`. A rotation stores the next key
//! with `activates_at = now + publish_ahead` (so relying parties' JWKS caches hold it before
//! the first token it signs) and schedules the keys it replaces to retire once the last token
//! they signed has expired. Each node re-reads the table every `reload_secs` and re-derives the
//! states from its clock at each of those moments, so all nodes agree without talking to each
//! other.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bulwark_core::Clock;
use bulwark_jose::{Alg, KeyRing, KeySet, SigningKey};
use bulwark_store::{KeyStore, StoreError, StoredKey};

/// Seconds of clock skew allowed between nodes and relying parties, added to a retiring key's
/// publication so no verifier sees a valid token whose key has gone.
pub const RETIRE_MARGIN_SECS: i64 = 60;

/// Parsed keys by kid, so a reload parses only keys it has not seen.
#[derive(Default)]
struct Parsed(HashMap<String, SigningKey>);

impl Parsed {
    fn get(&mut self, stored: &StoredKey) -> anyhow::Result<SigningKey> {
        if let Some(key) = self.0.get(&stored.kid) {
            return Ok(key.clone());
        }
        let alg = Alg::parse(&stored.alg).ok_or_else(|| {
            anyhow::anyhow!(
                "signing key {} has unsupported alg {}",
                stored.kid,
                stored.alg
            )
        })?;
        let key = SigningKey::from_private_jwk_json(alg, &stored.private_jwk)?;
        self.0.insert(stored.kid.clone(), key.clone());
        Ok(key)
    }

    /// The ring of `stored` (published keys in signing order) as it stands at `now`. A key
    /// that cannot be used here (a newer algorithm during a rolling upgrade, a damaged row)
    /// is left out and logged; the others still form the ring.
    fn ring(&mut self, stored: &[StoredKey], now: i64) -> KeyRing {
        let mut keys = Vec::with_capacity(stored.len());
        for s in stored.iter().filter(|s| is_published(s, now)) {
            match self.get(s) {
                Ok(key) => keys.push((key, s.activates_at <= now)),
                Err(e) => {
                    tracing::error!(kid = %s.kid, error = %e, "signing key unusable here; left out")
                }
            }
        }
        self.0.retain(|kid, _| stored.iter().any(|s| &s.kid == kid));
        KeyRing::with_states(keys)
    }
}

fn is_published(key: &StoredKey, now: i64) -> bool {
    key.retired_at.is_none_or(|at| at > now)
}

/// The next moment after `now` at which a key of `stored` starts signing or is unpublished.
fn next_change(stored: &[StoredKey], now: i64) -> Option<i64> {
    stored
        .iter()
        .flat_map(|s| [Some(s.activates_at), s.retired_at])
        .flatten()
        .filter(|at| *at > now)
        .min()
}

/// Loads the published signing keys, generating and storing a key (signing at once) for each
/// algorithm that has none. Returns the key set and the kids generated now.
pub async fn load_or_generate(
    store: &dyn KeyStore,
    clock: &dyn Clock,
) -> Result<(KeySet, Vec<String>), anyhow::Error> {
    let now = clock.unix();
    let mut generated = Vec::new();
    let existing = store.published_signing_keys(now).await?;
    for alg in Alg::ALL {
        if existing.iter().any(|k| k.alg == alg.as_str()) {
            continue;
        }
        let key = SigningKey::generate(alg)?;
        let stored = StoredKey {
            kid: key.kid().to_string(),
            alg: alg.as_str().to_string(),
            private_jwk: key.private_jwk_json(),
            created_at: now,
            activates_at: now,
            retired_at: None,
        };
        match store.insert_signing_key(&stored).await {
            Ok(()) => generated.push(stored.kid),
            // Another node generated the same key id: impossible in practice, harmless anyway.
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let stored = store.published_signing_keys(now).await?;
    let ring = Parsed::default().ring(&stored, now);
    Ok((KeySet::from_ring(ring), generated))
}

/// Keeps `keys` equal to the database's keys as they stand now: re-reads the table every
/// `reload` and re-derives the ring at each activation or retirement moment in between. A
/// database outage keeps the last keys read (their moments still apply), so a node never
/// stops signing because the database is briefly away.
pub fn spawn_reloader(
    store: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
    keys: KeySet,
    reload: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut parsed = Parsed::default();
        let mut stored: Vec<StoredKey> = Vec::new();
        let mut next_read = tokio::time::Instant::now();
        loop {
            let now = clock.unix();
            if tokio::time::Instant::now() >= next_read {
                next_read = tokio::time::Instant::now() + reload;
                // Every key that may still be published at any later moment: published now.
                // Bounded, so a read hung on a dead connection never stops the moments below.
                match tokio::time::timeout(reload, store.published_signing_keys(now)).await {
                    Ok(Ok(fresh)) => stored = fresh,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "signing keys not re-read; keeping the last ones")
                    }
                    Err(_) => tracing::warn!(
                        "signing keys not re-read within the reload interval; keeping the last ones"
                    ),
                }
            }
            let ring = parsed.ring(&stored, now);
            if !stored.is_empty() {
                let current = keys.current();
                if ring.fingerprint() != current.fingerprint() {
                    tracing::info!(
                        target: "bulwark::security",
                        keys = %describe(&ring),
                        "signing keys changed"
                    );
                    keys.replace(ring);
                }
            }
            let until_read = next_read.saturating_duration_since(tokio::time::Instant::now());
            let until_change = next_change(&stored, now)
                .map(|at| Duration::from_secs(u64::try_from(at - now).unwrap_or(0)))
                .unwrap_or(until_read);
            tokio::time::sleep(until_read.min(until_change).max(Duration::from_millis(50))).await;
        }
    })
}

fn describe(ring: &KeyRing) -> String {
    ring.keys()
        .iter()
        .map(|k| {
            let state = if ring.is_pending(k.kid()) {
                "next"
            } else {
                "published"
            };
            format!("{} {} ({state})", k.alg(), k.kid())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a rotation is timed.
#[derive(Clone, Copy, Debug)]
pub struct RotationPlan {
    /// Seconds the next key is published before it signs.
    pub publish_ahead_secs: i64,
    /// The longest lifetime of anything the replaced key signed (access and ID tokens,
    /// authorization responses), seconds.
    pub longest_token_lifetime_secs: i64,
    /// Compromise: the next key signs at once and the replaced keys are unpublished at once,
    /// so tokens they signed stop verifying as soon as every node has reloaded.
    pub immediately: bool,
    /// How long a node may go on with the keys it read last (`keys.reload_secs`): a node
    /// may sign with a replaced key until then.
    pub reload_secs: i64,
}

/// The outcome of a rotation, for the operator.
#[derive(Clone, Debug)]
pub struct Rotated {
    /// The key stored now.
    pub next: StoredKey,
    /// When the keys it replaces stop being published.
    pub previous_retire_at: i64,
}

/// DS-2 rotation: stores a new `alg` key that signs after the plan's delay and schedules the
/// keys it replaces to retire, in one transaction.
pub async fn rotate(
    store: &dyn KeyStore,
    now: i64,
    alg: Alg,
    plan: RotationPlan,
) -> anyhow::Result<Rotated> {
    let key = SigningKey::generate(alg)?;
    let (activates_at, previous_retire_at) = if plan.immediately {
        (now, now)
    } else {
        let activates_at = now.saturating_add(plan.publish_ahead_secs.max(0));
        // The last token a replaced key signs: at its successor's activation, or as late as a
        // node that has not re-read the keys yet signs with it.
        let last_signature = activates_at.max(now.saturating_add(plan.reload_secs.max(0)));
        let retire = last_signature
            .saturating_add(plan.longest_token_lifetime_secs.max(0))
            .saturating_add(RETIRE_MARGIN_SECS);
        (activates_at, retire)
    };
    let next = StoredKey {
        kid: key.kid().to_string(),
        alg: alg.as_str().to_string(),
        private_jwk: key.private_jwk_json(),
        created_at: now,
        activates_at,
        retired_at: None,
    };
    store.rotate_signing_key(&next, previous_retire_at).await?;
    Ok(Rotated {
        next,
        previous_retire_at,
    })
}

/// A key's state at `now`, as `bulwark keys list` shows it.
pub fn state_at(key: &StoredKey, all: &[StoredKey], now: i64) -> &'static str {
    if !is_published(key, now) {
        return "retired";
    }
    if key.activates_at > now {
        return "next";
    }
    let newer_active = all.iter().any(|o| {
        o.alg == key.alg
            && o.kid != key.kid
            && is_published(o, now)
            && o.activates_at <= now
            && (o.created_at, &o.kid) > (key.created_at, &key.kid)
    });
    if newer_active { "previous" } else { "signing" }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn stored(kid: &str, activates_at: i64, retired_at: Option<i64>) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            alg: "ES256".into(),
            private_jwk: String::new(),
            // Created when the rotation ran: ahead of its activation.
            created_at: activates_at - 10,
            activates_at,
            retired_at,
        }
    }

    #[test]
    fn ds_2_states_follow_the_three_moments() {
        let all = [stored("old", 0, Some(500)), stored("new", 100, None)];
        assert_eq!(state_at(&all[0], &all, 50), "signing");
        assert_eq!(state_at(&all[1], &all, 50), "next");
        assert_eq!(state_at(&all[0], &all, 100), "previous");
        assert_eq!(state_at(&all[1], &all, 100), "signing");
        assert_eq!(state_at(&all[0], &all, 500), "retired");
        assert_eq!(next_change(&all, 50), Some(100));
        assert_eq!(next_change(&all, 100), Some(500));
        assert_eq!(next_change(&all, 500), None);
    }

    #[test]
    fn ds_2_the_newest_rotation_signs_even_if_an_older_one_activates_later() {
        // Rotation A at 0 (k1 signs from 900), then rotation B at 500 signing at once (k2).
        let k1 = StoredKey {
            created_at: 0,
            ..stored("k1", 900, Some(1160))
        };
        let k2 = StoredKey {
            created_at: 500,
            ..stored("k2", 500, None)
        };
        let all = [k1, k2];
        assert_eq!(state_at(&all[1], &all, 1000), "signing");
        assert_eq!(state_at(&all[0], &all, 1000), "previous");
    }
}
