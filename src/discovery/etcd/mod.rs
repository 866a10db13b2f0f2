//! `etcd:URL/PREFIX`: peers registered in etcd under a prefix.
//!
//! Each node puts `PREFIX` + its peer address (`/gc/10.0.0.5:7001`) with
//! its address as the value, attached to a lease of
//! [`DiscoveryOptions::etcd_lease_ttl`] that a background task keeps alive
//! (every third of the TTL), and watches the prefix. An answer is the set
//! of values under the prefix, sorted and deduplicated.
//!
//! It speaks etcd's v3 JSON gateway (module `gateway`: `/v3/...` on the
//! client port, etcd 3.4+) over HTTP/1.1 with `reqwest`, so no etcd client
//! library or protoc is needed.
//!
//! Invariants:
//! - the node's key lives exactly as long as its lease: a graceful
//!   [`EtcdSource::leave`] revokes the lease and the key disappears at once
//!   (the others' watches see the delete); a node that dies (or is dropped
//!   without `leave`) stops renewing and disappears when the lease expires,
//!   one TTL after its last renewal;
//! - a lease found gone (expired while etcd was unreachable, revoked by
//!   someone else) is replaced: a new lease is granted and the key put
//!   again, with a warning;
//! - a partition from etcd does not change the answer: `next` returns an
//!   error (the watch ended, a renewal or a read failed, each bounded by
//!   [`DiscoveryOptions::timeout`]) and the membership layer keeps the last
//!   good set; etcd expires the node's lease on its side if the partition
//!   outlasts the TTL, and the node registers again once it is back;
//! - after an error the next call waits about a second ([`RETRY_AFTER`]),
//!   reopens the watch, asks for a renewal at once (re-registering if the
//!   lease was lost) and reads the prefix again; it answers that read even
//!   if the set is the one answered before the error, so the caller learns
//!   the source is back.
//!
//! The endpoints are tried in order, starting from the last one that
//! answered, moving on when one cannot be reached or does not answer
//! within the timeout. `https://` endpoints are checked against the Mozilla
//! roots built into the binary (`webpki-roots`); client certificates and
//! etcd's user authentication are not supported.

mod gateway;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use self::gateway::{Failure, Gateway, WatchMessage};
use super::DiscoveryOptions;
use crate::Error;

/// How long `next` waits after an error before it tries again.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The most a watch stream may hold of a line not yet ended: a longer one
/// is not a gateway message.
const MAX_WATCH_LINE: usize = 16 << 20;

/// An etcd discovery source: this node's registration and a watch.
///
/// Dropping it stops the renewal and the watch without revoking the
/// lease: the registration then lives until the lease expires, as a
/// crashed node's would.
#[derive(Debug)]
pub struct EtcdSource {
    /// This node's key and lease, shared with the renewal task.
    registration: Arc<Registration>,
    /// The prefix watched, starting and ending with `/`.
    prefix: String,
    /// What the tasks report: a change under the prefix, or a failure.
    /// Shared so a new watch task can be given it.
    signals: Arc<watch::Sender<Signal>>,
    /// `signals` as this source has read them.
    seen: watch::Receiver<Signal>,
    /// The renewal task; `None` once left.
    keepalive: Option<Task>,
    /// The watch task. Replaced after an error: a watch that ended or whose
    /// connection hung is not trusted again.
    watch: Task,
    /// The set may have changed since the last read: read before waiting.
    /// True at first, after a change signal, and while a read failed or
    /// was cancelled.
    stale: bool,
    /// The last call failed: reopen the watch before reading again.
    broken: bool,
    /// Not before then: the back-off after an error, kept here so that a
    /// cancelled call does not restart it.
    retry_at: Option<Instant>,
    /// The last set answered; `None` at first and after an error, so the
    /// next read is answered whatever it holds.
    last: Option<Vec<String>>,
}

/// What the background tasks tell `next`. Only the latest matters: any
/// signal makes `next` read the prefix again (or fail).
#[derive(Debug, Clone)]
enum Signal {
    /// Keys under the prefix may have changed (an event, or a new watch
    /// that may have missed some).
    Changed,
    /// The watch ended or a renewal failed: why, naming the endpoint.
    Failed(String),
}

/// This node's registration: its key, value and lease.
#[derive(Debug)]
struct Registration {
    gateway: Gateway,
    /// `PREFIX` + this node's address.
    key: String,
    /// This node's address, as the others dial it.
    value: String,
    /// The TTL asked for, in whole seconds (at least 1).
    ttl_secs: i64,
    /// The lease the key is attached to; 0 while there is none (lost and
    /// not yet replaced, or revoked). Written by `register` as soon as a
    /// lease is granted (so a revoke covers a put still in flight), read by
    /// `leave`. A `parking_lot` mutex: held for one read or write, never
    /// across an `.await`.
    lease: Mutex<i64>,
    /// Wakes the renewal task at once (after an error, to learn soon
    /// whether the lease survived).
    renew_now: Notify,
}

