//! The HTTP/2 limits of a real node (docs/grpc.md, "HTTP/2 limits"), from
//! raw clients: the `h2` crate's client, and a frame writer for what that
//! client will not send (more streams than allowed, floods). Each test says
//! which transports it covers.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use cache_core::CacheStats;
use cache_core::store::{CacheKind, Entry, ShardedStore, Store};
use cache_core::{Error, GroupBuilder, LoadContext, Loaded, getter_fn};
use cache_grpc::{ServerOptionsBuilder, Transport};
use common::h2client::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Size of a `big-*` value.
const BIG: usize = 256 << 10;

/// A store that panics when asked for `boom` (on the hit path, before any
/// load), and is an ordinary [`ShardedStore`] otherwise.
struct PanickingStore(ShardedStore);

impl Store for PanickingStore {
    fn get(&self, kind: CacheKind, key: &str, now: Instant) -> Option<Entry> {
        assert_ne!(key, "boom", "the store failed on purpose");
        self.0.get(kind, key, now)
    }
    fn insert(&self, kind: CacheKind, key: &str, entry: Entry) {
        self.0.insert(kind, key, entry)
    }
    fn remove(&self, key: &str) -> bool {
        self.0.remove(key)
    }
    fn stats(&self, kind: CacheKind) -> CacheStats {
        self.0.stats(kind)
    }
    fn budget(&self) -> u64 {
        self.0.budget()
    }
}

/// A one-node server of group `g` on 127.0.0.1:0 with a
/// [`PanickingStore`]: `big-*` keys are [`BIG`] bytes, `hang-*` keys load
/// until cancelled, anything else is `value of KEY`.
async fn node(
    transport: Transport,
    opts: impl FnOnce(ServerOptionsBuilder) -> ServerOptionsBuilder,
) -> OneNode {
    let getter = getter_fn(|key: String, ctx: LoadContext| async move {
        if key.starts_with("hang-") {
            ctx.cancellation().cancelled().await;
            return Err(Error::DeadlineExceeded);
        }
        if key.starts_with("big-") {
            return Ok(Loaded::new(Bytes::from(vec![b'x'; BIG])));
        }
        Ok(Loaded::new(Bytes::from(format!("value of {key}"))))
    });
    let store = Arc::new(PanickingStore(ShardedStore::new(64 << 20, 0.125)));
    let group = GroupBuilder::new("g", 64 << 20, getter)
        .store(store)
        .build()
        .unwrap();
    OneNode::start(group, transport, opts).await
}

/// A new client connection is served.
async fn a_new_client_is_served(addr: SocketAddr, key: &str) {
    let (send, _conn) = bounded(connect(addr, 65_535)).await;
    still_served(&send, key).await;
}

/// A client that never opens its window asks for a 256 KiB value on 64
/// streams (our driver; 64 copies, 16 MiB, with nothing to bound them
/// before). With a budget of 1 MiB of queued response bytes, at most 5
/// streams hold their body (the first always fits) and the others are
/// refused (REFUSED_STREAM); the held bodies are reset (CANCEL) once the
/// response send timeout passes; another client is served throughout.
#[tokio::test]
async fn a_client_that_never_reads_is_held_to_the_queued_byte_budget() {
    let node = node(Transport::H2, |b| {
        b.max_queued_response_bytes(1 << 20)
            .response_send_timeout(Duration::from_millis(500))
    })
    .await;
    let (send, _conn) = connect(node.addr, 0).await;
    let mut waiting = tokio::task::JoinSet::new();
    for i in 0..64 {
        let (response, _stream) = fetch(&send, &format!("big-{i}")).await;
        waiting.spawn(async move {
            let started = Instant::now();
            let reason = match response.await {
                Err(e) => e.reason(),
                Ok(res) => {
                    let mut body = res.into_body();
                    match body.data().await {
                        Some(Err(e)) => e.reason(),
                        other => panic!("a body moved through a closed window: {other:?}"),
                    }
                }
            };
            (reason, started.elapsed())
        });
    }
    let (mut refused, mut cancelled) = (0, 0);
    while let Some(ended) = bounded(waiting.join_next()).await {
        match ended.unwrap() {
            (Some(h2::Reason::REFUSED_STREAM), _) => refused += 1,
            (Some(h2::Reason::CANCEL), waited) => {
                assert!(waited >= Duration::from_millis(400), "{waited:?}");
                cancelled += 1;
            }
            other => panic!("a stream ended with {other:?}"),
        }
    }
    assert!((1..=5).contains(&cancelled), "{cancelled} bodies held");
    assert_eq!(refused + cancelled, 64);
    a_new_client_is_served(node.addr, "bystander").await;
}

