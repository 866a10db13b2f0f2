//! `sql:URL [QUERY]`: each key is loaded by a query with one parameter,
//! the key, from PostgreSQL, MySQL/MariaDB or SQLite (through sqlx).
//!
//! A load:
//! 1. takes a connection from the source's pool (at most
//!    [`SqlOptions::max_connections`]; waiting for one, or connecting a
//!    new one, at most [`SqlOptions::connect_timeout`]);
//! 2. runs the query with the key bound as text (`$1` in PostgreSQL, `?`
//!    in MySQL and SQLite), for at most [`SqlOptions::query_timeout`];
//! 3. reads the **first row**: its first column is the value, bytes
//!    (`bytea`, `BLOB`) or text, at most the maximum value size; further
//!    rows are read and dropped (make the key column unique, or add
//!    `LIMIT 1`);
//! 4. with a TTL column named, reads that column of the same row as
//!    seconds to live: NULL is no expiry, zero or less is "serve this get,
//!    keep nothing", more than a year is a year.
//!
//! No row, or a NULL value, is [`CoreError::NotFound`] (`NOT_FOUND`); a
//! database error, a connection that cannot be had in time or a query
//! over its timeout is [`CoreError::SourceFailed`] (`UNAVAILABLE`), whose
//! text (logged, never sent to clients) names the database by its URL
//! without the password and never quotes the query.
//!
//! # At start
//! [`SqlSource::check`] (which [`SqlSourceBuilder::connect`] and
//! `groupcache serve` call before serving) connects once and prepares the
//! query, so a query with other than exactly one parameter, a syntax
//! error, a missing table or column, or a value column that is neither
//! bytes nor text is a configuration error then, not a failure of every
//! load. A database that cannot be reached then is an error too: `serve`
//! exits (status 1) rather than serve a group whose every load fails; its
//! supervisor restarts it. A source never checked checks itself on its
//! first load (and again after a failed check).
//!
//! # Layout
//! - `spec.rs`: [`SqlSpec`] and [`Driver`], the `sql:URL [QUERY]` syntax;
//! - `credentials.rs`: [`Password`], where passwords come from, redaction;
//! - `driver.rs`: one enum arm per compiled-in driver (`driver_none.rs`
//!   when there is none);
//! - `query.rs`: the check and the load, once for every driver;
//! - `outcome.rs`: what they end with.

// Without a driver nothing past the builder's check can run: what only a
// driver would use is dead there, and that is expected.
#![cfg_attr(
    not(any(
        feature = "sql-postgres",
        feature = "sql-mysql",
        feature = "sql-sqlite"
    )),
    allow(dead_code, unused_variables)
)]

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cache_core::{Error as CoreError, Getter, LoadContext, Loaded};

use crate::Error;
use crate::source::bounded;

mod credentials;
#[cfg(any(
    feature = "sql-postgres",
    feature = "sql-mysql",
    feature = "sql-sqlite"
))]
mod driver;
#[cfg(not(any(
    feature = "sql-postgres",
    feature = "sql-mysql",
    feature = "sql-sqlite"
)))]
#[path = "driver_none.rs"]
mod driver;
mod outcome;
#[cfg(any(
    feature = "sql-postgres",
    feature = "sql-mysql",
    feature = "sql-sqlite"
))]
mod query;
mod spec;
#[cfg(test)]
mod tests;

pub use credentials::{Password, password_variable};
pub use spec::{Driver, SqlSpec};

use credentials::Redactor;
use outcome::{Problem, Shape};

/// The default of [`SqlOptions::max_connections`].
pub const DEFAULT_SQL_MAX_CONNECTIONS: u32 = 8;
/// The default of [`SqlOptions::connect_timeout`].
pub const DEFAULT_SQL_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default of [`SqlOptions::query_timeout`].
pub const DEFAULT_SQL_QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// The pool and timeouts of every `sql:` source of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlOptions {
    /// Connections each source keeps open at most, so queries in flight at
    /// once; a load beyond them waits for one to come free.
    pub max_connections: u32,
    /// Longest wait for a connection, a free one of the pool or a new one
    /// (and the bound of the connection made by the start check).
    pub connect_timeout: Duration,
    /// Longest a query may run (PostgreSQL is told too, as
    /// `statement_timeout`, so that the server stops it as well).
    pub query_timeout: Duration,
}

impl Default for SqlOptions {
    fn default() -> Self {
        SqlOptions {
            max_connections: DEFAULT_SQL_MAX_CONNECTIONS,
            connect_timeout: DEFAULT_SQL_CONNECT_TIMEOUT,
            query_timeout: DEFAULT_SQL_QUERY_TIMEOUT,
        }
    }
}

/// A [`Getter`] that loads each key with an SQL query; see the module doc.
///
/// A cheap handle (an `Arc` inside): clones share the pool.
#[derive(Clone)]
pub struct SqlSource {
    inner: Arc<Inner>,
}

