//! The client address a request is counted against: the socket's peer, or, when the peer is
//! a trusted reverse proxy, the address it names in `X-Forwarded-For`.
//!
//! IPv6 addresses are counted per /64 network: one host usually holds a whole /64, so a
//! per-address limit on single IPv6 addresses would be no limit at all.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The key a client is counted under (an IPv4 address, or an IPv6 /64 network).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddress {
    /// The key for `ip` (IPv4-mapped IPv6 counts as IPv4; IPv6 is cut to its /64).
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => ClientAddress(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientAddress(IpAddr::V4(v4)),
                None => {
                    let s = v6.segments();
                    ClientAddress(IpAddr::V6(Ipv6Addr::new(
                        s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                    )))
                }
            },
        }
    }

    /// The address used when the peer is unknown (in-process requests without a socket).
    pub fn unknown() -> Self {
        ClientAddress(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }
}

impl std::fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
            v4 => write!(f, "{v4}"),
        }
    }
}

/// Which peers may name the client in `X-Forwarded-For`.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parse `10.0.0.0/8`, `192.168.1.7`, `::1`, `fd00::/8`…
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| parse_net(e))
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client address of a request from `peer` carrying `headers`.
    ///
    /// From an untrusted peer, the peer. From a trusted one, `X-Forwarded-For` is read from
    /// the right: the first address that is not itself a trusted proxy is the client (so a
    /// client cannot choose its address by sending its own `X-Forwarded-For`). A malformed
    /// entry stops the walk at the last address known good.
    pub fn client_address(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> ClientAddress {
        let Some(peer) = peer else {
            return ClientAddress::unknown();
        };
        if !self.trusts(peer) {
            return ClientAddress::of(peer);
        }
        let mut client = peer;
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !self.trusts(ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        ClientAddress::of(client)
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn parse_net(entry: &str) -> Result<IpNet, String> {
    let e = entry.trim();
    if let Ok(net) = e.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    e.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{e:?} is not an IP address or CIDR range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_claim() {
        let t = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            t.client_address(Some(peer), &xff("198.51.100.1")),
            ClientAddress(peer)
        );
    }

    #[test]
    fn trusted_peers_name_the_rightmost_untrusted_hop() {
        let t = TrustedProxies::parse(&["10.0.0.0/8".into(), "192.168.1.7".into()]).unwrap();
        let peer: IpAddr = "10.1.2.3".parse().unwrap();
        // The client forged the first entry; the proxies appended the rest.
        let got = t.client_address(Some(peer), &xff("1.1.1.1, 198.51.100.7, 192.168.1.7"));
        assert_eq!(got, ClientAddress("198.51.100.7".parse().unwrap()));
        // No header: the proxy itself.
        assert_eq!(
            t.client_address(Some(peer), &HeaderMap::new()),
            ClientAddress(peer)
        );
        // Garbage stops the walk at the last good address.
        let got = t.client_address(Some(peer), &xff("198.51.100.7, nonsense"));
        assert_eq!(got, ClientAddress(peer));
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let a = ClientAddress::of("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = ClientAddress::of("2001:db8:1:2:bbbb::2".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        assert_eq!(
            ClientAddress::of("::ffff:192.0.2.1".parse().unwrap()),
            ClientAddress("192.0.2.1".parse().unwrap())
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let e = TrustedProxies::parse(&["10.0.0.0/8".into(), "proxy.internal".into()]).unwrap_err();
        assert!(e.contains("proxy.internal"), "{e}");
    }
}
