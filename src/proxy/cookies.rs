//! The proxy's browser cookies: `__Host-` names on https, always HttpOnly and SameSite=Lax,
//! Secure on https. Values are random tokens; what they mean is stored server-side (by hash).

use axum::http::{HeaderMap, HeaderValue, header};
use std::time::Duration;

/// The cookie that binds the consent form to the browser (CSRF double submit).
pub const CSRF: &str = "csrf";
/// The cookie that binds an upstream flow to the browser that approved it.
pub const BINDING: &str = "binding";
/// The per-browser secret remembered consents are keyed by (`consent: remember`).
pub const BROWSER: &str = "browser";

/// Cookie naming and attributes for one proxy.
#[derive(Debug, Clone)]
pub struct Cookies {
    secure: bool,
}

impl Cookies {
    /// `secure` when base_url is https.
    pub fn new(secure: bool) -> Self {
        Self { secure }
    }

    /// The full cookie name for `base`.
    pub fn name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-authproof-{base}")
        } else {
            format!("authproof-{base}")
        }
    }

    /// A `Set-Cookie` value.
    pub fn set(&self, base: &str, value: &str, max_age: Duration) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let v = format!(
            "{}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
            self.name(base),
            max_age.as_secs()
        );
        HeaderValue::from_str(&v)
            .unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
    }

    /// A `Set-Cookie` value that deletes the cookie.
    pub fn clear(&self, base: &str) -> HeaderValue {
        self.set(base, "", Duration::ZERO)
    }

    /// The cookie's value from the request, if present and well-formed (a random token).
    pub fn get(&self, headers: &HeaderMap, base: &str) -> Option<String> {
        let name = self.name(base);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim().trim_matches('"').to_string())
            .filter(|v| is_token(v))
    }
}

fn is_token(v: &str) -> bool {
    (16..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_attributes() {
        let https = Cookies::new(true);
        let v = https.set(CSRF, "abcdefghijklmnopqrstuvwxyz", Duration::from_secs(600));
        assert_eq!(
            v,
            "__Host-authproof-csrf=abcdefghijklmnopqrstuvwxyz; Path=/; Max-Age=600; HttpOnly; SameSite=Lax; Secure"
        );
        let http = Cookies::new(false);
        assert_eq!(http.name(BINDING), "authproof-binding");
        assert!(
            !http
                .set(BINDING, "x", Duration::from_secs(1))
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }

    #[test]
    fn reads_only_well_formed_values() {
        let c = Cookies::new(true);
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static(
                "authproof-csrf=aaaaaaaaaaaaaaaaaaaa; __Host-authproof-csrf=bbbbbbbbbbbbbbbbbbbb",
            ),
        );
        // On https only the __Host- name counts.
        assert_eq!(c.get(&h, CSRF).as_deref(), Some("bbbbbbbbbbbbbbbbbbbb"));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("__Host-authproof-csrf=short"),
        );
        assert_eq!(c.get(&h, CSRF), None);
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("__Host-authproof-csrf=<script>aaaaaaaaaaaaaa"),
        );
        assert_eq!(c.get(&h, CSRF), None);
    }
}
