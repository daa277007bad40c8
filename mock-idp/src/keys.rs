//! RSA signing keys: derived deterministically from a seed (rsa 0.9 + ChaCha20), or loaded
//! from PEM; cached in-process and on disk; published as a JWKS; rotated with an overlap.

use crate::config::{KeySeed, KeysConfig};
use crate::ids::{b64url, sha256, ulid_from};
use anyhow::{Context, anyhow};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parking_lot::Mutex;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

/// One RSA key pair, ready to sign.
pub struct RsaKey {
    /// Key id published in the JWKS and put in token headers.
    pub kid: String,
    /// PKCS#8 PEM of the private key.
    pub pkcs8_pem: String,
    n: Vec<u8>,
    e: Vec<u8>,
    encoding: EncodingKey,
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl RsaKey {
    fn from_private(key: &RsaPrivateKey, kid: Option<String>) -> anyhow::Result<Self> {
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| anyhow!("cannot export the key as PKCS#8: {e}"))?
            .to_string();
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| anyhow!("jsonwebtoken rejected the key: {e}"))?;
        let n = key.n().to_bytes_be();
        let e = key.e().to_bytes_be();
        let kid = kid.unwrap_or_else(|| thumbprint(&n, &e));
        Ok(Self {
            kid,
            pkcs8_pem: pem,
            n,
            e,
            encoding,
        })
    }

    /// Load a PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) PEM.
    pub fn from_pem(pem: &str, kid: Option<String>) -> anyhow::Result<Self> {
        let key = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|e| anyhow!("not an RSA private key in PKCS#8 or PKCS#1 PEM: {e}"))?;
        Self::from_private(&key, kid)
    }

    /// The key derived from `seed` at position `index` (0 is the first signing key, later
    /// ones are what rotation brings in). Cached in-process and on disk.
    pub fn derive(seed: &KeySeed, index: u32, bits: usize) -> anyhow::Result<Arc<RsaKey>> {
        derive_cached(seed, index, bits)
    }

    /// The same key under another kid.
    pub fn with_kid(&self, kid: String) -> RsaKey {
        RsaKey {
            kid,
            pkcs8_pem: self.pkcs8_pem.clone(),
            n: self.n.clone(),
            e: self.e.clone(),
            encoding: self.encoding.clone(),
        }
    }

    /// The RFC 7638 thumbprint.
    pub fn thumbprint(&self) -> String {
        thumbprint(&self.n, &self.e)
    }

    /// The public JWK.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": b64url(&self.n),
            "e": b64url(&self.e),
        })
    }

    /// Sign `claims` as an RS256 JWT with this key's kid (or `kid_override`), through
    /// jsonwebtoken (aws-lc-rs backend).
    pub fn sign(
        &self,
        typ: &str,
        claims: &Value,
        kid_override: Option<&str>,
    ) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some(typ.to_string());
        header.kid = Some(kid_override.unwrap_or(&self.kid).to_string());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| anyhow!("signing failed: {e}"))
    }

    /// The key as jsonwebtoken's `EncodingKey`.
    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }
}

fn thumbprint(n: &[u8], e: &[u8]) -> String {
    let canonical = format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64url(e), b64url(n));
    b64url(&sha256(canonical.as_bytes()))
}

/// A kid in WorkOS's style (`sso_oidc_key_pair_01…`), stable for a given key.
pub fn workos_kid(key: &RsaKey) -> String {
    let h = sha256(key.thumbprint().as_bytes());
    let mut rand = [0u8; 10];
    rand.copy_from_slice(&h[..10]);
    let ms = i64::from(u32::from_be_bytes([h[10], h[11], h[12], h[13]])) + 1_700_000_000_000;
    format!("sso_oidc_key_pair_{}", ulid_from(ms, rand))
}

