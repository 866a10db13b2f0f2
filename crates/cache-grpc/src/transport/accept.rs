//! Taking connections off the listener, for both transports: a cap on the
//! connections open at once, exponential backoff on accept errors, and
//! log lines about either at most once a second.
//!
//! At the open-file limit (`EMFILE`) `accept` fails at once, every time,
//! until a descriptor is freed: retrying in a loop burns a core and floods
//! the log. The backoff doubles from [`Backoff::MIN`] to [`Backoff::MAX`]
//! while accepts fail and starts over after one succeeds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tonic::transport::server::TcpConnectInfo;

use crate::log_limit::RateLimited;

/// How often an accept error or a refused connection is logged at most.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// Accepts connections while fewer than `max` are open.
#[derive(Debug)]
pub(crate) struct Acceptor {
    listener: TcpListener,
    /// The listener's address, for every connection's [`TcpConnectInfo`].
    local: Option<SocketAddr>,
    /// Connections open: one per live [`Slot`]. Shared with the slots,
    /// touched once per connection (not per request).
    open: Arc<AtomicUsize>,
    max: usize,
    backoff: Backoff,
    /// Accept errors, logged at most once a second.
    errors: RateLimited,
    /// Connections closed at once for being over `max`, logged likewise.
    refused: RateLimited,
}

/// A connection taken off the listener.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) socket: TcpStream,
    /// Its addresses, given to each of its requests (tonic's
    /// `Request::remote_addr` reads them).
    pub(crate) info: TcpConnectInfo,
    /// Its place under the cap: held until the connection ends.
    pub(crate) slot: Slot,
}

/// One open connection's place under the cap; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Acceptor {
    /// Takes connections off `listener` while fewer than `max` are open,
    /// counted in `open` (which other acceptors may share).
    pub(crate) fn new(listener: TcpListener, max: usize, open: Arc<AtomicUsize>) -> Self {
        Acceptor {
            local: listener.local_addr().ok(),
            listener,
            open,
            max,
            backoff: Backoff::default(),
            errors: RateLimited::new(LOG_EVERY),
            refused: RateLimited::new(LOG_EVERY),
        }
    }

    /// The next connection under the cap, with `TCP_NODELAY` set (small
    /// answers must not wait ~40 ms for Nagle). A connection over the cap
    /// is closed at once (the client sees its connection reset or closed
    /// before any HTTP/2 byte); an accept error waits out the backoff.
    pub(crate) async fn accept(&mut self) -> Accepted {
        loop {
            match self.listener.accept().await {
                Ok((socket, peer)) => {
                    self.backoff.reset();
                    if self.open.load(Ordering::Relaxed) >= self.max {
                        if let Some(suppressed) = self.refused.due(Instant::now()) {
                            tracing::warn!(
                                %peer,
                                max_connections = self.max,
                                suppressed,
                                "too many connections open: closing a new one"
                            );
                        }
                        drop(socket);
                        continue;
                    }
                    self.open.fetch_add(1, Ordering::Relaxed);
                    let _ = socket.set_nodelay(true);
                    return Accepted {
                        socket,
                        info: TcpConnectInfo {
                            local_addr: self.local,
                            remote_addr: Some(peer),
                        },
                        slot: Slot(self.open.clone()),
                    };
                }
                Err(e) => {
                    let wait = self.backoff.next();
                    if let Some(suppressed) = self.errors.due(Instant::now()) {
                        tracing::warn!(
                            error = %e,
                            retry_in = ?wait,
                            suppressed,
                            "accept failed (at the open-file limit?)"
                        );
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// Exponential backoff between failed accepts.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    /// The last wait (`None`: the last accept succeeded).
    last: Option<Duration>,
}

impl Backoff {
    /// The first wait after an accept error.
    pub(crate) const MIN: Duration = Duration::from_millis(5);
    /// The longest wait.
    pub(crate) const MAX: Duration = Duration::from_secs(1);

    /// The wait after one more failure: twice the last, within bounds.
    pub(crate) fn next(&mut self) -> Duration {
        let wait = self.last.map_or(Self::MIN, |d| (d * 2).min(Self::MAX));
        self.last = Some(wait);
        wait
    }

    /// An accept succeeded: the next failure waits [`Backoff::MIN`].
    pub(crate) fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits double from 5 ms up to 1 s and start over after a success.
    #[test]
    fn the_backoff_is_exponential_and_bounded() {
        let mut b = Backoff::default();
        let waits: Vec<_> = (0..10).map(|_| b.next().as_millis()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.reset();
        assert_eq!(b.next(), Backoff::MIN);
    }

    /// Past the cap a new connection is closed at once; when one closes
    /// its place is free again.
    #[tokio::test]
    async fn connections_over_the_cap_are_closed() {
        use tokio::io::AsyncReadExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut acceptor = Acceptor::new(listener, 1, Arc::default());
        let _first = TcpStream::connect(addr).await.unwrap();
        let first = acceptor.accept().await;
        assert_eq!(first.info.local_addr, Some(addr));
        assert!(first.info.remote_addr.is_some());
        let mut second = TcpStream::connect(addr).await.unwrap();
        let third = TcpStream::connect(addr).await.unwrap();
        let accepting = tokio::spawn(async move {
            let got = acceptor.accept().await;
            (acceptor, got)
        });
        // The second is closed unread; a read sees the end (or a reset).
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(10), second.read(&mut buf))
            .await
            .expect("the connection over the cap was left open");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        assert!(!accepting.is_finished());
        drop(first.slot);
        // The third arrived after the second, in the backlog; it is
        // accepted once the place is free (or closed if it was taken
        // before the slot was dropped: then a fourth is accepted).
        drop(third);
        let _fourth = TcpStream::connect(addr).await.unwrap();
        let (_acceptor, _accepted) = tokio::time::timeout(Duration::from_secs(10), accepting)
            .await
            .expect("no connection accepted after a place was freed")
            .unwrap();
    }
}
