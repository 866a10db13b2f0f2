//! What `get` and `stats` share: the node address, the timeout, and
//! connecting to the node.

use std::time::Duration;

use cache_grpc::pb::groupcache_client::GroupcacheClient;
use clap::Args;
use tonic::transport::{Channel, Endpoint};

use cache_grpc::tls::ClientTls;

use crate::Error;
use crate::cli::client_tls::ClientTlsArgs;
use crate::cli::parse::clap_parsers;

/// Largest message a client command accepts from a node (1 GiB): the
/// client asked for the value and trusts the node it called.
pub const MAX_RESPONSE_BYTES: usize = 1 << 30;

/// Flags of a command that calls one node.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The node to call: `host:port`, `http://host:port`, or
    /// `https://host:port` (TLS; see --tls-ca). `stats` takes several,
    /// comma-separated.
    #[arg(long, env = "GROUPCACHE_ADDR", default_value = "127.0.0.1:7001", value_name = "ADDR", value_delimiter = ',', value_parser = clap_parsers::node_addr)]
    pub addr: Vec<String>,
    /// Deadline of the whole call, connection included (sent to the node as
    /// `grpc-timeout`, so it bounds the work done for it too).
    #[arg(long, env = "GROUPCACHE_TIMEOUT", default_value = "5s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub timeout: Duration,
    /// First wait up to this long for the node to answer its health check
    /// SERVING (a node just started), as `groupcache wait` does; the
    /// `--timeout` of the call starts after it. Default: no wait.
    #[arg(long, env = "GROUPCACHE_WAIT", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub wait: Option<Duration>,
    /// Send `authorization: Bearer TOKEN` with the first token of FILE (a
    /// node with --auth-token-file). Or set GROUPCACHE_TOKEN to the token
    /// itself; no flag takes the token, so it never shows in `ps`.
    #[arg(long, env = "GROUPCACHE_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
    /// TLS: the CA to trust, the client certificate.
    #[command(flatten)]
    pub tls: ClientTlsArgs,
}

/// The variable holding a client's token itself.
pub const TOKEN_VAR: &str = "GROUPCACHE_TOKEN";

impl ClientArgs {
    /// Waits for the node (with `--wait`), then connects within the
    /// timeout.
    pub async fn connect(&self) -> Result<GroupcacheClient<Channel>, Error> {
        let addr = self.single_addr()?;
        let tls = self.tls.for_addr(addr)?;
        if let Some(wait) = self.wait {
            let deadline = tokio::time::Instant::now() + wait;
            crate::cli::wait::until_serving(addr, deadline, tls.as_ref()).await?;
        }
        connect(addr, self.timeout, tls.as_ref()).await
    }

    /// The one node to call: a usage error when several were given (only
    /// `stats` takes several).
    pub fn single_addr(&self) -> Result<&str, Error> {
        match self.addr.as_slice() {
            [one] => Ok(one),
            [] => Err(Error::config("--addr is empty")),
            _ => Err(Error::config(
                "this command calls one node: give one --addr (stats takes several)",
            )),
        }
    }

    /// The same flags, calling `addr`.
    pub fn with_addr(&self, addr: &str) -> ClientArgs {
        ClientArgs {
            addr: vec![addr.to_owned()],
            ..self.clone()
        }
    }
}

impl ClientArgs {
    /// Adds the token (from `--token-file`, else `GROUPCACHE_TOKEN`), if
    /// any, to `request`.
    pub fn authorize<T>(&self, request: &mut tonic::Request<T>) -> Result<(), Error> {
        let tokens = match (&self.token_file, std::env::var(TOKEN_VAR)) {
            (Some(file), _) => cache_grpc::auth::Tokens::from_file(file)?,
            (None, Ok(token)) => cache_grpc::auth::Tokens::from_text(&token)
                .map_err(|e| Error::config(format!("{TOKEN_VAR}: {e}")))?,
            (None, Err(_)) => return Ok(()),
        };
        request
            .metadata_mut()
            .insert("authorization", tokens.header());
        Ok(())
    }
}

/// Runs one call under the command's timeout: the node is told the budget
/// through `grpc-timeout` (see [`tonic::Request::set_timeout`]), and this
/// side gives up too if no answer came (a stuck node), with
/// `DEADLINE_EXCEEDED`.
pub async fn bounded<T>(
    timeout: Duration,
    call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, Error> {
    // A little later than the node's own deadline, so its answer (with its
    // own status) wins when it keeps the deadline.
    let grace = Duration::from_millis(100);
    let started = tokio::time::Instant::now();
    match tokio::time::timeout(timeout + grace, call).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        // tonic's channel enforces the `grpc-timeout` it sends and reports
        // its own expiry as CANCELLED ("Timeout expired"); when it beats the
        // node's answer (a slow machine), the user's deadline still passed.
        Ok(Err(status))
            if status.code() == tonic::Code::Cancelled
                && started.elapsed() + Duration::from_millis(5) >= timeout =>
        {
            Err(Error::Status(tonic::Status::deadline_exceeded(format!(
                "no answer within {}",
                humantime::format_duration(timeout)
            ))))
        }
        Ok(Err(status)) => Err(Error::Status(status)),
        Err(_) => Err(Error::Status(tonic::Status::deadline_exceeded(format!(
            "no answer within {}",
            humantime::format_duration(timeout)
        )))),
    }
}

/// Connects to the node at `addr` (`host:port`, `http://host:port` or
/// `https://host:port`), over TLS when `tls` is given.
pub async fn connect(
    addr: &str,
    timeout: Duration,
    tls: Option<&ClientTls>,
) -> Result<GroupcacheClient<Channel>, Error> {
    let channel = channel(addr, timeout, tls).await?;
    Ok(GroupcacheClient::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES))
}

/// A channel to the node at `addr`, connected within `timeout`, over TLS
/// when `tls` is given.
pub async fn channel(
    addr: &str,
    timeout: Duration,
    tls: Option<&ClientTls>,
) -> Result<Channel, Error> {
    // The TLS connector dials `host:port` itself: the URI only names it.
    let host_port = addr
        .strip_prefix("http://")
        .or_else(|| addr.strip_prefix("https://"))
        .unwrap_or(addr);
    let uri = format!("http://{host_port}");
    let failed = |detail: String| Error::Connect {
        addr: addr.to_owned(),
        detail,
    };
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|e| failed(e.to_string()))?
        .connect_timeout(timeout)
        .tcp_nodelay(true);
    let connecting = async {
        match tls {
            None => endpoint.connect().await,
            Some(tls) => endpoint.connect_with_connector(tls.connector()).await,
        }
    };
    let channel = tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| {
            failed(format!(
                "no connection within {}",
                humantime::format_duration(timeout)
            ))
        })?
        .map_err(|e| failed(crate::error::error_chain(&e)))?;
    Ok(channel)
}
