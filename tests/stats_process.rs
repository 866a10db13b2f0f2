//! Process tier: `groupcache stats` over a mesh of `serve` processes:
//! `--cluster` from one address shows every node with a total; several
//! `--addr`s as JSON add up to the gets sent; a node that does not answer
//! is named and makes the command exit 1 after printing the others; each
//! node reports its version, uptime, RSS and connections; `--version`
//! names the build.

mod cli_support;

use cli_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_of_a_whole_mesh() {
    let extra: Vec<String> = ["--group", "g=synthetic:size=8", "--peer-timeout", "10s"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let cluster = start_cluster(3, &extra, TempDir::new("stats-mesh")).await;
    let addrs: Vec<&str> = cluster.nodes.iter().map(|n| n.addr.as_str()).collect();
    for (i, addr) in addrs.iter().enumerate() {
        for k in 0..5 {
            let out = get(addr, "g", &format!("k{i}-{k}")).await;
            assert_eq!(out.code, Some(0), "{}", out.stderr);
        }
    }

    let out = run(&["stats", "--cluster", "--addr", addrs[0]]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for addr in &addrs {
        assert!(text.contains(&format!("node {addr} ({addr})")), "{text}");
    }
    let header = text.lines().find(|l| l.starts_with("group g")).unwrap();
    assert!(header.trim_end().ends_with("total"), "{header}");
    let gets = text
        .lines()
        .find(|l| l.starts_with("gets "))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>();
    assert_eq!(gets, ["gets", "5", "5", "5", "15"], "{text}");
    assert!(text.contains("hit_ratio"), "{text}");

    let two = format!("{},{}", addrs[0], addrs[1]);
    let out = run(&["stats", "--addr", &two, "--json"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(j["total"]["groups"][0]["counters"]["gets"], 10);
    let info = &j["nodes"][0]["info"];
    assert!(
        info["version"]
            .as_str()
            .unwrap()
            .starts_with("groupcache 0.1.0 (commit "),
        "{info}"
    );
    assert!(info["rss_bytes"].as_u64().unwrap() > 1 << 20, "{info}");
    assert!(info["connections"].as_u64().unwrap() >= 1, "{info}");
    assert!(info["uptime_ms"].as_u64().is_some(), "{info}");

    // A node that does not answer: named, exit 1, the others printed.
    let dead = format!("127.0.0.1:{}", free_ports(1)[0]);
    let with_dead = format!("{},{dead}", addrs[0]);
    let out = run(&["stats", "--addr", &with_dead, "--json", "--timeout", "2s"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(j["errors"][0]["addr"], dead.as_str());
    assert!(out.stderr.contains(&dead), "{}", out.stderr);

    // get takes one address.
    let out = run(&["get", "--addr", &two, "g", "k"]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("one --addr"), "{}", out.stderr);
}

/// `--version`: the version, the commit, the build date and the profile.
#[tokio::test]
async fn version_names_the_build() {
    let out = run(&["--version"]).await;
    assert_eq!(out.code, Some(0));
    let v = String::from_utf8_lossy(&out.stdout);
    let v = v.trim();
    let rest = v
        .strip_prefix("groupcache 0.1.0 (commit ")
        .unwrap_or_else(|| panic!("{v}"));
    let (commit, rest) = rest.split_once(", ").unwrap();
    assert!(
        commit == "unknown"
            || commit
                .trim_end_matches("+dirty")
                .chars()
                .all(|c| c.is_ascii_hexdigit()),
        "{v}"
    );
    let (date, profile) = rest.split_once(", ").unwrap();
    assert_eq!(date.len(), 10, "{v}");
    assert!(date.chars().filter(|c| *c == '-').count() == 2, "{v}");
    assert!(matches!(profile, "debug)" | "release)"), "{v}");
}
