//! The README's "A 3-node mesh by hand" block, run as pasted (real
//! processes): the shell block is taken from README.md, its ports, paths and
//! binary swapped for a test's own, and run with bash; what its comments
//! promise is checked in its output.

mod cli_support;

use std::time::Duration;

use cli_support::{BIN, TempDir, free_ports};

/// The `sh` block under `heading` in README.md.
fn readme_block(heading: &str) -> String {
    let readme = include_str!("../README.md");
    let section = readme
        .split_once(heading)
        .unwrap_or_else(|| panic!("README has no {heading:?}"))
        .1;
    let block = section
        .split_once("```sh\n")
        .expect("a sh block")
        .1
        .split_once("```")
        .expect("the block ends")
        .0;
    block.to_owned()
}

/// The block runs to the end with exit 0; each command printed what its
/// comment says; the nodes drained and exited on the final `kill`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_mesh_runs_as_pasted() {
    let dir = TempDir::new("readme-mesh");
    let ports = free_ports(3);
    let mut script = readme_block("## A 3-node mesh by hand\n")
        .lines()
        .filter(|line| !line.starts_with("cargo build"))
        .collect::<Vec<_>>()
        .join("\n");
    for (readme_port, port) in ["7001", "7002", "7003"].iter().zip(&ports) {
        script = script.replace(readme_port, &port.to_string());
    }
    let files = dir.0.join("gc-files");
    script = script
        .replace("/tmp/gc-files", &files.display().to_string())
        .replace(
            "/tmp/gc-$port.log",
            &format!("{}/gc-$port.log", dir.0.display()),
        )
        .replace("target/release/groupcache", BIN);
    // Never leave a node behind, whatever happens; wait for the drained
    // nodes to exit after the block's own `kill`.
    let script = format!("set -u\ntrap 'kill $(jobs -p) 2>/dev/null' EXIT\n{script}\nwait\n");
    let run = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir.0)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the README block finished")
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let both = format!("{stdout}\n{stderr}");
    assert!(out.status.success(), "{both}");
    for promised in [
        "hello from disk",
        "1024",
        "NOT_FOUND: key not found",
        "exit 3",
        "INVALID_ARGUMENT: invalid key: ",
        "exit 1",
        "\"groups\"",
    ] {
        assert!(both.contains(promised), "missing {promised:?} in:\n{both}");
    }
}
