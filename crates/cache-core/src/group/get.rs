//! [`Get`]: the future of [`Group::get`]. Its first poll answers a hit in
//! place (the whole hit path inlines into the caller: no state machine to
//! set up, no boxed future, no copies through an out-pointer); only a miss
//! allocates, boxing the miss path. Both run in the get's `get` span
//! (`spans.rs`), which costs a hit one level check when debug
//! spans are off.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tracing::Instrument;

use super::{Group, spans};
use crate::Error;

/// The miss path of a get, boxed.
type Miss<'a> = Pin<Box<dyn Future<Output = Result<Bytes, Error>> + Send + 'a>>;

/// The future returned by [`Group::get`]: resolves to the value of the key,
/// or the error of its load. Like any future it does nothing until polled;
/// dropping it cancels only this caller's wait (a load it started goes on
/// for the other waiters).
#[must_use = "futures do nothing unless polled"]
pub struct Get<'a> {
    group: &'a Group,
    key: &'a str,
    /// Set on the first poll that misses the caches.
    miss: Option<Miss<'a>>,
}

impl<'a> Get<'a> {
    pub(super) fn new(group: &'a Group, key: &'a str) -> Self {
        Get {
            group,
            key,
            miss: None,
        }
    }
}

impl std::fmt::Debug for Get<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Get")
            .field("group", &self.group.name())
            .field("key", &self.key)
            .field("loading", &self.miss.is_some())
            .finish()
    }
}

impl Future for Get<'_> {
    type Output = Result<Bytes, Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let miss = match &mut this.miss {
            Some(miss) => miss,
            None => {
                let inner = &this.group.inner;
                let span = spans::get(&inner.name);
                if let Some(found) = inner.first_lookup(this.key) {
                    spans::record_found(&span, &found);
                    inner.finish_get(&found, None);
                    return Poll::Ready(found.map(|found| found.value));
                }
                let (inner, key) = (inner, this.key);
                this.miss.insert(Box::pin(async move {
                    let found = inner.miss(key, None, None).instrument(span.clone()).await;
                    spans::record_found(&span, &found);
                    inner.finish_get(&found, None);
                    found.map(|found| found.value)
                }))
            }
        };
        miss.as_mut().poll(cx)
    }
}
