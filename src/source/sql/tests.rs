//! Parsing and validation of `sql:` sources, without a database (the
//! queries themselves: tests/source_sql.rs).

use super::*;
use crate::source::{SourceOptions, SourceSpec};

/// `sql:URL QUERY` splits at the first space; the scheme picks the
/// driver; the query is optional in the spec.
#[test]
fn parse_specs() {
    let spec = SqlSpec::parse("postgres://gc@db:5432/app SELECT v FROM t WHERE k = $1").unwrap();
    assert_eq!(spec.driver(), Driver::Postgres);
    assert_eq!(spec.redacted_url(), "postgres://gc@db:5432/app");
    assert_eq!(spec.query(), Some("SELECT v FROM t WHERE k = $1"));
    for (url, driver) in [
        ("postgresql://h/db", Driver::Postgres),
        ("mysql://h/db", Driver::MySql),
        ("mariadb://h/db", Driver::MySql),
        ("sqlite:///var/lib/app.db", Driver::Sqlite),
        ("sqlite:app.db", Driver::Sqlite),
        ("sqlite::memory:", Driver::Sqlite),
    ] {
        let spec = SqlSpec::parse(url).unwrap();
        assert_eq!(spec.driver(), driver, "{url}");
        assert_eq!(spec.query(), None, "{url}");
    }
    let spec: SourceSpec = "sql:sqlite:x.db   SELECT v FROM t WHERE k = ?  "
        .parse()
        .unwrap();
    let SourceSpec::Sql(spec) = spec else {
        panic!("{spec:?}")
    };
    assert_eq!(spec.query(), Some("SELECT v FROM t WHERE k = ?"));
    for (bad, needle) in [
        ("sql:", "needs a database URL"),
        ("sql:oracle://h/db SELECT 1", "unknown database URL"),
        ("sql:nothing", "unknown database URL"),
    ] {
        let err = bad.parse::<SourceSpec>().unwrap_err().to_string();
        assert!(err.contains(needle), "{bad}: {err}");
    }
}

/// A password in the URL never shows: not in `Debug`, not in the
/// redacted URL, not in a parse error, not in the unknown-source error.
#[test]
fn passwords_never_print() {
    let spec = SqlSpec::parse("postgres://gc:hunter2@db/app SELECT v FROM t WHERE k = $1").unwrap();
    assert_eq!(spec.redacted_url(), "postgres://gc:***@db/app");
    assert_eq!(spec.url_password().as_deref(), Some("hunter2"));
    let debug = format!("{spec:?}");
    assert!(
        !debug.contains("hunter2") && !debug.contains("SELECT"),
        "{debug}"
    );
    let err = SqlSpec::parse("oracle://gc:hunter2@db/app")
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
    let err = "postgres://gc:hunter2@db/app"
        .parse::<SourceSpec>()
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
    // Percent-encoded in the URL, decoded for the driver.
    let spec = SqlSpec::parse("mysql://gc:p%40ss@db/app").unwrap();
    assert_eq!(spec.url_password().as_deref(), Some("p@ss"));
    assert!(!spec.redacted_url().contains("p%40ss"));
}

/// The builder needs exactly one query and one password, sane limits,
/// and a driver that is compiled in.
#[test]
fn builder_validation() {
    for driver in [Driver::Postgres, Driver::MySql, Driver::Sqlite] {
        let url = match driver {
            Driver::Postgres => "postgres://h/db",
            Driver::MySql => "mysql://h/db",
            Driver::Sqlite => "sqlite::memory:",
        };
        let built = SqlSource::builder(url).query("SELECT 1").build();
        if driver.is_compiled() {
            assert!(built.is_ok(), "{driver:?}: {:?}", built.err());
        } else {
            let err = built.unwrap_err().to_string();
            assert!(err.contains(driver.feature()), "{err}");
        }
    }
    if !(Driver::Sqlite.is_compiled() && Driver::Postgres.is_compiled()) {
        return;
    }
    let sqlite = || SqlSource::builder("sqlite::memory:");
    let err = sqlite().build().unwrap_err().to_string();
    assert!(err.contains("needs a query") && err.contains('?'), "{err}");
    let err = SqlSourceBuilder::from_spec(SqlSpec::parse("sqlite::memory: SELECT 'v'"))
        .query("SELECT 'w'")
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("given twice"), "{err}");
    let err = sqlite().query("  ").build().unwrap_err().to_string();
    assert!(err.contains("empty"), "{err}");
    let err = SqlSource::builder("postgres://gc:pw@db/app")
        .query("SELECT v FROM t WHERE k = $1")
        .password(Password::new("other"))
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("give it once") && !err.contains("pw@"),
        "{err}"
    );
    for options in [
        SqlOptions {
            max_connections: 0,
            ..SqlOptions::default()
        },
        SqlOptions {
            connect_timeout: Duration::ZERO,
            ..SqlOptions::default()
        },
        SqlOptions {
            query_timeout: Duration::ZERO,
            ..SqlOptions::default()
        },
    ] {
        let err = sqlite()
            .query("SELECT 'v' WHERE ? = 'k'")
            .options(options)
            .build()
            .unwrap_err();
        assert_eq!(err.exit_code(), crate::EXIT_USAGE, "{err}");
    }
    let err = SqlSource::builder("sqlite:")
        .query("SELECT 1")
        .ttl_column(" ")
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("TTL column"), "{err}");
}

/// Opening a `sql:` spec builds it with the node's options; the source's
/// `Debug` names the database without its password and hides the query.
#[test]
fn open_from_spec() {
    let spec: SourceSpec = "sql:postgres://gc:hunter2@db/app SELECT v FROM t WHERE k = $1"
        .parse()
        .unwrap();
    let mut options = SourceOptions::new(1000, Duration::from_secs(1));
    options.sql.max_connections = 3;
    if !Driver::Postgres.is_compiled() {
        assert!(spec.open(&options).is_err());
        return;
    }
    let source = spec.open(&options).unwrap();
    let debug = format!("{source:?}");
    assert!(debug.contains("postgres://gc:***@db/app"), "{debug}");
    assert!(debug.contains("max_connections: 3"), "{debug}");
    assert!(
        !debug.contains("hunter2") && !debug.contains("SELECT"),
        "{debug}"
    );
}

/// Seconds become a time to live: NULL aside, zero or less keeps nothing,
/// fractions count, and a year is the most.
#[cfg(any(
    feature = "sql-postgres",
    feature = "sql-mysql",
    feature = "sql-sqlite"
))]
#[test]
fn ttl_seconds() {
    use super::query::{MAX_TTL, ttl_from_seconds};
    assert_eq!(ttl_from_seconds(60.0), Duration::from_secs(60));
    assert_eq!(ttl_from_seconds(1.5), Duration::from_millis(1500));
    assert_eq!(ttl_from_seconds(0.0), Duration::ZERO);
    assert_eq!(ttl_from_seconds(-5.0), Duration::ZERO);
    assert_eq!(ttl_from_seconds(f64::NAN), Duration::ZERO);
    assert_eq!(ttl_from_seconds(1e30), MAX_TTL);
}
