//! [`GoPeer`]: a [`PeerClient`] that fetches from one golang/groupcache
//! peer over its HTTP protocol (HTTP/1.1 `GET`, protobuf answer).
//!
//! Every failure makes the group load the key itself: a refused or timed
//! out connection, a fetch unanswered within the fetch timeout, any status
//! but 200, a body that is not a `GetResponse`. That is what a Go node
//! does with any error of `getFromPeer`, and it is the only safe reading:
//! Go answers 500 alike for "no such key", "the source failed" and "I
//! could not reach the owner myself", so a requester cannot tell an answer
//! about the source from a failure of the peer. (A value larger than
//! `max_value_bytes` is the one answer passed on: reloading it would fail
//! the same way.)
//!
//! Liveness: connecting is bounded by the peer timeout (a dead or
//! unreachable peer costs that much), a whole fetch by the fetch timeout
//! (HTTP/1.1 has no PING, so a peer that accepts and then hangs is only
//! noticed then). Connections are kept alive and reused (hyper's pool).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cache_core::{Error as CoreError, Fetched, LoadContext, PeerClient};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::wire::{self, GetResponse};

/// How a [`GoPeer`] connects and how long it waits.
#[derive(Debug, Clone)]
pub struct GoPeerOptions {
    /// Bound on connecting (`--peer-timeout`).
    pub connect_timeout: Duration,
    /// Bound on one whole fetch (`--golang-fetch-timeout`).
    pub fetch_timeout: Duration,
    /// The largest value accepted.
    pub max_value_bytes: usize,
    /// The pool's path prefix, `/_groupcache/` by default.
    pub base_path: String,
}

/// The client side of one Go peer. Cheap to share behind an `Arc`; its
/// connection pool is shared by every fetch.
#[derive(Debug)]
pub struct GoPeer {
    /// The peer's base URL exactly as in the pool's list (its ring name).
    url: String,
    /// `url` + base path: each fetch appends `GROUP/KEY`.
    prefix: String,
    client: Client<HttpConnector, Empty<Bytes>>,
    fetch_timeout: Duration,
    max_value_bytes: usize,
}

impl GoPeer {
    /// A client of the peer at base URL `url` (`http://host:port`, no
    /// trailing slash). Connects on first use.
    pub fn new(url: &str, opts: &GoPeerOptions) -> GoPeer {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(opts.connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        GoPeer {
            url: url.to_owned(),
            prefix: format!("{url}{}", opts.base_path),
            client,
            fetch_timeout: opts.fetch_timeout,
            max_value_bytes: opts.max_value_bytes,
        }
    }

    /// The URL of `key` of `group` on this peer.
    pub fn url_of(&self, group: &str, key: &str) -> String {
        format!(
            "{}{}/{}",
            self.prefix,
            wire::escape(group),
            wire::escape(key)
        )
    }

    async fn get(&self, group: &str, key: &str) -> Result<Fetched, CoreError> {
        let url = self.url_of(group, key);
        let request = Request::get(&url)
            .body(Empty::new())
            .map_err(|e| CoreError::unavailable(format!("bad URL {url:?}: {e}")))?;
        let response = self.client.request(request).await.map_err(|e| {
            CoreError::unavailable(format!("{}: {}", self.url, crate::error::error_chain(&e)))
        })?;
        let status = response.status();
        let limit = self.max_value_bytes + wire::FRAMING_BYTES;
        let declared = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if status == StatusCode::OK
            && let Some(size) = declared
            && size > limit as u64
        {
            return Err(too_large(size, self.max_value_bytes));
        }
        let body = Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    too_large(limit as u64 + 1, self.max_value_bytes)
                } else {
                    CoreError::unavailable(format!("{}: reading the answer: {e}", self.url))
                }
            })?
            .to_bytes();
        if status != StatusCode::OK {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
            return Err(CoreError::unavailable(format!(
                "{} answered {status}: {}",
                self.url,
                text.trim_end()
            )));
        }
        let answer = GetResponse::from_body(&body).map_err(|e| {
            CoreError::unavailable(format!(
                "{}: the answer is not a GetResponse: {e}",
                self.url
            ))
        })?;
        let value = answer.value.unwrap_or_default();
        if value.len() > self.max_value_bytes {
            return Err(too_large(value.len() as u64, self.max_value_bytes));
        }
        Ok(Fetched {
            minute_qps: answer.minute_qps,
            ..Fetched::new(value)
        })
    }
}

fn too_large(size: u64, limit: usize) -> CoreError {
    CoreError::ValueTooLarge {
        size,
        limit: limit as u64,
    }
}

#[async_trait]
impl PeerClient for GoPeer {
    fn id(&self) -> &str {
        &self.url
    }

    /// Fetches `key` of `group` within the fetch timeout and `ctx`'s
    /// deadline; see the module doc for how failures are read.
    async fn fetch(&self, group: &str, key: &str, ctx: &LoadContext) -> Result<Fetched, CoreError> {
        let bound = tokio::time::timeout(self.fetch_timeout, self.get(group, key));
        let answer = match ctx.get_deadline() {
            Some(deadline) => match tokio::time::timeout_at(deadline, bound).await {
                Ok(answer) => answer,
                Err(_) => return Err(CoreError::DeadlineExceeded),
            },
            None => bound.await,
        };
        answer.unwrap_or_else(|_| {
            Err(CoreError::unavailable(format!(
                "{}: no answer within the fetch timeout ({:?})",
                self.url, self.fetch_timeout
            )))
        })
    }
}
