//! The user's source of truth: the [`Getter`] trait and its closure adapter.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{Error, LoadContext};

/// A value with an optional time to live: what a [`Getter`] produces, and
/// what [`Group::get_with_ttl`](crate::Group::get_with_ttl) answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The value. `Bytes`, so caching and serving it never copies.
    pub value: Bytes,
    /// How long the value may be served from caches; `None` keeps it until
    /// it is evicted or removed.
    pub ttl: Option<Duration>,
}

impl Loaded {
    /// A value without expiry.
    pub fn new(value: impl Into<Bytes>) -> Self {
        Loaded {
            value: value.into(),
            ttl: None,
        }
    }

    /// Sets the time to live.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }
}

impl From<Bytes> for Loaded {
    fn from(value: Bytes) -> Self {
        Loaded::new(value)
    }
}

/// Loads a key from the source of truth on a cache miss.
///
/// Called at most once at a time per key and node (singleflight), and in a
/// healthy mesh only on the key's owner. Return [`Error::NotFound`] when the
/// source has no such key and any other error (usually
/// [`Error::source_failed`]) when it failed.
///
/// The context carries the deadline of the get that started the load and a
/// cancellation token that fires when no caller waits for the value any more.
#[async_trait]
pub trait Getter: Send + Sync + 'static {
    /// Loads `key`.
    async fn get(&self, key: &str, ctx: &LoadContext) -> Result<Loaded, Error>;
}

/// A [`Getter`] made from an async closure; see [`getter_fn`].
#[derive(Clone)]
pub struct GetterFn<F>(F);

impl<F> std::fmt::Debug for GetterFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GetterFn")
    }
}

/// Makes a [`Getter`] from a closure taking the key (owned) and the context.
///
/// ```
/// use cache_core::{getter_fn, Loaded};
///
/// let getter = getter_fn(|key: String, _ctx| async move {
///     Ok(Loaded::new(format!("value of {key}")))
/// });
/// # let _ = getter;
/// ```
pub fn getter_fn<F, Fut>(f: F) -> GetterFn<F>
where
    F: Fn(String, LoadContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Loaded, Error>> + Send + 'static,
{
    GetterFn(f)
}

#[async_trait]
impl<F, Fut> Getter for GetterFn<F>
where
    F: Fn(String, LoadContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Loaded, Error>> + Send + 'static,
{
    async fn get(&self, key: &str, ctx: &LoadContext) -> Result<Loaded, Error> {
        (self.0)(key.to_owned(), ctx.clone()).await
    }
}
