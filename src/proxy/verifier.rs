//! The bearer verifier for the proxy's own access tokens, used by the resource guard.
//!
//! A token is accepted when it is a proxy JWT (signature, issuer, audience = the resource,
//! not expired by the clock), its `token_use` is `access`, its jti still maps to a grant, and
//! that grant's upstream access token has not expired. Refresh tokens, upstream tokens and
//! revoked tokens are refused.

use crate::proxy::resource::{BearerError, BearerVerifier, Principal};
use crate::proxy::state::ProxyState;
use crate::proxy::tokens::{TokenError, TokenUse};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Verifies the proxy's access tokens.
#[derive(Clone)]
pub struct ProxyVerifier {
    state: Arc<ProxyState>,
}

impl ProxyVerifier {
    /// A verifier over the proxy's state.
    pub fn new(state: Arc<ProxyState>) -> Self {
        Self { state }
    }

    /// Verify a token (the async body of [`BearerVerifier::verify`]).
    pub async fn check(&self, token: &str) -> Result<Principal, BearerError> {
        let st = &self.state;
        let claims = st
            .tokens
            .verify(token, TokenUse::Access)
            .map_err(|e| match e {
                TokenError::Expired => BearerError::Expired,
                TokenError::WrongUse { .. } => {
                    BearerError::Invalid("refresh tokens are not accepted as bearer tokens".into())
                }
                TokenError::Invalid(m) => BearerError::Invalid(m),
            })?;
        let unavailable =
            |e: crate::proxy::store::StoreError| BearerError::Unavailable(e.to_string());
        let mapping = st
            .records
            .get_token(&claims.jti)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| BearerError::Invalid("the token was revoked".into()))?;
        let grant = st
            .records
            .get_grant(&mapping.grant_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| BearerError::Invalid("the authorization was revoked".into()))?;
        if grant.upstream.expires_at.is_some_and(|exp| exp <= st.now()) {
            // The upstream session behind the token is over: the client should refresh.
            return Err(BearerError::Expired);
        }
        let scopes = claims.scopes();
        Ok(Principal {
            subject: claims.sub.clone(),
            client_id: Some(claims.client_id.clone()),
            scopes,
            claims: serde_json::to_value(&claims).unwrap_or_default(),
        })
    }
}

impl BearerVerifier for ProxyVerifier {
    fn verify<'a>(
        &'a self,
        token: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Principal, BearerError>> + Send + 'a>> {
        Box::pin(self.check(token))
    }
}
