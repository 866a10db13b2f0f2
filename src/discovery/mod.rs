//! Where a node's peer set comes from (`serve --discovery SPEC`), and how
//! answers become the ring.
//!
//! - [`spec`]: [`DiscoverySpec`], the parsed flag.
//! - [`file`](mod@file), [`dns`], [`etcd`]: the sources. Each answers with the whole
//!   peer set, never a delta, so a lost update heals on the next answer.
//! - [`membership`]: what turns answers into the ring: it keeps the last
//!   good set on errors and implausible answers, debounces flapping and
//!   reports the node ready once the first set is applied.
//!
//! Every source has one contract, [`Discovery::next`]: the first call
//! answers at once with the current set; each later call waits until the
//! set may have changed (a poll interval, a file change, a watch event)
//! and answers again. `next` is cancel-safe: its state lives in the
//! source, so dropping a pending call loses nothing.

pub mod dns;
pub mod etcd;
pub mod file;
pub mod membership;
pub mod spec;

use std::net::SocketAddr;
use std::time::Duration;

pub use self::spec::DiscoverySpec;
use crate::Error;

/// What the sources need besides their spec.
#[derive(Debug, Clone)]
pub struct DiscoveryOptions {
    /// This node's peer address, `host:port`, as the others dial it: what
    /// etcd registers.
    pub self_addr: String,
    /// How often DNS is re-resolved (and a file re-checked, besides its
    /// change notifications).
    pub interval: Duration,
    /// The bound on one query (a DNS lookup, an etcd request).
    pub timeout: Duration,
    /// A DNS server to ask instead of the system's resolvers
    /// (`/etc/resolv.conf`).
    pub dns_server: Option<SocketAddr>,
    /// The TTL of this node's etcd lease: how long after the node dies its
    /// registration disappears.
    pub etcd_lease_ttl: Duration,
}

impl DiscoveryOptions {
    /// Options with the defaults of the `serve` flags, for `self_addr`.
    pub fn new(self_addr: impl Into<String>) -> Self {
        DiscoveryOptions {
            self_addr: self_addr.into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            dns_server: None,
            etcd_lease_ttl: Duration::from_secs(10),
        }
    }
}

/// An open discovery source.
#[derive(Debug)]
pub enum Discovery {
    /// `--peers`: a fixed list, answered once.
    Static(Option<Vec<String>>),
    /// `file:PATH`.
    File(file::FileSource),
    /// `dns:NAME:PORT` and `dns+srv:NAME`.
    Dns(dns::DnsSource),
    /// `etcd:URL/PREFIX`.
    Etcd(etcd::EtcdSource),
}

impl Discovery {
    /// Opens the source `spec` names (for etcd: connects, grants the lease
    /// and registers this node).
    pub async fn open(spec: &DiscoverySpec, opts: &DiscoveryOptions) -> Result<Discovery, Error> {
        Ok(match spec {
            DiscoverySpec::File(path) => Discovery::File(file::FileSource::new(path, opts)),
            DiscoverySpec::Dns { .. } | DiscoverySpec::DnsSrv { .. } => {
                Discovery::Dns(dns::DnsSource::new(spec, opts)?)
            }
            DiscoverySpec::Etcd { endpoints, prefix } => {
                Discovery::Etcd(etcd::EtcdSource::connect(endpoints, prefix, opts).await?)
            }
        })
    }

    /// A fixed list (`--peers`).
    pub fn fixed(peers: Vec<String>) -> Discovery {
        Discovery::Static(Some(peers))
    }

    /// The next answer: the whole peer set as `host:port` strings (not yet
    /// canonical or checked), or why the source could not answer. See the
    /// module docs for the contract.
    pub async fn next(&mut self) -> Result<Vec<String>, Error> {
        match self {
            Discovery::Static(peers) => match peers.take() {
                Some(peers) => Ok(peers),
                None => std::future::pending().await,
            },
            Discovery::File(source) => source.next().await,
            Discovery::Dns(source) => source.next().await,
            Discovery::Etcd(source) => source.next().await,
        }
    }

    /// Takes this node out of the source, when the source is one it
    /// registered in (etcd: revokes the lease). Called once, on graceful
    /// leave; a source only read does nothing.
    pub async fn leave(&mut self) -> Result<(), Error> {
        match self {
            Discovery::Etcd(source) => source.leave().await,
            Discovery::Static(_) | Discovery::File(_) | Discovery::Dns(_) => Ok(()),
        }
    }
}
