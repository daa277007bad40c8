//! Request parameters: query strings and form bodies, with duplicate detection, content-type
//! checks and size limits.

use crate::oauth::error::OAuthError;
use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};

/// The largest form body the proxy reads (token, revoke, consent, authorize POST).
pub const MAX_FORM_BYTES: usize = 64 * 1024;
/// The largest JSON body (registration).
pub const MAX_JSON_BYTES: usize = 64 * 1024;
/// The largest query string (authorize, callback).
pub const MAX_QUERY_BYTES: usize = 16 * 1024;
/// The longest single parameter value.
pub const MAX_VALUE_LEN: usize = 8 * 1024;

/// Decoded `name=value` pairs, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parse `application/x-www-form-urlencoded` bytes (a query string or a form body).
    pub fn parse(bytes: &[u8]) -> Params {
        Params(
            url::form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`; an empty value counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The name of a parameter that appears more than once (RFC 6749 §3.1: an error).
    pub fn duplicate(&self) -> Option<&str> {
        self.0
            .iter()
            .enumerate()
            .find(|(i, (k, _))| self.0[..*i].iter().any(|(p, _)| p == k))
            .map(|(_, (k, _))| k.as_str())
    }

    /// The name of a parameter whose value is longer than [`MAX_VALUE_LEN`].
    pub fn oversized(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(_, v)| v.len() > MAX_VALUE_LEN)
            .map(|(k, _)| k.as_str())
    }

    /// The common checks: no duplicates, no oversized values.
    pub fn check(&self) -> Result<(), OAuthError> {
        if let Some(d) = self.duplicate() {
            return Err(OAuthError::invalid_request(format!(
                "parameter {d} is repeated"
            )));
        }
        if let Some(o) = self.oversized() {
            return Err(OAuthError::invalid_request(format!(
                "parameter {o} is too long"
            )));
        }
        Ok(())
    }
}

/// Whether the request's content type is `expected` (parameters such as charset allowed).
pub fn has_content_type(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

/// Read a body of at most `limit` bytes.
pub async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, OAuthError> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| OAuthError::too_large(limit))
}

/// Read an `application/x-www-form-urlencoded` body (wrong content type: invalid_request).
pub async fn read_form(headers: &HeaderMap, body: Body) -> Result<Params, OAuthError> {
    if !has_content_type(headers, "application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let bytes = read_body(body, MAX_FORM_BYTES).await?;
    Ok(Params::parse(&bytes))
}

/// The form body of an OAuth endpoint (token, revocation) as an extractor: the content type
/// must be `application/x-www-form-urlencoded` and the body at most [`MAX_FORM_BYTES`];
/// otherwise the request is rejected with the RFC 6749 JSON error.
#[derive(Debug)]
pub struct OAuthForm(pub Params);

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = OAuthError;

    async fn from_request(req: Request, _: &S) -> Result<Self, OAuthError> {
        let (parts, body) = req.into_parts();
        read_form(&parts.headers, body).await.map(OAuthForm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_empty_values() {
        let p = Params::parse(b"a=1&b=&c=x%20y&a=2");
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        assert_eq!(p.duplicate(), Some("a"));
        assert_eq!(p.check().unwrap_err().error, "invalid_request");
        assert_eq!(Params::parse(b"a=1&b=2").duplicate(), None);
    }

    #[test]
    fn content_type_with_parameters() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8"
                .parse()
                .unwrap(),
        );
        assert!(has_content_type(&h, "application/x-www-form-urlencoded"));
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        assert!(!has_content_type(&h, "application/x-www-form-urlencoded"));
    }
}
