//! `groupcache-bench [FLAGS]`: drive nodes with `Get` (or, with
//! `--batch`, `GetMany`) load and report
//! throughput, latency percentiles, errors and the cluster's counter deltas
//! (see [`crate::load`]); or, with `--owned-by`, print the keys one node
//! owns.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::parse;
use crate::{BenchConfig, Distribution, Error, KeySet, Stop, Verify};

/// How keys are drawn (`--dist`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DistArg {
    /// Every key equally likely.
    Uniform,
    /// Zipf with exponent `--zipf-s`: the first keys are the hot ones.
    Zipf,
    /// Every key in order, then again (warming a cache, stampedes).
    Seq,
}

/// Flags of the load generator (`groupcache-bench` without a subcommand).
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Node addresses to drive; each request goes to one of them at random.
    #[arg(
        long,
        env = "GROUPCACHE_BENCH_TARGETS",
        value_delimiter = ',',
        value_name = "ADDR,ADDR,...",
        default_value = "127.0.0.1:7001"
    )]
    pub targets: Vec<String>,
    /// The group to ask.
    #[arg(long, env = "GROUPCACHE_BENCH_GROUP", default_value = "bench")]
    pub group: String,
    /// Size of the key set: keys PREFIX0 .. PREFIX{N-1}.
    #[arg(long, env = "GROUPCACHE_BENCH_KEYS", default_value_t = 10_000)]
    pub keys: u64,
    /// Text before the key number.
    #[arg(long, env = "GROUPCACHE_BENCH_KEY_PREFIX", default_value = "key-")]
    pub key_prefix: String,
    /// Read the keys from this file instead, one per line (replaces --keys).
    #[arg(long, env = "GROUPCACHE_BENCH_KEYS_FILE", value_name = "PATH")]
    pub keys_file: Option<PathBuf>,
    /// Key distribution.
    #[arg(long, env = "GROUPCACHE_BENCH_DIST", value_enum, default_value_t = DistArg::Uniform)]
    pub dist: DistArg,
    /// Zipf exponent (with --dist zipf).
    #[arg(long, env = "GROUPCACHE_BENCH_ZIPF_S", default_value_t = 1.1)]
    pub zipf_s: f64,
    /// Workers: requests in flight at once.
    #[arg(
        short = 'c',
        long,
        env = "GROUPCACHE_BENCH_CONCURRENCY",
        default_value_t = 32
    )]
    pub concurrency: usize,
    /// HTTP/2 connections per target (worker w uses connection w % conns).
    #[arg(long, env = "GROUPCACHE_BENCH_CONNS", default_value_t = 4)]
    pub conns: usize,
    /// Measured time (after the warm-up).
    #[arg(short = 'd', long, env = "GROUPCACHE_BENCH_DURATION", default_value = "10s", value_parser = parse::duration)]
    pub duration: Duration,
    /// Stop after this many measured requests instead (bounded by --max-time).
    #[arg(short = 'n', long, env = "GROUPCACHE_BENCH_REQUESTS")]
    pub requests: Option<u64>,
    /// Upper bound of the measured phase with --requests.
    #[arg(long, env = "GROUPCACHE_BENCH_MAX_TIME", default_value = "300s", value_parser = parse::duration)]
    pub max_time: Duration,
    /// Unmeasured time before measuring.
    #[arg(long, env = "GROUPCACHE_BENCH_WARMUP", default_value = "1s", value_parser = parse::duration)]
    pub warmup: Duration,
    /// Open loop: send this many requests per second in total, whatever the
    /// answers' speed; latency counts from each request's intended send time.
    #[arg(long, env = "GROUPCACHE_BENCH_RATE")]
    pub rate: Option<f64>,
    /// Check every value against the synthetic source's value of this size
    /// (nodes serving `synthetic:size=SIZE`).
    #[arg(long, env = "GROUPCACHE_BENCH_VERIFY_SYNTHETIC", value_name = "SIZE", value_parser = parse::size)]
    pub verify_synthetic: Option<u64>,
    /// Keys per request: 1 sends `Get`; more sends one `GetMany` of that
    /// many keys (each drawn as with --dist), and the report adds keys/s
    /// and CPU per key.
    #[arg(
        long,
        env = "GROUPCACHE_BENCH_BATCH",
        default_value_t = 1,
        value_name = "KEYS"
    )]
    pub batch: usize,
    /// Per-request deadline (sent as grpc-timeout).
    #[arg(long, env = "GROUPCACHE_BENCH_TIMEOUT", default_value = "5s", value_parser = parse::duration)]
    pub timeout: Duration,
    /// Also report requests, errors and p50/p99/max per slice of this length
    /// (e.g. 1s): shows an event during the run (a peer killed) as a before
    /// and an after. Off by default.
    #[arg(long, env = "GROUPCACHE_BENCH_TIMELINE", value_name = "DURATION", value_parser = parse::duration)]
    pub timeline: Option<Duration>,
    /// Speak TLS to the targets, trusting the CA bundle in FILE.
    #[arg(long, env = "GROUPCACHE_BENCH_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// Send `authorization: Bearer TOKEN` with the first token of FILE on
    /// every request (nodes with --auth-token-file).
    #[arg(long, env = "GROUPCACHE_BENCH_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
    /// Print the report as one JSON line instead of a table.
    #[arg(long, env = "GROUPCACHE_BENCH_JSON", value_parser = parse::switch)]
    pub json: bool,
    /// Exit 1 (after printing the report) when more than this share of the
    /// measured requests failed, in [0, 1]; a run where every request
    /// failed always exits 1.
    #[arg(long, env = "GROUPCACHE_BENCH_MAX_ERROR_RATE", default_value = "1", value_name = "FRACTION", value_parser = parse::error_rate)]
    pub max_error_rate: f64,
    /// Also append the JSON report as a line to this file.
    #[arg(long, env = "GROUPCACHE_BENCH_OUT", value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// A name for this run in the report.
    #[arg(long, env = "GROUPCACHE_BENCH_LABEL", default_value = "")]
    pub label: String,
    /// Server process ids whose CPU time is measured (Linux /proc).
    #[arg(
        long,
        env = "GROUPCACHE_BENCH_PIDS",
        value_delimiter = ',',
        value_name = "PID,PID,..."
    )]
    pub pids: Vec<u32>,
    /// Don't ask the targets for Stats before and after.
    #[arg(long, env = "GROUPCACHE_BENCH_NO_STATS", value_parser = parse::switch)]
    pub no_stats: bool,
    /// Don't draw the progress bar (it is drawn only on a terminal anyway).
    #[arg(long, env = "GROUPCACHE_BENCH_NO_PROGRESS", value_parser = parse::switch)]
    pub no_progress: bool,
    /// Seed of the key and target choices.
    #[arg(long, env = "GROUPCACHE_BENCH_SEED", default_value_t = 1)]
    pub seed: u64,
    /// Print the keys of the key set that this node owns, one per line, and
    /// exit (no load). The ring is computed from --peers.
    #[arg(long, value_name = "ADDR", value_parser = parse::peer)]
    pub owned_by: Option<String>,
    /// With --owned-by: every member of the cluster, as given to `groupcache serve --peers`.
    #[arg(long, value_delimiter = ',', value_name = "ADDR,ADDR,...", value_parser = parse::peer)]
    pub peers: Vec<String>,
}

