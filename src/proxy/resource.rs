//! The bearer guard on the MCP path and the reverse proxy to the MCP server.
//!
//! [`mcp_service`] is the guarded MCP endpoint as a service, [`mcp_routes`] the same as a
//! router. Mount it with `Router::nest_service(mcp_path, mcp_service(guard))` (or
//! `Router::nest` with the router): it answers the path itself and every sub-path, and sees
//! paths relative to `mcp_path`. (For an `mcp_path` of `/`, use `Router::fallback_service`.)
//!
//! Every request, except a CORS preflight, must carry exactly one
//! `Authorization: Bearer <token>` header (scheme in any case). Tokens in the query string
//! (`access_token=`) are ignored and removed before forwarding.
//!
//! | request | answer |
//! |---|---|
//! | no token, another scheme, malformed header | 401, `WWW-Authenticate: Bearer resource_metadata="…", scope="…"` |
//! | token rejected or expired | 401, the same plus `error="invalid_token", error_description="…"`, JSON error body |
//! | token lacks a required scope | 403, `error="insufficient_scope"`, `scope` = the required scopes, JSON error body |
//! | verifier unavailable | 503 JSON `temporarily_unavailable` |
//! | body over [`MAX_REQUEST_BODY_BYTES`] | 413 JSON |
//! | backend unreachable | 502 JSON `bad_gateway` |
//!
//! # Identity headers sent to the backend
//!
//! Authorized requests are reverse-proxied to [`ResourceGuard::backend`], streaming in both
//! directions (SSE passes through unbuffered). The client's `Authorization` header is never
//! forwarded, hop-by-hop headers are dropped, and every incoming `X-Authproof-*` header is
//! removed before these are added:
//!
//! - `X-Authproof-Subject`: the verified subject ([`Principal::subject`]).
//! - `X-Authproof-Client-Id`: the OAuth client the token was issued to; absent when unknown.
//! - `X-Authproof-Scopes`: the token's scopes, space-separated (possibly empty).
//!
//! Values are percent-encoded: every byte outside visible ASCII (`!`..`~`), and `%` itself,
//! is written `%XX`, so `alice@example.com` arrives as is and any value decodes back exactly.
//!
//! Without a backend, the built-in echo MCP endpoint ([`echo`]) answers.
//!
//! CORS: preflights are answered for any origin (bearer tokens are not ambient credentials);
//! `Access-Control-Expose-Headers: WWW-Authenticate, Mcp-Session-Id`.

mod challenge;
pub mod echo;
mod forward;

pub use crate::proxy::bearer::{BearerError, BearerVerifier, Principal, Verdict};
pub use crate::proxy::outbound::TrustRoots;
pub use challenge::{Challenge, MAX_TOKEN_LEN, NoToken, bearer_token, is_b64token};
pub use forward::{
    CLIENT_ID_HEADER, SCOPES_HEADER, SUBJECT_HEADER, encode_identity, request_headers,
    response_headers, target_url,
};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use forward::Backend;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::Service;

/// The largest request body accepted on the MCP path (413 above it).
pub const MAX_REQUEST_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The configuration of the guarded MCP endpoint.
#[derive(Clone)]
pub struct ResourceGuard {
    pub verifier: Arc<dyn BearerVerifier>,
    /// This resource's URL (base_url + mcp_path).
    pub resource: String,
    /// The RFC 9728 metadata URL named in every challenge.
    pub resource_metadata_url: String,
    /// Scopes every token must carry (named in every challenge's `scope`).
    pub required_scopes: Vec<String>,
    /// The MCP server behind the proxy; `None` → the built-in echo endpoint.
    pub backend: Option<url::Url>,
    /// Extra roots trusted when the backend is https (`outbound_ca_file`).
    pub backend_roots: TrustRoots,
}

struct Shared {
    guard: ResourceGuard,
    challenge: Challenge,
    backend: Option<Backend>,
}

