//! SSRF protection for fetching URLs that clients choose (CIMD documents).
//!
//! The check lives in a custom DNS resolver handed to reqwest: every address a name resolves
//! to must be public, and reqwest connects only to the addresses the resolver returned, so
//! the address checked is the address used (no resolve-then-fetch race, no DNS rebinding).
//! IP-literal hosts never reach a resolver, so [`check_literal_host`] checks them first.

use crate::proxy::outbound::SchemeClients;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Whether `ip` is a public unicast address (not private, loopback, link-local, CGNAT,
/// multicast, documentation, benchmarking, reserved, or a v6 form embedding one of those).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0                                   // 0.0.0.0/8 "this network"
        || (o[0] == 100 && (o[1] & 0xC0) == 64)        // 100.64.0.0/10 CGNAT
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)     // 192.0.0.0/24 IETF assignments
        || (o[0] == 198 && (o[1] & 0xFE) == 18)        // 198.18.0.0/15 benchmarking
        || o[0] >= 240) // 240.0.0.0/4 reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    if s[0] == 0x2002 {
        // 6to4: the embedded v4 address decides.
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return is_public_v4(v4);
    }
    if s[0] == 0x0064 && s[1] == 0xff9b {
        // NAT64 well-known prefix.
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return is_public_v4(v4);
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00                   // fc00::/7 unique local
        || (s[0] & 0xffc0) == 0xfe80                   // fe80::/10 link-local
        || (s[0] & 0xffc0) == 0xfec0                   // fec0::/10 site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8)          // 2001:db8::/32 documentation
        || (s[0] == 0x2001 && s[1] == 0x0000)          // 2001::/32 Teredo
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // 100::/64 discard
        || s[..6] == [0, 0, 0, 0, 0, 0]) // ::/96 IPv4-compatible (deprecated)
}

/// Whether an address may be fetched: public, or loopback when `allow_loopback`.
pub fn is_allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    is_public(ip) || (allow_loopback && ip.is_loopback())
}

/// A resolver that refuses a name unless every address it resolves to is allowed.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnlyResolver {
    /// Also allow loopback addresses (tests with `cimd_allow_http_loopback`).
    pub allow_loopback: bool,
}

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no address").into());
            }
            if let Some(bad) = addrs.iter().find(|a| !is_allowed(a.ip(), allow_loopback)) {
                // The address stays in the operator's log: telling the client would make the
                // proxy a DNS oracle for internal names.
                tracing::info!(%host, address = %bad.ip(), "refused a fetch: non-public address");
                return Err(format!(
                    "the host {host} is not allowed (it resolves to a non-public address)"
                )
                .into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The longest wait for a connection when fetching a client-chosen URL.
pub const FETCH_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest a whole fetch of a client-chosen URL may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The HTTP clients for URLs that clients choose (CIMD documents), built on first use (see
/// [`SchemeClients`]): every name resolved through [`PublicOnlyResolver`], https only unless
/// `allow_loopback`, no redirects, no environment proxies, no cookies,
/// [`FETCH_CONNECT_TIMEOUT`] and [`FETCH_TIMEOUT`]. IP-literal hosts still need
/// [`check_literal_host`] before the request.
pub fn safe_clients(allow_loopback: bool) -> SchemeClients {
    SchemeClients::new(move || {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(PublicOnlyResolver { allow_loopback })
            .no_proxy()
            .https_only(!allow_loopback)
            .connect_timeout(FETCH_CONNECT_TIMEOUT)
            .timeout(FETCH_TIMEOUT)
            .user_agent(concat!("authproof/", env!("CARGO_PKG_VERSION")))
    })
}

/// For IP-literal hosts, which no resolver sees: the address must be allowed.
pub fn check_literal_host(url: &url::Url, allow_loopback: bool) -> Result<(), String> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(_)) => return Ok(()),
        None => return Err("the URL has no host".into()),
    };
    if is_allowed(ip, allow_loopback) {
        Ok(())
    } else {
        Err(format!("{ip} is not a public address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "2002:0808:0808::1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "192.0.0.8",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2002:7f00:0001::1",
            "64:ff9b::a00:1",
            "2001::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        assert!(is_allowed("127.0.0.1".parse().unwrap(), true));
        assert!(!is_allowed("10.0.0.1".parse().unwrap(), true));
    }

    #[test]
    fn literal_hosts() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert!(check_literal_host(&u("https://127.0.0.1/x"), false).is_err());
        assert!(check_literal_host(&u("https://[::1]/x"), false).is_err());
        assert!(check_literal_host(&u("http://127.0.0.1:9/x"), true).is_ok());
        assert!(check_literal_host(&u("https://8.8.8.8/x"), false).is_ok());
        assert!(check_literal_host(&u("https://example.com/x"), false).is_ok());
        // url normalises odd IPv4 spellings to a literal, which is then checked.
        assert!(check_literal_host(&u("https://0x7f.1/x"), false).is_err());
    }

    #[tokio::test]
    async fn resolver_refuses_loopback_names() {
        let r = PublicOnlyResolver {
            allow_loopback: false,
        };
        let e = r.resolve("localhost".parse().unwrap()).await.err().unwrap();
        assert!(e.to_string().contains("non-public"), "{e}");
        let r = PublicOnlyResolver {
            allow_loopback: true,
        };
        assert!(r.resolve("localhost".parse().unwrap()).await.is_ok());
    }
}
