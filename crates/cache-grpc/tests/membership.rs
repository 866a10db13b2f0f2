//! Membership changes over real gRPC on loopback (in-process nodes): the
//! ring fingerprint every fetch carries, cache-only fetches, `Put`, warm
//! takeover from a key's previous owner, and the handoff of a leaving
//! node's hottest values.

mod common;

use std::time::Duration;

use cache_grpc::handoff::{HandoffBudget, hand_off};
use cache_grpc::pb::{FetchRequest, PutEntry, PutRequest};
use common::*;
use tonic::Code;

fn addrs(cluster: &cache_grpc::LocalCluster, nodes: &[usize]) -> Vec<String> {
    nodes.iter().map(|&i| cluster.addr(i).to_string()).collect()
}

/// Nodes that agree on the peer set have one fingerprint, and their
/// fetches count no mismatch; a node with another view is counted by the
/// owner it fetches from, which still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_carry_the_ring_and_owners_count_mismatches() {
    let (cluster, _recorder) = cluster(3).await;
    bounded(async {
        let ring = cluster.pool(0).ring_fingerprint();
        assert_ne!(ring, 0);
        for node in 1..3 {
            assert_eq!(cluster.pool(node).ring_fingerprint(), ring);
        }
        let key = key_owned_by(&cluster, 1, "agree-");
        get(&mut cluster.client(0), &key, None).await.unwrap();
        assert_eq!(cluster.pool(1).membership_snapshot().ring_mismatches, 0);

        // Node 0 alone learns of a fourth peer (not running: never asked).
        let mut four = addrs(&cluster, &[0, 1, 2]);
        four.push("127.0.0.1:1".into());
        cluster.pool(0).set_peers(&four).unwrap();
        assert_ne!(cluster.pool(0).ring_fingerprint(), ring);
        let key = (0..10_000)
            .map(|i| format!("disagree-{i}"))
            .find(|k| cluster.pool(0).owner(k) == cluster.addr(1).to_string())
            .unwrap();
        let value = get(&mut cluster.client(0), &key, None).await.unwrap();
        assert_eq!(value, value_of(&key));
        let m = cluster.pool(1).membership_snapshot();
        assert_eq!(m.ring_mismatches, 1, "{m:?}");
        assert_eq!(m.changes, 1, "node 1's own set never changed");
        assert_eq!(cluster.pool(0).membership_snapshot().changes, 2);
    })
    .await;
}

/// A cache-only fetch answers what the node holds and NOT_FOUND for the
/// rest, and never loads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_only_fetches_never_load() {
    let (cluster, recorder) = cluster(2).await;
    bounded(async {
        let key = key_owned_by(&cluster, 1, "peek-");
        let peek = |key: &str| FetchRequest {
            group: GROUP.into(),
            key: key.into(),
            cached_only: true,
            ..Default::default()
        };
        let err = cluster.client(1).fetch(peek(&key)).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
        assert!(recorder.loads().is_empty());
        get(&mut cluster.client(1), &key, None).await.unwrap();
        let answer = cluster.client(1).fetch(peek(&key)).await.unwrap();
        assert_eq!(answer.into_inner().value, value_of(&key));
        assert_eq!(recorder.loads_of(&key).len(), 1);
    })
    .await;
}

