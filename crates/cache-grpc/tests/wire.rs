//! Wire tier: the unary codec answers every request exactly as the
//! generated tonic server does (same HTTP status, headers, body bytes and
//! trailers) for good requests, every error, and every malformed body, in
//! process and through real HTTP/2 connections on both transports.
//! Requests that do not decode are INVALID_ARGUMENT and requests over the
//! size limit RESOURCE_EXHAUSTED every way.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use cache_core::{Error, GroupBuilder, LoadContext, Loaded, Registry, getter_fn};
use cache_grpc::middleware::deadline::Deadline;
use cache_grpc::pb::{FetchRequest, GetRequest, StatsRequest, StatsResponse};
use cache_grpc::server::GroupcacheServer;
use cache_grpc::{GroupcacheService, PeerPool, ServerOptions, Transport, limits, serve};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use prost::Message;
use tonic::Status;
use tonic::body::Body;
use tower::ServiceExt;

/// The largest value served in these tests.
const MAX_VALUE: usize = 1024;
/// The gRPC message limit that follows from [`MAX_VALUE`].
const LIMIT: usize = limits::message_limit(MAX_VALUE);
const GET: &str = "/groupcache.v1.Groupcache/Get";
const FETCH: &str = "/groupcache.v1.Groupcache/Fetch";

/// A one-node service whose group `g` answers by key: `missing-*` not
/// found, `fail-*` a source failure, `big-*` a value above [`MAX_VALUE`],
/// `slow-*` after a second, anything else `value of KEY`.
fn service() -> GroupcacheService {
    let getter = getter_fn(|key: String, _ctx: LoadContext| async move {
        if key.starts_with("missing-") {
            return Err(Error::NotFound);
        }
        if key.starts_with("fail-") {
            return Err(Error::source_failed("secret detail"));
        }
        if key.starts_with("slow-") {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        if key.starts_with("big-") {
            return Ok(Loaded::new(Bytes::from(vec![b'x'; MAX_VALUE + 1])));
        }
        Ok(Loaded::new(Bytes::from(format!("value of {key}"))))
    });
    let registry = Registry::new();
    registry
        .add(GroupBuilder::new("g", 1 << 20, getter).build().unwrap())
        .unwrap();
    let pool = PeerPool::new("127.0.0.1:1", ["127.0.0.1:1"], Default::default()).unwrap();
    GroupcacheService::new(registry, pool, MAX_VALUE)
}

/// `message` framed: flag, big-endian length, bytes.
fn frame(flag: u8, message: &[u8]) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_u8(flag);
    buf.put_u32(message.len() as u32);
    buf.put_slice(message);
    buf.freeze()
}

fn get(group: &str, key: &str) -> Bytes {
    let req = GetRequest {
        group: group.into(),
        key: key.into(),
    };
    frame(0, &req.encode_to_vec())
}

fn fetch(group: &str, key: &str) -> Bytes {
    let req = FetchRequest {
        group: group.into(),
        key: key.into(),
        ..Default::default()
    };
    frame(0, &req.encode_to_vec())
}

/// A framed `GetRequest` or `FetchRequest` (same fields) whose `group` and
/// `key` are any bytes, UTF-8 or not.
fn raw(group: &[u8], key: &[u8]) -> Bytes {
    let mut message = vec![0x0a, group.len() as u8];
    message.extend_from_slice(group);
    message.extend_from_slice(&[0x12, key.len() as u8]);
    message.extend_from_slice(key);
    frame(0, &message)
}

/// A frame header announcing one byte more than the limit, and nothing
/// after it.
fn oversized() -> Bytes {
    let mut header = BytesMut::new();
    header.put_u8(0);
    header.put_u32(LIMIT as u32 + 1);
    header.freeze()
}

/// One request of a case: path, extra headers, body frames, a deadline.
struct Case {
    name: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    frames: Vec<Result<Frame<Bytes>, Status>>,
    deadline: Option<Duration>,
}

fn case(name: &'static str, path: &'static str, chunks: Vec<Bytes>) -> Case {
    Case {
        name,
        path,
        headers: Vec::new(),
        frames: chunks.into_iter().map(|c| Ok(Frame::data(c))).collect(),
        deadline: None,
    }
}

