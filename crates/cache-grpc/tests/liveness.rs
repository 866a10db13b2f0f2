//! Peer liveness over real gRPC on loopback: a hung owner (behind a frozen
//! proxy, as a SIGSTOPped process looks) is judged dead within about the
//! peer timeout, its breaker opens so later requests do not wait at all,
//! and once it answers a probe again it is used again.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cache_core::{Group, GroupBuilder, LoadContext};
use cache_grpc::{BreakerOptions, PeerPool, PoolOptions};
use common::proxy::FreezableProxy;
use common::*;
use tokio::time::Instant;

/// The peer timeout of the requester in these tests.
const PEER_TIMEOUT: Duration = Duration::from_millis(500);

/// A requester group (node index 9 in the recorder) whose pool lists itself
/// and the proxy; every key the ring gives the proxy is fetched through it.
fn requester(proxy: &FreezableProxy, recorder: &Recorder) -> (Group, PeerPool) {
    let opts = PoolOptions::builder()
        .peer_timeout(PEER_TIMEOUT)
        .breaker(BreakerOptions {
            failures: 3,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_millis(400),
        })
        .build()
        .unwrap();
    let proxy_addr = proxy.addr().to_string();
    let pool = PeerPool::new("127.0.0.1:9", ["127.0.0.1:9", proxy_addr.as_str()], opts)
        .expect("valid pool");
    let group = make_group(9, recorder, &pool);
    (group, pool)
}

/// `n` keys starting with `prefix` that `pool` gives to another peer.
fn remote_keys(pool: &PeerPool, prefix: &str, n: usize) -> Vec<String> {
    (0..100_000)
        .map(|i| format!("{prefix}{i}"))
        .filter(|k| pool.owner(k) != pool.self_id())
        .take(n)
        .collect()
}

/// Gets `key` with a 10 s deadline; returns how long it took.
async fn timed_get(group: &Group, key: &str) -> Duration {
    let start = Instant::now();
    let value = group
        .get_with(key, LoadContext::with_timeout(Duration::from_secs(10)))
        .await
        .unwrap_or_else(|e| panic!("get {key}: {e}"));
    assert_eq!(value, value_of(key));
    start.elapsed()
}

/// Hung owner: the gets in flight when it hangs are answered by local
/// loads after about the peer timeout; the breaker opens once; the next
/// gets skip the peer without sending anything; after the owner thaws a
/// probe closes the breaker and its keys are fetched from it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_owner_is_skipped_then_used_again() {
    let (owner, recorder) = cluster(1).await;
    let proxy = FreezableProxy::start(owner.addr(0)).await;
    let (group, pool) = requester(&proxy, &recorder);
    bounded(async {
        let keys = remote_keys(&pool, "k", 40);
        // Warm: the connection works and the owner loads.
        timed_get(&group, &keys[0]).await;
        assert_eq!(recorder.loads_of(&keys[0])[0].node, 0);

        proxy.freeze(true);
        let hung: Vec<_> = keys[1..11]
            .iter()
            .map(|k| {
                let (g, k) = (group.clone(), k.clone());
                tokio::spawn(async move { timed_get(&g, &k).await })
            })
            .collect();
        for get in hung {
            let took = get.await.unwrap();
            // Judged dead after about the peer timeout, not the 10 s
            // deadline (generous: a loaded machine is slow to wake).
            assert!(took >= PEER_TIMEOUT / 2, "{took:?}");
            assert!(took < Duration::from_secs(5), "{took:?}");
        }
        let (_, health) = &pool.health()[0];
        assert!(health.open, "{health:?}");
        assert_eq!(health.opens, 1, "{health:?}");

        // Open: no fetch is sent, so nothing waits for the peer.
        let skipped_before = health.skipped;
        for key in &keys[11..31] {
            let took = timed_get(&group, key).await;
            assert!(took < PEER_TIMEOUT, "{took:?}");
        }
        let (_, health) = &pool.health()[0];
        assert_eq!(health.skipped - skipped_before, 20, "{health:?}");
        for key in &keys[1..31] {
            assert!(recorder.loads_of(key).iter().all(|l| l.node == 9), "{key}");
        }

        // Thawed: a probe finds it answering and the breaker closes.
        proxy.freeze(false);
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.health()[0].1.open {
            assert!(Instant::now() < deadline, "breaker still open");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let key = &keys[31];
        timed_get(&group, key).await;
        assert_eq!(
            recorder.loads_of(key)[0].node,
            0,
            "fetched from the owner again"
        );
        let stats = group.stats();
        assert_eq!(stats.fallback_loads, 30);
    })
    .await;
    drop(group);
    owner.shutdown().await.unwrap();
}

/// A peer that refuses connections (nothing listens) fails fast, opens its
/// breaker after the configured number of failures, and is then skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_peer_opens_the_breaker() {
    let gone = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let opts = PoolOptions::builder()
        .peer_timeout(PEER_TIMEOUT)
        .build()
        .unwrap();
    let pool = PeerPool::new(
        "127.0.0.1:9",
        ["127.0.0.1:9".to_owned(), gone.to_string()],
        opts,
    )
    .unwrap();
    let group: Group = GroupBuilder::new(
        GROUP,
        1 << 20,
        cache_core::getter_fn(|key: String, _| async move {
            Ok(cache_core::Loaded::new(value_of(&key)))
        }),
    )
    .peers(Arc::new(pool.clone()))
    .build()
    .unwrap();
    bounded(async {
        for key in remote_keys(&pool, "r", 12) {
            timed_get(&group, &key).await;
        }
        let (_, health) = &pool.health()[0];
        assert!(health.open, "{health:?}");
        assert_eq!((health.opens, health.failures), (1, 5), "{health:?}");
        assert_eq!(health.skipped, 7, "{health:?}");
        assert_eq!(group.stats().fallback_loads, 12);
    })
    .await;
}
