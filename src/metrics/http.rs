//! The metrics listener: HTTP/1.1 (hyper), three routes.
//!
//! - `GET /metrics` (or `HEAD`): the [`Exporter`]'s text, rendered for
//!   this scrape;
//! - `GET /healthz`: `200 ok` while the node runs;
//! - anything else: `404` (`405` for another method on `/metrics`).
//!
//! It runs apart from the gRPC server (another port, its own accept loop),
//! so a scrape never takes a request permit and a busy node still answers
//! its scrapes. Bounds: at most [`MAX_CONNECTIONS`] open at once (more are
//! closed as they come), and a request's headers must arrive within
//! [`HEADER_TIMEOUT`]. It serves no key and no value, only counts.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::{CONTENT_TYPE, Exporter};

/// Connections served at once; a scraper needs one.
pub const MAX_CONNECTIONS: usize = 64;

/// How long a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `exporter` on `listener` until `shutdown` completes; open
/// connections are dropped then.
pub async fn serve(
    listener: TcpListener,
    exporter: Arc<Exporter>,
    shutdown: impl Future<Output = ()>,
) {
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if connections.len() < MAX_CONNECTIONS => {
                    let _ = stream.set_nodelay(true);
                    let exporter = Arc::clone(&exporter);
                    connections.spawn(connection(stream, exporter));
                }
                Ok(_) => tracing::debug!(max = MAX_CONNECTIONS, "metrics: too many connections, closing a new one"),
                Err(e) => {
                    // Out of descriptors, most likely: wait rather than spin.
                    tracing::warn!(error = %e, "metrics: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// Serves one connection's requests (keep-alive) until it closes.
async fn connection(stream: tokio::net::TcpStream, exporter: Arc<Exporter>) {
    let service = service_fn(move |req: Request<Incoming>| {
        let answer = route(&exporter, req.method(), req.uri().path());
        async move { Ok::<_, Infallible>(answer) }
    });
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        tracing::debug!(error = %e, "metrics: connection ended with an error");
    }
}

/// The answer to `method` on `path`.
pub fn route(exporter: &Exporter, method: &Method, path: &str) -> Response<Full<Bytes>> {
    let readable = method == Method::GET || method == Method::HEAD;
    match path {
        "/metrics" if readable => answer(StatusCode::OK, CONTENT_TYPE, exporter.render()),
        "/metrics" => {
            let mut res = answer(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain; charset=utf-8",
                "use GET\n".into(),
            );
            res.headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
            res
        }
        "/status" if readable => match exporter.status_page() {
            Some(page) => answer(StatusCode::OK, "text/html; charset=utf-8", page),
            None => answer(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "no status page on this listener\n".into(),
            ),
        },
        "/healthz" if readable => {
            answer(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into())
        }
        _ => answer(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: try /metrics, /status or /healthz\n".into(),
        ),
    }
}

fn answer(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    res
}
