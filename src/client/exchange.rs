//! What the flow client records about each HTTP exchange, and how it masks secrets when
//! printing them.
//!
//! Recorded values are raw (assertions need the real status, headers and body) except the
//! request's headers and body, which are masked when recorded. Every `Display` masks: tokens,
//! secrets, codes, verifiers and cookies show their first 4 characters and then `…` (values
//! of 8 characters or fewer show only `…`).

use serde::Serialize;
use serde_json::Value;
use std::fmt;

/// Form, query and JSON keys whose values are secrets.
pub const SECRET_KEYS: [&str; 15] = [
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "code",
    "code_verifier",
    "token",
    "password",
    "registration_access_token",
    "csrf_token",
    "client_assertion",
    "assertion",
    "subject_token",
    "device_code",
    "upstream_token",
];

/// Header names whose values are secrets.
const SECRET_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "x-api-key"];
const COOKIE_HEADERS: [&str; 2] = ["cookie", "set-cookie"];

/// How much of a body `Display` prints.
const DISPLAY_BODY_LIMIT: usize = 4096;

/// `abcd…` for a secret longer than 8 characters, `…` otherwise.
pub fn mask(secret: &str) -> String {
    if secret.chars().count() > 8 {
        let head: String = secret.chars().take(4).collect();
        format!("{head}…")
    } else {
        "…".to_owned()
    }
}

/// Whether a form/query/JSON key names a secret.
pub fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k))
}

/// A header value with its secret parts masked (credentials of `Authorization`, cookie values).
pub fn mask_header(name: &str, value: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if SECRET_HEADERS.contains(&lower.as_str()) {
        return match value.split_once(' ') {
            Some((scheme, credentials)) => format!("{scheme} {}", mask(credentials.trim())),
            None => mask(value),
        };
    }
    if COOKIE_HEADERS.contains(&lower.as_str()) {
        return mask_cookies(value, lower == "set-cookie");
    }
    if lower == "location" || lower == "content-location" {
        return mask_url(value);
    }
    value.to_owned()
}

fn mask_cookies(value: &str, set_cookie: bool) -> String {
    let mask_pair = |pair: &str| match pair.split_once('=') {
        Some((name, v)) => format!("{}={}", name.trim(), mask(v.trim())),
        None => pair.trim().to_owned(),
    };
    if set_cookie {
        // `name=value; Path=/; HttpOnly`: only the first pair is the cookie.
        match value.split_once(';') {
            Some((first, attrs)) => format!("{};{attrs}", mask_pair(first)),
            None => mask_pair(value),
        }
    } else {
        value
            .split(';')
            .map(mask_pair)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A URL (or any string with a query) with secret query parameters masked; everything else
/// is kept byte for byte.
pub fn mask_url(url: &str) -> String {
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let mut out = match before_fragment.split_once('?') {
        Some((base, query)) => format!("{base}?{}", mask_form(query)),
        None => before_fragment.to_owned(),
    };
    if let Some(fragment) = fragment {
        // Implicit-flow style fragments carry tokens like a query does.
        out.push('#');
        out.push_str(&mask_form(fragment));
    }
    out
}

/// An `application/x-www-form-urlencoded` string with secret values masked.
pub fn mask_form(form: &str) -> String {
    form.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => {
                let decoded: String = url::form_urlencoded::parse(key.as_bytes())
                    .map(|(k, _)| k.into_owned())
                    .next()
                    .unwrap_or_default();
                if is_secret_key(&decoded) {
                    let value: String =
                        url::form_urlencoded::parse(format!("v={value}").as_bytes())
                            .map(|(_, v)| v.into_owned())
                            .next()
                            .unwrap_or_default();
                    format!("{key}={}", mask(&value))
                } else {
                    pair.to_owned()
                }
            }
            None => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A JSON value with the values of secret keys masked, at any depth.
pub fn mask_json(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) if is_secret_key(k) => Value::String(mask(s)),
                        other => mask_json(other),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(mask_json).collect()),
        other => other.clone(),
    }
}

