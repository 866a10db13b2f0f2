//! How one sample is written: a counter or gauge value, or a
//! [`LatencySnapshot`] as a Prometheus histogram (its fixed buckets with
//! bounds in seconds, `le` inclusive, then `+Inf`, the sum and the count).

use cache_core::LatencySnapshot;
use prometheus_client::encoding::{MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

/// Writes `value` as one sample of `metric`, a counter or a gauge as
/// `kind` says.
pub fn value(metric: &mut MetricEncoder<'_>, kind: MetricType, value: u64) -> std::fmt::Result {
    match kind {
        MetricType::Counter => metric.encode_counter::<NoLabelSet, u64, u64>(&value, None),
        _ => metric.encode_gauge(&value),
    }
}

/// Writes `snapshot` as one histogram sample of `metric`. The count is
/// the sum of the buckets, so `_count` and the `+Inf` bucket always agree.
pub fn latency(metric: &mut MetricEncoder<'_>, snapshot: &LatencySnapshot) -> std::fmt::Result {
    let buckets: Vec<(f64, u64)> = snapshot
        .finite_buckets()
        .map(|(bound, count)| (bound.as_secs_f64(), count))
        .chain([(f64::INFINITY, snapshot.overflow())])
        .collect();
    metric.encode_histogram::<NoLabelSet>(
        snapshot.sum().as_secs_f64(),
        snapshot.count(),
        &buckets,
        None,
    )
}
