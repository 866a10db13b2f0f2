//! `serve` flags for the request logs: the access log (a line per client
//! `Get`) and the slow-request log (a line per `Get` or `Fetch` over a
//! threshold). Both go where the other log lines go (stderr, text or
//! JSON), under targets of their own, `groupcache::access` and
//! `groupcache::slow`, so `--log` can select them
//! (`--log warn,groupcache::access=info`).

use std::time::Duration;

use cache_grpc::access_log::{AccessLog, KeyDisplay};
use clap::{Args, ValueEnum};

use crate::Error;
use crate::cli::parse::clap_parsers;

/// How keys are shown in request log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum KeysArg {
    /// `xxh3:` and 16 hex digits: the same on every node, the key hidden.
    #[default]
    Hash,
    /// `len:` and the key's length.
    Length,
    /// The key itself.
    Full,
}

/// Request-log flags of `serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct AccessLogArgs {
    /// Log a line per client Get (target groupcache::access, at info):
    /// group, key (see --log-keys), status, bytes, latency, client address.
    #[arg(long, env = "GROUPCACHE_ACCESS_LOG", value_parser = clap_parsers::switch)]
    pub access_log: bool,
    /// Log a warn line (target groupcache::slow) for every Get or Fetch
    /// that took at least DURATION, from its arrival to its answer.
    /// Default: off.
    #[arg(long, env = "GROUPCACHE_SLOW_REQUEST_LOG", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub slow_request_log: Option<Duration>,
    /// How the request logs show keys: hash (default; no key in the logs),
    /// length, or full.
    #[arg(long, env = "GROUPCACHE_LOG_KEYS", value_enum, default_value_t = KeysArg::Hash, value_name = "HOW")]
    pub log_keys: KeysArg,
}

impl AccessLogArgs {
    /// The server's request logging, or an error for a zero threshold.
    pub fn access_log(&self) -> Result<AccessLog, Error> {
        if self.slow_request_log.is_some_and(|t| t.is_zero()) {
            return Err(Error::config(
                "--slow-request-log must be above zero (use --access-log to log every get)",
            ));
        }
        let keys = match self.log_keys {
            KeysArg::Hash => KeyDisplay::Hash,
            KeysArg::Length => KeyDisplay::Length,
            KeysArg::Full => KeyDisplay::Full,
        };
        Ok(AccessLog::off()
            .every_get(self.access_log)
            .slow_above(self.slow_request_log)
            .keys(keys))
    }
}
