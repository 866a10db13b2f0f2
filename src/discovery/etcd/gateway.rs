//! etcd's v3 JSON gateway (`/v3/...` on the client port, etcd 3.4+): the
//! request bodies, the answers, and a client that tries the endpoints in
//! order.
//!
//! The gateway speaks the gRPC messages as JSON: keys and values are
//! base64, 64-bit integers come back as strings (and are accepted as
//! strings), fields at their default value (0, empty) are left out, and a
//! streaming call (`/v3/watch`, `/v3/lease/keepalive`) answers with one
//! JSON object per line, `{"result": ...}` or `{"error": ...}`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::error::error_chain;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Failure {
    /// No endpoint answered (refused, timed out, reset): each endpoint
    /// tried, with what happened there.
    Unreachable(Vec<(String, String)>),
    /// An endpoint answered with an error.
    Refused {
        /// The endpoint that answered.
        endpoint: String,
        /// etcd's message, e.g. `etcdserver: requested lease not found`.
        message: String,
    },
}

impl Failure {
    /// The lease named in the call does not exist (expired or revoked).
    pub(super) fn lease_not_found(&self) -> bool {
        matches!(self, Failure::Refused { message, .. } if message.contains("lease not found"))
    }

    /// The failure of the call `what`, as a source error's text.
    pub(super) fn describe(&self, what: &str) -> String {
        match self {
            Failure::Unreachable(tried) => match tried.as_slice() {
                [(endpoint, detail)] => format!("etcd {endpoint}: {what}: {detail}"),
                _ => {
                    let tried: Vec<String> =
                        tried.iter().map(|(e, d)| format!("{e}: {d}")).collect();
                    format!("etcd {what}: no endpoint answered: {}", tried.join("; "))
                }
            },
            Failure::Refused { endpoint, message } => format!("etcd {endpoint}: {what}: {message}"),
        }
    }
}

/// A client of one etcd cluster's gateway: its endpoints, tried in order
/// from the last one that answered.
#[derive(Debug)]
pub(super) struct Gateway {
    /// `http://host:port` or `https://host:port`, no trailing slash.
    endpoints: Vec<String>,
    /// Index into `endpoints` of the one to try first: the last that
    /// answered. Relaxed: only a hint, any value is a valid start.
    current: AtomicUsize,
    /// Shared connection pool (an `Arc` inside). Its connect timeout is
    /// the request bound; it has no overall timeout, which would cut the
    /// watch.
    http: reqwest::Client,
    /// The bound on one attempt at one endpoint.
    timeout: Duration,
}

