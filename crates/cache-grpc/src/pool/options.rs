//! [`PoolOptions`], built and checked by [`PoolOptionsBuilder`]: a value
//! the pool cannot work with (a zero timeout, limit or ring size, a bad
//! breaker setting) is refused by [`build`](PoolOptionsBuilder::build).

use std::time::Duration;

use cache_core::consistent_hash::DEFAULT_VNODES;

use crate::auth::Tokens;
use crate::breaker::BreakerOptions;
use crate::tls::ClientTls;
use crate::{Error, limits};

/// How long after a ring change a new owner asks a key's previous owner
/// before its source (see [`PoolOptionsBuilder::takeover_window`]).
pub const DEFAULT_TAKEOVER_WINDOW: Duration = Duration::from_secs(60);
/// The bound on one ask of a previous owner (see
/// [`PoolOptionsBuilder::takeover_timeout`]).
pub const DEFAULT_TAKEOVER_TIMEOUT: Duration = Duration::from_millis(500);

/// Options of a [`PeerPool`](crate::PeerPool): made by
/// [`PoolOptions::builder`] (checked) or [`Default`]. Every node of a
/// cluster must use the same `vnodes` (or they disagree about owners).
///
/// ```
/// use std::time::Duration;
/// use cache_grpc::PoolOptions;
///
/// let opts = PoolOptions::builder()
///     .peer_timeout(Duration::from_secs(1))
///     .build()
///     .unwrap();
/// assert_eq!(opts.peer_timeout(), Duration::from_secs(1));
/// assert!(PoolOptions::builder().vnodes(0).build().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub(crate) vnodes: usize,
    pub(crate) max_value_bytes: usize,
    pub(crate) peer_timeout: Duration,
    pub(crate) breaker: BreakerOptions,
    pub(crate) write_coalescing: bool,
    pub(crate) peer_tokens: Option<Tokens>,
    pub(crate) tls: Option<ClientTls>,
    pub(crate) takeover_window: Duration,
    pub(crate) takeover_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            vnodes: DEFAULT_VNODES,
            max_value_bytes: limits::DEFAULT_MAX_VALUE_BYTES,
            peer_timeout: Duration::from_millis(300),
            breaker: BreakerOptions::default(),
            write_coalescing: true,
            peer_tokens: None,
            tls: None,
            takeover_window: DEFAULT_TAKEOVER_WINDOW,
            takeover_timeout: DEFAULT_TAKEOVER_TIMEOUT,
        }
    }
}

impl PoolOptions {
    /// A builder starting from the defaults.
    pub fn builder() -> PoolOptionsBuilder {
        PoolOptionsBuilder {
            opts: PoolOptions::default(),
        }
    }

    /// A builder starting from these options.
    pub fn to_builder(&self) -> PoolOptionsBuilder {
        PoolOptionsBuilder { opts: self.clone() }
    }

    /// See [`PoolOptionsBuilder::vnodes`].
    pub fn vnodes(&self) -> usize {
        self.vnodes
    }

    /// See [`PoolOptionsBuilder::max_value_bytes`].
    pub fn max_value_bytes(&self) -> usize {
        self.max_value_bytes
    }

    /// See [`PoolOptionsBuilder::peer_timeout`].
    pub fn peer_timeout(&self) -> Duration {
        self.peer_timeout
    }

    /// See [`PoolOptionsBuilder::breaker`].
    pub fn breaker(&self) -> BreakerOptions {
        self.breaker
    }

    /// See [`PoolOptionsBuilder::write_coalescing`].
    pub fn write_coalescing(&self) -> bool {
        self.write_coalescing
    }

    /// See [`PoolOptionsBuilder::takeover_window`].
    pub fn takeover_window(&self) -> Duration {
        self.takeover_window
    }

    /// See [`PoolOptionsBuilder::takeover_timeout`].
    pub fn takeover_timeout(&self) -> Duration {
        self.takeover_timeout
    }
}

/// Builds [`PoolOptions`]; [`build`](Self::build) checks the whole.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct PoolOptionsBuilder {
    opts: PoolOptions,
}

impl PoolOptionsBuilder {
    /// Virtual points per peer on the ring. Default [`DEFAULT_VNODES`]
    /// (50).
    pub fn vnodes(mut self, value: usize) -> Self {
        self.opts.vnodes = value;
        self
    }

