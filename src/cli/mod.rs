//! The `groupcache` command line: one [`Command`] variant and one module per
//! subcommand.
//!
//! | subcommand | module | what |
//! |---|---|---|
//! | `serve` | [`serve`] | run a cache node |
//! | `get` | [`get`] | fetch one key from a node |
//! | `remove`, `set` | [`mutate`] | change keys across the whole mesh |
//! | `get-many` | [`get_many`] | fetch many keys of a group in one call |
//! | `stats` | [`stats`] | print a node's counters |
//! | `wait` | [`wait`] | return once nodes answer health SERVING |
//! | `demo` | [`demo`] | a 3-node mesh in one process, narrated |
//!
//! The load generator is a binary of its own, `groupcache-bench` (crate
//! `crates/groupcache-bench`), as `redis-benchmark` is beside
//! `redis-server`.
//!
//! Every flag can also be set from an environment variable named
//! `GROUPCACHE_<FLAG>` (shown in `--help`); a flag on the command line wins.
//! `serve --config FILE` reads them from a TOML file too ([`config`]),
//! below both.
//!
//! Exit codes: 0 success; 1 failure (a node unreachable, an error status
//! other than `NOT_FOUND`); 2 usage or configuration error; 3 `NOT_FOUND`
//! (`get`; `get-many` when the only failed keys are `NOT_FOUND`).

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::Error;
use crate::error::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};

pub mod client;
pub mod client_tls;
pub mod config;
pub mod demo;
pub mod get;
pub mod get_many;
pub mod logging;
pub mod mutate;
pub mod parse;
pub mod runtime;
pub mod serve;
pub mod stats;
pub mod traces;
#[cfg(feature = "otlp")]
pub mod tracing_otlp;
pub mod wait;

/// `groupcache`: a distributed caching and cache-filling server speaking
/// gRPC.
#[derive(Debug, Parser)]
#[command(name = "groupcache", version = crate::build::VERSION, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 ok, 1 failure, 2 usage or configuration error, 3 NOT_FOUND (get; get-many: only NOT_FOUND keys failed).\n\
Every flag can also be set from the environment variable shown beside it."
)]
pub struct Cli {
    /// Logging options (valid for every subcommand).
    #[command(flatten)]
    pub log: logging::LogArgs,
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands. Adding one is a variant here, a module beside this file
/// and an arm in [`Command::run`].
#[derive(Debug, Subcommand)]
// One value per process, parsed once: the variants' sizes don't matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run a cache node: serve groups over gRPC and share keys with peers.
    Serve(serve::ServeArgs),
    /// Get one key from a node; the raw value goes to stdout.
    Get(get::GetArgs),
    /// Remove keys from every node's caches (the owners first); prints the
    /// nodes reached, exit 1 if one was not.
    Remove(mutate::RemoveArgs),
    /// Store a value at the key's owner and drop every other copy (the
    /// source is not written); exit 1 if a node was not reached.
    Set(mutate::SetArgs),
    /// Get many keys of a group in one call (GetMany); a line per key,
    /// `KEY<TAB>OK<TAB>VALUE` or `KEY<TAB>CODE<TAB>MESSAGE`.
    GetMany(get_many::GetManyArgs),
    /// Print every counter of every group of a node, as a table or JSON.
    Stats(stats::StatsArgs),
    /// Wait until every node given answers its health check SERVING (exit 1
    /// on timeout): for scripts that start nodes and then use them.
    Wait(wait::WaitArgs),
    /// Start a 3-node mesh in this process and show what groupcache does.
    Demo(demo::DemoArgs),
}

impl Command {
    /// Runs the subcommand to completion.
    pub async fn run(self) -> Result<(), Error> {
        match self {
            Command::Serve(args) => serve::run(args).await,
            Command::Get(args) => get::run(args).await,
            Command::Remove(args) => mutate::remove(args).await,
            Command::Set(args) => mutate::set(args).await,
            Command::GetMany(args) => get_many::run(args).await,
            Command::Stats(args) => stats::run(args).await,
            Command::Wait(args) => wait::run(args).await,
            Command::Demo(args) => demo::run(args).await,
        }
    }

    /// The `--threads` of the runtime this subcommand runs on (see
    /// [`runtime`]): the flag for `serve`, one worker per core for the
    /// others.
    pub fn threads(&self) -> usize {
        match self {
            Command::Serve(args) => args.threads,
            _ => 0,
        }
    }

    /// The trace export flags of this subcommand (`serve` only).
    fn traces(&self) -> Option<&traces::TraceArgs> {
        match self {
            Command::Serve(args) => Some(&args.traces),
            _ => None,
        }
    }

    /// The log filter used when `--log` is not given: `info` for a server,
    /// `warn` for the client commands and the demo (which print their own
    /// output).
    fn default_log_filter(&self) -> &'static str {
        match self {
            Command::Serve(_) => "info",
            _ => "warn",
        }
    }
}

/// Parses the command line and the environment, runs the subcommand, and
/// returns the process exit code. The body of the `groupcache` binary.
pub fn main() -> ExitCode {
    let cli = match config::parse(std::env::args_os().collect(), |k| std::env::var_os(k)) {
        Ok(cli) => cli,
        Err(config::ParseError::Clap(e)) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
        Err(config::ParseError::Config(e)) => {
            logging::report(&e);
            return ExitCode::from(e.exit_code());
        }
    };
    let runtime = match runtime::build(cli.command.threads()) {
        Ok(rt) => rt,
        Err(e) => {
            logging::report(format!("cannot start the async runtime: {e}"));
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    // Span export (serve --otlp-endpoint) is a layer of the subscriber, so
    // it starts before logging; inside the runtime, where its channel lives.
    let export = match cli.command.traces() {
        Some(args) => {
            let _inside = runtime.enter();
            traces::start(args, |k| std::env::var(k).ok())
        }
        None => Ok(None),
    };
    let (export, layer) = match export {
        Ok(started) => started.unzip(),
        Err(e) => {
            logging::report(&e);
            return ExitCode::from(e.exit_code());
        }
    };
    if let Err(e) = cli.log.init(cli.command.default_log_filter(), layer) {
        logging::report(&e);
        return ExitCode::from(e.exit_code());
    }
    let result = runtime.block_on(async {
        let result = cli.command.run().await;
        if let Some(export) = export {
            export.shutdown().await;
        }
        result
    });
    // Tasks still running (idle connections) must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            logging::report(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// Writes `bytes` to stdout and flushes. A closed pipe (`groupcache stats |
/// head`) is not an error: the reader has what it wanted.
pub fn write_stdout(bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::io("writing to stdout", e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
