//! Stale-while-revalidate over gRPC: the owner answers a stale value with
//! `FetchResponse.stale` and a TTL that is not 0, refreshes it once however
//! many nodes ask, and the requester serves the stale value without
//! copying it into its hot cache. Real servers on 127.0.0.1:0, real time
//! (the TTLs are short).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_core::{GroupBuilder, LoadContext, Loaded, PeerPicker, getter_fn};
use cache_grpc::LocalCluster;
use cache_grpc::pb::GetRequest;
use common::*;

/// The values' time to live.
const FRESH: Duration = Duration::from_millis(300);
/// The stale window after it.
const STALE: Duration = Duration::from_secs(30);
/// How long a refresh's loader call takes: the window in which the stale
/// value is served.
const REFRESH: Duration = Duration::from_millis(1500);

/// One stale read through the owner's peer, five gets through the other
/// node and one on the owner, all while the owner refreshes: all answer the
/// stale value, the owner's loader runs twice in all (the load and one
/// refresh), the requester copies neither stale answer; after the refresh
/// it serves, and copies, the new value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_answer_is_marked_refreshed_once_and_not_copied() {
    let loads: Vec<Arc<AtomicUsize>> = (0..2).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    let counts = loads.clone();
    let cluster = LocalCluster::start_with(2, patient(), move |node, pool| {
        let calls = Arc::clone(&counts[node]);
        let getter = getter_fn(move |key: String, _ctx: LoadContext| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n > 0 {
                    tokio::time::sleep(REFRESH).await;
                }
                Ok(Loaded::new(format!("{key}@v{n}")).with_ttl(FRESH))
            }
        });
        let group = GroupBuilder::new(GROUP, 64 << 20, getter)
            .peers(Arc::new(pool.clone()))
            .load_timeout(Some(LOAD_TIMEOUT))
            .stale_ttl(Some(STALE))
            .build()
            .expect("valid group");
        vec![group]
    })
    .await
    .expect("cluster starts");
    bounded(async {
        let key = key_owned_by(&cluster, 0, "swr-");
        let get = |node: usize| {
            let mut client = cluster.client(node);
            let key = key.clone();
            async move {
                client
                    .get(GetRequest {
                        group: GROUP.into(),
                        key,
                    })
                    .await
                    .unwrap()
                    .into_inner()
            }
        };
        let v0 = format!("{key}@v0");
        assert_eq!(get(1).await.value, v0);
        let requester = cluster.group(1, GROUP).unwrap();
        let copies = requester.stats().promotions;
        tokio::time::sleep(FRESH + Duration::from_millis(100)).await;

        let peer = cluster.pool(1).pick(&key).expect("node 0 owns the key");
        let fetched = peer.fetch(GROUP, &key, &LoadContext::new()).await.unwrap();
        assert_eq!(fetched.value, v0);
        assert!(fetched.stale, "marked stale on the wire");
        let ttl = fetched.ttl.expect("a stale answer's TTL is never 0");
        assert!(ttl <= STALE, "the time left in the window: {ttl:?}");
        for _ in 0..5 {
            assert_eq!(get(1).await.value, v0, "the stale value, through node 1");
        }
        let on_owner = get(0).await;
        assert_eq!(on_owner.value, v0, "the stale value, on the owner");
        assert!(on_owner.ttl_ms > 0, "never 0 (no expiry) for a stale value");
        assert_eq!(
            requester.stats().promotions,
            copies,
            "no copy of a stale answer"
        );

        let owner = cluster.group(0, GROUP).unwrap();
        while owner.in_flight() > 0 || owner.stats().refreshes == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let s = owner.stats();
        assert_eq!((s.refreshes, s.refresh_errors), (1, 0), "one refresh");
        assert!(
            s.stale_hits >= 7,
            "every stale answer counted: {}",
            s.stale_hits
        );
        assert_eq!(
            loads[0].load(Ordering::SeqCst),
            2,
            "the load and one refresh"
        );
        assert_eq!(loads[1].load(Ordering::SeqCst), 0, "node 1 never loads");
        assert_eq!(get(1).await.value, format!("{key}@v1"), "the new value");
        assert_eq!(
            requester.stats().promotions,
            copies + 1,
            "copied when fresh"
        );
    })
    .await;
    cluster.shutdown().await.unwrap();
}
