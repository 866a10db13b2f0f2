//! The stats table and JSON of `groupcache stats`.

use super::*;
use cache_grpc::pb::LoadLimiterStats;
use cache_grpc::pb::NodeInfo;

fn sample() -> StatsResponse {
    let group = |name: &str, gets: u64| GroupStats {
        name: name.into(),
        counters: [
            ("gets".to_string(), gets),
            ("loads".to_string(), 2),
            ("zz_new".to_string(), 9),
        ]
        .into_iter()
        .collect(),
        main_cache: Some(CacheStats {
            bytes: 100,
            items: 2,
            gets: 5,
            hits: 3,
            evictions: 0,
        }),
        hot_cache: None,
        cache_bytes: 1024,
        loads: Some(LoadLimiterStats {
            max_concurrent: 256,
            running: 3,
            ..LoadLimiterStats::default()
        }),
    };
    StatsResponse {
        node: "127.0.0.1:7001".into(),
        peers: vec!["127.0.0.1:7001".into(), "127.0.0.1:7002".into()],
        groups: vec![group("colors", 12345), group("b", 7)],
        peer_health: vec![PeerHealth {
            peer: "127.0.0.1:7002".into(),
            state: "open".into(),
            breaker_opens: 2,
            skipped_fetches: 40,
            failures: 11,
            consecutive_failures: 0,
        }],
        info: None,
        membership: None,
    }
}

/// The table has a column per group and a row per counter, known
/// counters first in engine order, unknown ones after.
#[test]
fn table_layout() {
    let t = render_table(&sample());
    assert!(t.contains("node   127.0.0.1:7001"), "{t}");
    let lines: Vec<&str> = t.lines().collect();
    let header = lines.iter().find(|l| l.starts_with("group")).unwrap();
    assert!(
        header.contains("colors") && header.trim_end().ends_with('b'),
        "{header}"
    );
    let gets = lines.iter().position(|l| l.starts_with("gets ")).unwrap();
    let loads = lines.iter().position(|l| l.starts_with("loads ")).unwrap();
    let extra = lines.iter().position(|l| l.starts_with("zz_new ")).unwrap();
    let main = lines
        .iter()
        .position(|l| l.starts_with("main_cache.bytes"))
        .unwrap();
    assert!(gets < loads && loads < extra && extra < main, "{t}");
    assert!(lines[gets].contains("12345") && lines[gets].trim_end().ends_with(" 7"));
    let running = lines
        .iter()
        .position(|l| l.starts_with("loads.running"))
        .unwrap();
    assert!(
        running > main && lines[running].trim_end().ends_with(" 3"),
        "{t}"
    );
    let peer = lines
        .iter()
        .find(|l| l.starts_with("127.0.0.1:7002"))
        .unwrap();
    let cells: Vec<&str> = peer.split_whitespace().collect();
    assert_eq!(cells, ["127.0.0.1:7002", "open", "2", "40", "11"], "{t}");
}

/// The JSON holds every counter and cache field with its number.
#[test]
fn json_shape() {
    let j = to_json(&sample());
    assert_eq!(j["node"], "127.0.0.1:7001");
    assert_eq!(j["groups"][0]["counters"]["gets"], 12345);
    assert_eq!(j["groups"][0]["counters"]["zz_new"], 9);
    assert_eq!(j["groups"][1]["main_cache"]["hits"], 3);
    assert_eq!(j["groups"][1]["hot_cache"]["bytes"], 0);
    assert_eq!(j["groups"][0]["cache_bytes"], 1024);
    assert_eq!(j["groups"][0]["loads"]["max_concurrent"], 256);
    assert_eq!(j["groups"][0]["loads"]["running"], 3);
    assert_eq!(j["peer_health"][0]["state"], "open");
    assert_eq!(j["peer_health"][0]["skipped_fetches"], 40);
}

fn with_info(mut s: StatsResponse, node: &str, rss: u64) -> StatsResponse {
    s.node = node.into();
    s.info = Some(NodeInfo {
        version: "groupcache 0.1.0 (commit abc, 2026-12-02, release)".into(),
        uptime_ms: 3_723_000,
        rss_bytes: rss,
        connections: 4,
        requests_in_flight: 1,
    });
    s
}

