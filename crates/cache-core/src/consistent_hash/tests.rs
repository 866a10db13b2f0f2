//! Tests of the ring: exact owners with a readable hash, balance, movement
//! on membership change, and order/collision independence.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

/// A readable hash: the decimal number the input spells once `#` is
/// removed, so peer `"2"`'s points are 20, 21, 22 and key `"23"` hashes to 23.
/// Anything else hashes to 0.
fn decimal_hash(data: &[u8]) -> u64 {
    let digits: String = String::from_utf8_lossy(data).replace('#', "");
    digits.parse().unwrap_or(0)
}

/// A hash under which every peer's `i`-th point collides with every other
/// peer's (point `100 * i`); keys hash to their decimal value.
fn colliding_hash(data: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(data);
    match text.split_once('#') {
        Some((_, i)) => i.parse::<u64>().unwrap_or(0) * 100,
        None => text.parse().unwrap_or(0),
    }
}

fn peer(i: usize) -> String {
    format!("10.0.0.{i}:7001")
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("key-{i}")).collect()
}

fn ring_of(n: usize) -> HashRing {
    let mut ring = HashRing::new(DEFAULT_VNODES);
    for i in 1..=n {
        ring.add(&peer(i));
    }
    ring
}

/// Share of `keys` per peer.
fn shares(ring: &HashRing, keys: &[String]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for k in keys {
        *counts.entry(ring.owner(k).unwrap().to_owned()).or_insert(0) += 1;
    }
    counts
}

/// With a readable hash, owners are exactly the next point clockwise,
/// wrapping past the largest point, and a new peer takes its arcs.
#[test]
fn exact_owners_with_readable_hash() {
    let mut ring = HashRing::with_hasher(3, decimal_hash);
    for p in ["6", "4", "2"] {
        assert!(ring.add(p));
    }
    // Points: 20 21 22 (peer 2), 40 41 42 (peer 4), 60 61 62 (peer 6).
    let cases = [
        ("2", "2"),
        ("11", "2"),
        ("22", "2"),
        ("23", "4"),
        ("27", "4"),
    ];
    for (key, owner) in cases {
        assert_eq!(ring.owner(key), Some(owner), "key {key}");
    }
    let more = [
        ("42", "4"),
        ("43", "6"),
        ("62", "6"),
        ("63", "2"),
        ("99", "2"),
    ];
    for (key, owner) in more {
        assert_eq!(ring.owner(key), Some(owner), "key {key}");
    }
    // Peer 8 adds 80 81 82: key 63 now stops at 80 instead of wrapping.
    assert!(ring.add("8"));
    assert_eq!(ring.owner("63"), Some("8"));
    assert_eq!(ring.owner("83"), Some("2"));
    assert_eq!(ring.owner("27"), Some("4"));
    assert!(ring.remove("4"));
    assert_eq!(ring.owner("27"), Some("6"));
    assert_eq!(ring.points.len(), 9);
}

/// An empty ring owns nothing; duplicate adds and unknown removes are
/// no-ops; the accessors agree with the membership.
#[test]
fn membership_bookkeeping() {
    let mut ring = HashRing::default();
    assert_eq!(ring.owner("k"), None);
    assert!(ring.is_empty());
    assert!(ring.add("b:1"));
    assert!(!ring.add("b:1"));
    assert!(ring.add("a:1"));
    assert_eq!(ring.len(), 2);
    assert_eq!(ring.peers(), ["a:1", "b:1"]);
    assert!(ring.contains("a:1") && !ring.contains("c:1"));
    assert_eq!(ring.points.len(), 2 * DEFAULT_VNODES);
    assert!(!ring.remove("c:1"));
    assert!(ring.remove("a:1"));
    assert_eq!(ring.owner("k"), Some("b:1"));
    assert!(ring.remove("b:1"));
    assert_eq!(ring.owner("k"), None);
    assert!(ring.points.is_empty());
    assert_eq!(HashRing::new(0).vnodes(), 1);
}

