//! Tests of the HTTP source against a tiny HTTP/1.1 server on 127.0.0.1:0.

use std::sync::Arc;
use std::time::Duration;

use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

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
/// `value:<path>`.
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
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
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

/// A body over the maximum value size fails the load.
#[tokio::test]
async fn refuses_big_bodies() {
    let o = origin().await;
    let src = v_source(&o.base, 99, Duration::from_secs(5));
    assert!(matches!(
        get(&src, "big").await,
        Err(CoreError::SourceFailed(_))
    ));
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
    assert!(matches!(got, Err(CoreError::SourceFailed(_))), "{got:?}");
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
    assert!(got.is_err());
    let expired = LoadContext::with_timeout(Duration::ZERO);
    assert_eq!(
        src.get("x", &expired).await,
        Err(CoreError::DeadlineExceeded)
    );
    assert_eq!(o.paths.lock().unwrap().as_slice(), ["/v/slow"]);
}

/// https URLs go through TLS (rustls is compiled in): against a plain-TCP
/// server the handshake fails as a source failure, not "scheme not
/// supported".
#[tokio::test]
async fn https_uses_tls() {
    let o = origin().await;
    let base = o.base.replace("http://", "https://");
    let src = v_source(&base, 99, Duration::from_secs(5));
    match get(&src, "k").await {
        Err(CoreError::SourceFailed(msg)) => {
            assert!(!msg.to_lowercase().contains("scheme"), "{msg}");
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
