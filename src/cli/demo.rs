//! `groupcache demo`: three nodes on loopback in this process, over a small
//! built-in table of colors with a slow "database", narrated step by step:
//! who owns which key, gets routed to owners, a stampede deduplicated to
//! one load, hot-cache copies on non-owners, and the final counters.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::promotion::{PromotionInput, PromotionPolicy};
use cache_core::{Error as CoreError, GroupBuilder, Loaded, StatsSnapshot, getter_fn};
use cache_grpc::pb::groupcache_client::GroupcacheClient;
use cache_grpc::pb::{GetRequest, GroupStats, StatsRequest};
use cache_grpc::{ClusterOptions, LocalCluster};
use clap::Args;
use parking_lot::Mutex;
use tonic::transport::Channel;

use crate::Error;
use crate::cli::parse::clap_parsers;
use crate::cli::stats::render_columns;

/// The demo's group.
const GROUP: &str = "colors";

/// The built-in "database": color names and their hex codes.
pub const COLORS: &[(&str, &str)] = &[
    ("red", "#FF0000"),
    ("green", "#00FF00"),
    ("blue", "#0000FF"),
    ("cyan", "#00FFFF"),
    ("magenta", "#FF00FF"),
    ("yellow", "#FFFF00"),
    ("orange", "#FFA500"),
    ("purple", "#800080"),
    ("teal", "#008080"),
    ("olive", "#808000"),
    ("navy", "#000080"),
    ("maroon", "#800000"),
];

/// Flags of `groupcache demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// How long each load from the built-in database takes (makes the
    /// stampede visible).
    #[arg(long, env = "GROUPCACHE_DEMO_DELAY", default_value = "300ms", value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub delay: Duration,
    /// Concurrent gets of one cold key in the stampede step.
    #[arg(long, env = "GROUPCACHE_DEMO_CLIENTS", default_value_t = 200, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub clients: u32,
}

/// Promotes a key into this node's hot cache on its second fetch from the
/// owner: once is chance, twice is popular. (Deterministic, for a readable
/// demo; servers use the engine's default policy.)
#[derive(Debug, Default)]
struct SecondFetch {
    /// Fetches per key so far; guarded by a mutex held only to bump a count.
    fetches: Mutex<HashMap<String, u32>>,
}

impl PromotionPolicy for SecondFetch {
    fn should_promote(&self, input: &PromotionInput<'_>) -> bool {
        let mut fetches = self.fetches.lock();
        let n = fetches.entry(input.key.to_owned()).or_insert(0);
        *n += 1;
        *n >= 2
    }
}

/// Node letters, by index.
fn name(i: usize) -> char {
    (b'A' + i as u8) as char
}

/// The demo's narration: the cluster, one client per node, and the
/// snapshots of the previous step.
struct Demo {
    cluster: LocalCluster,
    clients: Vec<GroupcacheClient<Channel>>,
}

impl Demo {
    fn stats(&self) -> Vec<StatsSnapshot> {
        (0..self.cluster.len())
            .map(|i| {
                self.cluster
                    .group(i, GROUP)
                    .expect("every node has the group")
                    .stats()
            })
            .collect()
    }

    async fn get(&self, node: usize, key: &str) -> Result<String, Error> {
        let mut client = self.clients[node].clone();
        let mut request = tonic::Request::new(GetRequest {
            group: GROUP.into(),
            key: key.into(),
        });
        request.set_timeout(Duration::from_secs(10));
        let value = client
            .get(request)
            .await
            .map_err(Error::Status)?
            .into_inner()
            .value;
        Ok(String::from_utf8_lossy(&value).into_owned())
    }
}

/// Runs the demo and stops every node before returning.
pub async fn run(args: DemoArgs) -> Result<(), Error> {
    let delay = args.delay;
    let opts = ClusterOptions::default();
    let cluster = LocalCluster::start_with(3, opts, |_index, pool| {
        let db: HashMap<&'static str, &'static str> = COLORS.iter().copied().collect();
        let db = Arc::new(db);
        let getter = getter_fn(move |key: String, _ctx| {
            let db = db.clone();
            async move {
                tokio::time::sleep(delay).await;
                db.get(key.as_str())
                    .map(|hex| Loaded::new(*hex))
                    .ok_or(CoreError::NotFound)
            }
        });
        vec![
            GroupBuilder::new(GROUP, 1 << 20, getter)
                .peers(Arc::new(pool.clone()))
                .promotion(Arc::new(SecondFetch::default()))
                .build()
                .expect("the demo group is valid"),
        ]
    })
    .await?;
    let clients = (0..cluster.len()).map(|i| cluster.client(i)).collect();
    let demo = Demo { cluster, clients };
    let result = narrate(&demo, &args).await;
    let Demo { cluster, .. } = demo;
    let stopped = cluster.shutdown().await;
    result?;
    stopped?;
    println!(
        "All 3 nodes stopped. Next: run a mesh by hand (docs/cli.md, or README.md) or `groupcache serve --help`."
    );
    Ok(())
}

