//! The benchmark tool's error.

/// Why a benchmark run could not start or finish. (Individual request
/// failures are not errors: they are counted in the report by status code.)
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A setting is invalid; the message names it.
    #[error("invalid benchmark setting: {0}")]
    Config(String),
    /// A target could not be reached or its address is malformed.
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// The address as given.
        target: String,
        /// What went wrong.
        reason: String,
    },
    /// Reading a file (a key list) or a socket failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A worker task panicked or was cancelled.
    #[error("a benchmark worker failed: {0}")]
    Worker(String),
    /// An RPC the tool itself needs (not a measured request) failed.
    #[error("{context}: {status}")]
    Rpc {
        /// What was being asked.
        context: String,
        /// The gRPC status.
        status: Box<tonic::Status>,
    },
}
