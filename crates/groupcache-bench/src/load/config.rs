//! What a benchmark run does: targets, keys, load shape, limits.

use std::time::Duration;

use crate::Error;

/// How keys are drawn from the key set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distribution {
    /// Every key equally likely.
    Uniform,
    /// Key `i` (0-based, in key-set order) has weight `(i + 1)^-s`, as Go's
    /// `rand.NewZipf(r, s, 1, n-1)` draws them.
    Zipf {
        /// The exponent; larger is more skewed. Must be finite and > 0.
        s: f64,
    },
    /// The i-th request overall asks for key `i mod n`: every key is asked
    /// before any is asked again (for stampedes on cold keys).
    Sequential,
}

/// The keys a run requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySet {
    /// `PREFIX0 .. PREFIX{count-1}` (for example `key-0 .. key-9999`).
    Range {
        /// The text before the number; default `key-`.
        prefix: String,
        /// How many keys; at least 1.
        count: u64,
    },
    /// An explicit list (for example the keys one node owns); not empty.
    List(Vec<String>),
}

impl KeySet {
    /// Materialises the keys, in order. Fails on an empty set.
    pub fn keys(&self) -> Result<Vec<String>, Error> {
        let keys: Vec<String> = match self {
            KeySet::Range { prefix, count } => {
                (0..*count).map(|i| format!("{prefix}{i}")).collect()
            }
            KeySet::List(list) => list.clone(),
        };
        if keys.is_empty() {
            return Err(Error::Config("the key set is empty".into()));
        }
        if keys.iter().any(String::is_empty) {
            return Err(Error::Config("the key set holds an empty key".into()));
        }
        Ok(keys)
    }
}

/// When the measured part of a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this much measured time (after the warm-up).
    Duration(Duration),
    /// After this many measured requests have completed (all workers
    /// together), bounded by `max_time`.
    Requests {
        /// The number of measured requests; at least 1.
        count: u64,
        /// A hard bound on the measured phase; the run stops early if it is
        /// reached.
        max_time: Duration,
    },
}

/// A benchmark run. Build it with [`BenchConfig::new`] and the public fields;
/// [`BenchConfig::validate`] checks it (the runner calls it).
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Node addresses, `host:port` or `http://host:port`; at least one.
    /// Each request goes to one of them at random.
    pub targets: Vec<String>,
    /// The group to ask; default `bench`.
    pub group: String,
    /// The keys; default `key-0 .. key-9999`.
    pub keys: KeySet,
    /// How keys are drawn; default uniform.
    pub dist: Distribution,
    /// Workers (requests in flight at once, closed loop); default 32.
    pub concurrency: usize,
    /// HTTP/2 connections per target; default 4. Worker `w` uses connection
    /// `w % conns` of the target it picks.
    pub conns: usize,
    /// When the measured phase ends; default 10 s.
    pub stop: Stop,
    /// Unmeasured time before the measured phase; default 1 s.
    pub warmup: Duration,
    /// Open loop: total requests per second, spread evenly over the workers;
    /// latency is measured from each request's intended send time, so a
    /// slow server cannot hide its queueing (no coordinated omission).
    /// `None` (default) = closed loop, each worker sends when its previous
    /// request is done.
    pub rate: Option<f64>,
    /// Per-request deadline, sent as `grpc-timeout`; default 5 s.
    pub timeout: Duration,
    /// Check every value: `(value size, generator)`, where the generator
    /// gives the expected value of a key. `None` (default): only the status
    /// is checked.
    pub verify: Option<Verify>,
    /// A free-form name for the report; default empty.
    pub label: String,
    /// Server processes whose CPU time (Linux `/proc/PID/stat`) is measured
    /// over the measured phase; default none.
    pub pids: Vec<u32>,
    /// Ask every target for `Stats` before and after the measured phase and
    /// report the deltas; default true. Targets that don't answer are
    /// skipped.
    pub stats: bool,
    /// Draw a live progress bar on stderr (only when stderr is a terminal);
    /// default false for the library, true for the CLI.
    pub progress: bool,
    /// Seed of the key and target choices; default 1.
    pub seed: u64,
    /// Largest response accepted, in bytes; default 64 MiB.
    pub max_message_bytes: usize,
    /// Keys per request: 1 (default) sends `Get`; more sends one `GetMany`
    /// of that many keys, each drawn as a single get's key is (the report
    /// then also gives keys/s and CPU per key).
    pub batch: usize,
    /// Also report requests, errors and latency per slice of this length
    /// of the measured phase (by send time); default none.
    pub timeline: Option<Duration>,
    /// Speak TLS to the targets with this configuration; default none.
    pub tls: Option<cache_grpc::tls::ClientTls>,
    /// Sent as `authorization` on every request (`Bearer TOKEN`), for nodes
    /// with tokens on; default none.
    pub authorization: Option<tonic::metadata::AsciiMetadataValue>,
}

