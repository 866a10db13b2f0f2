//! `serve` flags for who may call what: client and peer token files, which
//! RPCs stay open, and `--insecure`.
//!
//! Tokens are never taken from the command line, where any user of the
//! machine could read them: a file (`--auth-token-file`,
//! `--peer-token-file`) or an environment variable holding the tokens
//! themselves (`GROUPCACHE_AUTH_TOKENS`, `GROUPCACHE_PEER_TOKENS`, one per
//! line or comma-separated). Files are reread on SIGHUP and when they
//! change ([`reload`](super::reload)).

use std::net::SocketAddr;
use std::path::PathBuf;

use cache_grpc::auth::{AuthPolicy, Tokens};
use clap::Args;

use crate::Error;
use crate::cli::parse::clap_parsers;
use crate::cli::serve::reload::Watched;

/// The variable holding client tokens themselves.
pub const CLIENT_TOKENS_VAR: &str = "GROUPCACHE_AUTH_TOKENS";
/// The variable holding peer tokens themselves.
pub const PEER_TOKENS_VAR: &str = "GROUPCACHE_PEER_TOKENS";
/// The variable holding admin tokens themselves.
pub const ADMIN_TOKENS_VAR: &str = "GROUPCACHE_ADMIN_TOKENS";

/// Authentication flags of `serve`.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Clients must send `authorization: Bearer TOKEN` with one of the
    /// tokens in FILE (one per line; several at once for rotation; reread
    /// on change and on SIGHUP). Needs --peer-token-file too (Fetch is for
    /// peers only). Or set GROUPCACHE_AUTH_TOKENS to the tokens.
    #[arg(long, env = "GROUPCACHE_AUTH_TOKEN_FILE", value_name = "FILE")]
    pub auth_token_file: Option<PathBuf>,
    /// Peers send, and require on Fetch, a token of FILE (the same file on
    /// every node; reread on change and on SIGHUP). A client token on Fetch
    /// gets PERMISSION_DENIED. Or set GROUPCACHE_PEER_TOKENS.
    #[arg(long, env = "GROUPCACHE_PEER_TOKEN_FILE", value_name = "FILE")]
    pub peer_token_file: Option<PathBuf>,
    /// Admins send a token of FILE on Remove and Set, the RPCs that change
    /// the cache for everyone (a peer's token works there too; a client's
    /// gets PERMISSION_DENIED once any token is configured). Admin tokens
    /// also pass as client tokens. Or set GROUPCACHE_ADMIN_TOKENS.
    #[arg(long, env = "GROUPCACHE_ADMIN_TOKEN_FILE", value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Serve Stats without a token (for a monitoring scraper).
    #[arg(long, env = "GROUPCACHE_OPEN_STATS", value_parser = clap_parsers::switch)]
    pub open_stats: bool,
    /// Require a token for health and reflection too (open by default:
    /// load balancers and `grpcurl list` reach them without one).
    #[arg(long, env = "GROUPCACHE_AUTH_HEALTH", value_parser = clap_parsers::switch)]
    pub auth_health: bool,
    /// Serve a non-loopback --listen address without TLS or tokens (refused
    /// otherwise: anyone who reaches the port could read every key).
    #[arg(long, env = "GROUPCACHE_INSECURE", value_parser = clap_parsers::switch)]
    pub insecure: bool,
}

/// The node's tokens, read at start.
#[derive(Debug, Clone, Default)]
pub struct NodeTokens {
    /// Client tokens, if any.
    pub clients: Option<Tokens>,
    /// Peer tokens, if any.
    pub peers: Option<Tokens>,
    /// Admin tokens, if any.
    pub admins: Option<Tokens>,
}

/// Tokens from a file, else from the variable `var` (read through `env`).
fn load(
    file: Option<&PathBuf>,
    var: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Tokens>, Error> {
    let tokens = match (file, env(var)) {
        (Some(f), _) => Tokens::from_file(f)?,
        (None, Some(text)) => Tokens::from_text(&text.replace(',', "\n"))
            .map_err(|e| Error::config(format!("{var}: {e}")))?,
        (None, None) => return Ok(None),
    };
    Ok(Some(tokens))
}

impl AuthArgs {
    /// Reads the token files (or variables); a file that cannot be read or
    /// holds no token is a configuration error.
    pub fn tokens(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<NodeTokens, Error> {
        let clients = load(self.auth_token_file.as_ref(), CLIENT_TOKENS_VAR, env)?;
        let peers = load(self.peer_token_file.as_ref(), PEER_TOKENS_VAR, env)?;
        if clients.is_some() && peers.is_none() {
            return Err(Error::config(
                "--auth-token-file needs --peer-token-file too: Fetch is for peers only, and \
                 peers prove who they are with a peer token",
            ));
        }
        let admins = load(self.admin_token_file.as_ref(), ADMIN_TOKENS_VAR, env)?;
        Ok(NodeTokens {
            clients,
            peers,
            admins,
        })
    }

    /// The server's policy for `tokens`.
    pub fn policy(&self, tokens: &NodeTokens) -> AuthPolicy {
        let mut p = AuthPolicy::open()
            .open_stats(self.open_stats)
            .closed_health(self.auth_health);
        if let Some(c) = &tokens.clients {
            p = p.client_tokens(c.clone());
        }
        if let Some(t) = &tokens.peers {
            p = p.peer_tokens(t.clone());
        }
        if let Some(t) = &tokens.admins {
            p = p.admin_tokens(t.clone());
        }
        p
    }

    /// Refuses a non-loopback listen address with nothing protecting it,
    /// unless `--insecure`.
    pub fn check_exposure(
        &self,
        listen: SocketAddr,
        tokens: &NodeTokens,
        tls: bool,
    ) -> Result<(), Error> {
        if listen.ip().is_loopback() || self.insecure || tokens.clients.is_some() || tls {
            return Ok(());
        }
        Err(Error::config(format!(
            "--listen {listen} is reachable from other machines, but nothing keeps strangers \
             out: give --tls-cert and --tls-key (with --tls-ca for mTLS between peers), or \
             --auth-token-file and --peer-token-file (see docs/cli.md, \"Running it in \
             production\"), or --insecure to serve it open anyway"
        )))
    }
}

impl NodeTokens {
    /// The token files, to watch for changes.
    pub fn watched(&self) -> Vec<Watched> {
        [
            ("client tokens", &self.clients),
            ("peer tokens", &self.peers),
            ("admin tokens", &self.admins),
        ]
        .into_iter()
        .filter_map(|(what, set)| {
            let set = set.clone()?;
            let file = set.file()?.to_owned();
            Some(Watched {
                what,
                files: vec![file],
                reload: Box::new(move || {
                    set.reload()
                        .map(|n| format!("{n} tokens"))
                        .map_err(|e| e.to_string())
                }),
            })
        })
        .collect()
    }
}

#[cfg(test)]
mod tests;
