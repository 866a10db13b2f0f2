//! How a node finds its peers and how it joins and leaves: the
//! `--discovery` flags, warm takeover and the handoff on leave.
//! [`DiscoveryArgs`] is flattened into [`ServeArgs`](super::ServeArgs).

use std::net::SocketAddr;
use std::time::Duration;

use cache_grpc::PoolOptionsBuilder;
use cache_grpc::handoff::HandoffBudget;
use clap::Args;

use crate::Error;
use crate::cli::parse::clap_parsers;
use crate::discovery::membership::MembershipOptions;
use crate::discovery::{DiscoveryOptions, DiscoverySpec};

/// The `serve` flags on membership, takeover and handoff.
#[derive(Debug, Clone, Args)]
pub struct DiscoveryArgs {
    /// Where the peer set comes from, instead of --peers: file:PATH (one
    /// peer per line, watched), dns:NAME:PORT (A/AAAA records),
    /// dns+srv:NAME (SRV records) or etcd:http://HOST:PORT/PREFIX (this
    /// node registers itself with a lease). See docs/membership.md.
    #[arg(long, env = "GROUPCACHE_DISCOVERY", value_name = "SPEC", value_parser = clap_parsers::discovery, conflicts_with = "peers")]
    pub discovery: Option<DiscoverySpec>,
    /// How often DNS is re-resolved.
    #[arg(long, env = "GROUPCACHE_DISCOVERY_INTERVAL", default_value = "5s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub discovery_interval: Duration,
    /// The longest one discovery query (DNS, etcd) may take.
    #[arg(long, env = "GROUPCACHE_DISCOVERY_TIMEOUT", default_value = "2s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub discovery_timeout: Duration,
    /// Ask this DNS server (IP:PORT) instead of the system's resolvers.
    #[arg(long, env = "GROUPCACHE_DISCOVERY_DNS_SERVER", value_name = "ADDR")]
    pub discovery_dns_server: Option<SocketAddr>,
    /// How long a change must stay in the source's answers before the
    /// ring follows (a flapping peer moves no keys).
    #[arg(long, env = "GROUPCACHE_DISCOVERY_DEBOUNCE", default_value = "1s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub discovery_debounce: Duration,
    /// The largest share of the peers (this node counted) one answer may
    /// drop and still be applied after the debounce; an answer dropping
    /// more (an empty one included) must persist for --discovery-hold.
    #[arg(long, env = "GROUPCACHE_DISCOVERY_MAX_LOSS", default_value = "0.5", value_name = "FRACTION", value_parser = max_loss)]
    pub discovery_max_loss: f64,
    /// How long an answer dropping more than --discovery-max-loss must
    /// persist before it is applied.
    #[arg(long, env = "GROUPCACHE_DISCOVERY_HOLD", default_value = "30s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub discovery_hold: Duration,
    /// The TTL of this node's etcd lease: how long after it dies its entry
    /// stays.
    #[arg(long, env = "GROUPCACHE_ETCD_LEASE_TTL", default_value = "10s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub etcd_lease_ttl: Duration,
    /// For this long after the peer set changes, a node missing a key it
    /// now owns first asks the key's previous owner (from its caches only)
    /// before its source; 0s turns warm takeover off.
    #[arg(long, env = "GROUPCACHE_TAKEOVER_WINDOW", default_value = "60s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub takeover_window: Duration,
    /// The longest one ask of a previous owner may take.
    #[arg(long, env = "GROUPCACHE_TAKEOVER_TIMEOUT", default_value = "500ms", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub takeover_timeout: Duration,
    /// On SIGTERM, the most bytes of its hottest values a node hands to
    /// their next owners before it exits (0 turns the handoff off).
    #[arg(long, env = "GROUPCACHE_HANDOFF_BYTES", default_value = "64MiB", value_name = "SIZE", value_parser = clap_parsers::size)]
    pub handoff_bytes: u64,
    /// On SIGTERM, the longest the handoff may take.
    #[arg(long, env = "GROUPCACHE_HANDOFF_TIMEOUT", default_value = "5s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub handoff_timeout: Duration,
}

/// `--discovery-max-loss`: a share in (0, 1].
fn max_loss(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        _ => Err(format!(
            "bad share {s:?}: expected a number in (0, 1], as in 0.5"
        )),
    }
}

impl DiscoveryArgs {
    /// Refuses zero intervals and timeouts, naming the flag.
    pub fn validate(&self) -> Result<(), Error> {
        for (flag, zero) in [
            ("--discovery-interval", self.discovery_interval.is_zero()),
            ("--discovery-timeout", self.discovery_timeout.is_zero()),
            ("--takeover-timeout", self.takeover_timeout.is_zero()),
        ] {
            if zero {
                return Err(Error::config(format!("{flag} must be above zero")));
            }
        }
        if self.etcd_lease_ttl < Duration::from_secs(2) {
            return Err(Error::config(
                "--etcd-lease-ttl must be at least 2s (etcd's leases count whole seconds)",
            ));
        }
        Ok(())
    }

    /// The sources' options, for this node's peer address.
    pub fn options(&self, self_addr: &str) -> DiscoveryOptions {
        DiscoveryOptions {
            self_addr: self_addr.to_owned(),
            interval: self.discovery_interval,
            timeout: self.discovery_timeout,
            dns_server: self.discovery_dns_server,
            etcd_lease_ttl: self.etcd_lease_ttl,
        }
    }

    /// The rules answers are judged by.
    pub fn membership(&self) -> MembershipOptions {
        MembershipOptions {
            debounce: self.discovery_debounce,
            max_loss: self.discovery_max_loss,
            hold: self.discovery_hold,
        }
    }

    /// The warm-takeover settings, applied to the pool's options.
    pub fn apply_to_pool(&self, pool: PoolOptionsBuilder) -> PoolOptionsBuilder {
        pool.takeover_window(self.takeover_window)
            .takeover_timeout(self.takeover_timeout)
    }

    /// What a leaving node hands over.
    pub fn handoff(&self) -> HandoffBudget {
        HandoffBudget {
            max_bytes: self.handoff_bytes,
            timeout: self.handoff_timeout,
        }
    }
}
