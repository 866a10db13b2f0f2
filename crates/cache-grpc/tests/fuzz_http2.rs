//! Fuzz tier (proptest): arbitrary bytes and arbitrary HTTP/2 frames at a
//! node's port, on both transports. Whatever a client sends, the node
//! neither panics nor stops serving: after every input, a new connection
//! is answered. The seed corpus (`tests/fuzz_corpus/http2/`) runs first,
//! every time; then `PROPTEST_CASES` generated inputs (64 by default, so
//! the suite stays quick; `scripts/fuzz` runs many more).

mod common;

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use cache_core::{GroupBuilder, LoadContext, Loaded, getter_fn};
use cache_grpc::Transport;
use common::h2client::{OneNode, connect, still_served};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The client connection preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// One HTTP/2 frame: type, flags, stream id and payload, length from the
/// payload (so the header itself is well formed; what it says need not be).
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(9 + payload.len());
    let len = payload.len() as u32;
    out.put_u8((len >> 16) as u8);
    out.put_u16(len as u16);
    out.put_u8(kind);
    out.put_u8(flags);
    out.put_u32(stream & 0x7fff_ffff);
    out.put_slice(payload);
    out.freeze()
}

/// What a fuzz case sends.
#[derive(Debug, Clone)]
enum Input {
    /// Any bytes, from the first byte on.
    Raw(Vec<u8>),
    /// The preface, an empty SETTINGS, then these frames.
    Frames(Vec<(u8, u8, u32, Vec<u8>)>),
}

impl Input {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Input::Raw(b) => b.clone(),
            Input::Frames(frames) => {
                let mut out = PREFACE.to_vec();
                out.extend_from_slice(&frame(4, 0, 0, &[]));
                for (kind, flags, stream, payload) in frames {
                    out.extend_from_slice(&frame(*kind, *flags, *stream, payload));
                }
                out
            }
        }
    }
}

fn input() -> impl Strategy<Value = Input> {
    // Frame types 0-9 are HTTP/2's (DATA to CONTINUATION); others must be
    // ignored. Small stream ids so frames meet the same streams.
    let frame = (
        prop_oneof![0u8..10, any::<u8>()],
        any::<u8>(),
        prop_oneof![0u32..8, any::<u32>()],
        proptest::collection::vec(any::<u8>(), 0..64),
    );
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256).prop_map(Input::Raw),
        proptest::collection::vec(frame, 0..16).prop_map(Input::Frames),
    ]
}

/// The seed corpus: each file is one input's bytes, sent as they are.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz_corpus/http2");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the seed corpus exists")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// Sends `bytes` on a fresh connection, reads whatever comes back for a
/// moment, and closes it.
async fn send(addr: std::net::SocketAddr, bytes: &[u8]) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    // The node may close at any byte: a failed write is an answer too.
    let _ = tcp.write_all(bytes).await;
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(50), async {
        while let Ok(n) = tcp.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// A node of group `g` (`value of KEY`) on `transport`.
async fn node(transport: Transport) -> OneNode {
    let getter = getter_fn(|key: String, _ctx: LoadContext| async move {
        Ok(Loaded::new(Bytes::from(format!("value of {key}"))))
    });
    let group = GroupBuilder::new("g", 1 << 20, getter).build().unwrap();
    OneNode::start(group, transport, |b| b).await
}

/// After each input (corpus first, then generated), the node still
/// answers a new client.
#[test]
fn arbitrary_input_never_stops_the_node() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for transport in [Transport::H2, Transport::Hyper] {
        let node = rt.block_on(node(transport));
        let addr = node.addr;
        let check = |what: &str, bytes: &[u8]| {
            rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(20), async {
                    send(addr, bytes).await;
                    let (client, _conn) = connect(addr, 65_535).await;
                    still_served(&client, "after").await;
                })
                .await
                .unwrap_or_else(|_| panic!("{transport:?}: {what}: the node stopped answering"));
            });
        };
        for (name, bytes) in corpus() {
            check(&name, &bytes);
        }
        let mut runner = TestRunner::new(Config {
            // Each case is a connection and a request: keep the default
            // small; PROPTEST_CASES raises it (scripts/fuzz).
            cases: std::env::var("PROPTEST_CASES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(64),
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&input(), |input| {
                check(&format!("{input:?}"), &input.bytes());
                Ok(())
            })
            .unwrap();
        drop(node);
    }
}
