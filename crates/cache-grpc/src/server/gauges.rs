//! [`NodeGauges`]: what a running server knows of itself, for `Stats`:
//! what it runs, since when, its open connections and requests in flight,
//! its resident memory.
//!
//! The counters are the ones the server keeps anyway (the accept loops'
//! count of open connections, the shedding budget's permits): reading them
//! costs a `Stats` call a few atomic loads, and the request path nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::middleware::shed::ShedLayer;
use crate::pb;

/// A running server's view of itself. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct NodeGauges {
    version: Arc<str>,
    started: Instant,
    /// Open connections of every listener of the server.
    pub(crate) connections: Arc<AtomicUsize>,
    shed: ShedLayer,
}

impl NodeGauges {
    /// Gauges of a server starting now, running `version`, shedding with
    /// `shed`.
    pub(crate) fn new(version: &str, shed: ShedLayer) -> Self {
        NodeGauges {
            version: Arc::from(version),
            started: Instant::now(),
            connections: Arc::default(),
            shed,
        }
    }

    /// The `Stats` answer's `info`.
    pub(crate) fn info(&self) -> pb::NodeInfo {
        pb::NodeInfo {
            version: self.version.to_string(),
            uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            rss_bytes: rss_bytes().unwrap_or(0),
            connections: self.connections.load(Ordering::Relaxed) as u64,
            requests_in_flight: self.shed.in_flight() as u64,
        }
    }
}

/// This process's resident set size (Linux: `VmRSS` of
/// `/proc/self/status`); `None` elsewhere.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gauges read what they are given: the connection count, the
    /// shedding budget's permits in use, a live process's RSS.
    #[test]
    fn info_reads_the_gauges() {
        let g = NodeGauges::new("test 1.0", ShedLayer::new(8));
        g.connections.store(3, Ordering::Relaxed);
        let info = g.info();
        assert_eq!(info.version, "test 1.0");
        assert_eq!(info.connections, 3);
        assert_eq!(info.requests_in_flight, 0);
        assert!(info.rss_bytes > 1 << 20, "{}", info.rss_bytes);
    }
}
