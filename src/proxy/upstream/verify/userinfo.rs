//! Verifying an (often opaque) upstream access token by asking the IdP's userinfo endpoint.
//!
//! `GET userinfo` with `Authorization: Bearer <token>`: 200 with a JSON object means the
//! token is live. The subject is `sub` (GitHub: `id`, else `login`); the scopes are what the
//! IdP says (`scope` or `scopes` in the body, GitHub's `X-OAuth-Scopes` header), never taken
//! from the configuration, so `required_scopes` are really enforced. Answers are cached by
//! the token's SHA-256 for `cache_ttl`; refusals are not cached.

use super::cache::{Keyed, TtlCache};
use super::jwt::{missing_scope, string_claim};
use super::{VerifiedToken, VerifyError};
use crate::proxy::outbound::{MAX_RESPONSE_BYTES, SchemeClients, read_limited, reqwest_error};
use foundations::Clock;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// A userinfo-backed verifier.
pub struct UserinfoVerifier {
    endpoint: url::Url,
    http: Arc<SchemeClients>,
    timeout: Duration,
    ttl: Duration,
    required_scopes: Vec<String>,
    cache: TtlCache<Arc<VerifiedToken>>,
    clock: Clock,
}

impl std::fmt::Debug for UserinfoVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserinfoVerifier")
            .field("endpoint", &self.endpoint.as_str())
            .field("cached", &self.cache.len())
            .finish()
    }
}

/// Scopes as the IdP states them: body `scope`/`scopes` (space- or comma-separated string, or
/// a list), else the `X-OAuth-Scopes` header (GitHub).
pub fn stated_scopes(body: &Value, header: Option<&str>) -> Vec<String> {
    let split = |s: &str| -> Vec<String> {
        s.split([' ', ','])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    for key in ["scope", "scopes"] {
        match body.get(key) {
            Some(Value::String(s)) => return split(s),
            Some(Value::Array(a)) => {
                return a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect();
            }
            _ => {}
        }
    }
    header.map(split).unwrap_or_default()
}

impl UserinfoVerifier {
    /// A verifier asking `endpoint`; answers are reused for `ttl` (zero: never).
    pub fn new(
        endpoint: url::Url,
        http: Arc<SchemeClients>,
        timeout: Duration,
        ttl: Duration,
        required_scopes: Vec<String>,
        clock: Clock,
    ) -> Self {
        Self {
            endpoint,
            http,
            timeout,
            ttl,
            required_scopes,
            cache: TtlCache::new(super::cache::MAX_ENTRIES),
            clock,
        }
    }

    /// How many answers are cached.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Verify `token` (cached answers first).
    pub async fn verify(&self, token: &str) -> Result<Arc<VerifiedToken>, VerifyError> {
        self.verify_keyed(Keyed::new(token)).await
    }

    /// [`Self::verify`] of a token whose cache key is known.
    pub async fn verify_keyed(&self, keyed: Keyed<'_>) -> Result<Arc<VerifiedToken>, VerifyError> {
        let token = keyed.token();
        let now = self.clock.now_unix();
        let found = match self.cache.get(&keyed, now) {
            Some(v) => v,
            None => {
                let v = Arc::new(self.ask(token).await?);
                self.cache.put(
                    &keyed,
                    v.clone(),
                    now.saturating_add(self.ttl.as_secs() as i64),
                    now,
                );
                v
            }
        };
        if let Some(m) = missing_scope(&self.required_scopes, &found.scopes) {
            return Err(VerifyError::InsufficientScope(m.clone()));
        }
        Ok(found)
    }

    async fn ask(&self, token: &str) -> Result<VerifiedToken, VerifyError> {
        let http = self
            .http
            .for_url(self.endpoint.as_str())
            .map_err(|e| VerifyError::Unavailable(format!("HTTP client: {e}")))?;
        let resp = http
            .get(self.endpoint.clone())
            .timeout(self.timeout)
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| VerifyError::Unavailable(format!("userinfo: {}", reqwest_error(&e))))?;
        let status = resp.status().as_u16();
        match status {
            200 => {}
            401 | 403 => {
                return Err(VerifyError::Invalid(format!(
                    "the identity provider does not accept the token (userinfo answered {status})"
                )));
            }
            429 | 500..=599 => {
                return Err(VerifyError::Unavailable(format!(
                    "userinfo answered HTTP {status}"
                )));
            }
            _ => {
                return Err(VerifyError::Invalid(format!(
                    "userinfo answered HTTP {status}"
                )));
            }
        }
        let header = resp
            .headers()
            .get("x-oauth-scopes")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = read_limited(resp, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| VerifyError::Unavailable(format!("userinfo: {e}")))?;
        let v: Value = serde_json::from_slice(&body)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| {
                VerifyError::Unavailable("userinfo did not answer a JSON object".into())
            })?;
        let subject = string_claim(&v, "sub")
            .or_else(|| string_claim(&v, "id"))
            .or_else(|| string_claim(&v, "login"));
        if subject.is_none() {
            return Err(VerifyError::Invalid(
                "userinfo names no subject (sub, id or login)".into(),
            ));
        }
        let mut claims = serde_json::Map::new();
        for k in [
            "sub",
            "id",
            "login",
            "email",
            "email_verified",
            "name",
            "given_name",
            "family_name",
        ] {
            if let Some(x) = v.get(k).filter(|x| !x.is_null()) {
                claims.insert(k.to_string(), x.clone());
            }
        }
        Ok(VerifiedToken {
            subject,
            client_id: None,
            scopes: stated_scopes(&v, header.as_deref()),
            expires_at: None,
            claims: Value::Object(claims),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scopes_come_from_what_the_idp_says() {
        assert_eq!(stated_scopes(&json!({"scope": "a b"}), None), ["a", "b"]);
        assert_eq!(stated_scopes(&json!({"scopes": ["a"]}), Some("x")), ["a"]);
        assert_eq!(
            stated_scopes(&json!({}), Some("read:user, user:email")),
            ["read:user", "user:email"]
        );
        assert!(stated_scopes(&json!({}), None).is_empty());
    }
}
