//! The get path's spans and trace context, with in-process fake peers and
//! a test layer capturing every span (name, fields, parent):
//!
//! - each get has a `get` span whose `outcome` says how it was answered
//!   (`hit`, `load`, `peer`, `fallback`, `takeover`, `not_found`, `error`);
//! - a loader call has a `load` span, a child of the get that caused it
//!   (also across the flight's spawned task), `fallback = true` when the
//!   owner could not answer; a peer's fetch a `fetch` span;
//! - a warm takeover has a `takeover` span (previous owner, outcome);
//! - the trace context of a get reaches its peer client and, on the owner,
//!   its loader.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cache_core::{GroupBuilder, LoadContext, Loaded, TraceContext, getter_fn};
use common::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry};

const MB: u64 = 1 << 20;

/// One captured span.
#[derive(Debug, Clone)]
struct Captured {
    name: &'static str,
    parent: Option<u64>,
    fields: HashMap<&'static str, String>,
}

/// Every span opened since the last [`Spans::take`], with its id. The
/// registry reuses the id of a closed span, so fields recorded later go to
/// the latest span of that id.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(u64, Captured)>>>);

impl Spans {
    fn named(&self, name: &str) -> Vec<(u64, Captured)> {
        let all = self.0.lock().unwrap();
        all.iter()
            .filter(|(_, s)| s.name == name)
            .cloned()
            .collect()
    }

    fn take(&self) -> Vec<(u64, Captured)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

struct Fields<'a>(&'a mut HashMap<&'static str, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        let parent = ctx
            .span(id)
            .and_then(|s| s.parent())
            .map(|p| p.id().into_u64());
        let span = Captured {
            name: attrs.metadata().name(),
            parent,
            fields,
        };
        self.0.lock().unwrap().push((id.into_u64(), span));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut all = self.0.lock().unwrap();
        if let Some((_, span)) = all.iter_mut().rev().find(|(i, _)| *i == id.into_u64()) {
            values.record(&mut Fields(&mut span.fields));
        }
    }
}

/// Held by every test of this file for its whole run: `tracing` caches
/// each callsite's interest process-wide, and a test reaching a span's
/// callsite on another thread while this thread's capturing subscriber is
/// being registered can leave that span disabled here (seen as a missing
/// `fetch` span in about one run in two). One test at a time, no race.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}

/// Installs a capturing subscriber on this thread (the tests' runtime is
/// current-thread: the flights' tasks run here too).
fn capture() -> (Spans, tracing::subscriber::DefaultGuard) {
    let spans = Spans::default();
    let subscriber = Registry::default().with(spans.clone());
    (spans, tracing::subscriber::set_default(subscriber))
}

/// The one span of `name`, or a panic listing what there is.
fn only(spans: &[(u64, Captured)], name: &str) -> (u64, Captured) {
    let found: Vec<_> = spans.iter().filter(|(_, s)| s.name == name).collect();
    assert_eq!(found.len(), 1, "spans named {name}: {spans:#?}");
    found[0].clone()
}

fn field<'a>(span: &'a Captured, name: &str) -> &'a str {
    span.fields.get(name).map_or("", String::as_str)
}

/// Hit, load, peer, fallback, not found and error each end up in the
/// get's `outcome`; loads are children of their get, fallbacks marked.
#[tokio::test]
async fn each_way_a_get_ends_is_its_outcome() {
    let _serial = one_at_a_time().await;
    let (spans, _guard) = capture();
    let up = FakePeer::new("b", Behaviour::Up { qps: 1.0 });
    let down = FakePeer::new("c", Behaviour::Down);
    let calls = counter();
    let g = GroupBuilder::new("g", MB, counting_getter("local", Arc::clone(&calls)))
        .peers(PrefixPicker::new("a", &[&up, &down]))
        .promotion(Arc::new(cache_core::promotion::Never))
        .build()
        .unwrap();

    g.get("own").await.unwrap();
    let first = spans.take();
    let (get_id, get) = only(&first, "get");
    let (_, load) = only(&first, "load");
    assert_eq!(
        (field(&get, "group"), field(&get, "outcome")),
        ("g", "load")
    );
    assert_eq!(load.parent, Some(get_id), "the load runs under its get");
    assert_eq!(
        (field(&load, "fallback"), field(&load, "outcome")),
        ("false", "ok")
    );

    g.get("own").await.unwrap();
    let hit = spans.take();
    assert_eq!(field(&only(&hit, "get").1, "outcome"), "hit");
    assert!(spans.named("load").is_empty());

    g.get_with("b:1", LoadContext::new()).await.unwrap();
    let peer = spans.take();
    assert_eq!(field(&only(&peer, "get").1, "outcome"), "peer");
    assert!(peer.iter().all(|(_, s)| s.name != "load"), "{peer:#?}");

    g.get("c:1").await.unwrap();
    let fallback = spans.take();
    let (get_id, get) = only(&fallback, "get");
    let (_, load) = only(&fallback, "load");
    assert_eq!(field(&get, "outcome"), "fallback");
    assert_eq!(load.parent, Some(get_id));
    assert_eq!(field(&load, "fallback"), "true");

    g.get("missing").await.unwrap_err();
    let missing = spans.take();
    assert_eq!(field(&only(&missing, "get").1, "outcome"), "not_found");
    assert_eq!(field(&only(&missing, "load").1, "outcome"), "not_found");

    g.get("fail").await.unwrap_err();
    let failed = spans.take();
    let get = only(&failed, "get").1;
    assert_eq!(field(&get, "outcome"), "error");
    assert!(field(&get, "error").contains("database down"), "{get:?}");

    g.fetch_for_peer("own2", LoadContext::new()).await.unwrap();
    let fetched = spans.take();
    let (fetch_id, fetch) = only(&fetched, "fetch");
    assert_eq!(field(&fetch, "outcome"), "load");
    assert_eq!(only(&fetched, "load").1.parent, Some(fetch_id));
    g.fetch_for_peer("own2", LoadContext::new()).await.unwrap();
    assert_eq!(field(&only(&spans.take(), "fetch").1, "outcome"), "hit");
}