impl Gateway {
    /// A client of `endpoints`, each attempt bounded by `timeout`.
    pub(super) fn new(endpoints: &[String], timeout: Duration) -> Result<Gateway, String> {
        if endpoints.is_empty() {
            return Err("no etcd endpoint".into());
        }
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .user_agent(concat!("groupcache/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("etcd client: {}", error_chain(&e)))?;
        Ok(Gateway {
            endpoints: endpoints
                .iter()
                .map(|e| e.trim_end_matches('/').to_owned())
                .collect(),
            current: AtomicUsize::new(0),
            http,
            timeout,
        })
    }

    /// The endpoint tried first: the last one that answered.
    pub(super) fn current(&self) -> &str {
        &self.endpoints[self.current.load(Ordering::Relaxed) % self.endpoints.len()]
    }

    /// The bound on one attempt.
    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// POSTs `body` to `path` (`/v3/kv/range`) and returns the answer
    /// (unwrapped from `{"result": ...}` if it is so wrapped). Each
    /// endpoint is tried once, from the current one, moving on when it
    /// cannot be reached or does not answer within the timeout.
    pub(super) async fn call(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        let (endpoint, response) = self.send(path, body, true).await?;
        let status = response.status();
        let text = tokio::time::timeout(self.timeout, response.bytes())
            .await
            .map_err(|_| Failure::Unreachable(vec![(endpoint.clone(), self.no_answer())]))?
            .map_err(|e| Failure::Unreachable(vec![(endpoint.clone(), self.detail(&e))]))?;
        let answer = parse_answer(&text);
        match answer {
            Ok(value) if status.is_success() => Ok(value),
            Ok(_) => Err(Failure::Refused {
                endpoint,
                message: format!("HTTP {status}"),
            }),
            Err(message) => Err(Failure::Refused { endpoint, message }),
        }
    }

    /// Opens a watch: POSTs `body` to `/v3/watch` and returns the response
    /// whose body streams the watch's messages, with the endpoint that
    /// answered. Only the wait for the response's head is bounded.
    pub(super) async fn watch(&self, body: &Value) -> Result<(String, reqwest::Response), Failure> {
        let (endpoint, response) = self.send("/v3/watch", body, false).await?;
        if !response.status().is_success() {
            let status = response.status();
            let text = tokio::time::timeout(self.timeout, response.bytes()).await;
            let message = match text {
                Ok(Ok(text)) => parse_answer(&text).err(),
                _ => None,
            };
            return Err(Failure::Refused {
                endpoint,
                message: message.unwrap_or_else(|| format!("HTTP {status}")),
            });
        }
        Ok((endpoint, response))
    }

    /// Sends one POST, trying the endpoints in turn. `bounded`: the whole
    /// exchange is bounded by the timeout (the body too), not only the
    /// wait for the head.
    async fn send(
        &self,
        path: &str,
        body: &Value,
        bounded: bool,
    ) -> Result<(String, reqwest::Response), Failure> {
        let body = body.to_string();
        let n = self.endpoints.len();
        let first = self.current.load(Ordering::Relaxed) % n;
        let mut tried = Vec::new();
        for i in 0..n {
            let at = (first + i) % n;
            let endpoint = &self.endpoints[at];
            let mut request = self
                .http
                .post(format!("{endpoint}{path}"))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            if bounded {
                request = request.timeout(self.timeout);
            }
            match tokio::time::timeout(self.timeout, request.send()).await {
                Ok(Ok(response)) => {
                    self.current.store(at, Ordering::Relaxed);
                    return Ok((endpoint.clone(), response));
                }
                Ok(Err(e)) => tried.push((endpoint.clone(), self.detail(&e))),
                Err(_) => tried.push((endpoint.clone(), self.no_answer())),
            }
        }
        Err(Failure::Unreachable(tried))
    }

    /// What a request's error says, short: a timeout as such, otherwise
    /// its causes after reqwest's "error sending request for url (...)".
    fn detail(&self, e: &reqwest::Error) -> String {
        if e.is_timeout() {
            return self.no_answer();
        }
        match std::error::Error::source(e) {
            Some(cause) => error_chain(cause),
            None => error_chain(e),
        }
    }

    /// The detail of an attempt that timed out.
    fn no_answer(&self) -> String {
        format!("no answer within {:?}", self.timeout)
    }
}

/// An answer's JSON, unwrapped from `{"result": ...}`; `Err` with etcd's
/// message if it is an error (`{"error": ..., "message": ...}` for a
/// unary call, `{"error": {"message": ...}}` in a stream).
pub(super) fn parse_answer(text: &[u8]) -> Result<Value, String> {
    let value: Value = serde_json::from_slice(text).map_err(|e| {
        let shown = String::from_utf8_lossy(&text[..text.len().min(200)]).into_owned();
        format!("not a gateway answer ({e}): {shown:?}")
    })?;
    if let Some(error) = value.get("error") {
        let message = value
            .get("message")
            .or_else(|| error.get("message"))
            .unwrap_or(error);
        return Err(match message {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    }
    Ok(match value {
        Value::Object(mut map) if map.contains_key("result") => {
            map.remove("result").unwrap_or_default()
        }
        other => other,
    })
}

/// A 64-bit integer field: a JSON string (how the gateway sends int64s) or
/// number; absent is 0, as in protobuf.
pub(super) fn int64(value: &Value, field: &str) -> Result<i64, String> {
    match value.get(field) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| format!("{field} {s:?} is not an integer")),
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| format!("{field} {n} is not an integer")),
        Some(other) => Err(format!("{field} {other} is not an integer")),
    }
}

/// Base64 of `bytes`, as the gateway takes keys and values.
pub(super) fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// The end of the range of every key starting with `prefix`: the prefix
/// with its last byte below 0xff incremented and what follows dropped
/// (`/gc/` -> `/gc0`); a prefix of only 0xff bytes (or none) has no end
/// but the end of the keyspace, `\0`.
pub(super) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// `/v3/lease/grant`: a lease of `ttl_secs`.
pub(super) fn grant_body(ttl_secs: i64) -> Value {
    json!({ "TTL": ttl_secs })
}

/// The lease id and TTL (seconds) a grant answered.
pub(super) fn parse_grant(answer: &Value) -> Result<(i64, i64), String> {
    let id = int64(answer, "ID")?;
    if id == 0 {
        return Err(format!("the grant answered no lease id: {answer}"));
    }
    Ok((id, int64(answer, "TTL")?))
}

/// `/v3/lease/keepalive` and `/v3/lease/revoke` of `lease`.
pub(super) fn lease_body(lease: i64) -> Value {
    json!({ "ID": lease.to_string() })
}

/// The TTL a keepalive answered: 0 when the lease is gone (etcd answers a
/// keepalive of an unknown lease with no TTL, not an error).
pub(super) fn parse_keepalive(answer: &Value) -> Result<i64, String> {
    int64(answer, "TTL")
}

/// `/v3/kv/put`: `key` = `value`, attached to `lease`.
pub(super) fn put_body(key: &str, value: &str, lease: i64) -> Value {
    json!({
        "key": b64(key.as_bytes()),
        "value": b64(value.as_bytes()),
        "lease": lease.to_string(),
    })
}

/// `/v3/kv/range`: every key under `prefix`.
pub(super) fn range_body(prefix: &str) -> Value {
    json!({
        "key": b64(prefix.as_bytes()),
        "range_end": b64(&prefix_end(prefix.as_bytes())),
    })
}

/// The values of a range's keys, sorted and deduplicated; values that are
/// empty or not UTF-8 are left out (no node registers one).
pub(super) fn parse_range(answer: &Value) -> Result<Vec<String>, String> {
    let kvs = match answer.get("kvs") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(kvs)) => kvs,
        Some(other) => return Err(format!("kvs is not a list: {other}")),
    };
    let mut values = Vec::with_capacity(kvs.len());
    for kv in kvs {
        let Some(Value::String(value)) = kv.get("value") else {
            continue;
        };
        let bytes = B64
            .decode(value)
            .map_err(|e| format!("value {value:?} is not base64: {e}"))?;
        if let Ok(text) = String::from_utf8(bytes)
            && !text.is_empty()
        {
            values.push(text);
        }
    }
    values.sort();
    values.dedup();
    Ok(values)
}

