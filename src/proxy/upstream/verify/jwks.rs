//! The IdP's JSON Web Key Set, fetched on first use and cached.
//!
//! Keys are refetched when the set is older than [`MAX_AGE`], and when a token names a `kid`
//! the cached set does not have (key rotation), at most once per [`MIN_REFRESH_INTERVAL`] so
//! that tokens with made-up `kid`s cannot make the proxy hammer the IdP. One fetch at a time;
//! a failed refetch keeps the keys already known. Which members can verify anything is decided
//! by [`classify`], the one rule shared with `authproof validate` (which reports why a key
//! was skipped where this cache skips it silently).
//!
//! Every usable key is kept parsed by aws-lc-rs, one [`ParsedPublicKey`] per algorithm it may
//! verify, so a check costs the signature alone: jsonwebtoken would rebuild the key on every
//! verification (about 40% of an RS256 check here). jsonwebtoken still models the JWK and
//! reads token headers.

use super::VerifyError;
use crate::proxy::outbound::{MAX_RESPONSE_BYTES, SchemeClients, read_limited, reqwest_error};
use aws_lc_rs::signature::{self as lc, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine as _;
use foundations::Clock;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use parking_lot::RwLock;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// A cached key set is refetched after this long.
pub const MAX_AGE: Duration = Duration::from_secs(3600);
/// An unknown `kid` triggers a refetch at most this often.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// One usable verification key.
#[derive(Clone)]
struct Key {
    kid: Option<String>,
    /// The JWK's `alg`, when it names one.
    alg: Option<Algorithm>,
    kind: KeyKind,
    key: Arc<VerifyKey>,
}

/// A verification key: parsed by aws-lc-rs once for each algorithm it may verify.
pub struct VerifyKey {
    parsed: Vec<(Algorithm, ParsedPublicKey)>,
}

impl VerifyKey {
    /// The parsed key for `alg`, when the key may verify it.
    pub fn parsed(&self, alg: Algorithm) -> Option<&ParsedPublicKey> {
        self.parsed.iter().find(|(a, _)| *a == alg).map(|(_, k)| k)
    }
}

/// The aws-lc-rs parameters jsonwebtoken uses for each RSA algorithm (keys of 2048 to 8192
/// bits).
fn rsa_params(alg: Algorithm) -> Option<&'static lc::RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &lc::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &lc::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &lc::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &lc::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &lc::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &lc::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

/// The same for the EC and EdDSA algorithms (ECDSA signatures as r ‖ s, as in JWS).
fn curve_params(alg: Algorithm) -> Option<&'static dyn lc::VerificationAlgorithm> {
    Some(match alg {
        Algorithm::ES256 => &lc::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &lc::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &lc::ED25519,
        _ => return None,
    })
}

fn b64(field: &str, text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| format!("{field} is not base64url"))
}

/// An EC coordinate of `len` bytes (a shorter one is left-padded: some IdPs drop leading
/// zero bytes, which RFC 7518 §6.2.1.2 forbids but which names the same point).
fn coordinate(field: &str, text: &str, len: usize) -> Result<Vec<u8>, String> {
    let bytes = b64(field, text)?;
    if bytes.is_empty() || bytes.len() > len {
        return Err(format!("{field} is {} bytes, not {len}", bytes.len()));
    }
    let mut out = vec![0u8; len - bytes.len()];
    out.extend_from_slice(&bytes);
    Ok(out)
}