/// When points collide, the smaller peer id wins, whatever the insertion
/// order.
#[test]
fn collisions_are_broken_by_peer_id() {
    for order in [
        ["b:1", "a:1", "c:1"],
        ["c:1", "b:1", "a:1"],
        ["a:1", "c:1", "b:1"],
    ] {
        let mut ring = HashRing::with_hasher(3, colliding_hash);
        for p in order {
            ring.add(p);
        }
        for key in ["0", "1", "100", "150", "200", "999"] {
            assert_eq!(ring.owner(key), Some("a:1"), "order {order:?} key {key}");
        }
        ring.remove("a:1");
        assert_eq!(ring.owner("150"), Some("b:1"));
    }
}

/// Keys spread evenly: over 100k keys the busiest peer holds at most 1.35x
/// (3 peers) and 1.30x (10 peers) the mean share with 50 virtual nodes.
#[test]
fn balance_over_100k_keys() {
    let keys = keys(100_000);
    for (n, bound) in [(3usize, 1.35f64), (10, 1.30)] {
        let counts = shares(&ring_of(n), &keys);
        assert_eq!(counts.len(), n);
        let mean = keys.len() as f64 / n as f64;
        let max = *counts.values().max().unwrap() as f64;
        let min = *counts.values().min().unwrap() as f64;
        println!(
            "{n} peers x {DEFAULT_VNODES} vnodes: max/mean {:.3}, min/mean {:.3}",
            max / mean,
            min / mean
        );
        assert!(max / mean <= bound, "{n} peers: max/mean {}", max / mean);
    }
}

/// Adding a 4th peer to 3 moves 25% +- 5% of 100k keys, all of them to the
/// new peer; no key moves between two peers that stayed.
#[test]
fn adding_a_peer_moves_only_its_share() {
    let keys = keys(100_000);
    let before = ring_of(3);
    let mut after = before.clone();
    after.add(&peer(4));
    let mut moved = 0usize;
    for k in &keys {
        let (old, new) = (before.owner(k).unwrap(), after.owner(k).unwrap());
        if old != new {
            assert_eq!(new, peer(4), "key {k} moved between unchanged peers");
            moved += 1;
        }
    }
    let fraction = moved as f64 / keys.len() as f64;
    println!("adding a 4th peer moved {fraction:.4} of the keys");
    assert!((0.20..=0.30).contains(&fraction), "moved {fraction}");
}

/// Removing a peer moves exactly its keys, and no other key changes owner.
#[test]
fn removing_a_peer_moves_only_its_keys() {
    let keys = keys(100_000);
    let before = ring_of(4);
    let mut after = before.clone();
    let gone = peer(2);
    after.remove(&gone);
    for k in &keys {
        let (old, new) = (before.owner(k).unwrap(), after.owner(k).unwrap());
        if old == gone {
            assert_ne!(new, gone);
        } else {
            assert_eq!(old, new, "key {k} moved although its owner stayed");
        }
    }
}

/// `set_peers` builds the same ring as adding the peers one by one.
#[test]
fn set_peers_matches_incremental_adds() {
    let mut bulk = HashRing::new(DEFAULT_VNODES);
    bulk.set_peers([peer(3), peer(1), peer(2), peer(1)]);
    let incremental = ring_of(3);
    assert_eq!(bulk.peers(), incremental.peers());
    assert_eq!(bulk.points, incremental.points);
}

fn peer_ids() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::btree_set("[a-e]{1,3}:[1-9]", 1..12)
        .prop_map(|set| set.into_iter().collect())
}

proptest! {
    /// The ring (and so every owner) does not depend on insertion order,
    /// with the real hash and with one that collides heavily.
    #[test]
    fn insertion_order_does_not_matter(
        ids in peer_ids(),
        seed in any::<u64>(),
        probe in proptest::collection::vec("[0-9]{1,3}", 1..50),
    ) {
        let mut shuffled = ids.clone();
        // A deterministic permutation driven by `seed`.
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        for hash in [default_hash as HashFn, colliding_hash] {
            let mut a = HashRing::with_hasher(7, hash);
            let mut b = HashRing::with_hasher(7, hash);
            ids.iter().for_each(|p| { a.add(p); });
            shuffled.iter().for_each(|p| { b.add(p); });
            prop_assert_eq!(&a.points, &b.points);
            for k in &probe {
                prop_assert_eq!(a.owner(k), b.owner(k));
            }
        }
    }

    /// Adding a new peer and removing it again restores the ring exactly.
    #[test]
    fn add_then_remove_restores(ids in peer_ids(), extra in "[f-h]{1,3}:[1-9]") {
        let mut ring = HashRing::new(5);
        ring.set_peers(&ids);
        let original = ring.clone();
        prop_assert!(ring.add(&extra));
        prop_assert!(ring.remove(&extra));
        prop_assert_eq!(ring.peers(), original.peers());
        prop_assert_eq!(&ring.points, &original.points);
    }
}

