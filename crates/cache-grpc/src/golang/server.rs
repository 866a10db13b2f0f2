//! [`serve_golang`]: golang/groupcache's peer protocol on a listener of
//! its own, so that Go nodes of the pool can fetch the keys this node owns.
//!
//! `GET {base_path}{group}/{key}` (both escaped, see [`wire`]) answers
//! from the group's main cache or its loader through
//! [`Group::fetch_for_peer`](cache_core::Group::fetch_for_peer), never
//! from another peer, with a protobuf `GetResponse`. Any failure is a
//! status and a one-line text body (the Go client reads only "not 200"
//! and then loads the key itself):
//!
//! | answer | when |
//! |---|---|
//! | 200 `application/x-protobuf` | the value |
//! | 400 | the path has no `GROUP/KEY`, a bad escape, an invalid key |
//! | 404 | no such group (Go's text, `no such group: NAME`); the source has no such key |
//! | 405 | a method other than GET or HEAD |
//! | 500 | the source failed, the value is too large, the loader panicked |
//! | 503 | too many requests at once here, or too many loads |
//! | 504 | the request timeout passed |
//!
//! (These are HTTP statuses of Go's protocol; gRPC statuses are mapped
//! in [`crate::status`] alone.)
//!
//! Bounds: at most `max_connections` connections (more are closed as
//! they come), `max_concurrent_requests` requests in flight (more get
//! 503), request headers within [`HEADER_TIMEOUT`], each request within
//! `request_timeout`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache_core::{Error as CoreError, LoadContext, Registry};
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::wire::{self, GetResponse};

/// How long a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The limits of the Go listener.
#[derive(Debug, Clone)]
pub struct GoServerOptions {
    /// The pool's path prefix; starts and ends with `/`.
    pub base_path: String,
    /// Connections open at once.
    pub max_connections: usize,
    /// Requests in flight at once.
    pub max_concurrent_requests: usize,
    /// The longest one request may take.
    pub request_timeout: Duration,
}

/// What every connection task shares.
struct Shared {
    registry: Registry,
    opts: GoServerOptions,
    /// Permits for requests in flight.
    requests: Semaphore,
}

/// Serves Go's peer protocol for `registry`'s groups on `listener` until
/// `shutdown` completes; open connections are dropped then.
pub async fn serve_golang(
    listener: TcpListener,
    registry: Registry,
    opts: GoServerOptions,
    shutdown: impl Future<Output = ()>,
) {
    let shared = Arc::new(Shared {
        requests: Semaphore::new(opts.max_concurrent_requests),
        registry,
        opts,
    });
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if connections.len() < shared.opts.max_connections => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(stream, Arc::clone(&shared)));
                }
                Ok(_) => tracing::debug!(
                    max = shared.opts.max_connections,
                    "golang: too many connections, closing a new one"
                ),
                Err(e) => {
                    // Out of descriptors, most likely: wait rather than spin.
                    tracing::warn!(error = %e, "golang: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// Serves one connection's requests (keep-alive) until it closes.
async fn connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let service = service_fn(move |req: Request<Incoming>| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(answer(&shared, req.method(), req.uri().path()).await) }
    });
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        tracing::debug!(error = %e, "golang: connection ended with an error");
    }
}

/// The answer to `method` on `path`.
async fn answer(shared: &Shared, method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        let mut res = text(StatusCode::METHOD_NOT_ALLOWED, "use GET".into());
        res.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return res;
    }
    let (group, key) = match parse(&shared.opts.base_path, path) {
        Ok(parts) => parts,
        Err((status, why)) => return text(status, why),
    };
    let Some(group) = shared.registry.get(&group) else {
        return text(StatusCode::NOT_FOUND, format!("no such group: {group}"));
    };
    let Ok(_permit) = shared.requests.try_acquire() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests in flight".into(),
        );
    };
    let ctx = LoadContext::with_timeout(shared.opts.request_timeout);
    let fetched =
        tokio::time::timeout(shared.opts.request_timeout, group.fetch_for_peer(&key, ctx))
            .await
            .unwrap_or(Err(CoreError::DeadlineExceeded));
    match fetched {
        Ok(fetched) => {
            let body = GetResponse {
                value: Some(fetched.value),
                minute_qps: fetched.minute_qps,
            }
            .to_body();
            let mut res = Response::new(Full::new(Bytes::from(body)));
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(wire::CONTENT_TYPE),
            );
            res
        }
        Err(e) => text(status_of(&e), e.to_string()),
    }
}

/// `{base}{group}/{key}` -> the decoded group and key.
fn parse(base: &str, path: &str) -> Result<(String, String), (StatusCode, String)> {
    let Some(rest) = path.strip_prefix(base) else {
        return Err((
            StatusCode::NOT_FOUND,
            format!("not found: peer requests go to {base}GROUP/KEY"),
        ));
    };
    let Some((group, key)) = rest.split_once('/') else {
        return Err((StatusCode::BAD_REQUEST, "bad request".into()));
    };
    let decode = |what: &str, s: &str| {
        wire::unescape(s).map_err(|e| (StatusCode::BAD_REQUEST, format!("bad {what}: {e}")))
    };
    Ok((decode("group", group)?, decode("key", key)?))
}

/// The HTTP status of a failed fetch.
fn status_of(e: &CoreError) -> StatusCode {
    match e {
        CoreError::NotFound | CoreError::UnknownGroup(_) => StatusCode::NOT_FOUND,
        CoreError::InvalidKey(_) => StatusCode::BAD_REQUEST,
        CoreError::Overloaded | CoreError::TooManyLoads => StatusCode::SERVICE_UNAVAILABLE,
        CoreError::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A text answer, as Go's `http.Error` writes one.
fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body + "\n")));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The path splits at the first slash after the base; both parts are
    /// decoded (so a key may hold slashes); anything else is refused.
    #[test]
    fn parses_paths() {
        let base = "/_groupcache/";
        assert_eq!(
            parse(base, "/_groupcache/g/a+b%2Fc/d").unwrap(),
            ("g".into(), "a b/c/d".into())
        );
        assert_eq!(
            parse(base, "/_groupcache/g/").unwrap(),
            ("g".into(), String::new())
        );
        assert_eq!(
            parse(base, "/other/g/k").unwrap_err().0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            parse(base, "/_groupcache/g").unwrap_err().0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            parse(base, "/_groupcache/g/%zz").unwrap_err().0,
            StatusCode::BAD_REQUEST
        );
    }
}
