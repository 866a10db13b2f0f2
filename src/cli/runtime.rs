//! The async runtime a command runs on: `serve --threads` chooses its
//! shape (`groupcache-bench echo --threads` makes the same choice, so the
//! limit runs on the node's runtime).
//!
//! | `--threads` | runtime |
//! |---|---|
//! | `1` | tokio's `current_thread` runtime: every task on one thread |
//! | `N` > 1 | a multi-thread runtime with `N` workers |
//! | `0` | a multi-thread runtime with one worker per core |
//!
//! On one thread, the request tasks started by one read of a connection all
//! run before the connection task writes again, so their answers leave in
//! one `writev` instead of one each, and no wake-up crosses threads. That
//! costs less CPU per request when the node shares its cores with other
//! processes (see `docs/bench/profile.md`).

use std::io;

use tokio::runtime::{Builder, Runtime};

/// The default of `--threads`: one worker per core.
pub const DEFAULT_THREADS: usize = 0;

/// The largest `--threads` accepted.
pub const MAX_THREADS: usize = 1024;

/// Builds the runtime for `threads` (see the module doc), with I/O and
/// timers enabled.
pub fn build(threads: usize) -> io::Result<Runtime> {
    match threads {
        1 => Builder::new_current_thread().enable_all().build(),
        0 => Builder::new_multi_thread().enable_all().build(),
        n => Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
}