/// A `Store` panicking on the hit path for one key, on both transports:
/// that request is answered INTERNAL, a request in flight on the same
/// connection and the next ones are answered, the connection stays open.
#[tokio::test]
async fn a_panic_fails_only_its_request() {
    for transport in [Transport::H2, Transport::Hyper] {
        a_panic_fails_only_its_request_on(transport).await;
    }
}

async fn a_panic_fails_only_its_request_on(transport: Transport) {
    let node = node(transport, |b| b).await;
    let (send, conn) = connect(node.addr, 65_535).await;
    let (slow, _slow_stream) = fetch(&send, "hang-1").await;
    let (boom, _stream) = fetch(&send, "boom").await;
    let (status, _) = bounded(answer(boom)).await.unwrap();
    assert_eq!(status, "13", "{transport:?}: a panic is INTERNAL");
    still_served(&send, "after").await;
    drop(slow);
    assert!(!conn.is_finished(), "the connection was closed");
    a_new_client_is_served(node.addr, "bystander").await;
}

/// Past `max_connections` a new connection is closed at once, on both
/// transports; when one closes, a new one is served again.
#[tokio::test]
async fn connections_over_the_cap_are_closed() {
    for transport in [Transport::H2, Transport::Hyper] {
        let node = node(transport, |b| b.max_connections(2)).await;
        let (a, a_conn) = connect(node.addr, 65_535).await;
        let (b, _b_conn) = connect(node.addr, 65_535).await;
        still_served(&a, "a").await;
        still_served(&b, "b").await;
        let mut third = TcpStream::connect(node.addr).await.unwrap();
        let mut buf = [0u8; 64];
        let read = bounded(third.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "{transport:?}: over the cap and not closed: {read:?}"
        );
        drop((a, a_conn));
        // Bounded polling: the node frees the place once it sees the
        // connection end.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (send, _conn) = connect(node.addr, 65_535).await;
            let (response, _stream) = fetch(&send, "c").await;
            if let Ok(Ok((status, _))) =
                tokio::time::timeout(Duration::from_secs(2), answer(response)).await
            {
                assert_eq!(status, "0");
                break;
            }
            assert!(Instant::now() < deadline, "no place freed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Bytes read from `tcp` until the server closes it.
async fn read_to_close(tcp: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// HTTP/1.1, a TLS ClientHello and junk at the port are closed at once
/// (well before the handshake timeout), on both transports, and the node
/// goes on serving.
#[tokio::test]
async fn http1_tls_and_junk_are_closed() {
    let hello = [
        0x16u8, 0x03, 0x01, 0x00, 0x2f, 0x01, 0x00, 0x00, 0x2b, 0x03, 0x03, 0, 0, 0, 0,
    ];
    let cases: [(&str, &[u8]); 3] = [
        ("http/1.1", b"GET / HTTP/1.1\r\nHost: node\r\n\r\n"),
        ("tls", &hello),
        ("junk", b"\x00\xffhello there\n"),
    ];
    for transport in [Transport::H2, Transport::Hyper] {
        let node = node(transport, |b| {
            b.handshake_timeout(Duration::from_secs(60))
                .keepalive_interval(Duration::from_secs(60))
        })
        .await;
        for (name, bytes) in cases {
            let mut tcp = TcpStream::connect(node.addr).await.unwrap();
            tcp.write_all(bytes).await.unwrap();
            let closed =
                tokio::time::timeout(Duration::from_secs(10), read_to_close(&mut tcp)).await;
            assert!(closed.is_ok(), "{transport:?}: {name} left open");
        }
        a_new_client_is_served(node.addr, "after-junk").await;
    }
}

/// A connection that sends part of the preface and stops is closed after
/// the handshake timeout (our driver).
#[tokio::test]
async fn a_stalled_handshake_is_closed() {
    let node = node(Transport::H2, |b| {
        b.handshake_timeout(Duration::from_millis(200))
    })
    .await;
    let mut tcp = TcpStream::connect(node.addr).await.unwrap();
    tcp.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let started = Instant::now();
    bounded(read_to_close(&mut tcp)).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
}

/// A raw HTTP/2 connection: frames written by hand, frames read parsed.
struct Raw {
    tcp: TcpStream,
    buf: BytesMut,
}

/// A frame read: type, flags, stream, payload.
type RawFrame = (u8, u8, u32, Bytes);

const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 1;
const END_HEADERS: u8 = 4;

/// An HPACK integer with an `n`-bit prefix, first byte `first`.
fn hpack_int(out: &mut BytesMut, first: u8, n: u32, mut v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.put_u8(first | v as u8);
        return;
    }
    out.put_u8(first | max as u8);
    v -= max;
    while v >= 128 {
        out.put_u8((v % 128 + 128) as u8);
        v /= 128;
    }
    out.put_u8(v as u8);
}

/// A literal header field without indexing, new name.
fn hpack_literal(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.put_u8(0);
    hpack_int(out, 0, 7, name.len());
    out.put_slice(name);
    hpack_int(out, 0, 7, value.len());
    out.put_slice(value);
}

/// The header block of a `Fetch` request, plus `extra` headers.
fn fetch_headers(extra: &[(&[u8], &[u8])]) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_u8(0x83); // :method POST
    b.put_u8(0x86); // :scheme http
    // :path, name indexed (4), literal value.
    let path = b"/groupcache.v1.Groupcache/Fetch";
    b.put_u8(0x04);
    hpack_int(&mut b, 0, 7, path.len());
    b.put_slice(path);
    b.put_u8(0x01); // :authority, name indexed (1)
    hpack_int(&mut b, 0, 7, 4);
    b.put_slice(b"node");
    hpack_literal(&mut b, b"content-type", b"application/grpc");
    for (name, value) in extra {
        hpack_literal(&mut b, name, value);
    }
    b
}

impl Raw {
    /// Connects, sends the preface and empty SETTINGS, and ACKs the
    /// server's SETTINGS.
    async fn connect(addr: SocketAddr) -> Raw {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut raw = Raw {
            tcp,
            buf: BytesMut::new(),
        };
        raw.tcp
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        raw.send(SETTINGS, 0, 0, &[]).await;
        loop {
            let (kind, flags, _, _) = raw.next().await.expect("the server's SETTINGS");
            if kind == SETTINGS && flags & 1 == 0 {
                break;
            }
        }
        raw.send(SETTINGS, 1, 0, &[]).await;
        raw
    }

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> BytesMut {
        let mut f = BytesMut::with_capacity(9 + payload.len());
        f.put_uint(payload.len() as u64, 3);
        f.put_u8(kind);
        f.put_u8(flags);
        f.put_u32(stream);
        f.put_slice(payload);
        f
    }

    async fn send(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let f = Raw::frame(kind, flags, stream, payload);
        self.tcp.write_all(&f).await.unwrap();
    }

    /// A whole `Fetch(g, key)` on `stream`.
    async fn fetch(&mut self, stream: u32, key: &str) {
        let headers = fetch_headers(&[]);
        let mut out = Raw::frame(HEADERS, END_HEADERS, stream, &headers);
        out.extend_from_slice(&Raw::frame(0, END_STREAM, stream, &fetch_frame(key)));
        self.tcp.write_all(&out).await.unwrap();
    }

    /// The next frame; `None` once the server closed the connection.
    async fn next(&mut self) -> Option<RawFrame> {
        loop {
            if self.buf.len() >= 9 {
                let len = (usize::from(self.buf[0]) << 16)
                    | (usize::from(self.buf[1]) << 8)
                    | usize::from(self.buf[2]);
                if self.buf.len() >= 9 + len {
                    let head = self.buf.split_to(9);
                    let payload = self.buf.split_to(len).freeze();
                    let stream =
                        u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & !(1 << 31);
                    return Some((head[3], head[4], stream, payload));
                }
            }
            match self.tcp.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next frame on `stream` (or a GOAWAY), skipping others.
    async fn next_on(&mut self, stream: u32) -> Option<RawFrame> {
        loop {
            let f = self.next().await?;
            if f.2 == stream || f.0 == GOAWAY {
                return Some(f);
            }
        }
    }

    /// The next frame on `stream`, within the step bound; the test fails if
    /// the connection closed first.
    async fn answer_on(&mut self, stream: u32) -> RawFrame {
        bounded(self.next_on(stream))
            .await
            .expect("the connection closed")
    }
}

/// The error code of a RST_STREAM or GOAWAY frame.
fn error_code(frame: &RawFrame) -> u32 {
    let p = &frame.3;
    let at = if frame.0 == GOAWAY { 4 } else { 0 };
    u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]])
}

/// REFUSED_STREAM, ENHANCE_YOUR_CALM.
const REFUSED: u32 = 0x7;
const CALM: u32 = 0xb;

/// A client opening more streams than `max_concurrent_streams` allows gets
/// the extra one refused (REFUSED_STREAM) and keeps its connection, on
/// both transports (h2 enforces it once the client has ACKed the limit).
#[tokio::test]
async fn streams_past_the_limit_are_refused() {
    for transport in [Transport::H2, Transport::Hyper] {
        let node = node(transport, |b| b.max_concurrent_streams(4)).await;
        let mut raw = Raw::connect(node.addr).await;
        for i in 0..5u32 {
            raw.fetch(2 * i + 1, &format!("hang-{transport:?}-{i}"))
                .await;
        }
        let frame = raw.answer_on(9).await;
        assert_eq!(frame.0, RST_STREAM, "{transport:?}: {frame:?}");
        assert_eq!(error_code(&frame), REFUSED);
        raw.fetch(11, "x").await; // still refused: four hang.
        raw.send(RST_STREAM, 0, 1, &0x8u32.to_be_bytes()).await; // CANCEL stream 1
        raw.fetch(13, "after").await;
        let frame = raw.answer_on(13).await;
        assert_eq!(frame.0, HEADERS, "{transport:?}: {frame:?}");
    }
}

/// A header list over `max_header_list_bytes` is answered on its stream
/// only (HTTP 431 or a reset), and the connection serves the next request,
/// on both transports.
#[tokio::test]
async fn an_oversized_header_list_fails_its_stream_only() {
    for transport in [Transport::H2, Transport::Hyper] {
        let node = node(transport, |b| b.max_header_list_bytes(4096)).await;
        let mut raw = Raw::connect(node.addr).await;
        let big = vec![b'a'; 8000];
        let headers = fetch_headers(&[(b"x-big", &big)]);
        raw.send(HEADERS, END_HEADERS, 1, &headers).await;
        raw.send(0, END_STREAM, 1, &fetch_frame("k")).await;
        let frame = raw.answer_on(1).await;
        assert!(
            frame.0 == HEADERS || frame.0 == RST_STREAM,
            "{transport:?}: {frame:?}"
        );
        raw.fetch(3, "after").await;
        let frame = raw.answer_on(3).await;
        assert_eq!(frame.0, HEADERS, "{transport:?}: {frame:?}");
    }
}

/// A CONTINUATION flood (a header block sent one byte a frame, never
/// ending) is answered GOAWAY ENHANCE_YOUR_CALM and closed, on both
/// transports: h2 0.4.20 counts CONTINUATION frames itself, as hyper's
/// server relies on.
#[tokio::test]
async fn a_continuation_flood_gets_goaway() {
    for transport in [Transport::H2, Transport::Hyper] {
        let node = node(transport, |b| b).await;
        let mut raw = Raw::connect(node.addr).await;
        let mut block = fetch_headers(&[]);
        block.put_u8(0);
        hpack_int(&mut block, 0, 7, 5);
        block.put_slice(b"x-pad");
        hpack_int(&mut block, 0, 7, 1 << 20);
        raw.send(HEADERS, 0, 1, &block).await;
        let writer = async {
            for _ in 0..10_000 {
                let f = Raw::frame(CONTINUATION, 0, 1, b"a");
                if raw.tcp.write_all(&f).await.is_err() {
                    break;
                }
            }
        };
        bounded(writer).await;
        let frame = bounded(raw.next_on(1))
            .await
            .expect("closed without GOAWAY");
        assert_eq!(frame.0, GOAWAY, "{transport:?}: {frame:?}");
        assert_eq!(error_code(&frame), CALM);
        assert!(bounded(raw.next()).await.is_none(), "left open");
        a_new_client_is_served(node.addr, "bystander").await;
    }
}

/// SETTINGS and PING floods from a client that never reads its answers,
/// on both transports: h2 answers one at a time and stops reading while
/// an answer is unsent, so the flooder only fills socket buffers; the node
/// goes on serving others.
#[tokio::test]
async fn settings_and_ping_floods_do_not_stop_the_node() {
    for transport in [Transport::H2, Transport::Hyper] {
        let node = node(transport, |b| b).await;
        let mut flooders = Vec::new();
        for kind in [SETTINGS, PING] {
            let mut raw = Raw::connect(node.addr).await;
            flooders.push(tokio::spawn(async move {
                let payload: &[u8] = if kind == PING { &[0; 8] } else { &[] };
                let f = Raw::frame(kind, 0, 0, payload);
                let mut burst = BytesMut::new();
                for _ in 0..1000 {
                    burst.extend_from_slice(&f);
                }
                // Stalls once the node stops reading: that is the point.
                for _ in 0..1000 {
                    if raw.tcp.write_all(&burst).await.is_err() {
                        break;
                    }
                }
            }));
        }
        a_new_client_is_served(node.addr, "bystander").await;
        for f in flooders {
            f.abort();
        }
    }
}

/// A connection reaching `max_connection_age` is sent GOAWAY and closed
/// (no stream open), on both transports; a new connection is served.
#[tokio::test]
async fn a_connection_past_its_maximum_age_is_closed() {
    for transport in [Transport::H2, Transport::Hyper] {
        let node = node(transport, |b| {
            b.max_connection_age(Duration::from_millis(300))
        })
        .await;
        let started = Instant::now();
        let (send, conn) = connect(node.addr, 65_535).await;
        still_served(&send, "young").await;
        let ended = bounded(conn).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "{transport:?}: closed before its age"
        );
        match ended {
            Ok(()) => {}
            Err(e) => assert!(e.is_go_away() || e.is_io(), "{transport:?}: {e:?}"),
        }
        a_new_client_is_served(node.addr, "fresh").await;
    }
}
