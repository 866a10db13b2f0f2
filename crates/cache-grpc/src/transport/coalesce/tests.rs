//! CoalescingIo over real loopback sockets.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// A connected pair: our side wrapped, the peer's side plain.
async fn pair(max_buffer: usize) -> (CoalescingIo, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let (server, _) = accepted.unwrap();
    (CoalescingIo::new(server, max_buffer), client.unwrap())
}

/// Many small writes reach the peer complete and in order, and a
/// shutdown delivers them before the end of stream.
#[tokio::test]
async fn writes_arrive_in_order_then_eof() {
    tokio::time::timeout(Duration::from_secs(10), async {
        let (mut io, mut peer) = pair(64).await;
        let mut expected = Vec::new();
        for i in 0..1000u32 {
            let chunk = i.to_be_bytes();
            io.write_all(&chunk).await.unwrap();
            expected.extend_from_slice(&chunk);
        }
        io.flush().await.unwrap();
        io.shutdown().await.unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), 4000);
        assert_eq!(got, expected);
    })
    .await
    .unwrap();
}

/// Small and large writes, interleaved (the large ones above the
/// buffer limit, so they are taken in parts), arrive complete and in
/// order.
#[tokio::test]
async fn small_and_large_writes_keep_their_order() {
    tokio::time::timeout(Duration::from_secs(10), async {
        let (mut io, mut peer) = pair(256 * 1024).await;
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            peer.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut expected = Vec::new();
        let sizes = [1, 20_000, 3, 70_000, 16_384, 5, 100_000, 17, 300_000, 2];
        for (i, &n) in sizes.iter().cycle().take(60).enumerate() {
            let chunk: Vec<u8> = (0..n).map(|j| (i * 31 + j) as u8).collect();
            io.write_all(&chunk).await.unwrap();
            expected.extend_from_slice(&chunk);
        }
        io.shutdown().await.unwrap();
        let got = reader.await.unwrap();
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "bytes reordered or corrupted");
    })
    .await
    .unwrap();
}

/// A vectored write queues every slice, across the buffer limit too:
/// the write takes what fits and the rest follows.
#[tokio::test]
async fn vectored_writes_respect_the_limit() {
    tokio::time::timeout(Duration::from_secs(10), async {
        let (mut io, mut peer) = pair(10).await;
        let a = [1u8; 6];
        let b = [2u8; 6];
        let n = io
            .write_vectored(&[IoSlice::new(&a), IoSlice::new(&b)])
            .await
            .unwrap();
        assert_eq!(n, 10, "only max_buffer bytes are taken at once");
        io.write_all(&b[4..]).await.unwrap();
        io.shutdown().await.unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, [[1u8; 6].as_slice(), &[2u8; 6]].concat());
    })
    .await
    .unwrap();
}

/// Bytes written by a task that was queued after the writer was woken
/// leave in the same write as the bytes that woke it (a PING's answer
/// and the response after it, in the server).
#[tokio::test]
async fn writes_of_tasks_queued_behind_the_writer_share_its_send() {
    tokio::time::timeout(Duration::from_secs(10), async {
        let (mut io, mut peer) = pair(1024).await;
        let shared = io.shared.clone();
        io.write_all(b"a").await.unwrap(); // the writer is queued
        let later = tokio::spawn(async move {
            io.write_all(b"b").await.unwrap(); // queued behind it
            io
        });
        let mut got = [0u8; 2];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ab");
        assert_eq!(shared.lock().sends, 1, "both bytes in one write");
        drop(later.await.unwrap());
    })
    .await
    .unwrap();
}

/// Reads pass through, and the connect info carries both addresses.
#[tokio::test]
async fn reads_and_connect_info() {
    tokio::time::timeout(Duration::from_secs(10), async {
        let (mut io, mut peer) = pair(1024).await;
        let info = io.connect_info();
        assert_eq!(info.remote_addr, Some(peer.local_addr().unwrap()));
        assert_eq!(info.local_addr, Some(peer.peer_addr().unwrap()));
        peer.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        io.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
    })
    .await
    .unwrap();
}

/// Dropping the connection still delivers what was queued, then EOF.
#[tokio::test]
async fn drop_sends_what_is_queued() {
    tokio::time::timeout(Duration::from_secs(10), async {
        let (mut io, mut peer) = pair(1 << 20).await;
        io.write_all(&[7u8; 100_000]).await.unwrap();
        drop(io);
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), 100_000);
        assert!(got.iter().all(|&b| b == 7));
    })
    .await
    .unwrap();
}

/// A dropped connection whose peer never reads: the writer gives up
/// after [`DROP_LINGER`] and closes the socket (paused time).
#[tokio::test(start_paused = true)]
async fn a_peer_that_never_reads_cannot_hold_the_writer() {
    let (mut io, peer) = pair(64 << 20).await;
    // far more than the kernel buffers of a loopback pair hold
    io.write_all(&vec![1u8; 32 << 20]).await.unwrap();
    let shared = io.shared.clone();
    drop(io);
    let waited = tokio::time::timeout(DROP_LINGER * 2, async {
        loop {
            if shared.lock().closed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "the writer must stop within the linger time"
    );
    let st = shared.lock();
    assert_eq!(
        st.error.as_ref().map(|e| e.0),
        Some(io::ErrorKind::TimedOut)
    );
    drop(st);
    drop(peer);
}

/// Once the peer is gone, writes end in an error instead of queueing
/// forever.
#[tokio::test]
async fn a_dead_peer_turns_into_an_error() {
    tokio::time::timeout(Duration::from_secs(10), async {
        let (mut io, peer) = pair(4096).await;
        drop(peer);
        let chunk = [0u8; 4096];
        let mut failed = false;
        for _ in 0..10_000 {
            if io.write_all(&chunk).await.is_err() {
                failed = true;
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(failed, "writes to a closed peer must fail");
        assert!(io.flush().await.is_err());
    })
    .await
    .unwrap();
}
