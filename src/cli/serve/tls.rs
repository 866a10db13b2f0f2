//! `serve` flags for TLS: the node's certificate and key, the CA its peers
//! (and, with mTLS, its clients) chain to, the peer allow-list.
//!
//! One certificate serves both ends of a node: the listen port presents
//! it, and with `--tls-ca` the node presents it to its peers as its peer
//! identity when it dials them (so it needs both the serverAuth and the
//! clientAuth extended key usages, or neither, and a SAN for the address
//! its peers dial, as listed in `--peers`). Without `--tls-ca` peers are
//! verified against the public web roots and present nothing.

use std::path::PathBuf;

use cache_grpc::tls::{ClientTls, ClientTlsConfig, ServerTls, ServerTlsConfig};
use clap::Args;

use crate::Error;
use crate::cli::parse::clap_parsers;
use crate::cli::serve::reload::Watched;

/// TLS flags of `serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct TlsArgs {
    /// Serve TLS with the certificate chain in FILE (PEM, leaf first; with
    /// --tls-key). Reloaded when it changes and on SIGHUP: new connections
    /// get the new certificate, open ones finish.
    #[arg(
        long,
        env = "GROUPCACHE_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(
        long,
        env = "GROUPCACHE_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// The CA bundle peers' certificates chain to: peers dial each other
    /// over mTLS with the node's certificate as their identity, and Fetch
    /// needs such a certificate (or a peer token). Clients may present one
    /// too (see --require-client-cert).
    #[arg(
        long,
        env = "GROUPCACHE_TLS_CA",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_ca: Option<PathBuf>,
    /// A client certificate proves peer identity only if it is valid for
    /// one of these names (DNS names or IP addresses, comma-separated).
    /// Default: any certificate of --tls-ca.
    #[arg(
        long,
        env = "GROUPCACHE_PEER_ALLOW_SAN",
        value_delimiter = ',',
        value_name = "NAME,...",
        requires = "tls_ca"
    )]
    pub peer_allow_san: Vec<String>,
    /// Refuse clients without a certificate of --tls-ca (mTLS for all).
    #[arg(long, env = "GROUPCACHE_REQUIRE_CLIENT_CERT", value_parser = clap_parsers::switch, requires = "tls_ca")]
    pub require_client_cert: bool,
}

/// The node's TLS, both ends, loaded.
#[derive(Debug, Clone)]
pub struct NodeTls {
    /// The listen port's.
    pub server: ServerTls,
    /// The peer client's.
    pub client: ClientTls,
}

impl TlsArgs {
    /// Loads the files, or `None` without --tls-cert; a file that cannot
    /// be used is a configuration error naming it.
    pub fn load(&self) -> Result<Option<NodeTls>, Error> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let mut server = ServerTlsConfig::new(cert, key)
            .require_client_cert(self.require_client_cert)
            .peer_names(self.peer_allow_san.clone());
        let mut client = ClientTlsConfig::new();
        if let Some(ca) = &self.tls_ca {
            server = server.ca(ca);
            client = client.ca(ca).identity(cert, key);
        }
        let tls_error = |e: cache_grpc::Error| Error::config(e.to_string());
        Ok(Some(NodeTls {
            server: ServerTls::load(server).map_err(tls_error)?,
            client: ClientTls::load(client).map_err(tls_error)?,
        }))
    }
}

impl NodeTls {
    /// Its files, to watch for changes: the listen port's certificate,
    /// key and CA, and the peer client's.
    pub fn watched(&self) -> Vec<Watched> {
        let (server, client) = (self.server.clone(), self.client.clone());
        let cfg = server.config();
        let mut files = vec![cfg.cert_file().to_owned(), cfg.key_file().to_owned()];
        files.extend(cfg.ca_file().map(ToOwned::to_owned));
        vec![Watched {
            what: "TLS certificate",
            files,
            reload: Box::new(move || {
                server.reload().map_err(|e| e.to_string())?;
                client.reload().map_err(|e| e.to_string())?;
                Ok("new connections use it".into())
            }),
        }]
    }
}
