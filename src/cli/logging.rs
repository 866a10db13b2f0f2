//! Logging: `tracing` events to stderr, as text or JSON lines.
//!
//! A node must never die because of its logs: a log shipper that went away
//! (a closed pipe), a full disk. Lines that cannot be written are dropped
//! and counted ([`dropped_lines`]), never retried and never a panic
//! (tracing-subscriber's own report of a failed write goes through
//! `eprintln!`, which panics on the same closed stderr, so it is off).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use clap::{Args, ValueEnum};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::Error;
use crate::cli::traces::BoxLayer;

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
    /// Installs the global subscriber: log lines to stderr under the
    /// `--log` filter (`default` when it was not given), and `extra` (the
    /// span exporter's layer, with its own filter) beside them.
    pub fn init(&self, default: &str, extra: Option<BoxLayer>) -> Result<(), Error> {
        let text = self.filter.as_deref().unwrap_or(default);
        let filter = EnvFilter::builder()
            .parse(text)
            .map_err(|e| Error::config(format!("bad --log filter {text:?}: {e}")))?;
        let lines = tracing_subscriber::fmt::layer()
            .with_writer(|| LossyStderr)
            .log_internal_errors(false)
            .with_ansi(std::io::stderr().is_terminal());
        // The filter is the log lines' own (a per-layer filter), so that
        // the exporter's layer sees what it asks for, not only what is
        // logged.
        let lines: BoxLayer = match self.format {
            LogFormat::Text => lines.with_filter(filter).boxed(),
            LogFormat::Json => lines.json().with_filter(filter).boxed(),
        };
        let layers: Vec<BoxLayer> = std::iter::once(lines).chain(extra).collect();
        // A subscriber already installed (tests) is not an error.
        let _ = tracing_subscriber::registry().with(layers).try_init();
        Ok(())
    }
}

/// Log lines dropped because stderr could not take them (this process).
static DROPPED_LINES: AtomicU64 = AtomicU64::new(0);

/// Log lines that could not be written so far.
pub fn dropped_lines() -> u64 {
    DROPPED_LINES.load(Ordering::Relaxed)
}

/// Writes `bytes` to stderr, or counts a dropped line.
fn write_or_count(mut stderr: impl Write, bytes: &[u8]) {
    if stderr.write_all(bytes).is_err() {
        DROPPED_LINES.fetch_add(1, Ordering::Relaxed);
    }
}

/// stderr for log lines: a failed write is counted and reported as done,
/// so nothing above it retries or reports it. The formatter hands each
/// event over in one `write_all`.
struct LossyStderr;

impl Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_or_count(std::io::stderr().lock(), buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// Writes a message for the user to stderr (an error before exit): a closed
/// stderr loses the message, never the exit code.
pub fn report(message: impl std::fmt::Display) {
    write_or_count(std::io::stderr().lock(), format!("{message}\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that always fails, as a closed pipe does.
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A failed write is counted, not raised.
    #[test]
    fn failed_writes_are_counted() {
        let before = dropped_lines();
        write_or_count(Closed, b"a line\n");
        write_or_count(Vec::new(), b"fine\n");
        assert_eq!(dropped_lines() - before, 1);
    }
}
