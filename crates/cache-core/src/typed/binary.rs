//! [`PostcardCodec`]: serde types in postcard's compact binary format
//! (feature `postcard`).

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Codec;
use crate::Error;

/// Any serde type in [postcard](https://docs.rs/postcard)'s compact binary
/// format (feature `postcard`): varint integers, no field names, so values
/// are small and quick to decode.
///
/// Not self-describing: the bytes follow the type's fields in order, so
/// every node must read a group with the same definition of the type; a
/// reader whose definition differs gets [`Error::Decode`] (`codec:
/// "postcard"`), or, when the bytes happen to fit, a wrong value. Use it
/// for types that do not change, or change the group's name with the type.
/// Bytes left over after the value are a decode error too: they mean the
/// writer's type had more fields.
///
/// ```
/// use bytes::Bytes;
/// use cache_core::typed::{Codec, PostcardCodec};
///
/// #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// struct User {
///     name: String,
///     age: u32,
/// }
///
/// let ada = User { name: "Ada".into(), age: 36 };
/// let bytes = PostcardCodec.encode(&ada)?;
/// assert_eq!(bytes, &b"\x03Ada\x24"[..]); // length-prefixed name, varint age
/// let back: User = PostcardCodec.decode(bytes)?;
/// assert_eq!(back, ada);
/// let cut: Result<User, _> = PostcardCodec.decode(Bytes::from_static(b"\x03Ad"));
/// assert!(matches!(cut, Err(cache_core::Error::Decode { codec: "postcard", .. })), "{cut:?}");
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PostcardCodec;

impl<T> Codec<T> for PostcardCodec
where
    T: Serialize + DeserializeOwned,
{
    fn encode(&self, value: &T) -> Result<Bytes, Error> {
        postcard::to_allocvec(value)
            .map(Bytes::from)
            .map_err(|e| Error::encode_failed::<T>("postcard", e))
    }

    fn decode(&self, bytes: Bytes) -> Result<T, Error> {
        match postcard::take_from_bytes(&bytes) {
            Ok((value, [])) => Ok(value),
            Ok((_, rest)) => Err(Error::decode::<T>(
                "postcard",
                format_args!("{} bytes left over after the value", rest.len()),
            )),
            Err(e) => Err(Error::decode::<T>("postcard", e)),
        }
    }
}
