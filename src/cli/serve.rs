//! `groupcache serve`: run a cache node.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use cache_core::StoreKind;
use cache_core::promotion::{Always, CoinFlip, Never, PromotionPolicy, QpsThreshold};
use clap::{Args, ValueEnum};

use crate::Error;
use crate::cli::parse::{GroupSpec, clap_parsers};
use crate::source::{Source, SourceOptions};

pub mod access_log;
pub mod auth;
pub mod dev;
pub mod discovery;
pub mod golang;
pub mod http2;
pub mod loads;
mod metrics;
pub mod mutations;
mod node;
pub mod reload;
pub mod resources;
pub mod self_id;
pub mod sql;
pub mod tls;

/// Which store keeps a group's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreArg {
    /// Exact byte budget, SIEVE eviction: the best hit ratio and the
    /// cheapest hits (default).
    Sieve,
    /// Exact byte budget, least-recently-used eviction.
    Lru,
    /// A moka cache: TinyLFU admission, better hit ratio on skewed or scanning
    /// workloads.
    Moka,
}

impl From<StoreArg> for StoreKind {
    fn from(s: StoreArg) -> StoreKind {
        match s {
            StoreArg::Sieve => StoreKind::Sieve,
            StoreArg::Lru => StoreKind::Lru,
            StoreArg::Moka => StoreKind::Moka,
        }
    }
}

/// `--promotion`: which values fetched from a peer get a hot-cache copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PromotionArg {
    /// Every value while the hot cache has free room, then the busiest
    /// tenth of the fetched keys by the owner's reported rate (default).
    Busy,
    /// One value in ten at random, as golang/groupcache does.
    Coin,
    /// Every fetched value.
    Always,
    /// None: every get of a key owned elsewhere is a peer fetch.
    Never,
}

impl PromotionArg {
    /// The policy this flag stands for.
    pub fn policy(self, dev: &dev::DevSettings) -> Arc<dyn PromotionPolicy> {
        if dev.busy_only_promotion {
            return Arc::new(QpsThreshold::default().with_fill_free_room(false));
        }
        match self {
            PromotionArg::Busy => Arc::new(QpsThreshold::default()),
            PromotionArg::Coin => Arc::new(CoinFlip::new(10)),
            PromotionArg::Always => Arc::new(Always),
            PromotionArg::Never => Arc::new(Never),
        }
    }
}

