//! Verifying a JWT issued by the IdP: signature with a key from its JWKS, an algorithm
//! allow-list, issuer, audience, expiry by the injected clock, and required scopes.
//!
//! `alg: none` is never accepted, nor any HMAC algorithm (keys from a JWKS are public: an
//! HS256 token "signed" with an RSA public key must not verify). jsonwebtoken's own time
//! checks are off; `exp` (required) and `nbf` are checked against [`foundations::Clock`].
//!
//! A token that passed every check is remembered by its SHA-256 for `cache_ttl` (never past
//! its `exp`, which is checked again on every use), so a client repeating the same bearer
//! token costs a hash and a map lookup instead of an RSA verification. `cache_ttl: 0s`
//! verifies the signature on every request.

use super::cache::{Keyed, MAX_ENTRIES, TtlCache};
use super::jwks::JwksCache;
use super::{VerifiedToken, VerifyError};
use base64::Engine as _;
use foundations::Clock;
use jsonwebtoken::Algorithm;
use serde_json::Value;
use std::sync::Arc;

/// The longest token accepted.
pub const MAX_JWT_BYTES: usize = 16 * 1024;
/// Tolerated clock skew for `nbf` and `iat` (never for `exp`).
pub const LEEWAY_SECS: i64 = 30;

/// What a JWT must satisfy besides its signature.
#[derive(Debug, Clone, Default)]
pub struct JwtRules {
    /// Expected `iss` (exact). `{tenantid}` in it (Entra ID's multi-tenant issuer) stands for
    /// the token's `tid` claim.
    pub issuer: Option<String>,
    /// Expected `aud` (the token's `aud`, a string or a list, must contain it).
    pub audience: Option<String>,
    /// Allowed algorithms (asymmetric only).
    pub algorithms: Vec<Algorithm>,
    /// Scopes the token must carry.
    pub required_scopes: Vec<String>,
    /// How long a verified token is remembered (zero: never).
    pub cache_ttl: std::time::Duration,
}

/// A JWT verifier over a JWKS.
#[derive(Debug)]
pub struct JwtVerifier {
    jwks: Arc<JwksCache>,
    rules: JwtRules,
    clock: Clock,
    verified: TtlCache<Arc<VerifiedToken>>,
}

fn alg_name(a: Algorithm) -> String {
    format!("{a:?}")
}

fn is_symmetric(a: Algorithm) -> bool {
    matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// Scopes from `scope` (space-separated string or list), else `scp` (list or string).
pub fn scopes_of(claims: &Value) -> Vec<String> {
    let from = |v: &Value| -> Option<Vec<String>> {
        match v {
            Value::String(s) => Some(s.split_ascii_whitespace().map(str::to_string).collect()),
            Value::Array(a) => Some(
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
            ),
            _ => None,
        }
    };
    claims
        .get("scope")
        .and_then(from)
        .or_else(|| claims.get("scp").and_then(from))
        .unwrap_or_default()
}

/// A claim that is a string or a number, as a string.
pub fn string_claim(claims: &Value, name: &str) -> Option<String> {
    match claims.get(name)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first required scope that `have` lacks.
pub fn missing_scope<'a>(required: &'a [String], have: &[String]) -> Option<&'a String> {
    required.iter().find(|r| !have.iter().any(|h| h == *r))
}

/// A token longer than [`MAX_JWT_BYTES`] is refused without being read further.
fn within_length(token: &str) -> Result<(), VerifyError> {
    if token.len() > MAX_JWT_BYTES {
        return Err(VerifyError::Invalid("the token is too long".into()));
    }
    Ok(())
}

