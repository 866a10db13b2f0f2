//! The exporter on one in-process group with known traffic (no network
//! but the metrics listener's own loopback socket): every family is
//! written once, with the values of the traffic; the router's answers.

use std::collections::HashMap;
use std::sync::Arc;

use ::http::{Method, StatusCode};
use cache_core::{Error, GroupBuilder, LoadContext, LoadLimiter, Loaded, Registry, getter_fn};
use cache_grpc::{PeerPool, PoolOptions, RequestStats};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::*;

/// One node, one group `colors` (`missing*` keys are NotFound), and what
/// it was given: 3 loads, 4 hits, 1 NotFound, all timed as the gRPC
/// service times them, and one untimed hit.
async fn node_with_traffic() -> NodeCollector {
    let limiter = LoadLimiter::new(8, 8).unwrap();
    let group = GroupBuilder::new(
        "colors",
        1 << 20,
        getter_fn(|key: String, _ctx| async move {
            if key.starts_with("missing") {
                Err(Error::NotFound)
            } else {
                Ok(Loaded::new(key))
            }
        }),
    )
    .load_limiter(limiter.clone())
    .build()
    .unwrap();
    let timed = || LoadContext::new().started_at(Instant::now());
    for key in ["red", "green", "blue", "red", "red", "green", "blue"] {
        group.get_with(key, timed()).await.unwrap();
    }
    assert!(group.get_with("missing", timed()).await.is_err());
    group.get("red").await.unwrap();
    let registry = Registry::new();
    registry.add(group).unwrap();
    NodeCollector {
        registry,
        pool: PeerPool::new("127.0.0.1:7001", ["127.0.0.1:7001"], PoolOptions::default()).unwrap(),
        requests: RequestStats::default(),
        limiter,
    }
}

/// The samples of a scrape: `name{labels}` to value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample line");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

/// The counters, caches and histograms read what the group counted; names
/// are the exporters'; each family has one HELP and one TYPE line.
#[tokio::test]
async fn a_scrape_holds_the_traffic() {
    let text = Exporter::new(node_with_traffic().await).render();
    let s = samples(&text);
    let at = |series: &str| {
        *s.get(series)
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    let g = r#"{group="colors"}"#;
    for (family, want) in [
        ("groupcache_gets_total", 9.0),
        ("groupcache_cache_hits_total", 5.0),
        ("groupcache_loads_total", 4.0),
        ("groupcache_loads_deduped_total", 4.0),
        ("groupcache_local_loads_total", 3.0),
        ("groupcache_local_load_errors_total", 1.0),
        ("groupcache_get_errors_total", 1.0),
        ("groupcache_peer_loads_total", 0.0),
        ("groupcache_peer_errors_total", 0.0),
        ("groupcache_server_requests_total", 0.0),
        ("groupcache_fallback_loads_total", 0.0),
        ("groupcache_promotions_total", 0.0),
        ("groupcache_loader_panics_total", 0.0),
        ("groupcache_cache_budget_bytes", 1048576.0),
        ("groupcache_load_duration_seconds_count", 4.0),
        ("groupcache_flights_in_progress", 0.0),
    ] {
        assert_eq!(at(&format!("{family}{g}")), want, "{family}");
    }
    let outcome = |o: &str| {
        at(&format!(
            r#"groupcache_get_duration_seconds_count{{group="colors",outcome="{o}"}}"#
        ))
    };
    assert_eq!(
        (
            outcome("hit"),
            outcome("load"),
            outcome("error"),
            outcome("peer")
        ),
        (4.0, 3.0, 1.0, 0.0),
        "the untimed get is not in the histogram"
    );
    let inf = r#"groupcache_get_duration_seconds_bucket{group="colors",outcome="hit",le="+Inf"}"#;
    assert_eq!(at(inf), 4.0);
    let main = r#"{group="colors",type="main"}"#;
    assert_eq!(
        at(&format!("groupcache_cache_items{main}")),
        3.0,
        "3 values (the NotFound is not kept: negative caching is off)"
    );
    assert!(
        at(&format!("groupcache_cache_get_hits_total{main}"))
            <= at(&format!("groupcache_cache_gets_total{main}"))
    );
    assert_eq!(
        at(r#"groupcache_cache_items{group="colors",type="hot"}"#),
        0.0
    );
    assert_eq!(at("groupcache_ring_peers"), 1.0);
    assert_eq!(at("groupcache_loads_max_concurrent"), 8.0);
    assert_eq!(at("groupcache_loads_running"), 0.0);
    assert_eq!(at("groupcache_requests_in_flight"), 0.0);
    assert_eq!(at("groupcache_requests_shed_total"), 0.0);

    let helps: Vec<&str> = text.lines().filter(|l| l.starts_with("# HELP ")).collect();
    let mut names: Vec<&str> = helps.iter().map(|l| l.split(' ').nth(2).unwrap()).collect();
    let count = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count, "a family written twice");
    assert!(
        text.contains("# TYPE groupcache_gets_total counter"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE groupcache_cache_bytes gauge"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE groupcache_get_duration_seconds histogram"),
        "{text}"
    );
}

/// `/metrics` and `/healthz` answer 200, another method on `/metrics`
/// 405, any other path 404.
#[tokio::test]
async fn routes() {
    let exporter = Exporter::new(node_with_traffic().await);
    let metrics = http::route(&exporter, &Method::GET, "/metrics");
    assert_eq!(metrics.status(), StatusCode::OK);
    assert_eq!(metrics.headers()["content-type"], CONTENT_TYPE);
    let body = metrics.into_body().collect().await.unwrap().to_bytes();
    assert!(body.starts_with(b"# HELP groupcache_"));
    let health = http::route(&exporter, &Method::GET, "/healthz");
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(
        http::route(&exporter, &Method::POST, "/metrics").status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        http::route(&exporter, &Method::GET, "/").status(),
        StatusCode::NOT_FOUND
    );
}

/// Over a real socket: an HTTP/1.1 scrape gets the page, and the listener
/// stops when told.
#[tokio::test]
async fn serves_http_on_loopback() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let exporter = Arc::new(Exporter::new(node_with_traffic().await));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(listener, exporter, async {
        let _ = stopped.await;
    }));
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        conn.read_to_string(&mut answer),
    )
    .await
    .expect("the scrape is answered")
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.contains("\ngroupcache_gets_total{group=\"colors\"} 9\n"),
        "{answer}"
    );
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .expect("the listener stops")
        .unwrap();
}

