//! In-process tier (`LocalCluster`): TLS and mTLS on a mesh. Peers dial
//! each other over TLS and prove who they are with their certificates (a
//! key owned elsewhere is fetched, not loaded twice); a client needs no
//! certificate for `Get` but does for `Fetch`; a certificate of the CA not
//! on the peer allow-list is `PERMISSION_DENIED` there. Plaintext at the
//! TLS port, a certificate of another CA, an expired one and a missing one
//! under `require_client_cert` are refused while the node serves everyone
//! else; a reload swaps the certificate for new connections.

mod common;

use cache_grpc::pb::groupcache_client::GroupcacheClient;
use cache_grpc::pb::{FetchRequest, GetRequest};
use cache_grpc::tls::{ClientTls, ClientTlsConfig, ServerTls, ServerTlsConfig};
use cache_grpc::{ClusterOptions, LocalCluster};
use common::certs::{Leaf, TestCa, temp_dir};
use common::*;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

/// A channel to `cluster`'s node `index` over TLS with `tls`.
async fn dial(cluster: &LocalCluster, index: usize, tls: &ClientTls) -> Result<Channel, String> {
    Endpoint::from_shared(cluster.url(index))
        .unwrap()
        .connect_with_connector(tls.connector())
        .await
        .map_err(|e| format!("{e:?}"))
}

fn client_tls(ca: &TestCa, identity: Option<&Leaf>) -> ClientTls {
    let mut cfg = ClientTlsConfig::new().ca(ca.ca_file());
    if let Some(leaf) = identity {
        cfg = cfg.identity(&leaf.cert, &leaf.key);
    }
    ClientTls::load(cfg).unwrap()
}

/// Options of a mesh whose nodes serve `server` and dial each other with
/// `node` as their certificate.
fn tls_options(server: ServerTlsConfig, ca: &TestCa, node: &Leaf) -> ClusterOptions {
    let mut opts = patient();
    opts.server = opts
        .server
        .to_builder()
        .tls(ServerTls::load(server).unwrap())
        .build()
        .unwrap();
    opts.pool = opts
        .pool
        .to_builder()
        .tls(client_tls(ca, Some(node)))
        .build()
        .unwrap();
    opts
}

async fn get(channel: Channel, key: &str) -> Result<Vec<u8>, tonic::Status> {
    let req = GetRequest {
        group: GROUP.into(),
        key: key.into(),
    };
    let mut c = GroupcacheClient::new(channel);
    c.get(req).await.map(|r| r.into_inner().value.to_vec())
}

async fn fetch(channel: Channel, key: &str) -> Result<Vec<u8>, tonic::Status> {
    let req = FetchRequest {
        group: GROUP.into(),
        key: key.into(),
        ..Default::default()
    };
    let mut c = GroupcacheClient::new(channel);
    c.fetch(req).await.map(|r| r.into_inner().value.to_vec())
}