/// What the clones of a [`SqlSource`] share.
struct Inner {
    /// The database, by its URL without the password (`Display`ed in
    /// every failure).
    redacted_url: String,
    /// The query: never printed.
    query: String,
    /// The TTL column's name, if any.
    ttl_column: Option<String>,
    /// Pool size and timeouts.
    options: SqlOptions,
    /// Values above this many bytes are refused.
    max_value_bytes: u64,
    /// How to connect, password included: never printed.
    connect: driver::Options,
    /// Removes the password and the query from database messages.
    redactor: Redactor,
    /// Set once, by the first successful check: the pool and what the
    /// check found. A failed check leaves it empty, to be tried again.
    ready: tokio::sync::OnceCell<Ready>,
}

/// A checked source's pool.
struct Ready {
    /// The connections (loads use these, never the check's).
    pool: driver::Pools,
    /// Where the TTL column is.
    shape: Shape,
}

impl SqlSource {
    /// A builder for a source on `url` (`postgres://...`, `mysql://...`,
    /// `sqlite:...`); the query is given with [`SqlSourceBuilder::query`].
    pub fn builder(url: &str) -> SqlSourceBuilder {
        SqlSourceBuilder::from_spec(SqlSpec::new(url, None))
    }

    /// Connects and checks the query (see the module doc), once: after it
    /// succeeded, calling it again does nothing. Connecting is bounded by
    /// the connect timeout. A problem with the query is an
    /// [`Error::Config`]; failing to reach the database an [`Error::Io`].
    /// Neither quotes the password or the query.
    pub async fn check(&self) -> Result<(), Error> {
        self.ready().await.map(drop)
    }

    /// Closes the pool's connections (loads in progress finish first).
    /// Loads after this fail.
    pub async fn close(&self) {
        if let Some(ready) = self.inner.ready.get() {
            ready.pool.close().await;
        }
    }

    /// The checked pool, checking first if need be.
    async fn ready(&self) -> Result<&Ready, Error> {
        let inner = &self.inner;
        inner
            .ready
            .get_or_try_init(|| async {
                let shape = inner
                    .connect
                    .check(
                        &inner.query,
                        inner.ttl_column.as_deref(),
                        inner.options.connect_timeout,
                    )
                    .await
                    .map_err(|e| self.check_error(e))?;
                Ok(Ready {
                    pool: inner.connect.pool(&inner.options),
                    shape,
                })
            })
            .await
    }

    /// A check's failure as an error of the node (see [`SqlSource::check`]).
    fn check_error(&self, e: Result<Problem, Problem>) -> Error {
        let inner = &self.inner;
        let unreachable = |detail: String| {
            Error::io(
                format!("cannot connect to the database {}", inner.redacted_url),
                std::io::Error::other(detail),
            )
        };
        match e {
            Ok(Problem::Sql(text)) => Error::config(format!(
                "the database refused the query: {}",
                inner.redactor.clean(&text)
            )),
            Ok(Problem::Shape(text)) => Error::config(text),
            Ok(other) | Err(other) => match other {
                Problem::Timeout | Problem::PoolTimedOut => unreachable(format!(
                    "no connection within the connect timeout of {}",
                    humantime::format_duration(inner.options.connect_timeout)
                )),
                Problem::Sql(text) => unreachable(inner.redactor.clean(&text)),
                Problem::Shape(text) => unreachable(text),
                Problem::NoValue => unreachable("no answer".to_owned()),
            },
        }
    }

    /// A load's failure as the core error it stands for.
    fn load_error(&self, problem: Problem) -> CoreError {
        let inner = &self.inner;
        let failed = |what: String| {
            CoreError::source_failed(format!("sql source {}: {what}", inner.redacted_url))
        };
        match problem {
            Problem::NoValue => CoreError::NotFound,
            Problem::Sql(text) => failed(inner.redactor.clean(&text)),
            Problem::Shape(text) => failed(text),
            Problem::PoolTimedOut => failed(format!(
                "no connection came free within {} ({} in use, or the database is unreachable)",
                humantime::format_duration(inner.options.connect_timeout),
                inner.options.max_connections
            )),
            Problem::Timeout => failed(format!(
                "the query ran longer than {}",
                humantime::format_duration(inner.options.query_timeout)
            )),
        }
    }
}

#[async_trait]
impl Getter for SqlSource {
    async fn get(&self, key: &str, ctx: &LoadContext) -> Result<Loaded, CoreError> {
        bounded(ctx, async {
            let ready = self.ready().await.map_err(|e| {
                CoreError::source_failed(format!("sql source {}: {e}", self.inner.redacted_url))
            })?;
            let inner = &self.inner;
            let (value, ttl) = ready
                .pool
                .load(
                    &inner.query,
                    key,
                    ready.shape,
                    inner.options.query_timeout,
                    inner.max_value_bytes,
                )
                .await
                .map_err(|p| self.load_error(p))?;
            let loaded = Loaded::new(value);
            Ok(match ttl {
                Some(ttl) => loaded.with_ttl(ttl),
                None => loaded,
            })
        })
        .await
    }
}

