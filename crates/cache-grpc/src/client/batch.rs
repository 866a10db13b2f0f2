//! [`GrpcPeer`]'s side of a batch: one `FetchMany` for the keys a group's
//! batch needs from this peer, judged like a `Fetch` (the same breaker,
//! liveness and timer rules: see the parent module), one result per key.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use cache_core::{Error as CoreError, Fetched};

use super::{GrpcPeer, Verdict, is_own_timer, verdict_of};
use crate::pb::{FetchManyRequest, FetchResult};
use crate::status;
use crate::trace_context::hop::Hop;

/// The results of one `FetchMany`: per key, or the error of the whole call.
pub(super) type Batch = Result<Vec<Result<Fetched, CoreError>>, CoreError>;

impl GrpcPeer {
    /// One `FetchMany` call for `keys`, bounded by `budget` when given,
    /// carrying this node's ring fingerprint and `hop`'s trace context, and
    /// what it says of the peer's health. The whole call's failure is
    /// classified by [`status::from_status`], each key's by
    /// [`status::from_key_result`] (the same rules); an answer that is not
    /// a result per key, in order, is the peer's failure (`Unavailable`).
    pub(super) async fn send_fetch_many(
        &self,
        group: &str,
        keys: &[String],
        budget: Option<Duration>,
        hop: &Hop,
    ) -> (Batch, Verdict) {
        let message = FetchManyRequest {
            group: group.to_owned(),
            keys: keys.to_vec(),
            ring: self.ring.load(Ordering::Relaxed),
        };
        let Some(request) = self.peer_request(message, budget, hop) else {
            return (Err(CoreError::DeadlineExceeded), Verdict::Unknown);
        };
        let mut client = self.client();
        let started = tokio::time::Instant::now();
        let call = client.fetch_many(request);
        let answer = match budget {
            Some(budget) => tokio::time::timeout(budget, call).await,
            None => Ok(call.await),
        };
        match answer {
            Ok(Ok(response)) => {
                let results = response.into_inner().results;
                let in_order = results.len() == keys.len()
                    && results.iter().zip(keys).all(|(r, key)| r.key == *key);
                if !in_order {
                    let err = CoreError::unavailable(format!(
                        "the peer answered {} results for a batch of {} keys, not one per key",
                        results.len(),
                        keys.len()
                    ));
                    return (Err(err), Verdict::Alive);
                }
                (
                    Ok(results.into_iter().map(fetched).collect()),
                    Verdict::Alive,
                )
            }
            Ok(Err(status)) if is_own_timer(&status, budget, started.elapsed()) => {
                tracing::debug!(peer = %self.id, keys = keys.len(), ?budget, "peer batch timed out");
                (Err(CoreError::DeadlineExceeded), Verdict::Unknown)
            }
            Ok(Err(status)) => {
                let err = status::from_status(&status);
                tracing::debug!(peer = %self.id, keys = keys.len(), code = ?status.code(), error = %err, "peer batch failed");
                (Err(err), verdict_of(&status))
            }
            Err(_elapsed) => {
                tracing::debug!(peer = %self.id, keys = keys.len(), ?budget, "peer batch timed out");
                (Err(CoreError::DeadlineExceeded), Verdict::Unknown)
            }
        }
    }
}

/// One key's result as the group takes it. The value is copied to its
/// exact size, as for `Fetch`: a slice would keep the whole response's
/// buffer alive in the hot cache.
fn fetched(r: FetchResult) -> Result<Fetched, CoreError> {
    if r.code == tonic::Code::NotFound as u32 && r.ttl_ms > 0 {
        // The owner remembers the NotFound for that long.
        return Ok(Fetched::not_found(Duration::from_millis(r.ttl_ms)));
    }
    if r.code != 0 {
        return Err(status::from_key_result(r.code, &r.message, &r.error_kind));
    }
    Ok(Fetched {
        value: Bytes::copy_from_slice(&r.value),
        minute_qps: Some(r.minute_qps),
        ttl: (r.ttl_ms > 0).then(|| Duration::from_millis(r.ttl_ms)),
        not_found: false,
        stale: r.stale,
    })
}