/// Value verification: the expected value of each key.
#[derive(Clone)]
pub struct Verify {
    /// The value size the generator is called with.
    pub size: usize,
    /// Gives the expected value of `(key, size)`.
    pub expected: fn(&str, usize) -> bytes::Bytes,
}

impl std::fmt::Debug for Verify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verify")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl BenchConfig {
    /// A run against `targets` with every other field at its default.
    #[must_use]
    pub fn new(targets: Vec<String>) -> Self {
        BenchConfig {
            targets,
            group: "bench".into(),
            keys: KeySet::Range {
                prefix: "key-".into(),
                count: 10_000,
            },
            dist: Distribution::Uniform,
            concurrency: 32,
            conns: 4,
            stop: Stop::Duration(Duration::from_secs(10)),
            warmup: Duration::from_secs(1),
            rate: None,
            timeout: Duration::from_secs(5),
            verify: None,
            label: String::new(),
            pids: Vec::new(),
            stats: true,
            progress: false,
            seed: 1,
            max_message_bytes: 64 << 20,
            batch: 1,
            timeline: None,
            tls: None,
            authorization: None,
        }
    }

    /// Checks every field; the error says which one is wrong and why.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::Config(m.to_string()));
        if self.targets.is_empty() {
            return bad("at least one target is needed");
        }
        if self.targets.iter().any(|t| t.trim().is_empty()) {
            return bad("a target address is empty");
        }
        if self.group.is_empty() {
            return bad("the group name is empty");
        }
        if self.concurrency == 0 || self.concurrency > 100_000 {
            return bad("concurrency must be between 1 and 100000");
        }
        if self.conns == 0 || self.conns > 1024 {
            return bad("conns must be between 1 and 1024");
        }
        match self.stop {
            Stop::Duration(d) if d.is_zero() => return bad("the duration must be > 0"),
            Stop::Requests { count: 0, .. } => return bad("the request count must be > 0"),
            Stop::Requests { max_time, .. } if max_time.is_zero() => {
                return bad("the time bound must be > 0");
            }
            _ => {}
        }
        if let Some(r) = self.rate
            && !(r.is_finite() && r > 0.0)
        {
            return bad("the rate must be a positive number of requests per second");
        }
        if let Distribution::Zipf { s } = self.dist
            && !(s.is_finite() && s > 0.0)
        {
            return bad("the zipf exponent must be a positive number");
        }
        if self.batch == 0 || self.batch > 100_000 {
            return bad("the batch must be between 1 and 100000 keys");
        }
        if self.timeout.is_zero() {
            return bad("the timeout must be > 0");
        }
        if self.timeline.is_some_and(|t| t < Duration::from_millis(10)) {
            return bad("the timeline slice must be at least 10ms");
        }
        if let KeySet::Range { count: 0, .. } = self.keys {
            return bad("the key count must be > 0");
        }
        Ok(())
    }
}