/// Flags of `groupcache serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// A TOML file of settings: keys are these flags' long names, groups go
    /// in a table named groups (NAME = "SOURCE"). Flags and environment
    /// variables override it. See docs/cli.md and examples/groupcache.toml.
    #[arg(long, env = "GROUPCACHE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on for clients and peers: IP:PORT, or HOST:PORT
    /// (resolved at start, an IPv4 address preferred). Loopback by default:
    /// use 0.0.0.0:PORT (and --self) to serve other machines.
    #[arg(
        long,
        env = "GROUPCACHE_LISTEN",
        default_value = "127.0.0.1:7001",
        value_name = "ADDR",
        value_parser = clap_parsers::listen
    )]
    pub listen: SocketAddr,
    /// Serve peers on a port of their own: peers fetch from each other
    /// here (--peers then lists these addresses), and the --listen port
    /// refuses Fetch with PERMISSION_DENIED. Default: peers use --listen.
    #[arg(long, env = "GROUPCACHE_PEER_LISTEN", value_name = "ADDR", value_parser = clap_parsers::listen)]
    pub peer_listen: Option<SocketAddr>,
    /// This node's address as its peers know it (the entry of --peers that
    /// is this node). Default: the peer address, --peer-listen or else
    /// --listen (after binding, so port 0 works).
    #[arg(long = "self", env = "GROUPCACHE_SELF", value_name = "ADDR", value_parser = clap_parsers::peer)]
    pub self_addr: Option<String>,
    /// Every node of the mesh, this one included, comma-separated, the same
    /// list on every node: host:port or http://host:port. Default: none (a
    /// single node that owns every key).
    #[arg(long, env = "GROUPCACHE_PEERS", value_delimiter = ',', value_name = "ADDR,ADDR,...", value_parser = clap_parsers::peer)]
    pub peers: Vec<String>,
    /// Discovery of the peer set, warm takeover, handoff on leave.
    #[command(flatten)]
    pub membership: discovery::DiscoveryArgs,
    /// Joining a golang/groupcache HTTPPool instead of a gRPC mesh.
    #[command(flatten)]
    pub golang: golang::GolangArgs,
    /// A group and its source of truth, NAME=SOURCE; repeat for several
    /// groups (in the environment variable, separate them with ';').
    /// SOURCE is dir:PATH, http(s)://host:port/prefix/{key},
    /// synthetic:size=1024,delay=20ms,missing=PREFIX, or sql:URL QUERY
    /// (postgres://, mysql://, mariadb://, sqlite:; see --sql-query).
    #[arg(long = "group", env = "GROUPCACHE_GROUP", value_delimiter = ';', required = true, value_name = "NAME=SOURCE", value_parser = clap_parsers::group)]
    pub groups: Vec<GroupSpec>,
    /// Cache budget of each group, main and hot cache together: bytes or
    /// a size with a unit (64MiB, 1GB).
    #[arg(long, env = "GROUPCACHE_CACHE_BYTES", default_value = "64MiB", value_name = "SIZE", value_parser = clap_parsers::size)]
    pub cache_bytes: u64,
    /// Share of the cache budget kept for the hot cache (copies of popular
    /// keys owned by other nodes), in [0, 1).
    #[arg(long, env = "GROUPCACHE_HOT_FRACTION", default_value = "0.125", value_name = "FRACTION", value_parser = clap_parsers::fraction)]
    pub hot_fraction: f64,
    /// Which values fetched from a peer get a copy in the hot cache.
    #[arg(long, env = "GROUPCACHE_PROMOTION", value_enum, default_value_t = PromotionArg::Busy, value_name = "POLICY")]
    pub promotion: PromotionArg,
    /// Longest key accepted; longer keys are INVALID_ARGUMENT.
    #[arg(long, env = "GROUPCACHE_MAX_KEY_BYTES", default_value = "1KiB", value_name = "SIZE", value_parser = clap_parsers::size)]
    pub max_key_bytes: u64,
    /// Largest value served or fetched: bounds files, origin bodies and
    /// gRPC messages on both ends.
    #[arg(long, env = "GROUPCACHE_MAX_VALUE_BYTES", default_value = "8MiB", value_name = "SIZE", value_parser = clap_parsers::size)]
    pub max_value_bytes: u64,
    /// Most keys of one GetMany, a peer's FetchMany, or a Remove; more is
    /// INVALID_ARGUMENT. Give every node the same value.
    #[arg(long, env = "GROUPCACHE_MAX_BATCH_KEYS", default_value_t = cache_grpc::limits::DEFAULT_MAX_BATCH_KEYS, value_name = "N")]
    pub max_batch_keys: usize,
    /// Load timeout, load limits, peer liveness and the breaker.
    #[command(flatten)]
    pub loads: loads::LoadArgs,
    /// Remove and Set across the mesh; the hot TTL.
    #[command(flatten)]
    pub mutations: mutations::MutationArgs,
    /// Longest wait for an HTTP origin (http/https sources).
    #[arg(long, env = "GROUPCACHE_ORIGIN_TIMEOUT", default_value = "5s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub origin_timeout: Duration,
    /// A PEM file of extra CA certificates trusted by https sources (for an
    /// internal CA), besides the built-in Mozilla roots. Default: none.
    #[arg(long, env = "GROUPCACHE_ORIGIN_CA", value_name = "FILE")]
    pub origin_ca: Option<PathBuf>,
    /// How long a NOT_FOUND answer from the source is remembered; 0s turns
    /// negative caching off.
    #[arg(long, env = "GROUPCACHE_NEGATIVE_TTL", default_value = "0s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub negative_ttl: Duration,
    /// The longest a loaded value stays fresh, in every group: a source's
    /// longer TTL is cut to it and a value with none gets it; 0s: no cap
    /// (a value without a TTL never expires).
    #[arg(long, env = "GROUPCACHE_TTL", default_value = "0s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub ttl: Duration,
    /// The largest fraction by which each loaded value's TTL is shortened
    /// at random, in [0, 1), so keys loaded together do not expire together.
    #[arg(long, env = "GROUPCACHE_TTL_JITTER", default_value = "0", value_name = "FRACTION", value_parser = clap_parsers::fraction)]
    pub ttl_jitter: f64,
    /// How long past its TTL a value may still be served by its owner while
    /// one background refresh per key runs (and, if that fails, until this
    /// window ends); 0s turns stale serving off.
    #[arg(long, env = "GROUPCACHE_STALE_TTL", default_value = "0s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub stale_ttl: Duration,
    /// Requests handled at once; more are refused with RESOURCE_EXHAUSTED.
    #[arg(
        long,
        env = "GROUPCACHE_MAX_CONCURRENT_REQUESTS",
        default_value_t = 4096,
        value_name = "N"
    )]
    pub max_concurrent_requests: usize,
    /// Origin connections and HTTP/2 client resets.
    #[command(flatten)]
    pub resources: resources::ResourceArgs,
    /// Queries, TTL columns, passwords, pools and timeouts of sql: groups.
    #[command(flatten)]
    pub sql: sql::SqlArgs,
    /// HTTP/2 connections, streams, queued bytes and timers.
    #[command(flatten)]
    pub http2: http2::Http2Args,
    /// Client and peer tokens, open RPCs, --insecure.
    #[command(flatten)]
    pub auth: auth::AuthArgs,
    /// The access log and the slow-request log.
    #[command(flatten)]
    pub requests_log: access_log::AccessLogArgs,
    /// Certificates, the peers' CA, the peer allow-list.
    #[command(flatten)]
    pub tls: tls::TlsArgs,
    /// Span export over OTLP (builds with the otlp feature).
    #[command(flatten)]
    pub traces: crate::cli::traces::TraceArgs,
    /// Serve Prometheus metrics at http://ADDR/metrics (and a status page
    /// at /status, /healthz) on a listener of their own, over HTTP/1.1.
    /// Default: off. The pages hold counts, latencies, group and peer
    /// names, never values; keys only hashed (see --status-keys).
    #[arg(long, env = "GROUPCACHE_METRICS_LISTEN", value_name = "ADDR", value_parser = clap_parsers::listen)]
    pub metrics_listen: Option<SocketAddr>,
    /// How /status shows the busiest keys: hash (default) or full.
    #[arg(long, env = "GROUPCACHE_STATUS_KEYS", value_enum, default_value_t = StatusKeys::Hash, value_name = "HOW")]
    pub status_keys: StatusKeys,
    /// The longest any request may take: the budget of a request without a
    /// grpc-timeout, and the cap of one with a longer one.
    #[arg(long, env = "GROUPCACHE_REQUEST_TIMEOUT", default_value = "30s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub request_timeout: Duration,
    /// Turn off gRPC server reflection (on by default, for grpcurl).
    #[arg(long, env = "GROUPCACHE_NO_REFLECTION", value_parser = clap_parsers::switch)]
    pub no_reflection: bool,
    /// Store of every group's caches.
    #[arg(long, env = "GROUPCACHE_STORE", value_enum, default_value_t = StoreArg::Sieve, value_name = "STORE")]
    pub store: StoreArg,
    /// On SIGINT/SIGTERM, how long in-flight requests may take to finish
    /// before the process exits anyway.
    #[arg(long, env = "GROUPCACHE_SHUTDOWN_TIMEOUT", default_value = "10s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub shutdown_timeout: Duration,
    /// On SIGINT/SIGTERM, how long the node keeps accepting requests while
    /// its health check already answers NOT_SERVING, so that load balancers
    /// stop sending traffic before the listener closes (0s: close at once).
    #[arg(long, env = "GROUPCACHE_SHUTDOWN_GRACE", default_value = "0s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub shutdown_grace: Duration,
    /// Threads serving requests: 0 (the default) one worker per core, N a
    /// multi-thread runtime with N workers, 1 every task on one thread (the
    /// least CPU per request when the node shares its cores: answers that
    /// are ready together leave in one write).
    #[arg(long, env = "GROUPCACHE_THREADS", default_value_t = crate::cli::runtime::DEFAULT_THREADS, value_name = "N", value_parser = clap_parsers::threads)]
    pub threads: usize,
    /// Developer settings, for measuring against stock: hyper-transport,
    /// tonic-codec, no-server-coalescing, no-peer-coalescing,
    /// busy-only-promotion, or stock (all). See docs/bench.md.
    #[arg(
        long,
        env = "GROUPCACHE_DEV",
        value_enum,
        value_delimiter = ',',
        hide = true,
        value_name = "SETTING,..."
    )]
    pub dev: Vec<dev::DevSetting>,
}

