//! What goes over the wire between Go and Rust nodes: the path of a peer
//! request and the protobuf body of its answer.
//!
//! A request is `GET {peer}{base_path}{group}/{key}` with both names
//! escaped. Go's client escapes them with `url.QueryEscape` (a space as
//! `+`), but Go's server decodes the *path* (where `+` is a plus), so
//! between two Go nodes a key holding a space arrives as another key. This
//! side is exact both ways: [`escape`] writes a space as `%20`, which Go's
//! server reads as a space, and [`unescape`] reads `+` as a space, which is
//! all Go's client ever means by it (a real plus comes as `%2B`).
//!
//! The answer is golang/groupcache's `groupcachepb.GetResponse` (proto2):
//! `optional bytes value = 1; optional double minute_qps = 2;`, content
//! type `application/x-protobuf`. Go's server never sets `minute_qps` and
//! Go's client ignores it; this node reports it anyway.

use bytes::Bytes;

/// The content type of a [`GetResponse`] body.
pub const CONTENT_TYPE: &str = "application/x-protobuf";

/// golang/groupcache's `groupcachepb.GetResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetResponse {
    /// The value (absent means empty).
    #[prost(bytes = "bytes", optional, tag = "1")]
    pub value: Option<Bytes>,
    /// The owner's request rate for the key, per second.
    #[prost(double, optional, tag = "2")]
    pub minute_qps: Option<f64>,
}

impl GetResponse {
    /// Decodes an answer's body.
    pub fn from_body(body: &[u8]) -> Result<GetResponse, prost::DecodeError> {
        <GetResponse as prost::Message>::decode(body)
    }

    /// Encodes the message as an answer's body.
    pub fn to_body(&self) -> Vec<u8> {
        prost::Message::encode_to_vec(self)
    }
}

/// Bytes of protobuf framing around a value of up to 4 GiB: the value's
/// tag and length (1 + 5) and the `minute_qps` field (1 + 8).
pub const FRAMING_BYTES: usize = 15;

/// Escapes `s` for one path segment: unreserved bytes (`A-Z a-z 0-9 - _ .
/// ~`) as they are, every other byte as `%XX` (so `/`, `+` and a space are
/// escaped). Go's `url.QueryEscape` but for the space (see the module doc).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Why a path segment could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnescapeError {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8 (keys and groups are strings here).
    NotUtf8,
}

impl std::fmt::Display for UnescapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UnescapeError::BadEscape => "a % is not followed by two hex digits",
            UnescapeError::NotUtf8 => "it is not UTF-8 once decoded",
        })
    }
}

/// Decodes one segment as Go's client wrote it: `%XX` is a byte, `+` a
/// space.
pub fn unescape(s: &str) -> Result<String, UnescapeError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(UnescapeError::BadEscape)?;
                let hex = std::str::from_utf8(hex).map_err(|_| UnescapeError::BadEscape)?;
                let b = u8::from_str_radix(hex, 16).map_err(|_| UnescapeError::BadEscape)?;
                out.push(b);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| UnescapeError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    /// Unreserved bytes stay, everything else is `%XX`, and decoding
    /// gives the string back, whatever it holds.
    #[test]
    fn escape_round_trips() {
        assert_eq!(escape("key-1_a.b~"), "key-1_a.b~");
        assert_eq!(escape("a b+c/d%"), "a%20b%2Bc%2Fd%25");
        assert_eq!(escape("é"), "%C3%A9");
        for s in ["", "a b", "a+b", "x/y", "ünïcode", "100%", "?#&="] {
            assert_eq!(unescape(&escape(s)).unwrap(), s);
        }
    }

    /// Go's client spelling: `+` is a space; bad escapes and non-UTF-8
    /// bytes are refused.
    #[test]
    fn unescape_reads_go_query_escape() {
        assert_eq!(unescape("a+b%2Bc").unwrap(), "a b+c");
        assert_eq!(unescape("%zz"), Err(UnescapeError::BadEscape));
        assert_eq!(unescape("ab%4"), Err(UnescapeError::BadEscape));
        assert_eq!(unescape("%FF"), Err(UnescapeError::NotUtf8));
    }

    /// The message is the proto2 `GetResponse`: field 1 bytes, field 2 a
    /// double; the framing bound holds for a large value.
    #[test]
    fn get_response_wire_format() {
        let msg = GetResponse {
            value: Some(Bytes::from_static(b"hi")),
            minute_qps: Some(1.5),
        };
        let bytes = msg.encode_to_vec();
        assert_eq!(&bytes[..4], &[0x0A, 2, b'h', b'i']);
        assert_eq!(bytes[4], 0x11);
        assert_eq!(f64::from_le_bytes(bytes[5..13].try_into().unwrap()), 1.5);
        assert_eq!(GetResponse::decode(&bytes[..]).unwrap(), msg);
        let big = GetResponse {
            value: Some(Bytes::from(vec![0u8; 1 << 20])),
            minute_qps: Some(0.0),
        };
        assert!(big.encoded_len() <= (1 << 20) + FRAMING_BYTES);
    }
}
