//! The server's HTTP/2 connections, driven with the `h2` crate directly
//! (the default; `ServerOptions::tonic_transport` goes back to tonic's
//! server, which runs hyper over the same `h2`).
//!
//! # Why
//!
//! hyper spawns a task per request, wraps every request and response in
//! its own types and adds a `date` header to every answer (which gRPC
//! clients then parse and keep as metadata). Driving `h2` here saves that
//! work: measured side by side with `scripts/ab-node` (one node on tonic's
//! server, one on this driver, the Go load generator), 68.0 against 59.0
//! CPU-µs per request at one client and 9.8 against 9.3 at 32.
//!
//! # How
//!
//! - `accept`: takes connections off the listener (for tonic's server
//!   too): at most `max_connections` open, exponential backoff on accept
//!   errors (the open-file limit), log lines at most once a second.
//! - `serve` runs each connection in its own task (a `JoinSet`: dropping
//!   the server closes every connection).
//! - `conn`: one connection. Each request becomes a future in the
//!   connection's own set of streams (no task per request). One pass takes
//!   every request that is ready, then runs every stream that can make
//!   progress, so the connection is polled and flushed once per batch.
//!   Keep-alive pings; on shutdown a GOAWAY, then the streams in flight
//!   finish. A client resetting more than `max_resets_per_second` streams
//!   in a second (a rapid-reset flood) is sent GOAWAY `ENHANCE_YOUR_CALM`
//!   and closed.
//! - `stream`: one request: the service is called with the request body
//!   adapted to `http_body` (a panic answers that request `INTERNAL`),
//!   and the response body is piped to h2 with flow control: h2 gets what
//!   the peer's window lets out, the rest of a frame waits in the stream,
//!   counted against the connection's budget of queued bytes (over it,
//!   REFUSED_STREAM), and is reset after the response send timeout; a
//!   client's RST_STREAM drops the request's future, and a request reset
//!   before it was taken up never calls the service.
//! - Connections also end at their maximum age (GOAWAY, then closed after
//!   a grace) and when the preface does not arrive within the handshake
//!   timeout; a bad preface (HTTP/1.1, TLS, junk) ends one at its first
//!   wrong byte.
//!
//! The service is the same stack tonic's server would run: the
//! [fast path](crate::fastpath) in front of tonic's router.

pub(crate) mod accept;
mod conn;
mod stream;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tower::Service;

use self::accept::{Acceptor, Slot};
use crate::coalesce::CoalescingIo;
use crate::fastpath::FastBody;

/// Settings of every connection.
#[derive(Debug, Clone)]
pub(crate) struct H2Config {
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
    /// Write through [`CoalescingIo`], with this many bytes queued at most
    /// (`None`: plain socket writes).
    pub write_buffer: Option<usize>,
}

/// The service a connection runs: the fast path in front of tonic's
/// router, or anything with the same request and response types.
pub(crate) trait GrpcService:
    Service<
        http::Request<Body>,
        Response = http::Response<FastBody>,
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
            Response = http::Response<FastBody>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// hyper's defaults for an HTTP/2 server, kept here so a switch of driver
/// changes nothing a client can see but the missing `date` header.
const STREAM_WINDOW: u32 = 1024 * 1024;
const CONNECTION_WINDOW: u32 = 1024 * 1024;
const MAX_FRAME_SIZE: u32 = 16 * 1024;
const MAX_SEND_BUFFER: usize = 400 * 1024;

/// Accepts connections on `listener` and serves them with `svc` until
/// `stop` is cancelled; then every connection sends a GOAWAY, and the
/// future ends when the last one has finished its streams. Dropping the
/// future closes all connections at once.
pub(crate) async fn serve<S>(listener: TcpListener, svc: S, cfg: H2Config, stop: CancellationToken)
where
    S: GrpcService,
{
    let cfg = Arc::new(cfg);
    let mut acceptor = Acceptor::new(listener, cfg.max_connections);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            (socket, slot) = acceptor.accept() => {
                let (svc, cfg, stop) = (svc.clone(), cfg.clone(), stop.clone());
                match cfg.write_buffer {
                    Some(max) => conns.spawn(run(CoalescingIo::new(socket, max), svc, cfg, stop, slot)),
                    None => conns.spawn(run(socket, svc, cfg, stop, slot)),
                };
            }
        }
    }
    drop(acceptor);
    while conns.join_next().await.is_some() {}
}

async fn run<IO, S>(io: IO, svc: S, cfg: Arc<H2Config>, stop: CancellationToken, slot: Slot)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: GrpcService,
{
    if let Err(e) = conn::run(io, svc, &cfg, stop).await {
        // Junk, HTTP/1.1 and TLS at the port end here (a bad preface).
        tracing::debug!(error = %e, "connection ended with an error");
    }
    drop(slot);
}

#[cfg(test)]
mod tests;
