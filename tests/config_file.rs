//! Process tier: `groupcache serve` configured from a TOML file
//! (`GROUPCACHE_CONFIG`), with environment variables over the file, and a
//! bad file refused before the port is bound, naming file, line and key.

mod cli_support;

use cli_support::*;
use groupcache::source::synthetic_value;

/// The file's groups and sizes are served; the environment's listen
/// address wins over the file's (which could not be bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_runs_from_its_config_file() {
    let dir = TempDir::new("config-file");
    let file = dir.0.join("node.toml");
    std::fs::write(
        &file,
        "# overridden by GROUPCACHE_LISTEN\nlisten = \"127.0.0.1:1\"\n\
         cache-bytes = \"3MiB\"\nrequest-timeout = \"5s\"\n\
         [groups]\nconf = \"synthetic:size=16\"\n",
    )
    .unwrap();
    let node = start_env_node(&[("GROUPCACHE_CONFIG", file.display().to_string())], &dir).await;
    let groups = stats(&node.addr).await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].name, "conf");
    assert_eq!(groups[0].cache_bytes, 3 << 20);
    let out = get(&node.addr, "conf", "k1").await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, synthetic_value("k1", 16));
}

/// A bad value stops the node at once (exit 2), and the message names the
/// file, the line and the key.
#[tokio::test]
async fn a_bad_file_is_a_usage_error() {
    let dir = TempDir::new("config-bad");
    let bad = dir.0.join("bad.toml");
    std::fs::write(
        &bad,
        "cache-bytes = \"lots\"\n[groups]\ng = \"synthetic\"\n",
    )
    .unwrap();
    let path = bad.display().to_string();
    // `run` bounds the command's time.
    let out = run(&["serve", "--config", &path, "--listen", "127.0.0.1:0"]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("{path}:1: `cache-bytes`: invalid value 'lots'")),
        "{}",
        out.stderr
    );
}