fn seed_rng(seed: &KeySeed, index: u32) -> ChaCha20Rng {
    let base = match seed {
        KeySeed::Int(n) => ChaCha20Rng::seed_from_u64(*n),
        KeySeed::Text(s) => ChaCha20Rng::from_seed(sha256(s.as_bytes())),
    };
    if index == 0 {
        return base;
    }
    let mut input = b"mock-idp/rotation/".to_vec();
    input.extend_from_slice(&base.get_seed());
    input.extend_from_slice(&index.to_be_bytes());
    ChaCha20Rng::from_seed(sha256(&input))
}

type CacheKey = (KeySeed, u32, usize);
type Slot = Arc<Mutex<Option<Arc<RsaKey>>>>;
static CACHE: LazyLock<Mutex<HashMap<CacheKey, Slot>>> = LazyLock::new(Default::default);

fn derive_cached(seed: &KeySeed, index: u32, bits: usize) -> anyhow::Result<Arc<RsaKey>> {
    if !(1024..=8192).contains(&bits) {
        return Err(anyhow!(
            "keys.bits must be between 1024 and 8192, not {bits}"
        ));
    }
    let slot = CACHE
        .lock()
        .entry((seed.clone(), index, bits))
        .or_default()
        .clone();
    // Holding the slot lock while generating: other threads wanting this key wait for it.
    let mut guard = slot.lock();
    if let Some(k) = guard.as_ref() {
        return Ok(k.clone());
    }
    let key = Arc::new(load_or_generate(seed, index, bits)?);
    *guard = Some(key.clone());
    Ok(key)
}

fn disk_path(seed: &KeySeed, index: u32, bits: usize) -> PathBuf {
    let id = match seed {
        KeySeed::Int(n) => format!("int:{n}"),
        KeySeed::Text(s) => format!("text:{s}"),
    };
    let h = sha256(format!("{id}#{index}#{bits}").as_bytes());
    let name = format!("rsa-0.9.10-{bits}-{}.pem", &b64url(&h)[..32]);
    std::env::temp_dir().join("mock-idp-key-cache").join(name)
}

fn load_or_generate(seed: &KeySeed, index: u32, bits: usize) -> anyhow::Result<RsaKey> {
    let path = disk_path(seed, index, bits);
    if let Ok(pem) = std::fs::read_to_string(&path)
        && let Ok(k) = RsaKey::from_pem(&pem, None)
    {
        return Ok(k);
    }
    let mut rng = seed_rng(seed, index);
    let key = RsaPrivateKey::new(&mut rng, bits).context("RSA key generation failed")?;
    let k = RsaKey::from_private(&key, None)?;
    // Best effort: a read-only temp dir only costs the next run a regeneration.
    let _ = write_atomically(&path, &k.pkcs8_pem);
    Ok(k)
}

fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        crate::ids::random_token()
    ));
    std::fs::write(&tmp, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600));
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[derive(Clone)]
struct RingEntry {
    key: Arc<RsaKey>,
    /// When it stopped signing (None: never signed yet or still signing).
    retired_at: Option<i64>,
}

/// The keys of one IdP: the one that signs, and those still published.
#[derive(Clone)]
pub struct KeyRing {
    entries: Vec<RingEntry>,
    seed: KeySeed,
    bits: usize,
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
            bits: cfg.bits,
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
            let key =
                RsaKey::from_pem(&text, p.kid.clone()).with_context(|| format!("keys.pem[{i}]"))?;
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

    fn styled(&self, key: RsaKey) -> RsaKey {
        if self.workos_kids {
            let kid = workos_kid(&key);
            key.with_kid(kid)
        } else {
            key
        }
    }

    fn derive_next(&mut self) -> anyhow::Result<Arc<RsaKey>> {
        let index = self.next_index;
        self.next_index += 1;
        let key = derive_cached(&self.seed, index, self.bits)?;
        Ok(if self.workos_kids {
            Arc::new(key.with_kid(workos_kid(&key)))
        } else {
            key
        })
    }

