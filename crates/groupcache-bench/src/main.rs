//! The `groupcache-bench` binary: see `groupcache-bench --help` and
//! [`groupcache_bench::cli`].

/// The same allocator as the node's binary, so the echo limit and the load
/// generator's own CPU per request are measured on the allocator the node
/// runs on.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    groupcache_bench::cli::main()
}
