//! Is a JWKS usable for verifying the IdP's tokens? Pure: it judges a fetched document.
//!
//! A key counts as usable when it parses as a JWK, is meant for signatures (`use` absent or
//! `sig`, `key_ops` absent or with `verify`), is asymmetric, fits one of the configured
//! algorithms (its `alg`, or its key type when `alg` is absent), is big enough (RSA: 2048
//! bits, which is also the least the aws-lc backend verifies), and jsonwebtoken can build a
//! decoding key from it. Everything else is reported with the reason it was skipped. The
//! rules follow the proxy's own JWKS cache ([`crate::proxy::upstream::verify`]), which skips
//! the same keys silently; this module says why.

use super::catalogue::entry;
use super::finding::Finding;
use super::report::NOTHING_TO_DO;
use crate::proxy::config::JwtAlgorithm;
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use serde_json::Value;

/// The smallest RSA modulus accepted.
pub const MIN_RSA_BITS: usize = 2048;

/// One usable key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsableKey {
    /// `kid`, if any.
    pub kid: Option<String>,
    /// e.g. `RSA 2048-bit, RS256`.
    pub description: String,
}

/// What a JWKS holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Keys the verifier can use.
    pub usable: Vec<UsableKey>,
    /// `(key label, reason)` for every other key.
    pub skipped: Vec<(String, String)>,
    /// Symmetric keys published in the set (a leaked secret).
    pub symmetric: Vec<String>,
}

/// Judge a JWKS document against the configured algorithms.
pub fn analyze(doc: &Value, algorithms: &[JwtAlgorithm]) -> Result<Analysis, String> {
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the document has no \"keys\" array")?;
    let mut a = Analysis::default();
    for (i, raw) in keys.iter().enumerate() {
        let kid = raw.get("kid").and_then(Value::as_str).map(str::to_string);
        let label = kid
            .as_ref()
            .map(|k| format!("kid {k:?}"))
            .unwrap_or_else(|| format!("key #{i}"));
        if raw.get("kty").and_then(Value::as_str) == Some("oct") {
            a.symmetric.push(label.clone());
            a.skipped.push((
                label,
                "a symmetric (oct) key, never used for verification".into(),
            ));
            continue;
        }
        match judge(raw, algorithms) {
            Ok(description) => a.usable.push(UsableKey { kid, description }),
            Err(reason) => a.skipped.push((label, reason)),
        }
    }
    Ok(a)
}

fn judge(raw: &Value, algorithms: &[JwtAlgorithm]) -> Result<String, String> {
    let jwk: Jwk =
        serde_json::from_value(raw.clone()).map_err(|e| format!("not a valid JWK ({e})"))?;
    match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => {}
        Some(PublicKeyUse::Encryption) => return Err("use is enc (an encryption key)".into()),
        Some(PublicKeyUse::Other(u)) => return Err(format!("use is {u:?}, not sig")),
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return Err("key_ops does not include verify".into());
    }
    let (family, size) = match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => {
            let bits = modulus_bits(&p.n).ok_or("the RSA modulus n is not base64url")?;
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "an RSA key of {bits} bits (at least {MIN_RSA_BITS} are needed)"
                ));
            }
            ("RSA", format!("RSA {bits}-bit"))
        }
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => ("ES256", "EC P-256".to_string()),
            EllipticCurve::P384 => ("ES384", "EC P-384".to_string()),
            ref other => return Err(format!("EC curve {other:?} is not supported")),
        },
        AlgorithmParameters::OctetKeyPair(p) => match p.curve {
            EllipticCurve::Ed25519 => ("EdDSA", "OKP Ed25519".to_string()),
            ref other => return Err(format!("OKP curve {other:?} is not supported")),
        },
        AlgorithmParameters::OctetKey(_) => {
            return Err("a symmetric (oct) key, never used for verification".into());
        }
        _ => {
            return Err(format!(
                "key type {} is not supported",
                raw.get("kty").and_then(Value::as_str).unwrap_or("(none)")
            ));
        }
    };
    // RSA keys serve RS* and PS*; an EC or OKP key serves exactly one algorithm.
    let fits = |a: &JwtAlgorithm| match family {
        "RSA" => a.as_str().starts_with("RS") || a.as_str().starts_with("PS"),
        one => a.as_str() == one,
    };
    let alg = match raw.get("alg").and_then(Value::as_str) {
        Some(alg) => {
            if !algorithms.iter().any(|a| a.as_str() == alg && fits(a)) {
                return Err(format!(
                    "alg {alg} is not among the verifier's algorithms ({}) or does not fit the key",
                    names(algorithms)
                ));
            }
            alg.to_string()
        }
        None => {
            let ok: Vec<JwtAlgorithm> = algorithms.iter().copied().filter(fits).collect();
            if ok.is_empty() {
                return Err(format!(
                    "a {size} key fits none of the verifier's algorithms ({})",
                    names(algorithms)
                ));
            }
            names(&ok)
        }
    };
    jsonwebtoken::DecodingKey::from_jwk(&jwk)
        .map_err(|e| format!("jsonwebtoken cannot use it ({e})"))?;
    Ok(format!("{size}, {alg}"))
}

