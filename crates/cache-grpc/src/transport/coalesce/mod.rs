//! [`CoalescingIo`]: a server connection whose writes are gathered and sent
//! by a writer task, so that the answers to many requests leave in one
//! system call.
//!
//! # Why
//!
//! h2 (under hyper and tonic) keeps a DATA frame of 256 bytes or more out of
//! its write buffer and writes it with its own `writev`, and must flush
//! before it can encode the next frame. Every answer with a value of a
//! few hundred bytes or more therefore costs one `writev` (and on loopback
//! the receiver's TCP work runs in that call too): a large share of a node's
//! CPU (profiles in `docs/bench/profile.md`).
//!
//! # How
//!
//! Writes are copied into a shared buffer and reported done at once; a
//! flush is reported done at once too. A writer task, woken when the buffer
//! goes from empty to non-empty, first gives up its turn twice (it goes to
//! the back of the run queue), then takes the whole buffer and writes it. So it
//! runs after the connection task has handed over every frame it had ready
//! and after the tasks that were already queued when it was woken (on a
//! single-thread runtime: the request tasks of the same read, and the
//! connection task they wake), so one write carries many answers. Nothing
//! waits for a timer: the bytes leave as soon as the writer task gets its
//! third turn.
//!
//! Giving up turns matters even for one client: a gRPC-Go client sends a
//! PING (its bandwidth probe) with every request after an answer, in the
//! same packet. h2 answers the PING while reading, before the request's
//! task has run; without the turns given up, the PING's answer leaves in
//! one `sendto` and the response in a second one.
//!
//! Every byte is copied once more than without it: a cost at large values
//! that the batched writes outweigh down to values of a few KiB (the
//! numbers, and why full frames are not written straight to the socket,
//! are in docs/grpc.md, "Write coalescing").
//!
//! Bounds: the connection waits (back-pressure) while `max_buffer` bytes are
//! queued. A write error is kept and returned by every later write, flush or
//! shutdown. A shutdown waits until the writer has sent everything queued
//! and shut the socket's write side. Dropping the connection lets the writer
//! send what is queued, for at most [`DROP_LINGER`] (like the kernel's
//! lingering of a closed socket's unsent bytes), then stop: a peer that
//! stopped reading cannot keep the writer task alive.

use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Notify;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// After the connection is dropped, how long the writer may still try to
/// send what was queued before it gives up and closes the socket.
pub const DROP_LINGER: Duration = Duration::from_secs(5);

/// How many turns the writer gives up before it takes the buffer. An
/// answer to a request read together with a PING reaches the buffer two
/// turns after the PING's answer (the request task runs, then the
/// connection task encodes what it sent): with one turn, strace still
/// counted 2.0 `sendto` per request at one client; with two, 1.0. Each turn
/// costs one task poll, no system call.
const TURNS_GIVEN: usize = 2;

/// A buffer the writer keeps between rounds is shrunk back to this size
/// when a round made it larger (a large value passed through).
const KEEP_CAPACITY: usize = 64 * 1024;

/// A TCP connection whose writes a writer task sends in batches (see the
/// [module doc](self)). Reads go straight to the socket.
#[derive(Debug)]
pub struct CoalescingIo {
    /// The socket's read side.
    read: OwnedReadHalf,
    /// The buffer and the state shared with the writer task.
    shared: Arc<Shared>,
    /// Queued bytes above which writes wait.
    max_buffer: usize,
    /// Addresses, captured before the socket was split.
    info: TcpConnectInfo,
}

/// What the connection and its writer task share.
#[derive(Debug, Default)]
struct Shared {
    /// The buffer and the flags.
    state: Mutex<State>,
    /// Signalled once, when the connection is dropped, to interrupt a
    /// write that waits for a peer that does not read.
    dropped: Notify,
}

impl Shared {
    fn lock(&self) -> parking_lot::MutexGuard<'_, State> {
        self.state.lock()
    }
}

/// The buffer and the flags, under the lock.
#[derive(Debug, Default)]
struct State {
    /// Bytes written by the connection and not yet taken by the writer.
    buf: BytesMut,
    /// The writer task, parked until there are bytes (or a close).
    writer: Option<Waker>,
    /// The connection task, parked on a full buffer or on a shutdown.
    conn: Option<Waker>,
    /// The first write error, returned from then on.
    error: Option<(io::ErrorKind, String)>,
    /// The connection asked for a shutdown or was dropped.
    closing: bool,
    /// The writer sent everything and shut the write side down.
    closed: bool,
    /// The connection was dropped: the writer's I/O is bounded by
    /// [`DROP_LINGER`].
    dropped: bool,
    /// How many writes the writer task has made (one per batch).
    sends: u64,
}

impl State {
    fn error(&self) -> Option<io::Error> {
        self.error
            .as_ref()
            .map(|(kind, msg)| io::Error::new(*kind, msg.clone()))
    }
}

