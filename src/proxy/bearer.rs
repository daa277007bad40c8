//! The contract between the guard on the MCP path and whatever checks its bearer tokens:
//! the proxy's own tokens ([`crate::proxy::guard`]), or an IdP's tokens presented directly
//! (the remote-auth providers).

use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Who a verified bearer token speaks for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Principal {
    /// The end user (`sub`).
    pub subject: String,
    /// The OAuth client the token was issued to.
    pub client_id: Option<String>,
    /// The token's scopes.
    pub scopes: Vec<String>,
    /// All claims of the token (or whatever the verifier knows), for `whoami` and logging.
    pub claims: serde_json::Value,
}

/// Why a verifier refused a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    /// Not a token this resource accepts (bad signature, wrong audience or issuer, revoked,
    /// a refresh token…). The text becomes the challenge's `error_description`.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The token was valid but has expired.
    #[error("the token has expired")]
    Expired,
    /// The verifier cannot decide now (store or introspection down): 503 with a JSON error.
    #[error("token verification unavailable: {0}")]
    Unavailable(String),
}

/// What a [`BearerVerifier`] answers. The principal is shared, so that a verifier that
/// remembers who a token speaks for hands it out without copying it.
pub type Verdict<'a> =
    Pin<Box<dyn Future<Output = Result<Arc<Principal>, BearerError>> + Send + 'a>>;

/// Checks a bearer token presented at the MCP path.
pub trait BearerVerifier: Send + Sync {
    fn verify<'a>(&'a self, token: &'a str) -> Verdict<'a>;
}