impl JwtVerifier {
    /// A verifier with keys from `jwks`.
    pub fn new(jwks: Arc<JwksCache>, rules: JwtRules, clock: Clock) -> Self {
        let mut rules = rules;
        rules.algorithms.retain(|a| !is_symmetric(*a));
        if rules.algorithms.is_empty() {
            rules.algorithms.push(Algorithm::RS256);
        }
        Self {
            jwks,
            rules,
            clock,
            verified: TtlCache::new(MAX_ENTRIES),
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> &JwtRules {
        &self.rules
    }

    /// The key set.
    pub fn jwks(&self) -> &Arc<JwksCache> {
        &self.jwks
    }

    /// Verify `token` completely (or find it verified before, and still unexpired).
    pub async fn verify(&self, token: &str) -> Result<Arc<VerifiedToken>, VerifyError> {
        // Refused before it is hashed.
        within_length(token)?;
        self.verify_keyed(Keyed::new(token)).await
    }

    /// [`JwtVerifier::verify`] of a token whose cache key is known.
    pub async fn verify_keyed(&self, keyed: Keyed<'_>) -> Result<Arc<VerifiedToken>, VerifyError> {
        let token = keyed.token();
        within_length(token)?;
        let caching = !self.rules.cache_ttl.is_zero();
        let now = self.clock.now_unix();
        if caching && let Some(v) = self.verified.get(&keyed, now) {
            return match v.expires_at {
                Some(exp) if exp <= now => Err(VerifyError::Expired),
                _ => Ok(v),
            };
        }
        let v = Arc::new(self.verify_signed(token).await?);
        if caching {
            let until = now.saturating_add(self.rules.cache_ttl.as_secs() as i64);
            let until = v.expires_at.map_or(until, |e| e.min(until));
            self.verified.put(&keyed, v.clone(), until, now);
        }
        Ok(v)
    }

    async fn verify_signed(&self, token: &str) -> Result<VerifiedToken, VerifyError> {
        let raw_header = raw_header(token)?;
        let alg_text = raw_header.get("alg").and_then(Value::as_str).unwrap_or("");
        if alg_text.eq_ignore_ascii_case("none") || alg_text.is_empty() {
            return Err(VerifyError::Invalid(
                "unsigned tokens (alg none) are never accepted".into(),
            ));
        }
        if raw_header.get("crit").is_some() {
            return Err(VerifyError::Invalid(
                "tokens with critical header parameters are not accepted".into(),
            ));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| VerifyError::Invalid(format!("not a usable JWT header: {e}")))?;
        if is_symmetric(header.alg) {
            return Err(VerifyError::Invalid(format!(
                "{} is not accepted: the identity provider's keys are public (RS/HS confusion)",
                alg_name(header.alg)
            )));
        }
        if !self.rules.algorithms.contains(&header.alg) {
            return Err(VerifyError::Invalid(format!(
                "alg {} is not allowed (allowed: {})",
                alg_name(header.alg),
                self.rules
                    .algorithms
                    .iter()
                    .map(|a| alg_name(*a))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let key = self.jwks.key_for(header.kid.as_deref(), header.alg).await?;
        // key_for only answers keys parsed for the algorithm; this cannot fail.
        let parsed = key
            .parsed(header.alg)
            .ok_or_else(|| VerifyError::Invalid(format!("no {} key", alg_name(header.alg))))?;
        self.check_claims(verify_with_parsed(token, parsed)?)
    }

    fn check_claims(&self, claims: Value) -> Result<VerifiedToken, VerifyError> {
        if !claims.is_object() {
            return Err(VerifyError::Invalid(
                "the claims are not a JSON object".into(),
            ));
        }
        let now = self.clock.now_unix();
        if let Some(expected) = &self.rules.issuer {
            let expected = match claims.get("tid").and_then(Value::as_str) {
                Some(tid) if expected.contains("{tenantid}") => expected.replace("{tenantid}", tid),
                _ => expected.clone(),
            };
            let iss = claims.get("iss").and_then(Value::as_str);
            if iss != Some(expected.as_str()) {
                return Err(VerifyError::Invalid(format!(
                    "issuer {:?} is not the expected {expected:?}",
                    iss.map(crate::proxy::redirect::printable)
                        .unwrap_or_default()
                )));
            }
        }
        if let Some(expected) = &self.rules.audience {
            let ok = match claims.get("aud") {
                Some(Value::String(a)) => a == expected,
                Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(expected)),
                _ => false,
            };
            if !ok {
                return Err(VerifyError::Invalid(format!(
                    "the token's audience does not include {expected:?}"
                )));
            }
        }
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(|| VerifyError::Invalid("the token has no numeric exp".into()))?;
        if exp <= now {
            return Err(VerifyError::Expired);
        }
        if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64)
            && nbf > now + LEEWAY_SECS
        {
            return Err(VerifyError::Invalid(
                "the token is not valid yet (nbf)".into(),
            ));
        }
        if let Some(iat) = claims.get("iat").and_then(Value::as_i64)
            && iat > now + LEEWAY_SECS
        {
            return Err(VerifyError::Invalid(
                "the token was issued in the future (iat)".into(),
            ));
        }
        let scopes = scopes_of(&claims);
        if let Some(m) = missing_scope(&self.rules.required_scopes, &scopes) {
            return Err(VerifyError::InsufficientScope(m.clone()));
        }
        Ok(VerifiedToken {
            subject: string_claim(&claims, "sub"),
            client_id: string_claim(&claims, "client_id").or_else(|| string_claim(&claims, "azp")),
            scopes,
            expires_at: Some(exp),
            claims,
        })
    }
}

/// The JOSE header as JSON (to see `alg: none` and `crit`, which jsonwebtoken cannot model).
fn raw_header(token: &str) -> Result<Value, VerifyError> {
    let mut parts = token.split('.');
    let (Some(h), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Invalid(
            "not a JWT (three dot-separated parts)".into(),
        ));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(h.trim_end_matches('='))
        .map_err(|_| VerifyError::Invalid("the JWT header is not base64url".into()))?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|_| VerifyError::Invalid("the JWT header is not JSON".into()))?;
    if !v.is_object() {
        return Err(VerifyError::Invalid(
            "the JWT header is not a JSON object".into(),
        ));
    }
    Ok(v)
}

/// Check a compact JWS's signature with a parsed key (the algorithm was chosen from the header
/// and checked against the allow-list before the key was), then decode its claims.
pub(super) fn verify_with_parsed(
    token: &str,
    key: &aws_lc_rs::signature::ParsedPublicKey,
) -> Result<Value, VerifyError> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (signing_input, signature) = token
        .rsplit_once('.')
        .ok_or_else(|| VerifyError::Invalid("not a JWT (three dot-separated parts)".into()))?;
    let (_, payload) = signing_input
        .split_once('.')
        .filter(|(_, p)| !p.contains('.'))
        .ok_or_else(|| VerifyError::Invalid("not a JWT (three dot-separated parts)".into()))?;
    let signature = b64
        .decode(signature)
        .map_err(|_| VerifyError::Invalid("the JWT signature is not base64url".into()))?;
    key.verify_sig(signing_input.as_bytes(), &signature)
        .map_err(|_| VerifyError::Invalid("signature check failed: InvalidSignature".into()))?;
    let payload = b64
        .decode(payload)
        .map_err(|_| VerifyError::Invalid("the JWT payload is not base64url".into()))?;
    serde_json::from_slice(&payload)
        .map_err(|_| VerifyError::Invalid("the JWT payload is not JSON".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scopes_from_scope_or_scp() {
        assert_eq!(scopes_of(&json!({"scope": "a b"})), ["a", "b"]);
        assert_eq!(scopes_of(&json!({"scope": ["a"]})), ["a"]);
        assert_eq!(scopes_of(&json!({"scp": ["x", "y"]})), ["x", "y"]);
        assert_eq!(scopes_of(&json!({"scp": "x"})), ["x"]);
        assert!(scopes_of(&json!({})).is_empty());
        assert_eq!(
            missing_scope(&["a".into(), "c".into()], &["a".into()]),
            Some(&"c".to_string())
        );
    }

    #[test]
    fn headers_that_are_refused_before_any_key_lookup() {
        let b = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        assert!(raw_header("a.b").is_err());
        assert!(raw_header(&format!("{}.e30.", b(json!({"alg": "none"})))).is_ok());
        assert!(raw_header(&format!("{}.e30.x", b(json!([1])))).is_err());
    }
}
