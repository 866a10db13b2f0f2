//! TLS for both ends of a node: [`ServerTls`] for the listen port,
//! [`ClientTls`] for the connections a node (or the CLI) dials; rustls with
//! the `ring` provider, no system OpenSSL.
//!
//! - **Files, reloadable.** Both are built from PEM files and keep them:
//!   [`ServerTls::reload`] and [`ClientTls::reload`] read them again and
//!   swap the configuration in one step. A new connection takes the
//!   configuration current when it arrives; open connections keep theirs
//!   and finish. A reload that fails (a half-written file, a key that does
//!   not match) changes nothing and says why.
//! - **Peer identity.** With a CA (`ca`), the server asks every client for
//!   a certificate chaining to it (and refuses the handshake without one
//!   when `require_client_cert`). A verified certificate is a
//!   [`ClientCertificate`] in each request's extensions; it proves peer
//!   identity when its names match the allow-list (`peer_names`, empty:
//!   every certificate of the CA is a peer). [`auth`](crate::auth) decides
//!   what it may call.
//! - **Plaintext at a TLS port** gets an answer it can print rather than
//!   a reset: an HTTP/2 GOAWAY (`INADEQUATE_SECURITY`, "this port requires
//!   TLS") or an HTTP/1.1 `400`, then the connection is closed.
//! - ALPN is `h2` on both sides (gRPC clients such as grpcurl insist on
//!   it).

pub(crate) mod client;
mod pem;
mod plaintext;
mod server;

use std::sync::Arc;

pub use self::client::{ClientTls, ClientTlsConfig};
pub(crate) use self::plaintext::{Sniffed, refuse_plaintext, sniff};
pub use self::server::{ServerTls, ServerTlsConfig};

/// A client certificate that chained to the server's CA, as the transport
/// puts it in every request of the connection. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// It proves peer identity: the allow-list is empty, or one of its
    /// names is on it.
    pub peer: bool,
    /// The allow-listed name it matched, if any.
    pub name: Option<Arc<str>>,
}

/// The crypto provider of every configuration here.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// What ALPN offers and accepts.
const ALPN_H2: &[u8] = b"h2";