impl RunArgs {
    /// The run these flags describe (reads --keys-file).
    pub fn to_config(&self) -> Result<BenchConfig, Error> {
        let mut cfg = BenchConfig::new(self.targets.clone());
        cfg.group = self.group.clone();
        cfg.keys = self.key_set()?;
        cfg.dist = match self.dist {
            DistArg::Uniform => Distribution::Uniform,
            DistArg::Zipf => Distribution::Zipf { s: self.zipf_s },
            DistArg::Seq => Distribution::Sequential,
        };
        cfg.concurrency = self.concurrency;
        cfg.conns = self.conns;
        cfg.stop = match self.requests {
            Some(count) => Stop::Requests {
                count,
                max_time: self.max_time,
            },
            None => Stop::Duration(self.duration),
        };
        cfg.warmup = self.warmup;
        cfg.rate = self.rate;
        cfg.timeout = self.timeout;
        cfg.batch = self.batch;
        if let Some(size) = self.verify_synthetic {
            let size = usize::try_from(size)
                .map_err(|_| Error::config("--verify-synthetic is too large"))?;
            cfg.verify = Some(Verify {
                size,
                expected: crate::synthetic_value,
            });
            let response = size.saturating_mul(self.batch.max(1));
            cfg.max_message_bytes = cfg.max_message_bytes.max(response.saturating_add(1 << 20));
        }
        cfg.label = self.label.clone();
        cfg.pids = self.pids.clone();
        cfg.stats = !self.no_stats;
        cfg.progress = !self.no_progress && !self.json;
        cfg.seed = self.seed;
        cfg.timeline = self.timeline;
        if let Some(ca) = &self.tls_ca {
            let tls =
                cache_grpc::tls::ClientTls::load(cache_grpc::tls::ClientTlsConfig::new().ca(ca))
                    .map_err(|e| Error::config(format!("--tls-ca: {e}")))?;
            cfg.tls = Some(tls);
        }
        if let Some(file) = &self.token_file {
            let tokens = cache_grpc::auth::Tokens::from_file(file)
                .map_err(|e| Error::config(format!("--token-file: {e}")))?;
            cfg.authorization = Some(tokens.header());
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn key_set(&self) -> Result<KeySet, Error> {
        match &self.keys_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Error::io(format!("reading keys file {}", path.display()), e))?;
                let keys: Vec<String> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect();
                if keys.is_empty() {
                    return Err(Error::config(format!(
                        "keys file {} holds no key",
                        path.display()
                    )));
                }
                Ok(KeySet::List(keys))
            }
            None => Ok(KeySet::Range {
                prefix: self.key_prefix.clone(),
                count: self.keys,
            }),
        }
    }
}

