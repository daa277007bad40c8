//! OAuth client authentication at a token endpoint (RFC 6749 §2.3.1).

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How a client authenticates at a token (or revocation) endpoint.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic with the form-urlencoded id and secret.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client: `client_id` in the form body only.
    None,
}

impl ClientAuthMethod {
    /// The registered name (RFC 7591 §2).
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::None => "none",
        }
    }
}

impl fmt::Display for ClientAuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClientAuthMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "client_secret_basic" => Ok(ClientAuthMethod::ClientSecretBasic),
            "client_secret_post" => Ok(ClientAuthMethod::ClientSecretPost),
            "none" => Ok(ClientAuthMethod::None),
            other => Err(format!(
                "unsupported token_endpoint_auth_method {other:?} \
                 (expected client_secret_basic, client_secret_post or none)"
            )),
        }
    }
}

/// The `Authorization` header value for client_secret_basic: `Basic base64(urlenc(id):urlenc(secret))`,
/// each part form-urlencoded first as RFC 6749 §2.3.1 requires.
pub fn basic_header(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let raw = format!("{}:{}", enc(id), enc(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Decode an `Authorization: Basic …` header into the (form-urldecoded) id and secret.
/// `None` when the header is not Basic or is malformed.
pub fn decode_basic(header: &str) -> Option<(String, String)> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (id, secret) = raw.split_once(':')?;
    Some((form_urldecode(id)?, form_urldecode(secret)?))
}

/// Decode one application/x-www-form-urlencoded component (`+` is a space).
fn form_urldecode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn basic_encodes_special_characters_first() {
        // The same value openidconnect/oauth2 send (rust-deps.md §4 caveat 5).
        let h = basic_header("client-1", "s3cr3t:/&");
        let b64 = h.strip_prefix("Basic ").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(String::from_utf8(raw).unwrap(), "client-1:s3cr3t%3A%2F%26");
        assert_eq!(
            decode_basic(&h),
            Some(("client-1".into(), "s3cr3t:/&".into()))
        );
    }

    #[test]
    fn plain_secret_is_unchanged() {
        let h = basic_header("upstream-app", "s3cret");
        assert_eq!(h, "Basic dXBzdHJlYW0tYXBwOnMzY3JldA==");
    }

    #[test]
    fn decode_rejects_garbage() {
        assert_eq!(decode_basic("Bearer abc"), None);
        assert_eq!(decode_basic("Basic !!!"), None);
        assert_eq!(decode_basic("Basic bm9jb2xvbg=="), None); // "nocolon"
        assert_eq!(decode_basic("Basic YSUyOmI="), None); // "a%2:b": bad escape
        assert_eq!(decode_basic("basic YTpi"), Some(("a".into(), "b".into())));
        assert_eq!(
            decode_basic("Basic YSUzQWI6Yw=="),
            Some(("a:b".into(), "c".into()))
        );
    }

    #[test]
    fn method_names() {
        for m in [
            ClientAuthMethod::ClientSecretBasic,
            ClientAuthMethod::ClientSecretPost,
            ClientAuthMethod::None,
        ] {
            assert_eq!(m.as_str().parse::<ClientAuthMethod>(), Ok(m));
        }
        assert!("private_key_jwt".parse::<ClientAuthMethod>().is_err());
    }

    proptest! {
        #[test]
        fn basic_roundtrip(id in "\\PC{0,20}", secret in "\\PC{0,40}") {
            prop_assert_eq!(decode_basic(&basic_header(&id, &secret)), Some((id, secret)));
        }
    }
}
