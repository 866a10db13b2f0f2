//! Canonical peer ids: one spelling per peer, so that every node builds the
//! same ring from differently written addresses.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::Error;

/// Turns a peer address into its canonical id, `host:port`.
///
/// Every node must put the same strings on the ring, or two nodes would
/// disagree about who owns a key. This function removes the differences
/// that do not change which peer is meant:
///
/// - surrounding whitespace is trimmed;
/// - an `http://` or `https://` scheme (any case) is dropped;
/// - one trailing `/` is dropped;
/// - the host is lower-cased; IPv4 and IPv6 addresses are written in their
///   standard form (`[0:0::1]` becomes `[::1]`), IPv6 kept in brackets;
/// - the port is written without leading zeros.
///
/// A missing, zero or out-of-range port, an empty host, a path, query,
/// fragment or user name, and any other scheme are rejected with
/// [`Error::Config`] naming the problem. Host names are not resolved: two
/// names for one machine are two peers.
///
/// ```
/// use cache_core::canonical_peer_id;
///
/// assert_eq!(canonical_peer_id("http://127.0.0.1:7001/").unwrap(), "127.0.0.1:7001");
/// assert_eq!(canonical_peer_id(" HTTP://Example.COM:80 ").unwrap(), "example.com:80");
/// assert_eq!(canonical_peer_id("[::1]:7001").unwrap(), "[::1]:7001");
/// assert!(canonical_peer_id("127.0.0.1").is_err());
/// ```
pub fn canonical_peer_id(addr: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::Config(format!("invalid peer address {addr:?}: {why}"));
    let mut rest = addr.trim();
    if let Some(pos) = rest.find("://") {
        let scheme = &rest[..pos];
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(bad("only http:// and https:// schemes are accepted"));
        }
        rest = &rest[pos + 3..];
    }
    rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#']) {
        return Err(bad("a peer address has no path, query or fragment"));
    }
    if rest.contains('@') {
        return Err(bad("a peer address has no user name"));
    }
    let (host, port) = split_host_port(rest).map_err(&bad)?;
    let port = parse_port(port).map_err(&bad)?;
    Ok(format!("{host}:{port}"))
}

/// Splits `host:port` and returns the canonical host (bracketed for IPv6)
/// and the port text.
fn split_host_port(s: &str) -> Result<(String, &str), &'static str> {
    if let Some(bracketed) = s.strip_prefix('[') {
        let (inside, after) = bracketed
            .split_once(']')
            .ok_or("an IPv6 address opened with '[' is not closed")?;
        let ip: Ipv6Addr = inside.parse().map_err(|_| "not a valid IPv6 address")?;
        let port = after
            .strip_prefix(':')
            .ok_or("missing port (expected [ipv6]:port)")?;
        return Ok((format!("[{ip}]"), port));
    }
    let (host, port) = s
        .rsplit_once(':')
        .ok_or("missing port (expected host:port)")?;
    if host.is_empty() {
        return Err("empty host");
    }
    if host.contains(':') {
        return Err("an IPv6 address must be written in brackets: [addr]:port");
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok((ip.to_string(), port));
    }
    let valid = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !valid {
        return Err("the host may only hold letters, digits, '-', '.' and '_'");
    }
    Ok((host.to_ascii_lowercase(), port))
}

/// Parses a port: decimal digits, 1 to 65535.
fn parse_port(port: &str) -> Result<u16, &'static str> {
    if port.is_empty() {
        return Err("missing port");
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the port must be a decimal number");
    }
    match port.parse::<u16>() {
        Ok(0) => Err("port 0 is not a peer's port"),
        Ok(p) => Ok(p),
        Err(_) => Err("the port must be at most 65535"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Equivalent spellings of one peer give one id.
    #[test]
    fn equivalent_spellings_agree() {
        let cases = [
            ("http://127.0.0.1:7001/", "127.0.0.1:7001"),
            ("127.0.0.1:7001", "127.0.0.1:7001"),
            ("https://127.0.0.1:7001", "127.0.0.1:7001"),
            (" HTTP://Example.COM:80 ", "example.com:80"),
            (
                "HttpS://node-1.Cache.internal:07001/",
                "node-1.cache.internal:7001",
            ),
            ("[::1]:7001", "[::1]:7001"),
            ("http://[0:0:0:0:0:0:0:1]:7001/", "[::1]:7001"),
            ("[FE80::A]:9", "[fe80::a]:9"),
            ("localhost:65535", "localhost:65535"),
        ];
        for (input, want) in cases {
            assert_eq!(canonical_peer_id(input).unwrap(), want, "input {input:?}");
        }
    }

    /// Bad addresses are rejected with a config error that names the problem.
    #[test]
    fn bad_addresses_are_rejected() {
        let cases = [
            ("127.0.0.1", "missing port"),
            ("http://example.com", "missing port"),
            ("example.com:", "missing port"),
            ("example.com:http", "decimal"),
            ("example.com:-1", "decimal"),
            ("example.com:65536", "at most 65535"),
            ("example.com:0", "port 0"),
            (":7001", "empty host"),
            ("", "missing port"),
            ("http://:7001/", "empty host"),
            ("http://example.com:80/path", "no path"),
            ("example.com:80//", "no path"),
            ("example.com:80?x=1", "no path"),
            ("grpc://example.com:80", "schemes"),
            ("ftp://example.com:21", "schemes"),
            ("user@example.com:80", "user name"),
            ("::1:7001", "brackets"),
            ("[::1:7001", "not closed"),
            ("[::1]", "missing port"),
            ("[not-ip]:7001", "IPv6"),
            ("exa mple.com:80", "letters"),
        ];
        for (input, needle) in cases {
            match canonical_peer_id(input) {
                Err(Error::Config(msg)) => {
                    assert!(msg.contains(needle), "input {input:?}: message {msg:?}");
                    assert!(msg.contains("invalid peer address"), "{msg:?}");
                }
                other => panic!("input {input:?}: expected a config error, got {other:?}"),
            }
        }
    }

    /// Canonicalising twice changes nothing.
    #[test]
    fn canonical_ids_are_fixed_points() {
        for input in ["http://A.b:1/", "[::FFFF:1.2.3.4]:5", "10.0.0.1:7001"] {
            let once = canonical_peer_id(input).unwrap();
            assert_eq!(canonical_peer_id(&once).unwrap(), once);
        }
    }
}
