//! `groupcache-bench echo`: the limit server for the load generator, a bare
//! tonic server answering every `Get` with the same payload (see
//! [`crate::echo`]).

use std::net::SocketAddr;

use clap::Args;

use super::parse;
use crate::Error;

/// Flags of `groupcache-bench echo`.
#[derive(Debug, Clone, Args)]
pub struct EchoArgs {
    /// Address to listen on.
    #[arg(long, env = "GROUPCACHE_ECHO_LISTEN", default_value = "127.0.0.1:7100")]
    pub listen: SocketAddr,
    /// Size of every answer's value.
    #[arg(long, env = "GROUPCACHE_ECHO_SIZE", default_value = "1024", value_parser = parse::size)]
    pub size: u64,
    /// Runtime threads, as `groupcache serve --threads` (so the limit runs on the same
    /// runtime as the node it is compared with).
    #[arg(long, env = "GROUPCACHE_ECHO_THREADS", default_value_t = super::runtime::DEFAULT_THREADS, value_name = "N", value_parser = parse::threads)]
    pub threads: usize,
}

/// Serves until SIGINT or SIGTERM.
pub async fn run(args: EchoArgs) -> Result<(), Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let size = usize::try_from(args.size).map_err(|_| Error::config("--size is too large"))?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {}", args.listen), e))?;
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Error::io("cannot install the SIGTERM handler", e))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| Error::io("cannot install the SIGINT handler", e))?;
    eprintln!(
        "echo server on {} answering {size}-byte values",
        args.listen
    );
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    crate::echo::serve_echo(listener, size, shutdown)
        .await
        .map_err(|e| Error::io("echo server", std::io::Error::other(e)))
}
