//! Our HTTP/2 connection loop, on the `h2` crate directly (the default
//! [`Transport`](super::Transport)).
//!
//! # Why
//!
//! hyper spawns a task per request, wraps every request and response in
//! its own types and adds a `date` header to every answer (which gRPC
//! clients then parse and keep as metadata). Driving `h2` here saves that
//! work (measured in docs/benchmarks.md), and gives the limits hyper has
//! not: a budget of queued response bytes, a response send timeout, a
//! handshake timeout, a rapid-reset limit per second.
//!
//! # How
//!
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

mod conn;
mod stream;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use super::{ConnInfo, GrpcService, TransportConfig};

/// Serves one connection until the client closes it or, after `stop`, its
/// last stream ends.
pub(super) async fn run<IO, S>(
    io: IO,
    svc: S,
    cfg: &TransportConfig,
    info: ConnInfo,
    stop: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin,
    S: GrpcService,
{
    if let Err(e) = conn::run(io, svc, cfg, info, stop).await {
        // Junk, HTTP/1.1 and TLS at the port end here (a bad preface).
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests;