    /// The largest value a peer may send; sets the client's message limits
    /// (use the same value as the servers' `max_value_bytes`). Default
    /// [`limits::DEFAULT_MAX_VALUE_BYTES`] (8 MiB).
    pub fn max_value_bytes(mut self, value: usize) -> Self {
        self.opts.max_value_bytes = value;
        self
    }

    /// How long a peer may stay silent before it is judged dead: the bound
    /// on connecting, and on an HTTP/2 PING's answer while fetches are in
    /// flight (see [`GrpcPeer`](crate::GrpcPeer)). Not a bound on a live
    /// owner's answer, which is waited for as long as the group's flight
    /// lives. Default 300 ms.
    pub fn peer_timeout(mut self, value: Duration) -> Self {
        self.opts.peer_timeout = value;
        self
    }

    /// When a peer's breaker opens and how it is probed. Default
    /// [`BreakerOptions::default`]: 5 failures, probes after 500 ms
    /// doubling to 5 s.
    pub fn breaker(mut self, value: BreakerOptions) -> Self {
        self.opts.breaker = value;
        self
    }

    /// Gather each peer connection's writes and send them from a writer
    /// task ([`CoalescingIo`](crate::transport::coalesce::CoalescingIo)),
    /// so fetches sent together leave in one system call. Separate from
    /// the server's own
    /// [`write_coalescing`](crate::ServerOptionsBuilder::write_coalescing).
    /// Default true.
    pub fn write_coalescing(mut self, value: bool) -> Self {
        self.opts.write_coalescing = value;
        self
    }

    /// Present the first of `tokens` (`authorization: Bearer`) on every
    /// fetch: the peers' `--peer-token-file`, the same set the servers
    /// accept (see [`AuthPolicy::peer_tokens`](crate::auth::AuthPolicy::peer_tokens)).
    /// Reloads of the set are picked up by the next fetch. Default none.
    pub fn peer_tokens(mut self, tokens: Tokens) -> Self {
        self.opts.peer_tokens = Some(tokens);
        self
    }

    /// Dial peers over TLS ([`ClientTls`]: the CA that peers' certificates
    /// must chain to, and the certificate this node presents as its peer
    /// identity). Reloads are picked up by the next connection. Default
    /// plaintext.
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.opts.tls = Some(tls);
        self
    }

    /// Warm takeover: for this long after the peer set changes, a node that
    /// misses a key it now owns first asks the key's owner on the previous
    /// ring, from that peer's caches only, before calling its source (see
    /// [`PeerPicker::previous_owner`](cache_core::PeerPicker::previous_owner)).
    /// Zero turns it off. Default [`DEFAULT_TAKEOVER_WINDOW`] (60 s).
    pub fn takeover_window(mut self, value: Duration) -> Self {
        self.opts.takeover_window = value;
        self
    }

    /// The longest one warm-takeover ask may take before the source is
    /// called instead. Default [`DEFAULT_TAKEOVER_TIMEOUT`] (500 ms).
    pub fn takeover_timeout(mut self, value: Duration) -> Self {
        self.opts.takeover_timeout = value;
        self
    }

    /// The options, or [`Error::Config`] naming the first value that
    /// cannot work.
    pub fn build(self) -> Result<PoolOptions, Error> {
        let o = &self.opts;
        if o.vnodes == 0 {
            return Err(Error::Config("vnodes must be at least 1".into()));
        }
        if o.max_value_bytes == 0 {
            return Err(Error::Config("max_value_bytes must be at least 1".into()));
        }
        if o.peer_timeout.is_zero() {
            return Err(Error::Config("peer_timeout must be above zero".into()));
        }
        if o.takeover_timeout.is_zero() && !o.takeover_window.is_zero() {
            return Err(Error::Config("takeover_timeout must be above zero".into()));
        }
        o.breaker.validate()?;
        Ok(self.opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each value the pool cannot work with is refused, naming it.
    #[test]
    fn bad_values_are_refused() {
        assert!(PoolOptions::builder().build().is_ok());
        let bad_breaker = BreakerOptions {
            failures: 0,
            ..BreakerOptions::default()
        };
        let cases = [
            (PoolOptions::builder().vnodes(0), "vnodes"),
            (PoolOptions::builder().max_value_bytes(0), "max_value_bytes"),
            (
                PoolOptions::builder().peer_timeout(Duration::ZERO),
                "peer_timeout",
            ),
            (PoolOptions::builder().breaker(bad_breaker), "failures"),
        ];
        for (builder, name) in cases {
            let err = builder.build().unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }
}
