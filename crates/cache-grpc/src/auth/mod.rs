//! Who may call what: bearer tokens for clients and for peers, checked
//! before a request reaches any service.
//!
//! Every request falls in one [`Role`] by its path:
//!
//! | path | role | needs |
//! |---|---|---|
//! | `Fetch`, `FetchMany`, `Put`, `Invalidate`, `Store` (and every peer-to-peer RPC added later) | [`Role::Peer`] | a peer token, or a peer's certificate |
//! | `Remove`, `Set` | [`Role::Admin`] | an admin token, or a peer's credential; nothing while no token or certificate is configured at all |
//! | `Get`, `GetMany`, `Stats` | [`Role::Client`] | a client token or certificate (or a peer's or an admin's credential) |
//! | health, reflection | [`Role::Open`] | nothing, unless configured |
//!
//! A request without a credential, or with an unknown one, is
//! `UNAUTHENTICATED`; a client's token, or a certificate of the CA not on
//! the peer allow-list, on a peer-only RPC is `PERMISSION_DENIED`.
//! Certificates are checked by the TLS handshake ([`tls`](crate::tls));
//! what reaches this module is a [`ClientCertificate`] in the request's
//! extensions. Tokens travel as `authorization: Bearer TOKEN` and
//! are compared in constant time ([`Tokens`]); no token is ever logged.
//! With no tokens configured every request passes (the default: a node on
//! loopback). The check happens before shedding, so a flood of bad
//! credentials never takes a permit from real requests.

mod layer;
mod tokens;

use std::sync::Arc;

pub use self::layer::{Auth, AuthLayer};
pub use self::tokens::Tokens;

use crate::Error;
use crate::tls::ClientCertificate;

/// What a request must show, by its path; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Nothing.
    Open,
    /// A client's (or a peer's) credential.
    Client,
    /// A peer's credential.
    Peer,
    /// An admin's credential or a peer's: the RPCs that change the cache
    /// for everyone (`Remove`, `Set`).
    Admin,
}

/// Which tokens are accepted where. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct AuthPolicy {
    clients: Option<Tokens>,
    peers: Option<Tokens>,
    admins: Option<Tokens>,
    open_stats: bool,
    closed_health: bool,
    /// Client certificates are checked (mTLS is on): one proves peer
    /// identity when it is on the allow-list.
    peer_certificates: bool,
    /// Peer-only RPCs are served on another port: refused here.
    peers_elsewhere: bool,
}

impl AuthPolicy {
    /// No checks at all (the default).
    pub fn open() -> Self {
        AuthPolicy::default()
    }

    /// Clients must present one of `tokens` (for `Get`, `Stats`).
    pub fn client_tokens(mut self, tokens: Tokens) -> Self {
        self.clients = Some(tokens);
        self
    }

    /// Peers present one of `tokens` on `Fetch`; a node's own peer client
    /// sends the first.
    pub fn peer_tokens(mut self, tokens: Tokens) -> Self {
        self.peers = Some(tokens);
        self
    }

    /// Admins present one of `tokens` on `Remove` and `Set` (a peer's
    /// credential is accepted there too). Once any token or certificate is
    /// configured, those RPCs need one of the two; a client's credential
    /// gets `PERMISSION_DENIED`. Admin tokens also pass as client tokens.
    pub fn admin_tokens(mut self, tokens: Tokens) -> Self {
        self.admins = Some(tokens);
        self
    }

    /// Client certificates count ([`ClientCertificate`]: the server's TLS
    /// has a CA): a peer's proves peer identity, any other one a client's.
    pub fn peer_certificates(mut self, on: bool) -> Self {
        self.peer_certificates = on;
        self
    }

    /// Peer-only RPCs are refused (`PERMISSION_DENIED`) whatever the
    /// credential: the policy of a client port when the node has a peer
    /// port. Default false.
    pub fn peers_elsewhere(mut self, on: bool) -> Self {
        self.peers_elsewhere = on;
        self
    }

    /// `Stats` without a token (for a monitoring scraper), when clients
    /// need tokens otherwise. Default false.
    pub fn open_stats(mut self, on: bool) -> Self {
        self.open_stats = on;
        self
    }