/// A body with its secrets masked: JSON by key, forms by key, anything else as is.
pub fn mask_body(body: &str, content_type: Option<&str>) -> String {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    if (ct.contains("json") || (ct.is_empty() && body.trim_start().starts_with('{')))
        && let Ok(json) = serde_json::from_str::<Value>(body)
    {
        return mask_json(&json).to_string();
    }
    if ct.starts_with("application/x-www-form-urlencoded") {
        return mask_form(body);
    }
    body.to_owned()
}

/// Headers as recorded: (lower-case name, value) in arrival order.
pub type Headers = Vec<(String, String)>;

/// The first value of a header (case-insensitive name).
pub fn header_value<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The request side of an [`Exchange`]: headers and body already masked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestSummary {
    pub method: String,
    /// The URL as sent (raw; `Display` masks it).
    pub url: String,
    /// Masked.
    pub headers: Headers,
    /// Masked.
    pub body: Option<String>,
}

/// One HTTP request and its answer, for assertions and failure reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exchange {
    pub request: RequestSummary,
    pub status: u16,
    /// Response headers, lower-case names, raw.
    pub headers: Headers,
    /// Response body text, raw (for an SSE answer: what was read up to the first event).
    pub body: String,
    /// The body parsed as JSON (for SSE: the first event's data), when it parses.
    pub json: Option<Value>,
    /// From sending the request to the end of the body read.
    pub elapsed: std::time::Duration,
}

impl Exchange {
    /// The first value of a response header.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }

    /// Every value of a response header.
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A JSON string field of the body.
    pub fn json_str(&self, key: &str) -> Option<&str> {
        self.json.as_ref()?.get(key)?.as_str()
    }

    /// A copy with every secret masked (what `Display` prints and reports may store).
    pub fn masked(&self) -> Exchange {
        let content_type = self.header("content-type").map(str::to_owned);
        Exchange {
            request: RequestSummary {
                method: self.request.method.clone(),
                url: mask_url(&self.request.url),
                headers: self.request.headers.clone(),
                body: self.request.body.clone(),
            },
            status: self.status,
            headers: self
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), mask_header(n, v)))
                .collect(),
            body: mask_body(&self.body, content_type.as_deref()),
            json: self.json.as_ref().map(mask_json),
            elapsed: self.elapsed,
        }
    }
}

fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

fn write_body(f: &mut fmt::Formatter<'_>, prefix: &str, body: &str) -> fmt::Result {
    if body.is_empty() {
        return Ok(());
    }
    writeln!(f, "{prefix}")?;
    let shown: String = body.chars().take(DISPLAY_BODY_LIMIT).collect();
    for line in shown.lines() {
        writeln!(f, "{prefix} {line}")?;
    }
    let total = body.chars().count();
    if total > DISPLAY_BODY_LIMIT {
        writeln!(
            f,
            "{prefix} … ({} more characters)",
            total - DISPLAY_BODY_LIMIT
        )?;
    }
    Ok(())
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.masked();
        writeln!(f, "> {} {}", m.request.method, m.request.url)?;
        for (n, v) in &m.request.headers {
            writeln!(f, "> {n}: {v}")?;
        }
        if let Some(body) = &m.request.body {
            write_body(f, ">", body)?;
        }
        writeln!(f, "< {} {}", m.status, reason(m.status))?;
        for (n, v) in &m.headers {
            writeln!(f, "< {n}: {v}")?;
        }
        write_body(f, "<", &m.body)
    }
}

