//! [`serve`]: runs a node's gRPC server on a listener until a shutdown
//! future completes, then drains.

use std::future::Future;
use std::time::Duration;

use cache_core::Registry;
use futures::{FutureExt, StreamExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tower::Layer;

use crate::catch_panic::CatchPanicLayer;
use crate::coalesce::CoalescingIo;
use crate::deadline::DeadlineLayer;
use crate::fastpath::{FastGroupcache, FastPathLayer};
use crate::h2serve::accept::{Acceptor, Slotted};
use crate::h2serve::{self, H2Config};
use crate::pb::groupcache_server::GroupcacheServer;
use crate::server::GroupcacheService;
use crate::shed::ShedLayer;
use crate::{Error, PeerPool, limits};

/// Options of [`serve`]. Every limit has a default here and a knob.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// The largest value served. Sets the message limits of the server
    /// (and must match the peers' [`PoolOptions`](crate::PoolOptions)
    /// `max_value_bytes`). Default 8 MiB.
    pub max_value_bytes: usize,
    /// Serve `grpc.reflection.v1` and `v1alpha` (for grpcurl and friends).
    /// Default true.
    pub reflection: bool,
    /// `Groupcache` requests in flight at once; the next is answered
    /// `RESOURCE_EXHAUSTED` at once (load shedding). Default 4096.
    pub max_concurrent_requests: usize,
    /// The longest any `Groupcache` request may take: the budget of a
    /// request without `grpc-timeout`, and the cap of one with a longer
    /// one. Default 30 s.
    pub request_timeout: Duration,
    /// HTTP/2 streams per connection. Default 1024.
    pub max_concurrent_streams: u32,
    /// Streams a client may reset (RST_STREAM) while they still wait to be
    /// taken up by the server, on one connection at once; one more closes
    /// the connection (GOAWAY `ENHANCE_YOUR_CALM`). h2's
    /// `max_pending_accept_reset_streams`, on both transports. A stream
    /// waits there from the moment its HEADERS are read until the server
    /// takes it up, which is in the same pass over the connection unless
    /// the node is busy; a peer whose fetches time out while they are
    /// still in the node's socket buffer cancels them there. h2's default
    /// of 20 cut peers' connections; the default is
    /// `max_concurrent_streams`' (1024): a peer may cancel every stream it
    /// may have open. Default 1024.
    pub max_pending_resets: usize,
    /// Streams the server itself may reset because of the client's
    /// protocol errors, over a connection's whole life; one more closes it
    /// (GOAWAY `ENHANCE_YOUR_CALM`). h2's `max_local_error_reset_streams`
    /// (its default, made explicit), on both transports. A peer that only
    /// cancels its own fetches never adds to it. Default 1024.
    pub max_local_error_resets: usize,
    /// Streams a client may reset before their answer, per second on one
    /// connection; one more closes the connection (GOAWAY
    /// `ENHANCE_YOUR_CALM`): a rapid-reset flood (HEADERS then RST_STREAM,
    /// over and over) is stopped even when the server keeps up with it, so
    /// that [`max_pending_resets`](Self::max_pending_resets) never trips.
    /// Twice the stream limit by default: a peer cancelling all its fetches
    /// twice in a second stays below. Our HTTP/2 driver only
    /// ([`h2serve`]); tonic's server has no such limit. Default 2048.
    pub max_resets_per_second: u32,
    /// Between "health says NOT_SERVING" and "stop accepting": time for
    /// load balancers to notice. Default 0.
    pub shutdown_grace: Duration,
    /// How long in-flight requests may take to finish after shutdown
    /// begins; connections still open then are closed. Default 10 s.
    pub drain_timeout: Duration,
    /// HTTP/2 keep-alive ping interval on client connections; a
    /// connection whose ping is not answered within one more interval is
    /// closed. Default 30 s.
    pub keepalive_interval: Duration,
    /// Client connections open at once; a new one past it is closed as
    /// soon as it is accepted (a warning, at most once a second). Both
    /// transports. Default 10000.
    pub max_connections: usize,
    /// The largest HTTP/2 header list a client may send; a request over
    /// it is answered HTTP 431 (its stream only). Both transports.
    /// Default 16 KiB (hyper's).
    pub max_header_list_bytes: u32,
    /// Response bytes one connection may hold that the client's
    /// flow-control window has not let out (a client that never opens its
    /// window, or never reads); past it, new streams are refused
    /// (REFUSED_STREAM), and so is a response that would go over it. One
    /// response always fits, however large. Our HTTP/2 driver only
    /// ([`h2serve`]). Default 64 MiB.
    pub max_queued_response_bytes: usize,
    /// How long a response body may wait for the client's flow-control
    /// window; then its stream is reset (CANCEL) and its bytes dropped.
    /// Our HTTP/2 driver only. Default 30 s.
    pub response_send_timeout: Duration,
    /// How long a new connection may take to send the HTTP/2 preface;
    /// then it is closed. Our HTTP/2 driver only. Default 10 s.
    pub handshake_timeout: Duration,
    /// Age at which a client connection is sent GOAWAY, so that clients
    /// reconnect (and rebalance); on our driver, streams in flight then
    /// have `request_timeout` plus `response_send_timeout` to finish before
    /// the connection is closed (tonic's server waits for them). Both
    /// transports. Default 1 h.
    pub max_connection_age: Duration,
    /// Gather each connection's writes and send them from a writer task
    /// ([`CoalescingIo`]), so answers that are ready together leave in one
    /// system call instead of one each. Default true.
    pub write_coalescing: bool,
    /// Answer `Get` and `Fetch` on the [fast path](crate::fastpath) (one
    /// body read, prost, one response frame) rather than through tonic's
    /// generic codec; the answers are the same. Default true.
    pub fast_path: bool,
    /// With `write_coalescing`, the bytes a connection may queue before
    /// its writes wait for the writer task. Default 256 KiB.
    pub write_buffer_bytes: usize,
    /// Serve through tonic's own server (hyper: a task per request, a
    /// `date` header on every answer) instead of driving HTTP/2 with `h2`
    /// directly ([`h2serve`]). Default false.
    pub tonic_transport: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_value_bytes: limits::DEFAULT_MAX_VALUE_BYTES,
            reflection: true,
            max_concurrent_requests: 4096,
            request_timeout: Duration::from_secs(30),
            max_concurrent_streams: 1024,
            max_pending_resets: 1024,
            max_local_error_resets: 1024,
            max_resets_per_second: 2048,
            shutdown_grace: Duration::ZERO,
            drain_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(30),
            max_connections: 10_000,
            max_header_list_bytes: 16 * 1024,
            max_queued_response_bytes: 64 << 20,
            response_send_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            max_connection_age: Duration::from_secs(3600),
            write_coalescing: true,
            fast_path: true,
            write_buffer_bytes: 256 * 1024,
            tonic_transport: false,
        }
    }
}

