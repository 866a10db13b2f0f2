//! The `otlp` feature: the get path's spans exported over OTLP/gRPC.
//!
//! - **What is exported**: the spans of this workspace's crates at
//!   `debug` and above (`grpc`, `get`, `peer_fetch`, `fetch`, `load`:
//!   `cache_grpc::trace_context` and cache-core's `group/spans.rs`), and
//!   other crates' warnings within them; never OpenTelemetry's own
//!   (exporting would trace itself). This filter is the exporter's own,
//!   beside the log lines' `--log` filter: `--log info` keeps the logs
//!   quiet while every span is exported.
//! - **Ids**: the `tracing-opentelemetry` layer gives every span its ids;
//!   cache-grpc's `otel` feature (turned on by `otlp`) parents a request's
//!   span on its received `traceparent` and sends a hop's own span id to
//!   the owner, so client, node, owner and load are one trace.
//! - **Sampling**: `--otlp-sample-ratio` of the traces this node starts; a
//!   request with a `traceparent` follows its caller's sampled flag
//!   (OpenTelemetry's parent-based sampler).
//! - **Batching**: spans are queued and sent in batches by the SDK's
//!   background thread (`OTEL_BSP_*` variables tune it: every 5 s by
//!   default, at most 2048 queued; a full queue drops spans rather than
//!   slowing requests). The gRPC channel lives on the node's runtime,
//!   which is why the exporter is built inside it; at exit
//!   [`Exporter::shutdown`] sends what is left, off the runtime's threads,
//!   within [`SHUTDOWN_TIMEOUT`].
//!
//! The endpoint is plaintext HTTP/2 (`http://`): this build has no TLS for
//! the exporter; an `https://` endpoint is refused at start.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};

use super::traces::{BoxLayer, OtlpSettings};
use crate::Error;

/// The longest wait at exit for the last spans to be sent.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The tracer provider: owns the exporter and its batching thread.
#[derive(Debug)]
pub struct Exporter {
    provider: SdkTracerProvider,
}

/// Builds the exporter for `settings` and the layer that feeds it. Must
/// be called inside a tokio runtime (the exporter's channel spawns its
/// connection task there; it connects lazily, so a collector that is not
/// up yet is not an error).
pub fn start(settings: &OtlpSettings) -> Result<(Exporter, BoxLayer), Error> {
    let exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(settings.endpoint.clone())
        .build()
        .map_err(|e| Error::config(format!("--otlp-endpoint {}: {e}", settings.endpoint)))?;
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(settings.sample_ratio)));
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler)
        .with_resource(
            Resource::builder()
                .with_service_name(settings.service_name.clone())
                .build(),
        )
        .build();
    let tracer = provider.tracer("groupcache");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        // Busy/idle times cost two clock reads per poll of every span.
        .with_tracked_inactivity(false)
        .with_filter(exported())
        .boxed();
    Ok((Exporter { provider }, layer))
}

/// Which spans (and events within them) the exporter sees; see the
/// [module docs](self).
fn exported() -> Targets {
    Targets::new()
        .with_default(LevelFilter::WARN)
        .with_target("cache_core", LevelFilter::DEBUG)
        .with_target("cache_grpc", LevelFilter::DEBUG)
        .with_target("groupcache", LevelFilter::INFO)
        .with_target("opentelemetry", LevelFilter::OFF)
}

impl Exporter {
    /// Sends the spans still queued and stops the exporter, within
    /// [`SHUTDOWN_TIMEOUT`]. The SDK's shutdown blocks until its thread has
    /// exported, and that export needs this runtime to drive the gRPC
    /// channel: so it runs on a blocking thread, never on a runtime thread
    /// (with `--threads 1` that would deadlock).
    pub async fn shutdown(self) {
        let provider = self.provider;
        let done =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT))
                .await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "traces: the last spans were not all exported")
            }
            Err(e) => tracing::warn!(error = %e, "traces: the exporter's shutdown failed"),
        }
    }
}