impl CoalescingIo {
    /// Wraps `stream` and spawns its writer task on the current tokio
    /// runtime. `max_buffer` (at least 1) is the number of queued bytes
    /// above which writes wait for the writer.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn new(stream: TcpStream, max_buffer: usize) -> CoalescingIo {
        let info = stream.connect_info();
        let (read, write) = stream.into_split();
        let shared = Arc::new(Shared::default());
        tokio::spawn(write_loop(shared.clone(), write));
        CoalescingIo {
            read,
            shared,
            max_buffer: max_buffer.max(1),
            info,
        }
    }

    /// Queues as much of `bufs` as fits; wakes the writer if it was idle.
    fn queue(&self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        let mut st = self.shared.lock();
        if let Some(e) = st.error() {
            return Poll::Ready(Err(e));
        }
        if st.closing {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        }
        let room = self.max_buffer.saturating_sub(st.buf.len());
        if room == 0 {
            st.conn = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let was_empty = st.buf.is_empty();
        let mut left = room;
        for b in bufs {
            let n = b.len().min(left);
            st.buf.extend_from_slice(&b[..n]);
            left -= n;
            if left == 0 {
                break;
            }
        }
        let writer = if was_empty { st.writer.take() } else { None };
        drop(st);
        if let Some(w) = writer {
            w.wake();
        }
        Poll::Ready(Ok(room - left))
    }
}

impl Connected for CoalescingIo {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for CoalescingIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for CoalescingIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.queue(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.queue(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    /// Done at once: the writer task sends what is queued on its next turn.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.shared.lock().error() {
            Some(e) => Poll::Ready(Err(e)),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Waits until the writer has sent everything and shut the write side.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.shared.lock();
        if st.closed {
            return Poll::Ready(st.error().map_or(Ok(()), Err));
        }
        st.closing = true;
        st.conn = Some(cx.waker().clone());
        let writer = st.writer.take();
        drop(st);
        if let Some(w) = writer {
            w.wake();
        }
        Poll::Pending
    }
}

impl Drop for CoalescingIo {
    /// Lets the writer send what is queued, then stop.
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.closing = true;
        st.dropped = true;
        let writer = st.writer.take();
        drop(st);
        self.shared.dropped.notify_one();
        if let Some(w) = writer {
            w.wake();
        }
    }
}

/// The writer task: takes the whole buffer whenever it is not empty and
/// writes it; on close, sends what is left and shuts the write side down.
async fn write_loop(shared: Arc<Shared>, mut socket: OwnedWriteHalf) {
    let mut out = BytesMut::new();
    loop {
        poll_fn(|cx| {
            let mut st = shared.lock();
            if !st.buf.is_empty() || st.closing {
                return Poll::Ready(());
            }
            st.writer = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
        // Let the tasks queued before this one (and those they wake) add
        // their writes first.
        for _ in 0..TURNS_GIVEN {
            YieldOnce(false).await;
        }
        // Only this task empties the buffer: it still holds bytes, or the
        // connection is closing.
        let closing = {
            let mut st = shared.lock();
            if st.buf.is_empty() {
                true
            } else {
                st.sends += 1;
                std::mem::swap(&mut out, &mut st.buf);
                let conn = st.conn.take();
                drop(st);
                if let Some(c) = conn {
                    c.wake();
                }
                false
            }
        };
        let result = if closing {
            bounded(&shared, socket.shutdown()).await
        } else {
            bounded(&shared, socket.write_all(&out)).await
        };
        out.clear();
        if out.capacity() > KEEP_CAPACITY {
            out = BytesMut::new();
        }
        let failed = result.is_err();
        if closing || failed {
            let mut st = shared.lock();
            if let Err(e) = result {
                st.error.get_or_insert((e.kind(), e.to_string()));
            }
            st.closed = true;
            let conn = st.conn.take();
            drop(st);
            if let Some(c) = conn {
                c.wake();
            }
            return;
        }
    }
}

/// Gives the task's turn once: wakes itself and returns `Pending`, so the
/// scheduler puts it at the back of its run queue. (Not
/// `tokio::task::yield_now`, which also polls the I/O driver first: one
/// more `epoll_wait` per batch.)
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Runs one write of the writer task: unbounded while the connection
/// lives, at most [`DROP_LINGER`] from the moment it is dropped.
async fn bounded(shared: &Shared, io: impl Future<Output = io::Result<()>>) -> io::Result<()> {
    tokio::pin!(io);
    if !shared.lock().dropped {
        tokio::select! {
            result = &mut io => return result,
            () = shared.dropped.notified() => {}
        }
    }
    match tokio::time::timeout(DROP_LINGER, io).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the peer did not read the last bytes of a closed connection",
        )),
    }
}

#[cfg(test)]
mod tests;
