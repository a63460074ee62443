//! Clients behind a reverse proxy or load balancer.
//!
//! Behind nginx every request comes from nginx's address, so the login throttle (counted per source
//! address) would lock every user out after a few wrong passwords from anyone. The operator names the
//! proxies (`serve --trusted-proxy 10.0.0.5` or a network, `10.0.0.0/24`); for a request from one of
//! them, the client is the right-most address of `X-Forwarded-For` that is not itself a trusted proxy
//! (the addresses further left were written by the client and prove nothing). Requests from anywhere
//! else are taken as they come, whatever headers they carry.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use cloudmux_core::{Error, Result};

use crate::AppState;

/// A network: an address and the length of its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    /// Reads `10.0.0.5`, `10.0.0.0/24`, `::1` or `fd00::/8`.
    pub fn parse(s: &str) -> Result<Net> {
        let bad = || {
            Error::invalid(format!("{s:?} is not an address or a network"))
                .with_hint("write an address (10.0.0.5, ::1) or a network (10.0.0.0/24, fd00::/8)")
        };
        let (a, p) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Net { addr, prefix })
    }

    /// Whether `ip` is in this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let bits = |a: IpAddr| -> u128 {
            match a {
                IpAddr::V4(v) => u32::from(v) as u128,
                IpAddr::V6(v) => u128::from(v),
            }
        };
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        let width = if ip.is_ipv4() { 32 } else { 128 };
        if self.prefix == 0 {
            return true;
        }
        let shift = width - self.prefix as u32;
        bits(ip) >> shift == bits(self.addr) >> shift
    }
}

/// The client of a request from `peer` carrying `forwarded` (`X-Forwarded-For`), given the trusted proxies.
pub fn client(peer: IpAddr, forwarded: Option<&str>, trusted: &[Net]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(f) = forwarded else { return peer };
    let mut last = peer;
    for hop in f.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip) => last = ip,
            Ok(ip) => return ip,
            // A hop that is not an address: nothing left of it can be believed.
            Err(_) => return last,
        }
    }
    last
}

/// Middleware: puts the real client's address where handlers read the peer's ([`ConnectInfo`]).
pub async fn middleware(State(st): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let trusted = st.trusted_proxies();
    if !trusted.is_empty()
        && let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied()
    {
        let forwarded: Vec<String> = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        let joined = (!forwarded.is_empty()).then(|| forwarded.join(","));
        let ip = client(peer.ip(), joined.as_deref(), &trusted);
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, peer.port())));
    }
    next.run(req).await
}

/// Where the browser reached this server (for the Google redirect URI).
pub(crate) fn origin(headers: &HeaderMap) -> Result<String> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .ok_or_else(|| Error::invalid("the request has no usable Host header"))?;
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    Ok(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_match() {
        let n = Net::parse("10.0.0.0/24").unwrap();
        assert!(n.contains(ip("10.0.0.200")));
        assert!(!n.contains(ip("10.0.1.1")));
        assert!(n.contains(ip("::ffff:10.0.0.7")), "IPv4-mapped");
        assert!(Net::parse("::1").unwrap().contains(ip("::1")));
        assert!(!Net::parse("::1").unwrap().contains(ip("127.0.0.1")));
        assert!(Net::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        for bad in ["", "10.0.0.0/33", "example.com", "10.0.0.1/x", "::/129"] {
            assert!(Net::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_trusted_proxies_are_believed() {
        let t = [
            Net::parse("127.0.0.1").unwrap(),
            Net::parse("10.0.0.0/8").unwrap(),
        ];
        // Straight from a client: its headers change nothing.
        assert_eq!(
            client(ip("203.0.113.9"), Some("1.2.3.4"), &t),
            ip("203.0.113.9")
        );
        // Through the balancer: the address it saw.
        assert_eq!(
            client(ip("127.0.0.1"), Some("198.51.100.7"), &t),
            ip("198.51.100.7")
        );
        // A client's own made-up hops, left of what the proxy wrote, are ignored.
        assert_eq!(
            client(ip("127.0.0.1"), Some("6.6.6.6, 198.51.100.7, 10.1.2.3"), &t),
            ip("198.51.100.7")
        );
        assert_eq!(client(ip("127.0.0.1"), None, &t), ip("127.0.0.1"));
        assert_eq!(
            client(ip("127.0.0.1"), Some("garbage"), &t),
            ip("127.0.0.1")
        );
        assert_eq!(
            client(ip("127.0.0.1"), Some("198.51.100.7"), &[]),
            ip("127.0.0.1")
        );
    }
}
