//! The "rejected outright" rules: checks on the raw string and on the parsed URL that no
//! allow-list can override.

use super::Rejection;
use url::Url;

/// Schemes that are never acceptable for a redirect URI, whatever a pattern says.
pub const UNSAFE_SCHEMES: [&str; 5] = ["javascript", "data", "file", "vbscript", "blob"];

/// Is `scheme` one of [`UNSAFE_SCHEMES`] (compared case-insensitively)?
pub fn is_unsafe_scheme(scheme: &str) -> bool {
    UNSAFE_SCHEMES
        .iter()
        .any(|unsafe_scheme| unsafe_scheme.eq_ignore_ascii_case(scheme))
}

/// WHATWG "special" schemes: their authority may be introduced by any run of `/` and `\`,
/// and `\` separates path segments.
pub(super) fn is_special_scheme(scheme: &str) -> bool {
    ["http", "https", "ws", "wss", "ftp", "file"]
        .iter()
        .any(|special| special.eq_ignore_ascii_case(scheme))
}

/// Parse `uri` with `url::Url` and apply every rule that rejects a redirect URI outright:
/// control characters or whitespace anywhere in the original string, parse failure, an
/// unsafe scheme, userinfo, a fragment (even an empty `#`), or a `.`/`..` path segment
/// (raw or percent-encoded). Dot segments and whitespace are checked on the raw string,
/// because `url::Url` silently removes or strips them.
pub fn check_safe(uri: &str) -> Result<Url, Rejection> {
    if let Some((index, ch)) = uri
        .char_indices()
        .find(|(_, c)| c.is_control() || c.is_whitespace())
    {
        return Err(Rejection::ControlOrWhitespace { index, ch });
    }
    let url = Url::parse(uri).map_err(|e| Rejection::Unparseable {
        reason: e.to_string(),
    })?;
    check_url(&url)?;
    // `url` drops an empty userinfo (`http://@evil.com`): look at the raw authority too.
    let parts = RawParts::split(uri);
    if let Some(authority) = parts.authority
        && authority.contains('@')
    {
        let userinfo = authority.rsplit_once('@').map_or("", |(u, _)| u);
        return Err(Rejection::Userinfo {
            userinfo: mask_password(userinfo),
            host: url.host_str().unwrap_or_default().to_owned(),
        });
    }
    if let Some(segment) = find_dot_segment(parts.path, parts.special) {
        return Err(Rejection::DotSegment {
            segment,
            path: parts.path.to_owned(),
        });
    }
    Ok(url)
}

/// The rules that can still be checked on an already-parsed URL: unsafe scheme, userinfo,
/// fragment. (Dot segments and whitespace are gone after parsing; see [`check_safe`].)
pub fn check_url(url: &Url) -> Result<(), Rejection> {
    if is_unsafe_scheme(url.scheme()) {
        return Err(Rejection::UnsafeScheme {
            scheme: url.scheme().to_owned(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        let userinfo = match url.password() {
            Some(_) => format!("{}:***", url.username()),
            None => url.username().to_owned(),
        };
        return Err(Rejection::Userinfo {
            userinfo,
            host: url.host_str().unwrap_or_default().to_owned(),
        });
    }
    if let Some(fragment) = url.fragment() {
        return Err(Rejection::Fragment {
            fragment: fragment.to_owned(),
        });
    }
    Ok(())
}

fn mask_password(userinfo: &str) -> String {
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => userinfo.to_owned(),
    }
}

/// A raw (unparsed) URL string cut into the parts the raw checks need.
pub(super) struct RawParts<'a> {
    pub special: bool,
    pub authority: Option<&'a str>,
    pub path: &'a str,
}

impl<'a> RawParts<'a> {
    /// Split like the WHATWG parser does for an absolute URL: `scheme:`, then (for special
    /// schemes, after any run of `/` and `\`; otherwise after exactly `//`) the authority,
    /// then the path up to `?` or `#`.
    pub fn split(raw: &'a str) -> Self {
        let Some((scheme, rest)) = raw.split_once(':') else {
            return RawParts {
                special: false,
                authority: None,
                path: until_any(raw, &['?', '#']),
            };
        };
        let special = is_special_scheme(scheme);
        let (authority, after) = if special {
            let rest = rest.trim_start_matches(['/', '\\']);
            let end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
            (Some(&rest[..end]), &rest[end..])
        } else if let Some(rest) = rest.strip_prefix("//") {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            (Some(&rest[..end]), &rest[end..])
        } else {
            (None, rest)
        };
        RawParts {
            special,
            authority,
            path: until_any(after, &['?', '#']),
        }
    }
}

fn until_any<'a>(s: &'a str, stops: &[char]) -> &'a str {
    s.find(stops).map_or(s, |end| &s[..end])
}

/// Find a `.` or `..` segment in a raw path, raw or percent-encoded (`%2e`, `.%2E`, …, also
/// encoded more than once, or hidden behind an encoded `/`). Returns the offending segment.
pub(super) fn find_dot_segment(path: &str, special: bool) -> Option<String> {
    let is_sep = |c: char| c == '/' || (special && c == '\\');
    // Each raw segment, percent-decoded until stable.
    for segment in path.split(is_sep) {
        let decoded = decode_fully(segment.as_bytes());
        if decoded == b"." || decoded == b".." {
            return Some(segment.to_owned());
        }
    }
    // The whole path decoded, then split: catches `%2F..%2F` and `%5C..`.
    let decoded = decode_fully(path.as_bytes());
    decoded
        .split(|b| *b == b'/' || *b == b'\\')
        .find(|s| *s == b"." || *s == b"..")
        .map(|s| String::from_utf8_lossy(s).into_owned())
}

/// Percent-decode repeatedly (bounded) until nothing changes.
fn decode_fully(input: &[u8]) -> Vec<u8> {
    let mut current = input.to_vec();
    for _ in 0..8 {
        let next = percent_decode(&current);
        if next == current {
            break;
        }
        current = next;
    }
    current
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && let (Some(h), Some(l)) = (
                input.get(i + 1).and_then(|b| hex(*b)),
                input.get(i + 2).and_then(|b| hex(*b)),
            )
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Escape control characters and whitespace other than a plain space, so that text that
/// came from input always prints on one line.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || (c.is_whitespace() && c != ' ') {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// "a line feed (U+000A)" and so on, for messages.
pub(super) fn describe_char(c: char) -> String {
    let name = match c {
        ' ' => "a space",
        '\t' => "a tab",
        '\n' => "a line feed",
        '\r' => "a carriage return",
        '\u{0}' => "a NUL character",
        c if c.is_control() => "the control character",
        _ => "the whitespace character",
    };
    format!("{name} (U+{:04X})", c as u32)
}
