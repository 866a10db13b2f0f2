//! `driver.rs` of a build without any SQL driver (no `sql-*` feature):
//! the same names, uninhabited. [`Options::new`] answers `None`, so no
//! `sql:` source can be built, and nothing else can be called.

use std::time::Duration;

use bytes::Bytes;

use super::outcome::{Problem, Shape};
use super::spec::SqlSpec;
use super::{Password, SqlOptions};

/// No driver's connection options: none can exist.
#[derive(Clone)]
pub(super) enum Options {}

/// No driver's pool: none can exist.
#[derive(Clone)]
pub(super) enum Pools {}

impl Options {
    /// Always `None`: no driver is compiled in.
    pub(super) fn new(
        _spec: &SqlSpec,
        _password: Option<&Password>,
        _options: &SqlOptions,
    ) -> Option<Result<Options, String>> {
        None
    }

    /// Unreachable: there are no options.
    pub(super) fn pool(&self, _options: &SqlOptions) -> Pools {
        match *self {}
    }

    /// Unreachable: there are no options.
    pub(super) async fn check(
        &self,
        _sql: &str,
        _ttl_column: Option<&str>,
        _timeout: Duration,
    ) -> Result<Shape, Result<Problem, Problem>> {
        match *self {}
    }
}

impl Pools {
    /// Unreachable: there is no pool.
    pub(super) async fn load(
        &self,
        _sql: &str,
        _key: &str,
        _shape: Shape,
        _timeout: Duration,
        _max_value_bytes: u64,
    ) -> Result<(Bytes, Option<Duration>), Problem> {
        match *self {}
    }

    /// Unreachable: there is no pool.
    pub(super) async fn close(&self) {
        match *self {}
    }
}
