//! HEADERS + RST_STREAM floods on raw HTTP/2 (the `h2` crate's client):
//! each stream is a valid gRPC `Get` of a distinct key, reset by the
//! client, so the node's work for it has nobody to answer.
//!
//! Two shapes: [`rst_at_once`] resets each stream right after sending it
//! (the frames usually arrive together, and the server's HTTP/2 layer may
//! drop the stream before the service sees it); [`rst_after`] sends a
//! batch, waits until the node has taken every stream of it in hand, then
//! resets the batch, so the node has loads to cancel.

use std::future::Future;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use h2::SendStream;
use h2::client::SendRequest;
use tokio::net::TcpStream;

/// What a flood did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FloodReport {
    /// Streams sent and reset.
    pub(crate) streams: usize,
    /// Connections opened (the server may close one, e.g. with GOAWAY
    /// ENHANCE_YOUR_CALM, and the flood goes on over a new one).
    pub(crate) connections: usize,
    /// Batches of [`rst_after`] reset although the wait for the node to
    /// take them in hand gave up.
    pub(crate) unconfirmed: usize,
}

/// A gRPC message frame holding `GetRequest { group, key }` (protobuf
/// fields 1 and 2, both strings shorter than 128 bytes).
pub(crate) fn get_frame(group: &str, key: &str) -> Bytes {
    assert!(group.len() < 128 && key.len() < 128);
    let mut msg = BytesMut::new();
    for (tag, text) in [(0x0a_u8, group), (0x12, key)] {
        msg.put_u8(tag);
        msg.put_u8(text.len() as u8);
        msg.put_slice(text.as_bytes());
    }
    let mut frame = BytesMut::with_capacity(5 + msg.len());
    frame.put_u8(0); // not compressed
    frame.put_u32(msg.len() as u32);
    frame.put_slice(&msg);
    frame.freeze()
}

/// Most connections one flood opens, reconnections included.
const MAX_CONNECTIONS: usize = 400;

/// One client connection; reopened by [`Conns::get`] when the server
/// closed it.
struct Conn {
    send: SendRequest<Bytes>,
    driver: tokio::task::JoinHandle<()>,
}

impl Conn {
    async fn open(addr: &str) -> Option<Conn> {
        let tcp = TcpStream::connect(addr).await.ok()?;
        let _ = tcp.set_nodelay(true);
        let (send, conn) = h2::client::handshake(tcp).await.ok()?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Some(Conn { send, driver })
    }

    /// Sends a `Get` of `key` (HEADERS, then DATA with END_STREAM); `None`
    /// when the connection is gone.
    async fn start_get(&mut self, addr: &str, group: &str, key: &str) -> Option<SendStream<Bytes>> {
        self.send = self.send.clone().ready().await.ok()?;
        let request = http::Request::builder()
            .method("POST")
            .uri(format!("http://{addr}/groupcache.v1.Groupcache/Get"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("grpc-timeout", "30S")
            .body(())
            .unwrap();
        let (response, mut stream) = self.send.send_request(request, false).ok()?;
        drop(response);
        stream.send_data(get_frame(group, key), true).ok()?;
        Some(stream)
    }

    /// Lets the connection send what is queued (the last resets), then
    /// closes it.
    async fn close(self) {
        drop(self.send);
        let abort = self.driver.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), self.driver)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

/// `n` connections to `addr`, used in turn.
struct Conns {
    addr: String,
    conns: Vec<Option<Conn>>,
    next: usize,
    opened: usize,
}

impl Conns {
    fn new(addr: &str, n: usize) -> Self {
        Conns {
            addr: addr.to_owned(),
            conns: (0..n).map(|_| None).collect(),
            next: 0,
            opened: 0,
        }
    }

    /// Sends a `Get` of `key` on the next connection, opening (or
    /// reopening) connections as needed.
    async fn start_get(&mut self, group: &str, key: &str) -> SendStream<Bytes> {
        loop {
            let slot = self.next % self.conns.len();
            self.next += 1;
            if self.conns[slot].is_none() {
                assert!(
                    self.opened < MAX_CONNECTIONS,
                    "the flood opened {MAX_CONNECTIONS} connections"
                );
                self.opened += 1;
                self.conns[slot] = Conn::open(&self.addr).await;
            }
            if let Some(conn) = self.conns[slot].as_mut() {
                if let Some(stream) = conn.start_get(&self.addr, group, key).await {
                    return stream;
                }
                // Gone (GOAWAY or reset): reopen it next time round.
                if let Some(conn) = self.conns[slot].take() {
                    conn.driver.abort();
                }
            }
        }
    }

    async fn close(self) -> usize {
        for conn in self.conns.into_iter().flatten() {
            conn.close().await;
        }
        self.opened
    }
}

/// `streams` `Get`s of keys `{prefix}{i}` over `connections` connections,
/// each reset (CANCEL) as soon as it is sent.
pub(crate) async fn rst_at_once(
    addr: &str,
    group: &str,
    prefix: &str,
    connections: usize,
    streams: usize,
) -> FloodReport {
    let mut conns = Conns::new(addr, connections);
    for i in 0..streams {
        let mut stream = conns.start_get(group, &format!("{prefix}{i}")).await;
        stream.send_reset(h2::Reason::CANCEL);
    }
    FloodReport {
        streams,
        connections: conns.close().await,
        unconfirmed: 0,
    }
}

/// `batches` batches of `batch` `Get`s of keys `{prefix}{i}` over
/// `connections` connections: each batch is sent, then `taken(sent so
/// far)` is awaited (true once the node has every stream sent so far in
/// hand, false if it gave up waiting), then every stream of the batch is
/// reset (CANCEL).
pub(crate) async fn rst_after<F, Fut>(
    addr: &str,
    group: &str,
    prefix: &str,
    connections: usize,
    (batches, batch): (usize, usize),
    mut taken: F,
) -> FloodReport
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut conns = Conns::new(addr, connections);
    let (mut sent, mut unconfirmed) = (0, 0);
    for _ in 0..batches {
        let mut streams = Vec::with_capacity(batch);
        for _ in 0..batch {
            streams.push(conns.start_get(group, &format!("{prefix}{sent}")).await);
            sent += 1;
        }
        if !taken(sent).await {
            unconfirmed += 1;
        }
        for mut s in streams {
            s.send_reset(h2::Reason::CANCEL);
        }
    }
    FloodReport {
        streams: sent,
        connections: conns.close().await,
        unconfirmed,
    }
}

#[test]
fn frame_layout() {
    let f = get_frame("g", "key");
    assert_eq!(&f[..], b"\x00\x00\x00\x00\x08\x0a\x01g\x12\x03key");
}
