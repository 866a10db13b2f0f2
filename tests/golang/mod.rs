//! The harness of `tests/golang_interop.rs`: per-node HTTP origins that
//! count loads, the Go node's binary, and a mixed pool of 2 Go nodes
//! (`node/`, built by `scripts/test-golang`) and 1 Rust node, with a way
//! to ask each node for a key.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use cache_grpc::golang::wire::GetResponse;
use cache_grpc::pb::GetRequest;
use parking_lot::Mutex;
use percent_encoding::percent_decode_str;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::cli_support::load::client;
use crate::cli_support::*;

/// The variable `scripts/test-golang` sets to the Go node's binary.
pub(crate) const GO_NODE_VAR: &str = "GROUPCACHE_TEST_GO_NODE";

/// The value every origin answers for `key`: 1 MiB for keys starting
/// `big-` (Go's server sends those chunked), a short text otherwise.
pub(crate) fn value_of(key: &str) -> Vec<u8> {
    let short = format!("value-of-{key}").into_bytes();
    if !key.starts_with("big-") {
        return short;
    }
    short.iter().copied().cycle().take(1 << 20).collect()
}

/// An HTTP origin in the test process: `GET /k/ESCAPED-KEY` answers
/// [`value_of`] the decoded key (404 for keys starting `missing-`) and
/// counts requests per decoded key. Each node gets its own, so a load is
/// attributed to the node that made it.
pub(crate) struct Origin {
    pub(crate) prefix: String,
    pub(crate) loads: Arc<Mutex<HashMap<String, usize>>>,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Origin {
    pub(crate) async fn start() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let prefix = format!("http://{}/k/", listener.local_addr().unwrap());
        let loads = Arc::new(Mutex::new(HashMap::new()));
        let counts = loads.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(answer(conn, counts.clone()));
            }
        });
        Origin {
            prefix,
            loads,
            task,
        }
    }

    pub(crate) fn loads_of(&self, key: &str) -> usize {
        self.loads.lock().get(key).copied().unwrap_or(0)
    }

    pub(crate) fn total(&self) -> usize {
        self.loads.lock().values().sum()
    }
}

/// One request per connection (`connection: close`).
pub(crate) async fn answer(mut conn: TcpStream, counts: Arc<Mutex<HashMap<String, usize>>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or("");
    let key = path
        .strip_prefix("/k/")
        .map(|k| percent_decode_str(k).decode_utf8_lossy().into_owned());
    let (status, body) = match key {
        Some(key) => {
            *counts.lock().entry(key.clone()).or_default() += 1;
            if key.starts_with("missing-") {
                ("404 Not Found", Vec::new())
            } else {
                ("200 OK", value_of(&key))
            }
        }
        None => ("404 Not Found", Vec::new()),
    };
    let mut resp = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    resp.extend_from_slice(&body);
    let _ = conn.write_all(&resp).await;
    let _ = conn.shutdown().await;
}

/// The Go node's binary, or `None` (with a note) when not run by the
/// script.
pub(crate) fn go_node_binary() -> Option<PathBuf> {
    let Some(path) = std::env::var_os(GO_NODE_VAR) else {
        eprintln!(
            "golang_interop: not run: {GO_NODE_VAR} is unset (not started by scripts/test-golang, \
             which installs Go and golang/groupcache from Debian, builds tests/golang/node and \
             runs this test)"
        );
        return None;
    };
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "{GO_NODE_VAR}={} is not a file: run scripts/test-golang",
        path.display()
    );
    Some(path)
}

/// A node of the pool and how to ask it for a key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Via {
    /// A Go node's `/get?key=` (its `Group.Get`: may fetch from the owner).
    GoGet(usize),
    /// The Rust node's gRPC `Get`.
    RustGrpc,
    /// The Rust node's `/_groupcache/g/KEY` (only for keys it owns: a
    /// peer request is never forwarded).
    RustPeer,
}

/// The pool under test.
pub(crate) struct Pool {
    pub(crate) urls: Vec<String>,
    /// Index in `urls` of the Rust node.
    pub(crate) rust: usize,
    pub(crate) rust_grpc: String,
    /// Origin of each node, by index in `urls`.
    pub(crate) origins: Vec<Origin>,
    /// The Go nodes by index in `urls` (`None` at the Rust node's).
    pub(crate) go: Vec<Option<Node>>,
    pub(crate) rust_node: Node,
    pub(crate) http: reqwest::Client,
    pub(crate) _dir: TempDir,
}

