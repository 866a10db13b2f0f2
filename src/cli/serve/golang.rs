//! `serve --golang-listen ADDR --golang-peers URL,...`: joining an
//! existing golang/groupcache `HTTPPool` (docs/migrating.md). The flags
//! are [`GolangArgs`], flattened into [`ServeArgs`](super::ServeArgs).
//!
//! In this mode keys are placed by Go's ring over `--golang-peers`, peers
//! are fetched from over Go's HTTP protocol, and this node answers that
//! protocol on `--golang-listen`. The gRPC listener still serves clients'
//! `Get` (placed by the same ring). The gRPC peer mesh is off: `--peers`,
//! `--discovery` and `--peer-listen` are refused with it, and warm
//! takeover and the handoff on leave have no other gRPC peer to talk to.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use cache_core::Registry;
use cache_grpc::golang::{
    DEFAULT_BASE_PATH, DEFAULT_REPLICAS, GoPeerOptions, GoPool, GoServerOptions, MAX_REPLICAS,
    serve_golang,
};
use clap::Args;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::Error;
use crate::cli::parse::clap_parsers;

/// The `serve` flags of a node in a golang/groupcache pool.
#[derive(Debug, Clone, Args)]
pub struct GolangArgs {
    /// Join a golang/groupcache HTTPPool: serve its peer protocol (GET
    /// /_groupcache/GROUP/KEY, over HTTP/1.1, no authentication) on this
    /// address, and place and fetch keys as the Go nodes do. Needs
    /// --golang-peers. Default: off. See docs/migrating.md.
    #[arg(long, env = "GROUPCACHE_GOLANG_LISTEN", value_name = "ADDR", value_parser = clap_parsers::listen)]
    pub golang_listen: Option<SocketAddr>,
    /// This node's URL in the Go pool: its entry of --golang-peers, as
    /// written there. Default: http://ADDR of --golang-listen (after
    /// binding).
    #[arg(long, env = "GROUPCACHE_GOLANG_SELF", value_name = "URL", value_parser = go_url)]
    pub golang_self: Option<String>,
    /// The Go pool's whole peer list, this node included, exactly as the Go
    /// nodes give it to HTTPPool.Set (same spelling, same order):
    /// http://host:port, comma-separated.
    #[arg(long, env = "GROUPCACHE_GOLANG_PEERS", value_delimiter = ',', value_name = "URL,URL,...", value_parser = go_url)]
    pub golang_peers: Vec<String>,
    /// The pool's path prefix (HTTPPoolOptions.BasePath).
    #[arg(long, env = "GROUPCACHE_GOLANG_BASE_PATH", default_value = DEFAULT_BASE_PATH, value_name = "PATH")]
    pub golang_base_path: String,
    /// Points per peer on the ring (HTTPPoolOptions.Replicas), 1 to 10000.
    #[arg(long, env = "GROUPCACHE_GOLANG_REPLICAS", default_value_t = DEFAULT_REPLICAS, value_name = "N")]
    pub golang_replicas: usize,
    /// The longest one fetch from a Go peer may take before the key is
    /// loaded here (HTTP/1.1 has no PING: a peer that accepts and hangs is
    /// noticed only then). Connecting is bounded by --peer-timeout.
    #[arg(long, env = "GROUPCACHE_GOLANG_FETCH_TIMEOUT", default_value = "5s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub golang_fetch_timeout: Duration,
}

/// A peer URL of a Go pool: `http://host:port`, kept exactly as written
/// (Go hashes the string).
fn go_url(s: &str) -> Result<String, String> {
    let bad = |why: &str| format!("bad Go peer URL {s:?}: {why} (expected http://host:port)");
    if s.starts_with("https://") {
        return Err(bad(
            "https is not supported: this node's Go client speaks plain HTTP",
        ));
    }
    let Some(rest) = s.strip_prefix("http://") else {
        return Err(bad("it must start with http://, as the Go nodes' URLs do"));
    };
    if rest.is_empty() {
        return Err(bad("no host"));
    }
    if rest.contains(['/', '?', '#', '@']) || rest.chars().any(char::is_whitespace) {
        return Err(bad(
            "no path, trailing slash, query or user allowed: the base path is --golang-base-path",
        ));
    }
    match s.parse::<http::Uri>() {
        Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => Ok(s.to_owned()),
        _ => Err(bad("not a URL")),
    }
}

/// What `validate` needs from the rest of `serve`'s flags.
pub(super) struct Others<'a> {
    pub(super) listen: SocketAddr,
    pub(super) metrics_listen: Option<SocketAddr>,
    pub(super) peers: &'a [String],
    pub(super) discovery: bool,
    pub(super) peer_listen: bool,
    pub(super) insecure: bool,
}

impl GolangArgs {
    /// True when the node joins a Go pool.
    pub fn enabled(&self) -> bool {
        self.golang_listen.is_some()
    }

