//! The reader's address, for the access log when `log_client_ip` is on: the peer's, unless
//! the peer is one of `trusted_proxies`, whose `X-Forwarded-For` (or `Forwarded: for=`)
//! names the hops before it. Headers from any other peer are ignored, so a reader cannot
//! choose the address logged for them.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

/// The reader's address as far as trusted hops tell it: walking the forwarded chain from
/// the nearest hop back, the first address that is not itself a trusted proxy.
pub(crate) fn reader_address(headers: &HeaderMap, peer: SocketAddr, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut address = peer.ip();
    if !is_trusted(&address) {
        return address;
    }
    for hop in forwarded_chain(headers).into_iter().rev() {
        address = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    address
}

/// Every address of `X-Forwarded-For`, else of `Forwarded`'s `for=`, in order; a chain
/// with anything unreadable is not believed at all.
fn forwarded_chain(headers: &HeaderMap) -> Vec<IpAddr> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_owned())
            .collect()
    };
    let xff = values("x-forwarded-for");
    let hops: Option<Vec<IpAddr>> = if !xff.is_empty() {
        xff.iter().map(|hop| parse_hop(hop)).collect()
    } else {
        values("forwarded")
            .iter()
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (name, value) = pair.trim().split_once('=')?;
                    name.eq_ignore_ascii_case("for")
                        .then(|| value.trim_matches('"'))
                })
            })
            .map(parse_hop)
            .collect()
    };
    hops.unwrap_or_default()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse().ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_peers() {
        let trusted: Vec<IpNet> = vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        let proxy: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let stranger: SocketAddr = "198.51.100.7:5000".parse().unwrap();
        let xff = headers(&[("x-forwarded-for", "203.0.113.9, 10.1.2.3")]);
        assert_eq!(
            reader_address(&xff, proxy, &trusted).to_string(),
            "203.0.113.9"
        );
        assert_eq!(
            reader_address(&xff, stranger, &trusted).to_string(),
            "198.51.100.7"
        );
        let forwarded = headers(&[("forwarded", "for=\"[2001:db8::1]:4711\";proto=https")]);
        assert_eq!(
            reader_address(&forwarded, proxy, &trusted).to_string(),
            "2001:db8::1"
        );
        let junk = headers(&[("x-forwarded-for", "203.0.113.9, not-an-address")]);
        assert_eq!(
            reader_address(&junk, proxy, &trusted).to_string(),
            "127.0.0.1"
        );
        assert_eq!(reader_address(&xff, proxy, &[]).to_string(), "127.0.0.1");
    }
}
