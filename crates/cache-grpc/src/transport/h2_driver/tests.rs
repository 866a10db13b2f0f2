//! The connection driver against a raw `h2` client: answers and trailers,
//! a client's reset, flow control on a large answer, graceful stop.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;

use crate::transport::{ResponseBody, Transport, TransportConfig, serve};

/// Sets its flag when dropped (the call was cancelled or ended).
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// What the test service shares with the test.
#[derive(Clone, Default)]
struct Shared {
    /// `/hang` was dropped.
    hang_dropped: Arc<AtomicBool>,
    /// Releases `/slow`.
    release: Arc<Notify>,
    /// Told when `/hang` or `/slow` has started (the server has the call),
    /// so tests wait for that instead of sleeping.
    started: Arc<Notify>,
}

fn answer(data: Bytes) -> http::Response<ResponseBody> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let frames = futures::stream::iter([
        Ok::<_, Infallible>(Frame::data(data)),
        Ok(Frame::trailers(trailers)),
    ]);
    let mut res = http::Response::new(ResponseBody::tonic(Body::new(StreamBody::new(frames))));
    res.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    res
}

/// `/echo` answers the request's bytes, `/big` 3 MiB, `/hang` never, and
/// `/slow` once released.
async fn handle(
    shared: Shared,
    req: Request<Body>,
) -> Result<http::Response<ResponseBody>, Infallible> {
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    Ok(match path.as_str() {
        "/echo" => answer(body),
        "/big" => answer(Bytes::from(vec![7u8; 3 << 20])),
        "/hang" => {
            let _flag = DropFlag(shared.hang_dropped.clone());
            shared.started.notify_one();
            std::future::pending::<()>().await;
            unreachable!()
        }
        "/slow" => {
            shared.started.notify_one();
            shared.release.notified().await;
            answer(Bytes::from_static(b"late"))
        }
        _ => answer(Bytes::new()),
    })
}

/// A server on 127.0.0.1:0 and its stop token.
async fn start(shared: Shared) -> Server {
    start_with(shared, Duration::from_secs(30)).await
}

/// A running server: its address, stop token and task.
type Server = (
    std::net::SocketAddr,
    CancellationToken,
    tokio::task::JoinHandle<()>,
);

async fn start_with(shared: Shared, keepalive_interval: Duration) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = tower::service_fn(move |req| handle(shared.clone(), req));
    let cfg = TransportConfig {
        transport: Transport::H2,
        max_concurrent_streams: 64,
        max_pending_resets: 64,
        max_local_error_resets: 1024,
        max_resets_per_second: 128,
        max_connections: 64,
        max_header_list_size: 16 * 1024,
        max_queued_response_bytes: 64 << 20,
        response_send_timeout: Duration::from_secs(30),
        handshake_timeout: keepalive_interval,
        keepalive_interval,
        max_connection_age: Duration::from_secs(3600),
        connection_age_grace: Duration::from_secs(10),
        write_buffer: Some(64 * 1024),
        tls: None,
        open: Default::default(),
    };
    let stop = CancellationToken::new();
    let server = tokio::spawn(serve(listener, svc, cfg, stop.clone()));
    (addr, stop, server)
}

/// A client connection with a 64 KiB stream window.
async fn client(addr: std::net::SocketAddr) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::Builder::new()
        .initial_window_size(64 * 1024)
        .handshake(tcp)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

/// Sends `body` to `path`; returns the response and the stream.
async fn call(
    send: &mut h2::client::SendRequest<Bytes>,
    path: &str,
    body: &'static [u8],
) -> (h2::client::ResponseFuture, h2::SendStream<Bytes>) {
    let req = Request::post(format!("http://localhost{path}"))
        .body(())
        .unwrap();
    let mut ready = send.clone().ready().await.unwrap();
    let (res, mut stream) = ready.send_request(req, false).unwrap();
    stream.send_data(Bytes::from_static(body), true).unwrap();
    (res, stream)
}

/// Reads a whole response: headers, data, trailers.
async fn read(
    res: h2::client::ResponseFuture,
) -> (http::response::Parts, Vec<u8>, Option<HeaderMap>) {
    let (parts, mut body) = res.await.unwrap().into_parts();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        body.flow_control().release_capacity(chunk.len()).unwrap();
        data.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await.unwrap();
    (parts, data, trailers)
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("test took too long")
}

