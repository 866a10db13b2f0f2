//! The decode side: [`TypedGroup`], a [`Group`] whose gets return `V`.

use std::marker::PhantomData;
use std::sync::Arc;

use super::{Codec, DefaultCodec, TypedLoaded};
use crate::{Error, Group, LoadContext};

/// A [`Group`] read as values of type `V`, decoded with the codec `C`
/// (by default `V`'s [`DefaultCodec`]: UTF-8 for `String`).
///
/// Each get is the group's get (same caches, singleflight, peers, stats
/// and errors), then one decode of the bytes it answered. A decode
/// failure is [`Error::Decode`], for this get only: the bytes stay cached
/// for other readers and nothing is cached for the error (module
/// [`typed`](super) says why).
///
/// A `TypedGroup` is a cheap handle: a [`Group`] (an `Arc`) and its codec
/// (in an `Arc`); clone it freely. Several typed handles, with different
/// types or codecs, may wrap one group.
///
/// ```
/// use bytes::Bytes;
/// use cache_core::typed::{TypedGroup, BytesCodec};
/// use cache_core::{getter_fn, Error, GroupBuilder, Loaded};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let group = GroupBuilder::new("files", 1 << 20, getter_fn(|key: String, _ctx| async move {
///     Ok(Loaded::new(if key == "logo.png" { &b"\x89PNG"[..] } else { &b"plain text"[..] }))
/// }))
/// .build()?;
/// let text: TypedGroup<String> = TypedGroup::new(group.clone()); // UTF-8
/// let raw: TypedGroup<Bytes, BytesCodec> = TypedGroup::new(group.clone());
///
/// assert_eq!(text.get("notes.txt").await?, "plain text");
/// // Not UTF-8: an error for this reader, not a panic and not a cache problem.
/// assert!(matches!(text.get("logo.png").await, Err(Error::Decode { codec: "UTF-8", .. })));
/// assert_eq!(raw.get("logo.png").await?, &b"\x89PNG"[..]); // still cached, as loaded
/// assert_eq!(group.stats().local_loads, 2);
/// # Ok::<(), Error>(())
/// # }).unwrap();
/// ```
pub struct TypedGroup<V, C = <V as DefaultCodec>::Codec> {
    group: Group,
    /// Shared by every clone, so that cloning a handle never clones a
    /// codec (which may hold state of its own).
    codec: Arc<C>,
    /// `fn() -> V`: the handle holds no `V`, and is `Send + Sync` whatever
    /// `V` is.
    _value: PhantomData<fn() -> V>,
}

impl<V, C> Clone for TypedGroup<V, C> {
    fn clone(&self) -> Self {
        TypedGroup {
            group: self.group.clone(),
            codec: Arc::clone(&self.codec),
            _value: PhantomData,
        }
    }
}

impl<V, C: std::fmt::Debug> std::fmt::Debug for TypedGroup<V, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedGroup")
            .field("group", &self.group.name())
            .field("value", &std::any::type_name::<V>())
            .field("codec", &self.codec)
            .finish()
    }
}

impl<V, C: Codec<V>> TypedGroup<V, C> {
    /// Reads `group` with the codec `C`'s default value (the codecs of this
    /// crate are all unit structs).
    pub fn new(group: Group) -> Self
    where
        C: Default,
    {
        Self::with_codec(group, C::default())
    }

    /// Reads `group` with `codec`.
    pub fn with_codec(group: Group, codec: C) -> Self {
        TypedGroup {
            group,
            codec: Arc::new(codec),
            _value: PhantomData,
        }
    }

    /// The group below: its stats, `remove`, `fetch_for_peer`, and gets of
    /// the bytes themselves.
    pub fn group(&self) -> &Group {
        &self.group
    }

    /// The codec values are decoded with.
    pub fn codec(&self) -> &C {
        &self.codec
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        self.group.name()
    }

    /// Gets `key` with no deadline and decodes it: [`Group::get`], then
    /// [`Codec::decode`].
    pub async fn get(&self, key: &str) -> Result<V, Error> {
        let bytes = self.group.get(key).await?;
        self.codec.decode(bytes)
    }

    /// Gets `key` under `ctx` (its deadline bounds this caller's wait only;
    /// see [`Group::get_with`]) and decodes it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::typed::{typed_getter_fn, TypedGroup, TypedLoaded, Utf8Codec};
    /// use cache_core::{Error, GroupBuilder, LoadContext};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let slow = GroupBuilder::new("slow", 1 << 20, typed_getter_fn(Utf8Codec, |_key: String, _ctx| async {
    ///     tokio::time::sleep(Duration::from_secs(5)).await;
    ///     Ok(TypedLoaded::new("late".to_string()))
    /// }))
    /// .build()?;
    /// let slow: TypedGroup<String> = TypedGroup::new(slow);
    /// let ctx = LoadContext::with_timeout(Duration::from_millis(50));
    /// assert_eq!(slow.get_with("k", ctx).await, Err(Error::DeadlineExceeded));
    /// assert_eq!(slow.get_with("k", LoadContext::new()).await?, "late"); // the load went on
    /// # Ok::<(), Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn get_with(&self, key: &str, ctx: LoadContext) -> Result<V, Error> {
        let bytes = self.group.get_with(key, ctx).await?;
        self.codec.decode(bytes)
    }

    /// Like [`get_with`](Self::get_with), and also tells how long the value
    /// may still be served (`ttl`: `None` when it does not expire); see
    /// [`Group::get_with_ttl`].
    pub async fn get_with_ttl(&self, key: &str, ctx: LoadContext) -> Result<TypedLoaded<V>, Error> {
        let loaded = self.group.get_with_ttl(key, ctx).await?;
        Ok(TypedLoaded {
            value: self.codec.decode(loaded.value)?,
            ttl: loaded.ttl,
        })
    }

    /// Removes `key` from this node's caches ([`Group::remove`]); true if
    /// anything was removed. The way to drop bytes that no reader can
    /// decode any more: the next get loads the key again.
    pub fn remove(&self, key: &str) -> bool {
        self.group.remove(key)
    }

    /// Encodes `value` with the codec and stores it in this node's main
    /// cache ([`Group::set`]: ordered against loads like `remove`; the
    /// source is not written). An encode failure is returned and nothing
    /// changes.
    pub fn set(&self, key: &str, value: &V, ttl: Option<std::time::Duration>) -> Result<(), Error> {
        let bytes = self.codec.encode(value)?;
        self.group.set(key, bytes, ttl)
    }
}
