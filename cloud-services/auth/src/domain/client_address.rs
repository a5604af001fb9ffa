//! Which address a login comes from, for throttling and back-off.
//!
//! `X-Forwarded-For` is written by whoever sent the request, so it is believed only when the
//! socket peer is a configured trusted proxy (`auth.trusted_proxies`, the gateways), and then only
//! as far as the chain of trusted proxies goes: walking the header from the right (the hop each
//! proxy appended), the first address that is not a trusted proxy is the client. Anything a client
//! put in the header itself sits to the left of that and is ignored — spoofing it buys nothing.

use std::net::IpAddr;

use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

impl TrustedProxies {
    /// Parses IPs (`10.0.0.7`, `::1`) and CIDRs (`10.0.0.0/8`).
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| {
                let e = e.trim();
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("auth.trusted_proxies: {e:?} is not an IP address or CIDR")
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address given the socket `peer` and the `X-Forwarded-For` header values in
    /// order of appearance.
    pub fn client_ip<'a>(&self, peer: IpAddr, forwarded: impl Iterator<Item = &'a str>) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = canonical(ip);
                    if !self.contains(client) {
                        return client;
                    }
                }
                // Garbage a client wrote: the last trusted hop is all we know.
                Err(_) => return client,
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies() -> TrustedProxies {
        TrustedProxies::parse(&["127.0.0.1".into(), "10.0.0.0/8".into()]).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        assert_eq!(
            proxies().client_ip(ip("203.0.113.9"), ["1.2.3.4"].into_iter()),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_wins_over_spoofed_ones() {
        let p = proxies();
        // The client wrote "6.6.6.6" itself; the gateway appended the real peer.
        assert_eq!(
            p.client_ip(ip("127.0.0.1"), ["6.6.6.6, 198.51.100.7"].into_iter()),
            ip("198.51.100.7")
        );
        // Two proxies, and headers split over lines.
        assert_eq!(
            p.client_ip(
                ip("10.1.1.1"),
                ["6.6.6.6", "198.51.100.7, 10.2.2.2"].into_iter()
            ),
            ip("198.51.100.7")
        );
        // No header: the proxy itself.
        assert_eq!(
            p.client_ip(ip("127.0.0.1"), [].into_iter()),
            ip("127.0.0.1")
        );
        // Garbage after a trusted hop: the trusted hop.
        assert_eq!(
            p.client_ip(ip("127.0.0.1"), ["nonsense, 10.2.2.2"].into_iter()),
            ip("10.2.2.2")
        );
        // IPv4-mapped IPv6 peers are the same addresses.
        assert_eq!(
            p.client_ip(ip("::ffff:127.0.0.1"), ["198.51.100.7"].into_iter()),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn bad_entries_are_refused() {
        assert!(TrustedProxies::parse(&["gateway".into()]).is_err());
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
    }
}
