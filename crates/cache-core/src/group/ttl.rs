//! Expiry: how long a value stays fresh, and how a group's entries encode
//! freshness and the stale window.
//!
//! **A value's fresh time.** A value this node loads is fresh for its
//! loader's TTL ([`Loaded::ttl`](crate::Loaded::ttl)), capped by the
//! group's `max_ttl`, which is also the TTL of a value loaded with none
//! (so `max_ttl` bounds the age of every value the loader gives). Then
//! `ttl_jitter` shortens it by a random fraction of up to `ttl_jitter`
//! (uniform in `[ttl * (1 - jitter), ttl]`), so keys loaded together do not
//! expire together. A zero TTL means "answer it, do not cache it":
//! `populate` refuses values that are already expired.
//!
//! **The stale window.** With `stale_ttl` set, a value entry holds its
//! *hard* expiry in the store (`Entry::expires_at`): its fresh expiry plus
//! `stale_ttl`, the same for every value entry of the group, in both caches.
//! So the store evicts at the hard expiry and keeps its promise (never an
//! entry expired at that instant, budget unchanged), and the group reads
//! the fresh expiry back as `expires_at - stale_ttl`: no byte more per
//! entry. Negative entries carry no stale window (their expiry is theirs).
//! Who may serve a value in its stale window, and who refreshes it, is in
//! `refresh.rs`.
//!
//! Every value entry of the group is made by [`Inner::value_entry`], so
//! the encoding is in one place.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::Inner;
use crate::store::{Cached, Entry};

/// The longest `max_ttl` and `stale_ttl` accepted: an expiry computed
/// from now with either always fits an `Instant`.
pub const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A group's expiry options (see the builder's setters for their meaning
/// and defaults).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TtlPolicy {
    /// The longest fresh time of a loaded value, and the fresh time of one
    /// loaded with no TTL.
    pub(super) max_ttl: Option<Duration>,
    /// The largest fraction a value's fresh time is shortened by, in
    /// `[0, 1)`.
    pub(super) jitter: f64,
    /// How long after its fresh time a value may still be served, by its
    /// owner, while it is refreshed in the background.
    pub(super) stale_ttl: Option<Duration>,
}

impl TtlPolicy {
    /// The fresh time of a value its loader gave `loaded` as TTL: capped by
    /// `max_ttl` (which also stands in for a missing TTL), then jittered.
    pub(super) fn fresh_ttl(&self, loaded: Option<Duration>) -> Option<Duration> {
        let ttl = self.capped(loaded)?;
        Some(self.jittered(ttl, fastrand::f64()))
    }

    /// `ttl` capped by `max_ttl`, which also stands in for a missing TTL:
    /// the fresh time of a value set by hand (no jitter: the caller chose
    /// it).
    pub(super) fn capped(&self, ttl: Option<Duration>) -> Option<Duration> {
        match (ttl, self.max_ttl) {
            (Some(ttl), Some(max)) => Some(ttl.min(max)),
            (ttl, None) => ttl,
            (None, max) => max,
        }
    }

    /// `ttl` shortened by `jitter * unit` of itself (`unit` in `[0, 1)`).
    fn jittered(&self, ttl: Duration, unit: f64) -> Duration {
        if self.jitter == 0.0 {
            ttl
        } else {
            ttl.mul_f64(1.0 - self.jitter * unit)
        }
    }

    /// The `Instant` that is `ttl` from `now`; `None` (never) if it would
    /// not fit one.
    pub(super) fn after(now: Instant, ttl: Option<Duration>) -> Option<Instant> {
        ttl.and_then(|ttl| now.checked_add(ttl))
    }
}

impl Inner {
    /// The store entry of a value fresh until `fresh_until`: its hard
    /// expiry is `stale_ttl` later when the group has a stale window.
    pub(super) fn value_entry(&self, value: Bytes, fresh_until: Option<Instant>) -> Entry {
        let expires_at = match self.opts.ttl.stale_ttl {
            Some(stale) => fresh_until.map(|at| at + stale),
            None => fresh_until,
        };
        Entry {
            data: Cached::Value(value),
            expires_at,
        }
    }

    /// When the value of a live `entry` stops being fresh (`None`: never,
    /// or not a value). For a group without a stale window it is the
    /// entry's expiry.
    #[inline]
    pub(super) fn fresh_until(&self, entry: &Entry) -> Option<Instant> {
        match (self.opts.ttl.stale_ttl, &entry.data) {
            // Hard expiries are `stale` past a fresh one, so this cannot
            // underflow for the group's own entries.
            (Some(stale), Cached::Value(_)) => entry
                .expires_at
                .map(|at| at.checked_sub(stale).unwrap_or(at)),
            _ => entry.expires_at,
        }
    }

    /// `entry` with its fresh expiry in `expires_at`: what a hit reports.
    pub(super) fn with_fresh_expiry(&self, entry: Entry) -> Entry {
        Entry {
            expires_at: self.fresh_until(&entry),
            data: entry.data,
        }
    }

    /// True when `entry`, live at `now`, holds a value past its fresh time
    /// (in its stale window).
    #[inline]
    pub(super) fn is_stale(&self, entry: &Entry, now: Instant) -> bool {
        self.opts.ttl.stale_ttl.is_some() && self.fresh_until(entry).is_some_and(|at| at <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_ttl: Option<u64>, jitter: f64) -> TtlPolicy {
        TtlPolicy {
            max_ttl: max_ttl.map(Duration::from_secs),
            jitter,
            stale_ttl: None,
        }
    }

    /// The cap bounds a loader's TTL and stands in for a missing one; with
    /// no cap a missing TTL stays "never".
    #[test]
    fn the_cap_bounds_every_ttl() {
        let capped = policy(Some(60), 0.0);
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(capped.fresh_ttl(secs(600)), secs(60));
        assert_eq!(capped.fresh_ttl(secs(10)), secs(10));
        assert_eq!(capped.fresh_ttl(None), secs(60));
        assert_eq!(capped.fresh_ttl(secs(0)), secs(0), "zero stays: not cached");
        let uncapped = policy(None, 0.0);
        assert_eq!(uncapped.fresh_ttl(None), None);
        assert_eq!(uncapped.fresh_ttl(secs(600)), secs(600));
    }

    /// Jitter shortens a TTL by at most its fraction: the ends of the
    /// random unit map to `ttl` and (just above) `ttl * (1 - jitter)`.
    #[test]
    fn jitter_stays_within_its_fraction() {
        let p = policy(Some(100), 0.2);
        let ttl = Duration::from_secs(100);
        assert_eq!(p.jittered(ttl, 0.0), ttl);
        assert_eq!(p.jittered(ttl, 0.5), Duration::from_secs(90));
        assert!(p.jittered(ttl, 0.999_999) > Duration::from_secs(80));
        for _ in 0..1000 {
            let t = p.fresh_ttl(None).unwrap();
            assert!(t <= ttl && t > Duration::from_secs(80), "{t:?}");
        }
    }

    /// An expiry too far away for an `Instant` is "never", not a panic.
    #[test]
    fn an_expiry_past_instant_is_never() {
        let now = Instant::now();
        assert_eq!(TtlPolicy::after(now, Some(Duration::MAX)), None);
        assert_eq!(TtlPolicy::after(now, None), None);
        let ttl = Duration::from_secs(5);
        assert_eq!(TtlPolicy::after(now, Some(ttl)), Some(now + ttl));
    }
}
