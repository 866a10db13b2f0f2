//! One enum arm per compiled-in driver: the connection options built from
//! the URL and the password, the pool, and the dispatch of
//! [`query::check`] and [`query::load`] to the driver's types.
//!
//! Every arm sits behind its Cargo feature (`sql-postgres`, `sql-mysql`,
//! `sql-sqlite`); a build with none has `driver_none.rs` instead, whose
//! enums are empty: a `sql:` source cannot be built there (see
//! [`Driver::is_compiled`]). Connection options turn
//! sqlx's statement logs off: they would print the query's text.

use std::time::Duration;

use bytes::Bytes;
use sqlx::{ConnectOptions, Connection, pool::PoolOptions};

use super::outcome::{Problem, Shape};
use super::query;
use super::spec::{Driver, SqlSpec};
use super::{Password, SqlOptions};

/// A driver's connection options, password applied.
#[derive(Clone)]
pub(super) enum Options {
    /// PostgreSQL.
    #[cfg(feature = "sql-postgres")]
    Postgres(sqlx::postgres::PgConnectOptions),
    /// MySQL and MariaDB.
    #[cfg(feature = "sql-mysql")]
    MySql(sqlx::mysql::MySqlConnectOptions),
    /// SQLite.
    #[cfg(feature = "sql-sqlite")]
    Sqlite(sqlx::sqlite::SqliteConnectOptions),
}

/// A driver's connection pool (a handle: clones share it).
#[derive(Clone)]
pub(super) enum Pools {
    /// PostgreSQL.
    #[cfg(feature = "sql-postgres")]
    Postgres(sqlx::PgPool),
    /// MySQL and MariaDB.
    #[cfg(feature = "sql-mysql")]
    MySql(sqlx::MySqlPool),
    /// SQLite.
    #[cfg(feature = "sql-sqlite")]
    Sqlite(sqlx::SqlitePool),
}

impl Options {
    /// Options from `spec`'s URL, with `password` (when the URL has none)
    /// and the query timeout (PostgreSQL's `statement_timeout`, so that
    /// the server stops a query the source gave up on). The error quotes
    /// neither the URL nor the password; `None` when the driver is not
    /// compiled in.
    #[allow(unused_variables)] // `password` and `options`: not by every driver.
    pub(super) fn new(
        spec: &SqlSpec,
        password: Option<&Password>,
        options: &SqlOptions,
    ) -> Option<Result<Options, String>> {
        let url = spec.secret_url();
        let bad = |e: sqlx::Error| format!("bad {} URL: {e}", spec.driver().name());
        Some(match spec.driver() {
            #[cfg(feature = "sql-postgres")]
            Driver::Postgres => url
                .parse::<sqlx::postgres::PgConnectOptions>()
                .map_err(bad)
                .map(|mut o| {
                    if let Some(p) = password {
                        o = o.password(p.expose());
                    }
                    let ms = options.query_timeout.as_millis().max(1).to_string();
                    Options::Postgres(
                        o.options([("statement_timeout", ms.as_str())])
                            .application_name("groupcache")
                            .disable_statement_logging(),
                    )
                }),
            #[cfg(feature = "sql-mysql")]
            Driver::MySql => {
                // sqlx reads any scheme as MySQL; `mariadb://` is ours.
                let url = match url.split_once("://") {
                    Some((_, rest)) => format!("mysql://{rest}"),
                    None => url.to_owned(),
                };
                url.parse::<sqlx::mysql::MySqlConnectOptions>()
                    .map_err(bad)
                    .map(|mut o| {
                        if let Some(p) = password {
                            o = o.password(p.expose());
                        }
                        Options::MySql(o.disable_statement_logging())
                    })
            }
            #[cfg(feature = "sql-sqlite")]
            Driver::Sqlite => url
                .parse::<sqlx::sqlite::SqliteConnectOptions>()
                .map_err(bad)
                .map(|o| Options::Sqlite(o.disable_statement_logging())),
            #[allow(unreachable_patterns)]
            _ => return None,
        })
    }

