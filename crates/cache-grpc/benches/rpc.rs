//! Cost of one request over loopback gRPC, on an in-process cluster.
//!
//! - `get_owner_hit`: a client `Get` of a cached key, asked of its owner
//!   (one client -> node round trip; the floor of every network get).
//! - `fetch_rpc_hit`: a `Fetch` RPC of a cached key from a plain client.
//! - `fetch_peer_hit`: a peer `Fetch` of a cached key through the pool's
//!   [`GrpcPeer`](cache_grpc::GrpcPeer) (the hop a non-owner adds).
//! - `get_owner_hit_x64`: 64 concurrent `Get`s on one HTTP/2 connection
//!   (throughput: divide 64 by the time per iteration).
//!
//! Run: `cargo bench -p cache-grpc --bench rpc`

use std::sync::Arc;

use cache_core::{GroupBuilder, LoadContext, Loaded, PeerClient, getter_fn};
use cache_grpc::pb::{FetchRequest, GetRequest};
use cache_grpc::{ClusterOptions, LocalCluster};
use criterion::{Criterion, criterion_group, criterion_main};

fn rpc(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let mut opts = ClusterOptions::default();
    opts.worker_threads = 1;
    let cluster = rt
        .block_on(LocalCluster::start_with(2, opts, |_, pool| {
            let getter = getter_fn(|key: String, _ctx| async move {
                Ok(Loaded::new(format!(
                    "value of {key}, about sixty-four bytes long...."
                )))
            });
            vec![
                GroupBuilder::new("bench", 64 << 20, getter)
                    .peers(Arc::new(pool.clone()))
                    .build()
                    .expect("group"),
            ]
        }))
        .expect("cluster");
    let key = (0..1000)
        .map(|i| format!("key-{i}"))
        .find(|k| cluster.owner_index(k) == 1)
        .expect("a key owned by node 1");
    let request = GetRequest {
        group: "bench".into(),
        key: key.clone(),
    };
    // Channels spawn their connection task on the current runtime.
    let _runtime = rt.enter();
    let client = cluster.client(1);
    rt.block_on(client.clone().get(request.clone()))
        .expect("warm-up get");

    c.bench_function("get_owner_hit", |b| {
        b.to_async(&rt).iter(|| {
            let (mut client, request) = (client.clone(), request.clone());
            async move { client.get(request).await.expect("get") }
        })
    });

    let fetch = FetchRequest {
        group: "bench".into(),
        key: key.clone(),
        ..Default::default()
    };
    c.bench_function("fetch_rpc_hit", |b| {
        b.to_async(&rt).iter(|| {
            let (mut client, fetch) = (client.clone(), fetch.clone());
            async move { client.fetch(fetch).await.expect("fetch") }
        })
    });

    let peer = cluster
        .pool(0)
        .client(&cluster.addr(1).to_string())
        .expect("node 1 is node 0's peer");
    c.bench_function("fetch_peer_hit", |b| {
        b.to_async(&rt).iter(|| {
            let (peer, key) = (peer.clone(), key.clone());
            async move {
                peer.fetch("bench", &key, &LoadContext::new())
                    .await
                    .expect("fetch")
            }
        })
    });

    c.bench_function("get_owner_hit_x64", |b| {
        b.to_async(&rt).iter(|| {
            let (client, request) = (client.clone(), request.clone());
            async move {
                let calls = (0..64).map(|_| {
                    let (mut client, request) = (client.clone(), request.clone());
                    async move { client.get(request).await.expect("get") }
                });
                futures::future::join_all(calls).await
            }
        })
    });

    rt.block_on(cluster.shutdown()).expect("shutdown");
}

criterion_group!(benches, rpc);
criterion_main!(benches);