/// The router of the guarded MCP endpoint (see the module documentation for how to mount
/// it): [`mcp_service`] as a router's fallback.
pub fn mcp_routes(guard: ResourceGuard) -> Router {
    Router::new().fallback_service(mcp_service(guard))
}

/// The guarded MCP endpoint as a service, for `Router::nest_service` (every request, any
/// path below the mount point): the guard and its CORS answers.
pub fn mcp_service(guard: ResourceGuard) -> McpEndpoint {
    McpEndpoint(Arc::new(Shared {
        challenge: Challenge::new(&guard.resource_metadata_url, &guard.required_scopes),
        backend: guard
            .backend
            .clone()
            .map(|url| Backend::new(url, &guard.backend_roots)),
        guard,
    }))
}

/// The guard and what it serves (the echo endpoint or the reverse proxy to the backend),
/// with the CORS answers of [`cors`]. Cloning it (axum clones a route's service for every
/// request) copies one pointer.
#[derive(Clone)]
pub struct McpEndpoint(Arc<Shared>);

impl Service<Request> for McpEndpoint {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if request.method() == Method::OPTIONS {
            return Box::pin(std::future::ready(Ok(cors::preflight())));
        }
        let shared = self.0.clone();
        Box::pin(async move {
            let mut response = handle(shared, request).await;
            cors::expose(response.headers_mut());
            Ok(response)
        })
    }
}

/// The MCP endpoint's CORS answers. Bearer tokens are not ambient credentials, so any origin
/// may call (`*`, no credentials), and nothing in the answers depends on the request: they
/// are constant headers. (tower-http's `CorsLayer` gave the same answers, but as a layer
/// its header values were copied, with an atomic count each, for every request.)
///
/// As with that layer, every `OPTIONS` request is a preflight, answered here (the guard is
/// not asked); every other answer gets `Access-Control-Allow-Origin` and
/// `Access-Control-Expose-Headers`, replacing any the endpoint set.
mod cors {
    use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
    use axum::response::{IntoResponse, Response};

    const ANY_ORIGIN: HeaderValue = HeaderValue::from_static("*");
    const METHODS: HeaderValue = HeaderValue::from_static("GET,POST,DELETE,OPTIONS");
    const HEADERS: HeaderValue = HeaderValue::from_static(
        "authorization,content-type,accept,mcp-session-id,mcp-protocol-version,last-event-id",
    );
    const EXPOSED: HeaderValue = HeaderValue::from_static("www-authenticate,mcp-session-id");
    /// Seconds a browser may keep a preflight's answer.
    const MAX_AGE: HeaderValue = HeaderValue::from_static("600");

    /// The answer to a preflight (`OPTIONS`).
    pub fn preflight() -> Response {
        let mut response = StatusCode::OK.into_response();
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, METHODS);
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HEADERS);
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE);
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN);
        response
    }

    /// What every other answer carries.
    pub fn expose(headers: &mut HeaderMap) {
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN);
    }
}

async fn handle(shared: Arc<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let verdict = match bearer_token(&parts.headers) {
        Ok(token) => shared.guard.verifier.verify(token).await,
        Err(_) => return shared.unauthorized(),
    };
    let principal = match verdict {
        Ok(principal) => principal,
        Err(BearerError::Invalid(reason)) => return shared.invalid_token(&reason),
        Err(BearerError::Expired) => return shared.invalid_token("The access token has expired"),
        Err(BearerError::Unavailable(reason)) => {
            tracing::warn!(%reason, "bearer verification unavailable");
            return error_json(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "Token verification is temporarily unavailable; retry later",
            );
        }
    };
    if let Some(missing) = shared
        .guard
        .required_scopes
        .iter()
        .find(|s| !principal.scopes.contains(s))
    {
        tracing::debug!(scope = %missing, subject = %principal.subject, "insufficient scope");
        return shared.insufficient_scope();
    }
    if content_length(&parts.headers).is_some_and(|n| n > MAX_REQUEST_BODY_BYTES as u64) {
        return too_large();
    }
    match &shared.backend {
        Some(backend) => backend.forward(&principal, parts, body).await,
        None => echo::serve(&principal, parts, body).await,
    }
}

