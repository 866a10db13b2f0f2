//! The TLS handshake of a server connection, before either driver sees
//! it: plaintext at a TLS port is answered in words
//! ([`tls`](crate::tls)), the handshake is bounded by the handshake
//! timeout, and a failed one is logged at most once per
//! [`LOG_EVERY`] with the number held back.

use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;
use tokio_util::either::Either;

use super::coalesce::CoalescingIo;
use crate::log_limit::RateLimited;
use crate::tls::{ClientCertificate, ServerTls, Sniffed, refuse_plaintext, sniff};

/// How often a failed handshake is logged at most.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// A server connection's stream under TLS.
pub(super) type TlsIo = TlsStream<Either<TcpStream, CoalescingIo>>;

/// Failed handshakes, for the log; one per listener.
#[derive(Debug)]
pub(super) struct HandshakeLog(Mutex<RateLimited>);

impl HandshakeLog {
    pub(super) fn new() -> Self {
        HandshakeLog(Mutex::new(RateLimited::new(LOG_EVERY)))
    }

    fn failed(&self, from: Option<std::net::SocketAddr>, error: &dyn std::fmt::Display) {
        let due = self.0.lock().due(Instant::now());
        match due {
            Some(suppressed) => tracing::warn!(
                peer = ?from, %error, suppressed,
                "TLS handshake failed (more within 10 s are counted, not logged)"
            ),
            None => tracing::debug!(peer = ?from, %error, "TLS handshake failed"),
        }
    }
}

/// Runs the handshake on `socket` within `timeout`, writing through a
/// [`CoalescingIo`] of `write_buffer` bytes when given. `None`: the
/// connection is done with (plaintext, a failed or slow handshake).
pub(super) async fn accept(
    socket: TcpStream,
    tls: &ServerTls,
    timeout: Duration,
    write_buffer: Option<usize>,
    log: &HandshakeLog,
) -> Option<(TlsIo, Option<ClientCertificate>)> {
    let from = socket.peer_addr().ok();
    let handshake = async {
        match sniff(&socket).await {
            Ok(Sniffed::Tls) => {}
            Ok(kind) => {
                tracing::debug!(peer = ?from, ?kind, "plaintext at the TLS port: refused");
                refuse_plaintext(socket, kind, timeout).await;
                return None;
            }
            Err(e) => {
                tracing::debug!(peer = ?from, error = %e, "connection failed before TLS");
                return None;
            }
        }
        let io = match write_buffer {
            Some(max) => Either::Right(CoalescingIo::new(socket, max)),
            None => Either::Left(socket),
        };
        match tls.accept(io).await {
            Ok(done) => Some(done),
            Err(e) => {
                log.failed(from, &e);
                None
            }
        }
    };
    match tokio::time::timeout(timeout, handshake).await {
        Ok(done) => done,
        Err(_) => {
            log.failed(from, &format_args!("no handshake within {timeout:?}"));
            None
        }
    }
}
