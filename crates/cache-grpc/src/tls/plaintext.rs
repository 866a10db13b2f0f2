//! Telling a TLS client from a plaintext one at a TLS port, and answering
//! the plaintext one in words it can show its user.
//!
//! A TLS connection starts with a handshake record (content type 22); a
//! plaintext HTTP/2 client starts with the preface `PRI * HTTP/2.0`, an
//! HTTP/1.1 one with a method. A gRPC client's first request is answered
//! `UNAVAILABLE` with a message saying the port requires TLS (what
//! grpcurl and every gRPC library print), then the connection is closed
//! with a GOAWAY (`INADEQUATE_SECURITY` if the HTTP/2 handshake itself
//! fails); an HTTP/1.1 client gets a `400` saying the same.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The first byte of a TLS handshake record.
const HANDSHAKE_RECORD: u8 = 0x16;

/// What the first byte of a connection says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sniffed {
    /// A TLS handshake (or nothing yet: let the TLS layer decide).
    Tls,
    /// The HTTP/2 connection preface, in the clear.
    PlainHttp2,
    /// Anything else in the clear (HTTP/1.1 and junk).
    Plain,
}

/// Peeks at the first byte of `socket` without taking it.
pub(crate) async fn sniff(socket: &TcpStream) -> std::io::Result<Sniffed> {
    let mut first = [0u8; 1];
    let n = socket.peek(&mut first).await?;
    Ok(match first {
        _ if n == 0 => Sniffed::Tls,
        [HANDSHAKE_RECORD] => Sniffed::Tls,
        [b'P'] => Sniffed::PlainHttp2,
        _ => Sniffed::Plain,
    })
}

const MESSAGE: &[u8] = b"this port requires TLS";

/// The gRPC status message of a request in the clear.
const GRPC_MESSAGE: &str = "this port requires TLS: connect with TLS (groupcache --tls-ca FILE, \
                            grpcurl -cacert FILE)";

/// An HTTP/2 SETTINGS frame (empty) then a GOAWAY with
/// `INADEQUATE_SECURITY` and [`MESSAGE`] as its debug data.
fn goaway() -> Vec<u8> {
    const INADEQUATE_SECURITY: u32 = 0xc;
    let mut out = vec![0, 0, 0, 0x4, 0, 0, 0, 0, 0];
    let len = 8 + MESSAGE.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&[0x7, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&INADEQUATE_SECURITY.to_be_bytes());
    out.extend_from_slice(MESSAGE);
    out
}

/// Answers a plaintext client (within `timeout`) and closes the
/// connection.
pub(crate) async fn refuse_plaintext(mut socket: TcpStream, kind: Sniffed, timeout: Duration) {
    let answer = match kind {
        Sniffed::PlainHttp2 => {
            let _ = tokio::time::timeout(timeout, answer_grpc(socket)).await;
            return;
        }
        Sniffed::Plain => [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\nconnection: close\r\n\
               content-length: 23\r\n\r\n"[..],
            MESSAGE,
            b"\n",
        ]
        .concat(),
        Sniffed::Tls => return,
    };
    let _ = tokio::time::timeout(timeout, async {
        socket.write_all(&answer).await?;
        socket.shutdown().await
    })
    .await;
}

/// Speaks HTTP/2 just long enough to answer the first request
/// `UNAVAILABLE` (trailers only), then closes the connection. A client
/// whose preface does not parse gets [`goaway`] as written bytes.
async fn answer_grpc(mut socket: TcpStream) {
    // Peek the whole preface: h2 takes it off the socket.
    let mut preface = [0u8; 24];
    let is_h2 = matches!(socket.peek(&mut preface).await, Ok(24))
        && &preface == b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    if !is_h2 {
        let _ = socket.write_all(&goaway()).await;
        let _ = socket.shutdown().await;
        return;
    }
    let Ok(mut conn) = h2::server::handshake(socket).await else {
        return;
    };
    if let Some(Ok((_request, mut respond))) = conn.accept().await {
        let response = http::Response::builder()
            .header("content-type", "application/grpc")
            .header("grpc-status", "14")
            .header("grpc-message", GRPC_MESSAGE)
            .body(())
            .expect("a static response");
        let _ = respond.send_response(response, true);
    }
    conn.graceful_shutdown();
    while let Some(Ok(_)) = conn.accept().await {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GOAWAY is a well-formed frame: its length field matches.
    #[test]
    fn goaway_frame() {
        let f = goaway();
        let settings = &f[..9];
        assert_eq!(settings, [0, 0, 0, 4, 0, 0, 0, 0, 0]);
        let g = &f[9..];
        let len = u32::from_be_bytes([0, g[0], g[1], g[2]]) as usize;
        assert_eq!(g[3], 0x7, "GOAWAY");
        assert_eq!(len, g.len() - 9);
        assert_eq!(&g[13..17], &[0, 0, 0, 0xc]);
        assert!(g.ends_with(MESSAGE));
        assert_eq!(MESSAGE.len() + 1, 23, "the content-length of the 400");
    }
}