    /// Refuses incomplete or contradictory settings, naming the flags.
    pub(super) fn validate(&self, others: &Others<'_>) -> Result<(), Error> {
        let Some(listen) = self.golang_listen else {
            if !self.golang_peers.is_empty() || self.golang_self.is_some() {
                return Err(Error::config(
                    "--golang-peers and --golang-self need --golang-listen (the address this \
                     node serves the Go pool's protocol on)",
                ));
            }
            return Ok(());
        };
        for (given, flag) in [
            (!others.peers.is_empty(), "--peers"),
            (others.discovery, "--discovery"),
            (others.peer_listen, "--peer-listen"),
        ] {
            if given {
                return Err(Error::config(format!(
                    "{flag} cannot be combined with --golang-listen: in a Go pool the peers are \
                     --golang-peers and they talk Go's protocol, not gRPC (see docs/migrating.md)"
                )));
            }
        }
        if self.golang_peers.is_empty() {
            return Err(Error::config(
                "--golang-listen needs --golang-peers: the Go pool's whole peer list, as its Go \
                 nodes are given it",
            ));
        }
        // Port 0 picks a free port for each listener, so two port-0 addresses
        // never clash.
        if listen.port() != 0 && (listen == others.listen || others.metrics_listen == Some(listen))
        {
            return Err(Error::config(format!(
                "--golang-listen {listen} is taken by --listen or --metrics-listen: give it a port \
                 of its own"
            )));
        }
        let mut seen = HashSet::new();
        for p in &self.golang_peers {
            if !seen.insert(p) {
                return Err(Error::config(format!(
                    "{p:?} is listed twice in --golang-peers"
                )));
            }
        }
        if let Some(me) = &self.golang_self
            && !seen.contains(me)
        {
            return Err(Error::config(format!(
                "--golang-self {me:?} is not in --golang-peers (write it exactly as listed there)"
            )));
        }
        if listen.ip().is_unspecified() && self.golang_self.is_none() {
            return Err(Error::config(format!(
                "--golang-listen {listen} accepts on every interface, so the Go nodes cannot \
                 reach this node at it: give --golang-self with this node's URL in --golang-peers"
            )));
        }
        if !listen.ip().is_loopback() && !others.insecure {
            return Err(Error::config(format!(
                "--golang-listen {listen} is reachable from other machines, and Go's protocol has \
                 no authentication or TLS: anyone who reaches it can read every value. Keep it on \
                 a private network and give --insecure to serve it anyway"
            )));
        }
        let base = &self.golang_base_path;
        if !base.starts_with('/') || !base.ends_with('/') || base.contains(['?', '#', ' ']) {
            return Err(Error::config(format!(
                "--golang-base-path {base:?} must start and end with / (Go's default is \
                 {DEFAULT_BASE_PATH})"
            )));
        }
        if self.golang_replicas == 0 || self.golang_replicas > MAX_REPLICAS {
            return Err(Error::config(format!(
                "--golang-replicas must be between 1 and {MAX_REPLICAS} (Go's default is \
                 {DEFAULT_REPLICAS})"
            )));
        }
        if self.golang_fetch_timeout.is_zero() {
            return Err(Error::config("--golang-fetch-timeout must be above zero"));
        }
        Ok(())
    }
}

/// The Go pool's listener, bound, and this node's place in the pool.
pub(super) struct Bound {
    listener: TcpListener,
    /// The picker the groups use.
    pub(super) pool: GoPool,
}

/// Binds `--golang-listen` and builds the Go pool, if the flags ask for it.
pub(super) async fn bind(
    args: &GolangArgs,
    peer_timeout: Duration,
    max_value_bytes: usize,
) -> Result<Option<Bound>, Error> {
    let Some(addr) = args.golang_listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {addr} (--golang-listen)"), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::io("cannot read the --golang-listen address", e))?;
    let self_url = args
        .golang_self
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    if !args.golang_peers.contains(&self_url) {
        return Err(Error::config(format!(
            "this node's URL in the Go pool, {self_url:?} (from --golang-listen; give \
             --golang-self otherwise), is not in --golang-peers {:?}",
            args.golang_peers
        )));
    }
    let opts = GoPeerOptions {
        connect_timeout: peer_timeout,
        fetch_timeout: args.golang_fetch_timeout,
        max_value_bytes,
        base_path: args.golang_base_path.clone(),
    };
    let pool = GoPool::new(
        &self_url,
        args.golang_peers.iter().cloned(),
        args.golang_replicas,
        &opts,
    )?;
    Ok(Some(Bound { listener, pool }))
}