/// The public key of a JWK, parsed for each algorithm of `algs` (all of which fit it).
fn parse_public(
    params: &AlgorithmParameters,
    algs: &[Algorithm],
) -> Result<Vec<(Algorithm, ParsedPublicKey)>, String> {
    let rejected = |e: aws_lc_rs::error::KeyRejected| format!("aws-lc-rs rejects the key: {e}");
    match params {
        AlgorithmParameters::RSA(p) => {
            let (n, e) = (b64("n", &p.n)?, b64("e", &p.e)?);
            let components = RsaPublicKeyComponents {
                n: &n[..],
                e: &e[..],
            };
            algs.iter()
                .map(|a| {
                    let params = rsa_params(*a).ok_or("not an RSA algorithm")?;
                    let key = components
                        .to_parsed_public_key(params)
                        .map_err(|_| "aws-lc-rs rejects the RSA key".to_string())?;
                    Ok((*a, key))
                })
                .collect()
        }
        AlgorithmParameters::EllipticCurve(p) => {
            let len = if p.curve == EllipticCurve::P384 {
                48
            } else {
                32
            };
            // SEC 1 uncompressed point: 0x04 || x || y.
            let mut point = vec![4u8];
            point.extend(coordinate("x", &p.x, len)?);
            point.extend(coordinate("y", &p.y, len)?);
            parse_each(algs, &point).map_err(rejected)
        }
        AlgorithmParameters::OctetKeyPair(p) => {
            let x = b64("x", &p.x)?;
            if x.len() != 32 {
                return Err(format!("x is {} bytes, not 32", x.len()));
            }
            parse_each(algs, &x).map_err(rejected)
        }
        _ => Err("not a public key type".into()),
    }
}

fn parse_each(
    algs: &[Algorithm],
    bytes: &[u8],
) -> Result<Vec<(Algorithm, ParsedPublicKey)>, aws_lc_rs::error::KeyRejected> {
    algs.iter()
        .filter_map(|a| curve_params(*a).map(|p| (*a, p)))
        .map(|(a, p)| ParsedPublicKey::new(p, bytes).map(|k| (a, k)))
        .collect()
}

/// The kind of a usable key: what decides which algorithms it can verify.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeyKind {
    /// RSA, 2048 to 8192 bits: RS256/384/512 and PS256/384/512.
    Rsa,
    /// EC P-256: ES256.
    EcP256,
    /// EC P-384: ES384.
    EcP384,
    /// OKP Ed25519: EdDSA.
    Ed25519,
}

impl KeyKind {
    /// The algorithms a key of this kind can verify.
    pub fn algorithms(self) -> &'static [Algorithm] {
        use Algorithm as A;
        match self {
            KeyKind::Rsa => &[A::RS256, A::RS384, A::RS512, A::PS256, A::PS384, A::PS512],
            KeyKind::EcP256 => &[A::ES256],
            KeyKind::EcP384 => &[A::ES384],
            KeyKind::Ed25519 => &[A::EdDSA],
        }
    }

    /// Whether a key of this kind can verify `alg`.
    pub fn fits(self, alg: Algorithm) -> bool {
        self.algorithms().contains(&alg)
    }
}

#[derive(Default)]
struct Cached {
    keys: Vec<Key>,
    /// Clock milliseconds of the last fetch attempt that succeeded.
    fetched_at: Option<i64>,
    /// Clock milliseconds of the last fetch attempt (success or not).
    attempted_at: Option<i64>,
}

/// A JWKS endpoint and its cached keys.
pub struct JwksCache {
    uri: url::Url,
    http: Arc<SchemeClients>,
    timeout: Duration,
    clock: Clock,
    cached: RwLock<Cached>,
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("uri", &self.uri.as_str())
            .field("keys", &self.cached.read().keys.len())
            .finish()
    }
}

/// The RSA modulus sizes the verifier accepts: aws-lc-rs (jsonwebtoken's backend and the
/// pre-parsed keys) verifies RSA signatures with keys of 2048 to 8192 bits only, and smaller
/// keys are breakable.
pub const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;

/// A JWKS member the verifier can use.
pub struct Classified {
    /// `kid`, if any.
    pub kid: Option<String>,
    /// What it is.
    pub kind: KeyKind,
    /// The JWK's `alg`, when it names one (it fits `kind`).
    pub alg: Option<Algorithm>,
    /// e.g. `RSA 2048-bit`, `EC P-256`.
    pub description: String,
    /// The key, parsed for `alg` or (without one) every algorithm its kind verifies.
    pub key: VerifyKey,
}

/// Why a JWKS member cannot verify tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// A symmetric (`oct`) key: never used from a JWKS (RS/HS confusion), and a leaked secret.
    Symmetric,
    /// Anything else, with the reason.
    Other(String),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::Symmetric => {
                f.write_str("a symmetric (oct) key, never used for verification")
            }
            Unusable::Other(why) => f.write_str(why),
        }
    }
}

