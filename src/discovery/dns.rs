//! `dns:NAME:PORT` and `dns+srv:NAME`: peers from DNS, re-resolved every
//! [`DiscoveryOptions::interval`].
//!
//! - `dns:NAME:PORT` asks for the A and AAAA records of `NAME` and answers
//!   each address at `PORT` (`10.0.0.7:7001`, `[fd00::7]:7001`). This is
//!   how a Kubernetes headless Service and Consul DNS list their members.
//! - `dns+srv:NAME` asks for the SRV records of `NAME` and answers each
//!   record's target, resolved to its addresses, at the record's port.
//!   Targets are resolved, not answered as host names, so that every node
//!   names a peer the same way (`canonical_peer_id` would take a host name,
//!   but two nodes with different search domains could spell one host two
//!   ways, and the ring would then hold it twice). The addresses come from
//!   the answer's additional records when the server sends them (dnsmasq
//!   does for the names of its hosts files), otherwise from an A and AAAA
//!   lookup of the target. Priority and weight are ignored: every target
//!   is a peer. A target with no address (NXDOMAIN, no records) is left
//!   out, with a warning when that changes; a target whose lookup fails
//!   fails the answer.
//!
//! Every answer is the whole set, sorted (IPv4 before IPv6, then by
//! address and port) and without duplicates; an IPv4-mapped IPv6 address
//! counts as its IPv4 address. An error (NXDOMAIN, no records, an error
//! code, a timeout) is answered as [`Error::Discovery`] naming the spec,
//! the server and the cause; the membership layer keeps its last good set.
//! An error code for one address family while the other has records
//! counts as no records of that family (some servers answer AAAA queries
//! of IPv4-only names with REFUSED).
//!
//! One resolution (for SRV: the SRV query and the lookups of its targets)
//! is bounded by [`DiscoveryOptions::timeout`]; each query is sent over
//! UDP, once more after half the timeout if unanswered, and over TCP when
//! the UDP answer is truncated. Nothing is cached: the resolver's cache
//! holds no entry, so every poll asks the server. `/etc/hosts` is not read.
//!
//! Without [`DiscoveryOptions::dns_server`] the servers, search domains and
//! `ndots` come from `/etc/resolv.conf` (a short name like `groupcache`
//! works inside a Kubernetes namespace); with it, that one server is asked
//! and the name is taken as fully qualified.
//!
//! `next` is cancel-safe: the due instant and the resolution under way
//! live in the source, so a caller that drops a pending call (a `select!`
//! waking for something else) neither restarts the wait nor the query.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::Name;
use hickory_resolver::{Resolver, TokioResolver};
use tokio::time::Instant;

use self::answer::{Failure, addresses_in, negative, peers, same_name, srv_records, trim_dot};
use super::{DiscoveryOptions, DiscoverySpec};
use crate::Error;

mod answer;

/// A DNS discovery source.
pub struct DnsSource {
    /// What is asked, and of whom; shared with each resolution (behind an
    /// `Arc`, which also keeps the source small in `Discovery`).
    ask: Arc<Ask>,
    /// The time between polls.
    interval: Duration,
    /// When to resolve next; `None` before the first answer.
    due: Option<Instant>,
    /// The resolution under way, if any. `next` keeps it here, and the due
    /// instant above, so that a dropped call loses nothing: the next call
    /// goes on with the same resolution, or the same wait.
    pending: Option<Pin<Box<dyn Future<Output = Resolved> + Send>>>,
    /// The SRV targets the last answer left out for having no address,
    /// so that each change is logged once, not every poll.
    skipped: Vec<String>,
}

/// What one resolution answers: the peers or the error, and the SRV
/// targets left out.
type Resolved = (Result<Vec<String>, Error>, Vec<String>);

impl fmt::Debug for DnsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsSource")
            .field("spec", &self.ask.spec)
            .field("server", &self.ask.server)
            .field("interval", &self.interval)
            .field("due", &self.due)
            .field("pending", &self.pending.is_some())
            .finish_non_exhaustive()
    }
}

