//! Multi-node behaviour over real gRPC on loopback: keys load once, on
//! their owner; stampedes collapse; dead owners are worked around; owner
//! answers (NotFound, source failure) pass through; large values cross.

mod common;

use std::collections::HashMap;

use cache_grpc::pb::GetRequest;
use common::*;
use tonic::Code;

/// Every key asked of every node is loaded exactly once in the cluster,
/// by its owner, and every node answers the right value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_key_loads_once_on_its_owner() {
    let (cluster, recorder) = cluster(3).await;
    bounded(async {
        let keys: Vec<String> = (0..60).map(|i| format!("k{i}")).collect();
        for node in 0..3 {
            let mut client = cluster.client(node);
            for key in &keys {
                assert_eq!(get(&mut client, key, None).await.unwrap(), value_of(key));
            }
        }
        let loads = recorder.loads();
        assert_eq!(loads.len(), keys.len());
        let mut per_key: HashMap<&str, usize> = HashMap::new();
        for load in &loads {
            *per_key.entry(load.key.as_str()).or_default() += 1;
            assert_eq!(load.node, cluster.owner_index(&load.key), "{load:?}");
        }
        assert!(per_key.values().all(|&n| n == 1));
        let owned = |n: usize| keys.iter().filter(|k| cluster.owner_index(k) == n).count();
        for node in 0..3 {
            assert_eq!(counter(&cluster, node, "local_loads"), owned(node) as u64);
            assert_eq!(counter(&cluster, node, "fallback_loads"), 0);
            assert_eq!(counter(&cluster, node, "gets"), keys.len() as u64);
        }
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// 500 concurrent gets of one cold key, spread over 3 nodes, cost one
/// load of the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stampede_of_500_gets_loads_once() {
    let (cluster, recorder) = cluster(3).await;
    bounded(async {
        let clients: Vec<_> = (0..3).map(|n| cluster.client(n)).collect();
        let mut tasks = Vec::new();
        for i in 0..500 {
            let mut client = clients[i % 3].clone();
            tasks.push(tokio::spawn(async move {
                get(&mut client, "stampede", None).await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), value_of("stampede"));
        }
        let loads = recorder.loads_of("stampede");
        assert_eq!(loads.len(), 1, "{loads:?}");
        assert_eq!(loads[0].node, cluster.owner_index("stampede"));
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// With the owner of some keys killed, the survivors answer every key
/// correctly, loading the dead node's keys themselves (fallback).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survivors_answer_every_key_when_owner_is_killed() {
    let (mut cluster, recorder) = cluster(3).await;
    bounded(async {
        cluster.kill(2);
        let keys: Vec<String> = (0..30).map(|i| format!("k{i}")).collect();
        let dead_owned = keys.iter().filter(|k| cluster.owner_index(k) == 2).count();
        assert!(dead_owned > 0);
        for node in 0..2 {
            let mut client = cluster.client(node);
            for key in &keys {
                assert_eq!(get(&mut client, key, None).await.unwrap(), value_of(key));
            }
        }
        for node in 0..2 {
            assert_eq!(counter(&cluster, node, "fallback_loads"), dead_owned as u64);
        }
        assert_eq!(recorder.count_on(2), 0);
        // A second round is answered from the survivors' caches.
        let before = recorder.loads().len();
        for node in 0..2 {
            let mut client = cluster.client(node);
            for key in &keys {
                assert_eq!(get(&mut client, key, None).await.unwrap(), value_of(key));
            }
        }
        assert_eq!(recorder.loads().len(), before);
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// A gracefully stopped owner is worked around the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survivors_answer_when_owner_is_stopped() {
    let (mut cluster, _recorder) = cluster(3).await;
    bounded(async {
        let key = key_owned_by(&cluster, 1, "k");
        let mut client = cluster.client(0);
        assert_eq!(get(&mut client, &key, None).await.unwrap(), value_of(&key));
        cluster.stop(1).await.unwrap();
        let other = key_owned_by(&cluster, 1, "other");
        assert_eq!(
            get(&mut client, &other, None).await.unwrap(),
            value_of(&other)
        );
        assert_eq!(counter(&cluster, 0, "fallback_loads"), 1);
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// Nodes whose peer lists disagree answer within one hop: node 0 sends the
/// key to node 1, which believes node 2 owns it but answers from its own
/// loader instead of forwarding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disagreeing_peer_lists_answer_in_one_hop() {
    let (cluster, recorder) = cluster(3).await;
    bounded(async {
        let addrs: Vec<String> = cluster.addrs().iter().map(|a| a.to_string()).collect();
        cluster.pool(0).set_peers([&addrs[0], &addrs[1]]).unwrap();
        cluster.pool(1).set_peers([&addrs[1], &addrs[2]]).unwrap();
        let key = (0..10_000)
            .map(|i| format!("d{i}"))
            .find(|k| cluster.pool(0).owner(k) == addrs[1] && cluster.pool(1).owner(k) == addrs[2])
            .expect("a key the two nodes disagree on");
        let mut client = cluster.client(0);
        assert_eq!(get(&mut client, &key, None).await.unwrap(), value_of(&key));
        let loads = recorder.loads_of(&key);
        assert_eq!(loads.len(), 1);
        assert_eq!(loads[0].node, 1, "the first hop's node loads it");
        assert_eq!(counter(&cluster, 1, "server_requests"), 1);
        assert_eq!(counter(&cluster, 1, "peer_loads"), 0, "never forwarded");
        assert_eq!(counter(&cluster, 2, "server_requests"), 0);
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// The owner's own answers reach the client through another node with
/// their code (NOT_FOUND, UNAVAILABLE "source failed" with no internal
/// detail, INTERNAL for a panicking loader, INVALID_ARGUMENT for a key its
/// source refuses), and the requesting node neither loads the key itself
/// (the `gc-error` marker) nor caches the answer: asked again, it asks the
/// owner again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_answers_pass_through_without_local_reload() {
    let (cluster, recorder) = cluster(3).await;
    bounded(async {
        let cases = [
            ("missing-", Code::NotFound),
            ("fail-", Code::Unavailable),
            ("panic-", Code::Internal),
            ("refuse-", Code::InvalidArgument),
        ];
        for (round, (prefix, code)) in cases.into_iter().enumerate() {
            let key = key_owned_by(&cluster, 1, prefix);
            for _ in 0..2 {
                let err = get(&mut cluster.client(0), &key, None).await.unwrap_err();
                assert_eq!(err.code(), code, "{prefix}: {err:?}");
                assert!(!err.message().contains("secret"), "{err:?}");
            }
            if prefix == "fail-" {
                let err = get(&mut cluster.client(0), &key, None).await.unwrap_err();
                assert!(err.message().contains("source failed"), "{err:?}");
            }
            let loads = recorder.loads_of(&key);
            assert!(loads.iter().all(|l| l.node == 1), "{prefix}: {loads:?}");
            let asked = 2 * (round as u64 + 1) + u64::from(round >= 1);
            assert_eq!(counter(&cluster, 0, "peer_loads"), asked, "{prefix}");
            assert_eq!(counter(&cluster, 0, "fallback_loads"), 0, "{prefix}");
        }
        let requester = cluster.group(0, GROUP).unwrap().stats();
        assert_eq!(
            (requester.main_cache.items, requester.hot_cache.items),
            (0, 0),
            "no answer was cached by the requester"
        );
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// A value above tonic's default 4 MiB decode limit but under
/// `max_value_bytes` crosses a peer hop and reaches the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_value_crosses_a_hop() {
    let (cluster, recorder) = cluster(2).await;
    bounded(async {
        let key = key_owned_by(&cluster, 1, "big-");
        let value = get(&mut cluster.client(0), &key, None).await.unwrap();
        assert_eq!(value.len(), BIG);
        assert_eq!(value, value_of(&key));
        let loads = recorder.loads_of(&key);
        assert_eq!(loads.len(), 1);
        assert_eq!(loads[0].node, 1, "fetched from the owner, not a fallback");
        assert_eq!(counter(&cluster, 0, "fallback_loads"), 0);
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// A restarted owner is reached again: the requester's channel reconnects
/// by itself, and the owner's keys stop falling back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_reconnects_to_a_restarted_owner() {
    let (mut cluster, recorder) = cluster(2).await;
    bounded(async {
        let mut client = cluster.client(0);
        let before = key_owned_by(&cluster, 1, "before");
        assert_eq!(
            get(&mut client, &before, None).await.unwrap(),
            value_of(&before)
        );
        cluster.stop(1).await.unwrap();
        let during = key_owned_by(&cluster, 1, "during");
        assert_eq!(
            get(&mut client, &during, None).await.unwrap(),
            value_of(&during)
        );
        assert_eq!(counter(&cluster, 0, "fallback_loads"), 1);
        cluster.restart(1).unwrap();
        let after = key_owned_by(&cluster, 1, "after");
        assert_eq!(
            get(&mut client, &after, None).await.unwrap(),
            value_of(&after)
        );
        assert_eq!(counter(&cluster, 0, "fallback_loads"), 1, "no new fallback");
        let nodes: Vec<usize> = recorder.loads_of(&after).iter().map(|l| l.node).collect();
        assert_eq!(nodes, [1], "loaded by the restarted owner");
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// An owner shedding load (RESOURCE_EXHAUSTED, unmarked) is treated like a
/// failed transport: the requester loads the key itself and answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shedding_owner_makes_the_requester_fall_back() {
    let mut opts = patient();
    opts.server = opts
        .server
        .to_builder()
        .max_concurrent_requests(1)
        .build()
        .unwrap();
    let (cluster, recorder) = cluster_with(2, opts).await;
    bounded(async {
        let slow = key_owned_by(&cluster, 1, "slow1-");
        let mut owner = cluster.client(1);
        let busy = tokio::spawn(async move { get(&mut owner, &slow, None).await });
        recorder.wait_for(1).await;
        let key = key_owned_by(&cluster, 1, "k");
        assert_eq!(
            get(&mut cluster.client(0), &key, None).await.unwrap(),
            value_of(&key)
        );
        assert_eq!(counter(&cluster, 0, "fallback_loads"), 1);
        let nodes: Vec<usize> = recorder.loads_of(&key).iter().map(|l| l.node).collect();
        assert_eq!(nodes, [0]);
        busy.await.unwrap().unwrap();
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// A value's time to live reaches the client in `GetResponse.ttl_ms`, from
/// its owner and across a hop (through `FetchResponse.ttl_ms`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_reaches_clients_from_owner_and_across_a_hop() {
    let (cluster, _recorder) = cluster(2).await;
    bounded(async {
        let key = key_owned_by(&cluster, 0, "ttl-");
        let ttl_ms = TTL.as_millis() as u64;
        for node in [0, 1] {
            let reply = cluster
                .client(node)
                .get(GetRequest {
                    group: GROUP.into(),
                    key: key.clone(),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(reply.value, value_of(&key));
            // Some milliseconds pass between the load and each answer.
            assert!(
                reply.ttl_ms <= ttl_ms && reply.ttl_ms > ttl_ms - 10_000,
                "node {node}: ttl_ms {}",
                reply.ttl_ms
            );
        }
        let reply = cluster
            .client(0)
            .get(GetRequest {
                group: GROUP.into(),
                key: "no-expiry".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.ttl_ms, 0, "a value without expiry reads 0");
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// Keys follow the ring when the peer set changes at run time: with node 2
/// removed from node 0's pool, node 0 sends node 2's keys to their new
/// owner; once node 2 is added back (a live peer joining), its keys are
/// fetched from it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_move_to_a_newly_added_live_peer() {
    let (cluster, recorder) = cluster(3).await;
    bounded(async {
        let pool = cluster.pool(0);
        let node2 = cluster.addr(2).to_string();
        let keys: Vec<String> = (0..5)
            .map(|i| key_owned_by(&cluster, 2, &format!("move{i}-")))
            .collect();
        assert!(pool.remove_peer(&node2).unwrap());
        for key in &keys[..2] {
            assert_eq!(
                get(&mut cluster.client(0), key, None).await.unwrap(),
                value_of(key)
            );
            let nodes: Vec<usize> = recorder.loads_of(key).iter().map(|l| l.node).collect();
            assert_eq!(nodes.len(), 1, "{key}: {nodes:?}");
            assert_ne!(nodes[0], 2, "{key}: node 2 left node 0's ring");
        }
        assert!(pool.add_peer(&node2).unwrap());
        for key in &keys[2..] {
            assert_eq!(
                get(&mut cluster.client(0), key, None).await.unwrap(),
                value_of(key)
            );
            let nodes: Vec<usize> = recorder.loads_of(key).iter().map(|l| l.node).collect();
            assert_eq!(nodes, [2], "{key}: fetched from the peer that joined");
        }
        assert_eq!(counter(&cluster, 0, "fallback_loads"), 0);
    })
    .await;
    cluster.shutdown().await.unwrap();
}
