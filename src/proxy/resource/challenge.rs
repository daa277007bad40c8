//! Pure pieces of the bearer guard: reading the `Authorization` header (RFC 6750 §2.1) and
//! writing the `WWW-Authenticate` challenge (RFC 6750 §3, RFC 9728 §5.1).

use axum::http::{HeaderMap, HeaderValue, header};

/// The longest bearer token the guard will hand to a verifier.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a request carries no usable bearer token. Every variant answers 401 without an
/// `error` attribute: RFC 6750 §3.1 reserves `invalid_token` for tokens that were presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoToken {
    /// No `Authorization` header.
    Missing,
    /// More than one `Authorization` header.
    Duplicated,
    /// A scheme other than `Bearer` (for example `Basic`).
    OtherScheme,
    /// `Bearer` followed by nothing, or by something that is not an RFC 6750 `b64token`.
    Malformed,
}

/// The bearer token of a request: exactly one `Authorization` header, scheme `Bearer` in any
/// case, one or more spaces, then an RFC 6750 `b64token`. Tokens in the query string or the
/// body are never looked at.
///
/// Every request on the MCP path passes here, so the token's bytes are read once (see
/// [`is_b64token_bytes`]): a `b64token` is visible ASCII, so a value whose token passes needs
/// no other check of its text.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, NoToken> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or(NoToken::Missing)?;
    if values.next().is_some() {
        return Err(NoToken::Duplicated);
    }
    let bytes = value.as_bytes();
    let Some(space) = bytes.iter().position(|&b| b == b' ') else {
        let text = value.to_str().map_err(|_| NoToken::Malformed)?;
        return Err(if text.eq_ignore_ascii_case("bearer") {
            NoToken::Malformed
        } else {
            NoToken::OtherScheme
        });
    };
    if !bytes[..space].eq_ignore_ascii_case(b"bearer") {
        // Text that is not a header string at all is malformed whatever its scheme.
        value.to_str().map_err(|_| NoToken::Malformed)?;
        return Err(NoToken::OtherScheme);
    }
    let rest = trim_spaces(&bytes[space + 1..]);
    if is_b64token_bytes(rest) {
        // Only visible ASCII passed that check, so this cannot fail.
        std::str::from_utf8(rest).map_err(|_| NoToken::Malformed)
    } else {
        Err(NoToken::Malformed)
    }
}

fn trim_spaces(mut bytes: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' '] = bytes {
        bytes = rest;
    }
    bytes
}

/// RFC 6750 §2.1: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub fn is_b64token(token: &str) -> bool {
    is_b64token_bytes(token.as_bytes())
}

/// Whether `b` may stand in a `b64token` before its trailing `=`s: ALPHA, DIGIT, `-`, `.`,
/// `_`, `~`, `+` or `/`. Written as comparisons, not a table, so that the loop over a token
/// in [`is_b64token_bytes`] becomes vector instructions.
#[inline(always)]
fn is_b64token_char(b: u8) -> bool {
    // `| 0x20` maps `A`..=`Z` onto `a`..=`z`, and nothing else into that range.
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    letter
        | digit
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

fn is_b64token_bytes(token: &[u8]) -> bool {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return false;
    }
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - padding];
    // Blocks of 32 bytes checked without an early exit inside a block (so they vectorize),
    // then the rest byte by byte.
    let mut blocks = body.chunks_exact(32);
    !body.is_empty()
        && blocks
            .by_ref()
            .all(|block| block.iter().fold(true, |ok, &b| ok & is_b64token_char(b)))
        && blocks.remainder().iter().all(|&b| is_b64token_char(b))
}