impl DnsSource {
    /// A source for a `Dns` or `DnsSrv` spec. Reads `/etc/resolv.conf`
    /// unless `opts.dns_server` is set; sends nothing yet.
    pub fn new(spec: &DiscoverySpec, opts: &DiscoveryOptions) -> Result<DnsSource, Error> {
        let (name, port) = match spec {
            DiscoverySpec::Dns { name, port } => (name, Some(*port)),
            DiscoverySpec::DnsSrv { name } => (name, None),
            other => {
                return Err(Error::Discovery(format!("{other} is not a DNS source")));
            }
        };
        let name = Name::from_utf8(name)
            .map_err(|e| Error::Discovery(format!("{spec}: {name:?} is not a DNS name: {e}")))?;
        let (config, mut options, server) = match opts.dns_server {
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let server = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
                let config = ResolverConfig::from_name_servers(vec![server]);
                (config, ResolverOpts::default(), addr.to_string())
            }
            None => {
                let (config, options) =
                    hickory_resolver::system_conf::read_system_conf().map_err(|e| {
                        Error::Discovery(format!("{spec}: cannot read /etc/resolv.conf: {e}"))
                    })?;
                let servers: Vec<String> = config
                    .name_servers()
                    .iter()
                    .map(|s| {
                        let port = s.connections.first().map_or(53, |c| c.port);
                        SocketAddr::new(s.ip, port).to_string()
                    })
                    .collect();
                let server = format!("the system resolvers ({})", servers.join(", "));
                (config, options, server)
            }
        };
        // Two sends of half the timeout each: a lost UDP datagram is sent
        // again within the bound.
        options.timeout = (opts.timeout / 2).max(Duration::from_millis(1));
        options.attempts = 1;
        // No cache: every poll asks the server (we re-resolve on purpose).
        options.cache_size = 0;
        options.positive_max_ttl = Some(Duration::ZERO);
        options.negative_max_ttl = Some(Duration::ZERO);
        options.use_hosts_file = ResolveHosts::Never;
        let resolver = Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options)
            .build()
            .map_err(|e| Error::Discovery(format!("{spec}: cannot make a resolver: {e}")))?;
        Ok(DnsSource {
            ask: Arc::new(Ask {
                spec: spec.clone(),
                name,
                port,
                resolver,
                server,
                timeout: opts.timeout,
            }),
            interval: opts.interval,
            due: None,
            pending: None,
            skipped: Vec::new(),
        })
    }

    /// See [`super::Discovery::next`]: the first call resolves at once,
    /// each later one an interval after the previous resolution started,
    /// and answers whatever it found (possibly the same set again).
    pub async fn next(&mut self) -> Result<Vec<String>, Error> {
        let pending = match &mut self.pending {
            Some(pending) => pending,
            None => {
                if let Some(due) = self.due {
                    tokio::time::sleep_until(due).await;
                }
                self.due = Some(Instant::now() + self.interval);
                self.pending.insert(Box::pin(Arc::clone(&self.ask).run()))
            }
        };
        let (answer, skipped) = pending.await;
        self.pending = None;
        // Only an answer says which targets are missing (an error leaves
        // none out), so a target missing for long is logged once.
        if answer.is_ok() && skipped != self.skipped {
            if !skipped.is_empty() {
                tracing::warn!(
                    spec = %self.ask.spec,
                    targets = %skipped.join(", "),
                    "SRV targets without an A or AAAA record are left out"
                );
            }
            self.skipped = skipped;
        }
        answer
    }
}

/// One question to DNS, and whom to ask.
struct Ask {
    /// The spec, as the messages name it (`dns:NAME:PORT`).
    spec: DiscoverySpec,
    /// The name asked: A/AAAA for `dns:`, SRV for `dns+srv:`.
    name: Name,
    /// `Some(port)` for `dns:`; `None` for SRV (each record has its port).
    port: Option<u16>,
    /// A resolver with no cache, bounded per query (see the module docs).
    resolver: TokioResolver,
    /// Who is asked, for messages: `127.0.0.1:5353`, or the system
    /// resolvers with their addresses.
    server: String,
    /// The bound on one resolution.
    timeout: Duration,
}

impl Ask {
    /// One resolution, bounded by the timeout.
    async fn run(self: Arc<Self>) -> Resolved {
        let mut skipped = Vec::new();
        let answer = match tokio::time::timeout(self.timeout, self.resolve(&mut skipped)).await {
            Ok(answer) => answer,
            Err(_) => Err(Failure::Timeout),
        };
        (answer.map_err(|failure| self.error(failure)), skipped)
    }

    /// One resolution, unbounded; SRV targets left out go to `skipped`.
    async fn resolve(&self, skipped: &mut Vec<String>) -> Result<Vec<String>, Failure> {
        let Some(port) = self.port else {
            return self.resolve_srv(skipped).await;
        };
        match self.addresses(&self.name).await {
            Ok(ips) => Ok(peers(ips.into_iter().map(|ip| SocketAddr::new(ip, port)))),
            Err(Failure::NoRecords(name)) => Err(Failure::NoRecords(format!(
                "{name} has no A or AAAA records"
            ))),
            Err(other) => Err(other),
        }
    }