fn request(case: &Case) -> http::Request<Body> {
    let frames: Vec<_> = case
        .frames
        .iter()
        .map(|f| match f {
            Ok(f) if f.is_data() => Ok(Frame::data(f.data_ref().unwrap().clone())),
            Ok(f) => Ok(Frame::trailers(f.trailers_ref().unwrap().clone())),
            Err(s) => Err(s.clone()),
        })
        .collect();
    let body = Body::new(StreamBody::new(futures::stream::iter(frames)));
    let mut req = http::Request::post(case.path)
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (k, v) in &case.headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(body).unwrap();
    if let Some(d) = case.deadline {
        let at = tokio::time::Instant::now() + d;
        req.extensions_mut().insert(Deadline::at(at));
    }
    req
}

/// Everything a client can see of a response.
#[derive(Debug, PartialEq)]
struct Seen {
    status: http::StatusCode,
    headers: Vec<(String, Vec<u8>)>,
    data: Bytes,
    trailers: Vec<(String, Vec<u8>)>,
}

fn header_list(map: &http::HeaderMap) -> Vec<(String, Vec<u8>)> {
    map.iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect()
}

async fn seen<B>(res: http::Response<B>) -> Seen
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = res.into_parts();
    let collected = body.collect().await.expect("response body");
    Seen {
        status: parts.status,
        headers: header_list(&parts.headers),
        trailers: collected.trailers().map(header_list).unwrap_or_default(),
        data: collected.to_bytes(),
    }
}

