//! Starting a node from a validated configuration, and stopping it on a
//! signal.

use std::future::Future;

use tokio::net::TcpListener;

use crate::Error;
use crate::cli::serve::ServeConfig;

/// Binds, serves until a signal, drains. (Wiring to `cache-grpc` pending.)
pub(super) async fn run(config: ServeConfig) -> Result<(), Error> {
    let listen = config.args.listen;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {listen}"), e))?;
    let _ = (listener, config);
    Err(Error::config("serve is not wired yet"))
}

/// Resolves with the signal's name on SIGINT or SIGTERM.
pub(crate) async fn termination_signal() -> Result<&'static str, Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Error::io("cannot install the SIGTERM handler", e))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| Error::io("cannot install the SIGINT handler", e))?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

#[allow(dead_code)]
fn _assert_send<F: Future + Send>(_: F) {}
