//! Real-server tier: the `sql:` source (src/source/sql/) against real
//! databases. Every scenario runs against
//!
//! - SQLite, always: a database file in a temporary directory;
//! - PostgreSQL 15, when `GROUPCACHE_TEST_POSTGRES_URL` is set;
//! - MariaDB 10.11, when `GROUPCACHE_TEST_MARIADB_URL` is set.
//!
//! `scripts/test-sql` installs Debian's servers, starts each as its child
//! in a temporary data directory on 127.0.0.1 (a free port), sets those
//! variables (URLs without the password, which is in
//! `GROUPCACHE_TEST_POSTGRES_PASSWORD` / `GROUPCACHE_TEST_MARIADB_PASSWORD`:
//! the tests give it each way a user can) and stops them by pid. Without
//! the variables those tests print that they were not run and pass; the
//! script is the gate (`./scripts/check` runs it). Each test makes tables
//! of its own, named after it and this process.
//!
//! The scenarios: bytes and text values, the first row of several, no row
//! and NULL as NOT_FOUND, the TTL column; at start, a query without
//! exactly one parameter, a syntax error, a missing table, a value column
//! of the wrong type, a TTL column missing, an unreachable database or a
//! wrong password, each a clear error quoting neither the query nor the
//! password; at run time a database error, a value over the size limit
//! and a query over its timeout, each a source failure (UNAVAILABLE) with
//! the same care; a group over the source loading a key once. Last, a
//! `groupcache serve --group items=sql:sqlite:...` process answering Get,
//! NOT_FOUND and (after its table is dropped) UNAVAILABLE.
#![cfg(all(
    feature = "sql-sqlite",
    feature = "sql-postgres",
    feature = "sql-mysql"
))]

mod cli_support;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use groupcache::Error;
use groupcache::core::{Error as CoreError, GroupBuilder, LoadContext, Loaded};
use groupcache::source::sql::{Password, SqlOptions, SqlSource, SqlSourceBuilder};
use sqlx::{ConnectOptions, Connection};

/// The longest any scenario may take.
const BOUND: Duration = Duration::from_secs(60);

/// The password every test database is given (what must never show).
const PASSWORD_MARK: &str = "pw-";

/// Which database a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
    MariaDb,
}

/// A database to run a scenario on.
struct Db {
    kind: Kind,
    /// The URL without password.
    url: String,
    /// The password (None for SQLite).
    password: Option<String>,
    /// A prefix unique to this test and process, for table names.
    prefix: String,
    /// SQLite's directory, removed on drop.
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    /// A fresh SQLite database file.
    fn sqlite(test: &str) -> Db {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        Db {
            kind: Kind::Sqlite,
            url: format!("sqlite://{}?mode=rwc", path.display()),
            password: None,
            prefix: prefix(test),
            _dir: Some(dir),
        }
    }

    /// The server from `GROUPCACHE_TEST_<NAME>_URL` (and `_PASSWORD`), or
    /// `None` with a note on stderr.
    fn server(kind: Kind, test: &str) -> Option<Db> {
        let name = match kind {
            Kind::Postgres => "POSTGRES",
            Kind::MariaDb => "MARIADB",
            Kind::Sqlite => unreachable!(),
        };
        let var = format!("GROUPCACHE_TEST_{name}_URL");
        let Ok(url) = std::env::var(&var) else {
            eprintln!(
                "source_sql::{test}: not run: {var} is unset (not started by scripts/test-sql, \
                 which installs and starts the database and runs this test)"
            );
            return None;
        };
        let password = std::env::var(format!("GROUPCACHE_TEST_{name}_PASSWORD")).ok();
        if let Some(p) = &password {
            assert!(
                p.starts_with(PASSWORD_MARK),
                "test passwords start {PASSWORD_MARK}"
            );
        }
        Some(Db {
            kind,
            url,
            password,
            prefix: prefix(test),
            _dir: None,
        })
    }

