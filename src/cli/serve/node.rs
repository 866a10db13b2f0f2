//! Starting a node from a validated configuration, and stopping it on a
//! signal.

use std::sync::Arc;
use std::time::Duration;

use cache_core::{GroupBuilder, PeerPicker, Registry};
use cache_grpc::golang::GoServerOptions;
use cache_grpc::handoff::{HandoffBudget, hand_off};
use cache_grpc::{PeerPool, PoolOptions, RequestStats, ServerOptions, Transport};

use crate::Error;
use crate::cli::serve::ServeConfig;
use crate::cli::serve::dev::DevSettings;
use crate::cli::serve::resources::raise_open_file_limit;
use crate::cli::serve::{golang, http2, metrics, reload, self_id};
use crate::discovery::{Discovery, membership};
use crate::metrics::NodeCollector;
use crate::metrics::status::KeyView;

/// Builds the pool and the groups, binds, serves until SIGINT/SIGTERM, then
/// lets `cache_grpc::serve` drain (bounded by `--shutdown-timeout`).
pub(super) async fn run(config: ServeConfig) -> Result<(), Error> {
    let ServeConfig {
        args,
        sources,
        tokens,
        tls,
    } = config;
    let max_value_bytes = usize::try_from(args.max_value_bytes)
        .map_err(|_| Error::config("--max-value-bytes is too large for this machine"))?;
    let max_key_bytes = usize::try_from(args.max_key_bytes)
        .map_err(|_| Error::config("--max-key-bytes is too large for this machine"))?;

    if let Some(warning) = crate::cli::traces::unexported_warning(|k| std::env::var(k).ok()) {
        tracing::warn!("{warning}");
    }

    // Signals first, so a SIGTERM during start-up is not lost.
    let signal = termination_signal()?;
    // Token and TLS files are reread when they change and on SIGHUP.
    let mut watched = tokens.watched();
    if let Some(tls) = &tls {
        watched.extend(tls.watched());
    }
    tokio::spawn(reload::reload_on_change(watched, hangups()?));

    match raise_open_file_limit() {
        Ok(limit) => {
            tracing::info!(
                soft = limit.soft,
                hard = limit.hard,
                was = limit.was,
                "open-file limit"
            )
        }
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }

    // With the system's listen backlog, not tokio's 1024.
    let listener = http2::bind(args.listen)
        .map_err(|e| Error::io(format!("cannot listen on {}", args.listen), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::io("cannot read the listen address", e))?;
    let peer_listener = match args.peer_listen {
        Some(addr) => {
            Some(http2::bind(addr).map_err(|e| Error::io(format!("cannot listen on {addr}"), e))?)
        }
        None => None,
    };
    let peer_local = match &peer_listener {
        Some(l) => l
            .local_addr()
            .map_err(|e| Error::io("cannot read the peer listen address", e))?,
        None => local,
    };
    let metrics_listener = metrics::bind(args.metrics_listen).await?;
    // With --golang-listen: the Go pool's listener and ring.
    let golang = golang::bind(&args.golang, args.loads.peer_timeout, max_value_bytes).await?;
    // Our entry of --peers, as spelled there (host names resolved).
    let self_addr = self_id::find_self(
        args.self_addr.as_deref(),
        peer_local,
        &args.peers,
        &self_id::system_resolver,
    )?;

    let dev = DevSettings::from_list(&args.dev);
    let mut pool_opts = args
        .membership
        .apply_to_pool(args.loads.apply_to_pool(PoolOptions::builder()))
        .max_value_bytes(max_value_bytes)
        .write_coalescing(!dev.no_peer_coalescing);
    if let Some(peer_tokens) = &tokens.peers {
        pool_opts = pool_opts.peer_tokens(peer_tokens.clone());
    }
    if let Some(tls) = &tls {
        pool_opts = pool_opts.tls(tls.client.clone());
    }
    let pool_opts = pool_opts.build()?;
    let peers = if args.peers.is_empty() {
        vec![self_addr.clone()]
    } else {
        args.peers.clone()
    };
    let pool = PeerPool::new(&self_addr, &peers, pool_opts)?;
    // With --discovery the pool starts as this node alone, not ready
    // (health NOT_SERVING) until the source's first answer is applied.
    let leave = match &args.membership.discovery {
        Some(spec) => {
            pool.membership().set_source(spec.to_string());
            let opts = args.membership.options(pool.self_id());
            let source = Discovery::open(spec, &opts).await?;
            Some(membership::spawn(
                source,
                pool.clone(),
                args.membership.membership(),
            ))
        }
        None => None,
    };

    let registry = Registry::new();
    // One bound on source loads for the whole node, all groups together.
    let limiter = args.loads.limiter()?;
    let negative_ttl = (!args.negative_ttl.is_zero()).then_some(args.negative_ttl);
    // Keys are placed by the Go ring in a Go pool, else by the gRPC pool.
    let picker: Arc<dyn PeerPicker> = match &golang {
        Some(bound) => Arc::new(bound.pool.clone()),
        None => Arc::new(pool.clone()),
    };
    let max_ttl = optional_ttl(args.ttl);
    let stale_ttl = optional_ttl(args.stale_ttl);
    for (name, source) in sources {
        let group = GroupBuilder::new(name, args.cache_bytes, source)
            .peers(Arc::clone(&picker))
            .hot_fraction(args.hot_fraction)
            .promotion(args.promotion.policy(&dev))
            .store_kind(args.store.into())
            .negative_ttl(negative_ttl)
            .max_ttl(max_ttl)
            .ttl_jitter(args.ttl_jitter)
            .stale_ttl(stale_ttl)
            .load_timeout(Some(args.loads.load_timeout))
            .load_limiter(limiter.clone())
            .max_key_bytes(max_key_bytes)
            .hot_ttl(args.mutations.hot_ttl())
            .tombstone_ttl(args.mutations.tombstone_ttl)
            .build()?;
        registry.add(group)?;
    }

    let requests = RequestStats::default();
    let mut server = ServerOptions::builder()
        .version(crate::build::node_version())
        .access_log(args.requests_log.access_log()?)
        .request_stats(requests.clone())
        .auth(args.auth.policy(&tokens))
        .max_value_bytes(max_value_bytes)
        .max_batch_keys(args.max_batch_keys)
        .reflection(!args.no_reflection)
        .max_concurrent_requests(args.max_concurrent_requests)
        .request_timeout(args.request_timeout)
        .mutation_timeout(args.mutations.mutation_timeout)
        .drain_timeout(args.shutdown_timeout)
        .shutdown_grace(args.shutdown_grace)
        .write_coalescing(!dev.no_server_coalescing)
        .unary_codec(!dev.tonic_codec)
        .transport(if dev.hyper_transport {
            Transport::Hyper
        } else {
            Transport::H2
        });
    if golang.is_some() {
        // Go's protocol has no way to change another node's cache: a Set
        // here would be seen by this node alone.
        server = server.mutations_off(
            "it is in a golang/groupcache pool (--golang-listen), whose protocol cannot \
             change the other nodes' caches",
        );
    }
    let mut server = args
        .http2
        .apply_to_server(args.resources.apply_to_server(server));
    if let Some(tls) = &tls {
        server = server.tls(tls.server.clone());
    }
    let server_opts = server.build()?;

    tracing::info!(
        listen = %local,
        peer_listen = ?peer_listener.as_ref().map(|_| peer_local),
        node = %pool.self_id(),
        peers = ?pool.peers(),
        groups = ?registry.groups().iter().map(|g| g.name().to_owned()).collect::<Vec<_>>(),
        cache_bytes = args.cache_bytes,
        tls = tls.is_some(),
        mtls = args.tls.tls_ca.is_some(),
        "starting"
    );
    // The metrics are served until the node has drained.
    let metrics = metrics_listener.map(|listener| {
        let collector = NodeCollector {
            registry: registry.clone(),
            pool: pool.clone(),
            requests,
            limiter,
        };
        let keys = match args.status_keys {
            crate::cli::serve::StatusKeys::Hash => KeyView::Hashed,
            crate::cli::serve::StatusKeys::Full => KeyView::Full,
        };
        metrics::start(listener, collector, keys)
    });
    // Go's protocol is served until the node has drained, like the metrics.
    let golang = golang.map(|bound| {
        let limits = GoServerOptions {
            base_path: args.golang.golang_base_path.clone(),
            max_connections: args.http2.max_connections,
            max_concurrent_requests: args.max_concurrent_requests,
            request_timeout: args.request_timeout,
        };
        bound.start(&args.golang, registry.clone(), limits)
    });
    let leaving = Leaving {
        pool: pool.clone(),
        registry: registry.clone(),
        discovery: leave,
        discovery_timeout: args.membership.discovery_timeout,
        handoff: args.membership.handoff(),
    };
    let shutdown = async move {
        if let Ok(name) = signal.await {
            tracing::info!(signal = name, "received; shutting down gracefully");
        }
        leaving.leave().await;
    };
    let listeners = cache_grpc::Listeners {
        client: listener,
        peer: peer_listener,
    };
    let served = cache_grpc::serve(listeners, registry, pool, server_opts, shutdown).await;
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    if let Some(golang) = golang {
        golang.abort();
    }
    served?;
    let dropped = crate::cli::logging::dropped_lines();
    if dropped > 0 {
        tracing::warn!(
            dropped,
            "log lines were dropped: stderr could not take them"
        );
    }
    Ok(())
}

/// What a node does between the signal and the drain: it turns
/// NOT_SERVING, leaves its discovery source, and hands its hottest values
/// to their next owners, still answering everyone meanwhile.
struct Leaving {
    pool: PeerPool,
    registry: Registry,
    discovery: Option<membership::LeaveHandle>,
    discovery_timeout: std::time::Duration,
    handoff: HandoffBudget,
}

impl Leaving {
    async fn leave(self) {
        self.pool.membership().set_ready(false);
        if let Some(discovery) = self.discovery {
            match discovery.leave(self.discovery_timeout).await {
                Ok(()) => tracing::info!("left the discovery source"),
                Err(e) => tracing::warn!(error = %e, "could not leave the discovery source"),
            }
        }
        let report = hand_off(&self.registry, &self.pool, self.handoff).await;
        if report.sent > 0 || !report.failures.is_empty() {
            tracing::info!(
                sent = report.sent,
                stored = report.stored,
                bytes = report.bytes,
                failures = ?report.failures,
                timed_out = report.timed_out,
                elapsed = ?report.elapsed,
                "handed the hottest values to their next owners"
            );
        }
    }
}

/// SIGHUP, as a stream (installed now: from here on SIGHUP no longer ends
/// the process).
fn hangups() -> Result<impl futures::Stream<Item = ()> + Unpin + Send + 'static, Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let hup = signal(SignalKind::hangup())
        .map_err(|e| Error::io("cannot install the SIGHUP handler", e))?;
    Ok(Box::pin(futures::stream::unfold(
        hup,
        |mut hup| async move { hup.recv().await.map(|()| ((), hup)) },
    )))
}

/// Installs the SIGINT and SIGTERM handlers now; the returned future
/// resolves with the signal's name when one arrives.
fn termination_signal()
-> Result<impl std::future::Future<Output = Result<&'static str, Error>> + Send + 'static, Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Error::io("cannot install the SIGTERM handler", e))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| Error::io("cannot install the SIGINT handler", e))?;
    Ok(async move {
        Ok(tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        })
    })
}

/// A TTL flag's value: 0s is off (`None`). Its bound is checked by
/// `ServeArgs::validate`.
fn optional_ttl(ttl: Duration) -> Option<Duration> {
    (!ttl.is_zero()).then_some(ttl)
}
