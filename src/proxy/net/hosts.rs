//! `Host` and `Origin` checks (DNS rebinding, cross-site calls to the MCP endpoint).
//!
//! A DNS-rebinding page makes the victim's browser send requests to the proxy under the
//! attacker's host name, so every route refuses a `Host` that is not the proxy's own. The MCP
//! endpoint also refuses a browser `Origin` other than the allowed ones (the MCP transport
//! spec: servers MUST validate `Origin`); a request without `Origin` is not from a web page
//! and passes.

use axum::http::{HeaderMap, header};

/// The accepted `Host` values and `Origin`s.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    /// `host` or `host:port`, lower case; a default port is also accepted without it.
    hosts: Vec<String>,
    /// Whether every loopback name is accepted too (a loopback base_url without an explicit
    /// `allowed_hosts`: instances and ports on one machine, never a foreign name).
    any_loopback: bool,
    /// `scheme://host[:port]`, lower case.
    origins: Vec<String>,
}

const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

impl HostPolicy {
    /// From base_url and the optional explicit lists.
    pub fn new(
        base_url: &url::Url,
        allowed_hosts: Option<&[String]>,
        allowed_origins: Option<&[String]>,
    ) -> Result<Self, String> {
        let any_loopback = allowed_hosts.is_none()
            && base_url
                .host_str()
                .is_some_and(|h| is_loopback_authority(&h.to_ascii_lowercase()));
        let hosts = match allowed_hosts {
            Some(list) => list.iter().map(|h| h.trim().to_ascii_lowercase()).collect(),
            None => default_hosts(base_url),
        };
        let origins = match allowed_origins {
            Some(list) => list
                .iter()
                .map(|o| {
                    normalize_origin(o).ok_or_else(|| {
                        format!("allowed_origins: {o:?} is not an origin (scheme://host[:port])")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![base_url.origin().ascii_serialization().to_ascii_lowercase()],
        };
        Ok(Self {
            hosts,
            any_loopback,
            origins,
        })
    }

    /// `Err(why)` when the request names a host that is not this proxy's.
    pub fn check_host(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(host) = headers.get(header::HOST) else {
            return Ok(());
        };
        // Compared without case and without allocating: this runs on every request.
        let host = host.to_str().unwrap_or("").trim();
        let bare = host
            .strip_suffix(":80")
            .or_else(|| host.strip_suffix(":443"))
            .unwrap_or(host);
        if self
            .hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host) || h.eq_ignore_ascii_case(bare))
            || (self.any_loopback && is_loopback_authority(host))
        {
            Ok(())
        } else {
            Err(format!(
                "the Host {:?} is not served here (allowed: {}); set allowed_hosts if this proxy is reached under another name",
                host.to_ascii_lowercase(),
                self.hosts.join(", ")
            ))
        }
    }

    /// `Err(why)` when a browser `Origin` is present and not allowed.
    pub fn check_origin(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or("").trim().to_ascii_lowercase();
        if self.origins.contains(&origin) {
            Ok(())
        } else {
            Err(format!(
                "requests from the origin {origin:?} are not allowed at the MCP endpoint (allowed: {}); set allowed_origins to admit a web client",
                self.origins.join(", ")
            ))
        }
    }
}

fn default_hosts(base: &url::Url) -> Vec<String> {
    let host = base.host_str().unwrap_or("").to_ascii_lowercase();
    let host = match base.host() {
        Some(url::Host::Ipv6(_)) if !host.starts_with('[') => format!("[{host}]"),
        _ => host,
    };
    match base.port() {
        Some(p) => vec![format!("{host}:{p}")],
        None => vec![host],
    }
}

/// A loopback name (`localhost`, `127.x.y.z`, `[::1]`, in any case) with or without a port. A DNS
/// rebinding page cannot make a browser send one of these as `Host`: it sends its own name.
fn is_loopback_authority(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    LOOPBACK_NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn normalize_origin(o: &str) -> Option<String> {
    let u = url::Url::parse(o.trim()).ok()?;
    let origin = u.origin();
    origin
        .is_tuple()
        .then(|| origin.ascii_serialization().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(name: header::HeaderName, v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn loopback_deployments_accept_loopback_names_only() {
        let p = HostPolicy::new(
            &url::Url::parse("http://127.0.0.1:8000").unwrap(),
            None,
            None,
        )
        .unwrap();
        for ok in [
            "127.0.0.1:8000",
            "localhost:8000",
            "LOCALHOST:8000",
            "[::1]:8000",
            "127.0.0.1:9000",
            "localhost",
        ] {
            assert!(p.check_host(&with(header::HOST, ok)).is_ok(), "{ok}");
        }
        for bad in [
            "evil.example:8000",
            "attacker.test",
            "localhost.evil.example:8000",
        ] {
            assert!(p.check_host(&with(header::HOST, bad)).is_err(), "{bad}");
        }
        assert!(p.check_host(&HeaderMap::new()).is_ok());
    }

    #[test]
    fn default_ports_and_explicit_lists() {
        let base = url::Url::parse("https://mcp.example.com").unwrap();
        let p = HostPolicy::new(&base, None, None).unwrap();
        assert!(p.check_host(&with(header::HOST, "mcp.example.com")).is_ok());
        assert!(
            p.check_host(&with(header::HOST, "mcp.example.com:443"))
                .is_ok()
        );
        assert!(
            p.check_host(&with(header::HOST, "MCP.Example.COM:443"))
                .is_ok(),
            "host names compare without case"
        );
        assert!(p.check_host(&with(header::HOST, "localhost")).is_err());
        let p = HostPolicy::new(&base, Some(&["internal.svc:8080".into()]), None).unwrap();
        assert!(
            p.check_host(&with(header::HOST, "internal.svc:8080"))
                .is_ok()
        );
        assert!(
            p.check_host(&with(header::HOST, "mcp.example.com"))
                .is_err()
        );
    }

    #[test]
    fn origins() {
        let base = url::Url::parse("https://mcp.example.com/prefix").unwrap();
        let p = HostPolicy::new(&base, None, None).unwrap();
        assert!(p.check_origin(&HeaderMap::new()).is_ok());
        assert!(
            p.check_origin(&with(header::ORIGIN, "https://mcp.example.com"))
                .is_ok()
        );
        let e = p
            .check_origin(&with(header::ORIGIN, "https://evil.example"))
            .unwrap_err();
        assert!(e.contains("evil.example"), "{e}");
        assert!(p.check_origin(&with(header::ORIGIN, "null")).is_err());
        let p = HostPolicy::new(&base, None, Some(&["https://App.Example.org/".into()])).unwrap();
        assert!(
            p.check_origin(&with(header::ORIGIN, "https://app.example.org"))
                .is_ok()
        );
        assert!(HostPolicy::new(&base, None, Some(&["not an origin".into()])).is_err());
    }
}
