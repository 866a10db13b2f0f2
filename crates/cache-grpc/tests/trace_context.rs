//! W3C trace context across the peer hop, over real gRPC on loopback
//! (2 nodes, both server transports):
//!
//! - the key's owner receives a `traceparent` of the trace the client
//!   sent, under a new parent (the asking node's `peer_fetch` span), and
//!   the client's `tracestate` unchanged: its loader sees that context;
//! - the asking node's `peer_fetch` span records that parent as its
//!   `span_id`, and the owner's `grpc` span records it as its `parent_id`,
//!   so the two nodes' logs can be joined;
//! - a node that owns the key hands the client's context to its loader as
//!   it came;
//! - junk, upper-case hex or no header at all: no context, and the get is
//!   served as usual.
//!
//! No OpenTelemetry layer is installed: with or without cache-grpc's `otel`
//! feature, hop ids are drawn ones.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cache_grpc::Transport;
use cache_grpc::pb::GetRequest;
use cache_grpc::trace_context::Hex;
use common::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

/// The fields of one captured span.
type Fields = HashMap<&'static str, String>;

/// A captured span: its id, name and fields.
type Captured = (u64, &'static str, Fields);

/// The `grpc` and `peer_fetch` spans of every node (the nodes run on
/// their own runtimes' threads: a global subscriber sees them all), by id
/// (the latest span of an id: the registry reuses ids of closed spans).
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<Captured>>>);

impl Spans {
    /// The spans named `name` whose `field` is `value`.
    fn find(&self, name: &str, field: &str, value: &str) -> Vec<Fields> {
        let all = self.0.lock().unwrap();
        all.iter()
            .filter(|(_, n, f)| *n == name && f.get(field).map(String::as_str) == Some(value))
            .map(|(_, _, f)| f.clone())
            .collect()
    }
}

struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        let name = attrs.metadata().name();
        if name == "grpc" || name == "peer_fetch" {
            let mut fields = Fields::new();
            attrs.record(&mut Visitor(&mut fields));
            self.0.lock().unwrap().push((id.into_u64(), name, fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut all = self.0.lock().unwrap();
        if let Some((_, _, fields)) = all.iter_mut().rev().find(|(i, _, _)| *i == id.into_u64()) {
            values.record(&mut Visitor(fields));
        }
    }
}

/// The capture, installed once for this test binary (before any node
/// starts), for this workspace's debug spans only.
fn spans() -> &'static Spans {
    static SPANS: OnceLock<Spans> = OnceLock::new();
    SPANS.get_or_init(|| {
        let spans = Spans::default();
        let filter = Targets::new()
            .with_target("cache_grpc", LevelFilter::DEBUG)
            .with_target("cache_core", LevelFilter::DEBUG);
        let subscriber = Registry::default().with(spans.clone().with_filter(filter));
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
        spans
    })
}

