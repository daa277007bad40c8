//! RFC 7662 token introspection with the configured client authentication.
//!
//! `POST introspection_endpoint` with `token` and `token_type_hint=access_token`; the answer
//! must say `"active": true`. `exp` (if given) is checked against the clock, `scope` gives
//! the scopes. Active answers are cached by token hash for `cache_ttl`, never past `exp`.

use super::cache::{Keyed, TtlCache};
use super::jwt::{missing_scope, scopes_of, string_claim};
use super::{VerifiedToken, VerifyError};
use crate::oauth::client_auth::{ClientAuthMethod, basic_header};
use crate::proxy::config::UpstreamConfig;
use crate::proxy::outbound::{MAX_RESPONSE_BYTES, SchemeClients, read_limited, reqwest_error};
use foundations::Clock;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// An introspection-backed verifier.
pub struct IntrospectionVerifier {
    endpoint: url::Url,
    http: Arc<SchemeClients>,
    timeout: Duration,
    ttl: Duration,
    client_id: String,
    secret: Option<String>,
    method: ClientAuthMethod,
    audience: Option<String>,
    required_scopes: Vec<String>,
    cache: TtlCache<Arc<VerifiedToken>>,
    clock: Clock,
}

impl std::fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionVerifier")
            .field("endpoint", &self.endpoint.as_str())
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl IntrospectionVerifier {
    /// A verifier asking `endpoint` as the configured upstream client.
    pub fn new(
        endpoint: url::Url,
        http: Arc<SchemeClients>,
        cfg: &UpstreamConfig,
        audience: Option<String>,
        clock: Clock,
    ) -> Self {
        Self {
            endpoint,
            http,
            timeout: cfg.timeout.get(),
            ttl: cfg.verifier.cache_ttl.get(),
            client_id: cfg.client_id.clone(),
            secret: cfg.client_secret.as_ref().map(|s| s.expose().to_string()),
            method: cfg.auth_method(),
            audience,
            required_scopes: cfg.verifier.required_scopes.clone(),
            cache: TtlCache::new(super::cache::MAX_ENTRIES),
            clock,
        }
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
                let until = now.saturating_add(self.ttl.as_secs() as i64);
                let until = v.expires_at.map_or(until, |e| e.min(until));
                self.cache.put(&keyed, v.clone(), until, now);
                v
            }
        };
        if found.expires_at.is_some_and(|e| e <= now) {
            return Err(VerifyError::Expired);
        }
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
        let mut form = vec![
            ("token".to_string(), token.to_string()),
            ("token_type_hint".to_string(), "access_token".to_string()),
        ];
        let mut req = http
            .post(self.endpoint.clone())
            .timeout(self.timeout)
            .header(reqwest::header::ACCEPT, "application/json");
        let secret = self.secret.as_deref().unwrap_or("");
        match self.method {
            ClientAuthMethod::ClientSecretBasic => {
                req = req.header(
                    reqwest::header::AUTHORIZATION,
                    basic_header(&self.client_id, secret),
                );
            }
            ClientAuthMethod::ClientSecretPost => {
                form.push(("client_id".into(), self.client_id.clone()));
                form.push(("client_secret".into(), secret.to_string()));
            }
            ClientAuthMethod::None => {
                if !self.client_id.is_empty() {
                    form.push(("client_id".into(), self.client_id.clone()));
                }
            }
        }
        let resp = req.form(&form).send().await.map_err(|e| {
            VerifyError::Unavailable(format!("introspection: {}", reqwest_error(&e)))
        })?;
        let status = resp.status().as_u16();
        if status == 429 || status >= 500 {
            return Err(VerifyError::Unavailable(format!(
                "introspection answered HTTP {status}"
            )));
        }
        if status != 200 {
            // 401: the proxy's own credentials were refused; not the token's fault, but no
            // answer either.
            return Err(VerifyError::Unavailable(format!(
                "introspection answered HTTP {status} (check the upstream client credentials)"
            )));
        }
        let body = read_limited(resp, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| VerifyError::Unavailable(format!("introspection: {e}")))?;
        let v: Value = serde_json::from_slice(&body)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| {
                VerifyError::Unavailable("introspection did not answer a JSON object".into())
            })?;
        if v.get("active").and_then(Value::as_bool) != Some(true) {
            return Err(VerifyError::Invalid(
                "the identity provider says the token is not active".into(),
            ));
        }
        if let Some(expected) = &self.audience {
            let ok = match v.get("aud") {
                Some(Value::String(a)) => a == expected,
                Some(Value::Array(l)) => l.iter().any(|a| a.as_str() == Some(expected)),
                _ => false,
            };
            if !ok {
                return Err(VerifyError::Invalid(format!(
                    "the token's audience does not include {expected:?}"
                )));
            }
        }
        Ok(VerifiedToken {
            subject: string_claim(&v, "sub"),
            client_id: string_claim(&v, "client_id"),
            scopes: scopes_of(&v),
            expires_at: v.get("exp").and_then(Value::as_i64),
            claims: v,
        })
    }
}
