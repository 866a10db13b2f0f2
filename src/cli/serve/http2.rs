//! What a node allows its HTTP/2 clients: connections, streams, headers,
//! queued response bytes and the connection timers, and the listen
//! backlog it binds with. The flags are [`Http2Args`], flattened into
//! [`ServeArgs`](super::ServeArgs); docs/grpc.md ("HTTP/2 limits") says
//! what happens at each limit.

use std::net::SocketAddr;
use std::time::Duration;

use cache_grpc::{ServerOptions, ServerOptionsBuilder};
use clap::Args;
use tokio::net::{TcpListener, TcpSocket};

use crate::Error;
use crate::cli::parse::clap_parsers;

/// The `serve` flags on HTTP/2 client connections.
#[derive(Debug, Clone, Args)]
pub struct Http2Args {
    /// Client connections open at once; a new one past it is closed at
    /// once (logged at most once a second).
    #[arg(long, env = "GROUPCACHE_MAX_CONNECTIONS", default_value_t = ServerOptions::default().max_connections(), value_name = "N")]
    pub max_connections: usize,
    /// HTTP/2 streams a client may open at once on one connection; one
    /// more is refused (REFUSED_STREAM).
    #[arg(long, env = "GROUPCACHE_MAX_CONCURRENT_STREAMS", default_value_t = ServerOptions::default().max_concurrent_streams(), value_name = "N")]
    pub max_concurrent_streams: u32,
    /// The largest header list a client may send; a request over it is
    /// answered HTTP 431.
    #[arg(long, env = "GROUPCACHE_MAX_HEADER_LIST_BYTES", default_value = "16KiB", value_name = "SIZE", value_parser = clap_parsers::size)]
    pub max_header_list_bytes: u64,
    /// Response bytes one connection may hold that its client has not
    /// taken (its flow-control window closed); past it new streams are
    /// refused (REFUSED_STREAM). Not with --dev hyper-transport.
    #[arg(long, env = "GROUPCACHE_MAX_QUEUED_RESPONSE_BYTES", default_value = "64MiB", value_name = "SIZE", value_parser = clap_parsers::size)]
    pub max_queued_response_bytes: u64,
    /// How long a response may wait for its client to take it; then its
    /// stream is reset and its bytes dropped. Not with --dev hyper-transport.
    #[arg(long, env = "GROUPCACHE_RESPONSE_SEND_TIMEOUT", default_value = "30s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub response_send_timeout: Duration,
    /// How long a new connection may take to send the HTTP/2 preface.
    /// Not with --dev hyper-transport.
    #[arg(long, env = "GROUPCACHE_HANDSHAKE_TIMEOUT", default_value = "10s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub handshake_timeout: Duration,
    /// Interval of keep-alive pings; a connection whose ping is not
    /// answered within one more interval is closed.
    #[arg(long, env = "GROUPCACHE_KEEPALIVE_INTERVAL", default_value = "30s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub keepalive_interval: Duration,
    /// Age at which a client connection is sent GOAWAY (clients reconnect);
    /// it is closed once its streams end, or after --request-timeout plus
    /// --response-send-timeout.
    #[arg(long, env = "GROUPCACHE_MAX_CONNECTION_AGE", default_value = "1h", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub max_connection_age: Duration,
}

impl Http2Args {
    /// Refuses a zero anywhere (and sizes that do not fit), naming the
    /// flag.
    pub fn validate(&self) -> Result<(), Error> {
        let zero = [
            ("--max-connections", self.max_connections == 0),
            ("--max-concurrent-streams", self.max_concurrent_streams == 0),
            ("--max-header-list-bytes", self.max_header_list_bytes == 0),
            (
                "--max-queued-response-bytes",
                self.max_queued_response_bytes == 0,
            ),
            (
                "--response-send-timeout",
                self.response_send_timeout.is_zero(),
            ),
            ("--handshake-timeout", self.handshake_timeout.is_zero()),
            ("--keepalive-interval", self.keepalive_interval.is_zero()),
            ("--max-connection-age", self.max_connection_age.is_zero()),
        ];
        if let Some((flag, _)) = zero.iter().find(|(_, is_zero)| *is_zero) {
            return Err(Error::config(format!("{flag} must be above zero")));
        }
        if u32::try_from(self.max_header_list_bytes).is_err() {
            return Err(Error::config("--max-header-list-bytes must be below 4GiB"));
        }
        if usize::try_from(self.max_queued_response_bytes).is_err() {
            return Err(Error::config(
                "--max-queued-response-bytes is too large for this machine",
            ));
        }
        Ok(())
    }

    /// Sets the server's options these flags decide (after
    /// [`validate`](Self::validate)).
    pub fn apply_to_server(&self, options: ServerOptionsBuilder) -> ServerOptionsBuilder {
        options
            .max_connections(self.max_connections)
            .max_concurrent_streams(self.max_concurrent_streams)
            .max_header_list_bytes(u32::try_from(self.max_header_list_bytes).unwrap_or(u32::MAX))
            .max_queued_response_bytes(
                usize::try_from(self.max_queued_response_bytes).unwrap_or(usize::MAX),
            )
            .response_send_timeout(self.response_send_timeout)
            .handshake_timeout(self.handshake_timeout)
            .keepalive_interval(self.keepalive_interval)
            .max_connection_age(self.max_connection_age)
    }
}

