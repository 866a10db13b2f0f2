//! A value fetched from a peer owns exactly its bytes: it does not keep the
//! call's decode buffer alive in the hot cache.

mod common;

use bytes::BytesMut;
use cache_core::{LoadContext, PeerPicker};
use common::*;

/// `GrpcPeer::fetch` returns a value whose allocation is exactly its length
/// (turned back into a `BytesMut`, its capacity is its length), where a
/// slice of tonic's decode buffer would report 8 KiB or more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetched_value_has_its_own_exact_allocation() {
    let (cluster, _recorder) = cluster(2).await;
    bounded(async {
        let key = key_owned_by(&cluster, 1, "exact-");
        let peer = cluster.pool(0).pick(&key).expect("node 1 owns the key");
        let fetched = peer.fetch(GROUP, &key, &LoadContext::new()).await.unwrap();
        assert_eq!(fetched.value, value_of(&key));
        let len = fetched.value.len();
        let owned = BytesMut::from(fetched.value);
        assert_eq!((owned.len(), owned.capacity()), (len, len));
    })
    .await;
    cluster.shutdown().await.unwrap();
}