impl Bound {
    /// Serves Go's protocol for `registry` until the returned task is
    /// aborted (when the node has drained).
    pub(super) fn start(
        self,
        args: &GolangArgs,
        registry: Registry,
        limits: GoServerOptions,
    ) -> JoinHandle<()> {
        let shares: Vec<String> = self
            .pool
            .ring()
            .shares()
            .into_iter()
            .map(|(peer, share)| format!("{peer} {:.1}%", share * 100.0))
            .collect();
        match self.listener.local_addr() {
            Ok(addr) => tracing::info!(
                %addr,
                base_path = %args.golang_base_path,
                node = %self.pool.self_url(),
                peers = ?self.pool.ring().peers(),
                ring = ?shares,
                "golang: serving golang/groupcache's peer protocol"
            ),
            Err(e) => tracing::warn!(error = %e, "golang: cannot read the listen address"),
        }
        tokio::spawn(serve_golang(
            self.listener,
            registry,
            limits,
            std::future::pending(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        golang: GolangArgs,
    }

    fn parse(args: &[&str]) -> Result<GolangArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("serve").chain(args.iter().copied())).map(|c| c.golang)
    }

    fn others() -> Others<'static> {
        Others {
            listen: "127.0.0.1:7001".parse().unwrap(),
            metrics_listen: None,
            peers: &[],
            discovery: false,
            peer_listen: false,
            insecure: false,
        }
    }

    const PEERS: &str = "--golang-peers=http://127.0.0.1:8001,http://127.0.0.1:8002";

    /// Off by default; Go's defaults; a full setting validates.
    #[test]
    fn defaults() {
        let off = parse(&[]).unwrap();
        assert!(!off.enabled());
        off.validate(&others()).unwrap();
        assert_eq!(off.golang_base_path, "/_groupcache/");
        assert_eq!(off.golang_replicas, 50);
        let on = parse(&["--golang-listen=127.0.0.1:8001", PEERS]).unwrap();
        on.validate(&others()).unwrap();
        assert_eq!(
            on.golang_peers,
            ["http://127.0.0.1:8001", "http://127.0.0.1:8002"]
        );
    }

    /// URLs are http://host:port exactly.
    #[test]
    fn urls_are_checked() {
        assert!(go_url("http://10.0.0.1:8000").is_ok());
        assert!(go_url("http://cache-1").is_ok());
        for (bad, why) in [
            ("https://h:1", "https is not supported"),
            ("h:1", "must start with http://"),
            ("http://h:1/", "trailing slash"),
            ("http://h:1/x", "no path"),
            ("http://", "no host"),
        ] {
            let err = go_url(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    /// Each contradiction is a start-up error naming the flags.
    #[test]
    fn contradictions_are_refused() {
        let cases: &[(&[&str], &str)] = &[
            (&[PEERS], "need --golang-listen"),
            (&["--golang-listen=127.0.0.1:8001"], "needs --golang-peers"),
            (
                &["--golang-listen=127.0.0.1:7001", PEERS],
                "port of its own",
            ),
            (
                &[
                    "--golang-listen=127.0.0.1:8001",
                    PEERS,
                    "--golang-self=http://127.0.0.1:9",
                ],
                "not in --golang-peers",
            ),
            (
                &[
                    "--golang-listen=127.0.0.1:8001",
                    "--golang-peers=http://a:1,http://a:1",
                ],
                "listed twice",
            ),
            (&["--golang-listen=0.0.0.0:8001", PEERS], "--golang-self"),
            (
                &[
                    "--golang-listen=0.0.0.0:8001",
                    PEERS,
                    "--golang-self=http://127.0.0.1:8001",
                ],
                "--insecure",
            ),
            (
                &[
                    "--golang-listen=127.0.0.1:8001",
                    PEERS,
                    "--golang-base-path=x",
                ],
                "start and end",
            ),
            (
                &[
                    "--golang-listen=127.0.0.1:8001",
                    PEERS,
                    "--golang-replicas=0",
                ],
                "between 1",
            ),
            (
                &[
                    "--golang-listen=127.0.0.1:8001",
                    PEERS,
                    "--golang-fetch-timeout=0s",
                ],
                "above zero",
            ),
        ];
        for (args, want) in cases {
            let err = parse(args).unwrap().validate(&others()).unwrap_err();
            assert!(err.to_string().contains(want), "{args:?}: {err}");
        }
        let on = parse(&["--golang-listen=127.0.0.1:8001", PEERS]).unwrap();
        let peers = ["127.0.0.1:7002".to_owned()];
        for (o, flag) in [
            (
                Others {
                    peers: &peers,
                    ..others()
                },
                "--peers",
            ),
            (
                Others {
                    discovery: true,
                    ..others()
                },
                "--discovery",
            ),
            (
                Others {
                    peer_listen: true,
                    ..others()
                },
                "--peer-listen",
            ),
        ] {
            let err = on.validate(&o).unwrap_err();
            assert!(err.to_string().contains(flag), "{flag}: {err}");
        }
        let open = parse(&[
            "--golang-listen=0.0.0.0:8001",
            PEERS,
            "--golang-self=http://127.0.0.1:8001",
        ])
        .unwrap();
        open.validate(&Others {
            insecure: true,
            ..others()
        })
        .unwrap();
    }
}
