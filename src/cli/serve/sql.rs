//! The `serve` flags of `sql:` sources ([`SqlArgs`], flattened into
//! [`ServeArgs`](super::ServeArgs)): per group, the query, the TTL column
//! and the password file (`NAME=VALUE`, repeatable); for every SQL source
//! of the node, the pool size and the timeouts.
//!
//! A group's password is the first of: the URL's, `--sql-password-file`,
//! the variable `GROUPCACHE_SQL_PASSWORD_<NAME>`, the driver's own (see
//! [`crate::source::sql`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::Error;
use crate::cli::parse::{GroupSpec, clap_parsers};
use crate::source::sql::{
    DEFAULT_SQL_CONNECT_TIMEOUT, DEFAULT_SQL_MAX_CONNECTIONS, DEFAULT_SQL_QUERY_TIMEOUT, Password,
    SqlOptions, SqlSourceBuilder, password_variable,
};
use crate::source::{Source, SourceOptions, SourceSpec};

/// The `serve` flags of `sql:` sources.
#[derive(Debug, Clone, Args)]
pub struct SqlArgs {
    /// The query of an sql: group, NAME=QUERY, when its --group spec does
    /// not hold it: one parameter, the key ($1 in PostgreSQL, ? in MySQL
    /// and SQLite); the value is the first column of the first row.
    #[arg(long, env = "GROUPCACHE_SQL_QUERY", value_delimiter = ';', value_name = "NAME=QUERY", value_parser = named)]
    pub sql_query: Vec<(String, String)>,
    /// The column of an sql: group's query holding the value's seconds to
    /// live, NAME=COLUMN (NULL: no expiry). Default: none, no expiry.
    #[arg(long, env = "GROUPCACHE_SQL_TTL_COLUMN", value_delimiter = ';', value_name = "NAME=COLUMN", value_parser = named)]
    pub sql_ttl_column: Vec<(String, String)>,
    /// A file whose first line is the database password of an sql: group,
    /// NAME=PATH (read at start). Or set GROUPCACHE_SQL_PASSWORD_ and the
    /// group name upper-cased (- and . as _), as GROUPCACHE_SQL_PASSWORD_ITEMS.
    #[arg(long, env = "GROUPCACHE_SQL_PASSWORD_FILE", value_delimiter = ';', value_name = "NAME=PATH", value_parser = named)]
    pub sql_password_file: Vec<(String, String)>,
    /// Connections each sql: group keeps to its database at most (queries
    /// in flight at once); more loads wait for a free one.
    #[arg(long, env = "GROUPCACHE_SQL_MAX_CONNECTIONS", default_value_t = DEFAULT_SQL_MAX_CONNECTIONS, value_name = "N")]
    pub sql_max_connections: u32,
    /// Longest wait for a database connection, a free one or a new one
    /// (the start check's too).
    #[arg(long, env = "GROUPCACHE_SQL_CONNECT_TIMEOUT", default_value = humantime::format_duration(DEFAULT_SQL_CONNECT_TIMEOUT).to_string(), value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub sql_connect_timeout: Duration,
    /// Longest an sql: group's query may run (PostgreSQL's
    /// statement_timeout too).
    #[arg(long, env = "GROUPCACHE_SQL_QUERY_TIMEOUT", default_value = humantime::format_duration(DEFAULT_SQL_QUERY_TIMEOUT).to_string(), value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub sql_query_timeout: Duration,
}

/// `NAME=VALUE`, both parts non-empty.
fn named(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() && !value.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!(
            "bad value {text:?}: expected NAME=VALUE, NAME a group"
        )),
    }
}

