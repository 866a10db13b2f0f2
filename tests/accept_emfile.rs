//! At the open-file limit a node's accept loop backs off exponentially and
//! logs at most once a second, then serves the waiting client as soon as a
//! descriptor is free. Its own test binary: it lowers this process's
//! open-file limit.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache_core::{GroupBuilder, Loaded, Registry, getter_fn};
use cache_grpc::{PeerPool, ServerOptions, serve};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Log output, shared with the test.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// The lines logged so far that contain `needle`.
    fn lines(&self, needle: &str) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock())
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

/// The `suppressed=N` of a log line.
fn suppressed(line: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("suppressed="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no suppressed= in {line:?}"))
}

/// With every descriptor taken, a client waits in the backlog while
/// `accept` fails with EMFILE: the second "accept failed" line comes after
/// about a second and counts the attempts held back in between, which
/// the backoff (5 ms doubling) keeps to a handful (a fixed 50 ms wait made
/// 20 lines a second; no wait, a busy loop). Once descriptors are free
/// again the client is accepted and gets the server's SETTINGS.
#[tokio::test]
async fn at_the_open_file_limit_accept_backs_off_and_logs_once_a_second() {
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .init();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let registry = Registry::new();
    let getter = getter_fn(|key: String, _| async move { Ok(Loaded::new(Bytes::from(key))) });
    registry
        .add(GroupBuilder::new("g", 1 << 20, getter).build().unwrap())
        .unwrap();
    let me = addr.to_string();
    let pool = PeerPool::new(&me, [me.as_str()], Default::default()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        registry,
        pool,
        ServerOptions::default(),
        async {
            let _ = stopped.await;
        },
    ));

    // Take every descriptor under a lowered soft limit (the kernel still
    // completes the client's handshake: it waits in the backlog).
    let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap();
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    rlimit::Resource::NOFILE.set(open + 32, hard).unwrap();
    let mut client = TcpStream::connect(addr).await.unwrap();
    let mut filler = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        filler.push(f);
    }

    // Bounded polling of the log: two lines, a second or so apart.
    let lines = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let lines = logs.lines("accept failed");
            if lines.len() >= 2 {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("accept errors were not logged");
    drop(filler);
    rlimit::Resource::NOFILE.set(soft, hard).unwrap();
    assert_eq!(suppressed(&lines[0]), 0, "{lines:?}");
    let held_back = suppressed(&lines[1]);
    assert!(
        (1..=10).contains(&held_back),
        "{held_back} failed accepts in the second after the first: {lines:?}"
    );

    // The waiting client is accepted (within the longest backoff) and
    // gets the server's SETTINGS frame.
    client
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut head = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(10), client.read_exact(&mut head))
        .await
        .expect("the waiting client was not served")
        .unwrap();
    assert_eq!(head[3], 4, "the server's first frame is SETTINGS");
    let _ = stop.send(());
    server.abort();
}