/// The node's figures head the table; the hit ratio is a row of its own.
#[test]
fn node_info_and_hit_ratio() {
    let mut s = with_info(sample(), "127.0.0.1:7001", 50 << 20);
    s.groups[0].counters.insert("cache_hits".into(), 12345 / 5);
    let t = render_table(&s);
    assert!(
        t.contains("version            groupcache 0.1.0 (commit abc"),
        "{t}"
    );
    assert!(t.contains("uptime             1h 2m 3s"), "{t}");
    assert!(t.contains("connections        4"), "{t}");
    let ratio = t.lines().find(|l| l.starts_with("hit_ratio")).unwrap();
    assert_eq!(
        ratio.split_whitespace().collect::<Vec<_>>(),
        ["hit_ratio", "20.0%", "0.0%"]
    );
    let j = to_json(&s);
    assert_eq!(j["info"]["rss_bytes"], 50 << 20);
    assert_eq!(j["info"]["requests_in_flight"], 1);
    assert!((j["groups"][0]["hit_ratio"].as_f64().unwrap() - 0.2).abs() < 1e-9);
}

/// Several nodes: a column per node and a total (counters, caches and
/// limits summed), a node that did not answer named, JSON with `nodes`,
/// `errors` and `total`.
#[test]
fn many_nodes() {
    let a = with_info(sample(), "127.0.0.1:7001", 1 << 20);
    let b = with_info(sample(), "127.0.0.1:7002", 2 << 20);
    let answers = vec![
        ("127.0.0.1:7001".to_string(), Ok(a)),
        ("127.0.0.1:7002".to_string(), Ok(b)),
        (
            "127.0.0.1:7003".to_string(),
            Err(Error::config("connection refused")),
        ),
    ];
    let t = cluster::render_many(&answers);
    assert!(t.contains("node 127.0.0.1:7003: no answer"), "{t}");
    let header = t.lines().find(|l| l.starts_with("group colors")).unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        [
            "group",
            "colors",
            "127.0.0.1:7001",
            "127.0.0.1:7002",
            "total"
        ]
    );
    let gets = t
        .lines()
        .skip_while(|l| !l.starts_with("group colors"))
        .find(|l| l.starts_with("gets "))
        .unwrap();
    assert_eq!(
        gets.split_whitespace().collect::<Vec<_>>(),
        ["gets", "12345", "12345", "24690"]
    );
    let j = cluster::to_json_many(&answers);
    assert_eq!(j["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(j["nodes"][1]["addr"], "127.0.0.1:7002");
    assert_eq!(j["errors"][0]["addr"], "127.0.0.1:7003");
    assert_eq!(j["total"]["groups"][0]["counters"]["gets"], 24690);
    assert_eq!(j["total"]["groups"][0]["main_cache"]["items"], 4);
    assert_eq!(j["total"]["groups"][0]["loads"]["max_concurrent"], 512);
}

/// The membership rows: source, ring with its changes and age, readiness
/// and mismatches; errors only when there were any.
#[test]
fn membership_rows_say_how_settled_the_ring_is() {
    let m = cache_grpc::pb::Membership {
        source: "dns:groupcache.default.svc.cluster.local:7001".into(),
        ring: "00112233aabbccdd".into(),
        changed_unix_ms: 1_000_000,
        changes: 3,
        ring_mismatches: 2,
        ready: true,
        ..Default::default()
    };
    let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_millis(1_000_000 + 90_000);
    let rows = membership_rows(&m, now);
    assert_eq!(
        rows,
        [
            (
                "membership",
                "dns:groupcache.default.svc.cluster.local:7001".to_owned()
            ),
            (
                "ring",
                "00112233aabbccdd (3 changes, last 1m 30s ago)".to_owned()
            ),
            ("ready", "true".to_owned()),
            ("ring_mismatches", "2".to_owned()),
        ]
    );
    let failing = cache_grpc::pb::Membership {
        discovery_errors: 4,
        last_error: "discovery: timed out".into(),
        ..m
    };
    let rows = membership_rows(&failing, now);
    assert!(
        rows.contains(&("discovery_errors", "4".to_owned())),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("last_error", "discovery: timed out".to_owned())),
        "{rows:?}"
    );
    let mut stats = sample();
    stats.membership = Some(failing);
    let json = to_json(&stats);
    assert_eq!(json["membership"]["ring"], "00112233aabbccdd");
    assert_eq!(json["membership"]["discovery_errors"], 4);
}
