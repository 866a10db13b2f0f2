//! The `groupcache` binary: see `groupcache --help` and [`groupcache::cli`].

/// The binary's allocator: mimalloc keeps a node's heap close to what it
/// holds when long-lived cache values and short-lived request buffers are
/// allocated and freed on different threads (see `docs/benchmarks-memory.md`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    groupcache::cli::main()
}