    /// `dns+srv:`: the SRV records, then their targets' addresses.
    async fn resolve_srv(&self, skipped: &mut Vec<String>) -> Result<Vec<String>, Failure> {
        let name = trim_dot(&self.name);
        let lookup = match self.resolver.srv_lookup(self.name.clone()).await {
            Ok(lookup) => lookup,
            Err(e) => {
                return Err(match negative(e, &name)? {
                    Failure::NoRecords(_) => {
                        Failure::NoRecords(format!("{name} has no SRV records"))
                    }
                    other => other,
                });
            }
        };
        let records = srv_records(lookup.answers());
        if records.is_empty() {
            return Err(Failure::NoRecords(format!(
                "{name} has no SRV records with a target (\".\" means the service is not offered)"
            )));
        }
        // Each target once, with the addresses the answer carried for it;
        // the others are looked up, all at once.
        let mut targets: Vec<(Name, Vec<u16>, Vec<IpAddr>)> = Vec::new();
        for (target, port) in records {
            match targets.iter_mut().find(|(t, _, _)| same_name(t, &target)) {
                Some((_, ports, _)) => ports.push(port),
                None => {
                    let ips = addresses_in(lookup.additionals(), &target);
                    targets.push((target, vec![port], ips));
                }
            }
        }
        let lookups = targets
            .iter()
            .map(|(target, _, ips)| async move {
                if ips.is_empty() {
                    self.addresses(target).await
                } else {
                    Ok(ips.clone())
                }
            })
            .collect::<Vec<_>>();
        let found = futures::future::join_all(lookups).await;
        let mut addrs = Vec::new();
        for ((target, ports, _), ips) in targets.iter().zip(found) {
            match ips {
                Ok(ips) => {
                    for ip in ips {
                        addrs.extend(ports.iter().map(|port| SocketAddr::new(ip, *port)));
                    }
                }
                // A target without an address is left out (a record
                // outliving its host must not stop every update), ...
                Err(Failure::NoSuchName(_) | Failure::NoRecords(_)) => {
                    skipped.push(trim_dot(target))
                }
                // ... but a failed lookup fails the answer: the set is unknown.
                Err(other) => return Err(other),
            }
        }
        if addrs.is_empty() {
            return Err(Failure::NoRecords(format!(
                "none of the SRV targets of {name} has an A or AAAA record ({})",
                skipped.join(", ")
            )));
        }
        Ok(peers(addrs))
    }

    /// The A and AAAA records of `name`, asked at once. A family that gets
    /// an error response while the other has records is read as empty
    /// (some servers answer AAAA queries of IPv4-only names with REFUSED);
    /// a timeout or transport error of either fails the lookup.
    async fn addresses(&self, name: &Name) -> Result<Vec<IpAddr>, Failure> {
        let display = trim_dot(name);
        let (v4, v6) = futures::join!(
            self.resolver.ipv4_lookup(name.clone()),
            self.resolver.ipv6_lookup(name.clone())
        );
        let mut ips = Vec::new();
        let mut misses = Vec::new();
        for lookup in [v4, v6] {
            match lookup {
                Ok(lookup) => ips.extend(addresses_in(lookup.answers(), name)),
                Err(e) => misses.push(negative(e, &display)?),
            }
        }
        if !ips.is_empty() {
            return Ok(ips);
        }
        // No address: the most telling reason (an error answer, then
        // NXDOMAIN, then an empty answer).
        misses.sort_by_key(|miss| match miss {
            Failure::Answered(_) => 0,
            Failure::NoSuchName(_) => 1,
            _ => 2,
        });
        Err(misses
            .into_iter()
            .next()
            .unwrap_or(Failure::NoRecords(display)))
    }

    /// The error `next` returns for `failure`.
    fn error(&self, failure: Failure) -> Error {
        let (spec, server) = (&self.spec, &self.server);
        Error::Discovery(match failure {
            Failure::NoSuchName(name) => {
                format!("{spec}: {name} does not exist (NXDOMAIN from {server})")
            }
            Failure::NoRecords(what) => format!("{spec}: {what} (asked {server})"),
            Failure::Timeout => format!(
                "{spec}: no answer from {server} within {:?} (timeout)",
                self.timeout
            ),
            Failure::Answered(what) => format!("{spec}: {server} answered {what}"),
            Failure::Failed(what) => format!("{spec}: asking {server} failed: {what}"),
        })
    }
}

#[cfg(test)]
mod tests;
