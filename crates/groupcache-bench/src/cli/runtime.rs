//! The async runtime a command runs on: `echo --threads` chooses its shape
//! (the same choice as `groupcache serve --threads`, so the limit runs on
//! the runtime of the node it is compared with); the load generator and the
//! report always get one worker per core.
//!
//! | `--threads` | runtime |
//! |---|---|
//! | `1` | tokio's `current_thread` runtime: every task on one thread |
//! | `N` > 1 | a multi-thread runtime with `N` workers |
//! | `0` | a multi-thread runtime with one worker per core |

use std::io;

use tokio::runtime::{Builder, Runtime};

/// The default of `echo --threads` (the node's default).
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