    /// Health and reflection need a client token too. Default false:
    /// load balancers and `grpcurl list` reach them without one.
    pub fn closed_health(mut self, on: bool) -> Self {
        self.closed_health = on;
        self
    }

    /// Checks that the policy can work: with client tokens, peers need an
    /// identity of their own (peer tokens or certificates), or `Fetch`
    /// could not be told from a client's call.
    pub fn validate(&self) -> Result<(), Error> {
        if self.clients.is_some() && self.peers.is_none() && !self.peer_certificates {
            return Err(Error::Config(
                "client tokens need peer tokens or peer certificates too: Fetch is for peers \
                 only"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Whether any check is made at all.
    pub fn is_open(&self) -> bool {
        self.clients.is_none()
            && self.peers.is_none()
            && self.admins.is_none()
            && !self.peer_certificates
            && !self.peers_elsewhere
    }

    /// Whether any credential is configured (then `Remove` and `Set` need
    /// an admin's or a peer's).
    fn has_credentials(&self) -> bool {
        self.clients.is_some()
            || self.peers.is_some()
            || self.admins.is_some()
            || self.peer_certificates
    }

    /// The tokens this node's peer client presents, if any.
    pub fn peer_tokens_to_send(&self) -> Option<&Tokens> {
        self.peers.as_ref()
    }

    /// The role of a request to `path`.
    pub fn role(&self, path: &str) -> Role {
        const GROUPCACHE: &str = "/groupcache.v1.Groupcache/";
        if let Some(method) = path.strip_prefix(GROUPCACHE) {
            return match method {
                "Fetch" | "FetchMany" | "Put" | "Invalidate" | "Store" => Role::Peer,
                "Remove" | "Set" => Role::Admin,
                "Stats" if self.open_stats => Role::Open,
                _ => Role::Client,
            };
        }
        let health =
            path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.");
        if health && !self.closed_health {
            Role::Open
        } else {
            Role::Client
        }
    }

    /// The answer to a request of `role` showing `token` (the bytes after
    /// `Bearer `) and maybe a peer certificate: `Ok` to serve it, else the
    /// status to send.
    pub fn check(
        &self,
        role: Role,
        token: Option<&[u8]>,
        certificate: Option<&ClientCertificate>,
    ) -> Result<(), tonic::Status> {
        let certificate = certificate.filter(|_| self.peer_certificates);
        let is_peer = || {
            certificate.is_some_and(|c| c.peer)
                || matches!((token, &self.peers), (Some(t), Some(p)) if p.contains(t))
        };
        let is_admin = || matches!((token, &self.admins), (Some(t), Some(a)) if a.contains(t));
        let is_client = || {
            certificate.is_some()
                || matches!((token, &self.clients), (Some(t), Some(c)) if c.contains(t))
                || is_admin()
        };
        match role {
            Role::Open => Ok(()),
            Role::Admin if !self.has_credentials() => Ok(()),
            Role::Admin if is_admin() || is_peer() => Ok(()),
            Role::Admin if is_client() => Err(tonic::Status::permission_denied(
                "Remove and Set change the cache for every client: they need an admin token \
                 (--admin-token-file) or a peer's credential",
            )),
            Role::Peer if self.peers_elsewhere => Err(tonic::Status::permission_denied(
                "peer RPCs are served on the node's peer port (--peer-listen), not here",
            )),
            Role::Client if self.clients.is_none() => Ok(()),
            Role::Client if is_client() || is_peer() => Ok(()),
            Role::Peer if self.peers.is_none() && !self.peer_certificates => Ok(()),
            Role::Peer if is_peer() => Ok(()),
            Role::Peer if is_client() => Err(tonic::Status::permission_denied(
                "this RPC is for peers only: a client's credential is not enough",
            )),
            _ if token.is_none() => Err(tonic::Status::unauthenticated(
                "missing credentials: send authorization: Bearer TOKEN",
            )),
            _ => Err(tonic::Status::unauthenticated("invalid token")),
        }
    }
}

/// Shared policy for the layer: one per server.
pub(crate) type SharedPolicy = Arc<AuthPolicy>;

#[cfg(test)]
mod tests;
