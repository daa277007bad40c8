//! The IdP's JSON Web Key Set, fetched on first use and cached.
//!
//! Keys are refetched when the set is older than [`MAX_AGE`], and when a token names a `kid`
//! the cached set does not have (key rotation), at most once per [`MIN_REFRESH_INTERVAL`] so
//! that tokens with made-up `kid`s cannot make the proxy hammer the IdP. One fetch at a time;
//! a failed refetch keeps the keys already known. Which members can verify anything is decided
//! by [`classify`], the one rule shared with `authproof validate` (which reports why a key
//! was skipped where this cache skips it silently).
//!
//! RSA keys are also kept parsed by aws-lc-rs (one [`ParsedPublicKey`] per algorithm the key
//! fits): jsonwebtoken rebuilds the RSA key from its modulus and exponent on every
//! verification, which cost about 40% of an RS256 check here.

use super::VerifyError;
use crate::proxy::outbound::{MAX_RESPONSE_BYTES, SchemeClients, read_limited, reqwest_error};
use aws_lc_rs::signature::{self as lc, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine as _;
use foundations::Clock;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
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

/// A verification key: jsonwebtoken's, plus pre-parsed aws-lc-rs keys for RSA algorithms.
pub struct VerifyKey {
    /// The key for `jsonwebtoken::decode`.
    pub decoding: DecodingKey,
    /// RSA only: the key parsed once per algorithm it may verify.
    rsa: Vec<(Algorithm, ParsedPublicKey)>,
}

impl VerifyKey {
    /// The pre-parsed key for `alg`, when there is one.
    pub fn parsed(&self, alg: Algorithm) -> Option<&ParsedPublicKey> {
        self.rsa.iter().find(|(a, _)| *a == alg).map(|(_, k)| k)
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

/// Parse an RSA JWK's key for each algorithm in `algs` (those it cannot serve are left out).
fn parse_rsa(n: &str, e: &str, algs: &[Algorithm]) -> Vec<(Algorithm, ParsedPublicKey)> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (Ok(n), Ok(e)) = (b64.decode(n), b64.decode(e)) else {
        return Vec::new();
    };
    let components = RsaPublicKeyComponents {
        n: &n[..],
        e: &e[..],
    };
    algs.iter()
        .filter_map(|a| {
            let params = rsa_params(*a)?;
            components
                .to_parsed_public_key(params)
                .ok()
                .map(|k| (*a, k))
        })
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
    /// Whether a key of this kind can verify `alg`.
    pub fn fits(self, alg: Algorithm) -> bool {
        use Algorithm as A;
        match self {
            KeyKind::Rsa => matches!(
                alg,
                A::RS256 | A::RS384 | A::RS512 | A::PS256 | A::PS384 | A::PS512
            ),
            KeyKind::EcP256 => alg == A::ES256,
            KeyKind::EcP384 => alg == A::ES384,
            KeyKind::Ed25519 => alg == A::EdDSA,
        }
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
    jwk: Jwk,
    decoding: DecodingKey,
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
/// Ed25519; an `alg`, when present, that fits the key; and a key jsonwebtoken can build.
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
    let decoding = DecodingKey::from_jwk(&jwk)
        .map_err(|e| other(format!("jsonwebtoken cannot use it ({e})")))?;
    Ok(Classified {
        kid: jwk.common.key_id.clone(),
        kind,
        alg,
        description,
        jwk,
        decoding,
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
    let mut out = Vec::new();
    for member in list {
        let Ok(Classified {
            kid,
            kind,
            alg,
            jwk,
            decoding,
            ..
        }) = classify(member)
        else {
            continue;
        };
        let rsa = match &jwk.algorithm {
            AlgorithmParameters::RSA(p) => {
                const ALL: [Algorithm; 6] = [
                    Algorithm::RS256,
                    Algorithm::RS384,
                    Algorithm::RS512,
                    Algorithm::PS256,
                    Algorithm::PS384,
                    Algorithm::PS512,
                ];
                let algs: Vec<Algorithm> = match alg {
                    Some(a) => vec![a],
                    None => ALL.to_vec(),
                };
                parse_rsa(&p.n, &p.e, &algs)
            }
            _ => Vec::new(),
        };
        out.push(Key {
            kid,
            alg,
            kind,
            key: Arc::new(VerifyKey { decoding, rsa }),
        });
    }
    Ok(out)
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
        let fixture: Value = serde_json::from_str(include_str!("testdata/rs256.jwk.json")).unwrap();
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

    /// The pre-parsed RSA key and jsonwebtoken agree: a genuine token passes both, a changed
    /// payload or signature fails both.
    #[test]
    fn parsed_rsa_keys_verify_like_jsonwebtoken() {
        // A fixed RSA key (testdata/rs256.jwk.json) and a token it signed (rs256.jwt), made
        // once with openssl, so this module's tests need no signer of their own.
        let jwk: Value = serde_json::from_str(include_str!("testdata/rs256.jwk.json")).unwrap();
        let token = include_str!("testdata/rs256.jwt").trim().to_string();
        let keys = parse_keys(&json!({ "keys": [jwk] })).unwrap();
        let vk = JwksCache::find(&keys, Some("fixture-rs256"), Algorithm::RS256)
            .unwrap()
            .unwrap();
        let parsed = vk.parsed(Algorithm::RS256).expect("RS256 key parsed");
        assert!(vk.parsed(Algorithm::PS256).is_none(), "the JWK names RS256");
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let by_jwt = |t: &str| jsonwebtoken::decode::<Value>(t, &vk.decoding, &validation).is_ok();
        let by_parsed = |t: &str| super::super::jwt::verify_with_parsed(t, parsed);
        assert!(by_jwt(&token));
        assert_eq!(by_parsed(&token).unwrap()["sub"], "alice");
        let parts: Vec<&str> = token.split('.').collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let forged_payload = b64.encode(br#"{"sub":"mallory","exp":4000000000}"#);
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert!(!by_jwt(&forged));
        assert!(by_parsed(&forged).is_err());
        let mut sig = b64.decode(parts[2]).unwrap();
        sig[10] ^= 1;
        let bad_sig = format!("{}.{}.{}", parts[0], parts[1], b64.encode(&sig));
        assert!(!by_jwt(&bad_sig));
        assert!(by_parsed(&bad_sig).is_err());
        assert!(by_parsed(&format!("{token}.extra")).is_err());
        assert!(by_parsed("onlyone").is_err());
    }
}
