//! A real `groupcache serve` process started with a low open-file soft
//! limit raises it to the hard limit at start and logs the figure.

mod cli_support;

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

/// Under `ulimit -Sn 256`, the node logs `open-file limit` with the soft
/// limit raised to the hard one and the 256 it had.
#[tokio::test]
async fn serve_raises_its_open_file_limit() {
    let (_, hard) = rlimit::Resource::NOFILE.get().unwrap();
    if hard <= 256 || hard == rlimit::INFINITY {
        // Nothing to raise to, or no finite figure to expect.
        return;
    }
    // sh lowers the soft limit, then becomes the node (with the node
    // command's program and environment).
    let node = cli_support::command();
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -Sn 256 && exec \"$0\" \"$@\"")
        .arg(node.get_program())
        .args(["serve", "--listen", "127.0.0.1:0", "--group", "g=synthetic"]);
    for (name, value) in node.get_envs() {
        match value {
            Some(value) => cmd.env(name, value),
            None => cmd.env_remove(name),
        };
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("sh starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("open-file limit") {
                return line;
            }
        }
        panic!("the node exited without logging its open-file limit");
    })
    .await
    .expect("the node logs its open-file limit at start");
    let _ = child.kill().await;
    assert!(line.contains("INFO"), "{line}");
    assert!(line.contains(&format!("soft={hard}")), "{line}");
    assert!(line.contains(&format!("hard={hard}")), "{line}");
    assert!(line.contains("was=256"), "{line}");
}
