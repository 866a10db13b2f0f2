//! The [`Codec`] trait: how a value of type `V` becomes the bytes a group
//! caches, and back; and [`DefaultCodec`], the codec a type is read with
//! when a [`TypedGroup`](super::TypedGroup) names none.

use bytes::Bytes;

use crate::Error;

/// Turns values of type `V` into the bytes a [`Group`](crate::Group)
/// caches, and those bytes back into values.
///
/// `encode` runs once per load, in the loader (an [`EncodingGetter`]);
/// `decode` runs on every get of a [`TypedGroup`]. A codec is shared by
/// every clone of a handle, so it is `Send + Sync`; most are unit structs.
///
/// Contract:
/// - `decode(encode(v)?)` gives back a value equal to `v`;
/// - `decode` of bytes that are not a valid `V` returns
///   [`Error::Decode`] (build it with [`Error::decode`]), never panics;
/// - `encode` of a value it cannot represent returns an error (build it
///   with [`Error::encode_failed`]), never panics.
///
/// [`EncodingGetter`]: super::EncodingGetter
/// [`TypedGroup`]: super::TypedGroup
///
/// # A codec of your own
///
/// ```
/// use bytes::Bytes;
/// use cache_core::typed::{typed_getter_fn, Codec, TypedGroup, TypedLoaded};
/// use cache_core::{Error, GroupBuilder};
///
/// /// Counters, as 8 little-endian bytes.
/// #[derive(Debug, Default, Clone, Copy)]
/// struct U64Le;
///
/// impl Codec<u64> for U64Le {
///     fn encode(&self, value: &u64) -> Result<Bytes, Error> {
///         Ok(Bytes::copy_from_slice(&value.to_le_bytes()))
///     }
///     fn decode(&self, bytes: Bytes) -> Result<u64, Error> {
///         let array: [u8; 8] = bytes[..].try_into().map_err(|_| {
///             Error::decode::<u64>("u64-le", format_args!("{} bytes, not 8", bytes.len()))
///         })?;
///         Ok(u64::from_le_bytes(array))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let group = GroupBuilder::new("lengths", 1 << 20, typed_getter_fn(U64Le, |key: String, _ctx| async move {
///     Ok(TypedLoaded::new(key.len() as u64))
/// }))
/// .build()?;
/// let lengths: TypedGroup<u64, U64Le> = TypedGroup::new(group.clone());
/// assert_eq!(lengths.get("four").await?, 4);
/// assert_eq!(group.get("four").await?, &4u64.to_le_bytes()[..]); // what the cache holds
/// assert!(matches!(U64Le.decode(Bytes::from_static(b"abc")), Err(Error::Decode { codec: "u64-le", .. })));
/// # Ok::<(), Error>(())
/// # }).unwrap();
/// ```
pub trait Codec<V>: Send + Sync + 'static {
    /// Encodes `value` into the bytes the group will cache.
    fn encode(&self, value: &V) -> Result<Bytes, Error>;

    /// Decodes bytes the group served into a value: [`Error::Decode`] when
    /// they are not a valid `V` for this codec.
    fn decode(&self, bytes: Bytes) -> Result<V, Error>;
}

/// The codec a [`TypedGroup<V>`](super::TypedGroup) uses when it names
/// none: `TypedGroup<String>` reads UTF-8 ([`Utf8Codec`]), and
/// `TypedGroup<Bytes>` the bytes as they are ([`BytesCodec`]). Implement it
/// for a type of your own to spare its readers the codec's name.
///
/// [`Utf8Codec`]: super::Utf8Codec
/// [`BytesCodec`]: super::BytesCodec
pub trait DefaultCodec: Sized {
    /// The codec.
    type Codec: Codec<Self> + Default;
}
