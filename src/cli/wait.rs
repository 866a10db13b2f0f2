//! `groupcache wait --addr A[,B,...] [--timeout 10s]`: returns once every
//! node answers its health check SERVING, for scripts that start nodes and
//! then use them. `get` and `stats` take `--wait DURATION` for the same.

use std::time::Duration;

use cache_grpc::tls::ClientTls;
use clap::Args;
use tokio::time::Instant;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::Error;
use crate::cli::client;
use crate::cli::client_tls::ClientTlsArgs;
use crate::cli::parse::clap_parsers;

/// How often a node that is not ready yet is asked again.
const POLL: Duration = Duration::from_millis(100);

/// The longest one health check may take, so that a node that accepted the
/// connection but does not answer yet is asked again.
const ATTEMPT: Duration = Duration::from_secs(1);

/// Flags of `groupcache wait`.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// The nodes to wait for, comma-separated: `host:port` or
    /// `http://host:port`.
    #[arg(long, env = "GROUPCACHE_ADDR", value_delimiter = ',', default_value = "127.0.0.1:7001", value_name = "ADDR,ADDR,...", value_parser = clap_parsers::node_addr)]
    pub addr: Vec<String>,
    /// How long to wait for all of them; past it, exit 1 naming the nodes
    /// not ready and why.
    #[arg(long, env = "GROUPCACHE_TIMEOUT", default_value = "10s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub timeout: Duration,
    /// TLS: the CA to trust, the client certificate.
    #[command(flatten)]
    pub tls: ClientTlsArgs,
}

/// Waits for every node at once; the first not ready in time is the error.
pub async fn run(args: WaitArgs) -> Result<(), Error> {
    let deadline = Instant::now() + args.timeout;
    let tls = args
        .addr
        .iter()
        .map(|addr| args.tls.for_addr(addr))
        .collect::<Result<Vec<_>, _>>()?;
    let waits = args
        .addr
        .iter()
        .zip(&tls)
        .map(|(addr, tls)| until_serving(addr, deadline, tls.as_ref()));
    for outcome in futures::future::join_all(waits).await {
        outcome?;
    }
    Ok(())
}

/// Asks `addr`'s health check (`grpc.health.v1`, service `""`) until it
/// answers SERVING or `deadline` passes ([`Error::NotReady`] with the last
/// reason: refused, NOT_SERVING, no answer).
pub async fn until_serving(
    addr: &str,
    deadline: Instant,
    tls: Option<&ClientTls>,
) -> Result<(), Error> {
    let started = Instant::now();
    let mut last = String::from("no answer yet");
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let waited = Duration::from_millis(started.elapsed().as_millis() as u64);
            return Err(Error::NotReady {
                addr: addr.to_owned(),
                within: humantime::format_duration(waited).to_string(),
                last,
            });
        }
        match check(addr, left.min(ATTEMPT), tls).await {
            Ok(()) => return Ok(()),
            Err(why) => last = why,
        }
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(POLL)).await;
    }
}

/// One health check within `timeout`: `Ok` for SERVING, else why not.
async fn check(addr: &str, timeout: Duration, tls: Option<&ClientTls>) -> Result<(), String> {
    let attempt = async {
        let channel = client::channel(addr, timeout, tls)
            .await
            .map_err(|e| e.to_string())?;
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: String::new(),
        });
        request.set_timeout(timeout);
        let answer = HealthClient::new(channel)
            .check(request)
            .await
            .map_err(|status| crate::Error::Status(status).to_string())?;
        match answer.get_ref().status() {
            ServingStatus::Serving => Ok(()),
            other => Err(format!("health is {}", other.as_str_name())),
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "no answer within {}",
                humantime::format_duration(timeout)
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing listening: the wait ends at its deadline with a clear reason
    /// naming the node.
    #[tokio::test]
    async fn a_node_that_never_comes_up_times_out_with_the_reason() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let started = Instant::now();
        let err = until_serving(&addr, Instant::now() + Duration::from_millis(300), None)
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        let text = err.to_string();
        assert!(text.contains(&addr) && text.contains("not ready"), "{text}");
        assert!(text.contains("cannot connect"), "{text}");
        assert_eq!(err.exit_code(), 1);
    }
}