/// The listen backlog used when the system's cannot be read.
pub const FALLBACK_BACKLOG: u32 = 4096;

/// The system's largest listen backlog (`/proc/sys/net/core/somaxconn`),
/// or [`FALLBACK_BACKLOG`]. A longer queue than the system allows is cut
/// to its limit anyway; a shorter one (tokio's `bind` asks for 1024) drops
/// connections in a burst of new clients.
pub fn listen_backlog() -> u32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| parse_backlog(&s))
        .unwrap_or(FALLBACK_BACKLOG)
}

/// A positive number, as somaxconn holds.
fn parse_backlog(s: &str) -> Option<u32> {
    s.trim().parse().ok().filter(|n| *n > 0)
}

/// Binds `addr` (address reuse on, as tokio's `bind` does) and listens
/// with the [`listen_backlog`].
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(listen_backlog())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// The CLI with just these flags.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        http2: Http2Args,
    }

    fn parse(args: &[&str]) -> Http2Args {
        Cli::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))
            .unwrap()
            .http2
    }

    /// The defaults are the library's; every flag is read and applied.
    #[test]
    fn defaults_and_flags() {
        let stock = ServerOptions::default();
        let defaults = parse(&[]);
        defaults.validate().unwrap();
        let server = defaults
            .apply_to_server(ServerOptions::builder())
            .build()
            .unwrap();
        assert_eq!(server.max_connections(), stock.max_connections());
        assert_eq!(
            server.max_concurrent_streams(),
            stock.max_concurrent_streams()
        );
        assert_eq!(
            server.max_header_list_bytes(),
            stock.max_header_list_bytes()
        );
        assert_eq!(
            server.max_queued_response_bytes(),
            stock.max_queued_response_bytes()
        );
        assert_eq!(
            server.response_send_timeout(),
            stock.response_send_timeout()
        );
        assert_eq!(server.handshake_timeout(), stock.handshake_timeout());
        assert_eq!(server.keepalive_interval(), stock.keepalive_interval());
        assert_eq!(server.max_connection_age(), stock.max_connection_age());

        let set = parse(&[
            "--max-connections=10",
            "--max-concurrent-streams=20",
            "--max-header-list-bytes=8KiB",
            "--max-queued-response-bytes=1MiB",
            "--response-send-timeout=3s",
            "--handshake-timeout=4s",
            "--keepalive-interval=5s",
            "--max-connection-age=6m",
        ]);
        set.validate().unwrap();
        let server = set
            .apply_to_server(ServerOptions::builder())
            .build()
            .unwrap();
        assert_eq!(server.max_connections(), 10);
        assert_eq!(server.max_concurrent_streams(), 20);
        assert_eq!(server.max_header_list_bytes(), 8 << 10);
        assert_eq!(server.max_queued_response_bytes(), 1 << 20);
        assert_eq!(server.response_send_timeout(), Duration::from_secs(3));
        assert_eq!(server.handshake_timeout(), Duration::from_secs(4));
        assert_eq!(server.keepalive_interval(), Duration::from_secs(5));
        assert_eq!(server.max_connection_age(), Duration::from_secs(360));
    }

    /// Zero is refused, naming the flag (a zero keep-alive interval used
    /// to panic in the connection's timer).
    #[test]
    fn zero_is_refused() {
        for (flag, zero) in [
            ("--max-connections", "0"),
            ("--max-concurrent-streams", "0"),
            ("--max-header-list-bytes", "0"),
            ("--max-queued-response-bytes", "0"),
            ("--response-send-timeout", "0s"),
            ("--handshake-timeout", "0s"),
            ("--keepalive-interval", "0s"),
            ("--max-connection-age", "0s"),
        ] {
            let err = parse(&[&format!("{flag}={zero}")]).validate().unwrap_err();
            assert!(
                err.to_string()
                    .contains(&format!("{flag} must be above zero")),
                "{err}"
            );
        }
    }

    /// somaxconn is read when it holds a positive number.
    #[test]
    fn the_backlog_is_the_systems() {
        assert_eq!(parse_backlog("4096\n"), Some(4096));
        assert_eq!(parse_backlog("0"), None);
        assert_eq!(parse_backlog("junk"), None);
        let expected = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| parse_backlog(&s))
            .unwrap_or(FALLBACK_BACKLOG);
        assert_eq!(listen_backlog(), expected);
    }

    /// The listener really listens with that backlog: Linux shows a
    /// listening socket's backlog as its Send-Q in `ss -ltn` (tokio's
    /// `bind` would show 1024). Skipped where `ss` is missing.
    #[tokio::test]
    async fn the_listener_uses_the_backlog() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = listener.local_addr().unwrap().port();
        let Ok(out) = std::process::Command::new("ss")
            .args(["-ltnH", &format!("sport = :{port}")])
            .output()
        else {
            return;
        };
        let out = String::from_utf8_lossy(&out.stdout);
        let send_q: u32 = out
            .split_whitespace()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("ss printed {out:?}"));
        assert_eq!(send_q, listen_backlog(), "{out}");
    }
}