impl fmt::Debug for SqlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("SqlSource")
            .field("url", &inner.redacted_url)
            .field("ttl_column", &inner.ttl_column)
            .field("options", &inner.options)
            .field("max_value_bytes", &inner.max_value_bytes)
            .field("checked", &inner.ready.initialized())
            .finish_non_exhaustive()
    }
}

/// Builds a [`SqlSource`]; [`build`](Self::build) validates,
/// [`connect`](Self::connect) also checks the query against the database.
#[derive(Debug)]
#[must_use]
pub struct SqlSourceBuilder {
    /// The URL (and a query given in a `sql:` spec), or why it is bad.
    spec: Result<SqlSpec, Error>,
    /// The query (required, here or in the spec).
    query: Option<String>,
    /// Default: none.
    ttl_column: Option<String>,
    /// Default: the URL's, else the driver's own.
    password: Option<Password>,
    /// Default: [`SqlOptions::default`].
    options: SqlOptions,
    /// Default: 8 MiB, `serve`'s `--max-value-bytes`.
    max_value_bytes: u64,
}

impl SqlSourceBuilder {
    /// A builder for a parsed `sql:` spec (its query, if it has one, is
    /// the query).
    pub fn from_spec(spec: Result<SqlSpec, Error>) -> SqlSourceBuilder {
        SqlSourceBuilder {
            spec,
            query: None,
            ttl_column: None,
            password: None,
            options: SqlOptions::default(),
            max_value_bytes: 8 << 20,
        }
    }

    /// The query: one parameter, the key; the value in its first column.
    /// Required unless the spec holds it (giving both is an error).
    pub fn query(mut self, query: impl Into<String>) -> Self {
        self.query = Some(query.into());
        self
    }

    /// The column of the query's result holding seconds to live. Default:
    /// none, values never expire.
    pub fn ttl_column(mut self, column: impl Into<String>) -> Self {
        self.ttl_column = Some(column.into());
        self
    }

    /// The password, when the URL has none. Default: the driver's own
    /// (for PostgreSQL `PGPASSWORD` or `~/.pgpass`).
    pub fn password(mut self, password: Password) -> Self {
        self.password = Some(password);
        self
    }

    /// Pool size and timeouts. Default: [`SqlOptions::default`].
    pub fn options(mut self, options: SqlOptions) -> Self {
        self.options = options;
        self
    }

    /// The largest value served. Default: 8 MiB.
    pub fn max_value_bytes(mut self, max: u64) -> Self {
        self.max_value_bytes = max;
        self
    }

    /// Validates the settings and builds the source, unconnected (its
    /// first [`check`](SqlSource::check) or load connects).
    pub fn build(self) -> Result<SqlSource, Error> {
        let spec = self.spec?;
        let driver = spec.driver();
        if !driver.is_compiled() {
            return Err(Error::config(format!(
                "this build has no {} driver (Cargo feature {} of groupcache)",
                driver.name(),
                driver.feature()
            )));
        }
        let query = match (spec.query(), self.query) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    "the query is given twice, in the sql: spec and apart: give it once",
                ));
            }
            (Some(q), None) => q.to_owned(),
            (None, Some(q)) => q,
            (None, None) => {
                return Err(Error::config(format!(
                    "sql: needs a query with one parameter, the key ({}): after the URL and a \
                     space, or with --sql-query NAME=QUERY",
                    driver.placeholder()
                )));
            }
        };
        if query.trim().is_empty() {
            return Err(Error::config("the SQL query is empty"));
        }
        let url_password = spec.url_password();
        if url_password.is_some() && self.password.is_some() {
            return Err(Error::config(
                "the database URL holds a password and another is given (a file or a \
                 variable): give it once",
            ));
        }
        if self
            .ttl_column
            .as_deref()
            .is_some_and(|c| c.trim().is_empty())
        {
            return Err(Error::config("the TTL column name is empty"));
        }
        let o = self.options;
        if o.max_connections == 0 {
            return Err(Error::config("the SQL connection limit must be above zero"));
        }
        if o.connect_timeout.is_zero() || o.query_timeout.is_zero() {
            return Err(Error::config(
                "the SQL connect and query timeouts must be above zero",
            ));
        }
        if self.max_value_bytes == 0 {
            return Err(Error::config("the maximum value size must be above zero"));
        }
        let secret = url_password.or_else(|| self.password.as_ref().map(|p| p.expose().to_owned()));
        let redactor = Redactor::new(secret.as_deref(), &query);
        let connect = driver::Options::new(&spec, self.password.as_ref(), &o)
            .ok_or_else(|| Error::config("no SQL driver is compiled in"))?
            .map_err(|e| Error::config(redactor.clean(&e)))?;
        Ok(SqlSource {
            inner: Arc::new(Inner {
                redacted_url: spec.redacted_url(),
                query,
                ttl_column: self.ttl_column,
                options: o,
                max_value_bytes: self.max_value_bytes,
                connect,
                redactor,
                ready: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// [`build`](Self::build), then [`SqlSource::check`]: a source whose
    /// query the database accepted.
    pub async fn connect(self) -> Result<SqlSource, Error> {
        let source = self.build()?;
        source.check().await?;
        Ok(source)
    }
}
