//! The one error type of the `groupcache` package (binary, CLI and sources).

use std::fmt;

/// What can go wrong in the `groupcache` binary: a bad configuration, an I/O
/// failure at start, or a failed call to a node. Each kind has its own exit
/// code (see [`Error::exit_code`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration (a flag, a `SOURCE`, a group spec) is invalid.
    /// Exit code 2, like a command-line usage error.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An I/O operation failed (binding the listen address, a signal handler).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A node could not be reached.
    #[error("UNAVAILABLE: cannot connect to {addr}: {detail}")]
    Connect {
        /// The address dialled.
        addr: String,
        /// Why it failed.
        detail: String,
    },
    /// A node did not answer its health check SERVING in time (`wait`,
    /// `--wait`).
    #[error("UNAVAILABLE: {addr} was not ready (health SERVING) within {within}: {last}")]
    NotReady {
        /// The node waited for.
        addr: String,
        /// How long it was waited for.
        within: String,
        /// Why the last check failed.
        last: String,
    },
    /// A discovery source could not answer (a file unreadable, a DNS or
    /// etcd query failed).
    #[error("discovery: {0}")]
    Discovery(String),
    /// A node answered a call with a non-OK gRPC status.
    #[error("{}: {}", CodeName(.0.code()), .0.message())]
    Status(tonic::Status),
    /// Some keys of a `get-many` batch failed (each key's status is in the
    /// output). Exit code 3 when every failure is `NOT_FOUND`, else 1.
    #[error("{failed} of {total} keys failed")]
    KeysFailed {
        /// Keys without a value.
        failed: usize,
        /// Keys asked for.
        total: usize,
        /// Whether every failure was `NOT_FOUND`.
        only_not_found: bool,
    },
    /// The gRPC layer refused its configuration or failed to serve.
    #[error(transparent)]
    Grpc(#[from] cache_grpc::Error),
    /// The engine refused something (for example a duplicate group name).
    #[error(transparent)]
    Core(#[from] cache_core::Error),
}

/// Exit code of a successful command.
pub const EXIT_OK: u8 = 0;
/// Exit code of a failure that has no more specific code.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code of a usage or configuration error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code of `groupcache get` when the key does not exist (`NOT_FOUND`).
pub const EXIT_NOT_FOUND: u8 = 3;

impl Error {
    /// Builds an [`Error::Config`].
    pub fn config(message: impl fmt::Display) -> Self {
        Error::Config(message.to_string())
    }

    /// Builds an [`Error::Io`] with what was being done.
    pub fn io(context: impl fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            context: context.to_string(),
            source,
        }
    }

    /// The process exit code for this error: [`EXIT_USAGE`] for a bad
    /// configuration, [`EXIT_NOT_FOUND`] for a `NOT_FOUND` status,
    /// [`EXIT_FAILURE`] otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_)
            | Error::Core(cache_core::Error::Config(_))
            | Error::Core(cache_core::Error::DuplicateGroup(_))
            | Error::Grpc(cache_grpc::Error::Config(_))
            | Error::Grpc(cache_grpc::Error::InvalidPeer { .. }) => EXIT_USAGE,
            Error::Status(s) if s.code() == tonic::Code::NotFound => EXIT_NOT_FOUND,
            Error::KeysFailed {
                only_not_found: true,
                ..
            } => EXIT_NOT_FOUND,
            _ => EXIT_FAILURE,
        }
    }
}

/// Prints a gRPC code the way the proto and grpcurl spell it (`NOT_FOUND`).
struct CodeName(tonic::Code);

impl fmt::Display for CodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(code_name(self.0))
    }
}

/// The canonical upper-case name of a gRPC status code (`NOT_FOUND`, ...).
pub(crate) use cache_grpc::status::code_name;

/// An error and its causes on one line.
pub(crate) use cache_grpc::error::error_chain;

#[cfg(test)]
mod tests {
    /// Causes are joined once each, even when an error prints its cause.
    #[test]
    fn error_chain_says_each_part_once() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "transport error: {}", self.0)
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::other("connection refused"));
        assert_eq!(error_chain(&e), "transport error: connection refused");
    }

    use super::*;

    /// Each kind of error maps to its documented exit code, and a status
    /// prints as `CODE: message`.
    #[test]
    fn exit_codes_and_display() {
        assert_eq!(Error::config("x").exit_code(), 2);
        let nf = Error::Status(tonic::Status::not_found("key not found"));
        assert_eq!(nf.exit_code(), 3);
        assert_eq!(nf.to_string(), "NOT_FOUND: key not found");
        let un = Error::Status(tonic::Status::unavailable("source failed"));
        assert_eq!(un.exit_code(), 1);
        assert_eq!(un.to_string(), "UNAVAILABLE: source failed");
    }
}
