//! Parsers for the value syntaxes of flags: sizes, durations, group specs
//! and peer addresses. Each returns a [`crate::Error::Config`] naming the
//! bad input.

use std::net::SocketAddr;
use std::time::Duration;

use crate::Error;
use crate::source::SourceSpec;
pub use crate::units::{parse_duration, parse_size};

/// A `--group NAME=SOURCE` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    /// The group name (what clients send as `group`).
    pub name: String,
    /// Where its values come from.
    pub source: SourceSpec,
}

/// Longest group name accepted.
pub const MAX_GROUP_NAME: usize = 128;

/// Parses `NAME=SOURCE`. Names are 1..=128 characters of `A-Z a-z 0-9 _ - .`.
pub fn parse_group(text: &str) -> Result<GroupSpec, Error> {
    let (name, source) = text.split_once('=').ok_or_else(|| {
        Error::config(format!(
            "bad group {text:?}: expected NAME=SOURCE, as in colors=dir:/srv/colors"
        ))
    })?;
    if name.is_empty()
        || name.len() > MAX_GROUP_NAME
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(Error::config(format!(
            "bad group name {name:?}: use 1 to {MAX_GROUP_NAME} of A-Z a-z 0-9 _ - ."
        )));
    }
    let source = source
        .parse::<SourceSpec>()
        .map_err(|e| Error::config(format!("group {name:?}: {}", strip_prefix(&e))))?;
    Ok(GroupSpec {
        name: name.to_owned(),
        source,
    })
}

