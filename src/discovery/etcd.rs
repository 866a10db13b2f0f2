//! `etcd:URL/PREFIX`: peers registered in etcd under a prefix.

use super::DiscoveryOptions;
use crate::Error;

/// An etcd discovery source: this node's registration and a watch.
#[derive(Debug)]
pub struct EtcdSource {}

impl EtcdSource {
    /// Connects, grants a lease and registers this node.
    pub async fn connect(
        endpoints: &[String],
        prefix: &str,
        opts: &DiscoveryOptions,
    ) -> Result<EtcdSource, Error> {
        let _ = (endpoints, prefix, opts);
        Err(Error::config("etcd discovery is not built yet"))
    }

    /// See [`super::Discovery::next`].
    pub async fn next(&mut self) -> Result<Vec<String>, Error> {
        Err(Error::config("etcd discovery is not built yet"))
    }

    /// Revokes the lease: this node's key disappears at once.
    pub async fn leave(&mut self) -> Result<(), Error> {
        Ok(())
    }
}
