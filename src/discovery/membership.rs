//! Turning a source's answers into the ring.
//!
//! Invariants:
//! - the ring only ever holds a set some answer gave, plus this node
//!   (which always owns its share of keys);
//! - an error never changes the ring: the last good set stays (an outage
//!   of the source does not empty the mesh);
//! - an answer that drops more than `max_loss` of the peers at once (this
//!   node counted), an empty one included, is held back: it is applied
//!   only once the source has kept giving it for `hold` (a real
//!   scale-down), never at once (a half-written file, a DNS server
//!   answering from an empty zone);
//! - any other change is applied once the source has kept it for
//!   `debounce`, so a flapping entry moves no keys; the first set is
//!   applied at once, and only then is the node ready (health SERVING).
//!
//! [`Judge`] holds these rules as plain state, tested without a clock;
//! [`spawn`] starts a task that feeds it a [`Discovery`] source's answers and applies its
//! verdicts to a [`PeerPool`].

use std::time::Duration;

use cache_core::canonical_peer_id;
use cache_grpc::PeerPool;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::Discovery;
use crate::Error;

/// How answers are judged (the `serve --discovery-*` flags).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MembershipOptions {
    /// How long a change must stay in the source's answers before it is
    /// applied. Default 1 s.
    pub debounce: Duration,
    /// The largest share of the peers (this node counted) an answer may
    /// drop and still be applied after `debounce`. Default 0.5.
    pub max_loss: f64,
    /// How long an answer dropping more than `max_loss` must persist
    /// before it is applied. Default 30 s.
    pub hold: Duration,
}

impl Default for MembershipOptions {
    fn default() -> Self {
        MembershipOptions {
            debounce: Duration::from_secs(1),
            max_loss: 0.5,
            hold: Duration::from_secs(30),
        }
    }
}

/// What to do with an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Apply this set now (sorted canonical ids, this node included).
    Apply(Vec<String>),
    /// A change is pending until this instant (call [`Judge::due`] then).
    Wait(Instant),
    /// Nothing changes.
    Keep,
    /// The answer drops too many peers at once: the last good set stays,
    /// and the answer is pending for `hold` (why, for the log).
    Hold(String),
    /// The source failed, for this reason; the last good set stays.
    Refuse(String),
}

/// A change waiting for its time.
#[derive(Debug, Clone)]
struct Pending {
    set: Vec<String>,
    due: Instant,
}

/// The membership rules, as state: feed it answers in order.
#[derive(Debug)]
pub struct Judge {
    self_id: String,
    opts: MembershipOptions,
    /// The applied set; `None` before the first.
    current: Option<Vec<String>>,
    pending: Option<Pending>,
}

impl Judge {
    /// Rules for the node whose canonical id is `self_id`.
    pub fn new(self_id: impl Into<String>, opts: MembershipOptions) -> Self {
        Judge {
            self_id: self_id.into(),
            opts,
            current: None,
            pending: None,
        }
    }

    /// The applied set, if any.
    pub fn current(&self) -> Option<&[String]> {
        self.current.as_deref()
    }

    /// When the pending change matures, if one is pending.
    pub fn pending_due(&self) -> Option<Instant> {
        self.pending.as_ref().map(|p| p.due)
    }

    /// Judges one answer received at `now`.
    pub fn answer(&mut self, answer: Result<Vec<String>, Error>, now: Instant) -> Verdict {
        let raw = match answer {
            Ok(raw) => raw,
            Err(e) => return Verdict::Refuse(e.to_string()),
        };
        let (set, bad) = self.canonical(&raw);
        if let Some(bad) = bad {
            tracing::warn!(entry = %bad.0, reason = %bad.1, "discovery: an entry is not a peer address; ignored");
        }
        let Some(current) = &self.current else {
            self.pending = None;
            self.current = Some(set.clone());
            return Verdict::Apply(set);
        };
        if *current == set {
            self.pending = None;
            return Verdict::Keep;
        }
        if let Some(pending) = &self.pending
            && pending.set == set
        {
            return Verdict::Wait(pending.due);
        }
        let lost = current.iter().filter(|p| !set.contains(p)).count();
        let implausible = lost as f64 > self.opts.max_loss * current.len() as f64;
        let wait = if implausible {
            self.opts.hold
        } else {
            self.opts.debounce
        };
        if wait.is_zero() {
            self.pending = None;
            self.current = Some(set.clone());
            return Verdict::Apply(set);
        }
        let due = now + wait;
        self.pending = Some(Pending { set, due });
        if implausible {
            Verdict::Hold(format!(
                "the answer drops {lost} of {} peers at once (more than --discovery-max-loss \
                 {}); the peer set stays unless the source keeps answering it for {:?}",
                current.len(),
                self.opts.max_loss,
                self.opts.hold
            ))
        } else {
            Verdict::Wait(due)
        }
    }

