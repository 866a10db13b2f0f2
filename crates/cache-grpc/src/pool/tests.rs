//! Unit tests of [`PeerPool`](super::PeerPool).

use super::*;

fn pool(self_addr: &str, peers: &[&str]) -> PeerPool {
    PeerPool::new(self_addr, peers, PoolOptions::default()).unwrap()
}

/// `host:port` and `http://host:port/` name the same peer; self is
/// always on the ring, even when missing from the list.
#[test]
fn canonical_ids_and_self_added() {
    let p = pool(
        "http://127.0.0.1:7001/",
        &["127.0.0.1:7002", "http://127.0.0.1:7002", "127.0.0.1:7003"],
    );
    assert_eq!(p.self_id(), "127.0.0.1:7001");
    assert_eq!(
        p.peers(),
        ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"]
    );
    assert!(p.client("127.0.0.1:7001").is_none(), "no client for self");
    assert!(p.client("http://127.0.0.1:7002/").is_some());
}

/// A node missing from its own peer list says so (a warning naming
/// itself) and still joins the ring.
#[test]
fn missing_self_is_logged_and_added() {
    #[derive(Clone, Default)]
    struct Buf(Arc<parking_lot::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let p = tracing::subscriber::with_default(subscriber, || {
        pool("127.0.0.1:7009", &["127.0.0.1:7001", "127.0.0.1:7002"])
    });
    let log = String::from_utf8(buf.0.lock().clone()).unwrap();
    assert!(log.contains("WARN"), "{log}");
    assert!(log.contains("127.0.0.1:7009"), "{log}");
    assert!(log.contains("not in its peer list"), "{log}");
    assert_eq!(
        p.peers(),
        ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7009"]
    );
}

/// Bad addresses are refused with an error naming them.
#[test]
fn invalid_addresses_are_errors() {
    let err = PeerPool::new("127.0.0.1:7001", ["127.0.0.1"], PoolOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"127.0.0.1\""), "{err}");
    assert!(PeerPool::new("ftp://x:1", ["127.0.0.1:1"], PoolOptions::default()).is_err());
}

/// `pick` answers `None` exactly for the keys this node owns, and the
/// owner's client otherwise; every node computes the same owner.
#[test]
fn pick_agrees_with_owner_on_every_node() {
    let peers = ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"];
    let pools: Vec<PeerPool> = peers.iter().map(|me| pool(me, &peers)).collect();
    let mut owned = [0usize; 3];
    for i in 0..3000 {
        let key = format!("key-{i}");
        let owner = pools[0].owner(&key);
        for (n, p) in pools.iter().enumerate() {
            assert_eq!(p.owner(&key), owner);
            match p.pick(&key) {
                None => {
                    assert_eq!(owner, peers[n]);
                    owned[n] += 1;
                }
                Some(c) => assert_eq!(c.id(), owner),
            }
        }
    }
    assert_eq!(owned.iter().sum::<usize>(), 3000);
    assert!(owned.iter().all(|&n| n > 500), "{owned:?}");
}

/// Changing the peer set keeps the client (and so the channel) of peers
/// that stay, and never removes self.
#[test]
fn changes_keep_channels_of_unchanged_peers() {
    let p = pool("127.0.0.1:7001", &["127.0.0.1:7001", "127.0.0.1:7002"]);
    let kept = p.client("127.0.0.1:7002").unwrap();
    assert!(p.add_peer("http://127.0.0.1:7003").unwrap());
    assert!(!p.add_peer("127.0.0.1:7003").unwrap());
    assert!(Arc::ptr_eq(&kept, &p.client("127.0.0.1:7002").unwrap()));
    p.set_peers(["127.0.0.1:7002", "127.0.0.1:7004"]).unwrap();
    assert_eq!(
        p.peers(),
        ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7004"]
    );
    assert!(Arc::ptr_eq(&kept, &p.client("127.0.0.1:7002").unwrap()));
    assert!(p.remove_peer("127.0.0.1:7004").unwrap());
    assert!(!p.remove_peer("127.0.0.1:7004").unwrap());
    assert!(!p.remove_peer("127.0.0.1:7001").unwrap(), "self stays");
    assert_eq!(p.peers(), ["127.0.0.1:7001", "127.0.0.1:7002"]);
}

/// The pool remembers its starting set and each change since, what joined
/// and what left; a change to nothing is not recorded; shares cover the
/// ring.
#[test]
fn membership_changes_are_remembered() {
    let p = pool("127.0.0.1:1", &["127.0.0.1:1", "127.0.0.1:2"]);
    let log = p.membership_changes();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].added, ["127.0.0.1:1", "127.0.0.1:2"]);
    assert!(log[0].removed.is_empty());
    p.set_peers(["127.0.0.1:1", "127.0.0.1:3"]).unwrap();
    p.set_peers(["127.0.0.1:1", "127.0.0.1:3"]).unwrap();
    let log = p.membership_changes();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[1].added, ["127.0.0.1:3"]);
    assert_eq!(log[1].removed, ["127.0.0.1:2"]);
    let shares = p.ring_shares();
    assert_eq!(shares.len(), 2);
    assert!((shares.iter().map(|(_, s)| s).sum::<f64>() - 1.0).abs() < 1e-9);
}
