//! How bytes move: the listener, the connection loops, the one response
//! body type, and the write path.
//!
//! Everything above this module is one tower service (built once, by
//! [`server`](crate::server)); everything here is about connections:
//!
//! - `accept`: takes connections off the listener for either driver: at
//!   most `max_connections` open, exponential backoff on accept errors
//!   (the open-file limit), log lines at most once a second.
//! - `h2_driver` (the default, [`Transport::H2`]): our own loop on the
//!   `h2` crate: each request a future inside its connection's task, a
//!   budget of queued response bytes, a response send timeout, a
//!   rapid-reset limit, no `date` header.
//! - `hyper_driver` ([`Transport::Hyper`]): hyper's HTTP/2 server, as
//!   tonic's server runs it (a task per request), with the same limits
//!   where hyper has them; kept to compare against.
//! - `handshake`: the TLS handshake, when the server has
//!   [`ServerTls`], before either driver sees the
//!   connection.
//! - [`ResponseBody`]: what every response is made of.
//! - [`coalesce`]: [`CoalescingIo`], writes gathered
//!   into one system call per batch; for server connections and for peer
//!   connections alike.
//!
//! Both drivers give every request the same things: its connection's
//! addresses ([`TcpConnectInfo`], so `tonic::Request::remote_addr` works)
//! and its client's verified certificate
//! ([`ClientCertificate`], under mTLS)
//! in the extensions, a caught panic answered `INTERNAL`, and on shutdown
//! a GOAWAY after which the streams in flight finish.

pub(crate) mod accept;
mod body;
pub mod coalesce;
mod h2_driver;
mod handshake;
mod hyper_driver;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tonic::transport::server::TcpConnectInfo;
use tower::Service;

use self::accept::{Accepted, Acceptor};
pub use self::body::ResponseBody;
use self::coalesce::CoalescingIo;
use self::handshake::HandshakeLog;
use crate::tls::{ClientCertificate, ServerTls};

/// Which connection loop serves the listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Transport {
    /// Our loop on `h2` (`h2_driver`). The default.
    #[default]
    H2,
    /// hyper's HTTP/2 server, the one tonic's server runs
    /// (`hyper_driver`); a task per request and a `date` header on every
    /// answer. For comparison: it has no budget of queued response bytes,
    /// no response send timeout, no handshake timeout and no rapid-reset
    /// limit.
    Hyper,
}

/// Settings of every connection, from
/// [`ServerOptions`](crate::ServerOptions).
#[derive(Debug, Clone)]
pub(crate) struct TransportConfig {
    /// Which loop runs the connections.
    pub transport: Transport,
    /// Streams a client may open at once.
    pub max_concurrent_streams: u32,
    /// Streams a client may reset while they wait to be accepted (h2's
    /// `max_pending_accept_reset_streams`).
    pub max_pending_resets: usize,
    /// Streams the server may reset for the client's protocol errors over
    /// the connection's life (h2's `max_local_error_reset_streams`).
    pub max_local_error_resets: usize,
    /// Streams a client may reset before their answer, per second; past
    /// it the connection is closed with `ENHANCE_YOUR_CALM`.
    pub max_resets_per_second: u32,
    /// Connections open at once; more are closed as they arrive.
    pub max_connections: usize,
    /// The largest header list a client may send (h2's
    /// `max_header_list_size`; a request over it is answered 431).
    pub max_header_list_size: u32,
    /// Response bytes a connection may hold waiting for the client's
    /// flow-control window; past it new streams are refused
    /// (REFUSED_STREAM), and so is a response that would go over it.
    pub max_queued_response_bytes: usize,
    /// How long a response body may wait for the client's window before
    /// its stream is reset (CANCEL) and its bytes dropped.
    pub response_send_timeout: Duration,
    /// How long a new connection may take to send the HTTP/2 preface.
    pub handshake_timeout: Duration,
    /// Interval of keep-alive pings; a connection whose ping is not
    /// answered within one more interval is closed.
    pub keepalive_interval: Duration,
    /// Age at which a connection is sent GOAWAY; it is closed
    /// `connection_age_grace` later if streams are still open.
    pub max_connection_age: Duration,
    /// See `max_connection_age`.
    pub connection_age_grace: Duration,
    /// Write through [`CoalescingIo`](coalesce::CoalescingIo), with this
    /// many bytes queued at most (`None`: plain socket writes).
    pub write_buffer: Option<usize>,
    /// Serve TLS with this configuration (`None`: plaintext).
    pub tls: Option<ServerTls>,
    /// Connections open now, counted against `max_connections`; shared by
    /// every listener of a server (one cap for the node).
    pub open: Arc<AtomicUsize>,
}