/// Shares sum to one, one peer owns everything, and with many virtual
/// points each of three peers owns about a third (and the shares agree
/// with where keys actually land).
#[test]
fn shares_of_the_key_space() {
    let mut ring = HashRing::new(1);
    ring.add("a");
    assert_eq!(ring.shares(), [("a".to_string(), 1.0)]);
    let mut ring = HashRing::new(DEFAULT_VNODES);
    ring.set_peers(["a", "b", "c"]);
    let shares = ring.shares();
    let sum: f64 = shares.iter().map(|(_, s)| s).sum();
    assert!((sum - 1.0).abs() < 1e-9, "{shares:?}");
    let mut landed = std::collections::HashMap::new();
    for i in 0..30_000 {
        *landed
            .entry(ring.owner(&format!("k{i}")).unwrap().to_owned())
            .or_insert(0) += 1;
    }
    for (peer, share) in &shares {
        assert!((share - 1.0 / 3.0).abs() < 0.1, "{shares:?}");
        let actual = f64::from(landed[peer]) / 30_000.0;
        assert!((actual - share).abs() < 0.02, "{peer}: {actual} vs {share}");
    }
}

/// Peers of the simulated large ring, in the form of real ids.
const SCALE_PEERS: usize = 1000;

/// Keys traced through it: about 100 per peer, so that one peer's keys are
/// counted with ~10 % sampling noise.
const SCALE_KEYS: usize = 100_000;

fn scale_peer(i: usize) -> String {
    format!("10.{}.{}.{}:7001", i / 65536, (i / 256) % 256, i % 256)
}

/// A ring of 1000 peers x [`DEFAULT_VNODES`], the keys, and each key's
/// owner, built once for the tests below (a debug build takes a while to
/// hash 50 000 points and 100 000 keys).
struct Scale {
    ring: HashRing,
    keys: Vec<String>,
    owners: Vec<String>,
}

static SCALE: std::sync::LazyLock<Scale> = std::sync::LazyLock::new(|| {
    let mut ring = HashRing::new(DEFAULT_VNODES);
    ring.set_peers((0..SCALE_PEERS).map(scale_peer));
    let keys = keys(SCALE_KEYS);
    let owners = keys
        .iter()
        .map(|k| ring.owner(k).unwrap().to_owned())
        .collect();
    Scale { ring, keys, owners }
});

/// A peer joining a ring of 1000 takes about 1/1000 of the keys, and every
/// key that moves moves to it. Bound: between 0.5/N and 2/N of the keys.
/// A peer's share is the sum of its 50 arcs, about a Gamma(50) variable
/// (coefficient of variation 1/sqrt(50) = 14 %), and ~100 keys sample it
/// with ~10 % more noise: the bounds sit ~3 standard deviations below and
/// ~6 above the mean. Each join is also checked against the share of the
/// key space the ring itself computes for the new peer, within 4 standard
/// deviations of the key sampling.
#[test]
fn at_1000_peers_a_join_moves_about_1_in_n_keys_all_to_the_joiner() {
    let scale = &*SCALE;
    let n = SCALE_PEERS as f64;
    for joiner in ["10.200.0.1:7001", "10.200.0.2:7001", "192.168.7.7:9000"] {
        let mut after = scale.ring.clone();
        assert!(after.add(joiner));
        let mut moved = 0usize;
        for (key, old) in scale.keys.iter().zip(&scale.owners) {
            let new = after.owner(key).unwrap();
            if new != old {
                assert_eq!(new, joiner, "key {key} moved between peers that stayed");
                moved += 1;
            }
        }
        let fraction = moved as f64 / SCALE_KEYS as f64;
        let share = after
            .shares()
            .into_iter()
            .find(|(p, _)| p == joiner)
            .unwrap()
            .1;
        let sampling = (share / SCALE_KEYS as f64).sqrt();
        println!(
            "{joiner} joining {SCALE_PEERS} peers: moved {moved} keys ({fraction:.5}; its share {share:.5}; 1/N {:.5})",
            1.0 / n
        );
        assert!(
            (0.5 / n..=2.0 / n).contains(&fraction),
            "{joiner} moved {fraction}"
        );
        assert!(
            (fraction - share).abs() <= 4.0 * sampling,
            "{joiner}: moved {fraction}, share {share}"
        );
    }
}