/// `/status`: the node, its ring, the group's hit ratio and fill, rates
/// from the second render on, the starting membership; HTML-escaped; a
/// listener without a page answers 404.
#[tokio::test]
async fn the_status_page() {
    let node = node_with_traffic().await;
    let group = node.registry.get("colors").unwrap();
    let page = status::StatusPage::new(
        node.clone(),
        "groupcache 0.1.0 <test>".into(),
        status::KeyView::Hashed,
    );
    let first = page.render();
    assert!(first.contains("<meta http-equiv=\"refresh\""), "{first}");
    assert!(
        first.contains("<span id=\"node\">127.0.0.1:7001</span>"),
        "{first}"
    );
    assert!(first.contains("groupcache 0.1.0 &lt;test&gt;"), "{first}");
    assert!(
        first.contains("<td>127.0.0.1:7001</td><td class=\"ok\">this node</td><td>100.0%</td>"),
        "{first}"
    );
    // 9 gets, 5 from a cache.
    assert!(first.contains("<td>colors</td><td>55.6%</td>"), "{first}");
    assert!(first.contains("none yet"), "{first}");
    assert!(
        first.contains("<td>127.0.0.1:7001</td><td></td></tr>"),
        "the starting set: {first}"
    );
    assert!(
        first.contains("<td>-</td><td>-</td><td>-</td></tr>"),
        "no rates yet: {first}"
    );
    group.get("red").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let second = page.render();
    let row = second
        .split("<tr><td>colors</td>")
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap();
    assert!(
        !row.ends_with("<td>-</td>"),
        "rates on the second render: {row}"
    );

    let with = Exporter::new(node.clone()).with_status(page);
    let res = http::route(&with, &Method::GET, "/status");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    let without = Exporter::new(node);
    assert_eq!(
        http::route(&without, &Method::GET, "/status").status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status::escape("<a href='x'>&\"</a>"),
        "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
    );
}
