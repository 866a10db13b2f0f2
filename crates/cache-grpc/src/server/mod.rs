//! The server side: [`serve`] runs a node's gRPC server on a listener until
//! a shutdown future completes, then drains.
//!
//! - [`options`]: [`ServerOptions`] and its checked builder.
//! - `stack`: the one function that builds the node's service (spans,
//!   routing, shedding, deadlines, the `Groupcache` server) for whichever
//!   transport serves it.
//! - [`router`]: [`Router`], the one place a request is routed.
//! - [`groupcache`]: [`GroupcacheServer`], `groupcache.v1.Groupcache` on
//!   the unary codec or the generated server.
//! - [`request_stats`]: [`RequestStats`], requests in flight and shed, for
//!   metrics.
//!
//! Health (`grpc.health.v1`) reports SERVING once the listener is served
//! and the pool is ready (its first peer set applied, see
//! [`MembershipStatus::set_ready`](crate::pool::MembershipStatus::set_ready)),
//! and NOT_SERVING from the moment shutdown begins.

pub(crate) mod gauges;
pub mod groupcache;
pub mod options;
pub mod request_stats;
pub mod router;
mod stack;

use std::future::Future;

use cache_core::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic_health::ServingStatus;

pub use self::groupcache::GroupcacheServer;
pub use self::options::{ServerOptions, ServerOptionsBuilder};
pub use self::request_stats::RequestStats;
pub use self::router::Router;
use crate::pb::groupcache_server::GroupcacheServer as Generated;
use crate::service::GroupcacheService;
use crate::{Error, PeerPool, transport};

/// The name health reports the groupcache service under.
const SERVICE_NAME: &str = <Generated<GroupcacheService> as NamedService>::NAME;

/// Where a node listens: the client port, and optionally a port of its own
/// for peer traffic. A [`TcpListener`] converts into the client port
/// alone.
#[derive(Debug)]
pub struct Listeners {
    /// Clients (and, without a peer port, peers).
    pub client: TcpListener,
    /// Peers: with it, the client port refuses peer-only RPCs (`Fetch`)
    /// with `PERMISSION_DENIED`, and the ring's peer ids are these
    /// addresses.
    pub peer: Option<TcpListener>,
}

impl From<TcpListener> for Listeners {
    fn from(client: TcpListener) -> Self {
        Listeners { client, peer: None }
    }
}

/// Serves `groupcache.v1.Groupcache`, `grpc.health.v1.Health` and (unless
/// turned off) server reflection on `listeners` until `shutdown`
/// completes.
///
/// Health reports SERVING (for `""` and `groupcache.v1.Groupcache`) once
/// the server runs, while the pool is ready. When `shutdown` completes it reports NOT_SERVING, waits
/// `shutdown_grace`, stops accepting, and lets in-flight requests finish for
/// up to `drain_timeout`. Returns `Ok(())` after a clean drain.
///
/// Must run inside a tokio runtime. Accepted sockets get `TCP_NODELAY`
/// (without it small answers wait ~40 ms for Nagle).
pub async fn serve(
    listeners: impl Into<Listeners>,
    registry: Registry,
    pool: PeerPool,
    opts: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let Listeners { client, peer } = listeners.into();
    let local = client.local_addr()?;
    let peer_addr = peer.as_ref().map(TcpListener::local_addr).transpose()?;
    let (inner, health, gauges) = stack::build(registry.clone(), pool.clone(), &opts)?;
    let mut transport_cfg = opts.transport_config();
    transport_cfg.open = gauges.connections.clone();
    set_health(&health, ServingStatus::NotServing).await;
    // Cancelled when the server is to stop accepting and drain.
    let stop = CancellationToken::new();
    let client_auth = opts.auth.clone().peers_elsewhere(peer.is_some());
    let client_svc = stack::for_listener(inner.clone(), client_auth);
    let client_port = transport::serve(client, client_svc, transport_cfg.clone(), stop.clone());
    let peer_port = async {
        if let Some(listener) = peer {
            let svc = stack::for_listener(inner, opts.auth.clone());
            transport::serve(listener, svc, transport_cfg, stop.clone()).await;
        }
    };
    let server = async {
        futures::future::join(client_port, peer_port).await;
    };
    tokio::pin!(server);

    tracing::info!(addr = %local, peer_addr = ?peer_addr, node = %pool.self_id(), groups = registry.groups().len(), "serving");

    // Health follows the pool's readiness (its first peer set applied)
    // until shutdown begins.
    let follow_readiness = follow_readiness(&health, pool.membership().subscribe_ready());
    tokio::select! {
        () = &mut server => {
            // The accept loop only ends when told to.
            tracing::error!(addr = %local, "server stopped before shutdown was requested");
            return Ok(());
        }
        () = shutdown => {}
        () = follow_readiness => {}
    }

    tracing::info!(addr = %local, "shutdown requested: NOT_SERVING, draining");
    set_health(&health, ServingStatus::NotServing).await;
    if !opts.shutdown_grace.is_zero() {
        // Keep accepting while load balancers see NOT_SERVING.
        if tokio::time::timeout(opts.shutdown_grace, &mut server)
            .await
            .is_ok()
        {
            return Ok(());
        }
    }
    stop.cancel();
    match tokio::time::timeout(opts.drain_timeout, &mut server).await {
        Ok(()) => {
            tracing::info!(addr = %local, "drained; stopped");
            Ok(())
        }
        Err(_) => {
            tracing::warn!(addr = %local, drain_timeout = ?opts.drain_timeout, "drain timed out; closing remaining connections");
            Ok(())
        }
    }
}

/// Reports SERVING while `ready` says so and NOT_SERVING otherwise, until
/// `ready`'s sender is gone (then pending forever).
async fn follow_readiness(
    health: &tonic_health::server::HealthReporter,
    mut ready: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let now = *ready.borrow_and_update();
        set_health(
            health,
            if now {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            },
        )
        .await;
        if ready.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// Reports `status` for the whole server (`""`) and for the Groupcache
/// service alike: health checkers ask for either.
async fn set_health(health: &tonic_health::server::HealthReporter, status: ServingStatus) {
    health.set_service_status("", status).await;
    health.set_service_status(SERVICE_NAME, status).await;
}
