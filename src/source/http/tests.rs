//! Tests of the HTTP source against a tiny HTTP/1.1 server on 127.0.0.1:0.

use std::sync::Arc;
use std::time::Duration;

use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::*;

/// A one-route-per-path origin: records every request path it sees.
struct Origin {
    base: String,
    paths: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the origin. Paths: `/v/slow` waits 5 s; `/v/missing` 404;
/// `/v/boom` 500; `/v/big` 100 bytes; anything else 200 with body
/// `value:<path>`, and cache headers for `/v/max-age` (60 s), `/v/no-store`
/// and `/v/expires` (2 minutes after its `Date`).
async fn origin() -> Origin {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let paths = Arc::new(Mutex::new(Vec::new()));
    let seen = paths.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                    if head.first() == Some(&0x16) {
                        // A TLS ClientHello: this origin speaks plain HTTP only.
                        return;
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                seen.lock().unwrap().push(path.clone());
                let (status, body) = match path.as_str() {
                    "/v/slow" => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        ("200 OK", "late".to_owned())
                    }
                    "/v/missing" => ("404 Not Found", "no".to_owned()),
                    "/v/boom" => ("500 Internal Server Error", "secret detail".to_owned()),
                    "/v/big" => ("200 OK", "x".repeat(100)),
                    p => ("200 OK", format!("value:{p}")),
                };
                let cache = match path.as_str() {
                    "/v/max-age" => "cache-control: public, max-age=60\r\n",
                    "/v/no-store" => "cache-control: no-store\r\n",
                    "/v/expires" => {
                        "date: Tue, 01 Dec 2026 10:00:00 GMT\r\nexpires: Tue, 01 Dec 2026 10:02:00 GMT\r\n"
                    }
                    _ => "",
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\n{cache}connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(resp.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    Origin { base, paths, task }
}

async fn get(src: &HttpSource, key: &str) -> Result<Bytes, CoreError> {
    src.get(key, &LoadContext::new()).await.map(|l| l.value)
}

/// A source for `{base}/v/{key}` with these limits.
fn v_source(base: &str, max_value_bytes: u64, timeout: Duration) -> HttpSource {
    HttpSource::new(
        &format!("{base}/v/{{key}}"),
        &SourceOptions::new(max_value_bytes, timeout),
    )
    .unwrap()
}

/// 2xx bodies are values; the key is percent-encoded in place of `{key}`
/// (a `/` cannot add a path segment).
#[tokio::test]
async fn fetches_and_encodes_keys() {
    let o = origin().await;
    let src = HttpSource::new(
        &format!("{}/v/{{key}}?x=1", o.base),
        &SourceOptions::new(1024, Duration::from_secs(5)),
    )
    .unwrap();
    assert_eq!(get(&src, "hello").await.unwrap(), "value:/v/hello?x=1");
    assert_eq!(
        get(&src, "a b/../c?d=é").await.unwrap(),
        "value:/v/a%20b%2F..%2Fc%3Fd%3D%C3%A9?x=1"
    );
    assert_eq!(o.paths.lock().unwrap().len(), 2);
}

/// 404 is NotFound; 500 is a source failure whose text does not carry the
/// origin's body.
#[tokio::test]
async fn maps_statuses() {
    let o = origin().await;
    let src = v_source(&o.base, 1024, Duration::from_secs(5));
    assert_eq!(get(&src, "missing").await, Err(CoreError::NotFound));
    match get(&src, "boom").await {
        Err(CoreError::SourceFailed(msg)) => {
            assert!(msg.contains("500"), "{msg}");
            assert!(!msg.contains("secret"), "{msg}");
        }
        other => panic!("expected SourceFailed, got {other:?}"),
    }
}

/// A body over the maximum value size fails the load, saying so; one of
/// exactly the maximum is a value.
#[tokio::test]
async fn refuses_big_bodies() {
    let o = origin().await;
    let src = v_source(&o.base, 99, Duration::from_secs(5));
    let want = format!(
        "origin GET {}/v/big: body over the maximum value size of 99 bytes",
        o.base
    );
    assert_eq!(get(&src, "big").await, Err(CoreError::source_failed(want)));
    let exact = v_source(&o.base, 100, Duration::from_secs(5));
    assert_eq!(get(&exact, "big").await.unwrap(), "x".repeat(100));
}

/// The origin timeout bounds a slow origin: the load fails after about the
/// timeout, well before the origin answers (5 s).
#[tokio::test]
async fn origin_timeout() {
    let o = origin().await;
    let src = v_source(&o.base, 99, Duration::from_millis(200));
    let got = tokio::time::timeout(Duration::from_secs(3), get(&src, "slow"))
        .await
        .expect("the origin timeout did not fire");
    match got {
        Err(CoreError::SourceFailed(msg)) => {
            assert!(
                msg.starts_with(&format!("origin GET {}/v/slow: ", o.base)),
                "{msg}"
            );
            assert!(msg.contains("timed out"), "{msg}");
        }
        other => panic!("expected the origin timeout, got {other:?}"),
    }
}

/// The get's own deadline also bounds the request, and an expired one
/// fails without contacting the origin.
#[tokio::test]
async fn context_deadline() {
    let o = origin().await;
    let src = v_source(&o.base, 99, Duration::from_secs(30));
    let ctx = LoadContext::with_timeout(Duration::from_millis(200));
    let got = tokio::time::timeout(Duration::from_secs(3), src.get("slow", &ctx))
        .await
        .expect("the deadline did not bound the request");
    assert_eq!(got, Err(CoreError::DeadlineExceeded));
    let expired = LoadContext::with_timeout(Duration::ZERO);
    assert_eq!(
        src.get("x", &expired).await,
        Err(CoreError::DeadlineExceeded)
    );
    assert_eq!(o.paths.lock().unwrap().as_slice(), ["/v/slow"]);
}

/// https URLs go through TLS (rustls is compiled in): against a plain-TCP
/// server the TLS handshake fails as a source failure, not "scheme not
/// supported" and not a refused connection.
#[tokio::test]
async fn https_uses_tls() {
    let o = origin().await;
    let base = o.base.replace("http://", "https://");
    let src = v_source(&base, 99, Duration::from_secs(5));
    match get(&src, "k").await {
        Err(CoreError::SourceFailed(msg)) => {
            // The server got a ClientHello and answered plain HTTP: the
            // handshake failed (not a refused connection, not a scheme).
            let msg = msg.to_lowercase();
            assert!(msg.contains("tls"), "{msg}");
            assert!(!msg.contains("scheme") && !msg.contains("refused"), "{msg}");
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
}

/// Bad templates are configuration errors naming the problem.
#[test]
fn bad_templates() {
    let t = Duration::from_secs(1);
    for (template, needle) in [
        ("ftp://h/{key}", "http://"),
        ("http://h/nokey", "{key}"),
        ("http://h/{key}/{key}", "only once"),
        ("http://:80/{key}", "http source"),
    ] {
        let err = HttpSource::new(template, &SourceOptions::new(1, t))
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{template}: {err}");
    }
    assert!(HttpSource::new("http://h/{key}", &SourceOptions::new(1, Duration::ZERO)).is_err());
}

/// The test CA, its server certificate (for 127.0.0.1 and localhost) and
/// key, valid until 2126: `tests/fixtures/tls/`.
const CA_PEM: &[u8] = include_bytes!("../../../tests/fixtures/tls/ca.pem");
const SERVER_PEM: &[u8] = include_bytes!("../../../tests/fixtures/tls/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("../../../tests/fixtures/tls/server.key");

/// An HTTPS origin on 127.0.0.1:0 answering every path with
/// `tls:<path>`.
async fn tls_origin() -> (String, tokio::task::JoinHandle<()>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(SERVER_PEM)
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut conn) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let body = format!("tls:{}", head.split(' ').nth(1).unwrap_or(""));
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(resp.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    (base, task)
}

/// https works end to end: with the test CA trusted (`--origin-ca`), the
/// value comes over TLS; without it, the origin's certificate is refused
/// and the load is a source failure.
#[tokio::test]
async fn https_with_a_trusted_ca() {
    let (base, task) = tls_origin().await;
    let template = format!("{base}/v/{{key}}");
    let mut opts = SourceOptions::new(1024, Duration::from_secs(5));
    opts.origin_ca_pem = Some(CA_PEM.to_vec());
    let src = HttpSource::new(&template, &opts).unwrap();
    assert_eq!(get(&src, "a/b").await.unwrap(), "tls:/v/a%2Fb");

    let untrusted =
        HttpSource::new(&template, &SourceOptions::new(1024, Duration::from_secs(5))).unwrap();
    match get(&untrusted, "k").await {
        Err(CoreError::SourceFailed(msg)) => {
            assert!(msg.to_lowercase().contains("certificate"), "{msg}");
        }
        other => panic!("expected a certificate failure, got {other:?}"),
    }
    task.abort();
}

/// A CA file without certificates is a configuration error.
#[test]
fn bad_ca_file() {
    let mut opts = SourceOptions::new(1, Duration::from_secs(1));
    opts.origin_ca_pem = Some(b"not a certificate".to_vec());
    let err = HttpSource::new("https://h/{key}", &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("origin CA"), "{err}");
}

/// What [`counting_origin`] saw, as watchable counts.
#[derive(Clone)]
struct Seen {
    /// Requests being answered now.
    active: Arc<tokio::sync::watch::Sender<usize>>,
    /// The most requests ever answered at once.
    max_active: Arc<std::sync::atomic::AtomicUsize>,
    /// Requests received in all.
    requests: Arc<std::sync::atomic::AtomicUsize>,
    /// Connections accepted in all.
    connections: Arc<std::sync::atomic::AtomicUsize>,
    /// Connections the client closed while their request was held.
    closed: Arc<tokio::sync::watch::Sender<usize>>,
}

/// A keep-alive HTTP/1.1 origin on 127.0.0.1:0 that holds every request
/// until `gate` gives it a permit, then answers `value:<path>`; it counts
/// what it sees. Returns its base URL, the counts and its task.
async fn counting_origin(gate: Arc<Semaphore>) -> (String, Seen, tokio::task::JoinHandle<()>) {
    use std::sync::atomic::Ordering::SeqCst;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Seen {
        active: Arc::new(tokio::sync::watch::channel(0).0),
        max_active: Arc::default(),
        requests: Arc::default(),
        connections: Arc::default(),
        closed: Arc::new(tokio::sync::watch::channel(0).0),
    };
    let counts = seen.clone();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut conn, _)) = listener.accept().await {
            counts.connections.fetch_add(1, SeqCst);
            let (seen, gate) = (counts.clone(), gate.clone());
            conns.spawn(async move {
                let mut buf = [0u8; 1024];
                loop {
                    let mut head = Vec::new();
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                    seen.requests.fetch_add(1, SeqCst);
                    seen.active.send_modify(|n| {
                        *n += 1;
                        seen.max_active.fetch_max(*n, SeqCst);
                    });
                    tokio::select! {
                        permit = gate.acquire() => permit.unwrap().forget(),
                        // A GET has no body: reading anything now means the
                        // client closed the connection.
                        _ = conn.read(&mut buf) => {
                            seen.active.send_modify(|n| *n -= 1);
                            seen.closed.send_modify(|n| *n += 1);
                            return;
                        }
                    }
                    // Before answering, so the client never sees its answer
                    // while it is still counted.
                    seen.active.send_modify(|n| *n -= 1);
                    let body = format!("value:{path}");
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if conn.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (base, seen, task)
}

/// A source for `{base}/v/{key}` with at most `cap` origin requests at once.
fn capped_source(base: &str, cap: usize) -> HttpSource {
    let mut opts = SourceOptions::new(1024, Duration::from_secs(10));
    opts.origin_max_connections = cap;
    HttpSource::new(&format!("{base}/v/{{key}}"), &opts).unwrap()
}

/// Waits (bounded) until `count` is at least `n`.
async fn reach(count: &tokio::sync::watch::Sender<usize>, n: usize) {
    tokio::time::timeout(
        Duration::from_secs(10),
        count.subscribe().wait_for(|c| *c >= n),
    )
    .await
    .expect("count not reached in time")
    .unwrap();
}

/// 20 concurrent loads of distinct keys against an origin that holds its
/// requests: the origin never sees more than the cap (4) at once; once it
/// answers, every load gets its value.
#[tokio::test]
async fn concurrent_loads_never_exceed_the_cap() {
    let gate = Arc::new(Semaphore::new(0));
    let (base, seen, origin) = counting_origin(gate.clone()).await;
    let src = capped_source(&base, 4);
    let loads: Vec<_> = (0..20)
        .map(|i| {
            let src = src.clone();
            tokio::spawn(async move { get(&src, &format!("k{i}")).await })
        })
        .collect();
    reach(&seen.active, 4).await;
    gate.add_permits(1000);
    for (i, load) in loads.into_iter().enumerate() {
        let value = tokio::time::timeout(Duration::from_secs(10), load)
            .await
            .expect("load finished")
            .unwrap()
            .unwrap();
        assert_eq!(value, format!("value:/v/k{i}"));
    }
    use std::sync::atomic::Ordering::SeqCst;
    assert_eq!(seen.max_active.load(SeqCst), 4);
    assert_eq!(seen.requests.load(SeqCst), 20);
    origin.abort();
}

/// Loads one after another reuse one pooled keep-alive connection.
#[tokio::test]
async fn connections_are_pooled() {
    let (base, seen, origin) = counting_origin(Arc::new(Semaphore::new(1000))).await;
    let src = capped_source(&base, 4);
    for i in 0..5 {
        assert_eq!(
            get(&src, &format!("k{i}")).await.unwrap(),
            format!("value:/v/k{i}")
        );
    }
    use std::sync::atomic::Ordering::SeqCst;
    assert_eq!(seen.connections.load(SeqCst), 1);
    origin.abort();
}

/// Cancelling a load (its context's token fires) while the origin holds
/// its request ends the load with DeadlineExceeded and closes the
/// request's connection: the origin sees it closed.
#[tokio::test]
async fn cancelling_a_load_closes_its_origin_request() {
    let (base, seen, origin) = counting_origin(Arc::new(Semaphore::new(0))).await;
    let src = capped_source(&base, 4);
    let ctx = LoadContext::new();
    let token = ctx.cancellation().clone();
    let load = tokio::spawn(async move { src.get("held", &ctx).await });
    reach(&seen.active, 1).await;
    token.cancel();
    let got = tokio::time::timeout(Duration::from_secs(5), load)
        .await
        .expect("the load ended when cancelled")
        .unwrap();
    assert_eq!(got, Err(CoreError::DeadlineExceeded));
    reach(&seen.closed, 1).await;
    origin.abort();
}

/// With the one permit held by a load the origin holds, a second load
/// waits for it only until its deadline and a third only until it is
/// cancelled (both DeadlineExceeded); neither reaches the origin, and the
/// first still gets its value once the origin answers.
#[tokio::test]
async fn waiting_for_the_cap_ends_with_the_deadline_or_cancellation() {
    let gate = Arc::new(Semaphore::new(0));
    let (base, seen, origin) = counting_origin(gate.clone()).await;
    let src = capped_source(&base, 1);
    let first = tokio::spawn({
        let src = src.clone();
        async move { get(&src, "first").await }
    });
    reach(&seen.active, 1).await;

    let ctx = LoadContext::with_timeout(Duration::from_millis(100));
    let late = tokio::time::timeout(Duration::from_secs(5), src.get("late", &ctx))
        .await
        .expect("the deadline ended the wait");
    assert_eq!(late, Err(CoreError::DeadlineExceeded));

    let ctx = LoadContext::new();
    let token = ctx.cancellation().clone();
    let waiting = tokio::spawn({
        let src = src.clone();
        async move { src.get("cancelled", &ctx).await }
    });
    // One turn: the load runs until it waits for the permit.
    tokio::task::yield_now().await;
    token.cancel();
    let cancelled = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("cancelling ended the wait")
        .unwrap();
    assert_eq!(cancelled, Err(CoreError::DeadlineExceeded));

    gate.add_permits(1);
    assert_eq!(first.await.unwrap().unwrap(), "value:/v/first");
    use std::sync::atomic::Ordering::SeqCst;
    assert_eq!(seen.requests.load(SeqCst), 1);
    origin.abort();
}

/// A cap of zero is a configuration error.
#[test]
fn zero_cap_is_refused() {
    let mut opts = SourceOptions::new(1, Duration::from_secs(1));
    opts.origin_max_connections = 0;
    let err = HttpSource::new("http://h/{key}", &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("connection limit"), "{err}");
}

/// The origin's cache headers become the value's TTL: `max-age`, `Expires`
/// against `Date`, `no-store` as zero (not cached), none as no TTL.
#[tokio::test]
async fn cache_headers_give_the_ttl() {
    let origin = origin().await;
    let src = v_source(&origin.base, 1 << 20, Duration::from_secs(5));
    let ttl = |key: &'static str| {
        let src = src.clone();
        async move { src.get(key, &LoadContext::new()).await.unwrap().ttl }
    };
    assert_eq!(ttl("max-age").await, Some(Duration::from_secs(60)));
    assert_eq!(ttl("expires").await, Some(Duration::from_secs(120)));
    assert_eq!(ttl("no-store").await, Some(Duration::ZERO));
    assert_eq!(ttl("plain").await, None);
}

/// Through a group: a `no-store` answer is served but never cached (each
/// get asks the origin), a `max-age` one is cached, capped by `max_ttl`.
#[tokio::test]
async fn no_store_is_not_cached_and_max_age_is_capped() {
    let origin = origin().await;
    let src = v_source(&origin.base, 1 << 20, Duration::from_secs(5));
    let group = cache_core::GroupBuilder::new("http", 1 << 20, src)
        .max_ttl(Some(Duration::from_secs(30)))
        .build()
        .unwrap();
    for _ in 0..2 {
        assert_eq!(group.get("no-store").await.unwrap(), "value:/v/no-store");
        let got = group
            .get_with_ttl("max-age", LoadContext::new())
            .await
            .unwrap();
        assert!(got.ttl.unwrap() <= Duration::from_secs(30), "{:?}", got.ttl);
    }
    let paths = origin.paths.lock().unwrap().clone();
    let asked = |p: &str| paths.iter().filter(|seen| *seen == p).count();
    assert_eq!((asked("/v/no-store"), asked("/v/max-age")), (2, 1));
}
