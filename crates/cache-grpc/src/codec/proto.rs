//! [`ProtoCodec`]: the protobuf codec of the generated `Groupcache` server
//! and client (`codec_path` in `build.rs`).
//!
//! It is tonic-prost's codec but for one thing: a request that does not
//! decode is the caller's mistake, answered `INVALID_ARGUMENT` (tonic-prost
//! answers `INTERNAL`). [`Decode::decode_message`] decides, for each message
//! type, what a failure is:
//!
//! - a request (`GetRequest`, `FetchRequest`, `StatsRequest`) whose `group`
//!   or `key` is not UTF-8: [`status::not_utf8`] naming the field;
//! - a request that is no such protobuf message at all:
//!   [`status::invalid_request`] naming the type and prost's reason;
//! - a response (on the client side): `INTERNAL`, as tonic-prost has it (the
//!   server sent something wrong, not the caller).
//!
//! The [unary codec](super::unary) decodes `Get` and `Fetch` with the same
//! [`Decode::decode_message`], so both paths give the same answer.

use std::marker::PhantomData;

use bytes::{Buf, Bytes};
use prost::{Message, Name};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic_prost::ProstEncoder;

use crate::pb;
use crate::status;

/// tonic-prost's codec with [`Decode`]'s answers to messages that do not
/// decode; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct ProtoCodec<T, U> {
    _messages: PhantomData<(T, U)>,
}

impl<T, U> Default for ProtoCodec<T, U> {
    fn default() -> Self {
        ProtoCodec {
            _messages: PhantomData,
        }
    }
}

impl<T, U> Codec for ProtoCodec<T, U>
where
    T: Message + Send + 'static,
    U: Decode + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProtoDecoder<U>;

    fn encoder(&mut self) -> ProstEncoder<T> {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> ProtoDecoder<U> {
        ProtoDecoder {
            _message: PhantomData,
        }
    }
}

/// The decoder of [`ProtoCodec`]: [`Decode::decode_message`] on each
/// message.
#[derive(Debug, Clone)]
pub struct ProtoDecoder<U> {
    _message: PhantomData<U>,
}

impl<U: Decode> Decoder for ProtoDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        // Splits the message off tonic's buffer without a copy; `bytes`
        // fields then share it, as they do with tonic-prost.
        let message = buf.copy_to_bytes(buf.remaining());
        U::decode_message(message).map(Some)
    }
}

/// A message of the `Groupcache` service, and the status for bytes that
/// do not decode as one.
pub trait Decode: Message + Default {
    /// Decodes `message` (one whole message, without its gRPC frame
    /// header), or says why not as the status to answer.
    fn decode_message(message: Bytes) -> Result<Self, Status>;
}

impl Decode for pb::GetRequest {
    fn decode_message(message: Bytes) -> Result<Self, Status> {
        decode_request(message, &["group", "key"])
    }
}

impl Decode for pb::FetchRequest {
    fn decode_message(message: Bytes) -> Result<Self, Status> {
        decode_request(message, &["group", "key"])
    }
}

impl Decode for pb::PutRequest {
    fn decode_message(message: Bytes) -> Result<Self, Status> {
        decode_request(message, &["group"])
    }
}

impl Decode for pb::PutResponse {
    fn decode_message(message: Bytes) -> Result<Self, Status> {
        decode_response(message)
    }
}

// A batch's keys are a repeated field: a key that is not UTF-8 is told
// by prost's message (INVALID_ARGUMENT all the same).
impl Decode for pb::GetManyRequest {
    fn decode_message(message: Bytes) -> Result<Self, Status> {
        decode_request(message, &["group"])
    }
}

impl Decode for pb::FetchManyRequest {
    fn decode_message(message: Bytes) -> Result<Self, Status> {
        decode_request(message, &["group"])
    }
}

impl Decode for pb::GetManyResponse {
    fn decode_message(message: Bytes) -> Result<Self, Status> {
        decode_response(message)
    }
}

impl Decode for pb::FetchManyResponse {
    fn decode_message(message: Bytes) -> Result<Self, Status> {
        decode_response(message)
    }
}

impl Decode for pb::StatsRequest {
    fn decode_message(message: Bytes) -> Result<Self, Status> {
        decode_request(message, &["group"])
    }
}

impl Decode for pb::GetResponse {
    fn decode_message(message: Bytes) -> Result<Self, Status> {
        decode_response(message)
    }
}

impl Decode for pb::FetchResponse {
    fn decode_message(message: Bytes) -> Result<Self, Status> {
        decode_response(message)
    }
}

impl Decode for pb::StatsResponse {
    fn decode_message(message: Bytes) -> Result<Self, Status> {
        decode_response(message)
    }
}

