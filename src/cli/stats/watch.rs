//! `groupcache stats --watch [--interval 1s] [--count N]`: a live view of
//! one node, like `redis-cli --stat`: a header, then one line per interval
//! with the rates of that interval and the caches' fill.
//!
//! Each line comes from two `Stats` calls: the counters' differences over
//! the time measured between the two answers (not the nominal interval,
//! so a late answer does not inflate a rate). Lines are plain text, one
//! per interval, so the view works in a pipe or a log; on a terminal the
//! header is repeated every [`HEADER_EVERY`] lines. It ends after
//! `--count` lines, on Ctrl-C, when the node stops answering (exit 1), or
//! when the reader of a pipe goes away.
//!
//! Columns (all groups together, or `--group`'s):
//!
//! | column | from |
//! |---|---|
//! | `gets/s` | `gets` |
//! | `hits/s`, `hit%` | `cache_hits` (and its share of the gets) |
//! | `peer/s` | `peer_loads`: fetches from the keys' owners |
//! | `loads/s` | `local_loads + local_load_errs`: calls of the source |
//! | `errors/s` | `get_errors`: gets answered with an error |
//! | `used/budget`, `fill` | the main and hot caches' bytes, over `cache_bytes` |
//! | `items` | the main and hot caches' entries |

use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime};

use cache_grpc::pb::StatsResponse;
use cache_grpc::pb::groupcache_client::GroupcacheClient;
use tokio::time::{Instant, MissedTickBehavior};
use tonic::transport::Channel;

use crate::Error;
use crate::cli::client::ClientArgs;

/// Lines between repeated headers on a terminal.
pub const HEADER_EVERY: u64 = 20;

/// The figures of one `Stats` answer that the view shows, summed over
/// its groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// `gets`.
    pub gets: u64,
    /// `cache_hits`.
    pub hits: u64,
    /// `peer_loads`.
    pub peer_fetches: u64,
    /// `local_loads + local_load_errs`.
    pub source_loads: u64,
    /// `get_errors`.
    pub errors: u64,
    /// Bytes in the main and hot caches.
    pub bytes: u64,
    /// The groups' budgets (`cache_bytes`).
    pub budget: u64,
    /// Entries in the main and hot caches.
    pub items: u64,
}

impl Totals {
    /// The totals of `stats`.
    pub fn of(stats: &StatsResponse) -> Totals {
        let mut t = Totals::default();
        for g in &stats.groups {
            let c = |name: &str| g.counters.get(name).copied().unwrap_or(0);
            t.gets += c("gets");
            t.hits += c("cache_hits");
            t.peer_fetches += c("peer_loads");
            t.source_loads += c("local_loads") + c("local_load_errs");
            t.errors += c("get_errors");
            for cache in [g.main_cache, g.hot_cache].into_iter().flatten() {
                t.bytes += cache.bytes;
                t.items += cache.items;
            }
            t.budget += g.cache_bytes;
        }
        t
    }
}

/// Per-second rates between two [`Totals`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Gets per second.
    pub gets: f64,
    /// Cache hits per second.
    pub hits: f64,
    /// Peer fetches per second.
    pub peer_fetches: f64,
    /// Source loads per second.
    pub source_loads: f64,
    /// Errors per second.
    pub errors: f64,
}

impl Rates {
    /// The rates from `before` to `after`, `elapsed` apart. A counter that
    /// went down (the node restarted) counts as zero.
    pub fn between(before: &Totals, after: &Totals, elapsed: Duration) -> Rates {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let rate = |a: u64, b: u64| b.saturating_sub(a) as f64 / secs;
        Rates {
            gets: rate(before.gets, after.gets),
            hits: rate(before.hits, after.hits),
            peer_fetches: rate(before.peer_fetches, after.peer_fetches),
            source_loads: rate(before.source_loads, after.source_loads),
            errors: rate(before.errors, after.errors),
        }
    }
}

/// The column titles.
pub fn header() -> String {
    format!(
        "{:<8} {:>10} {:>10} {:>6} {:>9} {:>9} {:>9} {:>21} {:>6} {:>9}\n",
        "time",
        "gets/s",
        "hits/s",
        "hit%",
        "peer/s",
        "loads/s",
        "errors/s",
        "used/budget",
        "fill",
        "items"
    )
}

/// One line: `time` (HH:MM:SS), the rates, the fill of `now`.
pub fn line(time: &str, rates: &Rates, now: &Totals) -> String {
    let hit_share = if rates.gets > 0.0 {
        format!("{:.1}", 100.0 * (rates.hits / rates.gets).min(1.0))
    } else {
        "-".to_owned()
    };
    let fill = if now.budget > 0 {
        format!("{:.1}%", 100.0 * now.bytes as f64 / now.budget as f64)
    } else {
        "-".to_owned()
    };
    format!(
        "{:<8} {:>10.1} {:>10.1} {:>6} {:>9.1} {:>9.1} {:>9.1} {:>21} {:>6} {:>9}\n",
        time,
        rates.gets,
        rates.hits,
        hit_share,
        rates.peer_fetches,
        rates.source_loads,
        rates.errors,
        format!("{}/{}", bytes(now.bytes), bytes(now.budget)),
        fill,
        now.items
    )
}

