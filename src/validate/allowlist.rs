//! `allowed_client_redirect_uris` sanity: wildcard hosts, http to remote hosts, and patterns
//! broader than they look.
//!
//! Claims are never made from the pattern text alone: each suspicion is turned into a sample
//! URI (a host one label under a `*.` suffix, another port, another path, a path that
//! continues a `*` segment) and put through the proxy's own matcher
//! ([`crate::proxy::redirect::pattern_matches`]); only samples the proxy would accept are
//! reported, and the finding names the sample.

use super::Context;
use super::catalogue::entry;
use super::finding::Finding;
use crate::proxy::redirect::{
    AllowList, RedirectPattern, check_registration_any_app, pattern_matches,
};

const KEY: &str = "allowed_client_redirect_uris";

/// The allow-list checks (none in AuthKit mode: clients register at AuthKit there).
pub fn check(ctx: &Context) -> Vec<Finding> {
    let c = &ctx.written;
    if c.provider.is_remote_auth() {
        return Vec::new();
    }
    let mut f = Vec::new();
    let Some(list) = &c.allowed_client_redirect_uris else {
        f.push(
            Finding::new(
                entry!("static.allowlist_absent"),
                "allowed_client_redirect_uris is not set: any safe redirect URI may be registered (what hosted clients such as Claude.ai and ChatGPT need); the consent screen is then what stops a malicious client",
                "To restrict registrations, list patterns, e.g. [\"http://localhost:*\", \"http://127.0.0.1:*\", \"https://claude.ai/api/mcp/auth_callback\"]",
            )
            .key(KEY),
        );
        return f;
    };
    if list.is_empty() {
        f.push(
            Finding::new(
                entry!("static.allowlist_deny_all"),
                "allowed_client_redirect_uris is []: no MCP client can register or be redirected, so nobody can log in",
                "List the redirect URIs (patterns) your clients use, or remove the key to allow any safe URI",
            )
            .key(KEY),
        );
        return f;
    }
    let mut patterns = Vec::new();
    for raw in list {
        match raw.parse::<RedirectPattern>() {
            Ok(p) => {
                pattern_findings(&p, &mut f);
                patterns.push(p);
            }
            Err(e) => f.push(
                Finding::new(
                    entry!("static.allowlist_invalid_pattern"),
                    e.to_string(),
                    "Write patterns as URLs where `*` is the whole port, the leftmost host label or part of the path, e.g. http://localhost:* or https://*.example.com/callback",
                )
                .key(KEY),
            ),
        }
    }
    if !patterns.is_empty() {
        let allow = AllowList::Patterns(patterns);
        loopback_variants(&allow, &mut f);
        known_clients(&allow, &mut f);
    }
    f
}

/// A pattern split into its written parts (it already parsed as a [`RedirectPattern`]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts<'a> {
    scheme: &'a str,
    host: Option<&'a str>,
    port: Option<&'a str>,
    path: &'a str,
}

fn split(raw: &str) -> Option<Parts<'_>> {
    let (scheme, rest) = raw.split_once(':')?;
    let Some(rest) = rest.strip_prefix("//") else {
        return Some(Parts {
            scheme,
            host: None,
            port: None,
            path: rest,
        });
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (host, port) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(i) => {
                let (h, p) = authority.split_at(i + 1);
                (h, p.strip_prefix(':'))
            }
            None => (authority, None),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    Some(Parts {
        scheme,
        host: Some(host),
        port,
        path,
    })
}

impl Parts<'_> {
    /// A URI from these parts: the host's `*` label, a `*` port and each path `*` replaced.
    fn sample(&self, label: &str, port: &str, path: &str) -> String {
        let mut s = format!("{}:", self.scheme);
        if let Some(h) = self.host {
            s.push_str("//");
            s.push_str(&h.replacen('*', label, 1));
            match self.port {
                Some("*") => s.push_str(&format!(":{port}")),
                Some(p) => s.push_str(&format!(":{p}")),
                None => {}
            }
        }
        s.push_str(path);
        s
    }
}

