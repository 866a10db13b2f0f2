//! A slow HTTP/1.1 origin for `http://` groups, run inside the test process
//! on 127.0.0.1:0. It answers `GET /k/KEY` with `value-of-KEY` after a fixed
//! delay, or at once after [`Origin::open_gate`], and counts what the nodes
//! asked of it: requests per key, requests in flight (now and at the peak)
//! and requests abandoned by the node before their answer (the connection
//! closed during the delay).
//!
//! Counting at the source is what the tests trust most: it does not depend
//! on the node's own counters. One caveat: a node that cancels a load
//! closes its origin connection a moment after it stops counting the load,
//! so while loads are being cancelled the origin may see a few more
//! requests in flight than the node's limit.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the origin saw; shared by its connection tasks.
#[derive(Default)]
struct Counts {
    /// Requests received per key (the path after `/k/`).
    per_key: Mutex<HashMap<String, usize>>,
    /// Requests in flight per key (entries removed at zero).
    in_flight_keys: Mutex<HashMap<String, usize>>,
    /// Requests received in all.
    total: AtomicUsize,
    /// Requests received and neither answered nor abandoned yet.
    in_flight: AtomicUsize,
    /// The largest `in_flight` ever seen.
    peak: AtomicUsize,
    /// Requests whose connection closed before the answer was due.
    abandoned: AtomicUsize,
}

/// The running origin; its accept loop stops when this is dropped.
pub(crate) struct Origin {
    /// `http://127.0.0.1:PORT`.
    base: String,
    counts: Arc<Counts>,
    /// True once the gate is open: every request is answered at once.
    gate: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The body the origin answers for `key`.
pub(crate) fn origin_value(key: &str) -> Vec<u8> {
    format!("value-of-{key}").into_bytes()
}

impl Origin {
    /// Starts an origin whose every answer comes `delay` after the request
    /// (or at once, after [`Origin::open_gate`]).
    pub(crate) async fn start(delay: Duration) -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let counts = Arc::new(Counts::default());
        let (gate, opened) = watch::channel(false);
        let shared = counts.clone();
        let task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((conn, _)) => {
                        tokio::spawn(serve(conn, delay, opened.clone(), shared.clone()));
                    }
                    // Out of file descriptors (a node without a load limit
                    // opens one connection per load): back off, don't spin.
                    Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        });
        Origin {
            base,
            counts,
            gate,
            task,
        }
    }

    /// From now on every request, waiting or new, is answered at once.
    pub(crate) fn open_gate(&self) {
        self.gate.send_replace(true);
    }

    /// The source spec of a group over this origin.
    pub(crate) fn source(&self) -> String {
        format!("{}/k/{{key}}", self.base)
    }

    /// Requests received for `key`.
    pub(crate) fn requests_for(&self, key: &str) -> usize {
        self.counts.per_key.lock().get(key).copied().unwrap_or(0)
    }

    /// Requests received in all.
    pub(crate) fn total(&self) -> usize {
        self.counts.total.load(Ordering::SeqCst)
    }

    /// Requests being served right now.
    pub(crate) fn in_flight(&self) -> usize {
        self.counts.in_flight.load(Ordering::SeqCst)
    }

    /// Up to `n` of the keys being served right now, sorted.
    pub(crate) fn in_flight_keys(&self, n: usize) -> Vec<String> {
        let mut keys: Vec<String> = self.counts.in_flight_keys.lock().keys().cloned().collect();
        keys.sort();
        keys.truncate(n);
        keys
    }

    /// The most requests ever in flight at once.
    pub(crate) fn peak(&self) -> usize {
        self.counts.peak.load(Ordering::SeqCst)
    }

    /// Requests the node gave up on before their answer.
    pub(crate) fn abandoned(&self) -> usize {
        self.counts.abandoned.load(Ordering::SeqCst)
    }
}

/// One connection: one request (the answer says `connection: close`).
async fn serve(
    mut conn: TcpStream,
    delay: Duration,
    mut gate: watch::Receiver<bool>,
    counts: Arc<Counts>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or("");
    let Some(key) = path.strip_prefix("/k/").map(str::to_owned) else {
        let _ = conn
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        return;
    };
    *counts.per_key.lock().entry(key.clone()).or_default() += 1;
    *counts.in_flight_keys.lock().entry(key.clone()).or_default() += 1;
    counts.total.fetch_add(1, Ordering::SeqCst);
    let now = counts.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    counts.peak.fetch_max(now, Ordering::SeqCst);
    // Wait out the delay or the gate, unless the node closes the connection
    // first (its load was cancelled): it sends nothing more, so a read
    // returns only then (0 bytes, or an error).
    let abandoned = tokio::select! {
        () = tokio::time::sleep(delay) => false,
        _ = gate.wait_for(|open| *open) => false,
        _ = conn.read(&mut buf) => true,
    };
    counts.in_flight.fetch_sub(1, Ordering::SeqCst);
    {
        let mut keys = counts.in_flight_keys.lock();
        if let Some(n) = keys.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                keys.remove(&key);
            }
        }
    }
    if abandoned {
        counts.abandoned.fetch_add(1, Ordering::SeqCst);
        return;
    }
    let body = origin_value(&key);
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    resp.extend_from_slice(&body);
    let _ = conn.write_all(&resp).await;
    let _ = conn.shutdown().await;
}
