//! `sql:URL [QUERY]`: which database, where, and (optionally) the query.
//!
//! The URL is the driver's own (`postgres://`, `mysql://`, `sqlite:`), so
//! every option sqlx reads from it (TLS mode, sockets, `mode=ro`) works.
//! It may hold a password; the spec therefore never prints it:
//! [`SqlSpec`]'s `Debug` and [`SqlSpec::redacted_url`] show `***` instead.
//! A URL holds no space (a space in it is written `%20`), so the first
//! space ends the URL and the rest of the text is the query.

use std::fmt;

use crate::Error;

/// The database kinds a `sql:` source can talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Driver {
    /// `postgres://` or `postgresql://`; parameter `$1`.
    Postgres,
    /// `mysql://` or `mariadb://` (MySQL and MariaDB); parameter `?`.
    MySql,
    /// `sqlite:PATH`, `sqlite://PATH`, `sqlite::memory:`; parameter `?`.
    Sqlite,
}

impl Driver {
    /// The driver of a URL, from its scheme.
    pub fn of_url(url: &str) -> Option<Driver> {
        let scheme = url.split_once(':')?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Some(Driver::Postgres),
            "mysql" | "mariadb" => Some(Driver::MySql),
            "sqlite" => Some(Driver::Sqlite),
            _ => None,
        }
    }

    /// The database's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Postgres => "PostgreSQL",
            Driver::MySql => "MySQL/MariaDB",
            Driver::Sqlite => "SQLite",
        }
    }

    /// How the query names its one parameter, the key.
    pub fn placeholder(self) -> &'static str {
        match self {
            Driver::Postgres => "$1",
            Driver::MySql | Driver::Sqlite => "?",
        }
    }

    /// The Cargo feature that compiles this driver in.
    pub fn feature(self) -> &'static str {
        match self {
            Driver::Postgres => "sql-postgres",
            Driver::MySql => "sql-mysql",
            Driver::Sqlite => "sql-sqlite",
        }
    }

    /// Whether this build has the driver (its Cargo feature was on).
    pub fn is_compiled(self) -> bool {
        match self {
            Driver::Postgres => cfg!(feature = "sql-postgres"),
            Driver::MySql => cfg!(feature = "sql-mysql"),
            Driver::Sqlite => cfg!(feature = "sql-sqlite"),
        }
    }
}

/// A parsed `sql:URL [QUERY]` source: the driver, its URL and the query
/// if the spec holds it (else it comes from `--sql-query`).
#[derive(Clone, PartialEq, Eq)]
pub struct SqlSpec {
    /// From the URL's scheme.
    driver: Driver,
    /// The URL as given, password and all: never printed (see
    /// [`SqlSpec::redacted_url`]).
    url: String,
    /// The text after the URL's first space, trimmed; `None` when empty.
    query: Option<String>,
}

impl SqlSpec {
    /// Parses what follows `sql:`. The driver must be known (not
    /// necessarily compiled in: that is checked when the source is built).
    pub fn parse(text: &str) -> Result<SqlSpec, Error> {
        let text = text.trim_start();
        let (url, query) = match text.split_once(char::is_whitespace) {
            Some((url, query)) => (url, Some(query.trim())),
            None => (text, None),
        };
        if url.is_empty() {
            return Err(Error::config(
                "sql: needs a database URL, as in sql:postgres://user@host/db",
            ));
        }
        let driver = Driver::of_url(url).ok_or_else(|| {
            Error::config(format!(
                "sql: unknown database URL {:?}: expected postgres://, mysql://, mariadb:// or sqlite:",
                redact_url(url)
            ))
        })?;
        Ok(SqlSpec {
            driver,
            url: url.to_owned(),
            query: query.filter(|q| !q.is_empty()).map(str::to_owned),
        })
    }

    /// A spec for `url` and `query` (the library's way in).
    pub fn new(url: &str, query: Option<&str>) -> Result<SqlSpec, Error> {
        let mut spec = SqlSpec::parse(url)?;
        if spec.query.is_some() {
            return Err(Error::config(
                "sql: the URL holds a space: write it %20 (the query is given apart)",
            ));
        }
        spec.query = query.map(str::to_owned);
        Ok(spec)
    }

    /// The database kind.
    pub fn driver(&self) -> Driver {
        self.driver
    }

    /// The URL with its password replaced by `***`: safe to log.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// The URL as given, password included. Only for building the
    /// connection options: never log it.
    pub(super) fn secret_url(&self) -> &str {
        &self.url
    }

    /// The password written in the URL, percent-decoded, if any.
    pub(super) fn url_password(&self) -> Option<String> {
        let url = reqwest::Url::parse(&self.url).ok()?;
        let raw = url.password()?;
        Some(
            percent_encoding::percent_decode_str(raw)
                .decode_utf8_lossy()
                .into_owned(),
        )
    }

    /// The query given in the spec, if any.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
}

impl fmt::Debug for SqlSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlSpec")
            .field("driver", &self.driver)
            .field("url", &self.redacted_url())
            .field("query", &self.query.as_ref().map(|_| "<given>"))
            .finish()
    }
}

/// `url` with the password (if it parses as a URL with one) replaced by
/// `***`; a URL that does not parse is shown as its scheme only.
pub(super) fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Cannot fail: the URL has a host (it has a password).
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => match url.split_once(':') {
            Some((scheme, _)) => format!("{scheme}:..."),
            None => "...".to_owned(),
        },
    }
}
