//! The built-in sources of truth a `groupcache serve` group can load from,
//! each a [`cache_core::Getter`], and the `SOURCE` syntax that names them:
//!
//! | `SOURCE` | loads `key` from |
//! |---|---|
//! | `dir:PATH` | the file `PATH/key` (never outside `PATH`) |
//! | `http://host:port/prefix/{key}`, `https://...` | the origin, with the key percent-encoded in place of `{key}` |
//! | `synthetic:size=1024,delay=20ms,missing=PREFIX` | a deterministic value made up from the key |
//! | `sql:URL [QUERY]` (`postgres://`, `mysql://`, `mariadb://`, `sqlite:`) | the first column of the query's first row, the key bound to its one parameter ([`sql`]) |

use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use cache_core::{Error as CoreError, Getter, LoadContext, Loaded};

use crate::Error;

mod dir;
mod http;
pub mod sql;
mod synthetic;

pub use dir::DirSource;
pub use http::{DEFAULT_ORIGIN_MAX_CONNECTIONS, HttpSource, KEY_PLACEHOLDER};
pub use sql::{SqlOptions, SqlSource, SqlSpec};
pub use synthetic::{DEFAULT_SYNTHETIC_SIZE, SyntheticSource, SyntheticSpec, synthetic_value};

/// A parsed `SOURCE`: which source, before it is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// `dir:PATH`.
    Dir(PathBuf),
    /// `http://...{key}...` or `https://...`: the URL template.
    Http(String),
    /// `synthetic:OPTIONS`.
    Synthetic(SyntheticSpec),
    /// `sql:URL [QUERY]`.
    Sql(SqlSpec),
}

impl FromStr for SourceSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if let Some(path) = s.strip_prefix("dir:") {
            if path.is_empty() {
                return Err(Error::config(
                    "dir: needs a directory, as in dir:/srv/files",
                ));
            }
            return Ok(SourceSpec::Dir(PathBuf::from(path)));
        }
        if s.starts_with("http://") || s.starts_with("https://") {
            if !s.contains(KEY_PLACEHOLDER) {
                return Err(Error::config(format!(
                    "source {s:?}: the URL must contain {KEY_PLACEHOLDER} where the key goes"
                )));
            }
            return Ok(SourceSpec::Http(s.to_owned()));
        }
        if let Some(options) = s.strip_prefix("synthetic:") {
            return Ok(SourceSpec::Synthetic(SyntheticSpec::parse(options)?));
        }
        if s == "synthetic" {
            return Ok(SourceSpec::Synthetic(SyntheticSpec::default()));
        }
        if let Some(rest) = s.strip_prefix("sql:") {
            return Ok(SourceSpec::Sql(SqlSpec::parse(rest)?));
        }
        // Not `{s:?}`: a source that is an SQL URL without `sql:` may hold
        // a password.
        let shown = match s.split_once(':') {
            Some((scheme, _)) => format!("{scheme}:..."),
            None => format!("{s:?}"),
        };
        Err(Error::config(format!(
            "unknown source {shown}: expected dir:PATH, http(s)://host/...{{key}}..., \
             synthetic:size=N,delay=D,missing=PREFIX or sql:URL QUERY"
        )))
    }
}

/// Limits and settings applied to every source when it is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceOptions {
    /// Values larger than this are refused by `dir:` and `http:` sources.
    pub max_value_bytes: u64,
    /// Upper bound of one request to an HTTP origin.
    pub origin_timeout: Duration,
    /// PEM certificates trusted by `https:` sources besides the built-in
    /// Mozilla roots (an internal CA); `None` for the built-in roots only.
    pub origin_ca_pem: Option<Vec<u8>>,
    /// Requests each `http:` source has in flight to its origin at once
    /// (and idle connections it keeps); more loads wait for their turn.
    pub origin_max_connections: usize,
    /// Pool size and timeouts of `sql:` sources.
    pub sql: SqlOptions,
}

impl SourceOptions {
    /// Options with these limits, the built-in roots only and
    /// [`DEFAULT_ORIGIN_MAX_CONNECTIONS`].
    pub fn new(max_value_bytes: u64, origin_timeout: Duration) -> Self {
        SourceOptions {
            max_value_bytes,
            origin_timeout,
            origin_ca_pem: None,
            origin_max_connections: DEFAULT_ORIGIN_MAX_CONNECTIONS,
            sql: SqlOptions::default(),
        }
    }
}