/// A spawned task, aborted when dropped.
#[derive(Debug)]
struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl EtcdSource {
    /// Connects, grants a lease and registers this node: the key
    /// `prefix` + [`DiscoveryOptions::self_addr`], its value the address.
    /// Then starts renewing the lease and watching the prefix.
    pub async fn connect(
        endpoints: &[String],
        prefix: &str,
        opts: &DiscoveryOptions,
    ) -> Result<EtcdSource, Error> {
        if opts.self_addr.is_empty() {
            return Err(Error::config("etcd discovery needs this node's address"));
        }
        if opts.timeout.is_zero() {
            return Err(Error::config("the etcd request timeout must be above zero"));
        }
        if opts.etcd_lease_ttl.is_zero() {
            return Err(Error::config("the etcd lease TTL must be above zero"));
        }
        let gateway = Gateway::new(endpoints, opts.timeout).map_err(Error::config)?;
        let registration = Arc::new(Registration {
            gateway,
            key: format!("{prefix}{}", opts.self_addr),
            value: opts.self_addr.clone(),
            // etcd's TTLs are whole seconds: round up.
            ttl_secs: i64::try_from(opts.etcd_lease_ttl.as_millis().div_ceil(1000))
                .unwrap_or(i64::MAX)
                .max(1),
            lease: Mutex::new(0),
            renew_now: Notify::new(),
        });
        let ttl = registration.register().await.map_err(Error::Discovery)?;
        let (signals, seen) = watch::channel(Signal::Changed);
        let signals = Arc::new(signals);
        let keepalive = Task(tokio::spawn(keep_alive(
            registration.clone(),
            signals.clone(),
            ttl,
        )));
        let watch = spawn_watch(&registration, prefix, &signals);
        Ok(EtcdSource {
            registration,
            prefix: prefix.to_owned(),
            signals,
            seen,
            keepalive: Some(keepalive),
            watch,
            stale: true,
            broken: false,
            retry_at: None,
            last: None,
        })
    }

    /// See [`super::Discovery::next`]: the first call reads the prefix at
    /// once; later calls wait for the watch to report a change, read the
    /// prefix again, and answer when the set differs from the last answer
    /// (or the call before failed). Cancel-safe: the signals, the back-off
    /// and whether a read is due are kept in `self`.
    pub async fn next(&mut self) -> Result<Vec<String>, Error> {
        loop {
            if let Some(at) = self.retry_at {
                tokio::time::sleep_until(at).await;
                self.retry_at = None;
            }
            if self.broken {
                // Stop the old watch before forgetting what it signalled.
                self.watch.0.abort();
                self.seen.borrow_and_update();
                self.watch = spawn_watch(&self.registration, &self.prefix, &self.signals);
                self.registration.renew_now.notify_one();
                self.broken = false;
                self.stale = true;
            }
            if !self.stale {
                // Never an error: `self.signals` keeps the sender alive.
                let _ = self.seen.changed().await;
                let signal = self.seen.borrow_and_update().clone();
                match signal {
                    Signal::Failed(why) => return Err(self.failed(why)),
                    Signal::Changed => self.stale = true,
                }
            }
            let set = match self.read().await {
                Ok(set) => set,
                Err(why) => return Err(self.failed(why)),
            };
            self.stale = false;
            if self.last.as_ref() != Some(&set) {
                self.last = Some(set.clone());
                return Ok(set);
            }
        }
    }

    /// Revokes the lease: this node's key disappears at once. Stops the
    /// renewal (the watch goes on: `next` still answers). Later calls do
    /// nothing. If the revoke fails the key still disappears, one TTL after
    /// the last renewal.
    pub async fn leave(&mut self) -> Result<(), Error> {
        let Some(mut task) = self.keepalive.take() else {
            return Ok(());
        };
        task.0.abort();
        // Cancelled at its next await; waiting for it means no renewal or
        // new lease can follow the revoke.
        let _ = (&mut task.0).await;
        let lease = std::mem::take(&mut *self.registration.lease.lock());
        if lease == 0 {
            return Ok(());
        }
        match self
            .registration
            .gateway
            .call("/v3/lease/revoke", &gateway::lease_body(lease))
            .await
        {
            Ok(_) => Ok(()),
            Err(failure) if failure.lease_not_found() => Ok(()),
            Err(failure) => Err(Error::Discovery(
                failure.describe(&format!("revoke of lease {lease:x}")),
            )),
        }
    }

    /// Reads the set under the prefix.
    async fn read(&self) -> Result<Vec<String>, String> {
        let gateway = &self.registration.gateway;
        let what = format!("range of {}", self.prefix);
        let answer = gateway
            .call("/v3/kv/range", &gateway::range_body(&self.prefix))
            .await
            .map_err(|failure| failure.describe(&what))?;
        gateway::parse_range(&answer)
            .map_err(|why| format!("etcd {}: {what}: {why}", gateway.current()))
    }

    /// Records a failure: back off, reopen the watch, answer the next read.
    fn failed(&mut self, why: String) -> Error {
        self.broken = true;
        self.stale = true;
        self.last = None;
        self.retry_at = Some(Instant::now() + RETRY_AFTER);
        Error::Discovery(why)
    }
}

