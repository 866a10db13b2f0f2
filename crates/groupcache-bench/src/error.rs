//! The one error type of `groupcache-bench`, its exit codes, and the names
//! of gRPC status codes as the reports spell them.

use std::fmt;

/// What can stop a run, the echo server or a report: a bad setting, an I/O
/// failure, an unreachable target, or a run whose requests failed. Request
/// failures alone never stop a run; they are counted by status code in the
/// [`Report`](crate::Report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is invalid (a flag, the key set, a file that is not a
    /// report). Exit code 2, like a command-line usage error.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An I/O operation failed (a keys or report file, the echo server's
    /// listener, a signal handler, a worker that died).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A target could not be reached when the run opened its connections.
    #[error("UNAVAILABLE: cannot connect to {addr}: {detail}")]
    Connect {
        /// The address dialled.
        addr: String,
        /// Why it failed, causes included, on one line.
        detail: String,
    },
    /// The run completed but failed as a whole: no request completed, every
    /// request failed, or more than `--max-error-rate` of them did. The
    /// report has been printed already. Exit code 1.
    #[error("UNAVAILABLE: {0}")]
    Failed(String),
}

/// Exit code of a successful command.
pub const EXIT_OK: u8 = 0;
/// Exit code of a failure that has no more specific code.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code of a usage or configuration error.
pub const EXIT_USAGE: u8 = 2;

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
    /// setting, [`EXIT_FAILURE`] otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }
}

/// The canonical upper-case name of a gRPC status code (`NOT_FOUND`, ...),
/// as the proto and grpcurl spell it: the keys of
/// [`Report::error_codes`](crate::Report::error_codes).
pub(crate) use cache_grpc::status::code_name;

/// An error and its causes on one line.
pub(crate) use cache_grpc::error::error_chain;

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A bad setting exits 2, anything else 1; codes print as the proto
    /// names them.
    #[test]
    fn exit_codes_and_names() {
        assert_eq!(Error::config("x").exit_code(), EXIT_USAGE);
        assert_eq!(Error::Failed("all 5 requests failed".into()).exit_code(), 1);
        assert_eq!(
            Error::Failed("all 5 requests failed".into()).to_string(),
            "UNAVAILABLE: all 5 requests failed"
        );
        assert_eq!(code_name(tonic::Code::NotFound), "NOT_FOUND");
        assert_eq!(
            code_name(tonic::Code::DeadlineExceeded),
            "DEADLINE_EXCEEDED"
        );
    }
}