    /// The key's placeholder.
    fn ph(&self) -> &'static str {
        match self.kind {
            Kind::Postgres => "$1",
            _ => "?",
        }
    }

    /// A table name of this test.
    fn table(&self, name: &str) -> String {
        format!("{}_{name}", self.prefix)
    }

    /// The type of a bytes column.
    fn blob(&self) -> &'static str {
        match self.kind {
            Kind::Postgres => "bytea",
            Kind::MariaDb => "LONGBLOB",
            Kind::Sqlite => "BLOB",
        }
    }

    /// A bytes literal of `hex`.
    fn bytes_literal(&self, hex: &str) -> String {
        match self.kind {
            Kind::Postgres => format!("decode('{hex}', 'hex')"),
            _ => format!("X'{hex}'"),
        }
    }

    /// The type of a key or text column.
    fn text(&self) -> &'static str {
        match self.kind {
            Kind::MariaDb => "VARCHAR(200)",
            _ => "TEXT",
        }
    }

    /// A query that takes about `seconds` and returns the key.
    fn slow_query(&self, seconds: u32) -> Option<String> {
        match self.kind {
            Kind::Postgres => Some(format!("SELECT $1::text FROM pg_sleep({seconds})")),
            Kind::MariaDb => Some(format!(
                "SELECT CAST(? AS CHAR) FROM (SELECT SLEEP({seconds})) s"
            )),
            // SQLite cannot be stopped once it runs (the worker thread
            // keeps going), so it has no slow query here.
            Kind::Sqlite => None,
        }
    }

    /// Runs `sql` (statements separated by `;`) on a connection of its own.
    async fn exec(&self, sql: &str) {
        let run = async {
            match self.kind {
                Kind::Sqlite => {
                    let mut c = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url)?
                        .connect()
                        .await?;
                    sqlx::raw_sql(sql).execute(&mut c).await?;
                    c.close().await
                }
                Kind::Postgres => {
                    let mut o = sqlx::postgres::PgConnectOptions::from_str(&self.url)?;
                    if let Some(p) = &self.password {
                        o = o.password(p);
                    }
                    let mut c = o.connect().await?;
                    sqlx::raw_sql(sql).execute(&mut c).await?;
                    c.close().await
                }
                Kind::MariaDb => {
                    let mut o = sqlx::mysql::MySqlConnectOptions::from_str(&self.url)?;
                    if let Some(p) = &self.password {
                        o = o.password(p);
                    }
                    let mut c = o.connect().await?;
                    sqlx::raw_sql(sql).execute(&mut c).await?;
                    c.close().await
                }
            }
        };
        let r: Result<(), sqlx::Error> = run.await;
        r.unwrap_or_else(|e| panic!("{:?}: {e}", self.kind));
    }

    /// A builder for `query`, the password given apart.
    fn builder(&self, query: &str) -> SqlSourceBuilder {
        let mut b = SqlSource::builder(&self.url).query(query);
        if let Some(p) = &self.password {
            b = b.password(Password::new(p.clone()));
        }
        b
    }

    /// Creates `name`(k, v bytes, t text, ttl int, n int) with `rows` of
    /// (k, v as hex or NULL, t, ttl).
    async fn items(&self, name: &str, rows: &[(&str, Option<&str>, &str, Option<i64>)]) -> String {
        let table = self.table(name);
        let mut sql = format!(
            "CREATE TABLE {table} (id INTEGER NOT NULL, k {text} NOT NULL, v {blob}, t {text}, ttl INTEGER)",
            text = self.text(),
            blob = self.blob()
        );
        for (i, (k, v, t, ttl)) in rows.iter().enumerate() {
            let v = v.map_or("NULL".to_owned(), |h| self.bytes_literal(h));
            let ttl = ttl.map_or("NULL".to_owned(), |s| s.to_string());
            sql.push_str(&format!(
                "; INSERT INTO {table} (id, k, v, t, ttl) VALUES ({i}, '{k}', {v}, '{t}', {ttl})"
            ));
        }
        self.exec(&sql).await;
        table
    }

    /// Strings that must not appear in a message: the password and `query`.
    fn assert_clean(&self, message: &str, query: &str) {
        assert!(
            !message.contains(query),
            "{:?}: the query shows: {message}",
            self.kind
        );
        assert!(
            !message.contains(PASSWORD_MARK),
            "{:?}: the password shows: {message}",
            self.kind
        );
        if let Some(p) = &self.password {
            assert!(!message.contains(p.as_str()), "{message}");
        }
    }
}

