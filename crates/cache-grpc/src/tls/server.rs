//! [`ServerTls`]: the listen port's TLS configuration, reloadable, and the
//! handshake that turns a connection's client certificate into a
//! [`ClientCertificate`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::{ALPN_H2, ClientCertificate, pem, provider};
use crate::Error;

/// Where a server's certificate, key and CA come from, and what it asks of
/// clients.
#[derive(Debug, Clone)]
pub struct ServerTlsConfig {
    cert: PathBuf,
    key: PathBuf,
    ca: Option<PathBuf>,
    require_client_cert: bool,
    peer_names: Vec<String>,
}

impl ServerTlsConfig {
    /// Serve the certificate chain in `cert` (PEM, leaf first) with the
    /// private key in `key`; no client certificates.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        ServerTlsConfig {
            cert: cert.into(),
            key: key.into(),
            ca: None,
            require_client_cert: false,
            peer_names: Vec::new(),
        }
    }

    /// Ask clients for a certificate chaining to the CA bundle in `ca`
    /// (optional for them unless [`require_client_cert`](Self::require_client_cert)).
    pub fn ca(mut self, ca: impl Into<PathBuf>) -> Self {
        self.ca = Some(ca.into());
        self
    }

    /// Refuse the handshake of a client without a certificate of the CA.
    pub fn require_client_cert(mut self, on: bool) -> Self {
        self.require_client_cert = on;
        self
    }

    /// A client certificate proves peer identity only if it is valid for
    /// one of `names` (DNS names or IP addresses, as in its SAN). Empty
    /// (the default): every certificate of the CA is a peer's.
    pub fn peer_names(mut self, names: Vec<String>) -> Self {
        self.peer_names = names;
        self
    }

    /// The CA bundle, if client certificates are asked for.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    /// The certificate chain file.
    pub fn cert_file(&self) -> &Path {
        &self.cert
    }

    /// The private key file.
    pub fn key_file(&self) -> &Path {
        &self.key
    }
}

/// The TLS side of a listen port. Cheap to clone (clones share the
/// configuration, and a reload through one is seen by all).
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerTlsConfig>,
    current: Arc<RwLock<Arc<rustls::ServerConfig>>>,
    peer_names: Arc<[ServerName<'static>]>,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Reads the files of `config`; fails, naming the file, when one is
    /// missing or unusable, or the key does not match the certificate.
    pub fn load(config: ServerTlsConfig) -> Result<Self, Error> {
        let peer_names = config
            .peer_names
            .iter()
            .map(|n| {
                ServerName::try_from(n.clone()).map_err(|_| {
                    Error::Tls(format!("peer name {n:?} is not a DNS name or IP address"))
                })
            })
            .collect::<Result<Arc<[_]>, _>>()?;
        if !peer_names.is_empty() && config.ca.is_none() {
            return Err(Error::Tls(
                "a peer name allow-list needs a CA: client certificates are only asked for with one"
                    .into(),
            ));
        }
        let built = build(&config)?;
        Ok(ServerTls {
            config: Arc::new(config),
            current: Arc::new(RwLock::new(Arc::new(built))),
            peer_names,
        })
    }

    /// Reads the files again; new connections get the new certificate,
    /// open ones keep theirs. On an error nothing changes.
    pub fn reload(&self) -> Result<(), Error> {
        let built = build(&self.config)?;
        *self.current.write() = Arc::new(built);
        Ok(())
    }

    /// What it was loaded from.
    pub fn config(&self) -> &ServerTlsConfig {
        &self.config
    }

    /// The TLS handshake on `io` with the current configuration, and the
    /// client's certificate, if it sent one (it chained to the CA: rustls
    /// refuses the handshake otherwise).
    pub(crate) async fn accept<IO>(
        &self,
        io: IO,
    ) -> std::io::Result<(TlsStream<IO>, Option<ClientCertificate>)>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = TlsAcceptor::from(self.current.read().clone());
        let stream = acceptor.accept(io).await?;
        let certificate = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| self.identify(leaf));
        Ok((stream, certificate))
    }

    /// Whether `leaf` (already verified against the CA) is a peer's.
    fn identify(&self, leaf: &CertificateDer<'_>) -> ClientCertificate {
        if self.peer_names.is_empty() {
            return ClientCertificate {
                peer: true,
                name: None,
            };
        }
        let matched = webpki::EndEntityCert::try_from(leaf).ok().and_then(|ee| {
            self.peer_names
                .iter()
                .find(|name| ee.verify_is_valid_for_subject_name(name).is_ok())
        });
        ClientCertificate {
            peer: matched.is_some(),
            name: matched.map(|n| Arc::from(n.to_str().as_ref())),
        }
    }
}

/// The rustls configuration for `cfg`, from its files as they are now.
fn build(cfg: &ServerTlsConfig) -> Result<rustls::ServerConfig, Error> {
    let certs = pem::certificates(&cfg.cert)?;
    let key = pem::private_key(&cfg.key)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?;
    let builder = match &cfg.ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let roots = Arc::new(pem::roots(ca)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider());
            let verifier = if cfg.require_client_cert {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            let verifier = verifier
                .build()
                .map_err(|e| Error::Tls(format!("{}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        Error::Tls(format!(
            "{} and {}: {e}",
            cfg.cert.display(),
            cfg.key.display()
        ))
    })?;
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(config)
}
