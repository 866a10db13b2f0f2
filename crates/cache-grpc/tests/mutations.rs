//! Remove and Set across a mesh of 3 nodes over real gRPC on loopback:
//! every node drops its copies, the owner stores a Set, the answer names
//! the nodes reached (a dead one unreached), an owner's remembered NotFound
//! reaches the requester's hot cache, and bad requests get clear statuses.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cache_core::promotion::Always;
use cache_grpc::pb::{MutationResponse, RemoveRequest, SetRequest};
use common::*;
use tonic::Code;

/// A mesh whose nodes keep every fetched value in their hot caches.
async fn promoting_mesh() -> (cache_grpc::LocalCluster, Recorder) {
    cluster_configured(3, patient(), |b| b.promotion(Arc::new(Always))).await
}

async fn remove(
    cluster: &cache_grpc::LocalCluster,
    node: usize,
    keys: &[String],
) -> Result<MutationResponse, tonic::Status> {
    let request = RemoveRequest {
        group: GROUP.into(),
        keys: keys.to_vec(),
    };
    cluster
        .client(node)
        .remove(request)
        .await
        .map(|r| r.into_inner())
}

async fn set(
    cluster: &cache_grpc::LocalCluster,
    node: usize,
    key: &str,
    value: &str,
) -> Result<MutationResponse, tonic::Status> {
    let request = SetRequest {
        group: GROUP.into(),
        key: key.into(),
        value: value.to_owned().into(),
        ttl_ms: 0,
    };
    cluster
        .client(node)
        .set(request)
        .await
        .map(|r| r.into_inner())
}

fn items(cluster: &cache_grpc::LocalCluster, node: usize) -> (u64, u64) {
    let s = cluster.group(node, GROUP).unwrap().stats();
    (s.main_cache.items, s.hot_cache.items)
}

fn sorted_addrs(cluster: &cache_grpc::LocalCluster, nodes: &[usize]) -> Vec<String> {
    let mut all: Vec<String> = nodes.iter().map(|&n| cluster.addr(n).to_string()).collect();
    all.sort();
    all
}

