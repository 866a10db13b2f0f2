//! Unit tier: the config file's keys become `serve`'s settings, below flags
//! and environment variables; bad files are errors naming file, line and
//! key.

use std::collections::HashMap;
use std::ffi::OsString;
use std::time::Duration;

use super::{ParseError, parse};
use crate::cli::Command;
use crate::cli::serve::ServeArgs;

/// A file in a fresh temporary directory, removed when dropped.
struct File {
    dir: PathBuf,
    path: PathBuf,
}

use std::path::PathBuf;

impl File {
    fn new(name: &str, text: &str) -> File {
        let dir =
            std::env::temp_dir().join(format!("groupcache-config-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.toml");
        std::fs::write(&path, text).unwrap();
        File { dir, path }
    }

    fn arg(&self) -> String {
        self.path.display().to_string()
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn argv(args: &[&str]) -> Vec<OsString> {
    std::iter::once("groupcache")
        .chain(args.iter().copied())
        .map(OsString::from)
        .collect()
}

/// `serve`'s arguments from `args` with `env` as the environment.
fn serve(args: &[&str], env: &[(&str, &str)]) -> Result<ServeArgs, ParseError> {
    let env: HashMap<String, OsString> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
        .collect();
    let cli = parse(argv(args), |k| env.get(k).cloned())?;
    match cli.command {
        Command::Serve(args) => Ok(args),
        other => panic!("not serve: {other:?}"),
    }
}

fn config_error(result: Result<ServeArgs, ParseError>) -> String {
    match result {
        Err(ParseError::Config(e)) => e.to_string(),
        other => panic!("expected a config error, got {other:?}"),
    }
}

/// The example file in the repository parses, and every setting lands.
#[test]
fn the_example_file_is_read() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/groupcache.toml");
    let a = serve(&["serve", "--config", path], &[]).unwrap();
    assert_eq!(a.listen, "127.0.0.1:7001".parse().unwrap());
    assert_eq!(
        a.peers,
        ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"]
    );
    assert_eq!(a.cache_bytes, 64 << 20);
    assert_eq!(a.hot_fraction, 0.125);
    assert_eq!(a.loads.peer_timeout, Duration::from_millis(300));
    assert_eq!(a.request_timeout, Duration::from_secs(30));
    assert_eq!(a.metrics_listen, Some("127.0.0.1:9101".parse().unwrap()));
    let groups: Vec<_> = a.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(groups, ["colors", "thumbnails"]);
}

/// A flag beats the file, which beats the built-in default (that the
/// environment comes between is a process test: clap reads the real
/// environment).
#[test]
fn flags_then_the_file() {
    let f = File::new(
        "precedence",
        "cache-bytes = \"1MiB\"\nrequest-timeout = \"5s\"\nshutdown-grace = \"2s\"\n\
         no-reflection = true\n[groups]\ng = \"synthetic:size=8\"\n",
    );
    let a = serve(
        &["serve", "--config", &f.arg(), "--shutdown-grace", "3s"],
        &[],
    )
    .unwrap();
    assert_eq!(a.cache_bytes, 1 << 20, "from the file");
    assert_eq!(a.request_timeout, Duration::from_secs(5), "from the file");
    assert_eq!(a.shutdown_grace, Duration::from_secs(3), "the flag");
    assert!(a.no_reflection, "a switch from the file");
    assert_eq!(a.shutdown_timeout, Duration::from_secs(10), "the default");
    // Groups on the command line replace the file's.
    let a = serve(
        &[
            "serve",
            &format!("--config={}", f.arg()),
            "--group",
            "other=synthetic",
        ],
        &[],
    )
    .unwrap();
    let groups: Vec<_> = a.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(groups, ["other"]);
}

/// `GROUPCACHE_CONFIG` names the file when `--config` is not given.
#[test]
fn the_variable_names_the_file() {
    let f = File::new("variable", "[groups]\nfrom-env = \"synthetic\"\n");
    let a = serve(&["serve"], &[("GROUPCACHE_CONFIG", &f.arg())]).unwrap();
    assert_eq!(a.groups[0].name, "from-env");
    // Other subcommands ignore it.
    let env: HashMap<String, OsString> = [("GROUPCACHE_CONFIG".to_owned(), f.arg().into())].into();
    let cli = parse(argv(&["get", "g", "k"]), |k| env.get(k).cloned()).unwrap();
    assert!(matches!(cli.command, Command::Get(_)));
}

/// Each kind of mistake is refused with the file, the line and the key.
#[test]
fn mistakes_name_the_file_line_and_key() {
    let cases = [
        (
            "listen = \"127.0.0.1:7001\"\n\ncache-byts = \"1MiB\"\n[groups]\ng = \"synthetic\"\n",
            ":3: unknown setting `cache-byts`",
        ),
        (
            "cache-bytes = \"lots\"\n[groups]\ng = \"synthetic\"\n",
            ":1: `cache-bytes`: invalid value 'lots'",
        ),
        (
            "request-timeout = \"5\"\n[groups]\ng = \"synthetic\"\n",
            ":1: `request-timeout`:",
        ),
        ("[groups]\ng = \"nosuch:x\"\n", ":2: group `g`:"),
        (
            "[groups]\ng = 3\n",
            ":2: group `g`: the source must be a string",
        ),
        ("groups = \"g=synthetic\"\n", ":1: `groups` must be a table"),
        ("peers = { a = 1 }\n", ":1: `peers` must be a string"),
        ("cache-bytes = \n", ":1: "),
        ("group = \"g=synthetic\"\n", ":1: unknown setting `group`"),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let f = File::new(&format!("bad{i}"), text);
        let err = config_error(serve(&["serve", "--config", &f.arg()], &[]));
        assert!(err.contains(&f.arg()), "{text:?}: {err}");
        assert!(err.contains(needle), "{text:?}: {err}");
    }
    let err = config_error(serve(&["serve", "--config", "/nonexistent/node.toml"], &[]));
    assert!(
        err.contains("cannot read the config file /nonexistent/node.toml"),
        "{err}"
    );
}

/// `sql:` groups in the file: the query inside the source string or as
/// `sql-query`, the TTL column and the pool settings as the flags take
/// them.
#[test]
fn sql_groups() {
    let f = File::new(
        "sql",
        "sql-query = [\"b=SELECT v FROM t WHERE k = ?\"]\nsql-ttl-column = [\"b=ttl\"]\n\
         sql-max-connections = 3\nsql-query-timeout = \"250ms\"\n[groups]\n\
         a = \"sql:postgres://gc@db/app SELECT v FROM t WHERE k = $1\"\n\
         b = \"sql:sqlite:///srv/b.db\"\n",
    );
    let a = serve(&["serve", "--config", &f.arg()], &[]).unwrap();
    let queries: Vec<_> = a
        .groups
        .iter()
        .map(|g| match &g.source {
            crate::source::SourceSpec::Sql(spec) => spec.query().map(str::to_owned),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        queries,
        [Some("SELECT v FROM t WHERE k = $1".to_owned()), None]
    );
    assert_eq!(
        a.sql.sql_query,
        [("b".to_owned(), "SELECT v FROM t WHERE k = ?".to_owned())]
    );
    assert_eq!(a.sql.sql_ttl_column, [("b".to_owned(), "ttl".to_owned())]);
    assert_eq!(a.sql.sql_max_connections, 3);
    assert_eq!(a.sql.sql_query_timeout, Duration::from_millis(250));
    assert!(a.sql.validate(&a.groups).is_ok());
}
