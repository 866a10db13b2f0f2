//! Process tier: `groupcache serve --peer-listen`. Two nodes list each
//! other's peer ports in --peers; a get on either client port is served
//! (keys owned by the other node fetched over the peer port, nothing
//! loaded twice); Fetch on a client port is PERMISSION_DENIED; the same
//! address for both ports is a usage error.

mod cli_support;

use cli_support::*;
use groupcache::source::synthetic_value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_fetch_on_their_own_port() {
    let dir = TempDir::new("peer-listen");
    let ports = free_ports(4);
    let client: Vec<String> = ports[..2]
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let peer: Vec<String> = ports[2..]
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let peers = peer.join(",");
    let mut nodes: Vec<Node> = (0..2)
        .map(|i| {
            let args: Vec<String> = [
                "--listen",
                &client[i],
                "--peer-listen",
                &peer[i],
                "--peers",
                &peers,
                "--group",
                "g=synthetic:size=8",
                "--peer-timeout",
                "10s",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            spawn_node(&client[i], &args, &[], &dir.0)
        })
        .collect();
    for node in &mut nodes {
        assert!(wait_ready(node).await, "{}", node.log_text());
    }
    // 40 keys through each node: the chance that the other node owns none
    // of them is 2^-40.
    for node in &nodes {
        for k in 0..40 {
            let key = format!("{}-{k}", node.addr);
            let out = get(&node.addr, "g", &key).await;
            assert_eq!(out.code, Some(0), "{}", out.stderr);
            assert_eq!(out.stdout, synthetic_value(&key, 8));
        }
    }
    for node in &nodes {
        assert_eq!(counter(&node.addr, "g", "fallback_loads").await, 0);
        assert!(counter(&node.addr, "g", "peer_loads").await > 0);
    }
    // The client port refuses Fetch: grpcurl-free, with the generated client.
    let mut c = cache_grpc::pb::groupcache_client::GroupcacheClient::connect(format!(
        "http://{}",
        client[0]
    ))
    .await
    .unwrap();
    let err = c
        .fetch(cache_grpc::pb::FetchRequest {
            group: "g".into(),
            key: "k".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
}

#[tokio::test]
async fn one_address_for_both_ports_is_refused() {
    let out = run(&[
        "serve",
        "--listen",
        "127.0.0.1:7301",
        "--peer-listen",
        "127.0.0.1:7301",
        "--group",
        "g=synthetic",
    ])
    .await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--peer-listen"), "{}", out.stderr);
}