    /// The pending set, if it is due at `now`: it becomes the current one.
    pub fn due(&mut self, now: Instant) -> Option<Vec<String>> {
        if self.pending.as_ref()?.due > now {
            return None;
        }
        let set = self.pending.take()?.set;
        self.current = Some(set.clone());
        Some(set)
    }

    /// The answer as sorted canonical ids with this node, and the first
    /// entry that is not a peer address (with why), if any.
    fn canonical(&self, raw: &[String]) -> (Vec<String>, Option<(String, String)>) {
        let mut bad = None;
        let mut set: Vec<String> = raw
            .iter()
            .filter_map(|entry| match canonical_peer_id(entry) {
                Ok(id) => Some(id),
                Err(e) => {
                    bad.get_or_insert_with(|| (entry.clone(), e.to_string()));
                    None
                }
            })
            .collect();
        set.push(self.self_id.clone());
        set.sort_unstable();
        set.dedup();
        (set, bad)
    }
}

/// The way to ask the task of [`spawn`] to take this node out of its source.
#[derive(Debug)]
pub struct LeaveHandle {
    tx: oneshot::Sender<oneshot::Sender<Result<(), Error>>>,
}

impl LeaveHandle {
    /// Stops following the source and takes this node out of it (etcd:
    /// revokes the lease); returns once done, or once `within` passed.
    pub async fn leave(self, within: Duration) -> Result<(), Error> {
        let (done_tx, done_rx) = oneshot::channel();
        if self.tx.send(done_tx).is_err() {
            return Ok(());
        }
        match tokio::time::timeout(within, done_rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Ok(()),
            Err(_) => Err(Error::Discovery(format!(
                "leaving the discovery source took more than {within:?}"
            ))),
        }
    }
}

/// Starts following `discovery` into `pool` (marked not ready until the
/// first set is applied) in a task of its own; the handle makes it leave.
pub fn spawn(discovery: Discovery, pool: PeerPool, opts: MembershipOptions) -> LeaveHandle {
    let (tx, rx) = oneshot::channel();
    pool.membership().set_ready(false);
    tokio::spawn(run(discovery, pool, opts, rx));
    LeaveHandle { tx }
}

/// How often the same discovery error is logged again.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(60);

/// Follows `discovery` into `pool` until `leave` says to leave (or is
/// dropped): see the module docs for the rules.
async fn run(
    mut discovery: Discovery,
    pool: PeerPool,
    opts: MembershipOptions,
    mut leave: oneshot::Receiver<oneshot::Sender<Result<(), Error>>>,
) {
    let mut judge = Judge::new(pool.self_id(), opts);
    let mut refusals = Refusals::default();
    loop {
        let due = judge.pending_due();
        let verdict = tokio::select! {
            answer = discovery.next() => judge.answer(answer, Instant::now()),
            () = sleep_until(due) => match judge.due(Instant::now()) {
                Some(set) => Verdict::Apply(set),
                None => Verdict::Keep,
            },
            asked = &mut leave => {
                let result = discovery.leave().await;
                if let Err(e) = &result {
                    tracing::warn!(error = %e, "could not leave the discovery source");
                }
                if let Ok(done) = asked {
                    let _ = done.send(result);
                }
                return;
            }
        };
        match verdict {
            Verdict::Apply(set) => apply(&pool, set),
            Verdict::Hold(why) => {
                pool.membership().record_rejected();
                refusals.log(why);
            }
            Verdict::Refuse(why) => {
                pool.membership().record_error(why.clone());
                refusals.log(why);
            }
            Verdict::Wait(_) | Verdict::Keep => {}
        }
    }
}

/// Logs why an answer was not applied: a new reason at once, the same one
/// again at most every [`ERROR_LOG_EVERY`].
#[derive(Default)]
struct Refusals {
    last: Option<(String, Instant)>,
}

impl Refusals {
    fn log(&mut self, why: String) {
        let now = Instant::now();
        let repeat = self
            .last
            .as_ref()
            .is_some_and(|(text, at)| *text == why && now.duration_since(*at) < ERROR_LOG_EVERY);
        if !repeat {
            tracing::warn!(error = %why, "discovery: keeping the last good peer set");
            self.last = Some((why, now));
        }
    }
}

/// Sleeps until `due`, or forever without one.
async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// Applies a judged set to the pool; the first one makes the node ready.
fn apply(pool: &PeerPool, set: Vec<String>) {
    if let Err(e) = pool.set_peers(&set) {
        // Judged sets hold canonical ids only: this cannot fail.
        tracing::error!(error = %e, "cannot apply the peer set");
        return;
    }
    if !pool.membership().is_ready() {
        tracing::info!(peers = set.len(), "first peer set applied: ready");
        pool.membership().set_ready(true);
    }
}

#[cfg(test)]
mod tests;