/// A table prefix unique to `test` in this process.
fn prefix(test: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "t{}_{}_{test}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Loads `key`.
async fn load(source: &SqlSource, key: &str) -> Result<Loaded, CoreError> {
    use groupcache::core::Getter;
    source.get(key, &LoadContext::new()).await
}

/// A source failure's text (panics on any other outcome).
fn failure(outcome: Result<Loaded, CoreError>) -> String {
    match outcome {
        Err(CoreError::SourceFailed(text)) => text.to_string(),
        other => panic!("expected a source failure, got {other:?}"),
    }
}

/// Runs `scenario` on SQLite, PostgreSQL and MariaDB, one test each,
/// bounded by [`BOUND`].
macro_rules! on_every_database {
    ($scenario:ident) => {
        mod $scenario {
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let db = Db::sqlite(stringify!($scenario));
                tokio::time::timeout(BOUND, super::$scenario(db))
                    .await
                    .unwrap();
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(db) = Db::server(Kind::Postgres, stringify!($scenario)) {
                    tokio::time::timeout(BOUND, super::$scenario(db))
                        .await
                        .unwrap();
                }
            }

            #[tokio::test]
            async fn mariadb() {
                if let Some(db) = Db::server(Kind::MariaDb, stringify!($scenario)) {
                    tokio::time::timeout(BOUND, super::$scenario(db))
                        .await
                        .unwrap();
                }
            }
        }
    };
}

/// Bytes come back exactly (not UTF-8 ones too), text as its UTF-8
/// bytes; of several rows the first is the value; no row and a NULL
/// value are NOT_FOUND.
async fn values(db: Db) {
    let table = db
        .items(
            "values",
            &[
                ("bin", Some("00ff80"), "é", None),
                ("two", Some("01"), "first", None),
                ("two", Some("02"), "second", None),
                ("null", None, "x", None),
            ],
        )
        .await;
    let ph = db.ph();
    let bytes = db
        .builder(&format!("SELECT v FROM {table} WHERE k = {ph} ORDER BY id"))
        .connect()
        .await
        .unwrap();
    assert_eq!(
        load(&bytes, "bin").await.unwrap(),
        Loaded::new(vec![0u8, 0xff, 0x80])
    );
    assert_eq!(load(&bytes, "two").await.unwrap().value.as_ref(), [1u8]);
    assert_eq!(load(&bytes, "absent").await, Err(CoreError::NotFound));
    assert_eq!(load(&bytes, "null").await, Err(CoreError::NotFound));
    let text = db
        .builder(&format!(
            "SELECT t, id FROM {table} WHERE k = {ph} ORDER BY id DESC"
        ))
        .connect()
        .await
        .unwrap();
    assert_eq!(
        load(&text, "bin").await.unwrap().value.as_ref(),
        "é".as_bytes()
    );
    assert_eq!(load(&text, "two").await.unwrap().value.as_ref(), b"second");
    // A key with quotes and a placeholder in it is only ever a value.
    assert_eq!(load(&text, "x' OR '1'='1").await, Err(CoreError::NotFound));
    assert_eq!(load(&text, "?").await, Err(CoreError::NotFound));
}
on_every_database!(values);

/// The TTL column's seconds become the value's time to live; NULL is
/// none; zero keeps nothing.
async fn ttl_column(db: Db) {
    let table = db
        .items(
            "ttl",
            &[
                ("a", Some("61"), "a", Some(60)),
                ("b", Some("62"), "b", None),
                ("c", Some("63"), "c", Some(0)),
            ],
        )
        .await;
    let source = db
        .builder(&format!(
            "SELECT v, ttl AS expires FROM {table} WHERE k = {}",
            db.ph()
        ))
        .ttl_column("expires")
        .connect()
        .await
        .unwrap();
    let a = load(&source, "a").await.unwrap();
    assert_eq!(
        (a.value.as_ref(), a.ttl),
        (&b"a"[..], Some(Duration::from_secs(60)))
    );
    assert_eq!(load(&source, "b").await.unwrap().ttl, None);
    assert_eq!(load(&source, "c").await.unwrap().ttl, Some(Duration::ZERO));
    let err = db
        .builder(&format!("SELECT v FROM {table} WHERE k = {}", db.ph()))
        .ttl_column("expires")
        .connect()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no TTL column \"expires\""), "{err}");
}
on_every_database!(ttl_column);

/// At start: a query with no parameter or two, a syntax error, a missing
/// table, a value column of another type: each a configuration error
/// (exit 2) that says what is wrong and quotes neither the query nor the
/// password.
async fn bad_queries(db: Db) {
    let table = db.items("bad", &[("a", Some("61"), "a", Some(1))]).await;
    let ph = db.ph();
    let two = match db.kind {
        Kind::Postgres => format!("SELECT v FROM {table} WHERE k = $1 AND t = $2"),
        _ => format!("SELECT v FROM {table} WHERE k = ? AND t = ?"),
    };
    for (query, needle) in [
        (
            format!("SELECT v FROM {table} WHERE k = 'a'"),
            "has 0 parameters",
        ),
        // A placeholder inside a string literal is no parameter.
        (
            format!("SELECT v FROM {table} WHERE k = '{ph}'"),
            "has 0 parameters",
        ),
        (two, "has 2 parameters"),
        (
            format!("SELEKT v FROM {table} WHERE k = {ph}"),
            "refused the query",
        ),
        (
            format!("SELECT v FROM {table}_missing WHERE k = {ph}"),
            "refused the query",
        ),
        (
            format!("SELECT ttl FROM {table} WHERE k = {ph}"),
            "select it as text or bytes",
        ),
    ] {
        let err = db.builder(&query).connect().await.unwrap_err();
        assert_eq!(err.exit_code(), groupcache::EXIT_USAGE, "{query}: {err}");
        let text = err.to_string();
        assert!(text.contains(needle), "{:?} {query}: {text}", db.kind);
        db.assert_clean(&text, &query);
    }
}
on_every_database!(bad_queries);