impl Shared {
    fn unauthorized(&self) -> Response {
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        let headers = response.headers_mut();
        headers.insert(header::WWW_AUTHENTICATE, self.challenge.bare());
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    fn invalid_token(&self, reason: &str) -> Response {
        let description = if reason.trim().is_empty() {
            "The access token is invalid"
        } else {
            reason
        };
        let mut response = error_json(StatusCode::UNAUTHORIZED, "invalid_token", description);
        let headers = response.headers_mut();
        headers.insert(
            header::WWW_AUTHENTICATE,
            self.challenge.with_error("invalid_token", description),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    fn insufficient_scope(&self) -> Response {
        let description = format!("Required scope: {}", self.challenge.scope());
        let mut response = error_json(StatusCode::FORBIDDEN, "insufficient_scope", &description);
        let headers = response.headers_mut();
        headers.insert(
            header::WWW_AUTHENTICATE,
            self.challenge
                .with_error("insufficient_scope", &description),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

fn content_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// An RFC 6749-style JSON error: `{"error": …, "error_description": …}`.
pub(crate) fn error_json(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::json!({ "error": error, "error_description": description });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// 413 for a body over [`MAX_REQUEST_BODY_BYTES`].
pub(crate) fn too_large() -> Response {
    error_json(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request",
        &format!("The request body exceeds {MAX_REQUEST_BODY_BYTES} bytes"),
    )
}

/// Whether an error, or anything in its source chain, is a body length limit being hit.
pub(crate) fn is_body_limit_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderName;
    use std::time::Duration;
    use tower::{Layer, ServiceExt};
    use tower_http::cors::{AllowOrigin, CorsLayer};

    /// The tower-http layer the endpoint used before its answers became constants.
    fn reference() -> CorsLayer {
        CorsLayer::new()
            .allow_origin(AllowOrigin::any())
            .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                HeaderName::from_static("mcp-session-id"),
                HeaderName::from_static("mcp-protocol-version"),
                HeaderName::from_static("last-event-id"),
            ])
            .expose_headers([
                header::WWW_AUTHENTICATE,
                HeaderName::from_static("mcp-session-id"),
            ])
            .max_age(Duration::from_secs(600))
            .vary([])
    }

    /// What an endpoint behind either answers: a challenge with a CORS header of its own.
    fn inner_answer() -> Response {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        r.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("https://set.by.the.endpoint"),
        );
        r
    }

    fn sorted(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
        let mut v: Vec<_> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn the_constant_cors_answers_are_the_layers() {
        for method in [Method::OPTIONS, Method::POST, Method::GET, Method::DELETE] {
            for origin in [None, Some("https://app.example")] {
                let request = || {
                    let mut b = Request::builder().method(method.clone()).uri("/");
                    if let Some(o) = origin {
                        b = b
                            .header(header::ORIGIN, o)
                            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST");
                    }
                    b.body(Body::empty()).unwrap()
                };
                let layered = reference()
                    .layer(tower::service_fn(|_: Request| async {
                        Ok::<_, Infallible>(inner_answer())
                    }))
                    .oneshot(request())
                    .await
                    .unwrap();
                let ours = if method == Method::OPTIONS {
                    cors::preflight()
                } else {
                    let mut r = inner_answer();
                    cors::expose(r.headers_mut());
                    r
                };
                let case = format!("{method} with origin {origin:?}");
                assert_eq!(ours.status(), layered.status(), "{case}");
                assert_eq!(sorted(ours.headers()), sorted(layered.headers()), "{case}");
            }
        }
    }
}
