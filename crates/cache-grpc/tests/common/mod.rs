//! Shared helpers of the integration tests: a recording source whose
//! behaviour depends on the key, and a cluster of nodes serving it.
#![allow(dead_code, unreachable_pub)]

pub mod certs;
pub mod h2client;
pub mod proxy;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache_core::{Error, Group, GroupBuilder, LoadContext, Loaded, TraceContext, getter_fn};
use cache_grpc::pb::{GetRequest, groupcache_client::GroupcacheClient};
use cache_grpc::{ClusterOptions, LocalCluster};
use parking_lot::Mutex;
use tonic::transport::Channel;

/// The group every test node serves.
pub const GROUP: &str = "test";

/// How long a `slow` key's load takes on its slow node.
pub const SLOW: Duration = Duration::from_secs(2);

/// Size of a `big-` key's value: above tonic's default 4 MiB decode limit.
pub const BIG: usize = 5 << 20;

/// The time to live the loader gives `ttl-*` keys.
pub const TTL: Duration = Duration::from_secs(60);

/// Every bound on a test: a test taking longer is a hang.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The pools' peer timeout in tests that are not about liveness: generous,
/// so that a loaded machine never judges a live peer dead.
pub const PATIENT: Duration = Duration::from_secs(10);

/// The pools' default peer timeout (300 ms), for the liveness tests.
pub const DEFAULT_PEER_TIMEOUT: Duration = Duration::from_millis(300);

/// The groups' load timeout: what a loader's context carries.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(20);

/// One call of a node's loader.
#[derive(Debug, Clone)]
pub struct Load {
    /// The node whose loader ran.
    pub node: usize,
    /// The key loaded.
    pub key: String,
    /// The time left before the load's deadline, as the loader saw it.
    pub remaining: Option<Duration>,
    /// The trace context the loader was given (from the request that
    /// started the load, across the peer hop).
    pub trace: Option<TraceContext>,
}

/// Records every loader call of every node.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Load>>>);

impl Recorder {
    /// Every load so far.
    pub fn loads(&self) -> Vec<Load> {
        self.0.lock().clone()
    }

    /// Loads of `key`, on any node.
    pub fn loads_of(&self, key: &str) -> Vec<Load> {
        self.loads().into_iter().filter(|l| l.key == key).collect()
    }

    /// Number of loads run by `node`.
    pub fn count_on(&self, node: usize) -> usize {
        self.0.lock().iter().filter(|l| l.node == node).count()
    }

