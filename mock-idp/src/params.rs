//! Request parameters and typed extractors that answer bad input with RFC 6749 errors.

use crate::error::OAuthError;
use crate::state::Idp;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Parameters from a query string or a form body, in order, repeats kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parse `a=1&b=2` (form-urlencoded).
    pub fn parse(text: &[u8]) -> Self {
        Params(url::form_urlencoded::parse(text).into_owned().collect())
    }

    /// Parse an optional query string.
    pub fn from_query(q: Option<&str>) -> Self {
        q.map(|q| Self::parse(q.as_bytes())).unwrap_or_default()
    }

    /// A parameter that may appear at most once; an empty value counts as absent
    /// (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut found = None;
        for (k, v) in &self.0 {
            if k == name {
                if found.is_some() {
                    return Err(OAuthError::invalid_request(format!(
                        "parameter `{name}` is repeated"
                    )));
                }
                found = Some(v.as_str());
            }
        }
        Ok(found.filter(|v| !v.is_empty()))
    }

    /// A parameter that must be present once.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)?
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter `{name}`")))
    }

    /// Every non-empty value of a repeatable parameter.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Last value per name (for the journal and fault matching).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.0.iter().cloned().collect()
    }
}

/// The media type of a request, lower-cased, without parameters.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

/// Whether the request body is form-urlencoded.
pub fn is_form(headers: &HeaderMap) -> bool {
    media_type(headers).as_deref() == Some("application/x-www-form-urlencoded")
}

async fn read_body(req: Request, idp: &Idp) -> Result<(HeaderMap, axum::body::Bytes), OAuthError> {
    let limit = idp.settings.read().limits.max_body_bytes;
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| OAuthError::too_large(limit))?;
    Ok((parts.headers, bytes))
}

/// A form-urlencoded body; anything else is a 400 `invalid_request`, too big a 413.
#[derive(Debug, Clone)]
pub struct FormBody(pub Params);

impl FromRequest<Arc<Idp>> for FormBody {
    type Rejection = OAuthError;

    async fn from_request(req: Request, idp: &Arc<Idp>) -> Result<Self, Self::Rejection> {
        if !is_form(req.headers()) {
            return Err(OAuthError::invalid_request(
                "Content-Type must be application/x-www-form-urlencoded",
            ));
        }
        let (_, bytes) = read_body(req, idp).await?;
        if std::str::from_utf8(&bytes).is_err() {
            return Err(OAuthError::invalid_request("the body is not UTF-8"));
        }
        Ok(FormBody(Params::parse(&bytes)))
    }
}

/// A JSON body of type `T`; wrong content type or bad JSON is a 400 with an OAuth-shaped error.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<Idp>> for JsonBody<T> {
    type Rejection = OAuthError;

    async fn from_request(req: Request, idp: &Arc<Idp>) -> Result<Self, Self::Rejection> {
        let json_type = media_type(req.headers())
            .is_some_and(|m| m == "application/json" || m.ends_with("+json"));
        if !json_type {
            return Err(OAuthError::invalid_request(
                "Content-Type must be application/json",
            ));
        }
        let (_, bytes) = read_body(req, idp).await?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("invalid JSON body: {e}"),
            )
        })
    }
}

/// The token of an `Authorization: Bearer …` header (GitHub's `token …` too when `github`).
pub fn bearer(headers: &HeaderMap, allow_token_scheme: bool) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = v.split_once(' ')?;
    let ok = scheme.eq_ignore_ascii_case("bearer")
        || (allow_token_scheme && scheme.eq_ignore_ascii_case("token"));
    let t = rest.trim();
    (ok && !t.is_empty()).then(|| t.to_string())
}

/// Decode `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte.
/// Malformed escapes are kept literally.
pub fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_empty_parameters() {
        let p = Params::parse(b"a=1&b=&c=x&c=y&resource=r1&resource=r2");
        assert_eq!(p.get("a").unwrap(), Some("1"));
        assert_eq!(p.get("b").unwrap(), None);
        assert_eq!(p.get("c").unwrap_err().error, "invalid_request");
        assert_eq!(p.all("resource"), vec!["r1", "r2"]);
        assert_eq!(p.require("zzz").unwrap_err().error, "invalid_request");
    }

    #[test]
    fn form_decoding() {
        assert_eq!(form_decode("s3cr3t%3A%2F%26+x"), "s3cr3t:/& x");
        assert_eq!(form_decode("100%"), "100%");
        assert_eq!(form_decode("%zz%4"), "%zz%4");
        assert_eq!(form_decode("%41"), "A");
    }

    #[test]
    fn bearer_tokens() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h, false).as_deref(), Some("abc"));
        h.insert(header::AUTHORIZATION, "token abc".parse().unwrap());
        assert_eq!(bearer(&h, false), None);
        assert_eq!(bearer(&h, true).as_deref(), Some("abc"));
        h.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer(&h, false), None);
    }
}
