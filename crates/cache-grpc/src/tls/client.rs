//! [`ClientTls`]: how a node dials its peers over TLS (and how the CLI
//! dials a node): the CA it trusts, the certificate it presents,
//! reloadable.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::Uri;
use hyper_util::rt::TokioIo;
use parking_lot::RwLock;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{ALPN_H2, pem, provider};
use crate::Error;

/// What a client trusts and presents.
#[derive(Debug, Clone, Default)]
pub struct ClientTlsConfig {
    ca: Option<PathBuf>,
    identity: Option<(PathBuf, PathBuf)>,
}

impl ClientTlsConfig {
    /// Trust the public web roots (compiled in), present no certificate.
    pub fn new() -> Self {
        ClientTlsConfig::default()
    }

    /// Trust only the CA bundle in `ca`.
    pub fn ca(mut self, ca: impl Into<PathBuf>) -> Self {
        self.ca = Some(ca.into());
        self
    }

    /// Present the certificate chain in `cert` with the key in `key`.
    pub fn identity(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.identity = Some((cert.into(), key.into()));
        self
    }

    /// The files it reads (for watching them).
    pub fn files(&self) -> Vec<&Path> {
        let mut files: Vec<&Path> = self.ca.iter().map(PathBuf::as_path).collect();
        if let Some((c, k)) = &self.identity {
            files.extend([c.as_path(), k.as_path()]);
        }
        files
    }
}

/// The TLS side of outgoing connections. Cheap to clone (clones share
/// the configuration; a reload through one is seen by all).
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientTlsConfig>,
    current: Arc<RwLock<Arc<rustls::ClientConfig>>>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Reads the files of `config`; fails naming the file that is missing
    /// or unusable.
    pub fn load(config: ClientTlsConfig) -> Result<Self, Error> {
        let built = build(&config)?;
        Ok(ClientTls {
            config: Arc::new(config),
            current: Arc::new(RwLock::new(Arc::new(built))),
        })
    }

    /// Reads the files again; new connections use them. On an error
    /// nothing changes.
    pub fn reload(&self) -> Result<(), Error> {
        let built = build(&self.config)?;
        *self.current.write() = Arc::new(built);
        Ok(())
    }

    /// What it was loaded from.
    pub fn config(&self) -> &ClientTlsConfig {
        &self.config
    }

    /// The TLS handshake on `io` with the server `host` (a DNS name or an
    /// IP address, checked against the server's certificate).
    pub async fn connect<IO>(&self, host: &str, io: IO) -> std::io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned()).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{host:?} is not a DNS name or IP address"),
            )
        })?;
        let config = self.current.read().clone();
        TlsConnector::from(config).connect(name, io).await
    }

    /// Opens TCP (`TCP_NODELAY`) to `uri`'s `host:port`, then TLS.
    pub async fn dial(&self, uri: Uri) -> std::io::Result<TokioIo<TlsStream<TcpStream>>> {
        let (host, tcp) = tcp_to(&uri).await?;
        Ok(TokioIo::new(self.connect(&host, tcp).await?))
    }

    /// [`dial`](Self::dial) as a connector for tonic's
    /// `Endpoint::connect_with_connector`.
    pub fn connector(
        &self,
    ) -> impl tower::Service<
        Uri,
        Response = TokioIo<TlsStream<TcpStream>>,
        Error = std::io::Error,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static {
        let tls = self.clone();
        tower::service_fn(move |uri| {
            let tls = tls.clone();
            async move { tls.dial(uri).await }
        })
    }
}

/// A TCP connection to `uri`'s authority, and its host.
pub(crate) async fn tcp_to(uri: &Uri) -> std::io::Result<(String, TcpStream)> {
    let authority = uri.authority().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("no host:port in {uri}"),
        )
    })?;
    let stream = TcpStream::connect(authority.as_str()).await?;
    stream.set_nodelay(true)?;
    Ok((authority.host().to_owned(), stream))
}

/// The rustls configuration for `cfg`, from its files as they are now.
fn build(cfg: &ClientTlsConfig) -> Result<rustls::ClientConfig, Error> {
    let roots = match &cfg.ca {
        Some(ca) => pem::roots(ca)?,
        None => pem::public_roots(),
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots);
    let mut config = match &cfg.identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(pem::certificates(cert)?, pem::private_key(key)?)
            .map_err(|e| Error::Tls(format!("{} and {}: {e}", cert.display(), key.display())))?,
    };
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(config)
}