/// How the status page shows keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusKeys {
    /// `xxh3:` and the key's hash.
    Hash,
    /// The key itself.
    Full,
}

/// A validated serve configuration, sources opened.
#[derive(Debug)]
pub struct ServeConfig {
    /// The flags, checked.
    pub args: ServeArgs,
    /// Each group's name and opened source, in flag order.
    pub sources: Vec<(String, Source)>,
    /// The client and peer tokens, read.
    pub tokens: auth::NodeTokens,
    /// The TLS configuration, loaded (`None`: plaintext).
    pub tls: Option<tls::NodeTls>,
}

impl ServeArgs {
    /// Checks every flag and opens every source, or says what is wrong.
    pub fn validate(self) -> Result<ServeConfig, Error> {
        let mut names = HashSet::new();
        for g in &self.groups {
            if !names.insert(g.name.as_str()) {
                return Err(Error::config(format!("group {:?} is given twice", g.name)));
            }
        }
        let mut seen = HashSet::new();
        for p in &self.peers {
            if !seen.insert(p.strip_prefix("http://").unwrap_or(p)) {
                return Err(Error::config(format!(
                    "peer {p:?} is listed twice in --peers"
                )));
            }
        }
        for (flag, ttl) in [("--ttl", self.ttl), ("--stale-ttl", self.stale_ttl)] {
            if ttl > cache_core::MAX_TTL {
                return Err(Error::config(format!("{flag} must be at most 100 years")));
            }
        }
        let peer_port = self.peer_listen.unwrap_or(self.listen);
        let has_peers = !self.peers.is_empty() || self.membership.discovery.is_some();
        if peer_port.ip().is_unspecified() && self.self_addr.is_none() && has_peers {
            return Err(Error::config(format!(
                "{} {peer_port} accepts on every interface, so peers cannot reach this node at \
                 it: give --self with the address the other peers use (as listed in --peers)",
                if self.peer_listen.is_some() {
                    "--peer-listen"
                } else {
                    "--listen"
                },
            )));
        }
        if self.peer_listen == Some(self.listen) {
            return Err(Error::config(
                "--peer-listen must differ from --listen (leave it out to serve peers on --listen)",
            ));
        }
        if self.cache_bytes == 0 {
            return Err(Error::config("--cache-bytes must be above zero"));
        }
        if let Some(metrics) = self.metrics_listen
            && metrics == self.listen
            && metrics.port() != 0
        {
            return Err(Error::config(format!(
                "--metrics-listen {metrics} is the --listen address: give the metrics a port of their own"
            )));
        }
        if self.max_key_bytes == 0 {
            return Err(Error::config("--max-key-bytes must be above zero"));
        }
        if self.max_value_bytes == 0 || self.max_value_bytes > u64::from(u32::MAX) {
            return Err(Error::config(
                "--max-value-bytes must be between 1 byte and 4GiB",
            ));
        }
        if self.max_batch_keys == 0 {
            return Err(Error::config("--max-batch-keys must be at least 1"));
        }
        self.loads.validate()?;
        self.membership.validate()?;
        self.golang.validate(&golang::Others {
            listen: self.listen,
            metrics_listen: self.metrics_listen,
            peers: &self.peers,
            discovery: self.membership.discovery.is_some(),
            peer_listen: self.peer_listen.is_some(),
            insecure: self.auth.insecure,
        })?;
        if self.origin_timeout.is_zero() {
            return Err(Error::config("--origin-timeout must be above zero"));
        }
        if self.request_timeout.is_zero() {
            return Err(Error::config("--request-timeout must be above zero"));
        }
        if self.max_concurrent_requests == 0 {
            return Err(Error::config(
                "--max-concurrent-requests must be above zero",
            ));
        }
        self.resources.validate()?;
        self.sql.validate(&self.groups)?;
        self.requests_log.access_log()?;
        self.http2.validate()?;
        let tokens = self.auth.tokens(&|var| std::env::var(var).ok())?;
        let tls = self.tls.load()?;
        for addr in std::iter::once(self.listen).chain(self.peer_listen) {
            self.auth.check_exposure(addr, &tokens, tls.is_some())?;
        }
        let mut options = SourceOptions::new(self.max_value_bytes, self.origin_timeout);
        self.resources.apply_to_sources(&mut options);
        self.sql.apply_to_sources(&mut options);
        if let Some(path) = &self.origin_ca {
            let pem = std::fs::read(path)
                .map_err(|e| Error::config(format!("--origin-ca {}: {e}", path.display())))?;
            options.origin_ca_pem = Some(pem);
        }
        let sources = self
            .groups
            .iter()
            .map(|g| {
                self.sql
                    .open(g, &options, &|var| std::env::var(var).ok())
                    .map(|s| (g.name.clone(), s))
                    .map_err(|e| match e {
                        Error::Config(m) => Error::config(format!("group {:?}: {m}", g.name)),
                        other => other,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ServeConfig {
            args: self,
            sources,
            tokens,
            tls,
        })
    }
}

impl ServeConfig {
    /// Checks every source against its backend ([`Source::check`]: an
    /// `sql:` source connects and prepares its query), in flag order; the
    /// first failure, naming its group, ends the start.
    pub async fn check_sources(&self) -> Result<(), Error> {
        for (name, source) in &self.sources {
            source.check().await.map_err(|e| match e {
                Error::Config(m) => Error::config(format!("group {name:?}: {m}")),
                Error::Io { context, source } => {
                    Error::io(format!("group {name:?}: {context}"), source)
                }
                other => other,
            })?;
        }
        Ok(())
    }
}

/// Validates the configuration, checks the sources, binds the listen
/// address, serves until SIGINT or SIGTERM, then drains in-flight requests
/// (bounded by `--shutdown-timeout`) and returns.
pub async fn run(args: ServeArgs) -> Result<(), Error> {
    let config = args.validate()?;
    config.check_sources().await?;
    node::run(config).await
}
