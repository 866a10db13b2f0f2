//! The per-group families: every engine counter, both caches, the get and
//! load latency histograms, the flights in progress.
//!
//! Each family is written once (one `# HELP`/`# TYPE`), with one sample
//! per group (and per cache type or get outcome), from one snapshot per
//! group taken at the start of the scrape.

use cache_core::{CacheStats, GetOutcome, Group, Registry, StatsSnapshot};
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::encode;

/// The family name of an engine counter, without the `_total` the encoder
/// adds: `groupcache_` and the counter's name, except where the groupcache
/// exporters spell it otherwise.
pub fn counter_family(counter: &str) -> String {
    let name = match counter {
        "local_load_errs" => "local_load_errors",
        other => other,
    };
    format!("groupcache_{name}")
}

/// A counter's doc comment as one line of help text.
fn help_line(doc: &str) -> String {
    doc.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One group's figures, read once per scrape.
struct Sample {
    group: Group,
    stats: StatsSnapshot,
}

/// Writes every per-group family for the groups of `registry`.
pub fn encode(registry: &Registry, encoder: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
    let samples: Vec<Sample> = registry
        .groups()
        .into_iter()
        .map(|group| Sample {
            stats: group.stats(),
            group,
        })
        .collect();
    counters(&samples, encoder)?;
    caches(&samples, encoder)?;
    latencies(&samples, encoder)?;
    gauges(&samples, encoder)
}

/// Every engine counter, labelled by group, in the engine's order.
fn counters(samples: &[Sample], encoder: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
    for (index, (counter, doc)) in StatsSnapshot::counter_docs().into_iter().enumerate() {
        let family = counter_family(counter);
        let help = help_line(doc);
        let mut metric = encoder.encode_descriptor(&family, &help, None, MetricType::Counter)?;
        for s in samples {
            let labels = [("group", s.group.name())];
            let value = s.stats.counters()[index].1;
            encode::value(
                &mut metric.encode_family(&labels)?,
                MetricType::Counter,
                value,
            )?;
        }
    }
    Ok(())
}

/// The main and hot caches, labelled by group and `type`.
fn caches(samples: &[Sample], encoder: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
    type Field = fn(&CacheStats) -> u64;
    let families: [(&str, &str, MetricType, Field); 5] = [
        (
            "groupcache_cache_bytes",
            "Bytes held by the cache: keys, values and a fixed overhead per entry.",
            MetricType::Gauge,
            |c| c.bytes,
        ),
        (
            "groupcache_cache_items",
            "Entries held by the cache (negative entries included).",
            MetricType::Gauge,
            |c| c.items,
        ),
        (
            "groupcache_cache_gets",
            "Lookups made in the cache.",
            MetricType::Counter,
            |c| c.gets,
        ),
        (
            "groupcache_cache_get_hits",
            "Lookups of the cache that found a live entry (the groupcache exporters' per-type groupcache_cache_hits_total: that name is the group counter CacheHits here).",
            MetricType::Counter,
            |c| c.hits,
        ),
        (
            "groupcache_cache_evictions",
            "Entries removed from the cache to make room (not removals or expiries).",
            MetricType::Counter,
            |c| c.evictions,
        ),
    ];
    for (family, help, kind, field) in families {
        let mut metric = encoder.encode_descriptor(family, help, None, kind)?;
        for s in samples {
            for (cache, stats) in [("main", &s.stats.main_cache), ("hot", &s.stats.hot_cache)] {
                let labels = [("group", s.group.name()), ("type", cache)];
                encode::value(&mut metric.encode_family(&labels)?, kind, field(stats))?;
            }
        }
    }
    let mut budget = encoder.encode_descriptor(
        "groupcache_cache_budget_bytes",
        "The byte budget of the group's main and hot caches together (--cache-bytes).",
        None,
        MetricType::Gauge,
    )?;
    for s in samples {
        let labels = [("group", s.group.name())];
        encode::value(
            &mut budget.encode_family(&labels)?,
            MetricType::Gauge,
            s.group.cache_bytes(),
        )?;
    }
    Ok(())
}

/// The latency histograms: gets by outcome, source loads.
fn latencies(samples: &[Sample], encoder: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
    let mut gets = encoder.encode_descriptor(
        "groupcache_get_duration_seconds",
        "Time a client's Get spent in the node, from its arrival to its answer, by outcome: hit (a cache answered), peer (the owner answered), load (the source was called here), error (any error, NotFound included).",
        None,
        MetricType::Histogram,
    )?;
    for s in samples {
        for outcome in GetOutcome::ALL {
            let labels = [("group", s.group.name()), ("outcome", outcome.as_str())];
            encode::latency(
                &mut gets.encode_family(&labels)?,
                s.stats.get_latency.by_outcome(outcome),
            )?;
        }
    }
    let mut loads = encoder.encode_descriptor(
        "groupcache_load_duration_seconds",
        "Time of each call of the group's source (after its load-limit permit), whatever its result.",
        None,
        MetricType::Histogram,
    )?;
    for s in samples {
        let labels = [("group", s.group.name())];
        encode::latency(&mut loads.encode_family(&labels)?, &s.stats.load_latency)?;
    }
    Ok(())
}

/// Gauges per group.
fn gauges(samples: &[Sample], encoder: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
    let mut flights = encoder.encode_descriptor(
        "groupcache_flights_in_progress",
        "Singleflight flights running now: misses being fetched or loaded, and loads for peers' fetches.",
        None,
        MetricType::Gauge,
    )?;
    for s in samples {
        let labels = [("group", s.group.name())];
        let in_flight = s.group.in_flight() as u64;
        encode::value(
            &mut flights.encode_family(&labels)?,
            MetricType::Gauge,
            in_flight,
        )?;
    }
    Ok(())
}
