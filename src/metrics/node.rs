//! The node-wide families: requests in flight and shed, the load limiter,
//! the ring, and each peer's health, breaker counters and fetch latency.

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::{NodeCollector, encode};

/// Writes every node-wide family of `node`.
pub fn encode(node: &NodeCollector, encoder: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
    requests(node, encoder)?;
    loads(node, encoder)?;
    peers(node, encoder)
}

/// One unlabelled sample.
fn single(
    encoder: &mut DescriptorEncoder<'_>,
    family: &str,
    help: &str,
    kind: MetricType,
    value: u64,
) -> std::fmt::Result {
    let mut metric = encoder.encode_descriptor(family, help, None, kind)?;
    encode::value(&mut metric, kind, value)
}

/// The server's requests (shedding layer).
fn requests(node: &NodeCollector, encoder: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
    single(
        encoder,
        "groupcache_requests_in_flight",
        "Groupcache requests (Get, Fetch, Stats) being served now.",
        MetricType::Gauge,
        node.requests.in_flight(),
    )?;
    single(
        encoder,
        "groupcache_requests_shed",
        "Requests answered RESOURCE_EXHAUSTED at once because --max-concurrent-requests were in flight.",
        MetricType::Counter,
        node.requests.shed(),
    )
}

/// The node's load limiter, shared by its groups.
fn loads(node: &NodeCollector, encoder: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
    let limits = node.limiter.stats();
    single(
        encoder,
        "groupcache_loads_running",
        "Source loads running now (holding one of --max-concurrent-loads), all groups together.",
        MetricType::Gauge,
        limits.running,
    )?;
    single(
        encoder,
        "groupcache_loads_queued",
        "Source loads waiting for a permit now (at most --max-queued-loads).",
        MetricType::Gauge,
        limits.queued,
    )?;
    single(
        encoder,
        "groupcache_loads_max_concurrent",
        "The bound on source loads running at once (--max-concurrent-loads).",
        MetricType::Gauge,
        limits.max_concurrent,
    )?;
    single(
        encoder,
        "groupcache_loads_peak_running",
        "The most source loads that ever ran at once on this node.",
        MetricType::Gauge,
        limits.peak_running,
    )
}

/// Where the peer set comes from, its fingerprint and how settled it is.
fn membership(node: &NodeCollector, encoder: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
    let m = node.pool.membership_snapshot();
    let ring = cache_grpc::pool::format_ring(m.ring);
    let mut info = encoder.encode_descriptor(
        "groupcache_membership_info",
        "1, labelled with the discovery source and the ring fingerprint (equal on nodes that agree on the peer set).",
        None,
        MetricType::Gauge,
    )?;
    let labels = [("source", m.source.as_str()), ("ring", ring.as_str())];
    encode::value(&mut info.encode_family(&labels)?, MetricType::Gauge, 1)?;
    single(
        encoder,
        "groupcache_membership_ready",
        "1 once the first peer set is applied (health SERVING), 0 before and while leaving.",
        MetricType::Gauge,
        u64::from(m.ready),
    )?;
    let changed = m
        .changed_at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    single(
        encoder,
        "groupcache_membership_last_change_timestamp_seconds",
        "When the peer set last changed, in seconds since the Unix epoch.",
        MetricType::Gauge,
        changed,
    )?;
    for (family, help, value) in [
        (
            "groupcache_membership_changes",
            "Changes of the peer set since the node started (the first set counts).",
            m.changes,
        ),
        (
            "groupcache_ring_mismatches",
            "Fetches received from peers whose ring fingerprint differed from this node's.",
            m.ring_mismatches,
        ),
        (
            "groupcache_discovery_errors",
            "Answers of the discovery source that were errors (the last good peer set stayed).",
            m.discovery_errors,
        ),
        (
            "groupcache_discovery_rejected_answers",
            "Answers of the discovery source held back as implausible (empty, or dropping more than --discovery-max-loss).",
            m.rejected_answers,
        ),
    ] {
        single(encoder, family, help, MetricType::Counter, value)?;
    }
    Ok(())
}

/// The ring and every other peer.
fn peers(node: &NodeCollector, encoder: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
    single(
        encoder,
        "groupcache_ring_peers",
        "Peers on this node's consistent-hash ring, itself included.",
        MetricType::Gauge,
        node.pool.peers().len() as u64,
    )?;
    membership(node, encoder)?;
    let health = node.pool.health();
    type Field = fn(&cache_grpc::PeerHealth) -> u64;
    let families: [(&str, &str, MetricType, Field); 4] = [
        (
            "groupcache_peer_up",
            "1 while the peer is used, 0 while its breaker is open (its keys are loaded here).",
            MetricType::Gauge,
            |h| u64::from(!h.open),
        ),
        (
            "groupcache_peer_breaker_opens",
            "Times the peer's breaker opened after --breaker-failures transport failures in a row.",
            MetricType::Counter,
            |h| h.opens,
        ),
        (
            "groupcache_peer_skipped_fetches",
            "Fetches not sent to the peer because its breaker was open.",
            MetricType::Counter,
            |h| h.skipped,
        ),
        (
            "groupcache_peer_failures",
            "Fetches that failed because the peer could not be reached or its connection was judged dead.",
            MetricType::Counter,
            |h| h.failures,
        ),
    ];
    for (family, help, kind, field) in families {
        let mut metric = encoder.encode_descriptor(family, help, None, kind)?;
        for (peer, h) in &health {
            let labels = [("peer", peer.as_str())];
            encode::value(&mut metric.encode_family(&labels)?, kind, field(h))?;
        }
    }
    let mut fetches = encoder.encode_descriptor(
        "groupcache_peer_fetch_duration_seconds",
        "Time of each Fetch sent to the peer, whatever its result (fetches skipped by the breaker are not sent).",
        None,
        MetricType::Histogram,
    )?;
    for (peer, _) in &health {
        if let Some(client) = node.pool.client(peer) {
            let labels = [("peer", peer.as_str())];
            encode::latency(
                &mut fetches.encode_family(&labels)?,
                &client.fetch_latency(),
            )?;
        }
    }
    Ok(())
}
