//! Unit tier: which requests are logged, with which fields, on a paused
//! clock, captured by a test subscriber.

use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

use super::*;

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<(String, String)>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push_str(&format!("{}={} ", field.name(), value));
    }
}

impl<S: Subscriber> Layer<S> for Lines {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut f = Fields(String::new());
        event.record(&mut f);
        let target = event.metadata().target().to_owned();
        self.0.lock().unwrap().push((target, f.0));
    }
}

fn capture(f: impl FnOnce()) -> Vec<(String, String)> {
    let lines = Lines::default();
    let subscriber = Registry::default().with(lines.clone());
    tracing::subscriber::with_default(subscriber, f);
    lines.0.lock().unwrap().clone()
}

const PEER: &str = "127.0.0.1:4000";

#[tokio::test(start_paused = true)]
async fn gets_and_slow_requests_are_logged() {
    let peer = Some(PEER.parse().unwrap());
    let log = AccessLog::off()
        .every_get(true)
        .slow_above(Some(Duration::from_millis(100)));
    let started = Instant::now();
    tokio::time::advance(Duration::from_millis(30)).await;
    let fast = capture(|| log.record(Rpc::Get, "g", "secret-key", Ok(5), started, peer));
    assert_eq!(fast.len(), 1, "{fast:?}");
    let (target, fields) = &fast[0];
    assert_eq!(target, "groupcache::access");
    let hash = format!("xxh3:{:016x}", xxhash_rust::xxh3::xxh3_64(b"secret-key"));
    for want in [
        "rpc=Get",
        "group=g",
        &format!("key={hash}"),
        "code=OK",
        "bytes=5",
        "latency_us=30000",
        &format!("peer={PEER}"),
    ] {
        assert!(fields.contains(want), "{want} in {fields}");
    }
    assert!(!fields.contains("secret-key"), "{fields}");

    // A slow Fetch: only the slow line (Fetch has no access line); its
    // status is named.
    tokio::time::advance(Duration::from_millis(70)).await;
    let slow = capture(|| {
        log.record(
            Rpc::Fetch,
            "g",
            "k",
            Err(tonic::Code::NotFound),
            started,
            peer,
        )
    });
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(slow[0].0, "groupcache::slow");
    assert!(slow[0].1.contains("code=NOT_FOUND") && slow[0].1.contains("rpc=Fetch"));
    // A slow Get: both lines.
    let both = capture(|| log.record(Rpc::Get, "g", "k", Ok(1), started, peer));
    assert_eq!(both.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn keys_and_thresholds() {
    let started = Instant::now();
    let off = AccessLog::off();
    assert!(!off.is_on());
    assert!(capture(|| off.record(Rpc::Get, "g", "k", Ok(1), started, None)).is_empty());
    // Slow only: a fast get logs nothing.
    let slow_only = AccessLog::off().slow_above(Some(Duration::from_secs(1)));
    assert!(slow_only.is_on());
    assert!(capture(|| slow_only.record(Rpc::Get, "g", "k", Ok(1), started, None)).is_empty());
    let length = AccessLog::off().every_get(true).keys(KeyDisplay::Length);
    let l = capture(|| length.record(Rpc::Get, "g", "abcd", Ok(1), started, None));
    assert!(l[0].1.contains("key=len:4"), "{:?}", l);
    let full = AccessLog::off().every_get(true).keys(KeyDisplay::Full);
    let l = capture(|| full.record(Rpc::Get, "g", "abcd", Ok(1), started, None));
    assert!(l[0].1.contains("key=abcd "), "{:?}", l);
}
