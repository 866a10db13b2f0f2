//! Starts a 3-node groupcache cluster in this process, on loopback, and
//! serves until Ctrl-C: a target for grpcurl, Python or any gRPC client.
//!
//! The group `greetings` answers `hello, KEY` for every key except those
//! starting with `missing` (NOT_FOUND) and `fail` (UNAVAILABLE: the source
//! failed); keys starting with `slow` take 2 s to load (try a deadline);
//! keys starting with `big` are 5 MiB (above gRPC's common 4 MiB default).
//! Each load is printed, so you can watch keys load once, on their owner.
//!
//! Run: `cargo run -p cache-grpc --example local_cluster`
//! (`RUST_LOG=debug` shows every request and peer fetch).

use std::sync::Arc;

use cache_core::{Error, GroupBuilder, Loaded, getter_fn};
use cache_grpc::LocalCluster;

#[tokio::main]
async fn main() -> Result<(), cache_grpc::Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cluster = LocalCluster::start(3, |node, pool| {
        let getter = getter_fn(move |key: String, _ctx| async move {
            println!("node {node}: loading {key:?}");
            if key.starts_with("missing") {
                return Err(Error::NotFound);
            }
            if key.starts_with("fail") {
                return Err(Error::source_failed("the greeting database is down"));
            }
            if key.starts_with("big") {
                return Ok(Loaded::new(vec![b'x'; 5 << 20]));
            }
            if key.starts_with("slow") {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            Ok(Loaded::new(format!("hello, {key}")))
        });
        vec![
            GroupBuilder::new("greetings", 16 << 20, getter)
                .peers(Arc::new(pool.clone()))
                .build()
                .expect("valid group"),
        ]
    })
    .await?;
    for (i, addr) in cluster.addrs().iter().enumerate() {
        println!("node {i} listening on {addr}");
    }
    let addr = cluster.addr(0);
    println!();
    println!("try:");
    println!("  grpcurl -plaintext {addr} list");
    println!(
        "  grpcurl -plaintext -d '{{\"group\":\"greetings\",\"key\":\"world\"}}' {addr} groupcache.v1.Groupcache/Get"
    );
    println!("  grpcurl -plaintext {addr} groupcache.v1.Groupcache/Stats");
    println!("Ctrl-C stops the cluster.");
    let _ = tokio::signal::ctrl_c().await;
    cluster.shutdown().await
}
