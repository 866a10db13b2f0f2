//! `groupcache remove --addr ADDR GROUP KEY...` and `groupcache set --addr
//! ADDR GROUP KEY [VALUE]`: change keys across the whole mesh.
//!
//! The node asked sends the change to each key's owner first and then to
//! every other node (docs/core.md, "Consistency"). Both print which nodes
//! applied it. When some node could not be reached the command says which
//! and why on stderr and exits 1: the change is idempotent, so run it
//! again. A node with tokens needs an admin token (`--admin-token-file` on
//! the node) or a peer's.

use std::path::PathBuf;
use std::time::Duration;

use cache_grpc::pb::{MutationResponse, RemoveRequest, SetRequest};
use clap::Args;

use crate::Error;
use crate::cli::client::{ClientArgs, bounded};
use crate::cli::parse::clap_parsers;

/// Flags of `groupcache remove`.
#[derive(Debug, Clone, Args)]
pub struct RemoveArgs {
    /// Node address and timeout.
    #[command(flatten)]
    pub client: ClientArgs,
    /// The group.
    pub group: String,
    /// The keys (one RPC for all of them; at most the node's
    /// --max-batch-keys).
    #[arg(required = true)]
    pub keys: Vec<String>,
}

/// Flags of `groupcache set`.
#[derive(Debug, Clone, Args)]
pub struct SetArgs {
    /// Node address and timeout.
    #[command(flatten)]
    pub client: ClientArgs,
    /// How long the value lives (default: until evicted or changed).
    #[arg(long, value_name = "DURATION", value_parser = clap_parsers::duration)]
    pub ttl: Option<Duration>,
    /// Read the value from FILE (`-`: stdin) instead of the argument.
    #[arg(long, value_name = "FILE", conflicts_with = "value")]
    pub value_file: Option<PathBuf>,
    /// The group.
    pub group: String,
    /// The key.
    pub key: String,
    /// The value, as given.
    #[arg(required_unless_present = "value_file")]
    pub value: Option<String>,
}

/// Removes the keys from every node and prints the nodes reached.
pub async fn remove(args: RemoveArgs) -> Result<(), Error> {
    let mut client = args.client.connect().await?;
    let count = args.keys.len();
    let mut request = tonic::Request::new(RemoveRequest {
        group: args.group,
        keys: args.keys,
    });
    request.set_timeout(args.client.timeout);
    args.client.authorize(&mut request)?;
    let answer = bounded(args.client.timeout, client.remove(request)).await?;
    println!("removed {count} key(s) from {}", answer.reached.join(", "));
    unreached(&answer)
}

/// Stores the value at the key's owner, drops every other copy, and prints
/// the owner and the nodes reached.
pub async fn set(args: SetArgs) -> Result<(), Error> {
    let value = match (&args.value_file, &args.value) {
        (Some(path), _) if path.as_os_str() == "-" => {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
                .map_err(|e| Error::io("reading the value from stdin", e))?;
            bytes
        }
        (Some(path), _) => std::fs::read(path)
            .map_err(|e| Error::io(format!("reading the value from {}", path.display()), e))?,
        (None, Some(value)) => value.clone().into_bytes(),
        (None, None) => return Err(Error::config("give a VALUE or --value-file")),
    };
    let mut client = args.client.connect().await?;
    let mut request = tonic::Request::new(SetRequest {
        group: args.group,
        key: args.key,
        value: value.into(),
        ttl_ms: args.ttl.map_or(0, |t| {
            u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1)
        }),
    });
    request.set_timeout(args.client.timeout);
    args.client.authorize(&mut request)?;
    let answer = bounded(args.client.timeout, client.set(request)).await?;
    println!(
        "stored at {}; copies dropped on {}",
        answer.owner,
        answer.reached.join(", ")
    );
    unreached(&answer)
}

/// Says on stderr which nodes the change did not reach, and fails if any.
fn unreached(answer: &MutationResponse) -> Result<(), Error> {
    if answer.unreached.is_empty() {
        return Ok(());
    }
    for failure in &answer.unreached {
        eprintln!("not reached: {} ({})", failure.peer, failure.error);
    }
    Err(Error::Status(tonic::Status::unavailable(format!(
        "{} node(s) not reached; the change is idempotent: run it again",
        answer.unreached.len()
    ))))
}
