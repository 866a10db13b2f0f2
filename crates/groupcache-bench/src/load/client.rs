//! gRPC connections to the targets.

use std::time::Duration;

use cache_grpc::pb::groupcache_client::GroupcacheClient;
use cache_grpc::tls::ClientTls;
use tonic::transport::{Channel, Endpoint};

use crate::Error;

/// `host:port`, `http://host:port` or `https://host:port` as a URI tonic
/// accepts (`http://`: TLS, when asked for, is the connector's).
pub(crate) fn target_uri(target: &str) -> String {
    let t = target.trim();
    let host_port = t
        .strip_prefix("http://")
        .or_else(|| t.strip_prefix("https://"))
        .unwrap_or(t);
    format!("http://{host_port}")
}

/// Opens one HTTP/2 connection to `target` (eagerly, so a wrong address
/// fails the run at start instead of turning every request into an error).
pub(crate) async fn connect(
    target: &str,
    max_message_bytes: usize,
    tls: Option<&ClientTls>,
) -> Result<GroupcacheClient<Channel>, Error> {
    let err = |detail: String| Error::Connect {
        addr: target.to_string(),
        detail,
    };
    let endpoint = Endpoint::from_shared(target_uri(target))
        .map_err(|e| err(e.to_string()))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        // Many requests share one connection: give each stream and the
        // connection generous flow-control windows.
        .initial_stream_window_size(Some(4 << 20))
        .initial_connection_window_size(Some(16 << 20));
    let channel = match tls {
        None => endpoint.connect().await,
        Some(tls) => endpoint.connect_with_connector(tls.connector()).await,
    }
    .map_err(|e| err(crate::error::error_chain(&e)))?;
    Ok(GroupcacheClient::new(channel)
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes))
}

/// `conns` connections to each target: `result[target][conn]`.
pub(crate) async fn connect_all(
    targets: &[String],
    conns: usize,
    max_message_bytes: usize,
    tls: Option<&ClientTls>,
) -> Result<Vec<Vec<GroupcacheClient<Channel>>>, Error> {
    let mut all = Vec::with_capacity(targets.len());
    for t in targets {
        let mut per = Vec::with_capacity(conns);
        for _ in 0..conns {
            per.push(connect(t, max_message_bytes, tls).await?);
        }
        all.push(per);
    }
    Ok(all)
}
