//! [`ProstCodec`]: protobuf messages (feature `prost`).

use bytes::Bytes;

use super::Codec;
use crate::Error;

/// Any [`prost::Message`] in its protobuf wire format (feature `prost`).
///
/// Protobuf tolerates a type's evolution: a reader ignores fields it does
/// not know and defaults the ones the bytes lack, so mixed versions of a
/// message can share a group during a rolling upgrade. Bytes that are not
/// a message of that type are [`Error::Decode`] (`codec: "protobuf"`).
/// Decoding from the cached `Bytes` shares them for `bytes` fields that
/// prost maps to `Bytes`.
///
/// ```
/// use bytes::Bytes;
/// use cache_core::typed::{Codec, ProstCodec};
///
/// #[derive(Clone, PartialEq, prost::Message)]
/// struct Point {
///     #[prost(sint32, tag = "1")]
///     x: i32,
///     #[prost(sint32, tag = "2")]
///     y: i32,
/// }
///
/// let bytes = ProstCodec.encode(&Point { x: 3, y: -4 })?;
/// let back: Point = ProstCodec.decode(bytes)?;
/// assert_eq!(back, Point { x: 3, y: -4 });
/// let bad: Result<Point, _> = ProstCodec.decode(Bytes::from_static(&[0x0f]));
/// assert!(matches!(bad, Err(cache_core::Error::Decode { codec: "protobuf", .. })), "{bad:?}");
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProstCodec;

impl<M> Codec<M> for ProstCodec
where
    M: prost::Message + Default,
{
    fn encode(&self, value: &M) -> Result<Bytes, Error> {
        Ok(Bytes::from(value.encode_to_vec()))
    }

    fn decode(&self, bytes: Bytes) -> Result<M, Error> {
        M::decode(bytes).map_err(|e| Error::decode::<M>("protobuf", e))
    }
}
