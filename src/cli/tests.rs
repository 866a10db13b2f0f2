//! Command-line parsing: defaults, every flag, and clear refusals.

use std::time::Duration;

use clap::{CommandFactory, Parser, error::ErrorKind};

use super::*;
use crate::source::SourceSpec;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("groupcache").chain(args.iter().copied()))
}

fn serve(args: &[&str]) -> serve::ServeArgs {
    match parse(args).unwrap().command {
        Command::Serve(a) => a,
        other => panic!("parsed as {other:?}"),
    }
}

/// clap's own consistency checks of the whole command tree pass.
#[test]
fn command_tree_is_consistent() {
    Cli::command().debug_assert();
}

/// `serve` with only a group gets the documented defaults.
#[test]
fn serve_defaults() {
    let a = serve(&["serve", "--group", "g=synthetic"]);
    assert_eq!(a.listen.to_string(), "127.0.0.1:7001");
    assert!(a.listen.ip().is_loopback());
    assert_eq!(a.self_addr, None);
    assert!(a.peers.is_empty());
    assert_eq!(a.cache_bytes, 64 << 20);
    assert_eq!(a.hot_fraction, 0.125);
    assert_eq!(a.promotion, serve::PromotionArg::Busy);
    assert_eq!(a.max_key_bytes, 1024);
    assert_eq!(a.max_value_bytes, 8 << 20);
    assert_eq!(a.max_batch_keys, 1000);
    assert_eq!(a.request_timeout, Duration::from_secs(30));
    assert_eq!(a.loads.peer_timeout, Duration::from_millis(300));
    assert_eq!(a.origin_timeout, Duration::from_secs(5));
    assert_eq!(a.negative_ttl, Duration::ZERO);
    assert_eq!(
        (a.ttl, a.ttl_jitter, a.stale_ttl),
        (Duration::ZERO, 0.0, Duration::ZERO)
    );
    assert_eq!(a.origin_ca, None);
    assert_eq!(a.max_concurrent_requests, 4096);
    assert!(!a.no_reflection);
    assert_eq!(a.store, serve::StoreArg::Sieve);
    assert_eq!(a.shutdown_timeout, Duration::from_secs(10));
    assert_eq!(a.shutdown_grace, Duration::ZERO);
    assert_eq!(a.threads, 0);
    assert!(a.dev.is_empty());
}

