//! What a node takes from its machine and allows its clients: the
//! open-file limit it raises at start, the origin connections of its
//! `http:` sources, and the HTTP/2 resets it tolerates from a client. The
//! flags are [`ResourceArgs`], flattened into
//! [`ServeArgs`](super::ServeArgs).

use cache_grpc::{ServerOptions, ServerOptionsBuilder};
use clap::Args;

use crate::Error;
use crate::source::{DEFAULT_ORIGIN_MAX_CONNECTIONS, SourceOptions};

/// The `serve` flags on origin connections and client resets.
#[derive(Debug, Clone, Args)]
pub struct ResourceArgs {
    /// Requests each http(s) source has in flight to its origin at once
    /// (and idle keep-alive connections it keeps); more loads wait for
    /// their turn, each until its deadline.
    #[arg(long, env = "GROUPCACHE_ORIGIN_MAX_CONNECTIONS", default_value_t = DEFAULT_ORIGIN_MAX_CONNECTIONS, value_name = "N")]
    pub origin_max_connections: usize,
    /// HTTP/2 streams a client may reset while they still wait to be taken
    /// up by this node, at once on one connection; one more closes the
    /// connection (GOAWAY ENHANCE_YOUR_CALM). Peers whose fetches time out
    /// while this node is busy cancel them there.
    #[arg(long, env = "GROUPCACHE_MAX_PENDING_RESETS", default_value_t = ServerOptions::default().max_pending_resets(), value_name = "N")]
    pub max_pending_resets: usize,
    /// HTTP/2 streams this node may reset for a client's protocol errors
    /// over a connection's life; one more closes it.
    #[arg(long, env = "GROUPCACHE_MAX_LOCAL_ERROR_RESETS", default_value_t = ServerOptions::default().max_local_error_resets(), value_name = "N")]
    pub max_local_error_resets: usize,
    /// HTTP/2 streams a client may reset before their answer, per second
    /// on one connection; one more closes it (a rapid-reset flood). Not
    /// with --dev hyper-transport.
    #[arg(long, env = "GROUPCACHE_MAX_RESETS_PER_SECOND", default_value_t = ServerOptions::default().max_resets_per_second(), value_name = "N")]
    pub max_resets_per_second: u32,
}

impl ResourceArgs {
    /// Refuses a zero anywhere, naming the flag.
    pub fn validate(&self) -> Result<(), Error> {
        let zero = [
            ("--origin-max-connections", self.origin_max_connections == 0),
            ("--max-pending-resets", self.max_pending_resets == 0),
            ("--max-local-error-resets", self.max_local_error_resets == 0),
            ("--max-resets-per-second", self.max_resets_per_second == 0),
        ];
        match zero.iter().find(|(_, is_zero)| *is_zero) {
            Some((flag, _)) => Err(Error::config(format!("{flag} must be above zero"))),
            None => Ok(()),
        }
    }

    /// Sets the sources' options these flags decide.
    pub fn apply_to_sources(&self, options: &mut SourceOptions) {
        options.origin_max_connections = self.origin_max_connections;
    }

    /// Sets the server's options these flags decide.
    pub fn apply_to_server(&self, options: ServerOptionsBuilder) -> ServerOptionsBuilder {
        options
            .max_pending_resets(self.max_pending_resets)
            .max_local_error_resets(self.max_local_error_resets)
            .max_resets_per_second(self.max_resets_per_second)
    }
}

/// The open-file limits of this process after [`raise_open_file_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    /// The soft limit before.
    pub was: u64,
    /// The soft limit now.
    pub soft: u64,
    /// The hard limit (unchanged).
    pub hard: u64,
}

/// Raises this process's `RLIMIT_NOFILE` soft limit to its hard limit.
///
/// A node holds a descriptor per client and peer connection, per origin
/// connection and per file being read; the usual soft limit of 1024 is far
/// below what a busy node needs (`Too many open files`), while the hard
/// limit is what the machine's administrator allows an unprivileged
/// process to take.
pub fn raise_open_file_limit() -> std::io::Result<OpenFileLimit> {
    let (was, hard) = rlimit::Resource::NOFILE.get()?;
    let soft = rlimit::increase_nofile_limit(u64::MAX)?;
    Ok(OpenFileLimit { was, soft, hard })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// The CLI with just these flags.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        resources: ResourceArgs,
    }

    fn parse(args: &[&str]) -> ResourceArgs {
        Cli::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))
            .unwrap()
            .resources
    }

    /// The defaults are the library's; every flag is read and applied.
    #[test]
    fn defaults_and_flags() {
        let defaults = parse(&[]);
        assert_eq!(defaults.origin_max_connections, 64);
        let server = defaults
            .apply_to_server(ServerOptions::builder())
            .build()
            .unwrap();
        let stock = ServerOptions::default();
        assert_eq!(server.max_pending_resets(), stock.max_pending_resets());
        assert_eq!(
            server.max_local_error_resets(),
            stock.max_local_error_resets()
        );
        assert_eq!(
            server.max_resets_per_second(),
            stock.max_resets_per_second()
        );

        let set = parse(&[
            "--origin-max-connections=8",
            "--max-pending-resets=100",
            "--max-local-error-resets=200",
            "--max-resets-per-second=300",
        ]);
        set.validate().unwrap();
        let mut sources = SourceOptions::new(1, std::time::Duration::from_secs(1));
        set.apply_to_sources(&mut sources);
        assert_eq!(sources.origin_max_connections, 8);
        let server = set
            .apply_to_server(ServerOptions::builder())
            .build()
            .unwrap();
        assert_eq!(server.max_pending_resets(), 100);
        assert_eq!(server.max_local_error_resets(), 200);
        assert_eq!(server.max_resets_per_second(), 300);
    }

    /// Zero is refused, naming the flag.
    #[test]
    fn zero_is_refused() {
        for flag in [
            "--origin-max-connections",
            "--max-pending-resets",
            "--max-local-error-resets",
            "--max-resets-per-second",
        ] {
            let err = parse(&[&format!("{flag}=0")]).validate().unwrap_err();
            assert!(
                err.to_string()
                    .contains(&format!("{flag} must be above zero")),
                "{err}"
            );
        }
    }

    /// `serve` reads these flags and its validation refuses a zero with a
    /// configuration error (exit 2).
    #[test]
    fn serve_reads_and_validates_them() {
        let serve = |flag: &str| {
            let cli = crate::cli::Cli::try_parse_from([
                "groupcache",
                "serve",
                "--group=g=synthetic",
                flag,
            ])
            .unwrap();
            match cli.command {
                crate::cli::Command::Serve(args) => args,
                other => panic!("parsed as {other:?}"),
            }
        };
        let ok = serve("--origin-max-connections=3");
        assert_eq!(ok.resources.origin_max_connections, 3);
        assert!(ok.validate().is_ok());
        let err = serve("--max-pending-resets=0").validate().unwrap_err();
        assert_eq!(err.exit_code(), crate::EXIT_USAGE);
        assert!(err.to_string().contains("--max-pending-resets"), "{err}");
    }

    /// Raising the limit never lowers it and reaches the hard limit (this
    /// test process may already be there).
    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_limit() {
        if rlimit::Resource::NOFILE.get().unwrap().1 == rlimit::INFINITY {
            // No soft limit can be set to "unlimited": nothing to test.
            return;
        }
        let limit = raise_open_file_limit().unwrap();
        assert!(limit.soft >= limit.was, "{limit:?}");
        assert_eq!(limit.soft, limit.hard, "{limit:?}");
        assert_eq!(rlimit::Resource::NOFILE.get().unwrap().0, limit.soft);
    }
}