/// What a connection tells each of its requests, in their extensions.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    /// Its addresses.
    pub tcp: TcpConnectInfo,
    /// Its client's certificate, verified (mTLS only).
    pub certificate: Option<ClientCertificate>,
}

/// The service a connection runs: the server's whole stack.
pub(crate) trait GrpcService:
    Service<
        http::Request<Body>,
        Response = http::Response<ResponseBody>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> GrpcService for S where
    S: Service<
            http::Request<Body>,
            Response = http::Response<ResponseBody>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// hyper's defaults for an HTTP/2 server, set on both drivers, so a switch
/// of driver changes nothing a client can see but the `date` header.
const STREAM_WINDOW: u32 = 1024 * 1024;
const CONNECTION_WINDOW: u32 = 1024 * 1024;
const MAX_FRAME_SIZE: u32 = 16 * 1024;
const MAX_SEND_BUFFER: usize = 400 * 1024;

/// Accepts connections on `listener` and serves them with `svc` until
/// `stop` is cancelled; then every connection sends a GOAWAY, and the
/// future ends when the last one has finished its streams. Dropping the
/// future closes all connections at once.
///
/// Each connection runs in its own task (a `JoinSet`: dropping it closes
/// them all), holding its place under `max_connections` until it ends.
pub(crate) async fn serve<S: GrpcService>(
    listener: TcpListener,
    svc: S,
    cfg: TransportConfig,
    stop: CancellationToken,
) {
    let cfg = Arc::new(cfg);
    let handshakes = Arc::new(HandshakeLog::new());
    let mut acceptor = Acceptor::new(listener, cfg.max_connections, cfg.open.clone());
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            Accepted { socket, info, slot } = acceptor.accept() => {
                let (svc, cfg, stop) = (svc.clone(), cfg.clone(), stop.clone());
                let handshakes = handshakes.clone();
                conns.spawn(async move {
                    connection(socket, info, svc, &cfg, &handshakes, stop).await;
                    drop(slot);
                });
            }
        }
    }
    drop(acceptor);
    while conns.join_next().await.is_some() {}
}

/// Serves one accepted connection: in the clear, or after its TLS
/// handshake.
async fn connection<S: GrpcService>(
    socket: TcpStream,
    tcp: TcpConnectInfo,
    svc: S,
    cfg: &TransportConfig,
    handshakes: &HandshakeLog,
    stop: CancellationToken,
) {
    let Some(tls) = &cfg.tls else {
        let info = ConnInfo {
            tcp,
            certificate: None,
        };
        return match cfg.write_buffer {
            Some(max) => run(CoalescingIo::new(socket, max), svc, cfg, info, stop).await,
            None => run(socket, svc, cfg, info, stop).await,
        };
    };
    let accepted = handshake::accept(
        socket,
        tls,
        cfg.handshake_timeout,
        cfg.write_buffer,
        handshakes,
    )
    .await;
    if let Some((io, certificate)) = accepted {
        run(io, svc, cfg, ConnInfo { tcp, certificate }, stop).await;
    }
}

/// Serves one connection with the configured driver.
async fn run<IO, S>(io: IO, svc: S, cfg: &TransportConfig, info: ConnInfo, stop: CancellationToken)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: GrpcService,
{
    match cfg.transport {
        Transport::H2 => h2_driver::run(io, svc, cfg, info, stop).await,
        Transport::Hyper => hyper_driver::run(io, svc, cfg, info, stop).await,
    }
}

/// `req` with its connection's addresses (and client certificate) in the
/// extensions.
fn with_info<B>(mut req: http::Request<B>, info: &ConnInfo) -> http::Request<B> {
    let ext = req.extensions_mut();
    ext.insert(info.tcp.clone());
    if let Some(c) = &info.certificate {
        ext.insert(c.clone());
    }
    req
}