/// The one rule for which JWKS members can verify tokens (the proxy's verifier and
/// `authproof validate` both use it): a JWK that parses; `use` absent or `sig`; `key_ops`
/// absent or listing `verify` (RFC 7517 §4.3); RSA of [`RSA_BITS`], EC P-256 or P-384, or
/// OKP Ed25519; an `alg`, when present, that fits the key; and key material aws-lc-rs
/// accepts (a point on the curve, a 32-byte Ed25519 key, a sound RSA key).
pub fn classify(member: &Value) -> Result<Classified, Unusable> {
    if member.get("kty").and_then(Value::as_str) == Some("oct") {
        return Err(Unusable::Symmetric);
    }
    let other = |s: String| Unusable::Other(s);
    let jwk: Jwk = serde_json::from_value(member.clone())
        .map_err(|e| other(format!("not a valid JWK ({e})")))?;
    match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => {}
        Some(PublicKeyUse::Encryption) => {
            return Err(other("use is enc (an encryption key)".into()));
        }
        Some(PublicKeyUse::Other(u)) => return Err(other(format!("use is {u:?}, not sig"))),
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return Err(other("key_ops does not include verify".into()));
    }
    let (kind, description) = match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => {
            let bits = modulus_bits(&p.n)
                .ok_or_else(|| other("the RSA modulus n is not base64url".into()))?;
            if !RSA_BITS.contains(&bits) {
                return Err(other(format!(
                    "an RSA key of {bits} bits (the verifier takes {} to {})",
                    RSA_BITS.start(),
                    RSA_BITS.end()
                )));
            }
            (KeyKind::Rsa, format!("RSA {bits}-bit"))
        }
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => (KeyKind::EcP256, "EC P-256".to_string()),
            EllipticCurve::P384 => (KeyKind::EcP384, "EC P-384".to_string()),
            ref c => return Err(other(format!("EC curve {c:?} is not supported"))),
        },
        AlgorithmParameters::OctetKeyPair(p) => match p.curve {
            EllipticCurve::Ed25519 => (KeyKind::Ed25519, "OKP Ed25519".to_string()),
            ref c => return Err(other(format!("OKP curve {c:?} is not supported"))),
        },
        AlgorithmParameters::OctetKey(_) => return Err(Unusable::Symmetric),
        _ => {
            let kty = member
                .get("kty")
                .and_then(Value::as_str)
                .unwrap_or("(none)");
            return Err(other(format!("key type {kty} is not supported")));
        }
    };
    let alg = match jwk.common.key_algorithm {
        Some(a) => match a.to_string().parse::<Algorithm>() {
            Ok(a) if kind.fits(a) => Some(a),
            _ => return Err(other(format!("alg {a} does not fit a {description} key"))),
        },
        None => None,
    };
    let algs = alg.map_or_else(|| kind.algorithms().to_vec(), |a| vec![a]);
    let parsed = parse_public(&jwk.algorithm, &algs)
        .map_err(|e| other(format!("the {description} key is not usable: {e}")))?;
    Ok(Classified {
        kid: jwk.common.key_id,
        kind,
        alg,
        description,
        key: VerifyKey { parsed },
    })
}

/// Bits of a base64url big-endian modulus (leading zero bytes ignored).
pub fn modulus_bits(n: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(n.trim_end_matches('='))
        .ok()?;
    let first = bytes.iter().position(|b| *b != 0)?;
    Some((bytes.len() - first) * 8 - bytes[first].leading_zeros() as usize)
}

/// Parse a JWKS document into usable keys (unusable members are skipped).
fn parse_keys(doc: &Value) -> Result<Vec<Key>, VerifyError> {
    let list = doc.get("keys").and_then(Value::as_array).ok_or_else(|| {
        VerifyError::Unavailable("the JWKS is not a JSON object with a keys array".into())
    })?;
    Ok(list
        .iter()
        .filter_map(|member| classify(member).ok())
        .map(|c| Key {
            kid: c.kid,
            alg: c.alg,
            kind: c.kind,
            key: Arc::new(c.key),
        })
        .collect())
}

