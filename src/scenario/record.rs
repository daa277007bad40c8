//! HTTP exchanges as shown in failure reports (Hurl-style), and secret masking.

use serde::Serialize;
use std::collections::BTreeSet;

/// One HTTP request and its response, for reports.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ExchangeRecord {
    pub method: String,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<String>,
    pub status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Option<String>,
    /// A transport error instead of a response.
    pub error: Option<String>,
}

const BODY_LIMIT: usize = 2000;

fn cut(s: &str, limit: usize) -> String {
    if s.len() <= limit {
        return s.to_string();
    }
    let mut i = limit;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    format!("{}… ({} bytes)", &s[..i], s.len())
}

fn is_sensitive_header(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "authorization" | "cookie" | "set-cookie" | "proxy-authorization"
    )
}

fn mask_header(name: &str, value: &str, masker: &Masker) -> String {
    if is_sensitive_header(name) {
        if let Some((scheme, _)) = value.split_once(' ')
            && name.eq_ignore_ascii_case("authorization")
        {
            return format!("{scheme} ***");
        }
        if let Some((cookie, rest)) = value.split_once('=') {
            let attrs = rest
                .split_once(';')
                .map(|(_, a)| format!(";{a}"))
                .unwrap_or_default();
            return format!("{cookie}=***{attrs}");
        }
        return "***".into();
    }
    masker.mask(value)
}

impl ExchangeRecord {
    /// The exchange as text, secrets masked.
    pub fn render(&self, masker: &Masker) -> String {
        let mut out = String::new();
        out.push_str(&format!("> {} {}\n", self.method, masker.mask(&self.url)));
        for (k, v) in &self.request_headers {
            out.push_str(&format!("> {k}: {}\n", mask_header(k, v, masker)));
        }
        if let Some(b) = &self.request_body
            && !b.is_empty()
        {
            out.push_str(">\n");
            for line in cut(&masker.mask(b), BODY_LIMIT).lines() {
                out.push_str(&format!("> {line}\n"));
            }
        }
        if let Some(e) = &self.error {
            out.push_str(&format!("! {}\n", masker.mask(e)));
            return out;
        }
        if let Some(s) = self.status {
            let reason = reqwest::StatusCode::from_u16(s)
                .ok()
                .and_then(|c| c.canonical_reason())
                .unwrap_or("");
            out.push_str(&format!("< {s} {reason}\n"));
        }
        for (k, v) in &self.response_headers {
            out.push_str(&format!("< {k}: {}\n", mask_header(k, v, masker)));
        }
        if let Some(b) = &self.response_body
            && !b.is_empty()
        {
            out.push_str("<\n");
            for line in cut(&masker.mask(b), BODY_LIMIT).lines() {
                out.push_str(&format!("< {line}\n"));
            }
        }
        out
    }
}

/// Replaces known secrets (client secrets, tokens, codes, verifiers) with `***`.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    secrets: BTreeSet<String>,
}

/// JSON fields whose string values are secrets wherever they appear.
pub const SECRET_FIELDS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "code",
    "code_verifier",
    "registration_access_token",
    "jwt_signing_key",
    "secret",
    "token",
    "device_code",
];

impl Masker {
    /// Remember a secret (values shorter than 5 characters are not masked: too common).
    pub fn add(&mut self, secret: &str) {
        let s = secret.trim();
        if s.len() >= 5 {
            self.secrets.insert(s.to_string());
            let encoded: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
            if encoded != s {
                self.secrets.insert(encoded);
            }
        }
    }

    /// Remember every secret-looking field of a JSON document (recursively).
    pub fn add_from_json(&mut self, v: &serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, val) in map {
                    if let serde_json::Value::String(s) = val
                        && SECRET_FIELDS.contains(&k.as_str())
                    {
                        self.add(s);
                    } else {
                        self.add_from_json(val);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| self.add_from_json(i)),
            _ => {}
        }
    }

    pub fn mask(&self, text: &str) -> String {
        if self.secrets.is_empty() {
            return text.to_string();
        }
        // Longest first, so a secret that contains another is masked whole.
        let mut secrets: Vec<&String> = self.secrets.iter().collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = text.to_string();
        for s in secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }

    pub fn merge(&mut self, other: &Masker) {
        self.secrets.extend(other.secrets.iter().cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_secrets_tokens_and_headers() {
        let mut m = Masker::default();
        m.add("s3cret");
        m.add_from_json(&json!({"access_token": "eyJabc.def.ghi", "nested": [{"code": "the-code-1"}], "client_id": "public-id"}));
        let ex = ExchangeRecord {
            method: "POST".into(),
            url: "http://127.0.0.1:1/token?x=the-code-1".into(),
            request_headers: vec![
                (
                    "authorization".into(),
                    "Basic dXBzdHJlYW0tYXBwOnMzY3JldA==".into(),
                ),
                ("cookie".into(), "sid=abc123; other=1".into()),
            ],
            request_body: Some("client_id=public-id&client_secret=s3cret&code=the-code-1".into()),
            status: Some(200),
            response_headers: vec![("set-cookie".into(), "sid=zzz; HttpOnly".into())],
            response_body: Some(r#"{"access_token":"eyJabc.def.ghi"}"#.into()),
            error: None,
        };
        let text = ex.render(&m);
        assert!(!text.contains("s3cret"), "{text}");
        assert!(!text.contains("the-code-1"), "{text}");
        assert!(!text.contains("eyJabc"), "{text}");
        assert!(!text.contains("dXBzdHJl"), "{text}");
        assert!(!text.contains("zzz"), "{text}");
        assert!(text.contains("client_id=public-id"), "{text}");
        assert!(text.contains("< 200 OK"), "{text}");
        assert!(text.contains("> authorization: Basic ***"), "{text}");
        assert!(text.contains("< set-cookie: sid=***; HttpOnly"), "{text}");
    }
}