/// At run time: a database error (the table dropped after the start), a
/// value over the size limit and a query over its timeout are source
/// failures naming the database, quoting neither the query nor the
/// password.
async fn failures(db: Db) {
    let table = db
        .items("fail", &[("big", Some("00112233445566778899"), "b", None)])
        .await;
    let query = format!("SELECT v FROM {table} WHERE k = {}", db.ph());
    let small = db
        .builder(&query)
        .max_value_bytes(9)
        .connect()
        .await
        .unwrap();
    let text = failure(load(&small, "big").await);
    assert!(text.contains("over the maximum value size"), "{text}");
    db.exec(&format!("DROP TABLE {table}")).await;
    let text = failure(load(&small, "big").await);
    assert!(text.contains("database error"), "{text}");
    db.assert_clean(&text, &query);
    if let Some(slow) = db.slow_query(3) {
        let source = db
            .builder(&slow)
            .options(SqlOptions {
                query_timeout: Duration::from_millis(300),
                ..SqlOptions::default()
            })
            .connect()
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let text = failure(load(&source, "k").await);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(
            text.contains("ran longer than 300ms") || text.contains("database error"),
            "{text}"
        );
        db.assert_clean(&text, &slow);
    }
}
on_every_database!(failures);

/// A group over the source loads a key once however often it is got.
async fn group_loads_once(db: Db) {
    let table = db.items("group", &[("k", Some("76"), "v", None)]).await;
    let query = format!("SELECT v FROM {table} WHERE k = {}", db.ph());
    let source = db.builder(&query).connect().await.unwrap();
    let group = GroupBuilder::new("items", 1 << 20, source).build().unwrap();
    for _ in 0..3 {
        assert_eq!(group.get("k").await.unwrap().as_ref(), b"v");
    }
    let stats = group.stats();
    assert_eq!(stats.local_loads, 1, "{stats:?}");
}
on_every_database!(group_loads_once);

/// An unreachable database at start is an I/O error (exit 1) naming it
/// without the password.
#[tokio::test]
async fn unreachable_at_start() {
    let port = cli_support::free_ports(1)[0];
    for (url, query) in [
        (
            format!("postgres://gc:{PASSWORD_MARK}x@127.0.0.1:{port}/gc"),
            "SELECT 'v' WHERE $1 = 'k'",
        ),
        (
            format!("mysql://gc:{PASSWORD_MARK}x@127.0.0.1:{port}/gc"),
            "SELECT 'v' FROM DUAL WHERE ? = 'k'",
        ),
        (
            "sqlite:///definitely/not/here.db".to_owned(),
            "SELECT 'v' WHERE ? = 'k'",
        ),
    ] {
        let err = SqlSource::builder(&url)
            .query(query)
            .options(SqlOptions {
                connect_timeout: Duration::from_secs(2),
                ..SqlOptions::default()
            })
            .connect()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{url}: {err:?}");
        assert_eq!(err.exit_code(), groupcache::EXIT_FAILURE);
        let text = err.to_string();
        assert!(text.contains("cannot connect to the database"), "{text}");
        assert!(
            !text.contains(PASSWORD_MARK) && !text.contains(query),
            "{text}"
        );
    }
}