/// One step of a redirect chain followed by the flow client.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hop {
    pub method: String,
    /// The URL requested (raw).
    pub url: String,
    pub status: u16,
    /// The `Location` answered, resolved against `url` (raw).
    pub location: Option<String>,
    /// Response headers, lower-case names, raw.
    pub headers: Headers,
    /// From sending the request to the end of the body read.
    pub elapsed: std::time::Duration,
}

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} → {}",
            self.method,
            mask_url(&self.url),
            self.status
        )?;
        if let Some(location) = &self.location {
            write!(f, " → {}", mask_url(location))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_show_four_characters() {
        assert_eq!(mask("abcdefghijkl"), "abcd…");
        assert_eq!(mask("short"), "…");
        assert_eq!(mask("ééééééééé"), "éééé…");
    }

    #[test]
    fn masks_urls_forms_and_json() {
        assert_eq!(
            mask_url("http://c/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz&iss=http%3A%2F%2Fp"),
            "http://c/cb?code=Splx…&state=xyz&iss=http%3A%2F%2Fp"
        );
        assert_eq!(mask_url("http://c/cb"), "http://c/cb");
        assert_eq!(
            mask_url("http://c/cb#access_token=abcdefghijk&x=1"),
            "http://c/cb#access_token=abcd…&x=1"
        );
        assert_eq!(
            mask_form(
                "grant_type=refresh_token&refresh_token=rt-123456789&client_secret=s3cr%2Bt-long-value"
            ),
            "grant_type=refresh_token&refresh_token=rt-1…&client_secret=s3cr…"
        );
        assert_eq!(
            mask_json(
                &json!({"access_token":"eyJhbGciOi.x.y","nested":[{"client_secret":"0123456789"}],"n":1})
            ),
            json!({"access_token":"eyJh…","nested":[{"client_secret":"0123…"}],"n":1})
        );
    }

    #[test]
    fn masks_headers() {
        assert_eq!(
            mask_header("Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9"),
            "Bearer eyJh…"
        );
        assert_eq!(
            mask_header("authorization", "Basic dXBzdHJlYW06czNjcmV0"),
            "Basic dXBz…"
        );
        assert_eq!(mask_header("cookie", "a=0123456789; b=x"), "a=0123…; b=…");
        assert_eq!(
            mask_header("set-cookie", "__txn=0123456789abc; Path=/; HttpOnly"),
            "__txn=0123…; Path=/; HttpOnly"
        );
        assert_eq!(
            mask_header("location", "http://c/cb?code=0123456789"),
            "http://c/cb?code=0123…"
        );
        assert_eq!(mask_header("content-type", "text/html"), "text/html");
    }

    #[test]
    fn display_masks_everything() {
        let ex = Exchange {
            request: RequestSummary {
                method: "POST".into(),
                url: "http://p/token?code=0123456789".into(),
                headers: vec![(
                    "authorization".into(),
                    mask_header("authorization", "Basic dXBzdHJlYW06czNjcmV0"),
                )],
                body: Some(mask_form("code=abcdefghijkl&grant_type=authorization_code")),
            },
            status: 200,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("set-cookie".into(), "s=0123456789abcdef; Path=/".into()),
            ],
            body: r#"{"access_token":"eyJhbGciOiJIUzI1NiJ9.e30.sig","token_type":"Bearer"}"#.into(),
            json: Some(json!({"access_token":"eyJhbGciOiJIUzI1NiJ9.e30.sig"})),
            elapsed: std::time::Duration::ZERO,
        };
        let text = ex.to_string();
        assert!(text.contains("> POST http://p/token?code=0123…"), "{text}");
        assert!(text.contains("> authorization: Basic dXBz…"), "{text}");
        assert!(
            text.contains("> code=abcd…&grant_type=authorization_code"),
            "{text}"
        );
        assert!(text.contains("< 200 OK"), "{text}");
        assert!(text.contains("< set-cookie: s=0123…; Path=/"), "{text}");
        assert!(text.contains("\"access_token\":\"eyJh…\""), "{text}");
        for secret in [
            "dXBzdHJlYW06czNjcmV0",
            "abcdefghijkl",
            "0123456789",
            "e30.sig",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }
}
