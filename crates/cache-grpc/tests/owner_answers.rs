//! In-process tier (`LocalCluster`: real gRPC servers on 127.0.0.1:0 in
//! the test process): what a requesting node does with its key owner's
//! answers that are not values. A NotFound is cached by the owner, and by
//! the requester's hot cache for the owner's remaining negative TTL; a value
//! over `max_value_bytes`
//! reaches the client as `RESOURCE_EXHAUSTED` through either node.

mod common;

use std::time::Duration;

use common::*;
use tonic::Code;

/// The negative TTL of every node in these tests: longer than any test.
const NEGATIVE_TTL: Duration = Duration::from_secs(600);

fn stats(cluster: &cache_grpc::LocalCluster, node: usize) -> cache_core::StatsSnapshot {
    cluster.group(node, GROUP).unwrap().stats()
}

/// With negative caching on every node, a NotFound from the key's owner
/// travels with the time the owner still remembers it: asked three times
/// through node 0, the owner's source is called once and the owner is asked
/// once; node 0 answers the other two from the NotFound in its hot cache
/// (never its main cache: the key is not its own). Node 0 caches a NotFound
/// of a key it owns itself in its main cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peers_not_found_is_kept_for_the_owners_ttl() {
    let (cluster, recorder) =
        cluster_configured(2, patient(), |b| b.negative_ttl(Some(NEGATIVE_TTL))).await;
    bounded(async {
        let remote = key_owned_by(&cluster, 1, "missing-r");
        let mut client = cluster.client(0);
        for round in 1..=3u64 {
            let err = get(&mut client, &remote, None).await.unwrap_err();
            assert_eq!(err.code(), Code::NotFound, "round {round}: {err:?}");
            assert_eq!(stats(&cluster, 0).peer_loads, 1, "asked the owner once");
        }
        let loads: Vec<usize> = recorder.loads_of(&remote).iter().map(|l| l.node).collect();
        assert_eq!(loads, [1], "the owner's source asked once");
        let requester = stats(&cluster, 0);
        assert_eq!(
            (requester.main_cache.items, requester.hot_cache.items),
            (0, 1),
            "the requester keeps the NotFound in its hot cache"
        );
        assert_eq!(
            (requester.negative_promotions, requester.negative_hits),
            (1, 2)
        );
        assert_eq!(requester.fallback_loads, 0);
        let owner = stats(&cluster, 1);
        assert_eq!(owner.main_cache.items, 1, "the owner keeps the NotFound");
        assert_eq!(owner.server_requests, 1);

        let own = key_owned_by(&cluster, 0, "missing-o");
        for _ in 0..2 {
            let err = get(&mut client, &own, None).await.unwrap_err();
            assert_eq!(err.code(), Code::NotFound, "{err:?}");
        }
        assert_eq!(recorder.loads_of(&own).len(), 1, "node 0 caches its own");
        assert_eq!(stats(&cluster, 0).main_cache.items, 1);
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// A value over the server's `max_value_bytes` (the loader's 5 MiB `big-`
/// value against a 1 MiB limit): the owner refuses to send it, and the
/// client gets `RESOURCE_EXHAUSTED` saying so, whether it asks the owner or
/// another node (README, "Status codes").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_over_the_limit_is_resource_exhausted_through_any_node() {
    const LIMIT: usize = 1 << 20;
    let mut opts = patient();
    opts.server = opts
        .server
        .to_builder()
        .max_value_bytes(LIMIT)
        .build()
        .unwrap();
    opts.pool = opts
        .pool
        .to_builder()
        .max_value_bytes(LIMIT)
        .build()
        .unwrap();
    let (cluster, _recorder) = cluster_with(2, opts).await;
    bounded(async {
        let key = key_owned_by(&cluster, 1, "big-");
        let want = format!("value of {BIG} bytes exceeds max_value_bytes ({LIMIT})");
        for node in [1, 0] {
            let err = get(&mut cluster.client(node), &key, None)
                .await
                .unwrap_err();
            assert_eq!(
                (err.code(), err.message()),
                (Code::ResourceExhausted, want.as_str()),
                "through node {node}"
            );
        }
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// The same oversized value asked through node 0 only: the owner's refusal
/// is an answer about the value, so node 0 should pass it on rather than
/// load the key itself (README: one load per key in the mesh; an owner's
/// answer about its source is passed on, not retried).
/// The owner marks its refusal (`value-too-large`); an unmarked
/// `RESOURCE_EXHAUSTED` would read as shedding and be loaded again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_over_the_limit_is_not_loaded_again_by_the_requester() {
    const LIMIT: usize = 1 << 20;
    let mut opts = patient();
    opts.server = opts
        .server
        .to_builder()
        .max_value_bytes(LIMIT)
        .build()
        .unwrap();
    opts.pool = opts
        .pool
        .to_builder()
        .max_value_bytes(LIMIT)
        .build()
        .unwrap();
    let (cluster, recorder) = cluster_with(2, opts).await;
    bounded(async {
        let key = key_owned_by(&cluster, 1, "big-");
        let err = get(&mut cluster.client(0), &key, None).await.unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        let loads: Vec<usize> = recorder.loads_of(&key).iter().map(|l| l.node).collect();
        assert_eq!(loads, [1], "loaded by the owner only");
        assert_eq!(stats(&cluster, 0).fallback_loads, 0);
    })
    .await;
    cluster.shutdown().await.unwrap();
}
