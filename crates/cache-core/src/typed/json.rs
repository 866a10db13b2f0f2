//! [`JsonCodec`]: serde types as JSON (feature `serde-json`).

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Codec;
use crate::Error;

/// Any serde type as JSON (feature `serde-json`): readable with any tool,
/// and tolerant of added fields (unknown ones are ignored unless the type
/// says `deny_unknown_fields`; missing ones need `#[serde(default)]`).
/// Larger and slower to decode than `PostcardCodec` (feature `postcard`).
///
/// Decoding bytes that are not JSON of the type is [`Error::Decode`]
/// (`codec: "JSON"`); encoding a value JSON cannot hold (a map whose keys
/// are not strings, a type whose `Serialize` fails) fails the load
/// ([`Error::encode_failed`]).
///
/// ```
/// use bytes::Bytes;
/// use cache_core::typed::{Codec, JsonCodec};
///
/// #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// struct User {
///     name: String,
///     age: u32,
/// }
///
/// let ada = User { name: "Ada".into(), age: 36 };
/// let bytes = JsonCodec.encode(&ada)?;
/// assert_eq!(bytes, r#"{"name":"Ada","age":36}"#);
/// let back: User = JsonCodec.decode(bytes)?;
/// assert_eq!(back, ada);
/// let bad: Result<User, _> = JsonCodec.decode(Bytes::from_static(br#"{"name":"Ada"}"#));
/// assert!(bad.unwrap_err().to_string().contains("missing field `age`"));
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JsonCodec;

impl<T> Codec<T> for JsonCodec
where
    T: Serialize + DeserializeOwned,
{
    fn encode(&self, value: &T) -> Result<Bytes, Error> {
        serde_json::to_vec(value)
            .map(Bytes::from)
            .map_err(|e| Error::encode_failed::<T>("JSON", e))
    }

    fn decode(&self, bytes: Bytes) -> Result<T, Error> {
        serde_json::from_slice(&bytes).map_err(|e| Error::decode::<T>("JSON", e))
    }
}
