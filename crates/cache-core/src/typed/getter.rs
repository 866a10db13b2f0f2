//! The encode side: loaders that return typed values ([`TypedGetter`],
//! [`typed_getter_fn`]) and the adapter ([`EncodingGetter`]) that makes
//! them the group's [`Getter`], encoding each loaded value once.

use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

use async_trait::async_trait;

use super::Codec;
use crate::{Error, Getter, LoadContext, Loaded};

/// A typed value with an optional time to live: what a [`TypedGetter`]
/// returns, and what [`TypedGroup::get_with_ttl`](super::TypedGroup::get_with_ttl)
/// answers. The typed twin of [`Loaded`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedLoaded<V> {
    /// The value.
    pub value: V,
    /// How long the value may be served from caches; `None` keeps it until
    /// it is evicted or removed.
    pub ttl: Option<Duration>,
}

impl<V> TypedLoaded<V> {
    /// A value without expiry.
    pub fn new(value: V) -> Self {
        TypedLoaded { value, ttl: None }
    }

    /// Sets the time to live.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }
}

/// A loader of typed values: a [`Getter`] that returns a `V` instead of
/// bytes. Wrap it in an [`EncodingGetter`] to give it to a
/// [`GroupBuilder`](crate::GroupBuilder); the same rules as for [`Getter`]
/// apply (at most one call at a time per key and node; [`Error::NotFound`]
/// when the source has no such key).
#[async_trait]
pub trait TypedGetter<V>: Send + Sync + 'static {
    /// Loads `key`.
    async fn get(&self, key: &str, ctx: &LoadContext) -> Result<TypedLoaded<V>, Error>;
}

/// A [`TypedGetter`] made from an async closure; see [`typed_getter_fn`].
#[derive(Clone)]
pub struct TypedGetterFn<F>(F);

impl<F> std::fmt::Debug for TypedGetterFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TypedGetterFn")
    }
}

#[async_trait]
impl<V, F, Fut> TypedGetter<V> for TypedGetterFn<F>
where
    V: Send + 'static,
    F: Fn(String, LoadContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<TypedLoaded<V>, Error>> + Send + 'static,
{
    async fn get(&self, key: &str, ctx: &LoadContext) -> Result<TypedLoaded<V>, Error> {
        (self.0)(key.to_owned(), ctx.clone()).await
    }
}

/// A [`TypedGetter`] and the codec that encodes its values: the group's
/// [`Getter`]. Each load calls the typed getter once and encodes its value
/// once; the group then caches and serves the bytes. A value the codec
/// cannot encode fails the load ([`Error::encode_failed`]), and nothing is
/// cached.
pub struct EncodingGetter<G, V, C> {
    getter: G,
    codec: C,
    /// `V` is the getter's and the codec's; `fn() -> V` keeps the adapter
    /// `Send + Sync` whatever `V` is.
    _value: PhantomData<fn() -> V>,
}

impl<G, V, C> EncodingGetter<G, V, C>
where
    G: TypedGetter<V>,
    C: Codec<V>,
{
    /// Encodes the values of `getter` with `codec`.
    pub fn new(getter: G, codec: C) -> Self {
        EncodingGetter {
            getter,
            codec,
            _value: PhantomData,
        }
    }
}

impl<G, V, C: std::fmt::Debug> std::fmt::Debug for EncodingGetter<G, V, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodingGetter")
            .field("value", &std::any::type_name::<V>())
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<G, V, C> Getter for EncodingGetter<G, V, C>
where
    G: TypedGetter<V>,
    C: Codec<V>,
    V: 'static,
{
    async fn get(&self, key: &str, ctx: &LoadContext) -> Result<Loaded, Error> {
        let loaded = self.getter.get(key, ctx).await?;
        Ok(Loaded {
            value: self.codec.encode(&loaded.value)?,
            ttl: loaded.ttl,
        })
    }
}

/// Makes a group's [`Getter`] from `codec` and a closure that loads typed
/// values (taking the key, owned, and the context): each loaded value is
/// encoded once, with `codec`. Read the group with a
/// [`TypedGroup`](super::TypedGroup) of the same codec.
///
/// ```
/// use std::time::Duration;
/// use cache_core::typed::{typed_getter_fn, TypedGroup, TypedLoaded, Utf8Codec};
/// use cache_core::GroupBuilder;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let getter = typed_getter_fn(Utf8Codec, |key: String, _ctx| async move {
///     Ok(TypedLoaded::new(key.to_uppercase()).with_ttl(Duration::from_secs(60)))
/// });
/// let shout: TypedGroup<String> = TypedGroup::new(GroupBuilder::new("shout", 1 << 20, getter).build()?);
/// assert_eq!(shout.get("hey").await?, "HEY");
/// # Ok::<(), cache_core::Error>(())
/// # }).unwrap();
/// ```
pub fn typed_getter_fn<V, C, F, Fut>(codec: C, f: F) -> EncodingGetter<TypedGetterFn<F>, V, C>
where
    V: Send + 'static,
    C: Codec<V>,
    F: Fn(String, LoadContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<TypedLoaded<V>, Error>> + Send + 'static,
{
    EncodingGetter::new(TypedGetterFn(f), codec)
}
