//! The one error type of `cache-grpc`: configuration, transport and serving
//! failures. Errors on the get path are [`cache_core::Error`]s, mapped to
//! gRPC statuses in [`crate::status`].

/// Everything that can go wrong while setting up or running the gRPC layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A peer address could not be understood (`host:port` or
    /// `http://host:port` expected).
    #[error("invalid peer address {addr:?}: {reason}")]
    InvalidPeer {
        /// The address as given.
        addr: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An option has a value the server or pool cannot work with.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A TLS certificate, key or CA file is missing or unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The gRPC transport failed (serving or connecting).
    #[error("gRPC transport error: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The reflection service could not be built from the descriptor sets.
    #[error("reflection service setup failed: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// A socket operation failed (binding, reading the local address).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A core operation failed (building a group, registering it).
    #[error(transparent)]
    Core(#[from] cache_core::Error),
}

/// An error and its causes on one line (reqwest's and tonic's top-level
/// messages alone rarely say what went wrong); a cause an error already
/// prints is said once.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}
