//! TLS flags of the commands that call a node (`get`, `stats`, `wait`):
//! the CA to trust and, for a node that asks for one, the client's own
//! certificate.

use std::path::PathBuf;

use cache_grpc::tls::{ClientTls, ClientTlsConfig};
use clap::Args;

use crate::Error;

/// How a command reaches a TLS node.
#[derive(Debug, Clone, Default, Args)]
pub struct ClientTlsArgs {
    /// Speak TLS, trusting the CA bundle in FILE (a node with --tls-cert).
    /// An `https://` address speaks TLS too, trusting the public roots
    /// unless this is given.
    #[arg(long, env = "GROUPCACHE_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Present the certificate chain in FILE (with --tls-key): for a node
    /// with --require-client-cert, or to call Fetch as a peer.
    #[arg(
        long,
        env = "GROUPCACHE_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert.
    #[arg(
        long,
        env = "GROUPCACHE_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
}

impl ClientTlsArgs {
    /// The TLS configuration to call `addr` with, if it speaks TLS
    /// (`https://`, or a CA or certificate given).
    pub fn for_addr(&self, addr: &str) -> Result<Option<ClientTls>, Error> {
        let wanted =
            addr.starts_with("https://") || self.tls_ca.is_some() || self.tls_cert.is_some();
        if !wanted {
            return Ok(None);
        }
        let mut cfg = ClientTlsConfig::new();
        if let Some(ca) = &self.tls_ca {
            cfg = cfg.ca(ca);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            cfg = cfg.identity(cert, key);
        }
        Ok(Some(ClientTls::load(cfg)?))
    }
}
