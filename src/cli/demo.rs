//! `groupcache demo`: a 3-node mesh in one process, narrated. (Pending the
//! in-process cluster of `cache-grpc`.)

use clap::Args;

use crate::Error;

/// Flags of `groupcache demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {}

/// Runs the demo.
pub async fn run(_args: DemoArgs) -> Result<(), Error> {
    Err(Error::config("demo is not wired yet"))
}