/// Checks a peer address: `host:port` or `http://host:port` (no path), with
/// a port in 1..=65535. Returns it trimmed; canonicalisation is the peer
/// pool's job.
pub fn parse_peer(text: &str) -> Result<String, Error> {
    let t = text.trim();
    let hostport = t.strip_prefix("http://").unwrap_or(t);
    let bad = |why: &str| {
        Error::config(format!(
            "bad peer address {text:?}: {why} (expected host:port or http://host:port)"
        ))
    };
    if hostport.is_empty() {
        return Err(bad("empty"));
    }
    if hostport.contains('/') {
        return Err(bad("no path allowed"));
    }
    let (host, port) = hostport.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    if host.is_empty() {
        return Err(bad("no host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(t.to_owned()),
        _ => Err(bad("bad port")),
    }
}

/// A listen address: `IP:PORT`, or `HOST:PORT` with a host name resolved
/// now (`localhost:7001`; an IPv4 address preferred when the name has
/// both).
pub fn parse_listen(text: &str) -> Result<SocketAddr, Error> {
    let t = text.trim();
    if let Ok(addr) = t.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bad = |why: String| Error::config(format!("bad listen address {text:?}: {why}"));
    if t.rsplit_once(':').is_none() {
        return Err(bad("expected IP:PORT or HOST:PORT".into()));
    }
    let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(t)
        .map_err(|e| bad(e.to_string()))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| bad("the name resolves to no address".into()))
}

/// A node address for a client command: a peer address (see
/// [`parse_peer`]) or `https://host:port`.
pub fn parse_node_addr(text: &str) -> Result<String, Error> {
    let t = text.trim();
    match t.strip_prefix("https://") {
        Some(hostport) => parse_peer(hostport).map(|_| t.to_owned()),
        None => parse_peer(t),
    }
}

/// The message of a config error without its "invalid configuration: "
/// prefix (when nesting one in another).
fn strip_prefix(e: &Error) -> String {
    match e {
        Error::Config(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Adapters for clap's `value_parser`: the same parsers, with the error as
/// plain text.
pub(crate) mod clap_parsers {
    use super::*;

    pub(crate) fn size(s: &str) -> Result<u64, String> {
        parse_size(s).map_err(|e| strip_prefix(&e))
    }

    pub(crate) fn duration(s: &str) -> Result<Duration, String> {
        parse_duration(s).map_err(|e| strip_prefix(&e))
    }

    pub(crate) fn group(s: &str) -> Result<GroupSpec, String> {
        parse_group(s).map_err(|e| strip_prefix(&e))
    }

    pub(crate) fn peer(s: &str) -> Result<String, String> {
        parse_peer(s).map_err(|e| strip_prefix(&e))
    }

    pub(crate) fn listen(s: &str) -> Result<SocketAddr, String> {
        parse_listen(s).map_err(|e| strip_prefix(&e))
    }

    pub(crate) fn node_addr(s: &str) -> Result<String, String> {
        parse_node_addr(s).map_err(|e| strip_prefix(&e))
    }

    pub(crate) fn discovery(s: &str) -> Result<crate::discovery::DiscoverySpec, String> {
        crate::discovery::DiscoverySpec::parse(s).map_err(|e| strip_prefix(&e))
    }

    pub(crate) fn fraction(s: &str) -> Result<f64, String> {
        match s.trim().parse::<f64>() {
            Ok(f) if (0.0..1.0).contains(&f) => Ok(f),
            _ => Err(format!(
                "bad fraction {s:?}: expected a number in [0, 1), as in 0.125"
            )),
        }
    }

    /// A share of traces to keep, in [0, 1] (`--otlp-sample-ratio`).
    pub(crate) fn ratio(s: &str) -> Result<f64, String> {
        match s.trim().parse::<f64>() {
            Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
            _ => Err(format!(
                "bad ratio {s:?}: expected a number in [0, 1], as in 0.01"
            )),
        }
    }

    /// A switch's value from its environment variable (the flag itself
    /// takes none): `1/0`, `true/false`, `yes/no`, `on/off`, any case.
    pub(crate) fn switch(s: &str) -> Result<bool, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" | "" => Ok(false),
            _ => Err(format!(
                "bad switch value {s:?}: expected 1, 0, true, false, yes, no, on or off"
            )),
        }
    }

    /// `--threads`: 0 (one per core) up to [`MAX_THREADS`](crate::cli::runtime::MAX_THREADS).
    pub(crate) fn threads(s: &str) -> Result<usize, String> {
        let max = crate::cli::runtime::MAX_THREADS;
        match s.trim().parse::<usize>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(format!(
                "bad thread count {s:?}: expected 0 (one per core), 1 (a single thread) or up to {max}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Switches set from the environment take the usual spellings of yes
    /// and no; anything else is refused with the accepted list.
    #[test]
    fn switches() {
        for yes in ["1", "true", "TRUE", "yes", "on"] {
            assert_eq!(clap_parsers::switch(yes), Ok(true), "{yes}");
        }
        for no in ["0", "false", "No", "off", ""] {
            assert_eq!(clap_parsers::switch(no), Ok(false), "{no}");
        }
        let err = clap_parsers::switch("maybe").unwrap_err();
        assert!(err.contains("expected 1, 0, true, false, yes, no"), "{err}");
    }

    /// Group specs need a valid name and a valid source.
    #[test]
    fn groups() {
        let g = parse_group("bench=synthetic:size=10").unwrap();
        assert_eq!(g.name, "bench");
        let g = parse_group("files=dir:/a=b").unwrap();
        assert_eq!(g.source, SourceSpec::Dir("/a=b".into()));
        for (bad, needle) in [
            ("nosource", "NAME=SOURCE"),
            ("=dir:/x", "bad group name"),
            ("a b=dir:/x", "bad group name"),
            ("ok=nope:x", "unknown source"),
            ("ok=http://h/v", "{key}"),
        ] {
            let err = parse_group(bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }

    /// Peers are host:port or http://host:port with a valid port.
    #[test]
    fn peers() {
        assert_eq!(parse_peer("127.0.0.1:7001").unwrap(), "127.0.0.1:7001");
        assert_eq!(
            parse_peer(" http://node-a:7001 ").unwrap(),
            "http://node-a:7001"
        );
        assert!(parse_peer("[::1]:7001").is_ok());
        assert_eq!(
            parse_node_addr("https://node-a:7001").unwrap(),
            "https://node-a:7001"
        );
        assert!(parse_peer("https://node-a:7001").is_err());
        assert!(parse_node_addr("https://node-a").is_err());
        assert_eq!(
            parse_listen("localhost:7001").unwrap(),
            "127.0.0.1:7001".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(parse_listen(" [::1]:0 ").unwrap().port(), 0);
        assert!(parse_listen("localhost").is_err());
        assert!(parse_listen("no-such-host.invalid:7001").is_err());
        for bad in [
            "",
            "host",
            "host:",
            ":7001",
            "host:0",
            "host:99999",
            "http://h:1/x",
        ] {
            assert!(parse_peer(bad).is_err(), "{bad:?} accepted");
        }
    }
}