/// `Put` stores values in the main cache: a later get is a hit, not a
/// load. Entries with a bad key or an oversized value are skipped; an
/// unknown group is INVALID_ARGUMENT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_stores_handed_over_values() {
    let (cluster, recorder) = cluster(1).await;
    bounded(async {
        let entry = |key: &str, value: &str| PutEntry {
            key: key.into(),
            value: value.to_owned().into_bytes().into(),
            ttl_ms: 0,
        };
        let request = PutRequest {
            group: GROUP.into(),
            entries: vec![
                entry("handed-1", "one"),
                entry("handed-2", "two"),
                entry("", "empty key"),
                entry(&"k".repeat(2000), "key over the limit"),
            ],
        };
        let stored = cluster.client(0).put(request).await.unwrap().into_inner();
        assert_eq!(stored.stored, 2);
        let value = get(&mut cluster.client(0), "handed-2", None).await.unwrap();
        assert_eq!(&value[..], b"two");
        assert!(recorder.loads().is_empty(), "{:?}", recorder.loads());
        let err = cluster
            .client(0)
            .put(PutRequest {
                group: "nope".into(),
                entries: vec![],
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
    })
    .await;
}

/// A node that joins a warm mesh asks each key's previous owner before
/// its source: the warm keys it now owns cost no load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_owner_takes_warm_keys_from_their_previous_owner() {
    let (cluster, recorder) = cluster(3).await;
    bounded(async {
        // The mesh starts as nodes 0 and 1; node 2 is on no ring but its
        // own, as a discovering node starts.
        let two = addrs(&cluster, &[0, 1]);
        for node in 0..2 {
            cluster.pool(node).set_peers(&two).unwrap();
        }
        cluster.pool(2).set_peers(Vec::<String>::new()).unwrap();
        let keys: Vec<String> = (0..120).map(|i| format!("warm-{i}")).collect();
        for key in &keys {
            get(&mut cluster.client(0), key, None).await.unwrap();
        }
        assert_eq!(recorder.loads().len(), keys.len());
        // Node 2 joins everywhere.
        let three = addrs(&cluster, &[0, 1, 2]);
        for node in 0..3 {
            cluster.pool(node).set_peers(&three).unwrap();
        }
        let moved: Vec<&String> = keys
            .iter()
            .filter(|k| cluster.pool(0).owner(k) == cluster.addr(2).to_string())
            .collect();
        assert!(moved.len() > 10, "only {} keys moved", moved.len());
        // Through the new owner itself (the others may answer from their
        // hot caches), then every key through another node.
        for key in &moved {
            assert_eq!(
                get(&mut cluster.client(2), key, None).await.unwrap(),
                value_of(key)
            );
        }
        for key in &keys {
            assert_eq!(
                get(&mut cluster.client(1), key, None).await.unwrap(),
                value_of(key)
            );
        }
        assert_eq!(
            recorder.loads().len(),
            keys.len(),
            "a warm key was loaded again: {:?}",
            &recorder.loads()[keys.len()..]
        );
        assert_eq!(counter(&cluster, 2, "takeover_hits"), moved.len() as u64);
        // A key nobody had: one load, after one takeover miss.
        let cold = (0..10_000)
            .map(|i| format!("cold-{i}"))
            .find(|k| cluster.pool(0).owner(k) == cluster.addr(2).to_string())
            .unwrap();
        get(&mut cluster.client(2), &cold, None).await.unwrap();
        assert_eq!(recorder.loads_of(&cold).len(), 1);
        assert!(counter(&cluster, 2, "takeover_misses") >= 1);
    })
    .await;
}

/// A leaving node hands its hottest values to their next owners: once it
/// is gone, its keys are hits there, not loads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaving_node_hands_its_keys_to_their_next_owners() {
    let (mut cluster, recorder) = cluster(3).await;
    bounded(async {
        let keys: Vec<String> = (0..90).map(|i| format!("leaving-{i}")).collect();
        for key in &keys {
            get(&mut cluster.client(0), key, None).await.unwrap();
        }
        let owned: Vec<&String> = keys
            .iter()
            .filter(|k| cluster.owner_index(k) == 2)
            .collect();
        assert!(owned.len() > 5, "node 2 owns only {}", owned.len());
        let budget = HandoffBudget {
            max_bytes: 64 << 20,
            timeout: Duration::from_secs(10),
        };
        let report = hand_off(cluster.registry(2), cluster.pool(2), budget).await;
        assert_eq!(report.sent, owned.len() as u64, "{report:?}");
        assert_eq!(report.stored, report.sent, "{report:?}");
        assert!(report.failures.is_empty(), "{report:?}");
        // Node 2 leaves: the others' rings drop it, and it stops.
        let rest = addrs(&cluster, &[0, 1]);
        for node in 0..2 {
            cluster.pool(node).set_peers(&rest).unwrap();
        }
        cluster.stop(2).await.unwrap();
        for key in &keys {
            for node in 0..2 {
                assert_eq!(
                    get(&mut cluster.client(node), key, None).await.unwrap(),
                    value_of(key)
                );
            }
        }
        assert_eq!(
            recorder.loads().len(),
            keys.len(),
            "a handed-over key was loaded again"
        );
        // A byte budget bounds the handoff.
        let small = HandoffBudget {
            max_bytes: 200,
            timeout: Duration::from_secs(10),
        };
        let report = hand_off(cluster.registry(0), cluster.pool(0), small).await;
        assert!(report.sent >= 1 && report.bytes <= 200, "{report:?}");
    })
    .await;
}

/// A next owner that never answers costs the handoff its time budget and
/// no more; the other peers get their values meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_next_owner_costs_only_the_time_budget() {
    let (cluster, _recorder) = cluster(2).await;
    bounded(async {
        let keys: Vec<String> = (0..60).map(|i| format!("silent-{i}")).collect();
        for key in &keys {
            get(&mut cluster.client(0), key, None).await.unwrap();
        }
        // A third peer that takes connections (the backlog) and never
        // answers, on node 0's ring only.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peers = addrs(&cluster, &[0, 1]);
        peers.push(silent.local_addr().unwrap().to_string());
        cluster.pool(0).set_peers(&peers).unwrap();
        let budget = HandoffBudget {
            max_bytes: 64 << 20,
            timeout: Duration::from_millis(500),
        };
        let report = hand_off(cluster.registry(0), cluster.pool(0), budget).await;
        assert!(report.timed_out, "{report:?}");
        assert!(report.elapsed < Duration::from_secs(3), "{report:?}");
        assert_eq!(report.failures.len(), 1, "{report:?}");
        assert!(report.stored > 0, "node 1 got nothing: {report:?}");
        assert!(report.stored < report.sent, "{report:?}");
    })
    .await;
}
