//! How a node loads: the load timeout, the bound on concurrent loads, and
//! how it judges and skips a dead peer. The flags are [`LoadArgs`],
//! flattened into [`ServeArgs`](super::ServeArgs).

use std::time::Duration;

use cache_core::LoadLimiter;
use cache_core::load_limit::{DEFAULT_MAX_CONCURRENT_LOADS, DEFAULT_MAX_QUEUED_LOADS};
use cache_grpc::{BreakerOptions, PoolOptionsBuilder};
use clap::Args;

use crate::Error;
use crate::cli::parse::clap_parsers;

/// The `serve` flags on loads, peer liveness and the breaker.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// How long a peer may stay silent before it is judged dead and the key
    /// is loaded locally: the bound on connecting to it, and on its answer
    /// to an HTTP/2 PING while fetches are in flight. A live owner that is
    /// still loading is waited for (up to the caller's deadline and
    /// --load-timeout), however much longer than this its load takes.
    #[arg(long, env = "GROUPCACHE_PEER_TIMEOUT", default_value = "300ms", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub peer_timeout: Duration,
    /// The longest one source load may take (a loader call, or the wait
    /// for the key's owner); every caller waiting for the key then gets
    /// UNAVAILABLE. No caller's deadline bounds a load: it serves all of
    /// them, and is cancelled only when none is left.
    #[arg(long, env = "GROUPCACHE_LOAD_TIMEOUT", default_value = "30s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub load_timeout: Duration,
    /// Source loads running at once on this node, all groups together.
    #[arg(long, env = "GROUPCACHE_MAX_CONCURRENT_LOADS", default_value_t = DEFAULT_MAX_CONCURRENT_LOADS, value_name = "N")]
    pub max_concurrent_loads: usize,
    /// Source loads waiting for one of --max-concurrent-loads; a load beyond
    /// this is refused at once with RESOURCE_EXHAUSTED.
    #[arg(long, env = "GROUPCACHE_MAX_QUEUED_LOADS", default_value_t = DEFAULT_MAX_QUEUED_LOADS, value_name = "N")]
    pub max_queued_loads: usize,
    /// Consecutive transport failures after which a peer is skipped (its
    /// keys loaded locally) until a background probe finds it answering.
    #[arg(long, env = "GROUPCACHE_BREAKER_FAILURES", default_value_t = BreakerOptions::default().failures, value_name = "N")]
    pub breaker_failures: u32,
    /// Wait before the first probe of a skipped peer; it doubles after each
    /// failed probe, up to --breaker-max-backoff.
    #[arg(long, env = "GROUPCACHE_BREAKER_BACKOFF", default_value = "500ms", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub breaker_backoff: Duration,
    /// The longest wait between probes of a skipped peer.
    #[arg(long, env = "GROUPCACHE_BREAKER_MAX_BACKOFF", default_value = "5s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub breaker_max_backoff: Duration,
}

impl LoadArgs {
    /// Refuses zeros and a max backoff below the backoff, naming the flag.
    pub fn validate(&self) -> Result<(), Error> {
        let zero = [
            ("--peer-timeout", self.peer_timeout.is_zero()),
            ("--load-timeout", self.load_timeout.is_zero()),
            ("--max-concurrent-loads", self.max_concurrent_loads == 0),
            ("--breaker-failures", self.breaker_failures == 0),
            ("--breaker-backoff", self.breaker_backoff.is_zero()),
        ];
        if let Some((flag, _)) = zero.iter().find(|(_, is_zero)| *is_zero) {
            return Err(Error::config(format!("{flag} must be above zero")));
        }
        if self.breaker_max_backoff < self.breaker_backoff {
            return Err(Error::config(
                "--breaker-max-backoff must be at least --breaker-backoff",
            ));
        }
        Ok(())
    }

    /// The node's one load limiter, shared by all its groups.
    pub fn limiter(&self) -> Result<LoadLimiter, Error> {
        Ok(LoadLimiter::new(
            self.max_concurrent_loads,
            self.max_queued_loads,
        )?)
    }

    /// Sets the peer pool's options these flags decide.
    pub fn apply_to_pool(&self, options: PoolOptionsBuilder) -> PoolOptionsBuilder {
        options
            .peer_timeout(self.peer_timeout)
            .breaker(BreakerOptions {
                failures: self.breaker_failures,
                backoff: self.breaker_backoff,
                max_backoff: self.breaker_max_backoff,
            })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use cache_grpc::PoolOptions;

    /// The CLI with just these flags.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        loads: LoadArgs,
    }

    fn parse(args: &[&str]) -> Result<LoadArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))
            .map(|cli| cli.loads)
    }

    /// The defaults are the libraries'; every flag reaches its option.
    #[test]
    fn defaults_and_flags() {
        let defaults = parse(&[]).unwrap();
        defaults.validate().unwrap();
        let pool = defaults
            .apply_to_pool(PoolOptions::builder())
            .build()
            .unwrap();
        let stock = PoolOptions::default();
        assert_eq!(
            (pool.peer_timeout(), pool.breaker()),
            (stock.peer_timeout(), stock.breaker())
        );
        assert_eq!(defaults.load_timeout, cache_core::DEFAULT_LOAD_TIMEOUT);
        let limits = defaults.limiter().unwrap().stats();
        assert_eq!(
            (limits.max_concurrent, limits.max_queued),
            (
                DEFAULT_MAX_CONCURRENT_LOADS as u64,
                DEFAULT_MAX_QUEUED_LOADS as u64
            )
        );

        let set = parse(&[
            "--peer-timeout=2s",
            "--load-timeout=90s",
            "--max-concurrent-loads=8",
            "--max-queued-loads=0",
            "--breaker-failures=2",
            "--breaker-backoff=1s",
            "--breaker-max-backoff=1m",
        ])
        .unwrap();
        set.validate().unwrap();
        let pool = set.apply_to_pool(PoolOptions::builder()).build().unwrap();
        assert_eq!(pool.peer_timeout(), Duration::from_secs(2));
        assert_eq!(
            pool.breaker(),
            BreakerOptions {
                failures: 2,
                backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(60),
            }
        );
        assert_eq!(set.load_timeout, Duration::from_secs(90));
        let limits = set.limiter().unwrap().stats();
        assert_eq!((limits.max_concurrent, limits.max_queued), (8, 0));
    }

    /// Zeros and an inverted backoff are refused, naming the flag.
    #[test]
    fn bad_values_are_refused() {
        for (flag, want) in [
            ("--peer-timeout=0s", "--peer-timeout"),
            ("--load-timeout=0s", "--load-timeout"),
            ("--max-concurrent-loads=0", "--max-concurrent-loads"),
            ("--breaker-failures=0", "--breaker-failures"),
            ("--breaker-backoff=0s", "--breaker-backoff"),
            ("--breaker-max-backoff=100ms", "--breaker-max-backoff"),
        ] {
            let err = parse(&[flag]).unwrap().validate().unwrap_err();
            assert!(err.to_string().contains(want), "{flag}: {err}");
        }
    }
}