/// `/v3/watch`: a watch of every key under `prefix`, from now on.
pub(super) fn watch_body(prefix: &str) -> Value {
    json!({
        "create_request": {
            "key": b64(prefix.as_bytes()),
            "range_end": b64(&prefix_end(prefix.as_bytes())),
        }
    })
}

/// One message of a watch stream.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum WatchMessage {
    /// The watch is in place: changes from now on will be sent.
    Created,
    /// Keys under the prefix changed.
    Events,
    /// Nothing that changes the set (a progress notification).
    Quiet,
    /// The watch ended (canceled, compacted) or the stream reported an
    /// error: why.
    Ended(String),
}

/// Reads one line of a watch stream.
pub(super) fn parse_watch_line(line: &[u8]) -> WatchMessage {
    let answer = match parse_answer(line) {
        Ok(answer) => answer,
        Err(message) => return WatchMessage::Ended(message),
    };
    if answer.get("canceled").and_then(Value::as_bool) == Some(true) {
        let reason = answer
            .get("cancel_reason")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
            .unwrap_or("no reason given");
        return WatchMessage::Ended(format!("the watch was canceled: {reason}"));
    }
    if answer.get("created").and_then(Value::as_bool) == Some(true) {
        return WatchMessage::Created;
    }
    match answer.get("events") {
        Some(Value::Array(events)) if !events.is_empty() => WatchMessage::Events,
        _ => WatchMessage::Quiet,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A prefix's range ends at the prefix with its last byte incremented;
    /// 0xff bytes carry over; all-0xff means the end of the keyspace.
    #[test]
    fn range_end_of_a_prefix() {
        assert_eq!(prefix_end(b"/gc/"), b"/gc0");
        assert_eq!(prefix_end(b"/mesh/a/"), b"/mesh/a0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"a\xff\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), b"\0");
        assert_eq!(prefix_end(b""), b"\0");
    }

    /// Request bodies carry keys and values in base64, int64s as strings.
    #[test]
    fn request_bodies() {
        assert_eq!(grant_body(10), json!({"TTL": 10}));
        assert_eq!(
            lease_body(7587883441848407557),
            json!({"ID": "7587883441848407557"})
        );
        assert_eq!(
            put_body("/gc/127.0.0.1:7101", "127.0.0.1:7101", 42),
            json!({
                "key": "L2djLzEyNy4wLjAuMTo3MTAx",
                "value": "MTI3LjAuMC4xOjcxMDE=",
                "lease": "42",
            })
        );
        assert_eq!(
            range_body("/gc/"),
            json!({"key": "L2djLw==", "range_end": "L2djMA=="})
        );
        assert_eq!(
            watch_body("/gc/"),
            json!({"create_request": {"key": "L2djLw==", "range_end": "L2djMA=="}})
        );
    }

    /// Answers as etcd 3.4's gateway sends them (captured from
    /// etcd-server 3.4.23): ids as strings, defaults left out, stream
    /// results wrapped, errors with a message.
    #[test]
    fn answers() {
        let header = r#""header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"1","raft_term":"2"}"#;
        let grant = format!(r#"{{{header},"ID":"2324035755762020358","TTL":"5"}}"#);
        let grant = parse_answer(grant.as_bytes()).unwrap();
        assert_eq!(parse_grant(&grant), Ok((2324035755762020358, 5)));
        assert!(parse_grant(&json!({"TTL": "5"})).is_err());

        let alive = format!(r#"{{"result":{{{header},"ID":"2324035755762020363","TTL":"5"}}}}"#);
        assert_eq!(
            parse_keepalive(&parse_answer(alive.as_bytes()).unwrap()),
            Ok(5)
        );
        let gone = format!(r#"{{"result":{{{header},"ID":"1234"}}}}"#);
        assert_eq!(
            parse_keepalive(&parse_answer(gone.as_bytes()).unwrap()),
            Ok(0)
        );

        let refused = br#"{"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5}"#;
        let message = parse_answer(refused).unwrap_err();
        assert_eq!(message, "etcdserver: requested lease not found");
        let failure = Failure::Refused {
            endpoint: "http://127.0.0.1:2379".into(),
            message,
        };
        assert!(failure.lease_not_found());
        assert_eq!(
            failure.describe("put /gc/a"),
            "etcd http://127.0.0.1:2379: put /gc/a: etcdserver: requested lease not found"
        );
        let stream_error = br#"{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}"#;
        assert_eq!(
            parse_answer(stream_error),
            Err("etcdserver: no leader".into())
        );
        assert!(
            parse_answer(b"<html>")
                .unwrap_err()
                .contains("not a gateway answer")
        );
    }

    /// A range's values, decoded, sorted and deduplicated; an empty range
    /// has no `kvs` at all.
    #[test]
    fn range_values() {
        let answer = json!({
            "header": {"revision": "9"},
            "kvs": [
                {"key": b64(b"/gc/127.0.0.1:7102"), "value": b64(b"127.0.0.1:7102"), "lease": "1"},
                {"key": b64(b"/gc/127.0.0.1:7101"), "value": b64(b"127.0.0.1:7101"), "lease": "2"},
                {"key": b64(b"/gc/old"), "value": b64(b"127.0.0.1:7101")},
                {"key": b64(b"/gc/empty")},
                {"key": b64(b"/gc/binary"), "value": b64(b"\xff\xfe")},
            ],
            "count": "5",
        });
        assert_eq!(
            parse_range(&answer),
            Ok(vec![
                "127.0.0.1:7101".to_owned(),
                "127.0.0.1:7102".to_owned()
            ])
        );
        assert_eq!(
            parse_range(&json!({"header": {"revision": "1"}})),
            Ok(vec![])
        );
        let bad = json!({"kvs": [{"key": "", "value": "not base64!"}]});
        assert!(parse_range(&bad).unwrap_err().contains("not base64"));
    }

    /// Watch stream lines: created, events, progress, cancel, error.
    #[test]
    fn watch_lines() {
        let created = br#"{"result":{"header":{"revision":"2"},"created":true}}"#;
        assert_eq!(parse_watch_line(created), WatchMessage::Created);
        let put = br#"{"result":{"header":{"revision":"3"},"events":[{"kv":{"key":"L2djL2I=","create_revision":"3","mod_revision":"3","version":"1","value":"Yg=="}}]}}"#;
        assert_eq!(parse_watch_line(put), WatchMessage::Events);
        let delete = br#"{"result":{"header":{"revision":"4"},"events":[{"type":"DELETE","kv":{"key":"L2djL2E=","mod_revision":"4"}}]}}"#;
        assert_eq!(parse_watch_line(delete), WatchMessage::Events);
        let progress = br#"{"result":{"header":{"revision":"4"}}}"#;
        assert_eq!(parse_watch_line(progress), WatchMessage::Quiet);
        let canceled = br#"{"result":{"header":{},"canceled":true,"compact_revision":"3"}}"#;
        assert!(
            matches!(parse_watch_line(canceled), WatchMessage::Ended(r) if r.contains("canceled"))
        );
        let error = br#"{"error":{"message":"etcdserver: no leader"}}"#;
        assert_eq!(
            parse_watch_line(error),
            WatchMessage::Ended("etcdserver: no leader".into())
        );
    }

    /// A failure names the endpoint that answered, or every endpoint
    /// tried and what happened there.
    #[test]
    fn failures_name_the_endpoints() {
        let one = Failure::Unreachable(vec![("http://a:1".into(), "no answer within 2s".into())]);
        assert_eq!(
            one.describe("range of /gc/"),
            "etcd http://a:1: range of /gc/: no answer within 2s"
        );
        assert!(!one.lease_not_found());
        let two = Failure::Unreachable(vec![
            ("http://a:1".into(), "connection refused".into()),
            ("http://b:1".into(), "no answer within 2s".into()),
        ]);
        assert_eq!(
            two.describe("range of /gc/"),
            "etcd range of /gc/: no endpoint answered: http://a:1: connection refused; \
             http://b:1: no answer within 2s"
        );
    }

    /// Int64s arrive as strings or numbers; absent is 0.
    #[test]
    fn int64_fields() {
        let v = json!({"a": "12", "b": 13, "c": "x", "d": true});
        assert_eq!(int64(&v, "a"), Ok(12));
        assert_eq!(int64(&v, "b"), Ok(13));
        assert_eq!(int64(&v, "missing"), Ok(0));
        assert!(int64(&v, "c").is_err());
        assert!(int64(&v, "d").is_err());
    }
}