impl JwksCache {
    /// A cache for the JWKS at `uri`; nothing is fetched until a key is needed.
    pub fn new(uri: url::Url, http: Arc<SchemeClients>, timeout: Duration, clock: Clock) -> Self {
        Self {
            uri,
            http,
            timeout,
            clock,
            cached: RwLock::new(Cached::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The JWKS URL.
    pub fn uri(&self) -> &url::Url {
        &self.uri
    }

    /// How many usable keys are cached.
    pub fn key_count(&self) -> usize {
        self.cached.read().keys.len()
    }

    /// The key that verifies a token with header `kid` and `alg`.
    pub async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerifyKey>, VerifyError> {
        let now = self.clock.now_millis();
        let (found, fetched_at, attempted_at) = {
            let c = self.cached.read();
            (Self::find(&c.keys, kid, alg), c.fetched_at, c.attempted_at)
        };
        let stale = fetched_at.is_none_or(|t| now.saturating_sub(t) >= MAX_AGE.as_millis() as i64);
        if let Ok(Some(k)) = &found
            && !stale
        {
            return Ok(k.clone());
        }
        // Refetch when there is nothing, the set is old, or the kid is unknown; at most once
        // per MIN_REFRESH_INTERVAL (made-up kids, or an IdP that is down, must not turn every
        // request into a fetch). A failed refetch keeps the keys already known.
        let may_refetch = attempted_at
            .is_none_or(|t| now.saturating_sub(t) >= MIN_REFRESH_INTERVAL.as_millis() as i64);
        let missing = found.as_ref().is_ok_and(Option::is_none);
        if (stale || missing) && may_refetch {
            if let Err(e) = self.refresh(attempted_at).await
                && self.cached.read().keys.is_empty()
            {
                return Err(e);
            }
        } else {
            found?;
            // A fetch may be under way (another request's): wait for it, then look again.
            drop(self.fetching.lock().await);
        }
        if self.cached.read().fetched_at.is_none() {
            return Err(VerifyError::Unavailable(
                "the identity provider's JWKS could not be fetched yet".into(),
            ));
        }
        match Self::find(&self.cached.read().keys, kid, alg)? {
            Some(k) => Ok(k),
            None => Err(VerifyError::Invalid(match kid {
                Some(k) => format!(
                    "no key with kid {:?} for {alg:?} in the identity provider's JWKS",
                    crate::proxy::redirect::printable(k)
                ),
                None => format!("no {alg:?} key in the identity provider's JWKS"),
            })),
        }
    }

    fn find(
        keys: &[Key],
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Option<Arc<VerifyKey>>, VerifyError> {
        let usable = |k: &&Key| k.kind.fits(alg) && k.alg.is_none_or(|a| a == alg);
        match kid {
            Some(kid) => Ok(keys
                .iter()
                .filter(usable)
                .find(|k| k.kid.as_deref() == Some(kid))
                .map(|k| k.key.clone())),
            None => {
                let candidates: Vec<&Key> = keys.iter().filter(usable).collect();
                match candidates.len() {
                    0 => Ok(None),
                    1 => Ok(Some(candidates[0].key.clone())),
                    _ => Err(VerifyError::Invalid(
                        "the token has no kid and the identity provider has several keys".into(),
                    )),
                }
            }
        }
    }

    /// Fetch the set again, unless another task did since `seen_attempt`.
    async fn refresh(&self, seen_attempt: Option<i64>) -> Result<(), VerifyError> {
        let _one = self.fetching.lock().await;
        if self.cached.read().attempted_at != seen_attempt {
            return Ok(());
        }
        let now = self.clock.now_millis();
        self.cached.write().attempted_at = Some(now);
        let keys = self.fetch().await?;
        tracing::debug!(uri = %self.uri, keys = keys.len(), "JWKS fetched");
        let mut c = self.cached.write();
        c.keys = keys;
        c.fetched_at = Some(now);
        Ok(())
    }

    async fn fetch(&self) -> Result<Vec<Key>, VerifyError> {
        let http = self
            .http
            .for_url(self.uri.as_str())
            .map_err(|e| VerifyError::Unavailable(format!("HTTP client: {e}")))?;
        let resp = http
            .get(self.uri.clone())
            .timeout(self.timeout)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| VerifyError::Unavailable(format!("JWKS: {}", reqwest_error(&e))))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(VerifyError::Unavailable(format!(
                "the JWKS answered HTTP {status}"
            )));
        }
        let body = read_limited(resp, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| VerifyError::Unavailable(format!("JWKS: {e}")))?;
        let doc: Value = serde_json::from_slice(&body)
            .map_err(|e| VerifyError::Unavailable(format!("the JWKS is not JSON: {e}")))?;
        parse_keys(&doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unusable_keys_are_skipped() {
        let doc = json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "kid": "broken"},
            {"kty": "XYZ", "kid": "odd"},
            {"kty": "RSA", "kid": "ok", "alg": "RS256", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"},
        ]});
        let keys = parse_keys(&doc).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("ok"));
        assert!(
            JwksCache::find(&keys, Some("ok"), Algorithm::RS256)
                .unwrap()
                .is_some()
        );
        // The JWK says RS256: not usable for PS256, and never for HS256.
        assert!(
            JwksCache::find(&keys, Some("ok"), Algorithm::PS256)
                .unwrap()
                .is_none()
        );
        assert!(
            JwksCache::find(&keys, Some("ok"), Algorithm::HS256)
                .unwrap()
                .is_none()
        );
        assert!(
            JwksCache::find(&keys, None, Algorithm::RS256)
                .unwrap()
                .is_some()
        );
        assert!(parse_keys(&json!({"nokeys": []})).is_err());
    }

