//! `groupcache get --addr ADDR GROUP KEY`: one key's value to stdout.

use cache_grpc::pb::GetRequest;
use clap::Args;

use crate::Error;
use crate::cli::client::{ClientArgs, bounded};

/// Flags of `groupcache get`.
#[derive(Debug, Clone, Args)]
pub struct GetArgs {
    /// Node address and timeout.
    #[command(flatten)]
    pub client: ClientArgs,
    /// The group.
    pub group: String,
    /// The key.
    pub key: String,
}

/// Gets the key and writes its raw bytes to stdout (no newline added).
///
/// On failure the error is `CODE: message` (for example
/// `NOT_FOUND: key not found`) and the exit code is 3 for `NOT_FOUND`, 1
/// otherwise.
pub async fn run(args: GetArgs) -> Result<(), Error> {
    let mut client = args.client.connect().await?;
    let mut request = tonic::Request::new(GetRequest {
        group: args.group,
        key: args.key,
    });
    request.set_timeout(args.client.timeout);
    args.client.authorize(&mut request)?;
    let response = bounded(args.client.timeout, client.get(request)).await?;
    crate::cli::write_stdout(&response.value)
}