/// Runs a source's `work` for one load until it ends, the load is
/// cancelled (its [`LoadContext`] token fires: nobody waits for the value
/// any more) or its deadline passes. The last two drop the work (a file
/// read stops, an origin request in progress is closed) and end the load
/// with [`CoreError::DeadlineExceeded`].
async fn bounded<T>(
    ctx: &LoadContext,
    work: impl Future<Output = Result<T, CoreError>>,
) -> Result<T, CoreError> {
    // A timer may take a tick to see a deadline already past.
    if ctx.is_expired() {
        return Err(CoreError::DeadlineExceeded);
    }
    let deadline = async {
        match ctx.get_deadline() {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        // Cancellation and the deadline first: a cancelled load does not
        // start its work.
        biased;
        () = ctx.cancellation().cancelled() => Err(CoreError::DeadlineExceeded),
        () = deadline => Err(CoreError::DeadlineExceeded),
        done = work => done,
    }
}

impl SourceSpec {
    /// Opens the source: checks the directory exists, builds the HTTP
    /// client, builds the SQL source (unconnected: its query is checked by
    /// [`Source::check`] or its first load).
    pub fn open(&self, options: &SourceOptions) -> Result<Source, Error> {
        Ok(match self {
            SourceSpec::Dir(path) => Source::Dir(DirSource::new(path, options.max_value_bytes)?),
            SourceSpec::Http(template) => Source::Http(HttpSource::new(template, options)?),
            SourceSpec::Synthetic(spec) => {
                if spec.size as u64 > options.max_value_bytes {
                    return Err(Error::config(format!(
                        "synthetic size {} is over the maximum value size {}",
                        spec.size, options.max_value_bytes
                    )));
                }
                Source::Synthetic(SyntheticSource::new(spec.clone()))
            }
            SourceSpec::Sql(spec) => Source::Sql(
                sql::SqlSourceBuilder::from_spec(Ok(spec.clone()))
                    .options(options.sql)
                    .max_value_bytes(options.max_value_bytes)
                    .build()?,
            ),
        })
    }
}

/// An opened built-in source; a [`Getter`] that dispatches to its kind.
#[derive(Debug, Clone)]
pub enum Source {
    /// Files under a directory.
    Dir(DirSource),
    /// An HTTP(S) origin.
    Http(HttpSource),
    /// Made-up values.
    Synthetic(SyntheticSource),
    /// An SQL query.
    Sql(SqlSource),
}

impl Source {
    /// What a source checks against its backend before serving: an `sql:`
    /// source connects and prepares its query ([`SqlSource::check`]); the
    /// others have nothing to check.
    pub async fn check(&self) -> Result<(), Error> {
        match self {
            Source::Sql(s) => s.check().await,
            Source::Dir(_) | Source::Http(_) | Source::Synthetic(_) => Ok(()),
        }
    }
}

#[async_trait]
impl Getter for Source {
    async fn get(&self, key: &str, ctx: &LoadContext) -> Result<Loaded, CoreError> {
        match self {
            Source::Dir(s) => s.get(key, ctx).await,
            Source::Http(s) => s.get(key, ctx).await,
            Source::Synthetic(s) => s.get(key, ctx).await,
            Source::Sql(s) => s.get(key, ctx).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each SOURCE form parses to its kind; unknown or incomplete forms are
    /// clear errors.
    #[test]
    fn parse_sources() {
        assert_eq!(
            "dir:/srv/x".parse::<SourceSpec>().unwrap(),
            SourceSpec::Dir("/srv/x".into())
        );
        assert_eq!(
            "https://o.example/v/{key}".parse::<SourceSpec>().unwrap(),
            SourceSpec::Http("https://o.example/v/{key}".into())
        );
        assert_eq!(
            "synthetic:size=8".parse::<SourceSpec>().unwrap(),
            SourceSpec::Synthetic(SyntheticSpec {
                size: 8,
                ..SyntheticSpec::default()
            })
        );
        assert_eq!(
            "synthetic".parse::<SourceSpec>().unwrap(),
            SourceSpec::Synthetic(SyntheticSpec::default())
        );
        for (bad, needle) in [
            ("dir:", "needs a directory"),
            ("http://o/v", "{key}"),
            ("ftp://x/{key}", "unknown source"),
            ("/srv/x", "unknown source"),
            ("synthetic:size=-1", "size"),
        ] {
            let err = bad.parse::<SourceSpec>().unwrap_err().to_string();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }

    /// Opening checks limits: a synthetic size over the maximum value size
    /// is refused; a missing directory is refused.
    #[test]
    fn open_checks() {
        let opts = &SourceOptions::new(100, Duration::from_secs(1));
        let big: SourceSpec = "synthetic:size=101".parse().unwrap();
        assert!(big.open(opts).is_err());
        let ok: SourceSpec = "synthetic:size=100".parse().unwrap();
        assert!(ok.open(opts).is_ok());
        let dir: SourceSpec = "dir:/definitely/not/here".parse().unwrap();
        assert!(dir.open(opts).is_err());
    }
}
