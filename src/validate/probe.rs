//! The token-endpoint probe: does the IdP accept the proxy's client credentials?
//!
//! It sends a code exchange with a made-up code through the proxy's own upstream client
//! ([`Upstream::exchange_code`]: same form, same client authentication, same extra token
//! parameters and `resource` handling as a real login). An IdP checks the client before the
//! code, so the answer tells them apart:
//!
//! - `invalid_grant` (GitHub: `bad_verification_code`): the credentials were accepted and
//!   only the code was refused — the configuration is right;
//! - `invalid_client` (GitHub: `incorrect_client_credentials`, or a bare 401): the client was
//!   refused. Either the secret is wrong or the IdP wants another method; the same secret is
//!   then sent with the other method (basic ↔ post) to tell which;
//! - `invalid_target`: the IdP refuses the forwarded `resource` (Entra ID).

use super::catalogue::entry;
use super::finding::Finding;
use super::report::NOTHING_TO_DO;
use crate::oauth::client_auth::ClientAuthMethod;
use crate::proxy::config::UpstreamConfig;
use crate::proxy::outbound::{TrustRoots, UpstreamError};
use crate::proxy::upstream::Upstream;
use foundations::Clock;

/// The made-up authorization code (no IdP issued it).
pub const PROBE_CODE: &str = "authproof-validate-probe-invalid-code";
/// A well-formed PKCE verifier (43 to 128 characters, RFC 7636) for the probe.
const PROBE_VERIFIER: &str = "authproof-validate-probe-verifier-0123456789";

/// What one probe learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The client was accepted; the code was refused with this error.
    Accepted(String),
    /// The client was refused (`invalid_client`, GitHub's equivalent, or a bare 401).
    ClientRefused(Option<String>),
    /// Another OAuth error.
    Rejected {
        /// The error code.
        error: String,
        /// Its description.
        description: Option<String>,
    },
    /// Tokens for a made-up code.
    Issued,
    /// No usable answer (unreachable, timeout, not OAuth).
    NoAnswer(String),
}

/// Where and how to probe.
#[derive(Debug, Clone)]
pub struct Target {
    /// The upstream settings (resolved).
    pub upstream: UpstreamConfig,
    /// The IdP's authorization endpoint (needed to build the client; not called).
    pub authorization_endpoint: String,
    /// The IdP's token endpoint.
    pub token_endpoint: String,
    /// The proxy's callback URL (sent as `redirect_uri`, as in a real exchange).
    pub redirect_uri: String,
    /// The protected resource (sent when `forward_resource` is on).
    pub resource: String,
    /// Extra roots trusted for https (`outbound_ca_file`).
    pub roots: TrustRoots,
}

/// One code exchange with `method`.
pub async fn attempt(t: &Target, method: ClientAuthMethod) -> Verdict {
    let mut cfg = t.upstream.clone();
    cfg.config_url = None;
    cfg.authorization_endpoint = Some(t.authorization_endpoint.clone());
    cfg.token_endpoint = Some(t.token_endpoint.clone());
    cfg.token_endpoint_auth_method = Some(method);
    let upstream = match Upstream::new(cfg, t.redirect_uri.clone(), Clock::system()) {
        Ok(mut u) => {
            u.trust(&t.roots);
            u
        }
        Err(e) => return Verdict::NoAnswer(e.to_string()),
    };
    match upstream
        .exchange_code(PROBE_CODE, PROBE_VERIFIER, &t.resource)
        .await
    {
        Ok(_) => Verdict::Issued,
        Err(UpstreamError::Rejected { error, description }) => match error.as_str() {
            "invalid_grant" | "bad_verification_code" => Verdict::Accepted(error),
            "invalid_client" | "incorrect_client_credentials" => {
                Verdict::ClientRefused(description)
            }
            _ => Verdict::Rejected { error, description },
        },
        Err(UpstreamError::BadResponse(m)) if m.starts_with("HTTP 401") => {
            Verdict::ClientRefused(None)
        }
        Err(e) => Verdict::NoAnswer(e.to_string()),
    }
}

