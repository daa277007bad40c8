//! Allow-list patterns: a URL in which `*` may be the whole port, the leftmost host label or
//! any run of characters in the path. Parsed by hand (`url::Url` rejects `:*`), with the
//! host and path normalised through `url::Url` so that both sides compare alike.

use super::loopback::is_loopback_host;
use super::safe::{self, find_dot_segment, is_special_scheme, is_unsafe_scheme, printable};
use std::fmt;
use std::str::FromStr;
use url::{Host, Url};

/// One entry of `allowed_client_redirect_uris`, e.g. `http://localhost:*`,
/// `https://*.example.com/callback`, `https://app.example.com/oauth/*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectPattern {
    raw: String,
    scheme: String,
    host: PatternHost,
    port: PatternPort,
    path: String,
    loopback: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PatternHost {
    /// `com.example.app:/callback`: no authority at all.
    None,
    /// The normalised host key (see [`host_key`]).
    Exact(String),
    /// `*.example.com`: exactly one label in front of this normalised suffix.
    OneLabelUnder(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatternPort {
    /// No port written: the scheme's default, or any port for a loopback host.
    Unspecified,
    /// `:*`
    Any,
    Exact(u16),
}

/// Why a string is not a valid [`RedirectPattern`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid redirect pattern `{pattern}`: {message}")]
pub struct PatternError {
    /// The pattern as given (control characters escaped).
    pub pattern: String,
    /// What is wrong with it.
    pub message: String,
}

impl PatternError {
    fn new(pattern: &str, message: impl Into<String>) -> Self {
        PatternError {
            pattern: printable(pattern),
            message: message.into(),
        }
    }
}

impl FromStr for RedirectPattern {
    type Err = PatternError;

    fn from_str(raw: &str) -> Result<Self, PatternError> {
        let err = |message: &str| PatternError::new(raw, message);
        if raw.is_empty() {
            return Err(err("the pattern is empty"));
        }
        if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(err("control characters and whitespace are not allowed"));
        }
        if raw.contains('#') {
            return Err(err("a fragment (`#…`) is not allowed"));
        }
        if raw.contains('?') {
            return Err(err(
                "a query (`?…`) is not allowed; queries are ignored when matching",
            ));
        }
        if raw.contains('\\') {
            return Err(err("a backslash is not allowed"));
        }
        let Some((scheme, rest)) = raw.split_once(':') else {
            return Err(err("it has no scheme (write e.g. `https://host/path`)"));
        };
        if scheme.contains('*') {
            return Err(err("`*` is not allowed in the scheme"));
        }
        let valid_scheme = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !valid_scheme {
            return Err(err(&format!("`{scheme}` is not a valid URL scheme")));
        }
        let scheme = scheme.to_ascii_lowercase();
        if is_unsafe_scheme(&scheme) {
            return Err(err(&format!(
                "the scheme `{scheme}:` is never allowed for a redirect URI"
            )));
        }
        let special = is_special_scheme(&scheme);

        let (authority, path) = match rest.strip_prefix("//") {
            Some(rest) => {
                let end = rest.find('/').unwrap_or(rest.len());
                (Some(&rest[..end]), &rest[end..])
            }
            None if special => {
                return Err(err(&format!(
                    "a `{scheme}` pattern needs `//` and a host, as in `{scheme}://host/path`"
                )));
            }
            None if rest.split('/').next().is_some_and(|p| {
                !p.is_empty() && (p == "*" || p.bytes().all(|b| b.is_ascii_digit()))
            }) =>
            {
                return Err(err(&format!(
                    "`{scheme}:{rest}` looks like host:port without a scheme; \
                     write e.g. `http://{scheme}:{rest}`"
                )));
            }
            None => (None, rest),
        };
        if find_dot_segment(path, special).is_some() {
            return Err(err(
                "`.` and `..` path segments (raw or percent-encoded) are not allowed",
            ));
        }

        let Some(authority) = authority else {
            let url = Url::parse(&format!("{scheme}:{path}"))
                .map_err(|e| err(&format!("it is not a valid URL ({e})")))?;
            return Ok(RedirectPattern {
                raw: raw.to_owned(),
                scheme,
                host: PatternHost::None,
                port: PatternPort::Unspecified,
                path: url.path().to_owned(),
                loopback: false,
            });
        };

        if authority.contains('@') {
            return Err(err("userinfo (`user@`) is not allowed"));
        }
        let (host, port) = split_host_port(authority).map_err(|m| err(&m))?;
        if host.is_empty() {
            return Err(err("the host is missing"));
        }
        let port = match port {
            None => PatternPort::Unspecified,
            Some("*") => PatternPort::Any,
            Some("") => {
                return Err(err(
                    "the port is empty (leave out the `:` or write `:*` for any port)",
                ));
            }
            Some(p) if p.contains('*') => {
                return Err(err("`*` may only stand for the whole port, as in `:*`"));
            }
            Some(p) => match p.parse::<u16>() {
                Ok(n) if p.bytes().all(|b| b.is_ascii_digit()) => PatternPort::Exact(n),
                _ => return Err(err(&format!("`{p}` is not a port number (0-65535)"))),
            },
        };
        let (wildcard, host_text) = match host.strip_prefix("*.") {
            Some(suffix) => (true, suffix),
            None => (false, host),
        };
        if host_text.contains('*') {
            return Err(err(
                "`*` may only be the whole leftmost host label, as in `*.example.com`",
            ));
        }
        if wildcard && host_text.trim_end_matches('.').is_empty() {
            return Err(err("`*.` must be followed by a domain name"));
        }
        let port_text = match port {
            PatternPort::Exact(n) => format!(":{n}"),
            _ => String::new(),
        };
        let url = Url::parse(&format!("{scheme}://{host_text}{port_text}{path}"))
            .map_err(|e| err(&format!("it is not a valid URL ({e})")))?;
        let parsed_host = url.host().ok_or_else(|| err("the host is missing"))?;
        let key = host_key(&parsed_host);
        let (host, loopback) = if wildcard {
            if !matches!(parsed_host, Host::Domain(_)) {
                return Err(err(
                    "a `*.` host wildcard needs a domain name after it, not an IP address",
                ));
            }
            if !key.contains('.') && key != "localhost" {
                return Err(err(&format!(
                    "`*.{key}` would match domains under a top-level domain; \
                     name at least two labels after `*.`"
                )));
            }
            let loopback = key == "localhost" || key.ends_with(".localhost");
            (PatternHost::OneLabelUnder(key), loopback)
        } else {
            (PatternHost::Exact(key), is_loopback_host(&parsed_host))
        };
        Ok(RedirectPattern {
            raw: raw.to_owned(),
            scheme,
            host,
            port,
            path: url.path().to_owned(),
            loopback,
        })
    }
}

/// Split `host[:port]` / `[v6][:port]`; the port is whatever follows the last `:`.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if authority.starts_with('[') {
        let Some(close) = authority.find(']') else {
            return Err("the IPv6 address has no closing `]`".to_owned());
        };
        let (host, after) = authority.split_at(close + 1);
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(format!("unexpected `{after}` after the IPv6 address")),
            },
        };
    }
    Ok(match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

/// The comparison key of a host: lower case, one trailing dot removed; IPv6 in brackets.
/// Domains of special schemes are already IDNA-normalised by `url`.
pub(super) fn host_key(host: &Host<&str>) -> String {
    match host {
        Host::Domain(d) => {
            let lower = d.to_ascii_lowercase();
            match lower.strip_suffix('.') {
                Some(stripped) => stripped.to_owned(),
                None => lower,
            }
        }
        Host::Ipv4(a) => a.to_string(),
        Host::Ipv6(a) => format!("[{a}]"),
    }
}

/// Default ports as `url` knows them (http 80, https 443, ws 80, wss 443, ftp 21).
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        "ftp" => Some(21),
        _ => None,
    }
}

