//! A groupcache [`Group`](groupcache::core::Group) in front of an SQL
//! table, with the built-in `sql:` source and SQLite, so that it runs
//! without a database server.
//!
//! It makes a database file in a temporary directory with a table of
//! products, builds a [`SqlSource`] over one query (the key is its one
//! parameter, `?`; the value its first column; a second column gives the
//! seconds to live), and gets a key twice: the first get runs the query,
//! the second is served from memory. A key without a row is `NotFound`.
//! Against PostgreSQL or MariaDB only the URL and the placeholder (`$1`
//! for PostgreSQL) change.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example sql_cache
//! ```
//!
//! `cargo test` runs it too, and its asserts.

use std::time::Duration;

use groupcache::core::{Error, GroupBuilder, LoadContext};
use groupcache::source::sql::SqlSource;
use sqlx::{ConnectOptions, Connection};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The "database": a SQLite file with a few products, made here.
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("shop.db").display());
    let mut admin = url
        .parse::<sqlx::sqlite::SqliteConnectOptions>()?
        .connect()
        .await?;
    sqlx::raw_sql(
        "CREATE TABLE products (sku TEXT PRIMARY KEY, description TEXT, ttl INTEGER);
         INSERT INTO products VALUES ('apple', 'a red apple', 60), ('pear', 'a green pear', NULL);",
    )
    .execute(&mut admin)
    .await?;
    admin.close().await?;

    // The source: connects and prepares the query now, so a mistake in it
    // (two parameters, a missing table) is an error here, not on every load.
    let source = SqlSource::builder(&url)
        .query("SELECT description, ttl FROM products WHERE sku = ?")
        .ttl_column("ttl")
        .connect()
        .await?;
    let products = GroupBuilder::new("products", 1 << 20, source).build()?;

    let first = products.get_with_ttl("apple", LoadContext::new()).await?;
    println!(
        "get apple -> {:?} (ran the query; expires in {:?})",
        std::str::from_utf8(&first.value)?,
        first.ttl
    );
    let second = products.get("apple").await?;
    println!(
        "get apple -> {:?} (from memory)",
        std::str::from_utf8(&second)?
    );
    assert_eq!(first.value, second);
    assert!(first.ttl.is_some_and(|ttl| ttl <= Duration::from_secs(60)));

    let pear = products.get_with_ttl("pear", LoadContext::new()).await?;
    println!(
        "get pear  -> {:?} (no expiry: ttl NULL)",
        std::str::from_utf8(&pear.value)?
    );
    assert_eq!(pear.ttl, None);

    let missing = products.get("plum").await;
    println!("get plum  -> {missing:?} (no row)");
    assert_eq!(missing, Err(Error::NotFound));

    let stats = products.stats();
    println!("queries run: {} for {} gets", stats.local_loads, stats.gets);
    // apple once, pear once: the second apple was a hit. (A NotFound is
    // no local load: it returned no value.)
    assert_eq!(stats.local_loads, 2);
    assert_eq!(stats.gets, 4);
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
