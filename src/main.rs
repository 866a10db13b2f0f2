//! The `groupcache` binary: see `groupcache --help` and [`groupcache::cli`].

fn main() -> std::process::ExitCode {
    groupcache::cli::main()
}