/// The gRPC status a response carries (in its headers or trailers).
fn grpc_status(s: &Seen) -> String {
    let all = s.headers.iter().chain(&s.trailers);
    let find = |name: &str| {
        all.clone()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    // Messages are percent-encoded; these tests' messages only need spaces
    // and quotes decoded.
    let message = find("grpc-message")
        .unwrap_or_default()
        .replace("%20", " ")
        .replace("%22", "\"");
    format!("{} {message}", find("grpc-status").unwrap_or_default())
}

/// Sends `case` to the generated server and to the unary codec; both must
/// answer byte for byte alike. Returns the answer.
async fn both(case: &Case) -> Seen {
    // Separate nodes, so that the first request's load or per-key rate
    // does not change the second's answer.
    let generated = GroupcacheServer::new(service()).unary_codec(false);
    let fast = GroupcacheServer::new(service());
    let want = seen(generated.oneshot(request(case)).await.unwrap()).await;
    let got = seen(fast.oneshot(request(case)).await.unwrap()).await;
    assert_eq!(got, want, "case {}", case.name);
    got
}

/// Good requests and every error the service maps: identical answers, with
/// the documented gRPC status.
#[tokio::test]
async fn answers_match_tonic() {
    let cases = [
        (case("get", GET, vec![get("g", "a")]), "0 "),
        (case("fetch", FETCH, vec![fetch("g", "b")]), "0 "),
        (
            case("unknown group", GET, vec![get("nope", "a")]),
            "3 unknown group \"nope\"",
        ),
        (
            case("missing", GET, vec![get("g", "missing-1")]),
            "5 key not found",
        ),
        (
            case("missing fetch", FETCH, vec![fetch("g", "missing-2")]),
            "5 key not found",
        ),
        (
            case("source failed", GET, vec![get("g", "fail-1")]),
            "14 the source failed to load the key",
        ),
        (
            case("too big", FETCH, vec![fetch("g", "big-1")]),
            "8 value of 1025 bytes exceeds max_value_bytes (1024)",
        ),
    ];
    for (case, status) in cases {
        let s = tokio::time::timeout(Duration::from_secs(10), both(&case))
            .await
            .unwrap();
        assert_eq!(grpc_status(&s), status, "case {}", case.name);
        if status == "0 " {
            assert_eq!(s.data.len(), 5 + usize::from(s.data[4]));
        }
    }
}

/// A deadline in the extensions reaches the loader exactly as through
/// tonic: a slow load ends in DEADLINE_EXCEEDED on both.
#[tokio::test(start_paused = true)]
async fn deadline_from_extensions() {
    let mut c = case("deadline", GET, vec![get("g", "slow-1")]);
    c.deadline = Some(Duration::from_millis(100));
    let s = both(&c).await;
    assert_eq!(grpc_status(&s), "4 deadline exceeded");
}

/// Requests that are not valid protobuf, or whose group or key is not
/// UTF-8, are INVALID_ARGUMENT with a message saying which; a request over
/// the size limit is RESOURCE_EXHAUSTED. Both paths answer alike (Stats
/// only goes through the generated server's codec).
#[tokio::test]
async fn bad_requests_are_invalid_arguments() {
    let malformed = frame(0, &[0xff, 0xff]);
    let stats_bad_group = frame(0, &[0x0a, 1, 0xff]);
    let too_large = "8 request message of 66561 bytes is over the limit of 66560 bytes";
    let cases = [
        (
            case("key not UTF-8", GET, vec![raw(b"g", b"a\xc3\x28")]),
            "3 key is not valid UTF-8",
        ),
        (
            case("group not UTF-8", FETCH, vec![raw(b"\xff", b"a")]),
            "3 group is not valid UTF-8",
        ),
        (
            case("neither UTF-8", GET, vec![raw(b"\xff", b"\xfe")]),
            "3 group is not valid UTF-8",
        ),
        (
            case(
                "stats group not UTF-8",
                "/groupcache.v1.Groupcache/Stats",
                vec![stats_bad_group],
            ),
            "3 group is not valid UTF-8",
        ),
        (
            case("malformed get", GET, vec![malformed.clone()]),
            "3 request is not a valid groupcache.v1.GetRequest: failed to decode Protobuf message: ",
        ),
        (
            case("malformed fetch", FETCH, vec![malformed]),
            "3 request is not a valid groupcache.v1.FetchRequest: failed to decode Protobuf message: ",
        ),
        (case("oversized get", GET, vec![oversized()]), too_large),
        (case("oversized fetch", FETCH, vec![oversized()]), too_large),
        (
            case(
                "oversized, then more",
                GET,
                vec![oversized(), Bytes::from(vec![0; 4096])],
            ),
            too_large,
        ),
    ];
    for (case, status) in cases {
        let s = tokio::time::timeout(Duration::from_secs(10), both(&case))
            .await
            .unwrap();
        assert!(
            grpc_status(&s).starts_with(status),
            "case {}: {}",
            case.name,
            grpc_status(&s)
        );
    }
}

/// Bodies the unary codec declines (truncated, compressed, several messages,
/// trailers, errors, compression headers) and other methods get the
/// generated server's answers.
#[tokio::test]
async fn odd_requests_get_tonics_answers() {
    let good = get("g", "a");
    let mut two = BytesMut::from(&good[..]);
    two.extend_from_slice(&good);
    let split: Vec<Bytes> = good.chunks(3).map(Bytes::copy_from_slice).collect();
    let mut with_trailers = case("trailers", GET, vec![good.clone()]);
    with_trailers
        .frames
        .push(Ok(Frame::trailers(http::HeaderMap::new())));
    let mut errored = case("body error", GET, vec![good.slice(..4)]);
    errored
        .frames
        .push(Err(Status::cancelled("client went away")));
    let mut gzip = case("gzip", GET, vec![good.clone()]);
    gzip.headers.push(("grpc-encoding", "gzip"));
    let mut identity = case("identity", GET, vec![good.clone()]);
    identity.headers.push(("grpc-encoding", "identity"));
    let cases = [
        (case("split", GET, split), "0 "),
        (
            case("truncated", GET, vec![good.slice(..good.len() - 1)]),
            "13 ",
        ),
        (case("short header", FETCH, vec![good.slice(..3)]), "13 "),
        (case("empty", GET, vec![]), "13 Missing request message."),
        (case("compressed", GET, vec![frame(1, &good[5..])]), "13 "),
        (case("bad flag", FETCH, vec![frame(2, &good[5..])]), "13 "),
        (case("two messages", GET, vec![two.freeze()]), "0 "),
        (with_trailers, "0 "),
        (errored, "13 "),
        (gzip, "12 "),
        (identity, "0 "),
        (
            case(
                "unknown method",
                "/groupcache.v1.Groupcache/Nope",
                vec![good],
            ),
            "12 ",
        ),
    ];
    for (case, status) in cases {
        let s = tokio::time::timeout(Duration::from_secs(10), both(&case))
            .await
            .unwrap();
        assert!(
            grpc_status(&s).starts_with(status),
            "case {}: {}",
            case.name,
            grpc_status(&s)
        );
    }
}

/// `Stats` passes through the `GroupcacheServer` to the generated server.
#[tokio::test]
async fn stats_passes_through() {
    let svc = service();
    let fast = GroupcacheServer::new(svc);
    let req = StatsRequest { group: "g".into() };
    let c = case(
        "stats",
        "/groupcache.v1.Groupcache/Stats",
        vec![frame(0, &req.encode_to_vec())],
    );
    let s = seen(fast.oneshot(request(&c)).await.unwrap()).await;
    assert_eq!(grpc_status(&s), "0 ");
    let stats = StatsResponse::decode(&s.data[5..]).unwrap();
    assert_eq!(stats.node, "127.0.0.1:1");
    assert_eq!(stats.groups.len(), 1);
    assert_eq!(stats.groups[0].name, "g");
}

/// Starts a node serving [`service`]'s group with the unary codec on or
/// off, on `transport`; returns its address and the sender that stops it.
async fn node(
    unary_codec: bool,
    transport: Transport,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let getter = getter_fn(|key: String, _ctx: LoadContext| async move {
        if key.starts_with("missing-") {
            return Err(Error::NotFound);
        }
        Ok(Loaded::new(Bytes::from(format!("value of {key}"))))
    });
    let registry = Registry::new();
    registry
        .add(GroupBuilder::new("g", 1 << 20, getter).build().unwrap())
        .unwrap();
    let me = addr.to_string();
    let pool = PeerPool::new(&me, [me.as_str()], Default::default()).unwrap();
    let opts = ServerOptions::builder()
        .max_value_bytes(MAX_VALUE)
        .unary_codec(unary_codec)
        .transport(transport)
        .build()
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, registry, pool, opts, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Sends one HTTP/2 request to `addr` and returns what the client sees,
/// without the `date` header (which only hyper sends), and
/// whether there was one.
async fn on_the_wire(addr: std::net::SocketAddr, case: &Case) -> (Seen, bool) {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let mut req = request(case);
    *req.uri_mut() = format!("http://{addr}{}", case.path).parse().unwrap();
    let mut s = seen(client.request(req).await.unwrap()).await;
    let dated = s.headers.iter().any(|(k, _)| k == "date");
    s.headers.retain(|(k, _)| k != "date");
    (s, dated)
}

/// Through real HTTP/2 connections, nodes with and without the unary codec,
/// on both transports, answer byte for byte alike
/// (headers, `content-length`, data, trailers), bad requests with
/// INVALID_ARGUMENT and RESOURCE_EXHAUSTED included; only hyper
/// adds a `date` header.
#[tokio::test]
async fn wire_answers_match_tonic() {
    let (fast, stop_fast) = node(true, Transport::H2).await;
    let (slow, stop_slow) = node(false, Transport::H2).await;
    let (stock, stop_stock) = node(false, Transport::Hyper).await;
    let (hyper_fast, stop_hyper_fast) = node(true, Transport::Hyper).await;
    let good = get("g", "a");
    let mut timed = case("grpc-timeout", GET, vec![get("g", "b")]);
    timed.headers.push(("grpc-timeout", "5S"));
    let cases = [
        (case("get", GET, vec![good.clone()]), "0 "),
        (case("fetch", FETCH, vec![fetch("g", "a")]), "0 "),
        (case("missing", GET, vec![get("g", "missing-1")]), "5 "),
        (case("unknown group", FETCH, vec![fetch("nope", "a")]), "3 "),
        (
            case("malformed", GET, vec![frame(0, &[0xff, 0xff])]),
            "3 request is not a valid groupcache.v1.GetRequest",
        ),
        (
            case("key not UTF-8", GET, vec![raw(b"g", b"\xc3\x28")]),
            "3 key is not valid UTF-8",
        ),
        (
            case("group not UTF-8", FETCH, vec![raw(b"\xff", b"a")]),
            "3 group is not valid UTF-8",
        ),
        (case("oversized", FETCH, vec![oversized()]), "8 "),
        (case("compressed", GET, vec![frame(1, &good[5..])]), "13 "),
        (case("empty", FETCH, vec![]), "13 "),
        (
            case(
                "unknown method",
                "/groupcache.v1.Groupcache/Nope",
                vec![good],
            ),
            "12 ",
        ),
        (timed, "0 "),
    ];
    for (case, status) in &cases {
        let check = async {
            let (want, dated) = on_the_wire(stock, case).await;
            assert!(dated, "case {}: hyper dates its answers", case.name);
            assert!(
                grpc_status(&want).starts_with(status),
                "case {}: {}",
                case.name,
                grpc_status(&want)
            );
            for node in [fast, slow] {
                let (got, dated) = on_the_wire(node, case).await;
                assert_eq!(got, want, "case {}", case.name);
                assert!(!dated, "case {}: no date header", case.name);
            }
            let (got, dated) = on_the_wire(hyper_fast, case).await;
            assert_eq!(got, want, "case {}: unary codec on hyper", case.name);
            assert!(dated, "case {}: hyper dates its answers", case.name);
        };
        tokio::time::timeout(Duration::from_secs(10), check)
            .await
            .unwrap();
    }
    let _ = stop_fast.send(());
    let _ = stop_slow.send(());
    let _ = stop_stock.send(());
    let _ = stop_hyper_fast.send(());
}
