//! Which entry of `--peers` is this node.
//!
//! Every node must compute the same ring from the same list, so a node's
//! id on the ring is its entry *as spelled in `--peers`*, never its listen
//! address written another way (`localhost:7013` and `127.0.0.1:7013` are
//! two ring members to the hash). The entry is found by `--self`, or else
//! by the listen address: an entry spelled the same way, or a host name
//! that resolves to it (resolved once, at start). Finding none, or more
//! than one, is a start-up error: a node never sits on the ring twice or
//! with a view its peers do not share.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::Error;

/// The `host:port` of a peer entry (`http://` and a trailing `/` dropped).
fn host_port(entry: &str) -> &str {
    let s = entry.strip_prefix("http://").unwrap_or(entry);
    s.strip_suffix('/').unwrap_or(s)
}

/// The addresses `host_port` stands for: itself if it is a socket address,
/// else what the resolver says (none if it cannot say).
fn addresses(host_port: &str, resolve: &dyn Fn(&str) -> Vec<SocketAddr>) -> Vec<SocketAddr> {
    match host_port.parse::<SocketAddr>() {
        Ok(addr) => vec![addr],
        Err(_) => resolve(host_port),
    }
}

/// The system resolver (`getaddrinfo`); an error is no address.
pub fn system_resolver(host_port: &str) -> Vec<SocketAddr> {
    host_port
        .to_socket_addrs()
        .map(Iterator::collect)
        .unwrap_or_default()
}

/// This node's entry of `peers` (spelled as there), found by `self_addr`
/// if given, else by `listen`. With no peers, the node alone: `self_addr`
/// or the listen address.
pub fn find_self(
    self_addr: Option<&str>,
    listen: SocketAddr,
    peers: &[String],
    resolve: &dyn Fn(&str) -> Vec<SocketAddr>,
) -> Result<String, Error> {
    if peers.is_empty() {
        return Ok(self_addr.map_or_else(|| listen.to_string(), |s| host_port(s).to_owned()));
    }
    let (wanted, by) = match self_addr {
        Some(s) => (host_port(s), "--self"),
        None => (&*listen.to_string(), "the listen address"),
    };
    // The same spelling wins outright: no resolver needed.
    let spelled: Vec<&String> = peers.iter().filter(|p| host_port(p) == wanted).collect();
    if spelled.len() == 1 {
        return Ok(host_port(spelled[0]).to_owned());
    }
    let targets = addresses(wanted, resolve);
    let matches: Vec<&String> = peers
        .iter()
        .filter(|p| {
            let here = addresses(host_port(p), resolve);
            here.iter().any(|a| targets.contains(a))
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok(host_port(one).to_owned()),
        [] => Err(Error::config(format!(
            "this node ({by} {wanted}) is not in --peers ({}): list it there, or give --self \
             as it is spelled in --peers",
            peers.join(", ")
        ))),
        several => Err(Error::config(format!(
            "--peers names this node ({by} {wanted}) {} times ({}): list each node once, \
             spelled the same way on every node",
            several.len(),
            several
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `localhost` and `node-b` resolve; anything else does not.
    fn resolver(host_port: &str) -> Vec<SocketAddr> {
        let (host, port) = host_port.rsplit_once(':').unwrap();
        let port: u16 = port.parse().unwrap();
        match host {
            "localhost" => vec![
                SocketAddr::from(([127, 0, 0, 1], port)),
                SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], port)),
            ],
            "node-b" => vec![SocketAddr::from(([10, 0, 0, 2], port))],
            _ => Vec::new(),
        }
    }

    fn peers(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn listen(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A host name in --peers that resolves to the listen address is this
    /// node, spelled as in the list (so every node computes one ring).
    #[test]
    fn a_host_name_is_recognised() {
        let list = peers(&["localhost:7013", "localhost:7014"]);
        let me = find_self(None, listen("127.0.0.1:7013"), &list, &resolver).unwrap();
        assert_eq!(me, "localhost:7013");
        let me = find_self(None, listen("127.0.0.1:7014"), &list, &resolver).unwrap();
        assert_eq!(me, "localhost:7014");
    }

    /// --self picks the entry, by spelling or by resolution, http:// or not.
    #[test]
    fn self_picks_the_entry() {
        let list = peers(&["http://node-a:7001/", "node-b:7001"]);
        let me = find_self(
            Some("node-a:7001"),
            listen("0.0.0.0:7001"),
            &list,
            &resolver,
        );
        assert_eq!(me.unwrap(), "node-a:7001");
        let me = find_self(
            Some("10.0.0.2:7001"),
            listen("0.0.0.0:7001"),
            &list,
            &resolver,
        );
        assert_eq!(me.unwrap(), "node-b:7001");
    }

    /// Exactly the same spelling needs no resolver.
    #[test]
    fn same_spelling_needs_no_resolver() {
        let list = peers(&["a.invalid:1", "127.0.0.1:7001"]);
        let me = find_self(None, listen("127.0.0.1:7001"), &list, &|_| Vec::new());
        assert_eq!(me.unwrap(), "127.0.0.1:7001");
    }

    /// Not found, or found twice: a start-up error naming the list.
    #[test]
    fn missing_or_twice_is_an_error() {
        let err = find_self(
            None,
            listen("127.0.0.1:7015"),
            &peers(&["localhost:7013", "localhost:7014"]),
            &resolver,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("is not in --peers"), "{err}");
        assert!(err.contains("localhost:7013, localhost:7014"), "{err}");
        let err = find_self(
            None,
            listen("127.0.0.1:7013"),
            &peers(&["localhost:7013", "127.0.0.1:7013", "localhost:7014"]),
            &resolver,
        );
        // The literal spelling is unique here, so it is taken.
        assert_eq!(err.unwrap(), "127.0.0.1:7013");
        let err = find_self(
            None,
            listen("127.0.0.1:7013"),
            &peers(&["localhost:7013", "http://localhost:7013", "x:1"]),
            &resolver,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("2 times"), "{err}");
    }

    /// With no peers the node is alone under its own address.
    #[test]
    fn alone() {
        assert_eq!(
            find_self(None, listen("127.0.0.1:7001"), &[], &resolver).unwrap(),
            "127.0.0.1:7001"
        );
        assert_eq!(
            find_self(Some("http://me:1/"), listen("0.0.0.0:1"), &[], &resolver).unwrap(),
            "me:1"
        );
    }
}