impl SqlArgs {
    /// Refuses zeros, and flags naming a group that is not an `sql:` group
    /// of `groups` (or naming one twice).
    pub fn validate(&self, groups: &[GroupSpec]) -> Result<(), Error> {
        if self.sql_max_connections == 0 {
            return Err(Error::config("--sql-max-connections must be above zero"));
        }
        for (flag, zero) in [
            ("--sql-connect-timeout", self.sql_connect_timeout.is_zero()),
            ("--sql-query-timeout", self.sql_query_timeout.is_zero()),
        ] {
            if zero {
                return Err(Error::config(format!("{flag} must be above zero")));
            }
        }
        for (flag, values) in [
            ("--sql-query", &self.sql_query),
            ("--sql-ttl-column", &self.sql_ttl_column),
            ("--sql-password-file", &self.sql_password_file),
        ] {
            let mut seen = HashMap::new();
            for (name, _) in values {
                if seen.insert(name.as_str(), ()).is_some() {
                    return Err(Error::config(format!("{flag} names group {name:?} twice")));
                }
                let is_sql = groups
                    .iter()
                    .any(|g| g.name == *name && matches!(g.source, SourceSpec::Sql(_)));
                if !is_sql {
                    return Err(Error::config(format!(
                        "{flag} names group {name:?}, which is not an sql: group of --group"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Sets the sources' options these flags decide.
    pub fn apply_to_sources(&self, options: &mut SourceOptions) {
        options.sql = SqlOptions {
            max_connections: self.sql_max_connections,
            connect_timeout: self.sql_connect_timeout,
            query_timeout: self.sql_query_timeout,
        };
    }

    /// The source of `group`, an `sql:` one, built (not connected) with
    /// its flags and its password, looked up in the environment through
    /// `var`.
    pub fn open(
        &self,
        group: &GroupSpec,
        options: &SourceOptions,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Source, Error> {
        let SourceSpec::Sql(spec) = &group.source else {
            return group.source.open(options);
        };
        let of = |values: &[(String, String)]| {
            values
                .iter()
                .find(|(name, _)| *name == group.name)
                .map(|(_, v)| v.clone())
        };
        let mut builder = SqlSourceBuilder::from_spec(Ok(spec.clone()))
            .options(options.sql)
            .max_value_bytes(options.max_value_bytes);
        if let Some(query) = of(&self.sql_query) {
            builder = builder.query(query);
        }
        if let Some(column) = of(&self.sql_ttl_column) {
            builder = builder.ttl_column(column);
        }
        let password = match of(&self.sql_password_file) {
            Some(path) => Some(Password::from_file(&PathBuf::from(path))?),
            None => var(&password_variable(&group.name))
                .filter(|p| !p.is_empty())
                .map(Password::new),
        };
        if let Some(password) = password {
            builder = builder.password(password);
        }
        Ok(Source::Sql(builder.build()?))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::parse::parse_group;

    /// The CLI with just these flags.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        sql: SqlArgs,
    }

    fn parse(args: &[&str]) -> SqlArgs {
        Cli::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))
            .unwrap()
            .sql
    }

    /// Defaults are the library's; every flag is read and applied.
    #[test]
    fn defaults_and_flags() {
        let mut options = SourceOptions::new(1, Duration::from_secs(1));
        parse(&[]).apply_to_sources(&mut options);
        assert_eq!(options.sql, SqlOptions::default());
        let set = parse(&[
            "--sql-max-connections=3",
            "--sql-connect-timeout=2s",
            "--sql-query-timeout=250ms",
            "--sql-query=items=SELECT v FROM t WHERE k = ?",
        ]);
        set.apply_to_sources(&mut options);
        assert_eq!(
            options.sql,
            SqlOptions {
                max_connections: 3,
                connect_timeout: Duration::from_secs(2),
                query_timeout: Duration::from_millis(250),
            }
        );
        assert_eq!(
            set.sql_query,
            [("items".to_owned(), "SELECT v FROM t WHERE k = ?".to_owned())]
        );
    }

    /// Zeros, unknown or non-SQL groups and doubles are refused, naming
    /// the flag.
    #[test]
    fn refusals() {
        let groups = [
            parse_group("items=sql:sqlite::memory:").unwrap(),
            parse_group("files=dir:/srv").unwrap(),
        ];
        for (args, needle) in [
            (&["--sql-max-connections=0"][..], "--sql-max-connections"),
            (&["--sql-query-timeout=0s"][..], "--sql-query-timeout"),
            (&["--sql-connect-timeout=0s"][..], "--sql-connect-timeout"),
            (&["--sql-query=files=SELECT 1"][..], "not an sql: group"),
            (&["--sql-ttl-column=nope=ttl"][..], "not an sql: group"),
            (
                &["--sql-query=items=SELECT 1", "--sql-query=items=SELECT 2"][..],
                "twice",
            ),
        ] {
            let err = parse(args).validate(&groups).unwrap_err().to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        assert!(
            Cli::try_parse_from(["serve", "--sql-query=items"]).is_err(),
            "a value without NAME= is refused"
        );
    }

    /// The password comes from the file, else the group's variable; a URL
    /// password beside either is refused.
    #[test]
    fn passwords() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        let options = SourceOptions::new(1024, Duration::from_secs(1));
        let group = parse_group("items=sql:mysql://gc@db/app SELECT v FROM t WHERE k = ?").unwrap();
        let env = |name: &str| (name == "GROUPCACHE_SQL_PASSWORD_ITEMS").then(|| "env".to_owned());
        let no_env = |_: &str| None;
        let with_file = parse(&[&format!("--sql-password-file=items={}", file.display())]);
        if crate::source::sql::Driver::MySql.is_compiled() {
            assert!(with_file.open(&group, &options, &no_env).is_ok());
            assert!(parse(&[]).open(&group, &options, &env).is_ok());
        }
        let in_url =
            parse_group("items=sql:mysql://gc:url@db/app SELECT v FROM t WHERE k = ?").unwrap();
        for (args, var) in [
            (&with_file, &no_env as &dyn Fn(&str) -> Option<String>),
            (&parse(&[]), &env),
        ] {
            let err = args.open(&in_url, &options, var).unwrap_err().to_string();
            assert!(
                err.contains("give it once") || err.contains("no MySQL"),
                "{err}"
            );
            assert!(!err.contains("url@"), "{err}");
        }
    }
}
