//! The keys of one IdP: the one that signs and those still published, rotated with an
//! overlap.

use super::{KeySpec, SigningKey, derive::derive_cached};
use crate::config::{KeyAlgorithm, KeySeed, KeysConfig};
use crate::ids::{sha256, ulid_from};
use anyhow::{Context, anyhow};
use serde_json::{Value, json};
use std::sync::Arc;

/// A kid in WorkOS's style (`sso_oidc_key_pair_01…`), stable for a given key.
pub fn workos_kid(key: &SigningKey) -> String {
    let h = sha256(key.thumbprint().as_bytes());
    let mut rand = [0u8; 10];
    rand.copy_from_slice(&h[..10]);
    let ms = i64::from(u32::from_be_bytes([h[10], h[11], h[12], h[13]])) + 1_700_000_000_000;
    format!("sso_oidc_key_pair_{}", ulid_from(ms, rand))
}

#[derive(Clone)]
struct RingEntry {
    key: Arc<SigningKey>,
    /// When it stopped signing (None: never signed yet or still signing).
    retired_at: Option<i64>,
}

/// The keys of one IdP: the one that signs, and those still published.
#[derive(Clone)]
pub struct KeyRing {
    entries: Vec<RingEntry>,
    seed: KeySeed,
    spec: KeySpec,
    overlap_secs: i64,
    next_index: u32,
    workos_kids: bool,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field(
                "kids",
                &self.entries.iter().map(|e| &e.key.kid).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Build the ring from config: PEM keys first (the first signs), else seed index 0.
    pub fn new(cfg: &KeysConfig, workos_kids: bool) -> anyhow::Result<Self> {
        let mut ring = KeyRing {
            entries: Vec::new(),
            seed: cfg.seed.clone(),
            spec: KeySpec::of(cfg),
            overlap_secs: i64::try_from(cfg.rotation_overlap_secs).unwrap_or(i64::MAX),
            next_index: 0,
            workos_kids,
        };
        for (i, p) in cfg.pem.iter().enumerate() {
            let text = match (&p.pem, &p.file) {
                (Some(t), None) => t.clone(),
                (None, Some(f)) => std::fs::read_to_string(f)
                    .with_context(|| format!("keys.pem[{i}]: cannot read {f}"))?,
                _ => {
                    return Err(anyhow!(
                        "keys.pem[{i}]: give exactly one of `pem` and `file`"
                    ));
                }
            };
            let key = SigningKey::from_pem(cfg.algorithm, &text, p.kid.clone())
                .with_context(|| format!("keys.pem[{i}]"))?;
            let key = if p.kid.is_none() {
                ring.styled(key)
            } else {
                key
            };
            ring.entries.push(RingEntry {
                key: Arc::new(key),
                retired_at: None,
            });
        }
        if ring.entries.is_empty() {
            let key = ring.derive_next()?;
            ring.entries.push(RingEntry {
                key,
                retired_at: None,
            });
        }
        Ok(ring)
    }

    fn styled(&self, key: SigningKey) -> SigningKey {
        if self.workos_kids {
            let kid = workos_kid(&key);
            key.with_kid(kid)
        } else {
            key
        }
    }

    fn derive_next(&mut self) -> anyhow::Result<Arc<SigningKey>> {
        let index = self.next_index;
        self.next_index += 1;
        let key = derive_cached(&self.seed, index, self.spec)?;
        Ok(if self.workos_kids {
            Arc::new(key.with_kid(workos_kid(&key)))
        } else {
            key
        })
    }

    /// Which seeded key rotation brings in next, so it can be generated without a lock.
    pub fn next_rotation(&self) -> (KeySeed, u32, KeySpec) {
        (self.seed.clone(), self.next_index, self.spec)
    }

    /// The algorithm every key of the ring signs with.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.spec.algorithm()
    }

    /// Put `key` (from [`SigningKey::derive`] with [`KeyRing::next_rotation`]) in as the signing key.
    pub fn install_rotated(&mut self, index: u32, key: Arc<SigningKey>, now: i64) -> String {
        if index >= self.next_index {
            self.next_index = index + 1;
        }
        let key = if self.workos_kids {
            Arc::new(key.with_kid(workos_kid(&key)))
        } else {
            key
        };
        if let Some(cur) = self.entries.first_mut()
            && cur.retired_at.is_none()
        {
            cur.retired_at = Some(now);
        }
        let kid = key.kid.clone();
        self.entries.retain(|e| e.key.kid != kid);
        self.entries.insert(
            0,
            RingEntry {
                key,
                retired_at: None,
            },
        );
        kid
    }

    /// The key that signs now.
    pub fn active(&self) -> Arc<SigningKey> {
        self.entries[0].key.clone()
    }

    /// Drop keys whose overlap window has passed.
    pub fn prune(&mut self, now: i64) {
        let overlap = self.overlap_secs;
        let mut first = true;
        self.entries.retain(|e| {
            let keep = first || e.retired_at.is_none_or(|t| now < t.saturating_add(overlap));
            first = false;
            keep
        });
    }

