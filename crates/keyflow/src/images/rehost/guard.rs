//! Where re-hosting may download an image from: public addresses only.
//!
//! The image link comes from upstream's answer, so it could name anything
//! the gateway can reach (a router's admin page, a cloud metadata service,
//! keyflow's own `/api`). The decision is made on the addresses actually
//! connected to: a resolver that drops every non-public address (so a name
//! that rebinds between a check and the connect cannot slip through), plus
//! a check of hosts written as IP literals, which never reach a resolver.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// How long connecting to an image host may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `ip` is a public unicast address a download may connect to.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0 // "this network", including the unspecified 0.0.0.0
        || ip.is_private() // 10/8, 172.16/12, 192.168/16
        || ip.is_loopback() // 127/8
        || ip.is_link_local() // 169.254/16, where cloud metadata services live
        || (a == 100 && (b & 0xc0) == 64) // 100.64/10, carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // 192.0.0/24, protocol assignments
        || (a == 198 && (b & 0xfe) == 18) // 198.18/15, benchmarking
        || ip.is_documentation()
        || ip.is_multicast() // 224/4
        || a >= 240; // 240/4 reserved, and the broadcast address
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // Forms that carry an IPv4 address reach that address: judge it instead.
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let first = ip.segments()[0];
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast() // ff00::/8
        || (first & 0xffc0) == 0xfe80 // fe80::/10, link-local
        || (first & 0xffc0) == 0xfec0 // fec0::/10, the old site-local
        || (first & 0xfe00) == 0xfc00 // fc00::/7, unique-local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // 2001:db8::/32, documentation
        || (first == 0x0100 && ip.segments()[1..4] == [0, 0, 0]); // 100::/64, discard-only
    !refused
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), the deprecated
/// IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4
/// (`2002:aabb:ccdd::`) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        // `::` and `::1` are IPv6's own unspecified and loopback addresses.
        [0, 0, 0, 0, 0, 0, _, _] if !ip.is_unspecified() && !ip.is_loopback() => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)),
        _ => None,
    }
}

/// The system resolver, keeping only public addresses.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = resolved.into_iter().filter(|addr| is_public(addr.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Why a link is refused before any connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not an http(s) link: {0}")]
    Scheme(String),
    #[error("a link without a host")]
    NoHost,
    #[error("{0} is not a public address")]
    NotPublic(IpAddr),
}

/// The client for image downloads from hosts other than the configured
/// upstream: public addresses only, no redirects (a redirect could point
/// anywhere), no proxy (a proxy would resolve names where we cannot see).
/// `None` when it could not be built (no TLS backend), every time.
pub fn public_client() -> Option<&'static reqwest::Client> {
    static CLIENT: OnceLock<Option<reqwest::Client>> = OnceLock::new();
    let client = CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(PublicOnly))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .ok()
    });
    client.as_ref()
}

/// Refuses a link before any connection: only http(s), and a host written
/// as an IP literal must be public (the resolver never sees those).
pub fn check_url(url: &Url) -> Result<(), Refused> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refused::Scheme(url.scheme().to_string()));
    }
    let host = url.host_str().ok_or(Refused::NoHost)?;
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    match literal.parse::<IpAddr>() {
        Ok(ip) if !is_public(ip) => Err(Refused::NotPublic(ip)),
        _ => Ok(()),
    }
}

/// Whether two links share scheme, host and port.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme() && a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(text: &str) -> bool {
        is_public(text.parse().expect("an address"))
    }

    #[test]
    fn private_loopback_link_local_and_special_v4_are_refused() {
        for refused in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!public(refused), "{refused} must be refused");
        }
        for allowed in ["1.1.1.1", "8.8.8.8", "100.63.255.255", "100.128.0.1", "172.32.0.1", "169.253.0.1"] {
            assert!(public(allowed), "{allowed} is public");
        }
    }

    #[test]
    fn private_loopback_link_local_and_special_v6_are_refused() {
        for refused in [
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "fc00::1",
            "fd12:3456::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "100::1",
            // IPv4 inside IPv6.
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:a00:1::1",
        ] {
            assert!(!public(refused), "{refused} must be refused");
        }
        for allowed in ["2606:4700:4700::1111", "2400:cb00::1", "::ffff:1.1.1.1", "64:ff9b::808:808", "2002:808:808::1"]
        {
            assert!(public(allowed), "{allowed} is public");
        }
    }

    #[test]
    fn literal_hosts_are_checked_before_connecting() {
        let check = |link: &str| check_url(&Url::parse(link).expect("a link"));
        for refused in [
            "http://127.0.0.1:8080/a.png",
            "http://[::1]/a.png",
            "http://[::ffff:7f00:1]/a.png",
            "http://169.254.169.254/latest/meta-data",
            // Other spellings of 127.0.0.1, which URL parsing normalizes.
            "http://2130706433/a.png",
            "http://0x7f.1/a.png",
            "file:///etc/passwd",
            "ftp://1.1.1.1/a.png",
        ] {
            assert!(check(refused).is_err(), "{refused} must be refused");
        }
        for (link, why) in [
            ("http://127.0.0.1:8080/a.png", Refused::NotPublic("127.0.0.1".parse().expect("an address"))),
            ("file:///etc/passwd", Refused::Scheme("file".into())),
        ] {
            assert_eq!(check(link), Err(why), "{link}");
        }
        // Names are judged by the resolver, at connect time.
        for allowed in ["https://img.example/a.png", "http://1.1.1.1/a.png", "http://localhost/a.png"] {
            assert!(check(allowed).is_ok(), "{allowed} passes the literal check");
        }
    }

    #[tokio::test]
    async fn names_resolving_to_private_addresses_have_no_usable_address() {
        let resolved = PublicOnly.resolve("localhost".parse().expect("a name")).await;
        assert!(resolved.is_err(), "localhost resolves to loopback only");
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let url = |link: &str| Url::parse(link).expect("a link");
        assert!(same_origin(&url("http://127.0.0.1:9000/v1"), &url("http://127.0.0.1:9000/files/a.png")));
        assert!(same_origin(&url("https://a.example/v1"), &url("https://a.example:443/x")));
        assert!(!same_origin(&url("http://127.0.0.1:9000"), &url("http://127.0.0.1:9001/a.png")));
        assert!(!same_origin(&url("http://127.0.0.1:9000"), &url("https://127.0.0.1:9000/a.png")));
        assert!(!same_origin(&url("http://127.0.0.1:9000"), &url("http://localhost:9000/a.png")));
    }
}