impl Registration {
    /// Grants a lease and puts the key with it; returns the TTL granted.
    async fn register(&self) -> Result<Duration, String> {
        let grant = self
            .gateway
            .call("/v3/lease/grant", &gateway::grant_body(self.ttl_secs))
            .await
            .map_err(|f| f.describe(&format!("grant of a {}s lease", self.ttl_secs)))?;
        let (lease, ttl) = gateway::parse_grant(&grant)
            .map_err(|why| format!("etcd {}: grant: {why}", self.gateway.current()))?;
        *self.lease.lock() = lease;
        self.gateway
            .call(
                "/v3/kv/put",
                &gateway::put_body(&self.key, &self.value, lease),
            )
            .await
            .map_err(|f| f.describe(&format!("put of {}", self.key)))?;
        tracing::debug!(key = %self.key, lease = format_args!("{lease:x}"), ttl, "registered in etcd");
        Ok(Duration::from_secs(ttl.max(1).unsigned_abs()))
    }

    /// Renews the lease once. `Ok(false)`: the lease is gone.
    async fn renew(&self) -> Result<bool, Failure> {
        let lease = *self.lease.lock();
        if lease == 0 {
            return Ok(false);
        }
        match self
            .gateway
            .call("/v3/lease/keepalive", &gateway::lease_body(lease))
            .await
        {
            Ok(answer) => Ok(gateway::parse_keepalive(&answer).unwrap_or(0) > 0),
            Err(failure) if failure.lease_not_found() => Ok(false),
            Err(failure) => Err(failure),
        }
    }
}

/// The renewal task: renews the lease every third of its TTL (or at once
/// when asked), and replaces a lease found gone. A failure is signalled
/// to `next`; the next tick tries again.
async fn keep_alive(
    registration: Arc<Registration>,
    signals: Arc<watch::Sender<Signal>>,
    mut ttl: Duration,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(ttl / 3) => {}
            () = registration.renew_now.notified() => {}
        }
        let failure = match registration.renew().await {
            Ok(true) => continue,
            Ok(false) => {
                let lease = std::mem::take(&mut *registration.lease.lock());
                tracing::warn!(
                    key = %registration.key,
                    lease = format_args!("{lease:x}"),
                    "etcd lease lost (expired or revoked): registering again",
                );
                match registration.register().await {
                    Ok(granted) => {
                        ttl = granted;
                        continue;
                    }
                    Err(why) => why,
                }
            }
            Err(failure) => failure.describe("keepalive of this node's lease"),
        };
        tracing::debug!(key = %registration.key, "{failure}");
        signals.send_replace(Signal::Failed(failure));
    }
}

/// Starts a watch task on `prefix`.
fn spawn_watch(
    registration: &Arc<Registration>,
    prefix: &str,
    signals: &Arc<watch::Sender<Signal>>,
) -> Task {
    let (registration, prefix, signals) =
        (registration.clone(), prefix.to_owned(), signals.clone());
    Task(tokio::spawn(async move {
        let why = watch_prefix(&registration.gateway, &prefix, &signals).await;
        signals.send_replace(Signal::Failed(why));
    }))
}

/// Opens a watch of `prefix` and signals each change until it ends;
/// returns why it ended. The wait for the watch to be created is bounded
/// by the request timeout; after that it may stay silent forever (a hung
/// connection is noticed by the renewal task).
async fn watch_prefix(gateway: &Gateway, prefix: &str, signals: &watch::Sender<Signal>) -> String {
    let what = format!("watch of {prefix}");
    let (endpoint, mut response) = match gateway.watch(&gateway::watch_body(prefix)).await {
        Ok(opened) => opened,
        Err(failure) => return failure.describe(&what),
    };
    let mut created = false;
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let chunk = if created {
            response.chunk().await
        } else {
            match tokio::time::timeout(gateway.timeout(), response.chunk()).await {
                Ok(chunk) => chunk,
                Err(_) => {
                    return format!(
                        "etcd {endpoint}: {what}: not created within {:?}",
                        gateway.timeout()
                    );
                }
            }
        };
        match chunk {
            Ok(Some(bytes)) => pending.extend_from_slice(&bytes),
            Ok(None) => return format!("etcd {endpoint}: {what}: the stream ended"),
            Err(e) => {
                return format!("etcd {endpoint}: {what}: {}", crate::error::error_chain(&e));
            }
        }
        while let Some(at) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=at).collect();
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            match gateway::parse_watch_line(line) {
                WatchMessage::Created => {
                    created = true;
                    signals.send_replace(Signal::Changed);
                }
                WatchMessage::Events => {
                    signals.send_replace(Signal::Changed);
                }
                WatchMessage::Quiet => {}
                WatchMessage::Ended(why) => return format!("etcd {endpoint}: {what}: {why}"),
            }
        }
        if pending.len() > MAX_WATCH_LINE {
            return format!("etcd {endpoint}: {what}: a message of over {MAX_WATCH_LINE} bytes");
        }
    }
}
