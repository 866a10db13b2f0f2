//! The codecs that need no feature: [`Utf8Codec`] for `String`, and
//! [`BytesCodec`] for the bytes as they are.

use bytes::Bytes;

use super::{Codec, DefaultCodec};
use crate::Error;

/// `String` values as their UTF-8 bytes. Decoding checks the bytes:
/// anything that is not UTF-8 is [`Error::Decode`], never a lossy
/// replacement. The default codec of `TypedGroup<String>`.
///
/// ```
/// use bytes::Bytes;
/// use cache_core::typed::{Codec, Utf8Codec};
/// use cache_core::Error;
///
/// assert_eq!(Utf8Codec.decode(Bytes::from_static("grüße".as_bytes()))?, "grüße");
/// let err = Utf8Codec.decode(Bytes::from_static(b"gr\xfc\xdfe")).unwrap_err();
/// assert!(matches!(err, Error::Decode { codec: "UTF-8", .. }), "{err}");
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Codec;

impl Codec<String> for Utf8Codec {
    fn encode(&self, value: &String) -> Result<Bytes, Error> {
        Ok(Bytes::copy_from_slice(value.as_bytes()))
    }

    fn decode(&self, bytes: Bytes) -> Result<String, Error> {
        String::from_utf8(Vec::from(bytes)).map_err(|e| Error::decode::<String>("UTF-8", e))
    }
}

impl DefaultCodec for String {
    type Codec = Utf8Codec;
}

/// The bytes as they are: `Bytes` (decoding is a reference-count bump, as
/// a plain get) or `Vec<u8>` (a copy). Never fails. The default codec of
/// `TypedGroup<Bytes>` and `TypedGroup<Vec<u8>>`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BytesCodec;

impl Codec<Bytes> for BytesCodec {
    fn encode(&self, value: &Bytes) -> Result<Bytes, Error> {
        Ok(value.clone())
    }

    fn decode(&self, bytes: Bytes) -> Result<Bytes, Error> {
        Ok(bytes)
    }
}

impl Codec<Vec<u8>> for BytesCodec {
    fn encode(&self, value: &Vec<u8>) -> Result<Bytes, Error> {
        Ok(Bytes::copy_from_slice(value))
    }

    fn decode(&self, bytes: Bytes) -> Result<Vec<u8>, Error> {
        Ok(Vec::from(bytes))
    }
}

impl DefaultCodec for Bytes {
    type Codec = BytesCodec;
}

impl DefaultCodec for Vec<u8> {
    type Codec = BytesCodec;
}