/// Every serve flag is read, repeated groups and comma-separated peers
/// included.
#[test]
fn serve_every_flag() {
    let a = serve(&[
        "serve",
        "--listen=0.0.0.0:9000",
        "--self=10.0.0.1:9000",
        "--peers=10.0.0.1:9000,http://10.0.0.2:9000",
        "--group=a=synthetic:size=8",
        "--group",
        "b=dir:/srv/b",
        "--cache-bytes=1GB",
        "--hot-fraction=0.25",
        "--promotion=coin",
        "--max-key-bytes=256",
        "--max-value-bytes=1MiB",
        "--max-batch-keys=50",
        "--peer-timeout=150ms",
        "--origin-timeout=2s",
        "--origin-ca=/etc/ca.pem",
        "--negative-ttl=30s",
        "--ttl=10m",
        "--ttl-jitter=0.2",
        "--stale-ttl=1m",
        "--max-concurrent-requests=64",
        "--request-timeout=7s",
        "--no-reflection",
        "--store=moka",
        "--shutdown-timeout=3s",
        "--shutdown-grace=500ms",
        "--threads=4",
        "--dev=hyper-transport,tonic-codec",
    ]);
    assert_eq!(a.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(a.self_addr.as_deref(), Some("10.0.0.1:9000"));
    assert_eq!(a.peers, ["10.0.0.1:9000", "http://10.0.0.2:9000"]);
    assert_eq!(a.groups.len(), 2);
    assert_eq!(a.groups[1].source, SourceSpec::Dir("/srv/b".into()));
    assert_eq!(a.cache_bytes, 1_000_000_000);
    assert_eq!(a.hot_fraction, 0.25);
    assert_eq!(a.promotion, serve::PromotionArg::Coin);
    assert_eq!(a.max_key_bytes, 256);
    assert_eq!(a.max_value_bytes, 1 << 20);
    assert_eq!(a.max_batch_keys, 50);
    assert_eq!(a.loads.peer_timeout, Duration::from_millis(150));
    assert_eq!(a.origin_timeout, Duration::from_secs(2));
    assert_eq!(
        a.origin_ca.as_deref(),
        Some(std::path::Path::new("/etc/ca.pem"))
    );
    assert_eq!(a.negative_ttl, Duration::from_secs(30));
    assert_eq!(a.ttl, Duration::from_secs(600));
    assert_eq!(a.ttl_jitter, 0.2);
    assert_eq!(a.stale_ttl, Duration::from_secs(60));
    assert_eq!(a.max_concurrent_requests, 64);
    assert_eq!(a.request_timeout, Duration::from_secs(7));
    assert!(a.no_reflection);
    assert_eq!(a.store, serve::StoreArg::Moka);
    assert_eq!(a.shutdown_timeout, Duration::from_secs(3));
    assert_eq!(a.shutdown_grace, Duration::from_millis(500));
    assert_eq!(a.threads, 4);
    assert_eq!(
        a.dev,
        [
            serve::dev::DevSetting::HyperTransport,
            serve::dev::DevSetting::TonicCodec
        ]
    );
}

/// Bad flag values are usage errors whose message names the problem.
#[test]
fn serve_bad_values() {
    for (args, needle) in [
        (&["serve"][..], "--group"),
        (&["serve", "--group=g"][..], "NAME=SOURCE"),
        (&["serve", "--group=g=bogus:1"][..], "unknown source"),
        (
            &["serve", "--group=g=synthetic", "--cache-bytes=lots"][..],
            "bad size",
        ),
        (
            &["serve", "--group=g=synthetic", "--peer-timeout=5"][..],
            "bad duration",
        ),
        (
            &["serve", "--group=g=synthetic", "--hot-fraction=1.5"][..],
            "bad fraction",
        ),
        (
            &["serve", "--group=g=synthetic", "--ttl-jitter=1"][..],
            "bad fraction",
        ),
        (
            &["serve", "--group=g=synthetic", "--stale-ttl=soon"][..],
            "bad duration",
        ),
        (
            &["serve", "--group=g=synthetic", "--peers=a:1,,b:2"][..],
            "bad peer address",
        ),
        (
            &["serve", "--group=g=synthetic", "--listen=localhost"][..],
            "--listen",
        ),
        (
            &["serve", "--group=g=synthetic", "--store=redis"][..],
            "redis",
        ),
        (
            &["serve", "--group=g=synthetic", "--threads=-1"][..],
            "bad thread count",
        ),
        (
            &["serve", "--group=g=synthetic", "--threads=1025"][..],
            "up to 1024",
        ),
        (
            &["serve", "--group=g=synthetic", "--threads=many"][..],
            "bad thread count",
        ),
    ] {
        let err = parse(args).unwrap_err();
        assert!(err.use_stderr(), "{args:?}");
        let text = err.to_string();
        assert!(text.contains(needle), "{args:?}: {text}");
    }
}

/// `--threads` picks the runtime of `serve` (default 0: one worker per
/// core); the client commands always get one worker per core.
#[test]
fn threads_choose_the_runtime() {
    assert_eq!(
        parse(&["serve", "--group=g=synthetic"])
            .unwrap()
            .command
            .threads(),
        0
    );
    assert_eq!(
        parse(&["serve", "--group=g=synthetic", "--threads=1"])
            .unwrap()
            .command
            .threads(),
        1
    );
    assert_eq!(parse(&["stats"]).unwrap().command.threads(), 0);
}

/// `runtime::build`: 1 is tokio's current-thread runtime, N > 1 has N
/// workers, 0 one per core; each runs a spawned task to completion.
#[test]
fn runtime_shapes() {
    use tokio::runtime::RuntimeFlavor;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (threads, flavor, workers) in [
        (1, RuntimeFlavor::CurrentThread, 1),
        (3, RuntimeFlavor::MultiThread, 3),
        (0, RuntimeFlavor::MultiThread, cores),
    ] {
        let rt = runtime::build(threads).unwrap();
        assert_eq!(rt.handle().runtime_flavor(), flavor, "threads {threads}");
        assert_eq!(rt.metrics().num_workers(), workers, "threads {threads}");
        let got = rt.block_on(async { tokio::spawn(async { 6 * 7 }).await.unwrap() });
        assert_eq!(got, 42);
    }
}

/// Validation refuses what each flag alone cannot see: duplicates, zeros,
/// a source that cannot be opened.
#[test]
fn serve_validation() {
    for (args, needle) in [
        (
            &["serve", "--group=g=synthetic", "--group=g=synthetic"][..],
            "given twice",
        ),
        (
            &["serve", "--group=g=synthetic", "--peers=a:1,http://a:1"][..],
            "listed twice",
        ),
        (
            &[
                "serve",
                "--group=g=synthetic",
                "--listen=0.0.0.0:7001",
                "--peers=a:1,b:2",
            ][..],
            "give --self",
        ),
        (
            &["serve", "--group=g=synthetic", "--cache-bytes=0"][..],
            "--cache-bytes",
        ),
        (
            &["serve", "--group=g=synthetic", "--max-value-bytes=0"][..],
            "--max-value-bytes",
        ),
        (
            &["serve", "--group=g=synthetic", "--peer-timeout=0s"][..],
            "--peer-timeout",
        ),
        (
            &["serve", "--group=g=synthetic", "--ttl=101years"][..],
            "--ttl must be at most 100 years",
        ),
        (
            &["serve", "--group=g=synthetic", "--stale-ttl=101years"][..],
            "--stale-ttl must be at most 100 years",
        ),
        (
            &["serve", "--group=g=dir:/no/such/dir/here"][..],
            "group \"g\"",
        ),
        (
            &[
                "serve",
                "--group=g=synthetic",
                "--origin-ca=/no/such/ca.pem",
            ][..],
            "--origin-ca",
        ),
        (
            &[
                "serve",
                "--group=g=synthetic:size=2MiB",
                "--max-value-bytes=1MiB",
            ][..],
            "maximum value size",
        ),
    ] {
        let a = serve(args);
        let err = a.validate().unwrap_err();
        assert_eq!(err.exit_code(), crate::EXIT_USAGE);
        assert!(err.to_string().contains(needle), "{args:?}: {err}");
    }
    let ok = serve(&[
        "serve",
        "--group=a=synthetic",
        "--group=b=synthetic:size=10",
    ]);
    assert_eq!(ok.validate().unwrap().sources.len(), 2);
}

/// `get` takes GROUP and KEY positionally, with address and timeout flags.
#[test]
fn get_args() {
    let cli = parse(&[
        "get",
        "--addr",
        "127.0.0.1:7002",
        "--timeout",
        "250ms",
        "colors",
        "red",
    ])
    .unwrap();
    let Command::Get(a) = cli.command else {
        panic!()
    };
    assert_eq!(a.client.addr, ["127.0.0.1:7002"]);
    assert_eq!(a.client.timeout, Duration::from_millis(250));
    assert_eq!((a.group.as_str(), a.key.as_str()), ("colors", "red"));
    let d = parse(&["get", "g", "k"]).unwrap();
    let Command::Get(d) = d.command else { panic!() };
    assert_eq!(d.client.addr, ["127.0.0.1:7001"]);
    assert_eq!(d.client.timeout, Duration::from_secs(5));
    assert_eq!(
        parse(&["get", "g"]).unwrap_err().kind(),
        ErrorKind::MissingRequiredArgument
    );
}

/// `stats` takes --json and --group; logging flags are global.
#[test]
fn stats_and_log_args() {
    let cli = parse(&["stats", "--json", "--log", "debug", "--log-format", "json"]).unwrap();
    assert_eq!(cli.log.filter.as_deref(), Some("debug"));
    assert_eq!(cli.log.format, logging::LogFormat::Json);
    let Command::Stats(a) = cli.command else {
        panic!()
    };
    assert!(a.json);
    assert_eq!(a.group, None);
}

/// `--help` and `--version` are not errors (exit 0).
#[test]
fn help_is_not_an_error() {
    let err = parse(&["--help"]).unwrap_err();
    assert!(!err.use_stderr());
    assert_eq!(err.kind(), ErrorKind::DisplayHelp);
    assert_eq!(
        parse(&["--version"]).unwrap_err().kind(),
        ErrorKind::DisplayVersion
    );
}
