//! `GetMany` (for clients) and `FetchMany` (for peers): many keys of one
//! group in one request, a result per key.
//!
//! - `GetMany`: the batch's size first (over `max_batch_keys`:
//!   `INVALID_ARGUMENT`, naming the limit), the group (`INVALID_ARGUMENT` if
//!   unknown), then [`Group::get_many`](cache_core::Group::get_many) under
//!   the request's deadline: hits from the caches, this node's keys from
//!   its loader, each owner's keys in one `FetchMany` to it (a dead owner's
//!   keys loaded here, as for `Get`). Each key's result carries its value
//!   or the code and message a `Get` of it would have failed with
//!   ([`status::key_status`], the one mapping). An empty batch is answered
//!   OK, with no results.
//! - `FetchMany`: the same checks, then every key through
//!   [`Group::fetch_for_peer`](cache_core::Group::fetch_for_peer) at once:
//!   the owner's caches or its loader, never another peer. Each result also
//!   carries the owner's marker (`error_kind`), so that the requester tells
//!   the owner's answers from failures to answer, as for `Fetch`.
//!
//! **The response's size.** A batch's values together may pass the message
//! limit (`max_value_bytes` plus 64 KiB) that a single value never does. A
//! response is therefore filled in key order: a key whose value would take
//! it past the limit gets `RESOURCE_EXHAUSTED` ("response size limit ...
//! reached") instead, and later keys are still answered if they fit. Room
//! for every key's short refusal is kept aside from the start, so the
//! response never passes the limit. A value over `max_value_bytes` is that
//! key's `RESOURCE_EXHAUSTED`, as for `Get`. A unary response, not a
//! stream: one call and one message for any client (a Python stub is one
//! line), the whole batch under one deadline; a client after more than the
//! limit asks again for the refused keys.

use std::net::SocketAddr;

use cache_core::{Error as CoreError, LoadContext};
use futures::future::join_all;
use prost::Message;
use tonic::{Code, Status};

use super::{GroupcacheService, ttl_ms};
use crate::pb::{
    FetchManyRequest, FetchManyResponse, FetchResult, GetManyRequest, GetManyResponse, KeyResult,
};
use crate::status::{self, KeyStatus};

impl GroupcacheService {
    /// `GetMany`: the answer to `request` under `ctx`; see the [module
    /// docs](self).
    pub(crate) async fn get_many_answer(
        &self,
        ctx: LoadContext,
        request: GetManyRequest,
    ) -> Result<GetManyResponse, Status> {
        self.check_batch(request.keys.len())?;
        let g = self.group(&request.group)?;
        let answers = g.get_many(&request.keys, ctx).await;
        let results = request
            .keys
            .into_iter()
            .zip(answers)
            .map(|(key, answer)| {
                let answer = answer.and_then(|loaded| {
                    self.value_fits(loaded.value.len())?;
                    Ok(loaded)
                });
                match answer {
                    Ok(loaded) => KeyResult {
                        key,
                        value: loaded.value,
                        ttl_ms: ttl_ms(loaded.ttl),
                        code: 0,
                        message: String::new(),
                    },
                    Err(err) => key_error(key, &status::key_status(&err)),
                }
            })
            .collect();
        let results = fit(results, self.message_limit(), |r: &KeyResult| {
            key_error(r.key.clone(), &self.response_full())
        })?;
        Ok(GetManyResponse { results })
    }

    /// `FetchMany`: the answer to a peer's `request` under `ctx`; see the
    /// [module docs](self).
    pub(crate) async fn fetch_many_answer(
        &self,
        ctx: LoadContext,
        request: FetchManyRequest,
        peer: Option<SocketAddr>,
    ) -> Result<FetchManyResponse, Status> {
        let FetchManyRequest { group, keys, ring } = request;
        self.check_ring(ring, peer);
        self.check_batch(keys.len())?;
        let g = self.group(&group)?;
        let answers = join_all(keys.iter().map(|key| g.fetch_for_peer(key, ctx.clone()))).await;
        let results = keys
            .into_iter()
            .zip(answers)
            .map(|(key, answer)| {
                let answer = answer.and_then(|fetched| {
                    self.value_fits(fetched.value.len())?;
                    Ok(fetched)
                });
                match answer {
                    // The owner remembers the NotFound: say for how long,
                    // as `Fetch` does with its `gc-negative-ttl-ms`.
                    Ok(fetched) if fetched.not_found => FetchResult {
                        ttl_ms: ttl_ms(fetched.ttl),
                        ..fetch_error(key, &status::key_status(&CoreError::NotFound))
                    },
                    Ok(fetched) => FetchResult {
                        key,
                        value: fetched.value,
                        minute_qps: fetched.minute_qps.unwrap_or(0.0),
                        ttl_ms: ttl_ms(fetched.ttl),
                        stale: fetched.stale,
                        ..FetchResult::default()
                    },
                    Err(err) => fetch_error(key, &status::key_status(&err)),
                }
            })
            .collect();
        let results = fit(results, self.message_limit(), |r: &FetchResult| {
            fetch_error(r.key.clone(), &self.response_full())
        })?;
        Ok(FetchManyResponse { results })
    }

