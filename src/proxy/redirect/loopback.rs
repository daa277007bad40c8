//! Loopback hosts (RFC 8252 §7.3, RFC 6761): `localhost`, `*.localhost`, 127.0.0.0/8, `::1`.

use url::Host;

/// Is this a loopback host? `localhost` and names under `.localhost` (case-insensitive, one
/// trailing dot ignored), any IPv4 address in 127.0.0.0/8, and `::1` (also written as the
/// IPv4-mapped `::ffff:127.x.y.z`). `localhost.evil.com` and `notlocalhost` are not.
pub fn is_loopback_host(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => {
            let lower = d.to_ascii_lowercase();
            let name = lower.strip_suffix('.').unwrap_or(&lower);
            name == "localhost" || name.ends_with(".localhost")
        }
        Host::Ipv4(a) => a.is_loopback(),
        Host::Ipv6(a) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}