    /// Waits until at least `n` loads have started.
    pub async fn wait_for(&self, n: usize) {
        while self.0.lock().len() < n {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// The value every node's source has for `key`.
pub fn value_of(key: &str) -> Bytes {
    if key.starts_with("big-") {
        Bytes::from(vec![b'x'; BIG])
    } else {
        Bytes::from(format!("value of {key}"))
    }
}

/// The loader of node `node`. Behaviour by key:
/// - `missing-*`: NotFound;
/// - `fail-*`: a source failure with a secret in its detail;
/// - `panic-*`: the loader panics;
/// - `refuse-*`: the loader refuses the key (`InvalidKey`);
/// - `slow{n}-*`: takes [`SLOW`] on node `n`, answers at once elsewhere;
/// - `ttl-*`: [`value_of`] the key, to be served for [`TTL`];
/// - anything else: [`value_of`] the key.
pub fn make_group(node: usize, recorder: &Recorder, pool: &cache_grpc::PeerPool) -> Group {
    group_builder(node, recorder, pool)
        .build()
        .expect("valid test group")
}

/// The builder of [`make_group`], for tests that set more options.
pub fn group_builder(
    node: usize,
    recorder: &Recorder,
    pool: &cache_grpc::PeerPool,
) -> GroupBuilder {
    let recorder = recorder.clone();
    let getter = getter_fn(move |key: String, ctx: LoadContext| {
        let recorder = recorder.clone();
        async move {
            recorder.0.lock().push(Load {
                node,
                key: key.clone(),
                remaining: ctx.remaining(),
                trace: ctx.trace().cloned(),
            });
            if key.starts_with("missing-") {
                return Err(Error::NotFound);
            }
            if key.starts_with("fail-") {
                return Err(Error::source_failed("db at 10.1.2.3 said: secret-token"));
            }
            if key.starts_with("panic-") {
                panic!("the test loader panics for {key}");
            }
            if key.starts_with("refuse-") {
                return Err(Error::InvalidKey("refused by the test source"));
            }
            if key.starts_with(&format!("slow{node}-")) {
                tokio::time::sleep(SLOW).await;
            }
            if key.starts_with("ttl-") {
                return Ok(Loaded::new(value_of(&key)).with_ttl(TTL));
            }
            Ok(Loaded::new(value_of(&key)))
        }
    });
    GroupBuilder::new(GROUP, 64 << 20, getter)
        .peers(Arc::new(pool.clone()))
        .load_timeout(Some(LOAD_TIMEOUT))
}

/// Starts `n` nodes serving [`GROUP`] with `opts`.
pub async fn cluster_with(n: usize, opts: ClusterOptions) -> (LocalCluster, Recorder) {
    let recorder = Recorder::default();
    let rec = recorder.clone();
    let cluster = LocalCluster::start_with(n, opts, move |node, pool| {
        vec![make_group(node, &rec, pool)]
    })
    .await
    .expect("cluster starts");
    (cluster, recorder)
}

/// Starts `n` nodes serving [`GROUP`] with `opts`, each group's builder
/// passed through `configure` first.
pub async fn cluster_configured(
    n: usize,
    opts: ClusterOptions,
    configure: impl Fn(GroupBuilder) -> GroupBuilder,
) -> (LocalCluster, Recorder) {
    let recorder = Recorder::default();
    let rec = recorder.clone();
    let cluster = LocalCluster::start_with(n, opts, move |node, pool| {
        let group = configure(group_builder(node, &rec, pool))
            .build()
            .expect("valid test group");
        vec![group]
    })
    .await
    .expect("cluster starts");
    (cluster, recorder)
}

/// Default cluster options but a [`PATIENT`] peer timeout.
pub fn patient() -> ClusterOptions {
    let mut opts = ClusterOptions::default();
    opts.pool = opts
        .pool
        .to_builder()
        .peer_timeout(PATIENT)
        .build()
        .unwrap();
    opts
}

/// Starts `n` nodes serving [`GROUP`] with default options and a
/// [`PATIENT`] peer timeout.
pub async fn cluster(n: usize) -> (LocalCluster, Recorder) {
    cluster_with(n, patient()).await
}

/// A client of `url` that sends `grpc-timeout` without enforcing it
/// locally (tonic's channel would answer `CANCELLED` itself when the time
/// is up): it shows what the server answers, and when.
pub fn non_enforcing_client(
    url: &str,
) -> GroupcacheClient<
    hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        tonic::body::Body,
    >,
> {
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http();
    GroupcacheClient::with_origin(http, url.parse().expect("valid URL"))
}

/// A key with `prefix` owned by node `owner`.
pub fn key_owned_by(cluster: &LocalCluster, owner: usize, prefix: &str) -> String {
    (0..10_000)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| cluster.owner_index(k) == owner)
        .expect("some key lands on every node")
}

/// `Get` of `key` through `client`, with an optional `grpc-timeout`.
pub async fn get(
    client: &mut GroupcacheClient<Channel>,
    key: &str,
    timeout: Option<Duration>,
) -> Result<Bytes, tonic::Status> {
    let mut req = tonic::Request::new(GetRequest {
        group: GROUP.into(),
        key: key.into(),
    });
    if let Some(t) = timeout {
        req.set_timeout(t);
    }
    client.get(req).await.map(|r| r.into_inner().value)
}

/// The counter `name` of node `node`'s [`GROUP`].
pub fn counter(cluster: &LocalCluster, node: usize, name: &str) -> u64 {
    let stats = cluster.group(node, GROUP).unwrap().stats();
    stats
        .counters()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no counter {name}"))
        .1
}

/// Runs `fut` under [`TEST_TIMEOUT`], failing the test on a hang.
pub async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_TIMEOUT, fut)
        .await
        .expect("test timed out")
}
