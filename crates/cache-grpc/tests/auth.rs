//! In-process tier (`LocalCluster`): bearer tokens on a mesh. Clients need
//! a client token for `Get`; peers fetch from each other with the peer
//! token (so a key owned elsewhere is served with no fallback); a client's
//! token on `Fetch` is `PERMISSION_DENIED`, none or a wrong one
//! `UNAUTHENTICATED`; health stays open; a reloaded token file takes
//! effect at once.

mod common;

use cache_grpc::auth::{AuthPolicy, Tokens};
use cache_grpc::pb::groupcache_client::GroupcacheClient;
use cache_grpc::pb::{FetchRequest, GetRequest};
use common::*;
use tonic::Code;
use tonic::transport::Channel;

fn with_token<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    if let Some(t) = token {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    req
}

async fn get_as(
    client: &mut GroupcacheClient<Channel>,
    key: &str,
    token: Option<&str>,
) -> Result<Vec<u8>, tonic::Status> {
    let req = with_token(
        GetRequest {
            group: GROUP.into(),
            key: key.into(),
        },
        token,
    );
    client.get(req).await.map(|r| r.into_inner().value.to_vec())
}

async fn fetch_as(
    client: &mut GroupcacheClient<Channel>,
    key: &str,
    token: Option<&str>,
) -> Result<(), tonic::Status> {
    let req = with_token(
        FetchRequest {
            group: GROUP.into(),
            key: key.into(),
            ..Default::default()
        },
        token,
    );
    client.fetch(req).await.map(drop)
}

fn code<T>(r: Result<T, tonic::Status>) -> Option<Code> {
    r.err().map(|s| s.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_gate_clients_and_peers() {
    let dir = std::env::temp_dir().join(format!("gc-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let client_file = dir.join("clients");
    std::fs::write(&client_file, "client-1\n").unwrap();
    let clients = Tokens::from_file(&client_file).unwrap();
    let peers = Tokens::from_text("peer-secret").unwrap();

    let mut opts = patient();
    opts.server = opts
        .server
        .to_builder()
        .auth(
            AuthPolicy::open()
                .client_tokens(clients.clone())
                .peer_tokens(peers.clone()),
        )
        .build()
        .unwrap();
    opts.pool = opts.pool.to_builder().peer_tokens(peers).build().unwrap();
    let (cluster, recorder) = cluster_with(2, opts).await;
    bounded(async {
        let remote = key_owned_by(&cluster, 1, "k");
        let mut c = cluster.client(0);

        // Clients: no token, a wrong one, then the right one.
        assert_eq!(
            code(get_as(&mut c, &remote, None).await),
            Some(Code::Unauthenticated)
        );
        assert_eq!(
            code(get_as(&mut c, &remote, Some("client-2")).await),
            Some(Code::Unauthenticated)
        );
        let value = get_as(&mut c, &remote, Some("client-1")).await.unwrap();
        assert_eq!(value, value_of(&remote));
        // Node 0 fetched it from its owner with the peer token: one load,
        // on node 1, and no fallback.
        assert_eq!(recorder.count_on(1), 1);
        assert_eq!(recorder.count_on(0), 0);
        let s = cluster.group(0, GROUP).unwrap().stats();
        assert_eq!((s.peer_loads, s.fallback_loads), (1, 0));

        // Fetch is for peers: a client's token is not enough.
        let mut owner = cluster.client(1);
        assert_eq!(
            code(fetch_as(&mut owner, &remote, Some("client-1")).await),
            Some(Code::PermissionDenied)
        );
        assert_eq!(
            code(fetch_as(&mut owner, &remote, None).await),
            Some(Code::Unauthenticated)
        );
        fetch_as(&mut owner, &remote, Some("peer-secret"))
            .await
            .unwrap();
        // So is Put (the handoff of a leaving node).
        let put = |token| {
            with_token(
                cache_grpc::pb::PutRequest {
                    group: GROUP.into(),
                    entries: vec![],
                },
                token,
            )
        };
        assert_eq!(
            code(owner.put(put(Some("client-1"))).await),
            Some(Code::PermissionDenied)
        );
        owner.put(put(Some("peer-secret"))).await.unwrap();

        // Health needs no token.
        let mut health = tonic_health::pb::health_client::HealthClient::new(
            Channel::from_shared(cluster.url(0))
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
        let status = health
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .unwrap();
        assert_eq!(
            status.into_inner().status(),
            tonic_health::pb::health_check_response::ServingStatus::Serving
        );

        // Rotation: the file gains a token and loses the old one.
        std::fs::write(&client_file, "client-2\n").unwrap();
        assert_eq!(clients.reload().unwrap(), 1);
        assert_eq!(
            code(get_as(&mut c, &remote, Some("client-1")).await),
            Some(Code::Unauthenticated)
        );
        get_as(&mut c, &remote, Some("client-2")).await.unwrap();
    })
    .await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A policy with client tokens and no way for peers to prove themselves is
/// refused when the options are built.
#[test]
fn client_tokens_alone_are_refused() {
    let err = cache_grpc::ServerOptions::builder()
        .auth(AuthPolicy::open().client_tokens(Tokens::from_text("c").unwrap()))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("peer tokens"), "{err}");
}