    /// A pool over these options (no connection made yet). Needs a tokio
    /// runtime: the pool starts its idle-connection reaper.
    pub(super) fn pool(&self, options: &SqlOptions) -> Pools {
        fn opts<DB: sqlx::Database>(o: &SqlOptions) -> PoolOptions<DB> {
            PoolOptions::new()
                .max_connections(o.max_connections)
                .min_connections(0)
                .acquire_timeout(o.connect_timeout)
        }
        match self {
            #[cfg(feature = "sql-postgres")]
            Options::Postgres(c) => Pools::Postgres(opts(options).connect_lazy_with(c.clone())),
            #[cfg(feature = "sql-mysql")]
            Options::MySql(c) => Pools::MySql(opts(options).connect_lazy_with(c.clone())),
            #[cfg(feature = "sql-sqlite")]
            Options::Sqlite(c) => Pools::Sqlite(opts(options).connect_lazy_with(c.clone())),
            #[allow(unreachable_patterns)]
            _ => unreachable!("no SQL driver is compiled in"),
        }
    }

    /// Connects once (bounded by `timeout`) and checks `sql` on that
    /// connection, closed afterwards. `Err(Ok(problem))` is a problem with
    /// the query, `Err(Err(problem))` one reaching the database.
    pub(super) async fn check(
        &self,
        sql: &str,
        ttl_column: Option<&str>,
        timeout: Duration,
    ) -> Result<Shape, Result<Problem, Problem>> {
        macro_rules! check_with {
            ($db:ty, $opts:expr, $placeholder:expr) => {{
                let connect = <<$db as sqlx::Database>::Connection>::connect_with($opts);
                let mut conn = tokio::time::timeout(timeout, connect)
                    .await
                    .map_err(|_| Err(Problem::Timeout))?
                    .map_err(|e| Err(Problem::from(e)))?;
                let shape = query::check::<$db>(&mut conn, sql, $placeholder, ttl_column).await;
                // The check is done: how the connection closes does not matter.
                let _ = conn.close().await;
                shape.map_err(Ok)
            }};
        }
        match self {
            #[cfg(feature = "sql-postgres")]
            Options::Postgres(o) => check_with!(sqlx::Postgres, o, "$1"),
            #[cfg(feature = "sql-mysql")]
            Options::MySql(o) => check_with!(sqlx::MySql, o, "?"),
            #[cfg(feature = "sql-sqlite")]
            Options::Sqlite(o) => check_with!(sqlx::Sqlite, o, "?"),
            #[allow(unreachable_patterns)]
            _ => unreachable!("no SQL driver is compiled in"),
        }
    }
}

impl Pools {
    /// [`query::load`] on this pool.
    pub(super) async fn load(
        &self,
        sql: &str,
        key: &str,
        shape: Shape,
        timeout: Duration,
        max_value_bytes: u64,
    ) -> Result<(Bytes, Option<Duration>), Problem> {
        match self {
            #[cfg(feature = "sql-postgres")]
            Pools::Postgres(p) => query::load(p, sql, key, shape, timeout, max_value_bytes).await,
            #[cfg(feature = "sql-mysql")]
            Pools::MySql(p) => query::load(p, sql, key, shape, timeout, max_value_bytes).await,
            #[cfg(feature = "sql-sqlite")]
            Pools::Sqlite(p) => query::load(p, sql, key, shape, timeout, max_value_bytes).await,
            #[allow(unreachable_patterns)]
            _ => unreachable!("no SQL driver is compiled in"),
        }
    }

    /// Closes every connection (loads in progress finish first).
    pub(super) async fn close(&self) {
        match self {
            #[cfg(feature = "sql-postgres")]
            Pools::Postgres(p) => p.close().await,
            #[cfg(feature = "sql-mysql")]
            Pools::MySql(p) => p.close().await,
            #[cfg(feature = "sql-sqlite")]
            Pools::Sqlite(p) => p.close().await,
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }
}