/// A peer leaving a ring of 1000 moves exactly its own keys, spread over
/// many successors (one per virtual point, not one neighbour), and no
/// other key changes owner.
#[test]
fn at_1000_peers_a_leave_moves_only_the_leavers_keys() {
    let scale = &*SCALE;
    for leaver in [scale_peer(0), scale_peer(517), scale_peer(999)] {
        let mut after = scale.ring.clone();
        assert!(after.remove(&leaver));
        let mut heirs = std::collections::HashSet::new();
        let mut moved = 0usize;
        for (key, old) in scale.keys.iter().zip(&scale.owners) {
            let new = after.owner(key).unwrap();
            if *old == leaver {
                assert_ne!(new, leaver);
                heirs.insert(new.to_owned());
                moved += 1;
            } else {
                assert_eq!(new, old, "key {key} moved although its owner stayed");
            }
        }
        println!(
            "{leaver} leaving: its {moved} keys went to {} peers",
            heirs.len()
        );
        assert!(moved > 0, "{leaver} owned no key of the trace");
        assert!(heirs.len() >= 20, "{leaver}'s keys went to {heirs:?}");
    }
}

/// The fingerprint depends on the set of peers and on `vnodes` only: equal
/// for the same 1000 peers given in any order, with duplicates, or added one
/// by one; different when one peer differs, one is added or removed, or the
/// vnodes differ; ids cannot run into each other; an empty ring is 0.
#[test]
fn fingerprint_identifies_the_peer_set() {
    let base = &SCALE.ring;
    let fp = base.fingerprint();
    assert_ne!(fp, 0);
    let mut ids: Vec<String> = (0..SCALE_PEERS).map(scale_peer).collect();
    ids.reverse();
    ids.push(scale_peer(3));
    let mut shuffled = HashRing::new(DEFAULT_VNODES);
    shuffled.set_peers(&ids);
    assert_eq!(shuffled.fingerprint(), fp);
    // One by one (each `add` re-sorts the points: one virtual node keeps
    // 1000 of them fast in a debug build), against the same set in bulk.
    let mut one_by_one = HashRing::new(1);
    for id in ids.iter().step_by(7).chain(ids.iter()) {
        one_by_one.add(id);
    }
    let mut bulk = HashRing::new(1);
    bulk.set_peers(base.peers());
    assert_eq!(one_by_one.fingerprint(), bulk.fingerprint());

    let mut replaced = base.clone();
    replaced.remove(&scale_peer(500));
    let removed = replaced.fingerprint();
    replaced.add("10.0.1.244:7002");
    let mut added = base.clone();
    added.add("10.9.9.9:7001");
    let mut other_vnodes = HashRing::new(DEFAULT_VNODES - 1);
    other_vnodes.set_peers(base.peers());
    let variants = [
        removed,
        replaced.fingerprint(),
        added.fingerprint(),
        other_vnodes.fingerprint(),
        bulk.fingerprint(),
    ];
    for (i, variant) in variants.iter().enumerate() {
        assert_ne!(*variant, fp, "variant {i}");
    }

    let mut ab_c = HashRing::new(3);
    ab_c.set_peers(["ab", "c"]);
    let mut a_bc = HashRing::new(3);
    a_bc.set_peers(["a", "bc"]);
    assert_ne!(ab_c.fingerprint(), a_bc.fingerprint());
    assert_eq!(HashRing::new(DEFAULT_VNODES).fingerprint(), 0);
}
