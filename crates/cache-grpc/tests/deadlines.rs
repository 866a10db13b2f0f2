//! Deadlines and liveness across the hop: a load is bounded by the load
//! timeout, never by the deadline of the request that started it; a live
//! owner slower than the peer timeout is waited for on both transports; a
//! deadline too short for the source is answered DEADLINE_EXCEEDED, on time.

mod common;

use std::time::Duration;

use cache_grpc::ClusterOptions;
use cache_grpc::Transport;
use cache_grpc::pb::GetRequest;
use common::*;
use tokio::time::Instant;
use tonic::Code;

/// The owner's loader sees the load timeout, whatever the deadline of the
/// request that started the load: a 200 ms client deadline across a hop,
/// and a 5 s one asked of the owner directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loaders_get_the_load_timeout_not_the_callers_deadline() {
    let (cluster, recorder) = cluster(2).await;
    bounded(async {
        let mut client = cluster.client(0);
        // Across a hop the owner's load is started by a peer's Fetch: the
        // answer may be late on a loaded machine, the load's bound not.
        let short = key_owned_by(&cluster, 1, "a");
        let _ = get(&mut client, &short, Some(Duration::from_millis(200))).await;
        let mut owner = cluster.client(1);
        let direct = key_owned_by(&cluster, 1, "c");
        get(&mut owner, &direct, Some(Duration::from_secs(5)))
            .await
            .unwrap();
        recorder.wait_for(2).await;
        for key in [&short, &direct] {
            let load = &recorder.loads_of(key)[0];
            assert_eq!(load.node, 1);
            let seen = load.remaining.expect("the loader got the load timeout");
            assert!(seen > LOAD_TIMEOUT - Duration::from_secs(5), "{seen:?}");
            assert!(seen <= LOAD_TIMEOUT, "{seen:?}");
        }
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// An owner whose load takes several times the peer timeout (2 s against
/// 300 ms) is alive: its HTTP/2 stack answers the requester's PINGs, so the
/// requester waits for it and never loads the key itself. Checked against
/// both server transports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_slow_owner_is_waited_for_on_both_transports() {
    for transport in [Transport::H2, Transport::Hyper] {
        let mut opts = ClusterOptions::default();
        opts.pool = opts
            .pool
            .to_builder()
            .peer_timeout(DEFAULT_PEER_TIMEOUT)
            .build()
            .unwrap();
        opts.server = opts
            .server
            .to_builder()
            .transport(transport)
            .build()
            .unwrap();
        let (cluster, recorder) = cluster_with(2, opts).await;
        bounded(async {
            let key = key_owned_by(&cluster, 1, "slow1-");
            let start = Instant::now();
            let value = get(&mut cluster.client(0), &key, Some(Duration::from_secs(10)))
                .await
                .unwrap();
            assert_eq!(value, value_of(&key));
            assert!(start.elapsed() >= SLOW, "{:?}", start.elapsed());
            let stats = cluster.group(0, GROUP).unwrap().stats();
            assert_eq!(
                (stats.fallback_loads, stats.peer_errors),
                (0, 0),
                "{transport:?}"
            );
            let nodes: Vec<usize> = recorder.loads_of(&key).iter().map(|l| l.node).collect();
            assert_eq!(nodes, [1], "only the owner loaded it");
        })
        .await;
        cluster.shutdown().await.unwrap();
    }
}

/// A deadline shorter than the source needs gives DEADLINE_EXCEEDED (a
/// real gRPC status from the server, not CANCELLED or a transport error),
/// a little before the deadline rather than after the load. The client
/// sends `grpc-timeout` without enforcing it, so the answer is the
/// server's, and its connection is made before the clock starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_short_deadline_is_deadline_exceeded_on_time() {
    let (cluster, _recorder) = cluster_with(1, patient()).await;
    bounded(async {
        let mut client = non_enforcing_client(&cluster.url(0));
        // Warm the connection, so the time measured is the request's only.
        client
            .get(GetRequest {
                group: GROUP.into(),
                key: "warm".into(),
            })
            .await
            .unwrap();
        let mut req = tonic::Request::new(GetRequest {
            group: GROUP.into(),
            key: "slow0-x".into(),
        });
        let budget = Duration::from_millis(500);
        req.set_timeout(budget);
        let start = Instant::now();
        let err = client.get(req).await.unwrap_err();
        let took = start.elapsed();
        assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
        let margin = cache_grpc::middleware::deadline::enforcement_margin(budget);
        assert!(took >= budget - margin, "{took:?}");
        assert!(took < SLOW, "{took:?}");
    })
    .await;
    cluster.shutdown().await.unwrap();
}
