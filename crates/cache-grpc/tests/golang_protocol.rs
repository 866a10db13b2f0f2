//! golang/groupcache's peer protocol, our client against our server, in
//! process on 127.0.0.1 (the real Go nodes are in the root package's
//! `tests/golang_interop.rs`):
//!
//! - a value comes back with the owner's rate; the owner answers from its
//!   loader once, then from its cache;
//! - every failure of the owner, an unknown group, a source's NOT_FOUND,
//!   is `Unavailable` at the requester (so the group loads the key
//!   itself, as a Go node does), and the server's status says which;
//! - a value above the requester's limit is `ValueTooLarge`, passed on;
//! - a refused connection fails at once, a peer that accepts and never
//!   answers within the fetch timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cache_core::{Error, GroupBuilder, LoadContext, Loaded, PeerClient, Registry, getter_fn};
use cache_grpc::golang::{DEFAULT_BASE_PATH, GoPeer, GoPeerOptions, GoServerOptions, serve_golang};
use tokio::net::TcpListener;

fn opts(max_value_bytes: usize, fetch_timeout: Duration) -> GoPeerOptions {
    GoPeerOptions {
        connect_timeout: Duration::from_millis(300),
        fetch_timeout,
        max_value_bytes,
        base_path: DEFAULT_BASE_PATH.into(),
    }
}

/// A Go-protocol server for group `g` (key `missing` is NOT_FOUND, `big`
/// is 100 bytes, any other key its own name), its URL and load count.
async fn server() -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let loads = Arc::new(AtomicUsize::new(0));
    let counted = loads.clone();
    let getter = getter_fn(move |key: String, _ctx: LoadContext| {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            match key.as_str() {
                "missing" => Err(Error::NotFound),
                "big" => Ok(Loaded::new(vec![7u8; 100])),
                _ => Ok(Loaded::new(key)),
            }
        }
    });
    let registry = Registry::new();
    registry
        .add(GroupBuilder::new("g", 1 << 20, getter).build().unwrap())
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let limits = GoServerOptions {
        base_path: DEFAULT_BASE_PATH.into(),
        max_connections: 16,
        max_concurrent_requests: 16,
        request_timeout: Duration::from_secs(5),
    };
    let task = tokio::spawn(serve_golang(
        listener,
        registry,
        limits,
        std::future::pending(),
    ));
    (url, loads, task)
}

/// Values, the owner's rate, the owner's cache; failures all `Unavailable`
/// with the server's status in the text; a too-large value passed on.
#[tokio::test]
async fn values_and_failures_cross_the_protocol() {
    let (url, loads, task) = server().await;
    let peer = GoPeer::new(&url, &opts(64, Duration::from_secs(2)));
    let ctx = LoadContext::with_timeout(Duration::from_secs(5));
    for round in 0..2 {
        let got = peer.fetch("g", "a b/c+d", &ctx).await.unwrap();
        assert_eq!(&got.value[..], b"a b/c+d", "round {round}");
        assert!(got.minute_qps.is_some_and(|q| q > 0.0));
        assert_eq!(got.ttl, None);
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1, "the second fetch is a hit");
    for (group, key, status) in [
        ("g", "missing", "404"),
        ("nope", "k", "404 Not Found: no such group: nope"),
    ] {
        match peer.fetch(group, key, &ctx).await {
            Err(Error::Unavailable(text)) => assert!(text.contains(status), "{key}: {text}"),
            other => panic!("{group}/{key}: {other:?}"),
        }
    }
    match peer.fetch("g", "big", &ctx).await {
        Err(Error::ValueTooLarge { limit: 64, .. }) => {}
        other => panic!("big: {other:?}"),
    }
    task.abort();
}

/// A closed port fails at once; a peer that never answers fails at the
/// fetch timeout, not later.
#[tokio::test]
async fn dead_and_hung_peers_fail_within_their_bounds() {
    let ctx = LoadContext::with_timeout(Duration::from_secs(10));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let started = Instant::now();
    let got = GoPeer::new(&url, &opts(64, Duration::from_secs(5)))
        .fetch("g", "k", &ctx)
        .await;
    assert!(matches!(got, Err(Error::Unavailable(_))), "{got:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // Accepts, reads, never answers.
    let hung = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", hung.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = hung.accept().await {
            held.push(conn);
        }
    });
    let started = Instant::now();
    let got = GoPeer::new(&url, &opts(64, Duration::from_millis(300)))
        .fetch("g", "k", &ctx)
        .await;
    let took = started.elapsed();
    match got {
        Err(Error::Unavailable(text)) => assert!(text.contains("fetch timeout"), "{text}"),
        other => panic!("{other:?}"),
    }
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );

    // The caller's deadline, shorter than the fetch timeout, wins.
    let short = LoadContext::with_timeout(Duration::from_millis(100));
    let got = GoPeer::new(&url, &opts(64, Duration::from_secs(5)))
        .fetch("g", "k", &short)
        .await;
    assert_eq!(got.unwrap_err(), Error::DeadlineExceeded);
    holder.abort();
}
