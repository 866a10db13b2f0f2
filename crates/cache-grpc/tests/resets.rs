//! Client resets (RST_STREAM) against a real node, on our HTTP/2 driver and
//! on tonic's server, from a raw `h2` client: a peer cancelling hundreds of
//! its own fetches keeps its connection, and the work of each reset
//! request is dropped; a rapid-reset flood loses its connection while other
//! clients go on being served.

mod common;

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use cache_core::{Error, GroupBuilder, LoadContext, Loaded, getter_fn};
use cache_grpc::pb::FetchRequest;
use cache_grpc::{ServerOptionsBuilder, Transport};
use common::h2client::*;
use prost::Message;
use tokio::sync::watch;

/// Loads started and loads cancelled (their context's token fired) so far.
#[derive(Clone)]
struct Counts {
    started: Arc<watch::Sender<usize>>,
    cancelled: Arc<watch::Sender<usize>>,
}

/// Adds one to its counter when dropped: a load that ended, however.
struct CountOnDrop(Arc<watch::Sender<usize>>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n += 1);
    }
}

impl Counts {
    fn new() -> Self {
        Counts {
            started: Arc::new(watch::channel(0).0),
            cancelled: Arc::new(watch::channel(0).0),
        }
    }

    /// Waits until every load started so far has been cancelled.
    async fn all_cancelled(&self) {
        loop {
            let started = *self.started.borrow();
            Counts::reach(&self.cancelled, started).await;
            if *self.started.borrow() == started {
                return;
            }
        }
    }

    /// Waits until `count` reaches `n`.
    async fn reach(count: &watch::Sender<usize>, n: usize) {
        count
            .subscribe()
            .wait_for(|c| *c >= n)
            .await
            .expect("the sender lives in the test");
    }
}

/// A running node and what its loader saw.
struct Node {
    server: OneNode,
    counts: Counts,
}

/// A one-node server of group `g` on 127.0.0.1:0: `hang-*` keys load until
/// their load is cancelled (counted), anything else is `value of KEY`.
async fn node(
    transport: Transport,
    opts: impl FnOnce(ServerOptionsBuilder) -> ServerOptionsBuilder,
) -> Node {
    let counts = Counts::new();
    let seen = counts.clone();
    let getter = getter_fn(move |key: String, ctx: LoadContext| {
        let seen = seen.clone();
        async move {
            if key.starts_with("hang-") {
                seen.started.send_modify(|n| *n += 1);
                // The group drops a load nobody waits for; a loader that
                // watches the token sees it fire first. Either ends here.
                let _cancelled = CountOnDrop(Arc::clone(&seen.cancelled));
                ctx.cancellation().cancelled().await;
                return Err(Error::DeadlineExceeded);
            }
            Ok(Loaded::new(Bytes::from(format!("value of {key}"))))
        }
    });
    let group = GroupBuilder::new("g", 1 << 20, getter).build().unwrap();
    Node {
        server: OneNode::start(group, transport, opts).await,
        counts,
    }
}

/// A peer cancels 500 of its own fetches on one connection, in bursts of
/// 100: three bursts of requests in flight (their loads started), two of
/// requests reset in the same write that sent them (still waiting to be
/// accepted by the server: what h2's `max_pending_accept_reset_streams`
/// counts, 20 by default). On both transports the connection stays usable,
/// every started load is cancelled (the reset request's work is dropped),
/// and the shed permits come back (the limit of 150 requests in flight
/// would refuse the last request otherwise).
#[tokio::test]
async fn a_peer_cancelling_its_fetches_keeps_its_connection() {
    for transport in [Transport::H2, Transport::Hyper] {
        let node = node(transport, |b| b.max_concurrent_requests(150)).await;
        let (send, conn) = connect(node.server.addr, 65_535).await;
        let mut started = 0;
        for burst in 0..5 {
            let mut streams = Vec::new();
            for i in 0..100 {
                streams.push(fetch(&send, &format!("hang-{burst}-{i}")).await);
            }
            if burst % 2 == 0 {
                started += 100;
                bounded(Counts::reach(&node.counts.started, started)).await;
            }
            for (_response, stream) in &mut streams {
                stream.send_reset(h2::Reason::CANCEL);
            }
            drop(streams);
            still_served(&send, &format!("between-{burst}")).await;
        }
        bounded(node.counts.all_cancelled()).await;
        if transport == Transport::H2 {
            // Our driver looks at the reset before it calls the service;
            // hyper may start the call once (then drops it).
            assert_eq!(
                *node.counts.started.borrow(),
                started,
                "a request reset on arrival started a load"
            );
        }
        bounded(still_served(&send, "after")).await;
        assert!(!conn.is_finished(), "{transport:?}: connection closed");
    }
}

/// A rapid-reset flood on our driver: a client sends HEADERS, DATA and
/// RST_STREAM for stream after stream, in bursts of 100 with a round trip
/// between them, so the server keeps up and no read ever holds more than
/// 100 pending resets (h2's own limit never trips). Past the node's budget
/// of resets per second (500 here rather than the default 2048, so that a
/// slow machine still sends that many within a second) the connection gets
/// GOAWAY `ENHANCE_YOUR_CALM` and is closed; no reset stream started a
/// load; another client's connection is served throughout.
#[tokio::test]
async fn a_rapid_reset_flood_loses_its_connection() {
    let node = node(Transport::H2, |b| b.max_resets_per_second(500)).await;
    let (bystander, bystander_conn) = connect(node.server.addr, 65_535).await;
    let (send, conn) = connect(node.server.addr, 65_535).await;
    let mut sent = 0;
    bounded(async {
        'flood: for burst in 0..100 {
            for i in 0..100 {
                let Ok(mut ready) = send.clone().ready().await else {
                    break 'flood;
                };
                let request = http::Request::post("http://node/groupcache.v1.Groupcache/Fetch")
                    .header("content-type", "application/grpc")
                    .body(())
                    .unwrap();
                let Ok((_response, mut stream)) = ready.send_request(request, false) else {
                    break 'flood;
                };
                let message = FetchRequest {
                    group: "g".into(),
                    key: format!("hang-{burst}-{i}"),
                    ..Default::default()
                }
                .encode_to_vec();
                let mut frame = BytesMut::new();
                frame.put_u8(0);
                frame.put_u32(message.len() as u32);
                frame.put_slice(&message);
                let _ = stream.send_data(frame.freeze(), true);
                stream.send_reset(h2::Reason::CANCEL);
                sent += 1;
            }
            let (response, _stream) = match send.clone().ready().await {
                Ok(mut ready) => {
                    let request = http::Request::post("http://node/groupcache.v1.Groupcache/Nope")
                        .body(())
                        .unwrap();
                    match ready.send_request(request, true) {
                        Ok(sent) => sent,
                        Err(_) => break,
                    }
                }
                Err(_) => break,
            };
            if answer(response).await.is_err() {
                break;
            }
        }
    })
    .await;
    let ended = bounded(conn).await.unwrap();
    match ended {
        Err(e) if e.is_go_away() || e.is_remote() => {
            assert_eq!(e.reason(), Some(h2::Reason::ENHANCE_YOUR_CALM), "{e:?}")
        }
        // The server may close the socket before the client reads its
        // GOAWAY.
        Err(e) => assert!(e.is_io(), "{e:?}"),
        Ok(()) => panic!("the flood's connection closed cleanly"),
    }
    assert!(sent > 500, "closed after only {sent} resets");
    assert_eq!(
        *node.counts.started.borrow(),
        0,
        "a reset stream started a load"
    );
    bounded(still_served(&bystander, "bystander")).await;
    assert!(!bystander_conn.is_finished());
}