/// A byte count in binary units, one decimal (`12.3MiB`).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n}B")
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

/// The wall-clock time of day, UTC, as HH:MM:SS.
fn time_of_day() -> String {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    stamp.get(11..19).unwrap_or("").to_owned()
}

/// Writes `text` to stdout; false once the reader has gone away.
fn emit(text: &str) -> Result<bool, Error> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Error::io("writing to stdout", e)),
    }
}

/// Runs the view: a `Stats` call on `client` every `interval`, a line
/// after each but the first, `count` lines (or until stopped).
pub async fn run(
    client: &ClientArgs,
    group: String,
    interval: Duration,
    count: Option<u64>,
) -> Result<(), Error> {
    if interval.is_zero() {
        return Err(Error::config("--interval must be above zero"));
    }
    let mut conn = client.connect().await?;
    let terminal = std::io::stdout().is_terminal();
    let mut before = Totals::of(&sample(client, &mut conn, &group).await?);
    let mut at = Instant::now();
    if !emit(&header())? {
        return Ok(());
    }
    let mut ticks = tokio::time::interval_at(at + interval, interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut printed = 0;
    while count.is_none_or(|n| printed < n) {
        ticks.tick().await;
        let after = Totals::of(&sample(client, &mut conn, &group).await?);
        let now = Instant::now();
        let rates = Rates::between(&before, &after, now - at);
        (before, at) = (after, now);
        if terminal && printed > 0 && printed % HEADER_EVERY == 0 && !emit(&header())? {
            return Ok(());
        }
        if !emit(&line(&time_of_day(), &rates, &after))? {
            return Ok(());
        }
        printed += 1;
    }
    Ok(())
}

/// One `Stats` call on the open connection.
async fn sample(
    client: &ClientArgs,
    conn: &mut GroupcacheClient<Channel>,
    group: &str,
) -> Result<StatsResponse, Error> {
    super::call(client, conn, group.to_owned()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_grpc::pb::{CacheStats, GroupStats};

    fn response(gets: u64, hits: u64, bytes: u64) -> StatsResponse {
        let group = |name: &str| GroupStats {
            name: name.into(),
            counters: [
                ("gets", gets),
                ("cache_hits", hits),
                ("peer_loads", 3),
                ("local_loads", 4),
                ("local_load_errs", 1),
                ("get_errors", 2),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
            main_cache: Some(CacheStats {
                bytes,
                items: 10,
                ..CacheStats::default()
            }),
            hot_cache: Some(CacheStats {
                bytes: 24,
                items: 1,
                ..CacheStats::default()
            }),
            cache_bytes: 1 << 20,
            loads: None,
        };
        StatsResponse {
            groups: vec![group("a"), group("b")],
            ..StatsResponse::default()
        }
    }

    /// Totals add up the groups: source loads are loads and load errors,
    /// fill is both caches.
    #[test]
    fn totals_add_up_the_groups() {
        let t = Totals::of(&response(100, 80, 1000));
        assert_eq!(
            t,
            Totals {
                gets: 200,
                hits: 160,
                peer_fetches: 6,
                source_loads: 10,
                errors: 4,
                bytes: 2048,
                budget: 2 << 20,
                items: 22,
            }
        );
    }

    /// Rates are differences over the measured time; a counter that went
    /// down (a restart) reads zero.
    #[test]
    fn rates_are_per_second() {
        let a = Totals::of(&response(100, 80, 0));
        let b = Totals::of(&response(400, 320, 0));
        let r = Rates::between(&a, &b, Duration::from_millis(500));
        assert_eq!((r.gets, r.hits), (1200.0, 960.0));
        assert_eq!((r.peer_fetches, r.source_loads, r.errors), (0.0, 0.0, 0.0));
        let back = Rates::between(&b, &a, Duration::from_secs(1));
        assert_eq!(back.gets, 0.0);
    }

    /// A line lines up under the header and shows the hit share and fill.
    #[test]
    fn a_line_under_its_header() {
        let now = Totals::of(&response(400, 320, 104_834));
        let rates = Rates {
            gets: 1200.0,
            hits: 960.0,
            peer_fetches: 3.0,
            source_loads: 0.5,
            errors: 0.0,
        };
        let text = line("12:00:01", &rates, &now);
        assert_eq!(text.len(), header().len(), "{text}{}", header());
        let cells: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "12:00:01",
                "1200.0",
                "960.0",
                "80.0",
                "3.0",
                "0.5",
                "0.0",
                "204.8KiB/2.0MiB",
                "10.0%",
                "22"
            ]
        );
        let idle = line(
            "12:00:02",
            &Rates::between(&now, &now, Duration::from_secs(1)),
            &now,
        );
        assert_eq!(idle.split_whitespace().nth(3), Some("-"), "{idle}");
    }

    /// Sizes in binary units.
    #[test]
    fn byte_sizes() {
        assert_eq!(bytes(0), "0B");
        assert_eq!(bytes(1023), "1023B");
        assert_eq!(bytes(1536), "1.5KiB");
        assert_eq!(bytes(64 << 20), "64.0MiB");
    }
}
