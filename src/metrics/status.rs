//! `/status` on the metrics listener: one server-rendered HTML page that
//! refreshes itself every few seconds (no script, no front-end build), in
//! the spirit of HAProxy's stats page: this node and its version, its
//! peers with their health, breaker and share of the ring, each group's
//! hit ratio, fill and rates, the keys peers fetch most, and the recent
//! membership changes.
//!
//! Rates are per second between two renders of the page (the first shows
//! `-`), from the same counters `/metrics` reads. Keys are shown hashed
//! (`xxh3:` and 16 hex digits, as in the request logs) unless the node was
//! started with `--status-keys full`. Every name that reaches the page is
//! HTML-escaped.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use super::NodeCollector;

/// Seconds between the page's own refreshes.
const REFRESH_SECONDS: u32 = 2;

/// What a status page shows of keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyView {
    /// `xxh3:` and the key's hash (the default).
    #[default]
    Hashed,
    /// The key itself.
    Full,
}

/// The counters a rate is taken of, per group, at one render.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    gets: u64,
    loads: u64,
    errors: u64,
}

/// The status page of one node; see the [module docs](self).
#[derive(Debug)]
pub struct StatusPage {
    node: NodeCollector,
    version: String,
    keys: KeyView,
    started: Instant,
    last: Mutex<Option<(Instant, HashMap<String, Sample>)>>,
}

impl StatusPage {
    /// The page of `node`, which runs `version`.
    pub fn new(node: NodeCollector, version: String, keys: KeyView) -> Self {
        StatusPage {
            node,
            version,
            keys,
            started: Instant::now(),
            last: Mutex::new(None),
        }
    }

    /// The page, now.
    pub fn render(&self) -> String {
        let pool = &self.node.pool;
        let mut h = String::with_capacity(8 << 10);
        let me = escape(pool.self_id());
        let _ = write!(
            h,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\
             <title>groupcache {me}</title><style>{STYLE}</style></head><body>\
             <h1>groupcache <span id=\"node\">{me}</span></h1>\
             <p class=\"meta\">{} · up {} · refreshed every {REFRESH_SECONDS} s</p>",
            escape(&self.version),
            humantime::format_duration(Duration::from_secs(self.started.elapsed().as_secs())),
        );
        self.peers(&mut h);
        self.groups(&mut h);
        self.busiest(&mut h);
        self.membership(&mut h);
        h.push_str("</body></html>\n");
        h
    }