/// A warm takeover is the get's outcome `takeover`, with a `takeover`
/// span under the get naming the previous owner and no `load` span; a
/// takeover miss records the previous owner's answer, then the load.
#[tokio::test]
async fn a_takeover_has_its_span() {
    let _serial = one_at_a_time().await;
    let (spans, _guard) = capture();
    let up = FakePeer::new("old", Behaviour::Up { qps: 0.0 });
    let g = GroupBuilder::new("g", MB, counting_getter("local", counter()))
        .peers(WarmUpPicker::new(&up))
        .build()
        .unwrap();
    g.get("moved:1").await.unwrap();
    let hit = spans.take();
    let (get_id, get) = only(&hit, "get");
    let (_, takeover) = only(&hit, "takeover");
    assert_eq!(field(&get, "outcome"), "takeover");
    assert_eq!(takeover.parent, Some(get_id));
    assert_eq!(
        (field(&takeover, "previous"), field(&takeover, "outcome")),
        ("old", "hit")
    );
    assert!(hit.iter().all(|(_, s)| s.name != "load"), "{hit:#?}");

    let down = FakePeer::new("old", Behaviour::Down);
    let g = GroupBuilder::new("g", MB, counting_getter("local", counter()))
        .peers(WarmUpPicker::new(&down))
        .build()
        .unwrap();
    g.fetch_for_peer("moved:1", LoadContext::new())
        .await
        .unwrap();
    let miss = spans.take();
    let (fetch_id, fetch) = only(&miss, "fetch");
    let (_, takeover) = only(&miss, "takeover");
    assert_eq!(field(&fetch, "outcome"), "load");
    assert_eq!(takeover.parent, Some(fetch_id));
    assert_eq!(field(&takeover, "outcome"), "error");
    assert!(
        field(&takeover, "error").contains("refused"),
        "{takeover:?}"
    );
    assert_eq!(only(&miss, "load").1.parent, Some(fetch_id));
}

fn trace() -> TraceContext {
    TraceContext::new([0xab; 16], [0x01; 8], 1)
        .unwrap()
        .with_state(Some("k=v".into()))
}

/// The trace context of a get reaches the owner's loader through the peer
/// client (an in-process mesh of two groups), and this node's loader for a
/// key it owns; a get without one gives the loader none.
#[tokio::test]
async fn the_trace_reaches_the_peer_and_the_loader() {
    let _serial = one_at_a_time().await;
    let seen: Arc<Mutex<Vec<Option<TraceContext>>>> = Arc::default();
    let recording = |seen: &Arc<Mutex<Vec<Option<TraceContext>>>>| {
        let seen = Arc::clone(seen);
        getter_fn(move |key: String, ctx: LoadContext| {
            seen.lock().unwrap().push(ctx.trace().cloned());
            async move { Ok(Loaded::new(key)) }
        })
    };
    let to_b = FakePeer::new("b", Behaviour::Mesh(OnceLock::new()));
    let a = GroupBuilder::new("g", MB, recording(&seen))
        .peers(PrefixPicker::new("a", &[&to_b]))
        .build()
        .unwrap();
    let b = GroupBuilder::new("g", MB, recording(&seen))
        .peers(PrefixPicker::new("b", &[]))
        .build()
        .unwrap();
    if let Behaviour::Mesh(cell) = &to_b.behaviour {
        cell.set(b.clone()).unwrap();
    }

    let ctx = || LoadContext::new().with_trace(Some(trace()));
    a.get_with("b:remote", ctx()).await.unwrap();
    a.get_with("mine", ctx()).await.unwrap();
    a.get("untraced").await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![Some(trace()), Some(trace()), None],
        "the owner's loader, this node's loader, a get without a trace"
    );
}