/// A `Get` of `key` carrying these metadata entries.
fn traced_get(key: &str, metadata: &[(&'static str, &str)]) -> tonic::Request<GetRequest> {
    let mut req = tonic::Request::new(GetRequest {
        group: GROUP.into(),
        key: key.into(),
    });
    for (name, value) in metadata {
        req.metadata_mut().append(*name, value.parse().unwrap());
    }
    req
}

/// A cluster of 2 on `transport`.
async fn two_nodes(transport: Transport) -> (cache_grpc::LocalCluster, Recorder) {
    let mut opts = patient();
    opts.server = opts
        .server
        .to_builder()
        .transport(transport)
        .build()
        .unwrap();
    cluster_with(2, opts).await
}

const STATE: &str = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";

/// The owner's loader gets the client's trace under the asking node's hop
/// span, with the client's state; the hop's id is on both nodes' spans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_receives_the_clients_trace_under_the_hop() {
    let spans = spans();
    for (transport, trace_id) in [
        (Transport::H2, "0af7651916cd43dd8448eb211c80319c"),
        (Transport::Hyper, "1af7651916cd43dd8448eb211c80319d"),
    ] {
        let (cluster, recorder) = two_nodes(transport).await;
        bounded(async {
            let client_span = "b7ad6b7169203331";
            let key = key_owned_by(&cluster, 1, "traced-");
            let parent = format!("00-{trace_id}-{client_span}-01");
            let req = traced_get(&key, &[("traceparent", &parent), ("tracestate", STATE)]);
            let value = cluster.client(0).get(req).await.unwrap().into_inner().value;
            assert_eq!(value, value_of(&key));

            let loads = recorder.loads_of(&key);
            assert_eq!(loads.len(), 1, "{loads:?}");
            assert_eq!(loads[0].node, 1, "loaded by its owner");
            let seen = loads[0]
                .trace
                .clone()
                .expect("the owner's loader has a context");
            assert_eq!(Hex(seen.trace_id()).to_string(), trace_id, "{transport:?}");
            let hop_id = Hex(seen.parent_id()).to_string();
            assert_ne!(
                hop_id, client_span,
                "the owner's parent is the hop, not the client"
            );
            assert_ne!(hop_id, "0000000000000000");
            assert!(seen.sampled(), "the flags pass on");
            assert_eq!(seen.state(), Some(STATE), "tracestate passes through");

            // Logs can be joined: the hop's span id on both sides.
            let hops = spans.find("peer_fetch", "trace_id", trace_id);
            assert_eq!(hops.len(), 1, "{hops:?}");
            assert_eq!(hops[0]["span_id"], hop_id);
            assert_eq!(hops[0]["outcome"], "ok");
            let served = spans.find("grpc", "trace_id", trace_id);
            let paths: Vec<_> = served.iter().map(|s| s["path"].as_str()).collect();
            assert_eq!(
                paths,
                [
                    "/groupcache.v1.Groupcache/Get",
                    "/groupcache.v1.Groupcache/Fetch"
                ],
                "{served:?}"
            );
            assert_eq!(served[0]["parent_id"], client_span);
            assert_eq!(served[1]["parent_id"], hop_id);
        })
        .await;
        cluster.shutdown().await.unwrap();
    }
}

/// A node that owns the key gives its loader the client's context as it
/// came (no hop, so the same parent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_asked_directly_keeps_the_clients_parent() {
    spans();
    let (cluster, recorder) = two_nodes(Transport::H2).await;
    bounded(async {
        let key = key_owned_by(&cluster, 0, "direct-");
        let parent = "00-2af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
        let req = traced_get(&key, &[("traceparent", parent)]);
        cluster.client(0).get(req).await.unwrap();
        let seen = recorder.loads_of(&key)[0].trace.clone().unwrap();
        assert_eq!(
            &cache_grpc::trace_context::format_traceparent(&seen)[..],
            parent.as_bytes()
        );
        assert!(!seen.sampled());
        assert_eq!(seen.state(), None);
    })
    .await;
    cluster.shutdown().await.unwrap();
}

/// Junk, upper-case hex, a state without a parent, or no header: the get is
/// served as usual and nobody gets a context (on the owner either).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_or_missing_context_is_no_context() {
    spans();
    let (cluster, recorder) = two_nodes(Transport::H2).await;
    bounded(async {
        let upper = "00-3AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01";
        let cases: [&[(&'static str, &str)]; 4] = [
            &[("traceparent", "00-not-a-trace-01")],
            &[("traceparent", upper)],
            &[("tracestate", STATE)],
            &[],
        ];
        for (i, metadata) in cases.into_iter().enumerate() {
            for owner in [0, 1] {
                let key = key_owned_by(&cluster, owner, &format!("untraced{i}-"));
                let reply = cluster.client(0).get(traced_get(&key, metadata)).await;
                assert_eq!(reply.unwrap().into_inner().value, value_of(&key));
                let loads = recorder.loads_of(&key);
                assert_eq!(loads.len(), 1);
                assert_eq!(loads[0].trace, None, "{metadata:?}, owner {owner}");
            }
        }
    })
    .await;
    cluster.shutdown().await.unwrap();
}
