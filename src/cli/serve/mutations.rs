//! `serve` flags for Remove and Set across the mesh, and for how long what
//! they change can linger: the hot TTL (the backstop for a node that missed
//! a change), the tombstone TTL and the mutation timeout (the batch limit,
//! `--max-batch-keys`, is shared with GetMany and lives with `serve`'s
//! other limits).

use std::time::Duration;

use clap::Args;

use crate::cli::parse::clap_parsers;

/// Mutation flags of `serve`.
#[derive(Debug, Clone, Args)]
pub struct MutationArgs {
    /// The longest a copy of another node's key lives in this node's hot
    /// cache (never longer than the owner's value either). Also the longest
    /// a node that missed a Remove or Set (down, cut off) serves the old
    /// value from its hot cache. 0s: only the owner's TTL.
    #[arg(long, env = "GROUPCACHE_HOT_TTL", default_value = "60s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub hot_ttl: Duration,
    /// How long a removed or set key is remembered, so that a handed-over
    /// value or a warm takeover's answer older than the change is refused.
    /// Keep it above --takeover-window.
    #[arg(long, env = "GROUPCACHE_TOMBSTONE_TTL", default_value = "120s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub tombstone_ttl: Duration,
    /// How long Remove and Set wait for the other nodes, each step (the
    /// owners, then the rest), when the request has no deadline; a node
    /// that has not answered by then is reported unreached.
    #[arg(long, env = "GROUPCACHE_MUTATION_TIMEOUT", default_value = "5s", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub mutation_timeout: Duration,
}

impl MutationArgs {
    /// The hot TTL for the group builder (`None` for 0s).
    pub fn hot_ttl(&self) -> Option<Duration> {
        (!self.hot_ttl.is_zero()).then_some(self.hot_ttl)
    }
}
