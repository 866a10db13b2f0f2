//! Fuzz tier (proptest) for the hand-written frame reader: whatever body
//! arrives, split into whatever chunks, with or without trailers or an
//! error, `read_message` either takes exactly one whole uncompressed
//! message within the limit, or gives the body back byte for byte (data,
//! then trailers or the error) for the generated server: nothing is lost,
//! reordered or invented.

use bytes::{BufMut, Bytes, BytesMut};
use http::HeaderMap;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use proptest::prelude::*;
use tonic::Status;
use tonic::body::Body;

use super::{FRAME_HEADER, Read, read_message};
use crate::transport::ResponseBody;

/// What a body carries: data chunks, then trailers or an error (or
/// neither).
#[derive(Debug, Clone)]
struct Sent {
    chunks: Vec<Vec<u8>>,
    end: End,
}

#[derive(Debug, Clone, PartialEq)]
enum End {
    Nothing,
    Trailers,
    Error,
}

fn trailers() -> HeaderMap {
    let mut t = HeaderMap::new();
    t.insert("x-trailer", "1".parse().unwrap());
    t
}

fn body(sent: &Sent) -> Body {
    let mut frames: Vec<Result<Frame<Bytes>, Status>> = sent
        .chunks
        .iter()
        .map(|c| Ok(Frame::data(Bytes::from(c.clone()))))
        .collect();
    match sent.end {
        End::Nothing => {}
        End::Trailers => frames.push(Ok(Frame::trailers(trailers()))),
        End::Error => frames.push(Err(Status::cancelled("body failed"))),
    }
    Body::new(StreamBody::new(futures::stream::iter(frames)))
}

/// Everything a body yields: its data joined, its trailers, its error.
async fn drain(mut body: ResponseBody) -> (Vec<u8>, Option<HeaderMap>, Option<String>) {
    let mut data = Vec::new();
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) if f.is_data() => data.extend_from_slice(&f.into_data().unwrap()),
            Ok(f) => trailers = f.into_trailers().ok(),
            Err(e) => return (data, trailers, Some(e.message().to_owned())),
        }
    }
    (data, trailers, None)
}

/// A gRPC frame around `message` with this compressed flag.
fn framed(flag: u8, message: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    out.put_u8(flag);
    out.put_u32(message.len() as u32);
    out.put_slice(message);
    out.to_vec()
}

/// `bytes` cut into chunks at the given points.
fn split(bytes: &[u8], mut cuts: Vec<usize>) -> Vec<Vec<u8>> {
    cuts.retain(|c| *c <= bytes.len());
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    let mut at = 0;
    for c in cuts {
        out.push(bytes[at..c].to_vec());
        at = c;
    }
    out.push(bytes[at..].to_vec());
    out
}

/// A body and a limit: the limit is often right at the message's length
/// (one below, equal, one above), where an off-by-one would show.
fn sent() -> impl Strategy<Value = (Sent, usize)> {
    let payload = prop_oneof![
        // A well-formed frame (sometimes compressed), sometimes followed
        // by more bytes.
        (
            prop_oneof![3 => Just(0u8), 1 => Just(1u8)],
            proptest::collection::vec(any::<u8>(), 0..80),
            prop_oneof![3 => Just(Vec::new()), 1 => proptest::collection::vec(any::<u8>(), 1..3)],
        )
            .prop_map(|(flag, m, extra)| {
                let len = m.len();
                let mut b = framed(flag, &m);
                b.extend(extra);
                (b, len)
            }),
        // A truncated frame.
        proptest::collection::vec(any::<u8>(), 1..80).prop_map(|m| {
            let b = framed(0, &m);
            (b[..b.len() / 2].to_vec(), m.len())
        }),
        // Anything at all.
        proptest::collection::vec(any::<u8>(), 0..100).prop_map(|b| (b, 50)),
    ];
    let end = prop_oneof![
        4 => Just(End::Nothing),
        1 => Just(End::Trailers),
        1 => Just(End::Error),
    ];
    (
        payload,
        proptest::collection::vec(0usize..100, 0..4),
        end,
        prop_oneof![3 => -1i64..=1, 1 => -60i64..60],
    )
        .prop_map(|((bytes, len), cuts, end, delta)| {
            let limit = (len as i64 + delta).max(0) as usize;
            (
                Sent {
                    chunks: split(&bytes, cuts),
                    end,
                },
                limit,
            )
        })
}

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

/// Cases per run: `PROPTEST_CASES` if set (`scripts/fuzz` sets many),
/// else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(2000)))]

    /// A message is taken only when the body is exactly one uncompressed
    /// frame within the limit; anything else is given back as it came.
    #[test]
    fn a_body_is_taken_whole_or_given_back_unchanged((sent, limit) in sent()) {
        let all: Vec<u8> = sent.chunks.concat();
        let one_frame = all.len() >= FRAME_HEADER
            && all[0] == 0
            && u32::from_be_bytes(all[1..5].try_into().unwrap()) as usize + FRAME_HEADER == all.len()
            && all.len() - FRAME_HEADER <= limit;
        match run(read_message(body(&sent), limit)) {
            Read::Message { frame } => {
                prop_assert!(one_frame, "took a message from {sent:?}");
                prop_assert_eq!(sent.end.clone(), End::Nothing);
                prop_assert_eq!(&frame[..], &all[..]);
            }
            Read::Other(replay) => {
                prop_assert!(
                    !(one_frame && sent.end == End::Nothing),
                    "declined a plain message: {sent:?}"
                );
                let (data, got_trailers, error) = run(drain(replay));
                prop_assert_eq!(&data[..], &all[..], "the bytes given back differ");
                match sent.end {
                    End::Nothing => {
                        prop_assert!(got_trailers.is_none() && error.is_none());
                    }
                    End::Trailers => {
                        prop_assert_eq!(got_trailers, Some(trailers()));
                    }
                    End::Error => {
                        prop_assert_eq!(error.as_deref(), Some("body failed"));
                    }
                }
            }
        }
    }
}

/// Read::into_replay of a taken message gives the same frame back.
#[test]
fn a_taken_message_replays_as_itself() {
    let frame = framed(0, b"abc");
    let sent = Sent {
        chunks: vec![frame.clone()],
        end: End::Nothing,
    };
    let read = run(read_message(body(&sent), 10));
    assert!(matches!(read, Read::Message { .. }));
    let (data, trailers, error) = run(drain(read.into_replay()));
    assert_eq!(data, frame);
    assert!(trailers.is_none() && error.is_none());
}