/// Text safe inside an RFC 6750 quoted attribute value: visible ASCII and space, without `"`
/// and `\` (which `error_description` may not contain at all); anything else becomes `?`.
/// Cut to `max` characters.
pub fn sanitize_attr(value: &str, max: usize) -> String {
    value
        .chars()
        .take(max)
        .map(|c| match c {
            '"' | '\\' => '\'',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

/// Builds the `WWW-Authenticate` values of one guard. `resource_metadata` and `scope` are
/// part of every challenge (scope only when the guard requires scopes).
#[derive(Debug, Clone)]
pub struct Challenge {
    base: String,
    scope: String,
}

impl Challenge {
    pub fn new(resource_metadata_url: &str, required_scopes: &[String]) -> Challenge {
        let scope = sanitize_attr(&required_scopes.join(" "), 1024);
        let mut base = format!(
            "Bearer resource_metadata=\"{}\"",
            sanitize_attr(resource_metadata_url, 2048)
        );
        if !scope.is_empty() {
            base.push_str(&format!(", scope=\"{scope}\""));
        }
        Challenge { base, scope }
    }

    /// The required scopes, space-separated (empty when none are required).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// `Bearer resource_metadata="…", scope="…"`: no token was presented.
    pub fn bare(&self) -> HeaderValue {
        header_value(&self.base)
    }

    /// The bare challenge plus `error="…", error_description="…"`.
    pub fn with_error(&self, error: &str, description: &str) -> HeaderValue {
        header_value(&format!(
            "{}, error=\"{}\", error_description=\"{}\"",
            self.base,
            sanitize_attr(error, 64),
            sanitize_attr(description, 300)
        ))
    }
}

fn header_value(text: &str) -> HeaderValue {
    // Every part went through `sanitize_attr`, so this is visible ASCII; the fallback only
    // exists to keep the function total.
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    /// What the guard read before the one-pass reader: the header as text first, then the
    /// scheme, then the token (each character against the RFC's list).
    fn reference(headers: &HeaderMap) -> Result<&str, NoToken> {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let value = values.next().ok_or(NoToken::Missing)?;
        if values.next().is_some() {
            return Err(NoToken::Duplicated);
        }
        let value = value.to_str().map_err(|_| NoToken::Malformed)?;
        let (scheme, rest) = match value.split_once(' ') {
            Some(pair) => pair,
            None if value.eq_ignore_ascii_case("bearer") => return Err(NoToken::Malformed),
            None => return Err(NoToken::OtherScheme),
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(NoToken::OtherScheme);
        }
        let token = rest.trim_matches(' ');
        let body = token.trim_end_matches('=');
        let ok = !token.is_empty()
            && token.len() <= MAX_TOKEN_LEN
            && !body.is_empty()
            && body.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
            });
        if ok {
            Ok(token)
        } else {
            Err(NoToken::Malformed)
        }
    }

    #[test]
    fn the_character_test_is_the_rfcs_list_for_every_byte() {
        for b in 0..=255u8 {
            let listed =
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
            assert_eq!(is_b64token_char(b), listed, "byte {b:#04x}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_one_pass_reader_answers_as_the_reference(
            scheme in proptest::sample::select(vec!["Bearer", "bearer", "BEARER", "Basic", "Bear", "", "Bearer\t"]),
            gap in "[ ]{0,3}",
            token in proptest::collection::vec(
                proptest::sample::select(b"aZ09-._~+/==== \t\"\x7f\x80\xff,;@[`{".to_vec()),
                0..100,
            ),
        ) {
            let mut bytes = format!("{scheme}{gap}").into_bytes();
            bytes.extend_from_slice(&token);
            if let Ok(v) = HeaderValue::from_bytes(&bytes) {
                let mut h = HeaderMap::new();
                h.insert(header::AUTHORIZATION, v);
                proptest::prop_assert_eq!(bearer_token(&h), reference(&h));
            }
        }

        #[test]
        fn long_tokens_with_a_bad_byte_anywhere(
            len in 1usize..200,
            at in proptest::prelude::any::<proptest::sample::Index>(),
            bad in proptest::sample::select(b" \"\x7f\x80,;@[`{=".to_vec()),
            inject in proptest::prelude::any::<bool>(),
        ) {
            let mut token: Vec<u8> = (0..len).map(|i| b"aZ09-._~+/"[i % 10]).collect();
            if inject {
                token[at.index(len)] = bad;
            }
            let mut bytes = b"Bearer ".to_vec();
            bytes.extend_from_slice(&token);
            // (DEL cannot stand in a header value at all.)
            let value = HeaderValue::from_bytes(&bytes);
            proptest::prop_assume!(value.is_ok());
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, value.unwrap());
            proptest::prop_assert_eq!(bearer_token(&h), reference(&h));
        }
    }

    #[test]
    fn reads_bearer_in_any_case() {
        assert_eq!(
            bearer_token(&auth(&["Bearer abc.def-_~+/=="])),
            Ok("abc.def-_~+/==")
        );
        assert_eq!(bearer_token(&auth(&["bearer abc"])), Ok("abc"));
        assert_eq!(bearer_token(&auth(&["BEARER   abc  "])), Ok("abc"));
    }

    #[test]
    fn rejects_everything_else() {
        assert_eq!(bearer_token(&HeaderMap::new()), Err(NoToken::Missing));
        assert_eq!(
            bearer_token(&auth(&["Bearer a", "Bearer b"])),
            Err(NoToken::Duplicated)
        );
        assert_eq!(
            bearer_token(&auth(&["Basic YTpi"])),
            Err(NoToken::OtherScheme)
        );
        assert_eq!(bearer_token(&auth(&["Token"])), Err(NoToken::OtherScheme));
        assert_eq!(bearer_token(&auth(&["Bearer"])), Err(NoToken::Malformed));
        assert_eq!(bearer_token(&auth(&["Bearer "])), Err(NoToken::Malformed));
        assert_eq!(
            bearer_token(&auth(&["Bearer a b"])),
            Err(NoToken::Malformed)
        );
        assert_eq!(
            bearer_token(&auth(&["Bearer a\"b"])),
            Err(NoToken::Malformed)
        );
        assert_eq!(
            bearer_token(&auth(&["Bearer ==="])),
            Err(NoToken::Malformed)
        );
        assert_eq!(
            bearer_token(&auth(&["Bearer a=b"])),
            Err(NoToken::Malformed)
        );
        assert_eq!(
            bearer_token(&auth(&["Bearerabc"])),
            Err(NoToken::OtherScheme)
        );
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
        assert_eq!(bearer_token(&auth(&[&long])), Err(NoToken::Malformed));
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xff").unwrap(),
        );
        assert_eq!(bearer_token(&h), Err(NoToken::Malformed));
    }

    #[test]
    fn challenge_shapes() {
        let c = Challenge::new(
            "http://h/.well-known/oauth-protected-resource/mcp",
            &["openid".into(), "email".into()],
        );
        assert_eq!(
            c.bare(),
            "Bearer resource_metadata=\"http://h/.well-known/oauth-protected-resource/mcp\", scope=\"openid email\""
        );
        assert_eq!(
            c.with_error("invalid_token", "bad \"sig\"\n"),
            "Bearer resource_metadata=\"http://h/.well-known/oauth-protected-resource/mcp\", scope=\"openid email\", error=\"invalid_token\", error_description=\"bad 'sig'?\""
        );
        let none = Challenge::new("http://h/m", &[]);
        assert_eq!(none.bare(), "Bearer resource_metadata=\"http://h/m\"");
        assert_eq!(none.scope(), "");
    }

    #[test]
    fn sanitize_keeps_only_safe_ascii() {
        assert_eq!(sanitize_attr("é\\\"\tok", 10), "?''?ok");
        assert_eq!(sanitize_attr("abcdef", 3), "abc");
    }
}