    fn peers(&self, h: &mut String) {
        let pool = &self.node.pool;
        let health: HashMap<String, cache_grpc::PeerHealth> = pool.health().into_iter().collect();
        h.push_str(
            "<h2>Peers</h2><table id=\"peers\"><tr><th>peer</th><th>state</th>\
             <th>ring share</th><th>breaker opens</th><th>failures</th>\
             <th>skipped fetches</th></tr>",
        );
        for (peer, share) in pool.ring_shares() {
            let (state, opens, failures, skipped) = if peer == pool.self_id() {
                ("this node".to_owned(), "-".into(), "-".into(), "-".into())
            } else {
                match health.get(&peer) {
                    Some(p) => (
                        if p.open { "breaker open" } else { "healthy" }.to_owned(),
                        p.opens.to_string(),
                        p.failures.to_string(),
                        p.skipped.to_string(),
                    ),
                    None => ("unknown".to_owned(), "-".into(), "-".into(), "-".into()),
                }
            };
            let class = if state == "breaker open" { "bad" } else { "ok" };
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"{class}\">{state}</td><td>{:.1}%</td>\
                 <td>{opens}</td><td>{failures}</td><td>{skipped}</td></tr>",
                escape(&peer),
                share * 100.0
            );
        }
        h.push_str("</table>");
    }

    fn groups(&self, h: &mut String) {
        let now = Instant::now();
        let mut samples = HashMap::new();
        let mut last = self.last.lock();
        let elapsed = last
            .as_ref()
            .map(|(at, _)| now.duration_since(*at).as_secs_f64());
        h.push_str(
            "<h2>Groups</h2><table id=\"groups\"><tr><th>group</th><th>hit ratio</th>\
             <th>fill</th><th>items</th><th>gets/s</th><th>loads/s</th><th>errors/s</th></tr>",
        );
        for group in self.node.registry.groups() {
            let s = group.stats();
            let sample = Sample {
                gets: s.gets,
                loads: s.local_loads + s.local_load_errs,
                errors: s.get_errors,
            };
            let rate = |f: fn(&Sample) -> u64| -> String {
                let before = last.as_ref().and_then(|(_, m)| m.get(group.name()));
                match (before, elapsed) {
                    (Some(b), Some(dt)) if dt > 0.0 => {
                        format!("{:.1}", f(&sample).saturating_sub(f(b)) as f64 / dt)
                    }
                    _ => "-".into(),
                }
            };
            let ratio = if s.gets == 0 {
                "-".to_owned()
            } else {
                format!("{:.1}%", s.cache_hits as f64 * 100.0 / s.gets as f64)
            };
            let used = s.main_cache.bytes + s.hot_cache.bytes;
            let budget = group.cache_bytes().max(1);
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{ratio}</td><td>{} / {} ({:.1}%)</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(group.name()),
                bytesize::ByteSize::b(used),
                bytesize::ByteSize::b(group.cache_bytes()),
                used as f64 * 100.0 / budget as f64,
                s.main_cache.items + s.hot_cache.items,
                rate(|x| x.gets),
                rate(|x| x.loads),
                rate(|x| x.errors),
            );
            samples.insert(group.name().to_owned(), sample);
        }
        h.push_str("</table>");
        *last = Some((now, samples));
    }

    fn busiest(&self, h: &mut String) {
        h.push_str(
            "<h2>Busiest keys</h2><p class=\"meta\">fetched from this node by its peers</p>\
             <table id=\"keys\"><tr><th>group</th><th>key</th><th>requests/s</th></tr>",
        );
        let mut any = false;
        for group in self.node.registry.groups() {
            for (key, qps) in group.busiest_keys() {
                any = true;
                let shown = match self.keys {
                    KeyView::Hashed => {
                        format!("xxh3:{:016x}", xxhash_rust::xxh3::xxh3_64(key.as_bytes()))
                    }
                    KeyView::Full => key,
                };
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td><code>{}</code></td><td>{qps:.2}</td></tr>",
                    escape(group.name()),
                    escape(&shown)
                );
            }
        }
        if !any {
            h.push_str("<tr><td colspan=\"3\">none yet</td></tr>");
        }
        h.push_str("</table>");
    }

    fn membership(&self, h: &mut String) {
        let m = self.node.pool.membership_snapshot();
        let _ = write!(
            h,
            "<h2>Membership changes</h2><p id=\"ring\">source {} &middot; ring {} &middot; \
             {} changes &middot; {} ring mismatches &middot; {} discovery errors</p>",
            escape(&m.source),
            cache_grpc::pool::format_ring(m.ring),
            m.changes,
            m.ring_mismatches,
            m.discovery_errors
        );
        h.push_str(
            "<table id=\"membership\"><tr><th>at (UTC)</th>\
             <th>joined</th><th>left</th></tr>",
        );
        for change in self.node.pool.membership_changes().iter().rev() {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                rfc3339(change.at),
                escape(&change.added.join(", ")),
                escape(&change.removed.join(", "))
            );
        }
        h.push_str("</table>");
    }
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// `text` safe inside HTML elements and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em;margin:0}h2{font-size:1.1em;margin:1.2em 0 .3em}\
.meta{color:#666;margin:.2em 0}table{border-collapse:collapse}\
th,td{padding:.25em .8em;border-bottom:1px solid #ddd;text-align:left}\
th{background:#f4f4f4}.ok{color:#176a2c}.bad{color:#b00020;font-weight:bold}";
