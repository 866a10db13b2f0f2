//! Three groupcache peers talking gRPC, wired by hand in one process: what
//! `groupcache serve` does for each node, with the library API.
//!
//! Each node binds a loopback listener, builds a `PeerPool` over the three
//! addresses, registers a group whose loader says which node ran it, and
//! serves with `cache_grpc::serve`. A gRPC client then asks every node for
//! the same keys: whichever node is asked, the key is loaded once, by its
//! owner. Finally each node is shut down gracefully.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example three_peers
//! ```
//!
//! `cargo test` runs it too, and its asserts: every node answers each key
//! with the value its one owner loaded.

use std::sync::Arc;

use cache_core::{GroupBuilder, Loaded, Registry, getter_fn};
use cache_grpc::pb::GetRequest;
use cache_grpc::pb::groupcache_client::GroupcacheClient;
use cache_grpc::{PeerPool, PoolOptions, ServerOptions, serve};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Bind first, so every node knows every address before it starts.
    let mut listeners = Vec::new();
    for _ in 0..3 {
        listeners.push(TcpListener::bind("127.0.0.1:0").await?);
    }
    let addrs: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.to_string()))
        .collect::<Result<_, _>>()?;

    let mut stops = Vec::new();
    let mut servers = Vec::new();
    for (listener, me) in listeners.into_iter().zip(addrs.clone()) {
        // Who owns which key: the same peer list on every node.
        let pool = PeerPool::new(&me, &addrs, PoolOptions::default())?;
        // The source of truth; here it only says which node loaded the key.
        let node = me.clone();
        let getter = getter_fn(move |key: String, _ctx| {
            let node = node.clone();
            async move { Ok(Loaded::new(format!("{key} (loaded by {node})"))) }
        });
        let registry = Registry::new();
        registry.add(
            GroupBuilder::new("greetings", 16 << 20, getter)
                .peers(Arc::new(pool.clone()))
                .build()?,
        )?;
        let (stop, stopped) = oneshot::channel::<()>();
        stops.push(stop);
        servers.push(tokio::spawn(serve(
            listener,
            registry,
            pool,
            ServerOptions::default(),
            async {
                let _ = stopped.await;
            },
        )));
        println!("node {me} serving");
    }

    for key in ["hello", "bonjour", "hola"] {
        let mut answers = Vec::new();
        for addr in &addrs {
            let mut client = GroupcacheClient::connect(format!("http://{addr}")).await?;
            let value = client
                .get(GetRequest {
                    group: "greetings".into(),
                    key: key.into(),
                })
                .await?
                .into_inner()
                .value;
            println!(
                "get {key:<8} via {addr} -> {}",
                String::from_utf8_lossy(&value)
            );
            answers.push(value);
        }
        // Loaded once, by the key's owner, whichever node was asked.
        assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    }

    for stop in stops {
        let _ = stop.send(());
    }
    for server in servers {
        server.await??;
    }
    println!("all nodes stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The example runs to the end, its asserts included.
    #[test]
    fn runs() {
        super::main().expect("the example succeeds");
    }
}
