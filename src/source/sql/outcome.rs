//! What a start check or a load of a `sql:` source ends with, in terms
//! that name no driver type (so that a build without drivers has them).

/// What the start check found out about the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shape {
    /// The index of the TTL column, if one was named.
    pub(super) ttl_index: Option<usize>,
}

/// Why a check or a load did not give a value.
#[derive(Debug)]
pub(super) enum Problem {
    /// The driver or the database failed (a connection, an SQL error).
    /// The text may quote secrets: redact it before showing it.
    Sql(String),
    /// No connection of the pool came free (or could be made) within the
    /// connect timeout.
    PoolTimedOut,
    /// The statement or the row is not what a source needs (said in the
    /// text, which quotes no secret).
    Shape(String),
    /// There is no row, or the first column of the first row is NULL.
    NoValue,
    /// The query (or, at start, the connection) did not finish in time.
    Timeout,
}