impl RedirectPattern {
    /// The pattern exactly as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The pattern's scheme, lower case.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// Is the pattern's host a loopback host (then a pattern without a port matches any port)?
    pub fn is_loopback(&self) -> bool {
        self.loopback
    }

    /// Does the pattern contain a `*` anywhere?
    pub fn has_wildcard(&self) -> bool {
        self.raw.contains('*')
    }

    /// Does this already-parsed URL match? Checks the URL-level safety rules (scheme,
    /// userinfo, fragment) as well; use [`super::pattern_matches`] on a raw string to get the
    /// raw-string rules (dot segments, whitespace) too.
    pub fn matches(&self, url: &Url) -> bool {
        self.explain_miss(url).is_ok()
    }

    /// `Ok(())` on a match, otherwise which component differs, as a short phrase.
    pub fn explain_miss(&self, url: &Url) -> Result<(), String> {
        if let Err(rejection) = safe::check_url(url) {
            return Err(rejection.to_string());
        }
        if url.scheme() != self.scheme {
            return Err(format!(
                "scheme `{}` is not `{}`",
                url.scheme(),
                self.scheme
            ));
        }
        match (&self.host, url.host()) {
            (PatternHost::None, None) => {}
            (PatternHost::None, Some(h)) => {
                return Err(format!("the pattern has no host, the URI has host `{h}`"));
            }
            (_, None) => return Err("the URI has no host".to_owned()),
            (PatternHost::Exact(want), Some(h)) => {
                let got = host_key(&h);
                if &got != want {
                    return Err(format!("host `{got}` is not `{want}`"));
                }
            }
            (PatternHost::OneLabelUnder(suffix), Some(h)) => {
                let got = host_key(&h);
                let label = match h {
                    Host::Domain(_) => got
                        .strip_suffix(suffix.as_str())
                        .and_then(|l| l.strip_suffix('.')),
                    _ => None,
                };
                if !label.is_some_and(|l| !l.is_empty() && !l.contains('.')) {
                    return Err(format!(
                        "host `{got}` is not exactly one label under `{suffix}`"
                    ));
                }
            }
        }
        let port = url.port_or_known_default();
        let port_ok = match self.port {
            PatternPort::Any => true,
            PatternPort::Exact(want) => port == Some(want),
            PatternPort::Unspecified => self.loopback || port == default_port(&self.scheme),
        };
        if !port_ok {
            let want = match self.port {
                PatternPort::Exact(n) => n.to_string(),
                _ => default_port(&self.scheme).map_or("none".to_owned(), |n| n.to_string()),
            };
            let got = port.map_or("none".to_owned(), |n| n.to_string());
            return Err(format!("port {got} is not {want}"));
        }
        let any_path = self.path.is_empty() || self.path == "/";
        if !any_path && !glob(&self.path, url.path()) {
            return Err(format!(
                "path `{}` does not match `{}`",
                url.path(),
                self.path
            ));
        }
        Ok(())
    }
}

impl fmt::Display for RedirectPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// `*` matches any run of bytes (including `/`); everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((star, mark)) = backtrack {
            pi = star + 1;
            ti = mark + 1;
            backtrack = Some((star, mark + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|b| *b == b'*')
}

#[cfg(test)]
pub(super) fn glob_for_tests(pattern: &str, text: &str) -> bool {
    glob(pattern, text)
}