    /// The shared rule ([`classify`]) at the proxy's call site: `key_ops` without `verify`
    /// and RSA keys outside 2048..=8192 bits are skipped; the same key with `key_ops:
    /// [verify]` is kept.
    #[test]
    fn key_ops_and_rsa_size_follow_the_shared_rule() {
        let fixture = jwk_of(&FIXTURES[0]);
        let with = |k: &str, v: Value| {
            let mut j = fixture.clone();
            j[k] = v;
            j
        };
        let rsa_n = |bits: usize| {
            let mut n = vec![0xffu8; bits / 8];
            n[0] = 0xc1;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n)
        };
        let kept = |member: Value| parse_keys(&json!({ "keys": [member] })).unwrap().len();
        assert_eq!(kept(fixture.clone()), 1);
        assert_eq!(kept(with("key_ops", json!(["verify"]))), 1);
        assert_eq!(kept(with("key_ops", json!(["sign"]))), 0);
        assert_eq!(kept(with("n", json!(rsa_n(1024)))), 0);
        assert_eq!(kept(with("n", json!(rsa_n(8192)))), 1);
        assert_eq!(kept(with("n", json!(rsa_n(8200)))), 0);
        assert_eq!(modulus_bits(&rsa_n(2048)), Some(2048));
        assert_eq!(modulus_bits("AAE"), Some(1));
        assert_eq!(modulus_bits("!!"), None);
    }

    /// The shared rule at the proxy's call site for EC and OKP keys: P-256 and Ed25519 keys
    /// are kept, for their one algorithm; a point off the curve or an Ed25519 key of the wrong
    /// size is skipped.
    #[test]
    fn ec_and_okp_keys_are_parsed_or_skipped() {
        let es = jwk_of(&FIXTURES[1]);
        let ed = jwk_of(&FIXTURES[2]);
        let keys = parse_keys(&json!({ "keys": [es.clone(), ed.clone()] })).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].kind, KeyKind::EcP256);
        assert_eq!(keys[1].kind, KeyKind::Ed25519);
        let es_key = JwksCache::find(&keys, Some("fixture-es256"), Algorithm::ES256)
            .unwrap()
            .expect("ES256 key");
        assert!(es_key.parsed(Algorithm::ES256).is_some());
        assert!(
            JwksCache::find(&keys, Some("fixture-es256"), Algorithm::RS256)
                .unwrap()
                .is_none()
        );
        assert!(
            JwksCache::find(&keys, None, Algorithm::EdDSA)
                .unwrap()
                .is_some()
        );
        let mut off_curve = es.clone();
        off_curve["y"] = json!(es["x"]);
        let mut short_ed = ed.clone();
        short_ed["x"] = json!("AAAA");
        for bad in [off_curve, short_ed] {
            assert!(
                parse_keys(&json!({ "keys": [bad.clone()] }))
                    .unwrap()
                    .is_empty()
            );
            let why = classify(&bad).err().unwrap().to_string();
            assert!(why.contains("not usable"), "{why}");
        }
        // A coordinate missing its leading zero byte names the same point.
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        assert_eq!(
            coordinate("x", &b64.encode([7u8; 31]), 32).unwrap()[..2],
            [0, 7]
        );
        assert!(coordinate("x", &b64.encode([7u8; 33]), 32).is_err());
    }

    /// A fixed key of each kind and a token it signed, made once with openssl, so this
    /// module's tests need no signer of their own: (kid suffix, alg, JWK, token).
    const FIXTURES: [(&str, Algorithm, &str, &str); 3] = [
        (
            "rs256",
            Algorithm::RS256,
            include_str!("testdata/rs256.jwk.json"),
            include_str!("testdata/rs256.jwt"),
        ),
        (
            "es256",
            Algorithm::ES256,
            include_str!("testdata/es256.jwk.json"),
            include_str!("testdata/es256.jwt"),
        ),
        (
            "eddsa",
            Algorithm::EdDSA,
            include_str!("testdata/eddsa.jwk.json"),
            include_str!("testdata/eddsa.jwt"),
        ),
    ];

    fn jwk_of(f: &(&str, Algorithm, &str, &str)) -> Value {
        serde_json::from_str(f.2).unwrap()
    }

    /// The parsed keys and jsonwebtoken agree, for RS256, ES256 and EdDSA ([`FIXTURES`]): a
    /// genuine token passes both, a changed payload or signature fails both.
    #[test]
    fn parsed_keys_verify_like_jsonwebtoken() {
        for f @ (name, alg, _, token) in FIXTURES {
            let jwk = jwk_of(&f);
            let token = token.trim().to_string();
            let keys = parse_keys(&json!({ "keys": [jwk.clone()] })).unwrap();
            let vk = JwksCache::find(&keys, Some(&format!("fixture-{name}")), alg)
                .unwrap()
                .unwrap();
            let parsed = vk.parsed(alg).expect("parsed key");
            assert!(
                vk.parsed(Algorithm::PS256).is_none(),
                "the JWK names {alg:?}"
            );
            let decoding =
                jsonwebtoken::DecodingKey::from_jwk(&serde_json::from_value(jwk).unwrap()).unwrap();
            let mut validation = jsonwebtoken::Validation::new(alg);
            validation.validate_exp = false;
            validation.required_spec_claims.clear();
            let by_jwt = |t: &str| jsonwebtoken::decode::<Value>(t, &decoding, &validation).is_ok();
            let by_parsed = |t: &str| super::super::jwt::verify_with_parsed(t, parsed);
            assert!(by_jwt(&token), "{name}");
            assert_eq!(by_parsed(&token).unwrap()["sub"], "alice", "{name}");
            let parts: Vec<&str> = token.split('.').collect();
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let forged_payload = b64.encode(br#"{"sub":"mallory","exp":4000000000}"#);
            let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
            assert!(!by_jwt(&forged));
            assert!(by_parsed(&forged).is_err(), "{name}");
            let mut sig = b64.decode(parts[2]).unwrap();
            sig[10] ^= 1;
            let bad_sig = format!("{}.{}.{}", parts[0], parts[1], b64.encode(&sig));
            assert!(!by_jwt(&bad_sig));
            assert!(by_parsed(&bad_sig).is_err(), "{name}");
            assert!(by_parsed(&format!("{token}.extra")).is_err());
            assert!(by_parsed("onlyone").is_err());
        }
    }
}