#[tokio::test]
async fn answers_carry_no_date_header_and_their_trailers() {
    bounded(async {
        let (addr, stop, server) = start(Shared::default()).await;
        let mut send = client(addr).await;
        let (res, _s) = call(&mut send, "/echo", b"hello").await;
        let (parts, data, trailers) = read(res).await;
        assert_eq!(parts.status, 200);
        assert_eq!(parts.headers["content-type"], "application/grpc");
        assert!(parts.headers.get("date").is_none(), "{:?}", parts.headers);
        assert_eq!(data, b"hello");
        assert_eq!(trailers.unwrap()["grpc-status"], "0");
        stop.cancel();
        drop(send);
        server.await.unwrap();
    })
    .await;
}

/// A 3 MiB answer to a client with a 64 KiB window arrives whole: the
/// pipe waits for the window instead of failing or stalling.
#[tokio::test]
async fn a_large_answer_follows_the_clients_window() {
    bounded(async {
        let (addr, _stop, _server) = start(Shared::default()).await;
        let mut send = client(addr).await;
        let (res, _s) = call(&mut send, "/big", b"").await;
        let (_, data, trailers) = read(res).await;
        assert_eq!(data.len(), 3 << 20);
        assert!(data.iter().all(|&b| b == 7));
        assert_eq!(trailers.unwrap()["grpc-status"], "0");
    })
    .await;
}

/// A client's RST_STREAM drops the request's future (its work is
/// cancelled), and the connection goes on serving.
#[tokio::test]
async fn a_client_reset_cancels_the_call_and_keeps_the_connection() {
    bounded(async {
        let shared = Shared::default();
        let (addr, _stop, _server) = start(shared.clone()).await;
        let mut send = client(addr).await;
        let (_res, mut stream) = call(&mut send, "/hang", b"x").await;
        // Once the server has the call, reset it.
        shared.started.notified().await;
        assert!(!shared.hang_dropped.load(Ordering::SeqCst));
        stream.send_reset(h2::Reason::CANCEL);
        while !shared.hang_dropped.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (res, _s) = call(&mut send, "/echo", b"again").await;
        assert_eq!(read(res).await.1, b"again");
    })
    .await;
}

/// After stop: a GOAWAY, the stream in flight still gets its answer, the
/// listener is closed, and the server ends once the connection is done.
#[tokio::test]
async fn stop_lets_streams_in_flight_finish_then_ends() {
    bounded(async {
        let shared = Shared::default();
        let (addr, stop, server) = start(shared.clone()).await;
        let mut send = client(addr).await;
        let (res, _s) = call(&mut send, "/slow", b"").await;
        shared.started.notified().await;
        stop.cancel();
        // The listener closes (bounded polls), while the stream is still
        // in flight and the server waits for it.
        while TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!server.is_finished(), "a stream is still in flight");
        shared.release.notify_one();
        let (_, data, trailers) = read(res).await;
        assert_eq!(data, b"late");
        assert_eq!(trailers.unwrap()["grpc-status"], "0");
        drop(send);
        server.await.unwrap();
    })
    .await;
}

/// Dropping the server future closes open connections at once.
#[tokio::test]
async fn dropping_the_server_closes_its_connections() {
    bounded(async {
        let shared = Shared::default();
        let (addr, _stop, server) = start(shared.clone()).await;
        let mut send = client(addr).await;
        let (res, _s) = call(&mut send, "/hang", b"").await;
        shared.started.notified().await;
        server.abort();
        let err = res.await.expect_err("the connection must close");
        assert!(err.is_io() || err.is_go_away() || err.is_reset(), "{err:?}");
    })
    .await;
}

/// Reads until the server closes the socket (EOF or reset).
async fn closed_by_server(mut tcp: TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    loop {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Keep-alive: a client that answers pings keeps its connection; one that
/// never sends the preface, or stops answering pings, is closed.
#[tokio::test]
async fn keepalive_closes_silent_connections_only() {
    bounded(async {
        // Long enough that a loaded machine answers a ping within one.
        let tick = Duration::from_millis(500);
        let (addr, _stop, _server) = start_with(Shared::default(), tick).await;

        // Never sends the preface: closed after one interval.
        closed_by_server(TcpStream::connect(addr).await.unwrap()).await;

        // Sends the preface and SETTINGS, then reads but never answers the
        // server's pings: closed after the ping goes unanswered.
        use tokio::io::AsyncWriteExt;
        let mut mute = TcpStream::connect(addr).await.unwrap();
        mute.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
            .await
            .unwrap();
        closed_by_server(mute).await;

        // A live client (h2 answers pings) still works after many intervals.
        let mut send = client(addr).await;
        tokio::time::sleep(tick * 4).await;
        let (res, _s) = call(&mut send, "/echo", b"alive").await;
        assert_eq!(read(res).await.1, b"alive");
    })
    .await;
}