async fn narrate(demo: &Demo, args: &DemoArgs) -> Result<(), Error> {
    let c = &demo.cluster;
    let n = c.len();
    println!("groupcache demo: {n} nodes on loopback, talking gRPC to each other, in this process");
    for i in 0..n {
        println!("  node {}  {}", name(i), c.addr(i));
    }
    println!(
        "Group {GROUP:?}: {} colors in a built-in table; every load from it takes {}.",
        COLORS.len(),
        humantime::format_duration(args.delay)
    );

    // 1. Ownership.
    println!("\n1. Every key has one owner, picked by consistent hashing over the peers");
    let mut owned: Vec<Vec<&str>> = vec![Vec::new(); n];
    for (key, _) in COLORS {
        owned[c.owner_index(key)].push(key);
    }
    for (i, keys) in owned.iter().enumerate() {
        println!(
            "  node {} owns {:>2}: {}",
            name(i),
            keys.len(),
            keys.join(", ")
        );
    }

    // 2. Routing: for up to three keys, each owned by a different node, get
    // it through the next node, then through the one after.
    println!("\n2. A get on any node is routed to the key's owner, which loads it once");
    let mut picks: Vec<(&str, usize)> = Vec::new();
    for (i, keys) in owned.iter().enumerate() {
        if let Some(key) = keys.iter().find(|k| **k != "teal") {
            picks.push((key, i));
        }
    }
    for (key, owner) in &picks {
        for hop in [1, 2] {
            let via = (owner + hop) % n;
            let before = demo.stats();
            let t = Instant::now();
            let value = demo.get(via, key).await?;
            let took = t.elapsed();
            let after = demo.stats();
            let loaded = after[*owner].local_loads - before[*owner].local_loads;
            let how = if loaded > 0 {
                format!("{} loaded it from the database", name(*owner))
            } else {
                format!("{} answered from its cache", name(*owner))
            };
            println!(
                "  get {key:<8} via node {} -> {value}  {:>7.1} ms   owner {}: {how}",
                name(via),
                took.as_secs_f64() * 1e3,
                name(*owner),
            );
        }
    }
    let loads: u64 = demo.stats().iter().map(|s| s.local_loads).sum();
    println!(
        "  {} gets, {loads} database loads: each key was loaded once, on its owner.",
        picks.len() * 2
    );

    // 3. Stampede.
    let key = "teal";
    let owner = c.owner_index(key);
    println!(
        "\n3. A stampede: {} concurrent gets of the cold key {key:?}, spread over nodes A, B and C",
        args.clients
    );
    let before = demo.stats();
    let t = Instant::now();
    let tasks: Vec<_> = (0..args.clients as usize)
        .map(|i| {
            let mut client = demo.clients[i % n].clone();
            tokio::spawn(async move {
                let mut request = tonic::Request::new(GetRequest {
                    group: GROUP.into(),
                    key: key.into(),
                });
                request.set_timeout(Duration::from_secs(10));
                client.get(request).await.map(|r| r.into_inner().value)
            })
        })
        .collect();
    let mut answers: HashMap<String, usize> = HashMap::new();
    for task in tasks {
        let value = task
            .await
            .map_err(|e| Error::config(format!("a demo task failed: {e}")))?
            .map_err(Error::Status)?;
        *answers
            .entry(String::from_utf8_lossy(&value).into_owned())
            .or_default() += 1;
    }
    let took = t.elapsed();
    let after = demo.stats();
    let answers: Vec<String> = answers.iter().map(|(v, k)| format!("{k} x {v}")).collect();
    println!(
        "  {} answers in {:.0} ms: {}",
        args.clients,
        took.as_secs_f64() * 1e3,
        answers.join(", ")
    );
    let loads: u64 = (0..n)
        .map(|i| after[i].local_loads - before[i].local_loads)
        .sum();
    println!(
        "  database loads: {loads}  (on the owner, node {})",
        name(owner)
    );
    for i in 0..n {
        let gets = after[i].gets - before[i].gets;
        let fetches = after[i].peer_loads - before[i].peer_loads;
        let served = after[i].server_requests - before[i].server_requests;
        if i == owner {
            println!(
                "  node {} (owner): {gets:>3} client gets, {served} fetches from peers, 1 load shared by all",
                name(i)
            );
        } else {
            println!(
                "  node {}:         {gets:>3} client gets, {fetches} fetch from the owner (the other gets waited for it)",
                name(i)
            );
        }
    }

    // 4. Hot cache.
    println!("\n4. Popular keys get a copy on non-owners (the hot cache): no hop at all");
    for i in (0..n).filter(|i| *i != owner) {
        demo.get(i, key).await?; // second fetch: promoted
        let before = demo.stats();
        for _ in 0..50 {
            demo.get(i, key).await?;
        }
        let after = demo.stats();
        println!(
            "  node {}: fetched {key:?} a 2nd time -> promoted; next 50 gets: {} hot-cache hits, {} fetches from {}",
            name(i),
            after[i].hot_cache.hits - before[i].hot_cache.hits,
            after[i].peer_loads - before[i].peer_loads,
            name(owner),
        );
    }

    // 5. Stats, through the Stats RPC.
    println!("\n5. The counters of every node (the Stats RPC; `groupcache stats` prints the same)");
    let mut columns: Vec<(String, GroupStats)> = Vec::new();
    for i in 0..n {
        let mut client = demo.clients[i].clone();
        let stats = client
            .stats(StatsRequest {
                group: GROUP.into(),
            })
            .await
            .map_err(Error::Status)?
            .into_inner();
        if let Some(g) = stats.groups.into_iter().next() {
            columns.push((format!("node {}", name(i)), g));
        }
    }
    let refs: Vec<(String, &GroupStats)> = columns.iter().map(|(t, g)| (t.clone(), g)).collect();
    print!("{}", indent(&render_columns(GROUP, &refs)));
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
