//! `dns:NAME:PORT` and `dns+srv:NAME`: peers from DNS, re-resolved every
//! [`DiscoveryOptions::interval`].

use super::{DiscoveryOptions, DiscoverySpec};
use crate::Error;

/// A DNS discovery source.
#[derive(Debug)]
pub struct DnsSource {
    spec: DiscoverySpec,
}

impl DnsSource {
    /// A source for a `Dns` or `DnsSrv` spec.
    pub fn new(spec: &DiscoverySpec, opts: &DiscoveryOptions) -> Result<DnsSource, Error> {
        let _ = opts;
        Ok(DnsSource { spec: spec.clone() })
    }

    /// See [`super::Discovery::next`].
    pub async fn next(&mut self) -> Result<Vec<String>, Error> {
        Err(Error::config(format!(
            "{}: DNS discovery is not built yet",
            self.spec
        )))
    }
}