/// Keys cached on their owners and hot everywhere else are gone from every
/// node after one Remove (one RPC for all 30 keys), which names all three
/// nodes; the next gets load each key once more, on its owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_drops_every_copy_in_the_mesh() {
    let (cluster, recorder) = promoting_mesh().await;
    bounded(async {
        let keys: Vec<String> = (0..30).map(|i| format!("k{i}")).collect();
        for node in 0..3 {
            let mut client = cluster.client(node);
            for key in &keys {
                get(&mut client, key, None).await.unwrap();
            }
        }
        assert_eq!(recorder.loads().len(), 30);
        for node in 0..3 {
            let (main, hot) = items(&cluster, node);
            assert_eq!(main + hot, 30, "node {node} holds every key");
        }
        let answer = remove(&cluster, 1, &keys).await.unwrap();
        assert_eq!(answer.reached, sorted_addrs(&cluster, &[0, 1, 2]));
        assert!(answer.unreached.is_empty(), "{answer:?}");
        for node in 0..3 {
            assert_eq!(items(&cluster, node), (0, 0), "node {node} kept a copy");
        }
        for node in 0..3 {
            let mut client = cluster.client(node);
            for key in &keys {
                assert_eq!(get(&mut client, key, None).await.unwrap(), value_of(key));
            }
        }
        let loads = recorder.loads();
        assert_eq!(loads.len(), 60, "each key loaded once more");
        assert!(loads.iter().all(|l| l.node == cluster.owner_index(&l.key)));
        // Idempotent.
        assert!(
            remove(&cluster, 0, &keys)
                .await
                .unwrap()
                .unreached
                .is_empty()
        );
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// A Set sent to a node that does not own the key is stored by the owner
/// (forwarded once) and replaces the hot copies of the other nodes: every
/// node answers the new value, with no load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_is_stored_by_the_owner_and_replaces_every_copy() {
    let (cluster, recorder) = promoting_mesh().await;
    bounded(async {
        let key = "greeting";
        for node in 0..3 {
            get(&mut cluster.client(node), key, None).await.unwrap();
        }
        let owner = cluster.owner_index(key);
        let asked = (owner + 1) % 3;
        let answer = set(&cluster, asked, key, "hello").await.unwrap();
        assert_eq!(answer.owner, cluster.addr(owner).to_string());
        assert_eq!(answer.reached, sorted_addrs(&cluster, &[0, 1, 2]));
        for node in 0..3 {
            let value = get(&mut cluster.client(node), key, None).await.unwrap();
            assert_eq!(value, "hello", "node {node}");
        }
        assert_eq!(recorder.loads_of(key).len(), 1, "only the first get loaded");
        assert_eq!(counter(&cluster, owner, "sets"), 1);
        assert_eq!(
            counter(&cluster, asked, "sets"),
            0,
            "the asked node only forwarded"
        );
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// A node that is down is reported unreached, with why; the others apply
/// the Remove. A Set whose owner is down stores nothing and fails
/// UNAVAILABLE, naming the owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_node_is_reported_and_a_set_to_a_dead_owner_fails() {
    let (mut cluster, _recorder) = promoting_mesh().await;
    bounded(async {
        cluster.kill(2);
        let answer = remove(&cluster, 0, &["a".to_owned(), "b".to_owned()])
            .await
            .unwrap();
        assert_eq!(answer.reached, sorted_addrs(&cluster, &[0, 1]));
        assert_eq!(answer.unreached.len(), 1, "{answer:?}");
        assert_eq!(answer.unreached[0].peer, cluster.addr(2).to_string());
        assert!(!answer.unreached[0].error.is_empty());

        let key = (0..)
            .map(|i| format!("owned-by-2-{i}"))
            .find(|k| cluster.owner_index(k) == 2)
            .unwrap();
        let err = set(&cluster, 0, &key, "v").await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable);
        assert!(
            err.message().contains(&cluster.addr(2).to_string()),
            "{err:?}"
        );
        assert!(err.message().contains("did not confirm"), "{err:?}");
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// The owner's remembered NotFound travels with its TTL: the requester
/// answers the next gets from its hot cache, without asking the owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owners_not_found_is_kept_by_the_requester() {
    let (cluster, recorder) = cluster_configured(3, patient(), |b| {
        b.negative_ttl(Some(Duration::from_secs(30)))
    })
    .await;
    bounded(async {
        let key = "missing-thing";
        let owner = cluster.owner_index(key);
        let asker = (owner + 1) % 3;
        let mut client = cluster.client(asker);
        for _ in 0..5 {
            let err = get(&mut client, key, None).await.unwrap_err();
            assert_eq!(err.code(), Code::NotFound);
        }
        assert_eq!(recorder.loads_of(key).len(), 1);
        assert_eq!(counter(&cluster, owner, "server_requests"), 1, "one fetch");
        assert_eq!(counter(&cluster, asker, "negative_promotions"), 1);
        // A Remove clears it on every node: the next get asks the owner.
        remove(&cluster, asker, &[key.to_owned()]).await.unwrap();
        assert_eq!(
            get(&mut client, key, None).await.unwrap_err().code(),
            Code::NotFound
        );
        assert_eq!(counter(&cluster, owner, "server_requests"), 2);
        assert_eq!(recorder.loads_of(key).len(), 2);
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// Bad requests: no keys, too many keys, an empty key, an unknown group,
/// a value over the size limit. Each a clear status, nothing changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_mutations_get_clear_statuses() {
    let (cluster, _recorder) = cluster(2).await;
    bounded(async {
        let err = remove(&cluster, 0, &[]).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains("no keys"), "{err:?}");

        let many: Vec<String> = (0..1001).map(|i| format!("k{i}")).collect();
        let err = remove(&cluster, 0, &many).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains("limit of 1000"), "{err:?}");

        let err = remove(&cluster, 0, &["ok".into(), String::new()])
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);

        let err = cluster
            .client(0)
            .remove(RemoveRequest {
                group: "nope".into(),
                keys: vec!["k".into()],
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains("unknown group"), "{err:?}");

        let err = set(&cluster, 0, "", "v").await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);

        let huge = "x".repeat(cache_grpc::DEFAULT_MAX_VALUE_BYTES + 1);
        let err = set(&cluster, 0, "k", &huge).await.unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted);
        assert_eq!(
            counter(&cluster, 0, "sets") + counter(&cluster, 1, "sets"),
            0
        );
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// A node whose peers cannot take them (a golang/groupcache pool) refuses
/// Remove and Set with FAILED_PRECONDITION and the reason, and changes
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_can_be_turned_off() {
    let mut opts = patient();
    opts.server = cache_grpc::ServerOptions::builder()
        .mutations_off("it is in a golang/groupcache pool")
        .build()
        .unwrap();
    let (cluster, _recorder) = cluster_with(1, opts).await;
    bounded(async {
        get(&mut cluster.client(0), "k", None).await.unwrap();
        let err = remove(&cluster, 0, &["k".to_owned()]).await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
        assert!(err.message().contains("golang/groupcache pool"), "{err:?}");
        let err = set(&cluster, 0, "k", "v").await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
        assert_eq!(items(&cluster, 0), (1, 0), "nothing changed");
    })
    .await;
    cluster.shutdown().await.unwrap();
}
