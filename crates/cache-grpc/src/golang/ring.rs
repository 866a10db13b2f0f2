//! [`GoRing`]: the consistent hash ring of golang/groupcache's `HTTPPool`,
//! reproduced bit for bit so that a mixed pool of Go and Rust nodes names
//! the same owner for every key.
//!
//! The Go ring (`consistenthash.Map` with its defaults) is built like this:
//!
//! - each peer is its full base URL **as given** (`http://10.0.0.2:8008`;
//!   `http://10.0.0.2:8008/` would be another peer);
//! - for every peer, in list order, and every replica `i` in
//!   `0..replicas`, the point `crc32_ieee(decimal(i) ++ url)` names that
//!   peer; when two points collide, the peer added later wins (Go
//!   overwrites its map entry), so the list order matters, but only then;
//! - a key belongs to the first point at or after `crc32_ieee(key)`,
//!   wrapping round to the smallest point.
//!
//! This is not [`cache_core::consistent_hash::HashRing`] (xxh3, canonical
//! ids): the two rings place keys differently, which is why a node joins
//! either a Go pool or a gRPC pool, never both.

use std::collections::BTreeMap;

/// golang/groupcache's default number of points per peer
/// (`defaultReplicas`).
pub const DEFAULT_REPLICAS: usize = 50;

/// The most points per peer a [`GoRing`] accepts (the ring costs about
/// 40 bytes a point).
pub const MAX_REPLICAS: usize = 10_000;

/// A Go-compatible ring over peer URLs. Immutable: a new peer list is a
/// new ring (as with Go's `HTTPPool.Set`).
#[derive(Debug, Clone)]
pub struct GoRing {
    /// Point -> index into `peers`; the last peer to claim a point keeps it.
    points: BTreeMap<u32, usize>,
    /// CRC-32 (IEEE); another function only in tests.
    hash: fn(&[u8]) -> u32,
    /// The peers, in the order given.
    peers: Vec<String>,
    replicas: usize,
}

impl GoRing {
    /// The ring Go's `consistenthash.New(replicas, nil).Add(peers...)`
    /// builds. No validation: every string is hashed exactly as given.
    pub fn new<I, S>(replicas: usize, peers: I) -> GoRing
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        GoRing::with_hash(replicas, peers, crc32)
    }

    fn with_hash<I, S>(replicas: usize, peers: I, hash: fn(&[u8]) -> u32) -> GoRing
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let peers: Vec<String> = peers.into_iter().map(Into::into).collect();
        let mut points = BTreeMap::new();
        for (index, peer) in peers.iter().enumerate() {
            for i in 0..replicas {
                points.insert(hash(format!("{i}{peer}").as_bytes()), index);
            }
        }
        GoRing {
            points,
            hash,
            peers,
            replicas,
        }
    }

    /// The owner of `key`: the peer of the first point at or after the
    /// key's hash, wrapping; `None` for an empty ring.
    pub fn owner(&self, key: &str) -> Option<&str> {
        let hash = (self.hash)(key.as_bytes());
        let (_, &index) = self
            .points
            .range(hash..)
            .next()
            .or_else(|| self.points.iter().next())?;
        Some(&self.peers[index])
    }

    /// The peers, in the order given.
    pub fn peers(&self) -> &[String] {
        &self.peers
    }

    /// Points per peer.
    pub fn replicas(&self) -> usize {
        self.replicas
    }

    /// Each peer's share of the 32-bit hash space, in list order (peers
    /// whose every point was taken by a later one have 0).
    pub fn shares(&self) -> Vec<(String, f64)> {
        let mut owned = vec![0u64; self.peers.len()];
        let mut previous: Option<u32> = None;
        for (&point, &index) in &self.points {
            // The arc (previous, point] belongs to this point's peer.
            let start = previous.map_or(0, |p| u64::from(p) + 1);
            owned[index] += u64::from(point) + 1 - start;
            previous = Some(point);
        }
        if let (Some(last), Some((_, &first))) = (previous, self.points.iter().next()) {
            // The wrap-around arc above the largest point.
            owned[first] += u64::from(u32::MAX) - u64::from(last);
        }
        let total = (1u64 << 32) as f64;
        self.peers
            .iter()
            .zip(owned)
            .map(|(peer, n)| (peer.clone(), n as f64 / total))
            .collect()
    }
}

