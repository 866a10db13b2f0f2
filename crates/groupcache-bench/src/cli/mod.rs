//! The `groupcache-bench` command line.
//!
//! | command | module | what |
//! |---|---|---|
//! | `groupcache-bench [FLAGS]` | [`run`](mod@run) | drive nodes with `Get` load and print the report |
//! | `groupcache-bench echo` | [`echo`] | the limit server the load generator is compared with |
//! | `groupcache-bench report` | [`report`] | `docs/benchmarks.md` and plots from the suite's results; one saved report as a table or one field |
//!
//! The load generator is the command itself (as `redis-benchmark` is), so
//! its flags come without a subcommand; giving them together with `echo`
//! or `report` is a usage error. Every flag can also be set from the
//! environment variable shown in `--help` (`GROUPCACHE_BENCH_*` for the
//! load generator, `GROUPCACHE_ECHO_*` for the echo server); a flag on the
//! command line wins.
//!
//! Exit codes: 0 success; 1 failure (a target unreachable, every request
//! failed, more than `--max-error-rate` failed, an I/O error); 2 usage or
//! configuration error.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, error::ErrorKind};

use crate::Error;
use crate::error::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};

pub mod echo;
mod parse;
pub mod report;
pub mod run;
pub mod runtime;

/// groupcache-bench: a gRPC load generator for groupcache nodes.
///
/// Without a subcommand it drives `groupcache.v1.Groupcache/Get` on the
/// --targets and prints throughput, latency percentiles, errors by status
/// and the cluster's counter deltas. `echo` is the limit server to compare
/// a node with; `report` writes the benchmark suite's report.
#[derive(Debug, Parser)]
#[command(name = "groupcache-bench", version)]
#[command(
    override_usage = "groupcache-bench [OPTIONS]          (the load generator)\n       \
groupcache-bench echo [OPTIONS]     (the limit server)\n       \
groupcache-bench report [OPTIONS]   (the suite's report)"
)]
#[command(
    after_help = "Exit codes: 0 ok, 1 failure (target unreachable, requests failed), 2 usage or configuration error.\n\
Every flag can also be set from the environment variable shown beside it."
)]
pub struct Cli {
    /// Logging (valid for every command).
    #[command(flatten)]
    pub log: LogArgs,
    /// `echo` or `report`; none: run the load generator.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The load generator's flags (without a subcommand).
    #[command(flatten)]
    pub run: run::RunArgs,
}

/// The subcommands beside the load generator. Adding one is a variant here,
/// a module beside this file and an arm in [`Cli::run`].
#[derive(Debug, Subcommand)]
// One value per process, parsed once: the variants' sizes don't matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// The limit server: a bare tonic server answering every Get with the
    /// same payload, to compare a node with.
    Echo(echo::EchoArgs),
    /// Write the benchmark report (Markdown and SVG plots) from the suite's
    /// results, or print one saved report as a table or one of its fields.
    Report(report::ReportArgs),
}

/// `--log`: where the tool's own diagnostics go (tonic's and h2's `tracing`
/// events; the results go to stdout regardless).
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log filter for stderr: a level (error, warn, info, debug, trace) or
    /// tracing directives such as `warn,h2=debug`.
    #[arg(
        long = "log",
        global = true,
        env = "GROUPCACHE_LOG",
        value_name = "FILTER",
        default_value = "warn"
    )]
    pub filter: String,
}

impl LogArgs {
    /// Installs the global subscriber, writing text lines to stderr.
    pub fn init(&self) -> Result<(), Error> {
        let filter = tracing_subscriber::EnvFilter::builder()
            .parse(&self.filter)
            .map_err(|e| Error::config(format!("bad --log filter {:?}: {e}", self.filter)))?;
        // A subscriber already installed (tests) is not an error.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
        Ok(())
    }
}

impl Cli {
    /// Parses `args` (the program name first), as [`Parser::try_parse_from`]
    /// does, and refuses the load generator's flags beside `echo` or
    /// `report` (the environment's `GROUPCACHE_BENCH_*` are ignored there).
    /// Not clap's `args_conflicts_with_subcommands`: that one would also
    /// refuse `--log` before the subcommand.
    pub fn parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut command = Cli::command();
        let matches = command.try_get_matches_from_mut(args)?;
        let cli = Cli::from_arg_matches(&matches)?;
        if let Some((name, _)) = matches.subcommand() {
            let run_flags = run::RunArgs::augment_args(clap::Command::new("run"));
            for arg in run_flags.get_arguments() {
                let id = arg.get_id().as_str();
                if matches.value_source(id) == Some(ValueSource::CommandLine) {
                    let flag = arg.get_long().unwrap_or(id);
                    return Err(command.error(
                        ErrorKind::ArgumentConflict,
                        format!(
                            "--{flag} is a flag of the load generator; it does not go with `{name}`"
                        ),
                    ));
                }
            }
        }
        Ok(cli)
    }

    /// The `--threads` of the runtime this command runs on (see
    /// [`runtime`]): the flag for `echo`, one worker per core otherwise.
    pub fn threads(&self) -> usize {
        match &self.command {
            Some(Command::Echo(args)) => args.threads,
            _ => 0,
        }
    }

    /// Runs the command to completion.
    pub async fn run(self) -> Result<(), Error> {
        match self.command {
            None => run::run(self.run).await,
            Some(Command::Echo(args)) => echo::run(args).await,
            Some(Command::Report(args)) => report::run(args),
        }
    }
}

/// Parses the command line and the environment, runs the command, and
/// returns the process exit code. The body of the `groupcache-bench`
/// binary.
pub fn main() -> ExitCode {
    let cli = match Cli::parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    if let Err(e) = cli.log.init() {
        report_error(&e);
        return ExitCode::from(e.exit_code());
    }
    let runtime = match runtime::build(cli.threads()) {
        Ok(rt) => rt,
        Err(e) => {
            report_error(format!("cannot start the async runtime: {e}"));
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let result = runtime.block_on(cli.run());
    // Tasks still running (idle connections) must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            report_error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// Writes a message for the user to stderr (an error before exit): a closed
/// stderr loses the message, never the exit code.
fn report_error(message: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr().lock(), "{message}");
}

/// Writes `bytes` to stdout and flushes. A closed pipe
/// (`groupcache-bench --owned-by .. | head`) is not an error: the reader
/// has what it wanted.
pub(crate) fn write_stdout(bytes: &[u8]) -> Result<(), Error> {
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
