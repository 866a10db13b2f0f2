//! Scraping a node's `--metrics-listen` page from the test process: one
//! HTTP/1.1 GET on a fresh connection, and the Prometheus text read back
//! as `series -> value`.

use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The status code and body of `GET path` at `addr` (bounded).
pub(crate) async fn http_get(addr: &str, path: &str) -> Result<(u16, String), String> {
    let fetch = async {
        let mut conn = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        conn.write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        conn.read_to_string(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        let (head, body) = answer
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("no end of headers in {answer:?}"))?;
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no status in {head:?}"))?;
        Ok((status, body.to_owned()))
    };
    tokio::time::timeout(Duration::from_secs(5), fetch)
        .await
        .map_err(|_| format!("GET {path} at {addr} timed out"))?
}

/// The page at `addr`'s `/metrics`, as samples.
pub(crate) async fn scrape(addr: &str) -> HashMap<String, f64> {
    let (status, body) = http_get(addr, "/metrics").await.expect("a scrape");
    assert_eq!(status, 200, "{body}");
    samples(&body)
}

/// `name{labels} value` lines as `name{labels} -> value`.
pub(crate) fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The sum of every sample of `name` (any labels) whose labels contain
/// all of `with` (`key="value"` strings).
pub(crate) fn total(samples: &HashMap<String, f64>, name: &str, with: &[&str]) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            let family = series.split('{').next().unwrap_or_default();
            family == name && with.iter().all(|label| series.contains(label))
        })
        .map(|(_, v)| v)
        .sum()
}
