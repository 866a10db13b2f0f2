//! `serve --metrics-listen ADDR`: binding the metrics listener (before the
//! node serves, so a taken port is a start-up error) and running the
//! exporter of [`crate::metrics`] on it beside the gRPC server.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::Error;
use crate::metrics::status::{KeyView, StatusPage};
use crate::metrics::{Exporter, NodeCollector, http};

/// Binds `addr`, if given.
pub(super) async fn bind(addr: Option<SocketAddr>) -> Result<Option<TcpListener>, Error> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {addr} (--metrics-listen)"), e))?;
    Ok(Some(listener))
}

/// Serves `collector`'s metrics on `listener` until the returned task is
/// aborted (when the node has stopped).
pub(super) fn start(
    listener: TcpListener,
    collector: NodeCollector,
    keys: KeyView,
) -> JoinHandle<()> {
    match listener.local_addr() {
        Ok(addr) => tracing::info!(
            %addr,
            "metrics: serving http://{addr}/metrics, /status and /healthz"
        ),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the listen address"),
    }
    let page = StatusPage::new(collector.clone(), crate::build::node_version(), keys);
    let exporter = Arc::new(Exporter::new(collector).with_status(page));
    tokio::spawn(http::serve(listener, exporter, std::future::pending()))
}
