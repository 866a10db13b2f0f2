//! hyper's HTTP/2 server connection ([`Transport::Hyper`](super::Transport)),
//! set up as tonic's server sets it up: a task per request (hyper's
//! executor), a `date` header on every answer.
//!
//! It runs the same service as our own driver, with the limits hyper has:
//! concurrent streams, pending-accept and local-error resets, header list
//! size, keep-alive pings, and (done here, as tonic does) the maximum
//! connection age. A panic in a request's task would only reset its
//! stream, so each request is wrapped in
//! [`CatchPanic`](crate::middleware::catch_panic::CatchPanic) and answered
//! `INTERNAL` instead.

use std::pin::pin;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tonic::body::Body;

use super::{
    CONNECTION_WINDOW, ConnInfo, GrpcService, MAX_FRAME_SIZE, MAX_SEND_BUFFER, STREAM_WINDOW,
    TransportConfig, with_info,
};
use crate::middleware::catch_panic::CatchPanicLayer;

/// Serves one connection until the client closes it, or, after `stop` or
/// at its maximum age, its last stream ends (at the age, within the
/// grace).
pub(super) async fn run<IO, S>(
    io: IO,
    svc: S,
    cfg: &TransportConfig,
    info: ConnInfo,
    stop: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: GrpcService,
{
    let svc = tower::ServiceBuilder::new()
        .map_request(move |req: http::Request<Incoming>| with_info(req.map(Body::new), &info))
        .layer(CatchPanicLayer)
        .service(svc);
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(MAX_FRAME_SIZE)
        .max_send_buf_size(MAX_SEND_BUFFER)
        .max_concurrent_streams(cfg.max_concurrent_streams)
        .max_pending_accept_reset_streams(cfg.max_pending_resets)
        .max_local_error_reset_streams(cfg.max_local_error_resets)
        .max_header_list_size(cfg.max_header_list_size)
        .keep_alive_interval(cfg.keepalive_interval)
        .keep_alive_timeout(cfg.keepalive_interval);
    let mut conn = pin!(builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(svc)));
    let age = tokio::time::sleep(cfg.max_connection_age);
    let ended = tokio::select! {
        ended = conn.as_mut() => Some(ended),
        () = stop.cancelled() => None,
        () = age => None,
    };
    let ended = match ended {
        Some(ended) => ended,
        None => {
            conn.as_mut().graceful_shutdown();
            if stop.is_cancelled() {
                conn.await
            } else {
                match tokio::time::timeout(cfg.connection_age_grace, conn).await {
                    Ok(ended) => ended,
                    Err(_) => {
                        tracing::debug!("connection past its maximum age and grace: closing");
                        Ok(())
                    }
                }
            }
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