    /// Refuses a batch (`GetMany`, `FetchMany`, `Remove`) of more than
    /// `max_batch_keys` keys.
    pub(super) fn check_batch(&self, keys: usize) -> Result<(), Status> {
        if keys > self.max_batch_keys {
            return Err(status::too_many_keys(keys, self.max_batch_keys));
        }
        Ok(())
    }

    /// A key's value over `max_value_bytes` is that key's `ValueTooLarge`.
    fn value_fits(&self, len: usize) -> Result<(), CoreError> {
        if len > self.max_value_bytes {
            return Err(CoreError::ValueTooLarge {
                size: len as u64,
                limit: self.max_value_bytes as u64,
            });
        }
        Ok(())
    }

    /// The refusal of a key whose value did not fit in the response.
    fn response_full(&self) -> KeyStatus {
        KeyStatus {
            code: Code::ResourceExhausted,
            message: format!(
                "response size limit ({} bytes) reached: ask for this key alone",
                self.message_limit()
            ),
            kind: None,
        }
    }
}

/// A `GetMany` result for a key that failed.
fn key_error(key: String, status: &KeyStatus) -> KeyResult {
    KeyResult {
        key,
        code: status.code as u32,
        message: status.message.clone(),
        ..KeyResult::default()
    }
}

/// A `FetchMany` result for a key that failed, with the owner's marker.
fn fetch_error(key: String, status: &KeyStatus) -> FetchResult {
    FetchResult {
        key,
        code: status.code as u32,
        message: status.message.clone(),
        error_kind: status.kind.unwrap_or_default().to_owned(),
        ..FetchResult::default()
    }
}

/// The bytes `result` takes in its response: field 1's tag, its length,
/// and the message.
fn field_len(result: &impl Message) -> usize {
    let len = result.encoded_len();
    1 + prost::length_delimiter_len(len) + len
}

/// Keeps `results` (in order) within `limit` bytes of response: a result
/// that does not fit, with room kept for the refusals of all later ones,
/// is replaced by `refuse(result)`. `RESOURCE_EXHAUSTED` for the whole
/// request when even the refusals do not fit (keys of the size of the
/// limit).
fn fit<R: Message>(
    mut results: Vec<R>,
    limit: usize,
    refuse: impl Fn(&R) -> R,
) -> Result<Vec<R>, Status> {
    let total: usize = results.iter().map(field_len).sum();
    if total <= limit {
        return Ok(results);
    }
    let refusals: Vec<R> = results.iter().map(&refuse).collect();
    let mut reserved: usize = refusals.iter().map(field_len).sum();
    if reserved > limit {
        return Err(Status::resource_exhausted(format!(
            "the keys of this batch alone are over the response limit of {limit} bytes"
        )));
    }
    let mut used = 0;
    for (result, refusal) in results.iter_mut().zip(refusals) {
        let (full, short) = (field_len(result), field_len(&refusal));
        reserved -= short;
        if full > short && used + full + reserved > limit {
            *result = refusal;
            used += short;
        } else {
            used += full;
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(key: &str, len: usize) -> KeyResult {
        KeyResult {
            key: key.to_owned(),
            value: vec![b'v'; len].into(),
            ..KeyResult::default()
        }
    }

    fn refuse(r: &KeyResult) -> KeyResult {
        KeyResult {
            key: r.key.clone(),
            code: Code::ResourceExhausted as u32,
            message: "full".into(),
            ..KeyResult::default()
        }
    }

    /// Results under the limit are kept as they are; past it, the values
    /// that do not fit are refused, later ones that do fit still answered,
    /// and the whole stays within the limit.
    #[test]
    fn values_past_the_limit_are_refused_per_key() {
        let small = vec![value("a", 10), value("b", 10)];
        assert_eq!(fit(small.clone(), 1000, refuse).unwrap(), small);

        let results = vec![value("a", 600), value("b", 600), value("c", 100)];
        let fitted = fit(results, 1000, refuse).unwrap();
        let codes: Vec<u32> = fitted.iter().map(|r| r.code).collect();
        assert_eq!(codes, [0, Code::ResourceExhausted as u32, 0]);
        assert_eq!(fitted[2].value.len(), 100);
        let size: usize = fitted.iter().map(field_len).sum();
        assert!(size <= 1000, "{size}");
    }

    /// Keys so long that even their refusals pass the limit fail the
    /// whole request, clearly.
    #[test]
    fn keys_over_the_limit_fail_the_request() {
        let results = vec![value(&"k".repeat(600), 0), value(&"j".repeat(600), 1)];
        let err = fit(results, 1000, refuse).unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted);
    }
}
