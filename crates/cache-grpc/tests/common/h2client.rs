//! A raw `h2` client for the tests that need HTTP/2 below gRPC: resets,
//! flow-control windows, frames a gRPC client would never send. Requests
//! are `Fetch(g, KEY)` of a one-node server of group `g`.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use cache_grpc::Transport;
use cache_grpc::pb::{FetchRequest, FetchResponse};
use h2::client::{ResponseFuture, SendRequest};
use prost::Message;
use tokio::net::TcpStream;

/// Bounds a test step: a step taking longer is a hang.
pub async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("test step took too long")
}

/// A raw client connection with this stream window (65,535 is HTTP/2's
/// default); its connection task ends with the error that closed it (`Ok`
/// if it closed cleanly).
pub async fn connect(
    addr: SocketAddr,
    window: u32,
) -> (
    SendRequest<Bytes>,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::Builder::new()
        .initial_window_size(window)
        .handshake(tcp)
        .await
        .unwrap();
    (send, tokio::spawn(conn))
}

/// The gRPC frame of `Fetch(g, key)`.
pub fn fetch_frame(key: &str) -> Bytes {
    let message = FetchRequest {
        group: "g".into(),
        key: key.into(),
        ..Default::default()
    }
    .encode_to_vec();
    let mut frame = BytesMut::new();
    frame.put_u8(0);
    frame.put_u32(message.len() as u32);
    frame.put_slice(&message);
    frame.freeze()
}

/// Sends `Fetch(g, key)` on `send`; returns the response future and the
/// stream, to reset it with. Ready at once while under the server's stream
/// limit (no yield), so a burst leaves the client in one write.
pub async fn fetch(
    send: &SendRequest<Bytes>,
    key: &str,
) -> (ResponseFuture, h2::SendStream<Bytes>) {
    let request = http::Request::post("http://node/groupcache.v1.Groupcache/Fetch")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let mut ready = send.clone().ready().await.unwrap();
    let (response, mut stream) = ready.send_request(request, false).unwrap();
    stream.send_data(fetch_frame(key), true).unwrap();
    (response, stream)
}

/// The `grpc-status` and body of a whole response.
pub async fn answer(response: ResponseFuture) -> Result<(String, Bytes), h2::Error> {
    let (parts, mut body) = response.await?.into_parts();
    let mut data = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await?;
    let status = parts
        .headers
        .get("grpc-status")
        .or_else(|| trailers.as_ref().and_then(|t| t.get("grpc-status")))
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    Ok((status, data.freeze()))
}

/// A `Fetch` of an ordinary key on `send` is answered with its value
/// (`value of KEY`).
pub async fn still_served(send: &SendRequest<Bytes>, key: &str) {
    let (response, _stream) = fetch(send, key).await;
    let (status, data) = bounded(answer(response))
        .await
        .unwrap_or_else(|e| panic!("fetch {key}: the connection is unusable: {e}"));
    assert_eq!(status, "0");
    let fetched = FetchResponse::decode(&data[5..]).expect("a FetchResponse");
    assert_eq!(fetched.value, format!("value of {key}"));
}

/// A one-node server on 127.0.0.1:0 serving `group` (its pool lists only
/// itself); dropping it stops the server.
pub struct OneNode {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), cache_grpc::Error>>,
}

impl OneNode {
    /// Serves `group` with default options changed by `opts`, on our
    /// `transport`.
    pub async fn start(
        group: cache_core::Group,
        transport: Transport,
        opts: impl FnOnce(cache_grpc::ServerOptionsBuilder) -> cache_grpc::ServerOptionsBuilder,
    ) -> OneNode {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let registry = cache_core::Registry::new();
        registry.add(group).unwrap();
        let me = addr.to_string();
        let pool = cache_grpc::PeerPool::new(&me, [me.as_str()], Default::default()).unwrap();
        let options = opts(cache_grpc::ServerOptions::builder().transport(transport))
            .build()
            .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(cache_grpc::serve(
            listener,
            registry,
            pool,
            options,
            async {
                let _ = stopped.await;
            },
        ));
        OneNode {
            addr,
            stop: Some(stop),
            task,
        }
    }
}

impl Drop for OneNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}