/// Runs the benchmark (or `--owned-by`) and prints the report.
pub async fn run(args: RunArgs) -> Result<(), Error> {
    if let Some(node) = &args.owned_by {
        return print_owned(&args, node);
    }
    let cfg = args.to_config()?;
    let report = crate::run(&cfg).await?;
    let line = serde_json::to_string(&report).expect("a report serialises");
    if let Some(path) = &args.out {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        writeln!(f, "{line}").map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    }
    let printed = if args.json { line } else { report.to_table() };
    crate::cli::write_stdout(format!("{printed}\n").as_bytes())?;
    check_errors(report.requests, report.errors, args.max_error_rate)
}

/// Fails the run when every request failed (or none was measured), or more
/// than `max_rate` of them did.
fn check_errors(requests: u64, errors: u64, max_rate: f64) -> Result<(), Error> {
    let failed = |why: String| Err(Error::Failed(why));
    if requests == 0 {
        return failed("no request completed in the measured phase".into());
    }
    if errors == requests {
        return failed(format!("all {requests} requests failed"));
    }
    let rate = errors as f64 / requests as f64;
    if rate > max_rate {
        return failed(format!(
            "{errors} of {requests} requests failed ({:.2}%), above --max-error-rate {max_rate}",
            rate * 100.0
        ));
    }
    Ok(())
}

/// `--owned-by NODE --peers ...`: the keys of the key set NODE owns.
fn print_owned(args: &RunArgs, node: &str) -> Result<(), Error> {
    if args.peers.is_empty() {
        return Err(Error::config(
            "--owned-by needs --peers (every member of the cluster)",
        ));
    }
    let keys = args.key_set()?.keys()?;
    let owned = crate::owned_keys(node, &args.peers, &keys)?;
    let mut out = std::io::stdout().lock();
    for k in owned {
        writeln!(out, "{k}").map_err(|e| Error::io("writing to stdout", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run fails when nothing succeeded or the error share is above the
    /// limit; otherwise it passes.
    #[test]
    fn runs_fail_on_errors_as_configured() {
        assert!(check_errors(0, 0, 1.0).is_err());
        assert!(check_errors(10, 10, 1.0).is_err());
        assert!(check_errors(100, 2, 0.01).is_err());
        assert!(check_errors(100, 1, 0.01).is_ok());
        assert!(check_errors(100, 99, 1.0).is_ok());
    }
}
