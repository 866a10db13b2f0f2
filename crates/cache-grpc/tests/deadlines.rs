//! Deadlines across the hop: the client's `grpc-timeout` reaches the owner's
//! loader (minus the fallback reserve, capped by the peer timeout); a slow
//! owner is worked around within the client's deadline; a deadline too
//! short for the source is answered DEADLINE_EXCEEDED, on time.

mod common;

use std::time::Duration;

use cache_grpc::ClusterOptions;
use cache_grpc::pb::GetRequest;
use common::*;
use tokio::time::Instant;
use tonic::Code;

/// The owner's loader sees a deadline no later than the client's budget
/// minus the requester's fallback reserve (half) and within the peer
/// timeout (300 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_deadline_reaches_the_owners_loader() {
    let (cluster, recorder) =
        cluster_with(2, ClusterOptions::default(), DEFAULT_PEER_TIMEOUT).await;
    bounded(async {
        let mut client = cluster.client(0);
        // 200 ms budget: the peer gets at most 100 ms.
        let short = key_owned_by(&cluster, 1, "a");
        get(&mut client, &short, Some(Duration::from_millis(200)))
            .await
            .unwrap();
        let load = &recorder.loads_of(&short)[0];
        assert_eq!(load.node, 1);
        let seen = load.remaining.expect("the owner's loader got a deadline");
        assert!(seen <= Duration::from_millis(100), "{seen:?}");
        assert!(seen > Duration::ZERO, "{seen:?}");

        // 10 s budget: capped by the 300 ms peer timeout.
        let long = key_owned_by(&cluster, 1, "b");
        get(&mut client, &long, Some(Duration::from_secs(10)))
            .await
            .unwrap();
        let seen = recorder.loads_of(&long)[0].remaining.unwrap();
        assert!(seen <= DEFAULT_PEER_TIMEOUT, "{seen:?}");
        assert!(seen > Duration::ZERO, "{seen:?}");

        // Asked directly of the owner, the loader sees the client's budget.
        let mut owner = cluster.client(1);
        let direct = key_owned_by(&cluster, 1, "c");
        get(&mut owner, &direct, Some(Duration::from_secs(5)))
            .await
            .unwrap();
        let seen = recorder.loads_of(&direct)[0].remaining.unwrap();
        assert!(seen <= Duration::from_secs(5), "{seen:?}");
        assert!(seen > Duration::from_secs(4), "{seen:?}");
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// An owner slower than the peer timeout is worked around: the requester
/// loads the key itself and answers within the client's deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_owner_falls_back_within_the_client_deadline() {
    let (cluster, recorder) =
        cluster_with(2, ClusterOptions::default(), DEFAULT_PEER_TIMEOUT).await;
    bounded(async {
        let key = key_owned_by(&cluster, 1, "slow1-");
        let start = Instant::now();
        let value = get(&mut cluster.client(0), &key, Some(Duration::from_secs(1)))
            .await
            .unwrap();
        let took = start.elapsed();
        assert_eq!(value, value_of(&key));
        assert!(took < Duration::from_secs(1), "{took:?}");
        let stats = cluster.group(0, GROUP).unwrap().stats();
        assert_eq!(stats.fallback_loads, 1);
        assert_eq!(stats.peer_errors, 1);
        let nodes: Vec<usize> = recorder.loads_of(&key).iter().map(|l| l.node).collect();
        assert_eq!(nodes, [1, 0], "owner started, requester finished");
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// A deadline shorter than the source needs gives DEADLINE_EXCEEDED (a
/// real gRPC status from the server, not CANCELLED or a transport error),
/// a little before the deadline rather than after the load. The client
/// sends `grpc-timeout` without enforcing it, so the answer is the
/// server's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_short_deadline_is_deadline_exceeded_on_time() {
    let (cluster, _recorder) = cluster_with(1, ClusterOptions::default(), PATIENT).await;
    bounded(async {
        let mut client = non_enforcing_client(&cluster.url(0));
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
        let margin = cache_grpc::deadline::enforcement_margin(budget);
        assert!(took >= budget - margin, "{took:?}");
        assert!(took < SLOW, "{took:?}");
    })
    .await;
    cluster.shutdown().await.unwrap();
}