fn names(algs: &[JwtAlgorithm]) -> String {
    algs.iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Bits of a base64url big-endian modulus (leading zero bytes ignored).
fn modulus_bits(n: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(n.trim_end_matches('='))
        .ok()?;
    let first = bytes.iter().position(|b| *b != 0)?;
    Some((bytes.len() - first) * 8 - bytes[first].leading_zeros() as usize)
}

/// Findings for a fetched JWKS at `uri`. `needed`: the verifier depends on it (then an
/// unusable set is an error, otherwise a warning).
pub fn findings(uri: &str, doc: &Value, algorithms: &[JwtAlgorithm], needed: bool) -> Vec<Finding> {
    let a = match analyze(doc, algorithms) {
        Ok(a) => a,
        Err(e) => {
            return vec![Finding::new(
                entry!("live.jwks_invalid"),
                format!("the JWKS at {uri} is not a JWK set: {e}"),
                "Point upstream.jwks_uri (or the discovery document's jwks_uri) at the IdP's JWKS",
            )
            .otherwise_if(!needed)
            .key("upstream.jwks_uri")];
        }
    };
    let mut f = Vec::new();
    for s in &a.symmetric {
        f.push(
            Finding::new(
                entry!("live.jwks_symmetric_key"),
                format!("the JWKS at {uri} publishes a symmetric key ({s}): anyone can read it and sign tokens with it"),
                "Remove the oct key from the IdP's published JWKS and rotate it; only public keys belong there",
            )
            .key("upstream.jwks_uri"),
        );
    }
    let skipped = a
        .skipped
        .iter()
        .map(|(k, why)| format!("{k}: {why}"))
        .collect::<Vec<_>>()
        .join("; ");
    if a.usable.is_empty() {
        f.push(
            Finding::new(
                entry!("live.jwks_no_usable_keys"),
                format!(
                    "the JWKS at {uri} has no key the verifier can use{}",
                    if skipped.is_empty() {
                        " (it is empty)".to_string()
                    } else {
                        format!(" ({skipped})")
                    }
                ),
                format!(
                    "Check upstream.verifier.algorithms (now {}) against the IdP's signing keys, and the JWKS URL",
                    names(algorithms)
                ),
            )
            .otherwise_if(!needed)
            .key("upstream.jwks_uri"),
        );
        return f;
    }
    if !skipped.is_empty() {
        f.push(
            Finding::new(
                entry!("live.jwks_keys_skipped"),
                format!(
                    "some keys of the JWKS at {uri} are not usable for verification: {skipped}"
                ),
                "Nothing to do if the IdP signs with one of the usable keys",
            )
            .key("upstream.jwks_uri"),
        );
    }
    if a.usable.len() > 1 && a.usable.iter().any(|k| k.kid.is_none()) {
        f.push(
            Finding::new(
                entry!("live.jwks_kid_missing"),
                format!("the JWKS at {uri} has several usable keys, not all with a kid: tokens cannot say which key signed them"),
                "Have the IdP publish a kid for every key",
            )
            .key("upstream.jwks_uri"),
        );
    }
    f.push(
        Finding::new(
            entry!("live.jwks_ok"),
            format!(
                "the JWKS at {uri} has {} usable signing key(s): {}",
                a.usable.len(),
                a.usable
                    .iter()
                    .map(|k| match &k.kid {
                        Some(kid) => format!("{kid} ({})", k.description),
                        None => k.description.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            NOTHING_TO_DO,
        )
        .key("upstream.jwks_uri"),
    );
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Severity;
    use serde_json::json;

    fn rsa_n(bits: usize) -> String {
        let mut n = vec![0xffu8; bits / 8];
        n[0] = 0xc1;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n)
    }

    #[test]
    fn modulus_size() {
        assert_eq!(modulus_bits(&rsa_n(2048)), Some(2048));
        assert_eq!(modulus_bits("AAE"), Some(1)); // 0x00 0x01
        assert_eq!(modulus_bits("!!"), None);
    }

    #[test]
    fn keys_are_judged() {
        let doc = json!({ "keys": [
            { "kty": "RSA", "kid": "good", "use": "sig", "alg": "RS256", "n": rsa_n(2048), "e": "AQAB" },
            { "kty": "RSA", "kid": "small", "alg": "RS256", "n": rsa_n(1024), "e": "AQAB" },
            { "kty": "RSA", "kid": "enc", "use": "enc", "n": rsa_n(2048), "e": "AQAB" },
            { "kty": "RSA", "kid": "ps", "alg": "PS256", "n": rsa_n(2048), "e": "AQAB" },
            { "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" },
            { "kty": "XYZ", "kid": "odd" }
        ]});
        let a = analyze(&doc, &[JwtAlgorithm::Rs256]).unwrap();
        assert_eq!(a.usable.len(), 1, "{a:?}");
        assert_eq!(a.usable[0].kid.as_deref(), Some("good"));
        assert_eq!(a.symmetric, ["kid \"hmac\""]);
        let reasons: Vec<&str> = a.skipped.iter().map(|(_, r)| r.as_str()).collect();
        assert!(
            reasons.iter().any(|r| r.contains("1024 bits")),
            "{reasons:?}"
        );
        assert!(reasons.iter().any(|r| r.contains("enc")), "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("PS256")), "{reasons:?}");
        let ids: Vec<String> = findings("u", &doc, &[JwtAlgorithm::Rs256], true)
            .into_iter()
            .map(|f| f.id().to_string())
            .collect();
        assert!(ids.contains(&"live.jwks_symmetric_key".to_string()));
        assert!(ids.contains(&"live.jwks_ok".to_string()));
    }

    #[test]
    fn empty_or_wrong_documents() {
        let f = findings("u", &json!({ "keys": [] }), &[JwtAlgorithm::Rs256], true);
        assert_eq!(f[0].id(), "live.jwks_no_usable_keys");
        assert_eq!(f[0].severity(), Severity::Error);
        let f = findings("u", &json!([1]), &[JwtAlgorithm::Rs256], false);
        assert_eq!(f[0].id(), "live.jwks_invalid");
        assert_eq!(f[0].severity(), Severity::Warning);
    }
}