    /// The published JWKS at `now`.
    pub fn jwks(&self, now: i64) -> Value {
        let overlap = self.overlap_secs;
        let keys: Vec<Value> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(i, e)| {
                *i == 0 || e.retired_at.is_none_or(|t| now < t.saturating_add(overlap))
            })
            .map(|(_, e)| e.key.jwk())
            .collect();
        json!({ "keys": keys })
    }

    /// Kids currently published.
    pub fn kids(&self, now: i64) -> Vec<String> {
        self.jwks(now)["keys"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k["kid"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PemKey;

    fn ring(algorithm: KeyAlgorithm, workos: bool) -> KeyRing {
        let cfg = KeysConfig {
            algorithm,
            rotation_overlap_secs: 100,
            ..Default::default()
        };
        KeyRing::new(&cfg, workos).unwrap()
    }

    #[test]
    fn rotation_publishes_old_key_for_the_overlap() {
        for alg in [
            KeyAlgorithm::Rs256,
            KeyAlgorithm::Es256,
            KeyAlgorithm::EdDsa,
        ] {
            let mut ring = ring(alg, false);
            assert_eq!(ring.algorithm(), alg);
            let first = ring.active().kid.clone();
            let (seed, idx, spec) = ring.next_rotation();
            let k = SigningKey::derive(&seed, idx, spec).unwrap();
            assert_eq!(k.algorithm(), alg, "rotation keeps the algorithm");
            let second = ring.install_rotated(idx, k, 1_000);
            assert_ne!(first, second, "{alg}");
            assert_eq!(ring.active().kid, second);
            assert_eq!(ring.kids(1_050), vec![second.clone(), first.clone()]);
            let jwks = ring.jwks(1_050);
            assert!(
                jwks["keys"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|k| k["alg"] == alg.as_str()),
                "{jwks}"
            );
            assert_eq!(ring.kids(1_100), vec![second.clone()]);
            ring.prune(1_100);
            assert_eq!(ring.kids(0), vec![second]);
        }
    }

    #[test]
    fn pem_keys_are_loaded_with_their_kid() {
        for alg in [
            KeyAlgorithm::Rs256,
            KeyAlgorithm::Es256,
            KeyAlgorithm::EdDsa,
        ] {
            let a = ring(alg, false).active();
            let cfg = KeysConfig {
                algorithm: alg,
                pem: vec![PemKey {
                    kid: Some("k1".into()),
                    pem: Some(a.pkcs8_pem.clone()),
                    file: None,
                }],
                ..Default::default()
            };
            let ring = KeyRing::new(&cfg, false).unwrap();
            assert_eq!(ring.active().kid, "k1");
            assert_eq!(ring.active().thumbprint(), a.thumbprint(), "{alg}");
        }
        let bad = KeysConfig {
            pem: vec![PemKey {
                kid: None,
                pem: Some("nope".into()),
                file: None,
            }],
            ..Default::default()
        };
        let e = KeyRing::new(&bad, false).unwrap_err();
        assert!(format!("{e:#}").contains("keys.pem[0]"), "{e:#}");
    }

    /// A PEM key of another type than `keys.algorithm` is refused, saying which is needed.
    #[test]
    fn pem_keys_must_fit_the_algorithm() {
        let ec = ring(KeyAlgorithm::Es256, false).active();
        let ed = ring(KeyAlgorithm::EdDsa, false).active();
        for (alg, pem, needs) in [
            (KeyAlgorithm::Rs256, &ec.pkcs8_pem, "RSA"),
            (KeyAlgorithm::Es256, &ed.pkcs8_pem, "P-256"),
            (KeyAlgorithm::EdDsa, &ec.pkcs8_pem, "Ed25519"),
        ] {
            let cfg = KeysConfig {
                algorithm: alg,
                pem: vec![PemKey {
                    kid: None,
                    pem: Some(pem.clone()),
                    file: None,
                }],
                ..Default::default()
            };
            let e = format!("{:#}", KeyRing::new(&cfg, false).unwrap_err());
            assert!(e.contains(needs) && e.contains(alg.as_str()), "{alg}: {e}");
        }
    }

    #[test]
    fn workos_kids_look_like_workos() {
        for alg in [
            KeyAlgorithm::Rs256,
            KeyAlgorithm::Es256,
            KeyAlgorithm::EdDsa,
        ] {
            let ring = ring(alg, true);
            let kid = ring.active().kid.clone();
            assert!(kid.starts_with("sso_oidc_key_pair_01"), "{kid}");
            assert_eq!(ring.jwks(0)["keys"][0]["kid"], kid.as_str());
        }
    }

    #[test]
    fn rsa_key_sizes_outside_what_aws_lc_signs_with_are_refused() {
        for bits in [1024, 8200] {
            let cfg = KeysConfig {
                bits,
                ..Default::default()
            };
            let e = KeyRing::new(&cfg, false).unwrap_err().to_string();
            assert!(
                e.contains("keys.bits") && e.contains(&bits.to_string()),
                "{e}"
            );
        }
    }
}