/// CRC-32 (IEEE), Go's `crc32.ChecksumIEEE`.
fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash is the standard CRC-32/IEEE (its published check value).
    #[test]
    fn crc32_is_ieee() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    /// A key goes to the first point at or after its hash, and past the
    /// largest point wraps to the smallest, as Go's binary search does.
    #[test]
    fn owner_is_the_next_point_wrapping() {
        let peers = ["http://127.0.0.1:8001", "http://127.0.0.1:8002"];
        let ring = GoRing::new(3, peers);
        let mut points: Vec<(u32, &str)> = Vec::new();
        for peer in peers {
            for i in 0..3 {
                points.push((crc32(format!("{i}{peer}").as_bytes()), peer));
            }
        }
        points.sort();
        for key in (0..500).map(|n| format!("key-{n}")) {
            let h = crc32(key.as_bytes());
            let want = points.iter().find(|(p, _)| *p >= h).unwrap_or(&points[0]).1;
            assert_eq!(ring.owner(&key), Some(want), "{key}");
        }
    }

    /// Owners computed by golang/groupcache itself (Debian's
    /// golang-github-golang-groupcache-dev, `consistenthash.New(50, nil)`,
    /// through `tests/golang/node -print-owners`) for a 3-peer list.
    #[test]
    fn agrees_with_go() {
        let ring = GoRing::new(DEFAULT_REPLICAS, GOLDEN_PEERS);
        for &(key, owner) in GOLDEN {
            assert_eq!(ring.owner(key), Some(GOLDEN_PEERS[owner]), "{key:?}");
        }
    }

    /// With colliding points the later peer wins, so list order matters
    /// (only) then. A decimal "hash" makes the points readable: peer "7"
    /// has point "0"+"7" = 7, peer "07" has "0"+"07" = 7 too.
    #[test]
    fn collisions_go_to_the_later_peer() {
        let decimal = |b: &[u8]| std::str::from_utf8(b).unwrap().parse::<u32>().unwrap();
        let ring = GoRing::with_hash(1, ["7", "07"], decimal);
        assert_eq!(ring.owner("3"), Some("07"));
        let ring = GoRing::with_hash(1, ["07", "7"], decimal);
        assert_eq!(ring.owner("3"), Some("7"));
        // Points 1 and 11 for "1", 5 and 15 for "5": 12 -> 15, 16 wraps to 1.
        let ring = GoRing::with_hash(2, ["1", "5"], decimal);
        let owners: Vec<_> = ["0", "1", "2", "11", "12", "15", "16"]
            .iter()
            .map(|k| ring.owner(k).unwrap())
            .collect();
        assert_eq!(owners, ["1", "1", "5", "1", "5", "5", "1"]);
    }

    /// The string is hashed as given: a trailing slash makes another peer.
    #[test]
    fn peer_strings_are_exact() {
        let plain = GoRing::new(DEFAULT_REPLICAS, ["http://10.0.0.1:1"]);
        let slash = GoRing::new(DEFAULT_REPLICAS, ["http://10.0.0.1:1/"]);
        assert_ne!(
            plain.points.keys().collect::<Vec<_>>(),
            slash.points.keys().collect::<Vec<_>>()
        );
    }

    /// Shares cover the whole hash space; an empty ring owns nothing.
    #[test]
    fn shares_and_empty() {
        let ring = GoRing::new(DEFAULT_REPLICAS, GOLDEN_PEERS);
        let total: f64 = ring.shares().iter().map(|(_, s)| s).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        assert_eq!(
            GoRing::new(DEFAULT_REPLICAS, Vec::<String>::new()).owner("k"),
            None
        );
    }

    /// The peer list of [`GOLDEN`].
    const GOLDEN_PEERS: [&str; 3] = [
        "http://127.0.0.1:8001",
        "http://127.0.0.1:8002",
        "http://127.0.0.1:8003",
    ];

    /// Key -> index into [`GOLDEN_PEERS`] of its owner, from the Go code.
    const GOLDEN: &[(&str, usize)] = &[
        ("key-0", 1),
        ("key-1", 0),
        ("key-2", 2),
        ("key-3", 1),
        ("key-4", 2),
        ("key-5", 2),
        ("key-6", 0),
        ("key-7", 2),
        ("key-8", 0),
        ("key-9", 0),
        ("key-10", 0),
        ("key-11", 0),
        ("key-12", 1),
        ("key-13", 2),
        ("key-14", 1),
        ("key-15", 2),
        ("key-16", 1),
        ("key-17", 0),
        ("key-18", 1),
        ("key-19", 0),
        ("key-20", 0),
        ("key-21", 0),
        ("key-22", 2),
        ("key-23", 1),
        ("a b", 1),
        ("a+b", 2),
        ("ünïcode", 0),
        ("x/y", 1),
        ("hello", 0),
    ];
}