/// The password given each way a user can (in the URL, apart) works; a
/// wrong one is an error at start that does not quote it.
async fn passwords(db: Db) {
    let Some(password) = db.password.clone() else {
        return;
    };
    let query = match db.kind {
        Kind::Postgres => "SELECT 'v'::text WHERE $1 = 'k'",
        _ => "SELECT 'v' FROM DUAL WHERE ? = 'k'",
    };
    let with_password = |p: &str| {
        let (scheme, rest) = db.url.split_once("://").unwrap();
        let (user, host) = rest.split_once('@').unwrap();
        format!("{scheme}://{user}:{p}@{host}")
    };
    let in_url = SqlSource::builder(&with_password(&password))
        .query(query)
        .connect()
        .await
        .unwrap();
    assert_eq!(load(&in_url, "k").await.unwrap().value.as_ref(), b"v");
    assert_eq!(
        load(&db.builder(query).connect().await.unwrap(), "k")
            .await
            .unwrap()
            .value
            .as_ref(),
        b"v"
    );
    let wrong = format!("{PASSWORD_MARK}wrong");
    for builder in [
        SqlSource::builder(&with_password(&wrong)).query(query),
        SqlSource::builder(&db.url)
            .query(query)
            .password(Password::new(wrong.clone())),
    ] {
        let err = builder.connect().await.unwrap_err();
        assert_eq!(err.exit_code(), groupcache::EXIT_FAILURE, "{err}");
        let text = err.to_string();
        assert!(text.contains("cannot connect to the database"), "{text}");
        db.assert_clean(&text, query);
        assert!(!text.contains(&wrong), "{text}");
    }
}
on_every_database!(passwords);

/// `groupcache serve --group items=sql:sqlite:...` answers Get with the
/// row's value, NOT_FOUND without a row, and UNAVAILABLE once the table
/// is gone; its log then names the failure without the query. A query
/// with two parameters stops the start (exit 2) with a clear message.
#[tokio::test]
async fn serve_process() {
    tokio::time::timeout(BOUND, async {
        let db = Db::sqlite("serve");
        let table = db
            .items("serve", &[("k", Some("68656c6c6f"), "t", None)])
            .await;
        let query = format!("SELECT v FROM {table} WHERE k = ?");
        let dir = cli_support::TempDir::new("sql");
        let port = cli_support::free_ports(1)[0];
        let addr = format!("127.0.0.1:{port}");
        let args = vec![
            "--listen".to_owned(),
            addr.clone(),
            format!("--group=items=sql:{} {query}", db.url),
        ];
        let mut node = cli_support::spawn_node(&addr, &args, &[], &dir.0);
        assert!(
            cli_support::wait_ready(&mut node).await,
            "{}",
            node.log_text()
        );
        let hit = cli_support::get(&addr, "items", "k").await;
        assert_eq!(hit.code, Some(0), "{}", hit.stderr);
        assert_eq!(hit.stdout, b"hello");
        let miss = cli_support::get(&addr, "items", "nope").await;
        assert_eq!(miss.code, Some(3), "{}", miss.stderr);
        assert!(miss.stderr.contains("NOT_FOUND"), "{}", miss.stderr);
        db.exec(&format!("DROP TABLE {table}")).await;
        let failed = cli_support::get(&addr, "items", "other").await;
        assert!(failed.stderr.contains("UNAVAILABLE"), "{}", failed.stderr);
        assert!(!failed.stderr.contains("SELECT"), "{}", failed.stderr);
        let log = node.log_text();
        assert!(log.contains("no such table"), "{log}");
        assert!(!log.contains(&query), "{log}");
        node.sigkill();

        let table = db.items("serve2", &[("k", Some("68"), "t", None)]).await;
        let two = format!("--sql-query=items=SELECT v FROM {table} WHERE k = ? OR k = ?");
        let out = cli_support::run(&[
            "serve",
            "--listen",
            &addr,
            &format!("--group=items=sql:{}", db.url),
            &two,
        ])
        .await;
        assert_eq!(out.code, Some(2), "{}", out.stderr);
        assert!(out.stderr.contains("group \"items\""), "{}", out.stderr);
        assert!(out.stderr.contains("exactly one"), "{}", out.stderr);
        assert!(!out.stderr.contains("OR k"), "{}", out.stderr);
    })
    .await
    .unwrap();
}

/// Loads share the pool: many at once with one connection all succeed,
/// waiting their turn.
#[tokio::test]
async fn one_connection_serves_many() {
    let db = Db::sqlite("pool");
    let table = db.items("pool", &[("k", Some("76"), "v", None)]).await;
    let source = Arc::new(
        db.builder(&format!("SELECT v FROM {table} WHERE k = ?"))
            .options(SqlOptions {
                max_connections: 1,
                ..SqlOptions::default()
            })
            .connect()
            .await
            .unwrap(),
    );
    let loads = (0..16).map(|_| {
        let source = Arc::clone(&source);
        tokio::spawn(async move { load(&source, "k").await })
    });
    for outcome in futures::future::join_all(loads).await {
        assert_eq!(outcome.unwrap().unwrap().value.as_ref(), b"v");
    }
}