/// The other secret-based method, to tell a wrong method from a wrong secret.
fn other_method(m: ClientAuthMethod) -> Option<ClientAuthMethod> {
    match m {
        ClientAuthMethod::ClientSecretBasic => Some(ClientAuthMethod::ClientSecretPost),
        ClientAuthMethod::ClientSecretPost => Some(ClientAuthMethod::ClientSecretBasic),
        ClientAuthMethod::None => None,
    }
}

const METHOD_KEY: &str = "upstream.token_endpoint_auth_method";

/// `: description` when the IdP sent one.
fn described(d: &Option<String>) -> String {
    d.as_ref().map(|d| format!(": {d}")).unwrap_or_default()
}

/// Probe with the configured method, and with the other one when the first is refused.
pub async fn check(t: &Target) -> Vec<Finding> {
    let method = t.upstream.auth_method();
    let endpoint = &t.token_endpoint;
    let first = attempt(t, method).await;
    let finding = match first {
        Verdict::Accepted(error) => Finding::new(
            entry!("live.token_probe_ok"),
            format!(
                "the token endpoint {endpoint} accepted the client credentials with {method} (it refused only the made-up code: {error})"
            ),
            NOTHING_TO_DO,
        )
        .key(METHOD_KEY),
        Verdict::ClientRefused(desc) => refused(t, method, desc).await,
        Verdict::Rejected { error, description } if error == "invalid_target" => Finding::new(
            entry!("live.token_resource_rejected"),
            format!(
                "the token endpoint refuses the `resource` parameter the proxy forwards: invalid_target{}",
                described(&description)
            ),
            "Set upstream.forward_resource: false",
        )
        .key("upstream.forward_resource"),
        Verdict::Rejected { error, description } if error == "unauthorized_client" => {
            Finding::new(
                entry!("live.token_grant_not_allowed"),
                format!(
                    "the IdP accepted the client but does not let it use the authorization_code grant: unauthorized_client{}",
                    described(&description)
                ),
                "Enable the authorization code grant for this client at the IdP",
            )
            .key("upstream.client_id")
        }
        Verdict::Rejected { error, description } => Finding::new(
            entry!("live.token_probe_inconclusive"),
            format!(
                "the token endpoint answered {error}{} to a code exchange with a made-up code, so whether it accepts the client credentials is unknown",
                described(&description)
            ),
            "Try a real login; check upstream.extra_token_params and the client's settings at the IdP",
        )
        .key(METHOD_KEY),
        Verdict::Issued => Finding::new(
            entry!("live.token_accepts_invalid_code"),
            format!("the token endpoint {endpoint} issued tokens for a made-up authorization code"),
            "This is not an OAuth token endpoint that can be trusted; check upstream.token_endpoint",
        )
        .key("upstream.token_endpoint"),
        Verdict::NoAnswer(why) => Finding::new(
            entry!("live.token_endpoint_unreachable"),
            format!("the token endpoint {endpoint} gave no usable answer: {why}"),
            "Check upstream.token_endpoint (or the discovery document) and that this machine can reach the IdP",
        )
        .key("upstream.token_endpoint"),
    };
    vec![finding]
}

/// The client was refused with `method`: try the other secret method to say why.
async fn refused(t: &Target, method: ClientAuthMethod, desc: Option<String>) -> Finding {
    let has_secret = t
        .upstream
        .client_secret
        .as_ref()
        .is_some_and(|s| !s.expose().is_empty());
    let Some(alt) = other_method(method).filter(|_| has_secret) else {
        return Finding::new(
            entry!("live.token_invalid_client"),
            format!(
                "the IdP refused the client {:?} as a public client (token_endpoint_auth_method none): invalid_client{}",
                t.upstream.client_id,
                described(&desc)
            ),
            "If the IdP app is confidential, set AUTHPROOF_UPSTREAM__CLIENT_SECRET and token_endpoint_auth_method (client_secret_basic or client_secret_post)",
        )
        .key(METHOD_KEY);
    };
    match attempt(t, alt).await {
        Verdict::Accepted(_) => Finding::new(
            entry!("live.token_auth_method_mismatch"),
            format!(
                "the IdP refused the client with {method} (invalid_client{}) but accepted the same credentials with {alt}: it expects {alt}",
                described(&desc)
            ),
            format!(
                "Set upstream.token_endpoint_auth_method: {alt} (or AUTHPROOF_UPSTREAM__TOKEN_ENDPOINT_AUTH_METHOD={alt}); a probe with {alt} was accepted"
            ),
        )
        .key(METHOD_KEY),
        Verdict::ClientRefused(_) => Finding::new(
            entry!("live.token_invalid_client"),
            format!(
                "the IdP refused the client {:?} with {method} and with {alt} (invalid_client{}): the client id or secret is wrong",
                t.upstream.client_id,
                described(&desc)
            ),
            "Check upstream.client_id and upstream.client_secret (AUTHPROOF_UPSTREAM__CLIENT_SECRET) against the IdP's app; the secret may have expired or been rotated",
        )
        .key("upstream.client_secret"),
        other => Finding::new(
            entry!("live.token_invalid_client"),
            format!(
                "the IdP refused the client with {method} (invalid_client{}); a probe with {alt} was inconclusive ({other:?})",
                described(&desc)
            ),
            "Check upstream.client_id, upstream.client_secret and the method the IdP app is registered for",
        )
        .key("upstream.client_secret"),
    }
}

