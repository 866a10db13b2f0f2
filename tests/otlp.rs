//! OTLP export (feature `otlp`), end to end: two `groupcache serve`
//! processes on 127.0.0.1 export to an OTLP receiver inside this test (a
//! tonic server implementing the collector's `TraceService/Export`), and
//! the spans received make one trace:
//!
//! client's `traceparent` -> the asked node's `grpc` span -> its `get`
//! span -> its `peer_fetch` span -> the owner's `grpc` span -> its `fetch`
//! span -> its `load` span,
//!
//! each the parent of the next, all under the client's trace id. A get
//! without a `traceparent` starts a trace on the asked node that the owner
//! joins. The nodes run on one thread (`--threads 1`) and batch spans for
//! a minute, so the spans arrive only through the exporter's flush at
//! SIGTERM: that shutdown must neither hang nor lose them.
//!
//! Run it with `cargo test --features otlp --test otlp`.
#![cfg(feature = "otlp")]

mod cli_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_grpc::pb::GetRequest;
use cache_grpc::{PeerPool, PoolOptions};
use cli_support::load::client;
use cli_support::*;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use tonic::{Request, Response, Status};

/// The whole test's bound.
const TEST_TIMEOUT: Duration = Duration::from_secs(90);

/// One span as received, with the service that sent it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    /// Empty for a root span.
    parent: String,
    attributes: HashMap<String, String>,
}

/// Every span exported to this receiver.
#[derive(Debug, Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Received>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut all = self.0.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .map(|r| attributes(&r.attributes))
                .and_then(|mut a| a.remove("service.name"))
                .unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                all.push(received(&service, span));
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

fn received(service: &str, span: Span) -> Received {
    Received {
        service: service.to_owned(),
        name: span.name,
        trace_id: hex(&span.trace_id),
        span_id: hex(&span.span_id),
        parent: hex(&span.parent_span_id),
        attributes: attributes(&span.attributes),
    }
}

fn attributes(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter()
        .filter_map(|kv| {
            let value = match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => s.clone(),
                Value::BoolValue(b) => b.to_string(),
                Value::IntValue(i) => i.to_string(),
                other => format!("{other:?}"),
            };
            Some((kv.key.clone(), value))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Receiver {
    /// Serves on a fresh loopback port until `stop` fires; its URL.
    async fn start(&self, stop: tokio::sync::oneshot::Receiver<()>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stop.await;
                }),
        );
        url
    }

    fn trace(&self, trace_id: &str) -> Vec<Received> {
        let all = self.0.lock().unwrap();
        all.iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect()
    }

    fn all(&self) -> Vec<Received> {
        self.0.lock().unwrap().clone()
    }
}

/// The one span of `trace` named `name` whose parent is `parent`.
#[track_caller]
fn child<'a>(trace: &'a [Received], name: &str, parent: &str) -> &'a Received {
    let found: Vec<_> = trace
        .iter()
        .filter(|s| s.name == name && s.parent == parent)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {name} span under {parent:?}, in {trace:#?}"
    );
    found[0]
}

/// `Get` of `key` from `addr`, with these metadata entries.
async fn get(addr: &str, key: &str, metadata: &[(&'static str, &str)]) {
    let mut req = Request::new(GetRequest {
        group: "g".into(),
        key: key.into(),
    });
    for (name, value) in metadata {
        req.metadata_mut().insert(*name, value.parse().unwrap());
    }
    let reply = client(addr).get(req).await.expect("the get is answered");
    assert_eq!(reply.into_inner().value.len(), 16);
}

/// The asked node's spans, the owner's and the load's are one trace with
/// the client's trace id and the right parents; a trace the node starts
/// reaches the owner too; all of it arrives by the flush at SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_from_client_to_source() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let receiver = Receiver::default();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let url = receiver.start(stopped).await;
        let flags: Vec<String> = [
            "--group",
            "g=synthetic:size=16",
            "--threads",
            "1",
            "--otlp-endpoint",
            &url,
            "--otlp-service-name",
            "gc-test",
            "--peer-timeout",
            "5s",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        // Batches are sent only at shutdown (or after a minute).
        let envs = [("OTEL_BSP_SCHEDULE_DELAY", "60000".to_owned())];
        let mut cluster = start_cluster_env(2, &flags, &envs, TempDir::new("otlp")).await;
        let (a, b) = (cluster.nodes[0].addr.clone(), cluster.nodes[1].addr.clone());
        let ring = PeerPool::new(&a, &[a.clone(), b.clone()], PoolOptions::default()).unwrap();
        let mut owned_by_b = (0..)
            .map(|i| format!("k{i}"))
            .filter(|k| ring.owner(k) == b);
        let (traced_key, untraced_key) = (owned_by_b.next().unwrap(), owned_by_b.next().unwrap());

        let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let client_span = "00f067aa0ba902b7";
        let parent = format!("00-{trace_id}-{client_span}-01");
        get(&a, &traced_key, &[("traceparent", &parent)]).await;
        get(&a, &untraced_key, &[]).await;

        for node in &mut cluster.nodes {
            node.sigterm();
        }
        for node in &mut cluster.nodes {
            let code = node.wait_exit(Duration::from_secs(20));
            assert_eq!(
                code,
                Some(0),
                "node {} exits cleanly: {}",
                node.addr,
                node.log_text()
            );
        }

        // The client's trace, link by link.
        let trace = receiver.trace(trace_id);
        let asked = child(&trace, "grpc", client_span);
        assert_eq!(asked.attributes["path"], "/groupcache.v1.Groupcache/Get");
        assert_eq!(asked.attributes["trace_id"], trace_id);
        let get_span = child(&trace, "get", &asked.span_id);
        assert_eq!(get_span.attributes["group"], "g");
        assert_eq!(get_span.attributes["outcome"], "peer");
        let hop = child(&trace, "peer_fetch", &get_span.span_id);
        assert_eq!(
            hop.attributes["span_id"], hop.span_id,
            "the id sent is the span's own"
        );
        assert_eq!(hop.attributes["outcome"], "ok");
        let owner = child(&trace, "grpc", &hop.span_id);
        assert_eq!(owner.attributes["path"], "/groupcache.v1.Groupcache/Fetch");
        let fetch = child(&trace, "fetch", &owner.span_id);
        assert_eq!(fetch.attributes["outcome"], "load");
        let load = child(&trace, "load", &fetch.span_id);
        assert_eq!(load.attributes["outcome"], "ok");
        assert_eq!(load.attributes["fallback"], "false");
        assert_eq!(trace.len(), 6, "nothing else in the trace: {trace:#?}");
        assert!(trace.iter().all(|s| s.service == "gc-test"), "{trace:#?}");

        // A get without a traceparent: a new trace, rooted on the asked
        // node, that the owner's spans join.
        let all = receiver.all();
        let roots: Vec<_> = all
            .iter()
            .filter(|s| s.name == "grpc" && s.parent.is_empty())
            .filter(|s| s.attributes["path"] == "/groupcache.v1.Groupcache/Get")
            .collect();
        assert_eq!(roots.len(), 1, "{roots:#?}");
        let started = receiver.trace(&roots[0].trace_id);
        let get_span = child(&started, "get", &roots[0].span_id);
        let hop = child(&started, "peer_fetch", &get_span.span_id);
        let owner = child(&started, "grpc", &hop.span_id);
        let fetch = child(&started, "fetch", &owner.span_id);
        child(&started, "load", &fetch.span_id);
        let _ = stop.send(());
    })
    .await
    .expect("the test finished in time");
}
