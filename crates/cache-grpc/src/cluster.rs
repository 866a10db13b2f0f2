//! [`LocalCluster`]: N groupcache nodes in one process, on `127.0.0.1:0`,
//! talking real gRPC to each other. For tests, the `demo` command and
//! benchmarks.
//!
//! Each node runs on its own small tokio runtime (one worker thread by
//! default), so
//! [`LocalCluster::kill`] can end a node the way a crash would: every task
//! of that node (accept loop and open connections) is dropped at once, and
//! its peers see broken connections and refused reconnects.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cache_grpc::Error> {
//! use std::sync::Arc;
//! use cache_core::{getter_fn, GroupBuilder, Loaded};
//! use cache_grpc::LocalCluster;
//!
//! let cluster = LocalCluster::start(3, |_index, pool| {
//!     let getter = getter_fn(|key: String, _ctx| async move { Ok(Loaded::new(key)) });
//!     vec![GroupBuilder::new("echo", 1 << 20, getter)
//!         .peers(Arc::new(pool.clone()))
//!         .build()
//!         .expect("valid group")]
//! })
//! .await?;
//! let value = cluster.group(0, "echo").unwrap().get("hello").await.unwrap();
//! assert_eq!(&value[..], b"hello");
//! cluster.shutdown().await?;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use cache_core::{Group, Registry};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

use crate::pb::groupcache_client::GroupcacheClient;
use crate::{Error, PeerPool, PoolOptions, ServerOptions, limits, serve};

/// Options of a [`LocalCluster`]: the same for every node.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClusterOptions {
    /// Server options of each node. Default [`ServerOptions::default`].
    pub server: ServerOptions,
    /// Pool options of each node. Default [`PoolOptions::default`].
    pub pool: PoolOptions,
    /// Worker threads of each node's runtime. Default 1 (several nodes
    /// share a small machine; raise it to measure one node's throughput).
    pub worker_threads: usize,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            server: ServerOptions::default(),
            pool: PoolOptions::default(),
            worker_threads: 1,
        }
    }
}

/// One node of a [`LocalCluster`].
#[derive(Debug)]
struct Node {
    addr: SocketAddr,
    registry: Registry,
    pool: PeerPool,
    /// Completes the node's shutdown future (graceful stop).
    stop: Option<oneshot::Sender<()>>,
    /// The `serve` task; `None` once stopped or killed.
    task: Option<JoinHandle<Result<(), Error>>>,
    /// The node's own runtime; dropped (in the background) to kill it.
    runtime: Option<Runtime>,
}

/// N nodes on loopback, each serving its groups and peering with all the
/// others; see the [module docs](self).
///
/// Dropping a cluster kills the nodes still running; call
/// [`shutdown`](Self::shutdown) to stop them gracefully instead.
#[derive(Debug)]
pub struct LocalCluster {
    nodes: Vec<Node>,
    max_message_bytes: usize,
    /// Kept to restart nodes with the same options.
    opts: ClusterOptions,
}

impl LocalCluster {
    /// Starts `n` nodes with default options. `make_groups(index, pool)`
    /// builds the groups of node `index`; give them `pool` as their peer
    /// picker (`GroupBuilder::peers(Arc::new(pool.clone()))`).
    pub async fn start<F>(n: usize, make_groups: F) -> Result<LocalCluster, Error>
    where
        F: FnMut(usize, &PeerPool) -> Vec<Group>,
    {
        Self::start_with(n, ClusterOptions::default(), make_groups).await
    }

    /// Starts `n` nodes with `opts`.
    ///
    /// All listeners are bound first (so every address is known), then each
    /// node's pool is built with the full peer list, then its groups, then
    /// its server starts.
    pub async fn start_with<F>(
        n: usize,
        opts: ClusterOptions,
        mut make_groups: F,
    ) -> Result<LocalCluster, Error>
    where
        F: FnMut(usize, &PeerPool) -> Vec<Group>,
    {
        if n == 0 {
            return Err(Error::Config("a cluster needs at least one node".into()));
        }
        let mut listeners = Vec::with_capacity(n);
        for _ in 0..n {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.set_nonblocking(true)?;
            listeners.push(l);
        }
        let addrs: Vec<SocketAddr> = listeners
            .iter()
            .map(|l| l.local_addr())
            .collect::<Result<_, _>>()?;
        let peers: Vec<String> = addrs.iter().map(SocketAddr::to_string).collect();

        let mut cluster = LocalCluster {
            nodes: Vec::with_capacity(n),
            max_message_bytes: limits::message_limit(opts.server.max_value_bytes()),
            opts,
        };
        for (index, listener) in listeners.into_iter().enumerate() {
            let pool = PeerPool::new(&peers[index], &peers, cluster.opts.pool.clone())?;
            let registry = Registry::new();
            for group in make_groups(index, &pool) {
                registry.add(group)?;
            }
            let mut node = Node {
                addr: addrs[index],
                registry,
                pool,
                stop: None,
                task: None,
                runtime: None,
            };
            Self::launch(&cluster.opts, index, &mut node, listener)?;
            cluster.nodes.push(node);
        }
        Ok(cluster)
    }

