//! Command-line parsing: the load generator as the main command, `echo`
//! and `report` beside it, defaults and clear refusals.

use std::time::Duration;

use clap::{CommandFactory, error::ErrorKind};

use super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::parse_args(std::iter::once("groupcache-bench").chain(args.iter().copied()))
}

/// clap's own consistency checks of the whole command tree pass.
#[test]
fn command_tree_is_consistent() {
    Cli::command().debug_assert();
}

/// Without a subcommand the flags are the load generator's, with their
/// documented defaults.
#[test]
fn run_is_the_main_command() {
    let cli = parse(&[]).unwrap();
    assert!(cli.command.is_none());
    let a = cli.run;
    assert_eq!(a.targets, ["127.0.0.1:7001"]);
    assert_eq!(a.group, "bench");
    assert_eq!((a.keys, a.key_prefix.as_str()), (10_000, "key-"));
    assert_eq!(a.concurrency, 32);
    assert_eq!(a.conns, 4);
    assert_eq!(a.duration, Duration::from_secs(10));
    assert_eq!(a.warmup, Duration::from_secs(1));
    assert_eq!(a.timeout, Duration::from_secs(5));
    assert_eq!(a.max_error_rate, 1.0);
    assert!(!a.json && !a.no_stats && !a.no_progress);
    let a = parse(&[
        "--targets=a:1,b:2",
        "-c",
        "8",
        "-d",
        "2s",
        "-n",
        "100",
        "--dist=zipf",
        "--verify-synthetic=1KiB",
        "--json",
    ])
    .unwrap()
    .run;
    assert_eq!(a.targets, ["a:1", "b:2"]);
    assert_eq!((a.concurrency, a.requests), (8, Some(100)));
    assert_eq!(a.duration, Duration::from_secs(2));
    assert_eq!(a.verify_synthetic, Some(1024));
    assert!(a.json);
    let cfg = a.to_config().unwrap();
    assert_eq!(cfg.verify.map(|v| v.size), Some(1024));
}

/// `echo` and `report` are subcommands; the load generator's flags don't
/// go with them.
#[test]
fn subcommands_and_conflicts() {
    let cli = parse(&["echo", "--listen=127.0.0.1:0", "--size=10"]).unwrap();
    let Some(Command::Echo(e)) = cli.command else {
        panic!("{:?}", cli.command)
    };
    assert_eq!((e.listen.port(), e.size, e.threads), (0, 10, 0));
    let cli = parse(&["report", "--field", "stats.source_loads", "r.json"]).unwrap();
    let Some(Command::Report(r)) = cli.command else {
        panic!("{:?}", cli.command)
    };
    assert_eq!(r.field.as_deref(), Some("stats.source_loads"));
    assert_eq!(r.file.as_deref(), Some(std::path::Path::new("r.json")));
    for args in [&["-c", "4", "echo"][..], &["--json", "report"][..]] {
        let err = parse(args).unwrap_err();
        assert!(err.use_stderr(), "{args:?}");
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{args:?}");
        assert!(
            err.to_string().contains("flag of the load generator"),
            "{err}"
        );
    }
    // Logging flags are global: before or after the subcommand.
    let cli = parse(&["--log", "debug", "echo"]).unwrap();
    assert_eq!(cli.log.filter, "debug");
    assert!(parse(&["echo", "--log=info"]).is_ok());
}

/// Bad flag values are usage errors whose message names the problem.
#[test]
fn bad_values() {
    for (args, needle) in [
        (&["--duration=5"][..], "bad duration"),
        (&["--verify-synthetic=lots"][..], "bad size"),
        (&["--max-error-rate=2"][..], "bad error rate"),
        (&["--owned-by=nohost"][..], "bad peer address"),
        (&["--dist=normal"][..], "normal"),
        (&["echo", "--threads=2000"][..], "bad thread count"),
        (&["echo", "--threads=-1"][..], "bad thread count"),
    ] {
        let err = parse(args).unwrap_err();
        assert!(err.use_stderr(), "{args:?}");
        let text = err.to_string();
        assert!(text.contains(needle), "{args:?}: {text}");
    }
}

/// `echo --threads` picks its runtime (default 0, as the node's); the load
/// generator and the report get one worker per core.
#[test]
fn threads_choose_the_runtime() {
    assert_eq!(parse(&["echo"]).unwrap().threads(), 0);
    assert_eq!(parse(&["echo", "--threads=3"]).unwrap().threads(), 3);
    assert_eq!(parse(&[]).unwrap().threads(), 0);
    assert_eq!(parse(&["report", "--table=x"]).unwrap().threads(), 0);
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
