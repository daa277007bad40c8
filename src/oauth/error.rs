//! RFC 6749 §5.2 error responses (also used for RFC 7591 and RFC 7009 errors).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::borrow::Cow;
use std::fmt;

/// An OAuth error answer: `{"error", "error_description"}` with an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuthError {
    /// The error code (`invalid_request`, `invalid_grant`, …).
    pub error: Cow<'static, str>,
    /// A human-readable explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// The HTTP status of the answer.
    #[serde(skip)]
    pub status: StatusCode,
}

impl OAuthError {
    /// Any error code with any status.
    pub fn new(
        error: impl Into<Cow<'static, str>>,
        description: impl Into<String>,
        status: StatusCode,
    ) -> Self {
        let description = description.into();
        Self {
            error: error.into(),
            error_description: (!description.is_empty()).then_some(description),
            status,
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", d, StatusCode::BAD_REQUEST)
    }
    /// 401 `invalid_client`.
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new("invalid_client", d, StatusCode::UNAUTHORIZED)
    }
    /// 400 `invalid_grant`.
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", d, StatusCode::BAD_REQUEST)
    }
    /// 400 `unauthorized_client`.
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new("unauthorized_client", d, StatusCode::BAD_REQUEST)
    }
    /// 400 `unsupported_grant_type`.
    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_grant_type", d, StatusCode::BAD_REQUEST)
    }
    /// 400 `unsupported_response_type`.
    pub fn unsupported_response_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_response_type", d, StatusCode::BAD_REQUEST)
    }
    /// 400 `invalid_scope`.
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new("invalid_scope", d, StatusCode::BAD_REQUEST)
    }
    /// 400 `invalid_target` (RFC 8707).
    pub fn invalid_target(d: impl Into<String>) -> Self {
        Self::new("invalid_target", d, StatusCode::BAD_REQUEST)
    }
    /// 403 `access_denied`.
    pub fn access_denied(d: impl Into<String>) -> Self {
        Self::new("access_denied", d, StatusCode::FORBIDDEN)
    }
    /// 400 `unsupported_token_type` (RFC 7009).
    pub fn unsupported_token_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_token_type", d, StatusCode::BAD_REQUEST)
    }
    /// 400 `invalid_redirect_uri` (RFC 7591).
    pub fn invalid_redirect_uri(d: impl Into<String>) -> Self {
        Self::new("invalid_redirect_uri", d, StatusCode::BAD_REQUEST)
    }
    /// 400 `invalid_client_metadata` (RFC 7591).
    pub fn invalid_client_metadata(d: impl Into<String>) -> Self {
        Self::new("invalid_client_metadata", d, StatusCode::BAD_REQUEST)
    }
    /// 502 `server_error`: something behind us (the upstream IdP) failed or answered garbage.
    pub fn server_error(d: impl Into<String>) -> Self {
        Self::new("server_error", d, StatusCode::BAD_GATEWAY)
    }
    /// 503 `temporarily_unavailable`: the upstream is down or slow, or storage is full.
    pub fn temporarily_unavailable(d: impl Into<String>) -> Self {
        Self::new(
            "temporarily_unavailable",
            d,
            StatusCode::SERVICE_UNAVAILABLE,
        )
    }
    /// 413 `invalid_request`: the body is larger than allowed.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            "invalid_request",
            format!("request body larger than {limit} bytes"),
            StatusCode::PAYLOAD_TOO_LARGE,
        )
    }

    /// The same error with another status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The description, or an empty string.
    pub fn description(&self) -> &str {
        self.error_description.as_deref().unwrap_or("")
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error_description {
            Some(d) => write!(f, "{}: {}", self.error, d),
            None => f.write_str(&self.error),
        }
    }
}

impl std::error::Error for OAuthError {}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut resp = (status, axum::Json(&self)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn renders_rfc6749_json() {
        let resp = OAuthError::invalid_grant("code already used").into_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": "invalid_grant", "error_description": "code already used"})
        );
    }

    #[test]
    fn empty_description_is_omitted() {
        let e = OAuthError::invalid_request("");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"error":"invalid_request"}"#
        );
        assert_eq!(e.to_string(), "invalid_request");
    }
}