impl Pool {
    pub(crate) async fn start(go_bin: &std::path::Path) -> Pool {
        let dir = TempDir::new("golang");
        let ports = free_ports(4);
        // The Rust node sits in the middle of the list: order matters to Go.
        let urls: Vec<String> = ports[..3]
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect();
        let rust = 1;
        let list = urls.join(",");
        let mut origins = Vec::new();
        for _ in 0..3 {
            origins.push(Origin::start().await);
        }
        let mut go = Vec::new();
        for (i, url) in urls.iter().enumerate() {
            if i == rust {
                go.push(None);
                continue;
            }
            let log = dir.0.join(format!("go-{i}.log"));
            let child = Command::new(go_bin)
                .args(["-listen", url.trim_start_matches("http://")])
                .args(["-self", url, "-peers", &list, "-group", "g"])
                .args(["-origin", &origins[i].prefix])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .expect("the Go node starts");
            go.push(Some(Node {
                child,
                addr: url.clone(),
                log,
            }));
        }
        let rust_grpc = format!("127.0.0.1:{}", ports[3]);
        let args: Vec<String> = [
            "--listen",
            &rust_grpc,
            "--golang-listen",
            urls[rust].trim_start_matches("http://"),
            "--golang-peers",
            &list,
            "--group",
            &format!("g={}{{key}}", origins[rust].prefix),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut rust_node = spawn_node(&rust_grpc, &args, &[], &dir.0);
        assert!(
            wait_ready(&mut rust_node).await,
            "the Rust node did not start: {}",
            rust_node.log_text()
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .unwrap();
        let pool = Pool {
            urls,
            rust,
            rust_grpc,
            origins,
            go,
            rust_node,
            http,
            _dir: dir,
        };
        for (i, node) in pool.go.iter().enumerate() {
            let Some(node) = node else { continue };
            let url = format!("{}/healthz", pool.urls[i]);
            let http = &pool.http;
            let up = poll_until(Duration::from_secs(15), || async {
                http.get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            })
            .await;
            assert!(up, "Go node {i} did not start: {}", node.log_text());
        }
        pool
    }

    /// `key`'s value as `via` answers it: Ok(value) or Err(status text).
    pub(crate) async fn get(&self, via: Via, key: &str) -> Result<Vec<u8>, String> {
        match via {
            Via::GoGet(i) => {
                let res = self
                    .http
                    .get(format!("{}/get", self.urls[i]))
                    .query(&[("key", key)])
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = res.status();
                let body = res.bytes().await.map_err(|e| e.to_string())?;
                if status.is_success() {
                    Ok(body.to_vec())
                } else {
                    Err(format!("{status}: {}", String::from_utf8_lossy(&body)))
                }
            }
            Via::RustGrpc => client(&self.rust_grpc)
                .get(GetRequest {
                    group: "g".into(),
                    key: key.into(),
                })
                .await
                .map(|r| r.into_inner().value.to_vec())
                .map_err(|s| format!("{:?}: {}", s.code(), s.message())),
            Via::RustPeer => {
                let url = format!(
                    "{}/_groupcache/g/{}",
                    self.urls[self.rust],
                    cache_grpc::golang::wire::escape(key)
                );
                let res = self.http.get(url).send().await.map_err(|e| e.to_string())?;
                let status = res.status();
                let content_type = res
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned());
                let body = res.bytes().await.map_err(|e| e.to_string())?;
                if !status.is_success() {
                    return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
                }
                assert_eq!(content_type.as_deref(), Some("application/x-protobuf"));
                Ok(GetResponse::from_body(&body)
                    .expect("a GetResponse")
                    .value
                    .unwrap_or_default()
                    .to_vec())
            }
        }
    }

    /// The owner the real Go ring names for `key` (asked of Go node `i`).
    pub(crate) async fn go_owner(&self, i: usize, key: &str) -> String {
        self.http
            .get(format!("{}/owner", self.urls[i]))
            .query(&[("key", key)])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The keys Go node `i` was asked for over the peer protocol.
    pub(crate) async fn served_by(&self, i: usize) -> Vec<String> {
        let text = self
            .http
            .get(format!("{}/served", self.urls[i]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines().map(str::to_owned).collect()
    }

    /// Loads of `key` at each node's origin.
    pub(crate) fn loads(&self, key: &str) -> Vec<usize> {
        self.origins.iter().map(|o| o.loads_of(key)).collect()
    }

    pub(crate) fn go_indexes(&self) -> Vec<usize> {
        (0..self.urls.len()).filter(|&i| i != self.rust).collect()
    }
}