/// Decodes a request; on failure, tells a string field that is not UTF-8
/// (the first of `strings`, in order) from any other damage.
fn decode_request<M: Message + Default + Name>(
    message: Bytes,
    strings: &[&'static str],
) -> Result<M, Status> {
    M::decode(message.clone()).map_err(|error| {
        // Only a request that failed is decoded a second time.
        let bad = RawStrings::decode(message)
            .ok()
            .and_then(|raw| raw.first_not_utf8(strings));
        match bad {
            Some(field) => status::not_utf8(field),
            None => status::invalid_request(&M::full_name(), &error),
        }
    })
}

/// Decodes a response as tonic-prost does: a failure is `INTERNAL`.
fn decode_response<M: Message + Default>(message: Bytes) -> Result<M, Status> {
    M::decode(message).map_err(|error| Status::internal(error.to_string()))
}

/// The string fields of the request messages as bytes: `group` (field 1 of
/// all three) and `key` (field 2 of `GetRequest` and `FetchRequest`). Read
/// only after a request failed to decode, to find the field that is not
/// UTF-8.
#[derive(Clone, PartialEq, Message)]
struct RawStrings {
    #[prost(bytes = "bytes", tag = "1")]
    group: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    key: Bytes,
}

impl RawStrings {
    /// The first of `fields` (`group`, `key`) that is not UTF-8.
    fn first_not_utf8(&self, fields: &[&'static str]) -> Option<&'static str> {
        fields.iter().copied().find(|&field| {
            let bytes = if field == "group" {
                &self.group
            } else {
                &self.key
            };
            std::str::from_utf8(bytes).is_err()
        })
    }
}

impl Decode for pb::RemoveRequest {
    fn decode_message(message: Bytes) -> Result<Self, Status> {
        decode_request(message, &["group"])
    }
}

impl Decode for pb::SetRequest {
    fn decode_message(message: Bytes) -> Result<Self, Status> {
        decode_request(message, &["group", "key"])
    }
}

impl Decode for pb::InvalidateRequest {
    fn decode_message(message: Bytes) -> Result<Self, Status> {
        decode_request(message, &["group"])
    }
}

impl Decode for pb::MutationResponse {
    fn decode_message(message: Bytes) -> Result<Self, Status> {
        decode_response(message)
    }
}

impl Decode for pb::InvalidateResponse {
    fn decode_message(message: Bytes) -> Result<Self, Status> {
        decode_response(message)
    }
}

impl Decode for pb::StoreResponse {
    fn decode_message(message: Bytes) -> Result<Self, Status> {
        decode_response(message)
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    /// Field 1 and field 2 as length-delimited bytes, as a request's
    /// `group` and `key` are encoded.
    fn raw(group: &[u8], key: &[u8]) -> Bytes {
        RawStrings {
            group: Bytes::copy_from_slice(group),
            key: Bytes::copy_from_slice(key),
        }
        .encode_to_vec()
        .into()
    }

    /// Good requests decode; a field that is not UTF-8 is named; other
    /// damage names the message type.
    #[test]
    fn requests_that_do_not_decode_are_invalid_arguments() {
        let ok = pb::GetRequest::decode_message(raw(b"g", b"k")).unwrap();
        assert_eq!((ok.group.as_str(), ok.key.as_str()), ("g", "k"));
        let cases: [(Result<(), Status>, &str); 5] = [
            (
                pb::GetRequest::decode_message(raw(b"g", b"\xc3\x28")).map(drop),
                "key is not valid UTF-8",
            ),
            (
                pb::FetchRequest::decode_message(raw(b"\xff", b"k")).map(drop),
                "group is not valid UTF-8",
            ),
            (
                pb::FetchRequest::decode_message(raw(b"\xff", b"\xff")).map(drop),
                "group is not valid UTF-8",
            ),
            (
                pb::StatsRequest::decode_message(raw(b"\xfe", b"")).map(drop),
                "group is not valid UTF-8",
            ),
            (
                pb::GetRequest::decode_message(Bytes::from_static(&[0xff, 0xff])).map(drop),
                "request is not a valid groupcache.v1.GetRequest: ",
            ),
        ];
        for (got, want) in cases {
            let status = got.unwrap_err();
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
            assert!(status.message().starts_with(want), "{status:?}");
        }
    }

    /// A response that does not decode is the server's fault: INTERNAL, as
    /// with tonic-prost.
    #[test]
    fn responses_that_do_not_decode_are_internal() {
        let status = pb::GetResponse::decode_message(Bytes::from_static(&[0xff])).unwrap_err();
        assert_eq!(status.code(), Code::Internal);
    }
}
