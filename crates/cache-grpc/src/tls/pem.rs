//! Reading PEM files: certificate chains, private keys, CA bundles. Every
//! error names the file and what was wrong with it.

use std::path::Path;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::Error;

fn error(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Tls(format!("{}: {what}", path.display()))
}

/// The certificates of `path`, leaf first; at least one.
pub(super) fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| error(path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| error(path, e))?;
    if certs.is_empty() {
        return Err(error(path, "no PEM certificate in the file"));
    }
    Ok(certs)
}

/// The private key of `path` (PKCS#8, PKCS#1 or SEC1).
pub(super) fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| error(path, format!("no private key: {e}")))
}

/// The CA bundle of `path` as a root store; at least one certificate, each
/// one a usable trust anchor.
pub(super) fn roots(path: &Path) -> Result<RootCertStore, Error> {
    let mut store = RootCertStore::empty();
    for cert in certificates(path)? {
        store
            .add(cert)
            .map_err(|e| error(path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(store)
}

/// The Mozilla roots compiled in: what a client trusts without a CA file.
pub(super) fn public_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}