fn code<T>(r: Result<T, tonic::Status>) -> Option<Code> {
    r.err().map(|s| s.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_mesh() {
    let dir = temp_dir("tls-mesh");
    let ca = TestCa::new(&dir, "mesh");
    let node = ca.leaf("node", &["127.0.0.1", "localhost"]);
    let server = ServerTlsConfig::new(&node.cert, &node.key).ca(ca.ca_file());
    let (cluster, recorder) = cluster_with(2, tls_options(server, &ca, &node)).await;
    bounded(async {
        let remote = key_owned_by(&cluster, 1, "k");
        let anonymous = client_tls(&ca, None);

        // A client without a certificate gets a key owned by the other
        // node: node 0 fetched it over mTLS, one load, no fallback.
        let ch = dial(&cluster, 0, &anonymous).await.unwrap();
        assert_eq!(get(ch, &remote).await.unwrap(), value_of(&remote));
        assert_eq!(recorder.count_on(1), 1);
        assert_eq!(recorder.count_on(0), 0);
        let s = cluster.group(0, GROUP).unwrap().stats();
        assert_eq!((s.peer_loads, s.fallback_loads), (1, 0));

        // Fetch needs a peer's certificate.
        let ch = dial(&cluster, 1, &anonymous).await.unwrap();
        assert_eq!(code(fetch(ch, &remote).await), Some(Code::Unauthenticated));
        let peer = client_tls(&ca, Some(&node));
        let ch = dial(&cluster, 1, &peer).await.unwrap();
        assert_eq!(fetch(ch, &remote).await.unwrap(), value_of(&remote));

        // Plaintext at the TLS port: a clear refusal; the node serves on.
        let plain = Channel::from_shared(cluster.url(0))
            .unwrap()
            .connect()
            .await;
        let err = match plain {
            Err(e) => format!("{e:?}"),
            Ok(ch) => format!("{:?}", get(ch, &remote).await.unwrap_err()),
        };
        assert!(err.contains("requires TLS"), "{err}");

        // A certificate of another CA, and an expired one of ours: the
        // handshake fails; the node still serves a good client.
        let other = TestCa::new(&dir, "other");
        let stranger = other.leaf("stranger", &["127.0.0.1"]);
        let ch = dial(&cluster, 0, &client_tls(&ca, Some(&stranger))).await;
        assert!(refused(ch, &remote).await, "a certificate of another CA");
        let old = ca.expired("old", &["127.0.0.1"]);
        let ch = dial(&cluster, 0, &client_tls(&ca, Some(&old))).await;
        assert!(refused(ch, &remote).await, "an expired certificate");
        // A client trusting another CA refuses the node.
        let ch = dial(&cluster, 0, &client_tls(&other, None)).await;
        assert!(refused(ch, &remote).await, "a server of another CA");

        let ch = dial(&cluster, 0, &anonymous).await.unwrap();
        assert_eq!(get(ch, &remote).await.unwrap(), value_of(&remote));
    })
    .await;
    cluster.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// True when the TLS connection (or the first call on it) failed.
async fn refused(channel: Result<Channel, String>, key: &str) -> bool {
    match channel {
        Err(_) => true,
        Ok(ch) => get(ch, key).await.is_err(),
    }
}

/// A peer allow-list: a certificate of the CA for another name is a
/// client's (Get yes, Fetch PERMISSION_DENIED); `require_client_cert`
/// refuses a client without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_allow_list_and_required_certificates() {
    let dir = temp_dir("tls-allow");
    let ca = TestCa::new(&dir, "allow");
    let node = ca.leaf("node", &["127.0.0.1", "node.mesh.test"]);
    let app = ca.leaf("app", &["app.clients.test"]);
    let server = ServerTlsConfig::new(&node.cert, &node.key)
        .ca(ca.ca_file())
        .require_client_cert(true)
        .peer_names(vec!["node.mesh.test".into()]);
    let (cluster, _recorder) = cluster_with(2, tls_options(server, &ca, &node)).await;
    bounded(async {
        let remote = key_owned_by(&cluster, 1, "k");
        let as_app = client_tls(&ca, Some(&app));
        let ch = dial(&cluster, 0, &as_app).await.unwrap();
        assert_eq!(get(ch, &remote).await.unwrap(), value_of(&remote));
        let ch = dial(&cluster, 1, &as_app).await.unwrap();
        assert_eq!(code(fetch(ch, &remote).await), Some(Code::PermissionDenied));

        let anonymous = client_tls(&ca, None);
        let ch = dial(&cluster, 0, &anonymous).await;
        assert!(refused(ch, &remote).await, "no certificate, but required");
    })
    .await;
    cluster.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A reload swaps the certificate for new connections; a failed reload
/// keeps the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_the_certificate() {
    let dir = temp_dir("tls-reload");
    let first = TestCa::new(&dir, "first");
    let second = TestCa::new(&dir, "second");
    let node = first.leaf("node", &["127.0.0.1"]);
    let tls = ServerTls::load(ServerTlsConfig::new(&node.cert, &node.key)).unwrap();
    let mut opts = patient();
    opts.server = opts.server.to_builder().tls(tls.clone()).build().unwrap();
    let (cluster, _recorder) = cluster_with(1, opts).await;
    bounded(async {
        let trusts_second = client_tls(&second, None);
        let ch = dial(&cluster, 0, &trusts_second).await;
        assert!(refused(ch, "k").await, "before the reload");
        let old = dial(&cluster, 0, &client_tls(&first, None)).await.unwrap();

        // Half-written files fail to load and change nothing.
        std::fs::write(&node.cert, "-----BEGIN CERTIFICATE-----\n").unwrap();
        assert!(tls.reload().is_err());
        // The new certificate, from the second CA.
        let renewed = second.leaf("renewed", &["127.0.0.1"]);
        std::fs::copy(&renewed.cert, &node.cert).unwrap();
        std::fs::copy(&renewed.key, &node.key).unwrap();
        tls.reload().unwrap();

        let ch = dial(&cluster, 0, &trusts_second).await.unwrap();
        assert_eq!(get(ch, "k").await.unwrap(), value_of("k"));
        // The connection opened before the reload lives on.
        assert_eq!(get(old, "k2").await.unwrap(), value_of("k2"));
    })
    .await;
    cluster.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Files that are missing or do not belong together are refused at load,
/// naming the file.
#[test]
fn bad_files_are_named() {
    let dir = temp_dir("tls-bad");
    let ca = TestCa::new(&dir, "bad");
    let a = ca.leaf("a", &["127.0.0.1"]);
    let b = ca.leaf("b", &["127.0.0.1"]);
    let missing = dir.join("missing.pem");
    let err = ServerTls::load(ServerTlsConfig::new(&missing, &a.key)).unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");
    let err = ServerTls::load(ServerTlsConfig::new(&a.cert, &b.key)).unwrap_err();
    assert!(err.to_string().contains("a.pem"), "{err}");
    let err = ServerTls::load(ServerTlsConfig::new(&a.cert, &a.cert)).unwrap_err();
    assert!(err.to_string().contains("private key"), "{err}");
    let err = ServerTls::load(ServerTlsConfig::new(&a.cert, &a.key).peer_names(vec!["x".into()]))
        .unwrap_err();
    assert!(err.to_string().contains("needs a CA"), "{err}");
    let err = ClientTls::load(ClientTlsConfig::new().ca(&a.key)).unwrap_err();
    assert!(err.to_string().contains("a.key"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