/// Is `token` a JWS in compact form (three parts, a JSON header)? Only its shape matters here.
pub fn looks_like_jwt(token: &str) -> bool {
    use base64::Engine as _;
    let mut parts = token.split('.');
    let (Some(h), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(h.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.is_object())
}

/// A jwt verifier assumes the IdP issues JWT access tokens. Learn the format from a token
/// the IdP issues to this client (a `client_credentials` grant, sent like a code exchange),
/// or say plainly that the assumption could not be checked.
pub async fn access_token_format(t: &Target) -> Finding {
    let key = "upstream.verifier.kind";
    let fix = "Set upstream.verifier.kind: userinfo (or introspection), or have the IdP issue JWT access tokens for this client (oidc-provider: a resource server with accessTokenFormat jwt, then keep upstream.forward_resource on)";
    let mut cfg = t.upstream.clone();
    cfg.config_url = None;
    cfg.authorization_endpoint = Some(t.authorization_endpoint.clone());
    cfg.token_endpoint = Some(t.token_endpoint.clone());
    let tried = match Upstream::new(cfg, t.redirect_uri.clone(), Clock::system()) {
        Ok(mut up) => {
            up.trust(&t.roots);
            up.client_credentials(&t.resource)
                .await
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    match tried {
        Ok(tokens) if looks_like_jwt(&tokens.access_token) => Finding::new(
            entry!("live.access_token_jwt"),
            "an access token the IdP issued to this client (client_credentials) is a JWT, as the jwt verifier expects",
            NOTHING_TO_DO,
        )
        .key(key),
        Ok(_) => Finding::new(
            entry!("live.access_token_opaque"),
            "upstream.verifier.kind is jwt, but an access token the IdP issued to this client (client_credentials) is opaque, not a JWT: logins would fail at the callback with \"not a JWT\"",
            fix,
        )
        .key(key),
        Err(why) => Finding::new(
            entry!("live.access_token_format_unverified"),
            format!(
                "upstream.verifier.kind is jwt, which assumes the IdP issues JWT access tokens; that could not be checked (a client_credentials grant for this client got: {why}). Many IdPs issue opaque access tokens unless an API audience or resource is requested"
            ),
            format!("If logins fail at the callback with \"not a JWT\": {fix}"),
        )
        .key(key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternatives() {
        assert_eq!(
            other_method(ClientAuthMethod::ClientSecretBasic),
            Some(ClientAuthMethod::ClientSecretPost)
        );
        assert_eq!(
            other_method(ClientAuthMethod::ClientSecretPost),
            Some(ClientAuthMethod::ClientSecretBasic)
        );
        assert_eq!(other_method(ClientAuthMethod::None), None);
        assert!((43..=128).contains(&PROBE_VERIFIER.len()));
    }

    #[test]
    fn jwt_shape() {
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"));
        assert!(!looks_like_jwt("ya29.a0AfH6SMB"));
        assert!(!looks_like_jwt("opaque-token"));
        assert!(!looks_like_jwt("bm90IGpzb24.e30.c2ln"));
        assert!(!looks_like_jwt("a.b.c.d"));
    }
}