fn pattern_findings(p: &RedirectPattern, f: &mut Vec<Finding>) {
    let Some(parts) = split(p.as_str()) else {
        return;
    };
    let raw = p.as_str();
    let web = matches!(p.scheme(), "http" | "https");
    let remote = web && !p.is_loopback();
    let plain_path = parts.path.replace('*', "x");
    if p.scheme() == "http" && !p.is_loopback() {
        f.push(
            Finding::new(
                entry!("static.allowlist_http_non_loopback"),
                format!(
                    "{raw} allows plain-http redirects to a non-loopback host: authorization codes would cross the network in clear"
                ),
                "Use https for remote redirect URIs; keep http only for localhost / 127.0.0.1",
            )
            .key(KEY),
        );
    }
    if let Some(suffix) = parts.host.and_then(|h| h.strip_prefix("*.")) {
        let sample = parts.sample("authproof-probe", "8443", &plain_path);
        // (`*.com` never gets here: the pattern parser refuses wildcards over a TLD.)
        if pattern_matches(p, &sample) && is_public_suffix(suffix) {
            f.push(
                Finding::new(
                    entry!("static.allowlist_wildcard_public_suffix"),
                    format!(
                        "{raw} accepts any host directly under {suffix}, a public suffix (Public Suffix List): anyone can create a host there (e.g. {sample}) and receive authorization codes"
                    ),
                    format!("List the exact hosts your clients redirect to (e.g. https://your-app.{suffix}/callback); a `*.` wildcard is only safe under a domain you own"),
                )
                .key(KEY),
            );
        } else if pattern_matches(p, &sample) {
            f.push(
                Finding::new(
                    entry!("static.allowlist_wildcard_host"),
                    format!(
                        "{raw} accepts any host one label under {suffix} (e.g. {sample}); whoever controls such a host (user pages, preview deployments, a dangling DNS record) can receive authorization codes"
                    ),
                    "List the exact hosts your clients redirect to instead of a `*.` wildcard",
                )
                .key(KEY),
            );
        }
    }
    if remote && parts.port == Some("*") {
        let sample = parts.sample("app", "8443", &plain_path);
        if pattern_matches(p, &sample) {
            f.push(
                Finding::new(
                    entry!("static.allowlist_any_port"),
                    format!(
                        "{raw} accepts any port on a non-loopback host (e.g. {sample}); another service on that host can receive authorization codes"
                    ),
                    "Write the exact port (or none for the default 443)",
                )
                .key(KEY),
            );
        }
    }
    if !remote {
        return;
    }
    if parts.path.is_empty() || parts.path == "/" {
        let sample = parts.sample("app", "8443", "/authproof-probe/any/path");
        if pattern_matches(p, &sample) {
            f.push(
                Finding::new(
                    entry!("static.allowlist_any_path"),
                    format!(
                        "{raw} has no path, so it matches every path on its host (e.g. {sample}); any open redirect or user-controlled page there can receive authorization codes"
                    ),
                    "Add the exact callback path, e.g. https://app.example.com/oauth/callback",
                )
                .key(KEY),
            );
        }
        return;
    }
    let stars: Vec<usize> = parts.path.match_indices('*').map(|(i, _)| i).collect();
    for &i in &stars {
        let with = |fill: &str| {
            let mut path = String::new();
            for (j, ch) in parts.path.char_indices() {
                match ch {
                    '*' if j == i => path.push_str(fill),
                    '*' => path.push('x'),
                    c => path.push(c),
                }
            }
            parts.sample("app", "8443", &path)
        };
        let before = &parts.path[..i];
        if !before.ends_with('/') {
            let sample = with("-authproof-probe");
            if pattern_matches(p, &sample) {
                let segment = before.rsplit('/').next().unwrap_or(before);
                f.push(
                    Finding::new(
                        entry!("static.allowlist_path_prefix"),
                        format!(
                            "{raw} also matches {sample}: the `*` right after `{segment}` continues that path segment instead of starting a new one"
                        ),
                        "Put the `*` after a `/` (e.g. /callback/*), or write the exact path",
                    )
                    .key(KEY),
                );
            }
        }
        if i + 1 < parts.path.len() {
            let sample = with("a/b/c");
            if pattern_matches(p, &sample) {
                f.push(
                    Finding::new(
                        entry!("static.allowlist_path_wildcard_spans"),
                        format!(
                            "{raw} also matches {sample}: `*` in a path matches any run of characters, `/` included, not one segment"
                        ),
                        "Write the exact path, or end the pattern with the `*` if any sub-path is really meant",
                    )
                    .key(KEY),
                );
            }
        }
    }
}

/// Is `host` itself on the Public Suffix List (`vercel.app`, `github.io`, `co.uk`), so that
/// anyone may register names directly under it? Hosts only covered by the list's implicit
/// `*` rule (an unknown TLD) do not count.
pub fn is_public_suffix(host: &str) -> bool {
    use psl::Psl as _;
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    psl::List
        .suffix(host.as_bytes())
        .is_some_and(|s| s.is_known() && s.as_bytes() == host.as_bytes())
}

fn allowed(allow: &AllowList, uri: &str) -> bool {
    check_registration_any_app(uri, allow).is_ok()
}

