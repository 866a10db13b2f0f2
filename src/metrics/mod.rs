//! Prometheus metrics of a node: `serve --metrics-listen ADDR` serves
//! `/metrics` (the Prometheus text format, 0.0.4) and `/healthz` on an
//! HTTP/1.1 listener of its own.
//!
//! Nothing here counts anything. Every figure is read at scrape time from
//! what the engine and the network crate already keep: each group's
//! [`StatsSnapshot`](cache_core::StatsSnapshot) (its counters, both caches,
//! and its latency histograms), the node's
//! [`LoadLimiter`], its
//! [`RequestStats`] (requests in flight and
//! shed) and its [`PeerPool`] (the ring, each peer's
//! breaker and fetch latencies). So a scrape never double-counts, and the
//! request path pays for no metric of its own: the counters and histograms
//! it feeds are relaxed atomic adds on per-thread stripes, timed with one
//! clock read per get.
//!
//! [`NodeCollector`] turns those into metric families through
//! `prometheus-client`'s [`Collector`]
//! ([`groups`] for the per-group families, [`node`] for the node-wide
//! ones, [`encode`] for one sample); [`Exporter`] holds the
//! registry it is in and renders it; [`http`] serves it.
//!
//! Names follow the groupcache exporters (`groupcache_gets_total{group}`,
//! `groupcache_cache_bytes{group,type}`, ...), listed with the rest in the
//! README's "Metrics" section. Counters end in `_total` and durations are
//! in seconds, as Prometheus expects.

pub mod encode;
pub mod groups;
pub mod http;
pub mod node;
pub mod status;

use cache_core::{LoadLimiter, Registry};
use cache_grpc::{PeerPool, RequestStats};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

/// The `Content-Type` of a scrape's answer.
pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// What a node's metrics are read from; see the [module docs](self).
/// Every field is a cheap handle shared with the running node.
#[derive(Debug, Clone)]
pub struct NodeCollector {
    /// The node's groups: counters, caches, get and load latencies.
    pub registry: Registry,
    /// The ring and the peers: health, breaker counters, fetch latencies.
    pub pool: PeerPool,
    /// Requests in flight and shed by the server.
    pub requests: RequestStats,
    /// The node's one bound on source loads (shared by its groups).
    pub limiter: LoadLimiter,
}

impl Collector for NodeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        groups::encode(&self.registry, &mut encoder)?;
        node::encode(self, &mut encoder)
    }
}

/// A registry holding one [`NodeCollector`], rendered at each scrape,
/// and the node's [status page](status), if it has one.
#[derive(Debug)]
pub struct Exporter {
    registry: prometheus_client::registry::Registry,
    status: Option<status::StatusPage>,
}

impl Exporter {
    /// An exporter of `collector`'s metrics.
    pub fn new(collector: NodeCollector) -> Self {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(collector));
        Exporter {
            registry,
            status: None,
        }
    }

    /// Serves `page` at `/status` too.
    pub fn with_status(mut self, page: status::StatusPage) -> Self {
        self.status = Some(page);
        self
    }

    /// The status page, rendered now, if there is one.
    pub fn status_page(&self) -> Option<String> {
        self.status.as_ref().map(status::StatusPage::render)
    }

    /// Every metric, in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::with_capacity(16 << 10);
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests;