impl ServerOptions {
    /// Time a connection past `max_connection_age` gets for its streams.
    fn connection_age_grace(&self) -> Duration {
        self.request_timeout
            .saturating_add(self.response_send_timeout)
    }

    fn validate(&self) -> Result<(), Error> {
        if self.max_value_bytes == 0 {
            return Err(Error::Config("max_value_bytes must be at least 1".into()));
        }
        if self.max_concurrent_requests == 0 {
            return Err(Error::Config(
                "max_concurrent_requests must be at least 1".into(),
            ));
        }
        if self.request_timeout.is_zero() {
            return Err(Error::Config("request_timeout must be above zero".into()));
        }
        if self.max_concurrent_streams == 0 {
            return Err(Error::Config(
                "max_concurrent_streams must be at least 1".into(),
            ));
        }
        if self.max_pending_resets == 0 {
            return Err(Error::Config(
                "max_pending_resets must be at least 1".into(),
            ));
        }
        if self.max_local_error_resets == 0 {
            return Err(Error::Config(
                "max_local_error_resets must be at least 1".into(),
            ));
        }
        if self.max_resets_per_second == 0 {
            return Err(Error::Config(
                "max_resets_per_second must be at least 1".into(),
            ));
        }
        let zero_durations = [
            ("keepalive_interval", self.keepalive_interval),
            ("response_send_timeout", self.response_send_timeout),
            ("handshake_timeout", self.handshake_timeout),
            ("max_connection_age", self.max_connection_age),
        ];
        if let Some((name, _)) = zero_durations.iter().find(|(_, d)| d.is_zero()) {
            return Err(Error::Config(format!("{name} must be above zero")));
        }
        let zero_counts = [
            ("max_connections", self.max_connections == 0),
            ("max_header_list_bytes", self.max_header_list_bytes == 0),
            (
                "max_queued_response_bytes",
                self.max_queued_response_bytes == 0,
            ),
        ];
        if let Some((name, _)) = zero_counts.iter().find(|(_, zero)| *zero) {
            return Err(Error::Config(format!("{name} must be at least 1")));
        }
        if self.write_buffer_bytes == 0 {
            return Err(Error::Config(
                "write_buffer_bytes must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// The name health reports the groupcache service under.
const SERVICE_NAME: &str = <GroupcacheServer<GroupcacheService> as NamedService>::NAME;

/// Serves `groupcache.v1.Groupcache`, `grpc.health.v1.Health` and (unless
/// turned off) server reflection on `listener` until `shutdown` completes.
///
/// Health reports SERVING (for `""` and `groupcache.v1.Groupcache`) once
/// the server runs. When `shutdown` completes it reports NOT_SERVING, waits
/// `shutdown_grace`, stops accepting, and lets in-flight requests finish for
/// up to `drain_timeout`. Returns `Ok(())` after a clean drain.
///
/// Must run inside a tokio runtime. Accepted sockets get `TCP_NODELAY`
/// (tonic does not set it on a listener it did not bind; without it small
/// answers wait ~40 ms for Nagle).
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    pool: PeerPool,
    opts: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    opts.validate()?;
    let local = listener.local_addr()?;
    let limit = limits::message_limit(opts.max_value_bytes);

    let service = GroupcacheService::new(registry.clone(), pool.clone(), opts.max_value_bytes);
    // One shedding budget for both ways in: clones of a ShedLayer share it.
    let layers = tower::ServiceBuilder::new()
        .layer(ShedLayer::new(opts.max_concurrent_requests))
        .layer(DeadlineLayer::new(Some(opts.request_timeout)));
    let fast = opts
        .fast_path
        .then(|| layers.service(FastGroupcache::new(service.clone(), limit, limit)));
    let generated = service.into_tonic(limit, limit);

    let (health, health_service) = tonic_health::server::health_reporter();
    set_health(&health, ServingStatus::NotServing).await;

    let (reflection_v1, reflection_v1alpha) = if opts.reflection {
        let builder = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(crate::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        // Each builder registers its own reflection descriptor; add the
        // other version's so both list every service this server has.
        (
            Some(
                builder()
                    .register_encoded_file_descriptor_set(
                        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
                    )
                    .build_v1()?,
            ),
            Some(
                builder()
                    .register_encoded_file_descriptor_set(
                        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
                    )
                    .build_v1alpha()?,
            ),
        )
    } else {
        (None, None)
    };

    // Cancelled when the server is to stop accepting and drain.
    let stop = CancellationToken::new();
    let server = if opts.tonic_transport {
        let incoming = futures::stream::unfold(
            Acceptor::new(listener, opts.max_connections),
            |mut acceptor| async move {
                let accepted = acceptor.accept().await;
                Some((Ok::<_, std::io::Error>(accepted), acceptor))
            },
        );
        let router = Server::builder()
            .max_concurrent_streams(opts.max_concurrent_streams)
            .http2_max_pending_accept_reset_streams(Some(opts.max_pending_resets))
            .http2_max_local_error_reset_streams(Some(opts.max_local_error_resets))
            .http2_keepalive_interval(Some(opts.keepalive_interval))
            .http2_keepalive_timeout(Some(opts.keepalive_interval))
            .http2_max_header_list_size(opts.max_header_list_bytes)
            // No `max_connection_age_grace`: with one, tonic 0.14 sends no
            // GOAWAY at the age but closes the connection at age + grace.
            .max_connection_age(opts.max_connection_age)
            .trace_fn(|req| tracing::debug_span!("grpc", path = %req.uri().path()))
            // hyper runs each request in its own task: a panic there would
            // only reset the stream.
            .layer(CatchPanicLayer)
            .layer(FastPathLayer::new(fast))
            .add_service(layers.service(generated))
            .add_service(health_service)
            .add_optional_service(reflection_v1)
            .add_optional_service(reflection_v1alpha);
        if opts.write_coalescing {
            let max = opts.write_buffer_bytes;
            let incoming = incoming.map(move |conn| {
                conn.map(|(s, slot)| Slotted::new(CoalescingIo::new(s, max), slot))
            });
            router
                .serve_with_incoming_shutdown(incoming, stop.clone().cancelled_owned())
                .map(|r| r.map_err(Error::from))
                .boxed()
        } else {
            let incoming = incoming.map(|conn| conn.map(|(s, slot)| Slotted::new(s, slot)));
            router
                .serve_with_incoming_shutdown(incoming, stop.clone().cancelled_owned())
                .map(|r| r.map_err(Error::from))
                .boxed()
        }
    } else {
        let mut routes = Routes::new(layers.service(generated)).add_service(health_service);
        if let Some(r) = reflection_v1 {
            routes = routes.add_service(r);
        }
        if let Some(r) = reflection_v1alpha {
            routes = routes.add_service(r);
        }
        let svc = FastPathLayer::new(fast).layer(routes.prepare());
        let cfg = H2Config {
            max_concurrent_streams: opts.max_concurrent_streams,
            max_pending_resets: opts.max_pending_resets,
            max_local_error_resets: opts.max_local_error_resets,
            max_resets_per_second: opts.max_resets_per_second,
            max_connections: opts.max_connections,
            max_header_list_size: opts.max_header_list_bytes,
            max_queued_response_bytes: opts.max_queued_response_bytes,
            response_send_timeout: opts.response_send_timeout,
            handshake_timeout: opts.handshake_timeout,
            keepalive_interval: opts.keepalive_interval,
            max_connection_age: opts.max_connection_age,
            connection_age_grace: opts.connection_age_grace(),
            write_buffer: opts.write_coalescing.then_some(opts.write_buffer_bytes),
        };
        h2serve::serve(listener, svc, cfg, stop.clone())
            .map(Ok)
            .boxed()
    };
    tokio::pin!(server);

    set_health(&health, ServingStatus::Serving).await;
    tracing::info!(addr = %local, node = %pool.self_id(), groups = registry.groups().len(), "serving");

    tokio::select! {
        result = &mut server => {
            tracing::error!(addr = %local, "server stopped before shutdown was requested");
            return result;
        }
        () = shutdown => {}
    }

    tracing::info!(addr = %local, "shutdown requested: NOT_SERVING, draining");
    set_health(&health, ServingStatus::NotServing).await;
    if !opts.shutdown_grace.is_zero() {
        // Keep accepting while load balancers see NOT_SERVING.
        if let Ok(result) = tokio::time::timeout(opts.shutdown_grace, &mut server).await {
            return result;
        }
    }
    stop.cancel();
    match tokio::time::timeout(opts.drain_timeout, &mut server).await {
        Ok(result) => {
            tracing::info!(addr = %local, "drained; stopped");
            result
        }
        Err(_) => {
            tracing::warn!(addr = %local, drain_timeout = ?opts.drain_timeout, "drain timed out; closing remaining connections");
            Ok(())
        }
    }
}

/// Reports `status` for the whole server (`""`) and for the Groupcache
/// service alike: health checkers ask for either.
async fn set_health(health: &tonic_health::server::HealthReporter, status: ServingStatus) {
    health.set_service_status("", status).await;
    health.set_service_status(SERVICE_NAME, status).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults are valid; each zero limit is refused with a message
    /// naming it.
    #[test]
    fn zero_limits_are_refused() {
        assert!(ServerOptions::default().validate().is_ok());
        type Case = (fn(&mut ServerOptions), &'static str);
        let cases: [Case; 15] = [
            (
                |o| o.keepalive_interval = Duration::ZERO,
                "keepalive_interval",
            ),
            (
                |o| o.response_send_timeout = Duration::ZERO,
                "response_send_timeout",
            ),
            (
                |o| o.handshake_timeout = Duration::ZERO,
                "handshake_timeout",
            ),
            (
                |o| o.max_connection_age = Duration::ZERO,
                "max_connection_age",
            ),
            (|o| o.max_connections = 0, "max_connections"),
            (|o| o.max_header_list_bytes = 0, "max_header_list_bytes"),
            (
                |o| o.max_queued_response_bytes = 0,
                "max_queued_response_bytes",
            ),
            (|o| o.max_value_bytes = 0, "max_value_bytes"),
            (|o| o.max_concurrent_requests = 0, "max_concurrent_requests"),
            (|o| o.request_timeout = Duration::ZERO, "request_timeout"),
            (|o| o.max_concurrent_streams = 0, "max_concurrent_streams"),
            (|o| o.max_pending_resets = 0, "max_pending_resets"),
            (|o| o.max_local_error_resets = 0, "max_local_error_resets"),
            (|o| o.max_resets_per_second = 0, "max_resets_per_second"),
            (|o| o.write_buffer_bytes = 0, "write_buffer_bytes"),
        ];
        for (set, name) in cases {
            let mut opts = ServerOptions::default();
            set(&mut opts);
            let err = opts.validate().unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }

    /// `serve` refuses invalid options before serving anything.
    #[tokio::test]
    async fn serve_validates_first() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = PeerPool::new("127.0.0.1:1", ["127.0.0.1:1"], Default::default()).unwrap();
        let opts = ServerOptions {
            max_concurrent_requests: 0,
            ..ServerOptions::default()
        };
        let err = serve(
            listener,
            Registry::new(),
            pool,
            opts,
            std::future::pending(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
    }
}
