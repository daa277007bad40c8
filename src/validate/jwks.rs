//! Is a JWKS usable for verifying the IdP's tokens? Pure: it judges a fetched document.
//!
//! Which keys can verify at all is the proxy's own rule ([`classify`], shared with its JWKS
//! cache, which skips the same keys silently); this module says why each other key was
//! skipped, and also drops the usable keys that fit none of the configured algorithms.

use super::catalogue::entry;
use super::finding::Finding;
use super::report::NOTHING_TO_DO;
use crate::proxy::config::JwtAlgorithm;
use crate::proxy::upstream::verify::jwks::{Unusable, classify};
use serde_json::Value;

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
        match judge(raw, algorithms) {
            Ok(description) => a.usable.push(UsableKey { kid, description }),
            Err(Unusable::Symmetric) => {
                a.symmetric.push(label.clone());
                a.skipped.push((label, Unusable::Symmetric.to_string()));
            }
            Err(reason) => a.skipped.push((label, reason.to_string())),
        }
    }
    Ok(a)
}

/// The shared rule, then the configured algorithms: a key whose `alg` is not configured, or
/// (without `alg`) whose type fits no configured algorithm, will never verify a token.
fn judge(raw: &Value, algorithms: &[JwtAlgorithm]) -> Result<String, Unusable> {
    let key = classify(raw)?;
    let fits: Vec<JwtAlgorithm> = algorithms
        .iter()
        .copied()
        .filter(|a| key.kind.fits(a.to_jsonwebtoken()))
        .filter(|a| key.alg.is_none_or(|k| k == a.to_jsonwebtoken()))
        .collect();
    if fits.is_empty() {
        return Err(Unusable::Other(match key.alg {
            Some(alg) => format!(
                "alg {alg:?} is not among the verifier's algorithms ({})",
                names(algorithms)
            ),
            None => format!(
                "a {} key fits none of the verifier's algorithms ({})",
                key.description,
                names(algorithms)
            ),
        }));
    }
    Ok(format!("{}, {}", key.description, names(&fits)))
}

fn names(algs: &[JwtAlgorithm]) -> String {
    algs.iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ")
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
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n)
    }

    #[test]
    fn keys_are_judged() {
        let doc = json!({ "keys": [
            { "kty": "RSA", "kid": "good", "use": "sig", "alg": "RS256", "n": rsa_n(2048), "e": "AQAB" },
            { "kty": "RSA", "kid": "small", "alg": "RS256", "n": rsa_n(1024), "e": "AQAB" },
            { "kty": "RSA", "kid": "enc", "use": "enc", "n": rsa_n(2048), "e": "AQAB" },
            { "kty": "RSA", "kid": "ps", "alg": "PS256", "n": rsa_n(2048), "e": "AQAB" },
            { "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" },
            { "kty": "XYZ", "kid": "odd" },
            { "kty": "RSA", "kid": "signer", "key_ops": ["sign"], "n": rsa_n(2048), "e": "AQAB" },
            { "kty": "RSA", "kid": "huge", "n": rsa_n(8200), "e": "AQAB" }
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
        // The proxy's own rule (shared with its JWKS cache): key_ops and RSA size.
        assert!(reasons.iter().any(|r| r.contains("key_ops")), "{reasons:?}");
        assert!(
            reasons.iter().any(|r| r.contains("8200 bits")),
            "{reasons:?}"
        );
        let ids: Vec<String> = findings("u", &doc, &[JwtAlgorithm::Rs256], true)
            .into_iter()
            .map(|f| f.id().to_string())
            .collect();
        assert!(ids.contains(&"live.jwks_symmetric_key".to_string()));
        assert!(ids.contains(&"live.jwks_ok".to_string()));
    }

    /// EC P-256 and OKP Ed25519 keys are usable (the shared rule), for the algorithms that fit
    /// them; with RS256 alone configured they are skipped with the reason; a point off the
    /// curve is unusable whatever the algorithms.
    #[test]
    fn ec_and_okp_keys_are_judged_by_the_shared_rule() {
        let es: Value = serde_json::from_str(include_str!(
            "../proxy/upstream/verify/testdata/es256.jwk.json"
        ))
        .unwrap();
        let ed: Value = serde_json::from_str(include_str!(
            "../proxy/upstream/verify/testdata/eddsa.jwk.json"
        ))
        .unwrap();
        let doc = json!({ "keys": [es.clone(), ed.clone()] });
        let a = analyze(&doc, &[JwtAlgorithm::Es256, JwtAlgorithm::EdDsa]).unwrap();
        let usable: Vec<&str> = a.usable.iter().map(|k| k.description.as_str()).collect();
        assert_eq!(usable, ["EC P-256, ES256", "OKP Ed25519, EdDSA"], "{a:?}");
        assert!(a.skipped.is_empty(), "{a:?}");
        let ids: Vec<String> = findings("u", &doc, &[JwtAlgorithm::Es256], true)
            .into_iter()
            .map(|f| f.id().to_string())
            .collect();
        assert!(ids.contains(&"live.jwks_ok".to_string()), "{ids:?}");
        assert!(
            ids.contains(&"live.jwks_keys_skipped".to_string()),
            "{ids:?}"
        );

        let a = analyze(&doc, &[JwtAlgorithm::Rs256]).unwrap();
        assert!(a.usable.is_empty(), "{a:?}");
        assert!(
            a.skipped.iter().all(|(_, why)| why.contains("alg")),
            "{a:?}"
        );

        let mut off_curve = es.clone();
        off_curve["y"] = es["x"].clone();
        let a = analyze(&json!({ "keys": [off_curve] }), &[JwtAlgorithm::Es256]).unwrap();
        assert!(a.usable.is_empty(), "{a:?}");
        assert!(a.skipped[0].1.contains("not usable"), "{a:?}");
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