/// Clients differ in which loopback name they use: one of the two alone locks some out.
fn loopback_variants(allow: &AllowList, f: &mut Vec<Finding>) {
    let localhost = allowed(allow, "http://localhost:33418/callback");
    let ip = allowed(allow, "http://127.0.0.1:33418/callback");
    if localhost != ip {
        let (yes, no) = if localhost {
            ("localhost", "127.0.0.1")
        } else {
            ("127.0.0.1", "localhost")
        };
        f.push(
            Finding::new(
                entry!("static.allowlist_loopback_variant"),
                format!(
                    "the allow-list permits http://{yes}:PORT redirects but not http://{no}:PORT (they are different hosts); native clients that use {no} cannot register"
                ),
                format!("Add \"http://{no}:*\" if local clients should work with either name"),
            )
            .key(KEY),
        );
    }
}

/// Typical redirect URIs of well-known MCP clients, to show what the allow-list lets in.
const KNOWN_CLIENTS: &[(&str, &str)] = &[
    (
        "Claude (claude.ai)",
        "https://claude.ai/api/mcp/auth_callback",
    ),
    (
        "ChatGPT",
        "https://chatgpt.com/connector_platform_oauth_redirect",
    ),
    (
        "local clients (Claude Code, MCP Inspector, VS Code)",
        "http://localhost:33418/callback",
    ),
    ("Cursor", "cursor://anysphere.cursor-mcp/oauth/callback"),
];

fn known_clients(allow: &AllowList, f: &mut Vec<Finding>) {
    let (yes, no): (Vec<_>, Vec<_>) = KNOWN_CLIENTS
        .iter()
        .partition(|(_, uri)| allowed(allow, uri));
    let names = |v: &[&(&str, &str)]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter()
                .map(|(n, u)| format!("{n} ({u})"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    f.push(
        Finding::new(
            entry!("static.allowlist_known_clients"),
            format!(
                "with these patterns, typical redirect URIs of: {} may register; {} may not",
                names(&yes),
                names(&no)
            ),
            "Check each client you expect with `authproof redirects check --allow PATTERN… URI`",
        )
        .key(KEY),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(patterns: &[&str]) -> Vec<String> {
        let mut f = Vec::new();
        for p in patterns {
            pattern_findings(&p.parse().unwrap(), &mut f);
        }
        f.into_iter().map(|f| f.id().to_string()).collect()
    }

    #[test]
    fn public_suffixes() {
        for s in [
            "vercel.app",
            "github.io",
            "herokuapp.com",
            "co.uk",
            "com",
            "NETLIFY.app.",
        ] {
            assert!(is_public_suffix(s), "{s}");
        }
        for s in [
            "example.com",
            "acme.vercel.app",
            "corp.internal",
            "localhost",
        ] {
            assert!(!is_public_suffix(s), "{s}");
        }
    }

    #[test]
    fn split_parts() {
        let p = split("https://*.example.com:*/cb/*").unwrap();
        assert_eq!(p.host, Some("*.example.com"));
        assert_eq!(p.port, Some("*"));
        assert_eq!(p.path, "/cb/*");
        assert_eq!(
            p.sample("a", "1", "/x"),
            "https://a.example.com:1/x".to_string()
        );
        let v6 = split("http://[::1]:*/cb").unwrap();
        assert_eq!(v6.host, Some("[::1]"));
        assert_eq!(v6.port, Some("*"));
        let private = split("cursor://anysphere/cb").unwrap();
        assert_eq!(private.scheme, "cursor");
    }

    #[test]
    fn loopback_any_port_is_fine() {
        assert!(ids(&["http://localhost:*", "http://127.0.0.1:*/callback"]).is_empty());
        assert!(ids(&["https://claude.ai/api/mcp/auth_callback"]).is_empty());
    }

    #[test]
    fn broad_patterns_are_named() {
        assert_eq!(
            ids(&["http://app.example.com/cb"]),
            ["static.allowlist_http_non_loopback"]
        );
        assert_eq!(
            ids(&["https://*.example.com/cb"]),
            ["static.allowlist_wildcard_host"]
        );
        assert_eq!(
            ids(&["https://app.example.com"]),
            ["static.allowlist_any_path"]
        );
        assert_eq!(
            ids(&["https://app.example.com:*/cb"]),
            ["static.allowlist_any_port"]
        );
        assert_eq!(
            ids(&["https://app.example.com/callback*"]),
            ["static.allowlist_path_prefix"]
        );
        assert_eq!(
            ids(&["https://app.example.com/oauth/*/done"]),
            ["static.allowlist_path_wildcard_spans"]
        );
        assert_eq!(
            ids(&["https://*.vercel.app/*"]),
            ["static.allowlist_wildcard_public_suffix"]
        );
        assert_eq!(
            ids(&["https://*.github.io/cb"]),
            ["static.allowlist_wildcard_public_suffix"]
        );
        assert_eq!(
            ids(&["https://*.acme.vercel.app/cb"]),
            ["static.allowlist_wildcard_host"]
        );
        // A trailing `/*` means "anything below", as written.
        assert!(ids(&["https://app.example.com/oauth/*"]).is_empty());
    }
}
