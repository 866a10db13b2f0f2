//! In-process tier: a node with a peer port of its own
//! ([`Listeners::peer`]). Peers are addressed by their peer ports and
//! fetch from each other there (a key owned elsewhere is fetched, one
//! load, no fallback); the client port refuses `Fetch` with
//! `PERMISSION_DENIED` and serves `Get`; both ports share one drain.

mod common;

use cache_core::Registry;
use cache_grpc::pb::FetchRequest;
use cache_grpc::pb::groupcache_client::GroupcacheClient;
use cache_grpc::{Listeners, PeerPool, ServerOptions, serve};
use common::*;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::Code;

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

async fn client(addr: std::net::SocketAddr) -> GroupcacheClient<tonic::transport::Channel> {
    GroupcacheClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_use_their_own_port() {
    let (mut clients, mut peers) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        clients.push(bind().await);
        peers.push(bind().await);
    }
    let client_addrs: Vec<_> = clients.iter().map(|l| l.local_addr().unwrap()).collect();
    let peer_ids: Vec<String> = peers
        .iter()
        .map(|l| l.local_addr().unwrap().to_string())
        .collect();
    let recorder = Recorder::default();
    let (mut stops, mut tasks, mut pools) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (c, p)) in clients.into_iter().zip(peers).enumerate() {
        let pool = PeerPool::new(&peer_ids[i], &peer_ids, patient().pool).unwrap();
        let registry = Registry::new();
        registry.add(make_group(i, &recorder, &pool)).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let listeners = Listeners {
            client: c,
            peer: Some(p),
        };
        let opts = ServerOptions::default();
        tasks.push(tokio::spawn(serve(
            listeners,
            registry,
            pool.clone(),
            opts,
            async {
                let _ = stopped.await;
            },
        )));
        stops.push(stop);
        pools.push(pool);
    }
    bounded(async {
        // A key node 1 owns, asked of node 0's client port.
        let key = (0..10_000)
            .map(|i| format!("k{i}"))
            .find(|k| pools[0].owner(k) == peer_ids[1])
            .unwrap();
        let mut c0 = client(client_addrs[0]).await;
        assert_eq!(get(&mut c0, &key, None).await.unwrap(), value_of(&key));
        assert_eq!(recorder.count_on(1), 1);
        assert_eq!(recorder.count_on(0), 0);

        // Fetch on the owner's client port: refused; on its peer port: served.
        let fetch = || FetchRequest {
            group: GROUP.into(),
            key: key.clone(),
            ..Default::default()
        };
        let mut c1 = client(client_addrs[1]).await;
        let err = c1.fetch(fetch()).await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
        assert!(err.message().contains("peer port"), "{}", err.message());
        let mut p1 = client(peer_ids[1].parse().unwrap()).await;
        assert_eq!(
            p1.fetch(fetch()).await.unwrap().into_inner().value,
            value_of(&key)
        );
    })
    .await;
    for stop in stops {
        let _ = stop.send(());
    }
    for task in tasks {
        bounded(task).await.unwrap().unwrap();
    }
}
