//! `http://host:port/prefix/{key}` and `https://...`: the key is fetched from
//! an HTTP origin. `freshness.rs` reads the answer's cache headers into the
//! value's TTL.

mod freshness;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use cache_core::{Error as CoreError, Getter, LoadContext, Loaded};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::sync::Semaphore;

use crate::Error;
use crate::source::{SourceOptions, bounded};

/// The placeholder replaced by the percent-encoded key.
pub const KEY_PLACEHOLDER: &str = "{key}";

/// The default of [`SourceOptions::origin_max_connections`]: requests one
/// source has in flight to its origin at once.
pub const DEFAULT_ORIGIN_MAX_CONNECTIONS: usize = 64;

/// How long an idle origin connection is kept for the next request: well
/// below the keep-alive timeouts of common servers and load balancers (60
/// to 75 s), so that the origin seldom closes one just as it is reused.
const ORIGIN_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes left as they are in a key: RFC 3986 unreserved characters. Every
/// other byte, `/` included, is percent-encoded, so a key is always exactly
/// one path segment (or one query value) of the origin's URL.
const KEY_ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A [`Getter`] that GETs each key from an HTTP(S) origin.
///
/// - 2xx: the body is the value (at most `max_value_bytes`, or the load
///   fails), with the TTL its `Cache-Control` (`no-store`, `no-cache`,
///   `private`: not cached; `s-maxage`, else `max-age`), `Expires` (against
///   `Date`) and `Age` headers give it (see `freshness.rs`); the group's
///   `--ttl` caps it;
/// - 404 and 410: [`CoreError::NotFound`];
/// - any other status, a transport error or the origin timeout:
///   [`CoreError::SourceFailed`].
///
/// At most `origin_max_connections` requests are in flight to the origin
/// at once, on as many pooled keep-alive connections (idle ones are kept
/// for 30 s); a load beyond that waits for its turn. Each request is bounded
/// by the origin timeout (a source failure); the wait and the request
/// together by the load's deadline, and both stop when the load is
/// cancelled ([`LoadContext::cancellation`]: nobody waits for the value),
/// closing a request in progress: [`CoreError::DeadlineExceeded`]. TLS is
/// rustls with the Mozilla root certificates compiled in (no system
/// OpenSSL); `HTTP(S)_PROXY` environment variables are honoured.
#[derive(Debug, Clone)]
pub struct HttpSource {
    /// The URL text before `{key}`.
    prefix: String,
    /// The URL text after `{key}`.
    suffix: String,
    /// Shared connection pool (a `reqwest::Client` is an `Arc` inside).
    client: reqwest::Client,
    /// One permit per origin request in flight, `origin_max_connections`
    /// in all; shared by the clones of this source.
    permits: Arc<Semaphore>,
    /// Bodies above this many bytes are refused.
    max_value_bytes: u64,
}

impl HttpSource {
    /// A source for `template`, which must be an `http://` or `https://` URL
    /// holding `{key}` exactly once, with the origin timeout, maximum value
    /// size and extra trusted certificates of `options`.
    pub fn new(template: &str, options: &SourceOptions) -> Result<Self, Error> {
        let timeout = options.origin_timeout;
        let max_value_bytes = options.max_value_bytes;
        if !(template.starts_with("http://") || template.starts_with("https://")) {
            return Err(Error::config(format!(
                "http source {template:?}: must start with http:// or https://"
            )));
        }
        let (prefix, suffix) = template.split_once(KEY_PLACEHOLDER).ok_or_else(|| {
            Error::config(format!(
                "http source {template:?}: the URL must contain {KEY_PLACEHOLDER} where the key goes"
            ))
        })?;
        if suffix.contains(KEY_PLACEHOLDER) {
            return Err(Error::config(format!(
                "http source {template:?}: {KEY_PLACEHOLDER} may appear only once"
            )));
        }
        let sample = format!("{prefix}k{suffix}");
        let url = reqwest::Url::parse(&sample)
            .map_err(|e| Error::config(format!("http source {template:?}: {e}")))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Error::config(format!("http source {template:?}: no host")));
        }
        if timeout.is_zero() {
            return Err(Error::config("the origin timeout must be above zero"));
        }
        let max_connections = options.origin_max_connections;
        if max_connections == 0 {
            return Err(Error::config(
                "the origin connection limit must be above zero",
            ));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(max_connections)
            .pool_idle_timeout(ORIGIN_IDLE_TIMEOUT)
            .user_agent(concat!("groupcache/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &options.origin_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| Error::config(format!("origin CA certificates: {e}")))?;
            if certs.is_empty() {
                return Err(Error::config("origin CA file holds no PEM certificate"));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| Error::config(format!("http source {template:?}: {e}")))?;
        Ok(HttpSource {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
            client,
            permits: Arc::new(Semaphore::new(max_connections)),
            max_value_bytes,
        })
    }

    /// The origin URL of `key`.
    pub fn url_for(&self, key: &str) -> String {
        format!(
            "{}{}{}",
            self.prefix,
            utf8_percent_encode(key, KEY_ENCODE_SET),
            self.suffix
        )
    }
}

#[async_trait]
impl Getter for HttpSource {
    async fn get(&self, key: &str, ctx: &LoadContext) -> Result<Loaded, CoreError> {
        let url = self.url_for(key);
        bounded(ctx, async {
            // Never closed; held until the body is read.
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| CoreError::source_failed("the origin request limit is closed"))?;
            self.fetch(&url).await
        })
        .await
    }
}

impl HttpSource {
    /// GETs `url` (bounded by the origin timeout) and reads its body.
    async fn fetch(&self, url: &str) -> Result<Loaded, CoreError> {
        let failed = |what: &dyn std::fmt::Display| {
            CoreError::source_failed(format!("origin GET {url}: {what}"))
        };
        let mut resp = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| failed(&crate::error::error_chain(&e)))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            return Err(CoreError::NotFound);
        }
        if !status.is_success() {
            return Err(failed(&format!("status {status}")));
        }
        let ttl = freshness::ttl_of(resp.headers(), SystemTime::now());
        let too_big = || {
            failed(&format!(
                "body over the maximum value size of {} bytes",
                self.max_value_bytes
            ))
        };
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_value_bytes)
        {
            return Err(too_big());
        }
        // Sized from Content-Length (already checked against the maximum) so
        // the cached value holds no spare capacity.
        let mut body = BytesMut::with_capacity(resp.content_length().unwrap_or(0) as usize);
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| failed(&crate::error::error_chain(&e)))?
        {
            if (body.len() + chunk.len()) as u64 > self.max_value_bytes {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        // A body without (or with a wrong) Content-Length may have grown past
        // its length: the cache would keep that spare capacity alive, so give
        // it an exact-size copy instead.
        let value = if body.capacity() - body.len() > body.len() / 8 {
            Bytes::copy_from_slice(&body)
        } else {
            body.freeze()
        };
        let mut loaded = Loaded::new(value);
        loaded.ttl = ttl;
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests;