    /// Which seeded key rotation brings in next, so it can be generated without a lock.
    pub fn next_rotation(&self) -> (KeySeed, u32, usize) {
        (self.seed.clone(), self.next_index, self.bits)
    }

    /// Put `key` (from [`RsaKey::derive`] with [`KeyRing::next_rotation`]) in as the signing key.
    pub fn install_rotated(&mut self, index: u32, key: Arc<RsaKey>, now: i64) -> String {
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
    pub fn active(&self) -> Arc<RsaKey> {
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

    fn test_seed() -> KeySeed {
        KeySeed::default()
    }

    #[test]
    fn same_seed_same_key_and_pem_round_trip() {
        let a = RsaKey::derive(&test_seed(), 0, 2048).unwrap();
        // A fresh derivation (bypassing both caches) gives the same modulus.
        let fresh = RsaPrivateKey::new(&mut seed_rng(&test_seed(), 0), 2048).unwrap();
        assert_eq!(fresh.n().to_bytes_be(), a.n);
        let again = RsaKey::from_pem(&a.pkcs8_pem, None).unwrap();
        assert_eq!(again.jwk(), a.jwk());
        assert_eq!(a.kid, a.thumbprint());
    }

    #[test]
    fn signatures_verify_with_jsonwebtoken() {
        let k = RsaKey::derive(&test_seed(), 0, 2048).unwrap();
        let claims = json!({ "sub": "a", "n": 1 });
        let ours = k.sign("JWT", &claims, None).unwrap();
        let set: jsonwebtoken::jwk::JwkSet =
            serde_json::from_value(json!({ "keys": [k.jwk()] })).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(&set.keys[0]).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        let got = jsonwebtoken::decode::<Value>(&ours, &key, &v).unwrap();
        assert_eq!(got.claims, claims);
        assert_eq!(got.header.kid.as_deref(), Some(k.kid.as_str()));
        assert_eq!(got.header.typ.as_deref(), Some("JWT"));
        // PKCS#1 v1.5 is deterministic: the same key and input give the same token.
        assert_eq!(ours, k.sign("JWT", &claims, None).unwrap());
    }

    #[test]
    fn rotation_publishes_old_key_for_the_overlap() {
        let cfg = KeysConfig {
            rotation_overlap_secs: 100,
            ..Default::default()
        };
        let mut ring = KeyRing::new(&cfg, false).unwrap();
        let first = ring.active().kid.clone();
        let (seed, idx, bits) = ring.next_rotation();
        let k = RsaKey::derive(&seed, idx, bits).unwrap();
        let second = ring.install_rotated(idx, k, 1_000);
        assert_ne!(first, second);
        assert_eq!(ring.active().kid, second);
        assert_eq!(ring.kids(1_050), vec![second.clone(), first.clone()]);
        assert_eq!(ring.kids(1_100), vec![second.clone()]);
        ring.prune(1_100);
        assert_eq!(ring.kids(0), vec![second]);
    }

    #[test]
    fn pem_keys_are_loaded_with_their_kid() {
        let a = RsaKey::derive(&test_seed(), 0, 2048).unwrap();
        let cfg = KeysConfig {
            pem: vec![PemKey {
                kid: Some("k1".into()),
                pem: Some(a.pkcs8_pem.clone()),
                file: None,
            }],
            ..Default::default()
        };
        let ring = KeyRing::new(&cfg, false).unwrap();
        assert_eq!(ring.active().kid, "k1");
        let bad = KeysConfig {
            pem: vec![PemKey {
                kid: None,
                pem: Some("nope".into()),
                file: None,
            }],
            ..Default::default()
        };
        assert!(KeyRing::new(&bad, false).is_err());
    }

    #[test]
    fn workos_kids_look_like_workos() {
        let ring = KeyRing::new(&KeysConfig::default(), true).unwrap();
        assert!(
            ring.active().kid.starts_with("sso_oidc_key_pair_01"),
            "{}",
            ring.active().kid
        );
    }
}
