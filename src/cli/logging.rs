//! Logging: `tracing` events to stderr, as text or JSON lines.

use std::io::IsTerminal;

use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;

use crate::Error;

/// How log lines are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for log collectors).
    Json,
}

/// Logging flags, accepted by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log filter: a level (error, warn, info, debug, trace) or tracing
    /// directives such as `info,cache_grpc=debug`. Default: `info` for
    /// `serve`, `warn` for the other subcommands.
    #[arg(
        long = "log",
        global = true,
        env = "GROUPCACHE_LOG",
        value_name = "FILTER"
    )]
    pub filter: Option<String>,
    /// Log line format.
    #[arg(
        long = "log-format",
        global = true,
        env = "GROUPCACHE_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub format: LogFormat,
}

impl LogArgs {
    /// Installs the global subscriber, writing to stderr. `default` is the
    /// filter used when `--log` was not given.
    pub fn init(&self, default: &str) -> Result<(), Error> {
        let text = self.filter.as_deref().unwrap_or(default);
        let filter = EnvFilter::builder()
            .parse(text)
            .map_err(|e| Error::config(format!("bad --log filter {text:?}: {e}")))?;
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal());
        let result = match self.format {
            LogFormat::Text => builder.try_init(),
            LogFormat::Json => builder.json().try_init(),
        };
        // A subscriber already installed (tests) is not an error.
        let _ = result;
        Ok(())
    }
}
