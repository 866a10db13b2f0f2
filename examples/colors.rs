//! The classic "colors" service: a slow database (here a `HashMap` behind a
//! 100 ms delay) fronted by an embedded groupcache [`Group`], with no
//! network at all.
//!
//! It shows the three things a group does for you: the first get of a key
//! loads it from the database, later gets are served from memory, and many
//! concurrent gets of a cold key share a single database load
//! (singleflight). Unknown colors come back as `NotFound`.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example colors
//! ```
//!
//! `cargo test` runs it too, and its asserts.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cache_core::{Error, GroupBuilder, Loaded, getter_fn};

/// The "database": color names to hex codes.
fn database() -> HashMap<&'static str, &'static str> {
    HashMap::from([
        ("red", "#FF0000"),
        ("green", "#00FF00"),
        ("blue", "#0000FF"),
        ("white", "#FFFFFF"),
        ("black", "#000000"),
    ])
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let db = Arc::new(database());
    let db_reads = Arc::new(AtomicU64::new(0));

    // The getter is only called on a miss, and only once at a time per key.
    let reads = db_reads.clone();
    let getter = getter_fn(move |key: String, _ctx| {
        let db = db.clone();
        let reads = reads.clone();
        async move {
            reads.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await; // a slow query
            match db.get(key.as_str()) {
                Some(hex) => Ok(Loaded::new(hex.to_string())),
                None => Err(Error::NotFound),
            }
        }
    });
    let colors = GroupBuilder::new("colors", 1 << 20, getter).build()?;

    let t = Instant::now();
    let red = colors.get("red").await?;
    println!(
        "get red   -> {} (cold: loaded from the database in {:?})",
        String::from_utf8_lossy(&red),
        t.elapsed()
    );

    let t = Instant::now();
    let red = colors.get("red").await?;
    println!(
        "get red   -> {} (warm: served from memory in {:?})",
        String::from_utf8_lossy(&red),
        t.elapsed()
    );

    // 100 concurrent gets of a cold key: one database read.
    let before = db_reads.load(Ordering::Relaxed);
    let gets = (0..100).map(|_| {
        let colors = colors.clone();
        tokio::spawn(async move { colors.get("blue").await })
    });
    for get in futures::future::join_all(gets).await {
        assert_eq!(get.expect("task ran")?, "#0000FF");
    }
    let blue_reads = db_reads.load(Ordering::Relaxed) - before;
    println!("100 concurrent gets of blue -> {blue_reads} database read(s)");
    assert_eq!(blue_reads, 1, "singleflight: one read for 100 gets");

    match colors.get("mauve").await {
        Err(Error::NotFound) => println!("get mauve -> not found"),
        other => panic!("get mauve -> unexpected {other:?}"),
    }

    let s = colors.stats();
    println!(
        "stats: gets={} cache_hits={} loads={} loads_deduped={} local_loads={} local_load_errs={}",
        s.gets, s.cache_hits, s.loads, s.loads_deduped, s.local_loads, s.local_load_errs
    );
    println!(
        "database reads in total: {}",
        db_reads.load(Ordering::Relaxed)
    );
    assert_eq!((s.local_loads, s.local_load_errs), (2, 1));
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