    /// Starts serving `node` on `listener`, on a new runtime.
    fn launch(
        opts: &ClusterOptions,
        index: usize,
        node: &mut Node,
        listener: std::net::TcpListener,
    ) -> Result<(), Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.worker_threads.max(1))
            .thread_name(format!("gc-node-{index}"))
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let (r, p, o) = (
            node.registry.clone(),
            node.pool.clone(),
            opts.server.clone(),
        );
        let task = runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            serve(listener, r, p, o, async {
                let _ = stopped.await;
            })
            .await
        });
        node.stop = Some(stop);
        node.task = Some(task);
        node.runtime = Some(runtime);
        Ok(())
    }

    /// Starts a stopped or killed node `index` again, on the same address,
    /// with the same groups (their caches kept) and pool. Peers reconnect
    /// to it on their next fetch. Fails if the node is running or its port
    /// was taken meanwhile.
    pub fn restart(&mut self, index: usize) -> Result<(), Error> {
        if self.is_running(index) {
            return Err(Error::Config(format!("node {index} is running")));
        }
        let listener = std::net::TcpListener::bind(self.nodes[index].addr)?;
        listener.set_nonblocking(true)?;
        let LocalCluster { nodes, opts, .. } = self;
        Self::launch(opts, index, &mut nodes[index], listener)
    }

    /// Number of nodes (stopped ones included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when the cluster has no nodes (never, once started).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The address node `index` listens on.
    pub fn addr(&self, index: usize) -> SocketAddr {
        self.nodes[index].addr
    }

    /// Every node's address, by index.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.addr).collect()
    }

    /// Node `index`'s URL, `http://127.0.0.1:PORT`.
    pub fn url(&self, index: usize) -> String {
        format!("http://{}", self.nodes[index].addr)
    }

    /// Node `index`'s registry.
    pub fn registry(&self, index: usize) -> &Registry {
        &self.nodes[index].registry
    }

    /// Node `index`'s peer pool.
    pub fn pool(&self, index: usize) -> &PeerPool {
        &self.nodes[index].pool
    }

    /// Group `name` of node `index`.
    pub fn group(&self, index: usize, name: &str) -> Option<Group> {
        self.nodes[index].registry.get(name)
    }

    /// The index of the node that owns `key` (by node 0's ring).
    pub fn owner_index(&self, key: &str) -> usize {
        let owner = self.nodes[0].pool.owner(key);
        self.nodes
            .iter()
            .position(|n| n.pool.self_id() == owner)
            .unwrap_or(0)
    }

    /// True while node `index` has been neither stopped nor killed.
    pub fn is_running(&self, index: usize) -> bool {
        self.nodes[index].task.is_some()
    }

    /// A gRPC client of node `index`, with message limits matching the
    /// servers'. Connects lazily. Call it inside a tokio runtime (the
    /// channel spawns its connection task there).
    pub fn client(&self, index: usize) -> GroupcacheClient<Channel> {
        let channel = Endpoint::from_shared(self.url(index))
            .expect("a loopback URL is a valid endpoint")
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(1))
            .connect_lazy();
        GroupcacheClient::new(channel)
            .max_decoding_message_size(self.max_message_bytes)
            .max_encoding_message_size(self.max_message_bytes)
    }

    /// Stops node `index` gracefully (health NOT_SERVING, drain, close) and
    /// waits for it. Stopping a stopped node does nothing.
    pub async fn stop(&mut self, index: usize) -> Result<(), Error> {
        let node = &mut self.nodes[index];
        if let Some(stop) = node.stop.take() {
            let _ = stop.send(());
        }
        let result = match node.task.take() {
            Some(task) => task
                .await
                .unwrap_or_else(|e| Err(Error::Config(format!("node task failed: {e}")))),
            None => Ok(()),
        };
        if let Some(rt) = node.runtime.take() {
            rt.shutdown_background();
        }
        result
    }

    /// Kills node `index` at once, like a crash: its runtime and every
    /// task on it (open connections included) are dropped.
    pub fn kill(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        node.stop = None;
        node.task = None;
        if let Some(rt) = node.runtime.take() {
            rt.shutdown_background();
        }
    }

    /// Stops every node still running, gracefully, and returns the first
    /// error.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        let mut first = Ok(());
        for index in 0..self.nodes.len() {
            let r = self.stop(index).await;
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(rt) = node.runtime.take() {
                rt.shutdown_background();
            }
        }
    }
}
