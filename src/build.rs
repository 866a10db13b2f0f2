//! What this binary is: its version and the build recorded by the
//! package's `build.rs` (commit, date, profile), for `--version` and for
//! `Stats` (`StatsResponse.info.version`).

/// The commit it was built from (`+dirty` with uncommitted changes).
pub const COMMIT: &str = env!("GROUPCACHE_BUILD_COMMIT");
/// The build date, UTC.
pub const DATE: &str = env!("GROUPCACHE_BUILD_DATE");
/// `release` or `debug`.
pub const PROFILE: &str = env!("GROUPCACHE_BUILD_PROFILE");

/// `0.1.0 (commit 1a2b3c4d5e, 2026-12-02, release)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("GROUPCACHE_BUILD_COMMIT"),
    ", ",
    env!("GROUPCACHE_BUILD_DATE"),
    ", ",
    env!("GROUPCACHE_BUILD_PROFILE"),
    ")"
);

/// What a node reports it runs: `groupcache VERSION`.
pub fn node_version() -> String {
    format!("groupcache {VERSION}")
}
