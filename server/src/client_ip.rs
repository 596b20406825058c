//! The client's address and geo headers, believed only when the TCP peer is a trusted proxy.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderName};
use ipnet::IpNet;

/// An address (as a single-address range) or a CIDR range, normalised: host bits cleared, an
/// IPv4-mapped IPv6 address as IPv4.
pub fn parse_ip_or_net(s: &str) -> Option<IpNet> {
    if let Ok(net) = s.parse::<IpNet>() {
        return Some(net.trunc());
    }
    s.parse::<IpAddr>()
        .ok()
        .map(|ip| IpNet::from(ip.to_canonical()))
}

pub fn in_ranges(ip: IpAddr, ranges: &[IpNet]) -> bool {
    let ip = ip.to_canonical();
    ranges.iter().any(|r| r.contains(&ip))
}

/// `None` means a trusted proxy sent a header we cannot parse: the client is then unknown, which
/// fails every IP check rather than falling back to the proxy's (trusted) address.
pub fn client_ip(
    peer: IpAddr,
    headers: &HeaderMap,
    header: &HeaderName,
    trusted_proxies: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer.to_canonical();
    if !in_ranges(peer, trusted_proxies) {
        return Some(peer);
    }
    let mut hops = Vec::new();
    for value in headers.get_all(header) {
        let value = value.to_str().ok()?;
        for part in value.split(',') {
            hops.push(parse_hop(part.trim())?);
        }
    }
    if hops.is_empty() {
        return Some(peer);
    }
    // Each proxy appends the address it saw; the first untrusted one from the right is the
    // client, everything left of it may be forged.
    for ip in hops.iter().rev() {
        if !in_ranges(*ip, trusted_proxies) {
            return Some(*ip);
        }
    }
    Some(hops[0])
}

fn parse_hop(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    None
}

/// A header value set by the trusted proxy, e.g. the country code.
pub fn proxy_header<'a>(
    peer: IpAddr,
    headers: &'a HeaderMap,
    header: &HeaderName,
    trusted_proxies: &[IpNet],
) -> Option<&'a str> {
    if !in_ranges(peer, trusted_proxies) {
        return None;
    }
    headers
        .get(header)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert("x-forwarded-for", v.parse().unwrap());
        m
    }

    /// The default `--trusted-proxies`: a proxy on a private address is believed, a client on a
    /// public one cannot name its own address.
    #[test]
    fn default_trust_covers_ordinary_proxies_only() {
        use clap::Parser;
        let proxies = crate::Config::parse_from(["hakanai-server"]).trusted_proxies;
        let xff = HeaderName::from_static("x-forwarded-for");
        let public: IpAddr = "198.51.100.7".parse().unwrap();
        for proxy in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.5",
            "192.168.1.1",
            "fd00::1",
        ] {
            let got = client_ip(proxy.parse().unwrap(), &h("198.51.100.7"), &xff, &proxies);
            assert_eq!(got, Some(public), "behind {proxy}");
        }
        let got = client_ip(public, &h("10.0.0.1"), &xff, &proxies);
        assert_eq!(got, Some(public), "a public client chose its address");
    }

    #[test]
    fn resolves() {
        let xff = HeaderName::from_static("x-forwarded-for");
        let proxies: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap()];
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "198.51.100.7".parse().unwrap();
        // Untrusted peer: header ignored.
        assert_eq!(
            client_ip(other, &h("10.0.0.1"), &xff, &proxies),
            Some(other)
        );
        // Trusted peer: rightmost untrusted hop wins over a forged leftmost one.
        assert_eq!(
            client_ip(lo, &h("1.1.1.1, 203.0.113.9, 127.0.0.2"), &xff, &proxies),
            Some("203.0.113.9".parse().unwrap())
        );
        assert_eq!(client_ip(lo, &HeaderMap::new(), &xff, &proxies), Some(lo));
        assert_eq!(client_ip(lo, &h("garbage"), &xff, &proxies), None);
    }
}
