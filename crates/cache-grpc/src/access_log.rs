//! [`AccessLog`]: an optional line per client `Get` (the access log), and
//! a line per `Get` or `Fetch` slower than a threshold (the slow-request
//! log), as tracing events operators route by target:
//!
//! - `groupcache::access`, at `info`: `rpc`, `group`, `key`, `code`
//!   (`OK` or the gRPC status), `bytes`, `latency_us`, `peer` (the
//!   client's address);
//! - `groupcache::slow`, at `warn`, the same fields, for requests at or
//!   above the threshold.
//!
//! Keys are shown as a hash by default (`xxh3:` and 16 hex digits, the
//! same on every node, so one key's lines can be joined across a mesh
//! without the key itself reaching the logs); their length, or the key
//! itself, on request. Latency counts from the request's arrival (the
//! deadline layer's clock read) to its answer. Off (the default), a
//! request pays one branch.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

/// How keys appear in access and slow-request lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KeyDisplay {
    /// `xxh3:` and the key's 64-bit xxh3 in hex (the default).
    #[default]
    Hash,
    /// `len:` and the key's length in bytes.
    Length,
    /// The key itself (it may hold user data: opt in).
    Full,
}

/// Which requests are logged, and how. Cheap to copy; the default logs
/// nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccessLog {
    every_get: bool,
    slow: Option<Duration>,
    keys: KeyDisplay,
}

/// The RPC a line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rpc {
    Get,
    Fetch,
}

impl Rpc {
    fn name(self) -> &'static str {
        match self {
            Rpc::Get => "Get",
            Rpc::Fetch => "Fetch",
        }
    }
}

impl AccessLog {
    /// Logs nothing.
    pub fn off() -> Self {
        AccessLog::default()
    }

    /// A line for every client `Get`.
    pub fn every_get(mut self, on: bool) -> Self {
        self.every_get = on;
        self
    }

    /// A `warn` line for every `Get` or `Fetch` that took at least
    /// `threshold`.
    pub fn slow_above(mut self, threshold: Option<Duration>) -> Self {
        self.slow = threshold;
        self
    }

    /// How keys are shown.
    pub fn keys(mut self, keys: KeyDisplay) -> Self {
        self.keys = keys;
        self
    }

    /// Whether anything is logged at all.
    pub fn is_on(&self) -> bool {
        self.every_get || self.slow.is_some()
    }

    /// Logs one answered request, if it is to be: `started` is when it
    /// arrived, `answer` its value's size or its status.
    pub(crate) fn record(
        &self,
        rpc: Rpc,
        group: &str,
        key: &str,
        answer: Result<usize, tonic::Code>,
        started: Instant,
        peer: Option<SocketAddr>,
    ) {
        let latency = started.elapsed();
        let slow = self.slow.is_some_and(|t| latency >= t);
        let access = self.every_get && rpc == Rpc::Get;
        if !slow && !access {
            return;
        }
        let key = self.show(key);
        let (code, bytes) = match answer {
            Ok(n) => (tonic::Code::Ok, n),
            Err(code) => (code, 0),
        };
        let code = crate::status::code_name(code);
        let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let peer = peer.map(|p| p.to_string()).unwrap_or_default();
        let rpc = rpc.name();
        if access {
            tracing::info!(target: "groupcache::access", rpc, group, %key, code, bytes, latency_us, %peer, "request");
        }
        if slow {
            tracing::warn!(target: "groupcache::slow", rpc, group, %key, code, bytes, latency_us, %peer, "slow request");
        }
    }

    fn show(&self, key: &str) -> String {
        match self.keys {
            KeyDisplay::Hash => format!("xxh3:{:016x}", xxhash_rust::xxh3::xxh3_64(key.as_bytes())),
            KeyDisplay::Length => format!("len:{}", key.len()),
            KeyDisplay::Full => key.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests;
