//! [`ServerOptions`], built and checked by [`ServerOptionsBuilder`]: every
//! limit of a server has a default there and a setter, and an invalid
//! value (a zero limit or timeout) is refused by
//! [`build`](ServerOptionsBuilder::build), so it never reaches the server.

use std::time::Duration;

mod builder;

pub use self::builder::ServerOptionsBuilder;
use crate::access_log::AccessLog;
use crate::auth::AuthPolicy;
use crate::server::RequestStats;
use crate::tls::ServerTls;
use crate::transport::{Transport, TransportConfig};
use crate::{Error, limits};

/// The settings of [`serve`](crate::serve()): made by
/// [`ServerOptions::builder`] (checked) or [`Default`]. Cheap to clone.
///
/// ```
/// use std::time::Duration;
/// use cache_grpc::ServerOptions;
///
/// let opts = ServerOptions::builder()
///     .request_timeout(Duration::from_secs(5))
///     .max_connections(1000)
///     .build()
///     .unwrap();
/// assert_eq!(opts.request_timeout(), Duration::from_secs(5));
/// assert!(ServerOptions::builder().max_connections(0).build().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub(crate) max_value_bytes: usize,
    pub(crate) max_batch_keys: usize,
    pub(crate) reflection: bool,
    pub(crate) max_concurrent_requests: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) max_concurrent_streams: u32,
    pub(crate) max_pending_resets: usize,
    pub(crate) max_local_error_resets: usize,
    pub(crate) max_resets_per_second: u32,
    pub(crate) shutdown_grace: Duration,
    pub(crate) drain_timeout: Duration,
    pub(crate) keepalive_interval: Duration,
    pub(crate) max_connections: usize,
    pub(crate) max_header_list_bytes: u32,
    pub(crate) max_queued_response_bytes: usize,
    pub(crate) response_send_timeout: Duration,
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_connection_age: Duration,
    pub(crate) write_coalescing: bool,
    pub(crate) unary_codec: bool,
    pub(crate) write_buffer_bytes: usize,
    pub(crate) transport: Transport,
    pub(crate) auth: AuthPolicy,
    pub(crate) tls: Option<ServerTls>,
    pub(crate) version: String,
    pub(crate) access_log: AccessLog,
    pub(crate) request_stats: RequestStats,
    pub(crate) mutation_timeout: Duration,
    pub(crate) mutations_off: Option<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_value_bytes: limits::DEFAULT_MAX_VALUE_BYTES,
            max_batch_keys: limits::DEFAULT_MAX_BATCH_KEYS,
            reflection: true,
            max_concurrent_requests: 4096,
            request_timeout: Duration::from_secs(30),
            max_concurrent_streams: 1024,
            max_pending_resets: 1024,
            max_local_error_resets: 1024,
            max_resets_per_second: 2048,
            shutdown_grace: Duration::ZERO,
            drain_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(30),
            max_connections: 10_000,
            max_header_list_bytes: 16 * 1024,
            max_queued_response_bytes: 64 << 20,
            response_send_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            max_connection_age: Duration::from_secs(3600),
            write_coalescing: true,
            unary_codec: true,
            write_buffer_bytes: 256 * 1024,
            transport: Transport::H2,
            auth: AuthPolicy::open(),
            tls: None,
            version: format!("cache-grpc {}", env!("CARGO_PKG_VERSION")),
            access_log: AccessLog::off(),
            request_stats: RequestStats::default(),
            mutation_timeout: crate::mutations::DEFAULT_MUTATION_TIMEOUT,
            mutations_off: None,
        }
    }
}

impl ServerOptions {
    /// A builder starting from the defaults.
    pub fn builder() -> ServerOptionsBuilder {
        ServerOptionsBuilder {
            opts: ServerOptions::default(),
        }
    }

    /// A builder starting from these options.
    pub fn to_builder(&self) -> ServerOptionsBuilder {
        ServerOptionsBuilder { opts: self.clone() }
    }

    /// The largest value served.
    pub fn max_value_bytes(&self) -> usize {
        self.max_value_bytes
    }

    /// The most keys a `GetMany` or `FetchMany` may ask for.
    pub fn max_batch_keys(&self) -> usize {
        self.max_batch_keys
    }

    /// The longest any `Groupcache` request may take.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// How long in-flight requests may take to finish after shutdown
    /// begins.
    pub fn drain_timeout(&self) -> Duration {
        self.drain_timeout
    }

    /// The connection loop serving.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// See [`ServerOptionsBuilder::reflection`].
    pub fn reflection(&self) -> bool {
        self.reflection
    }

    /// See [`ServerOptionsBuilder::max_concurrent_requests`].
    pub fn max_concurrent_requests(&self) -> usize {
        self.max_concurrent_requests
    }

    /// See [`ServerOptionsBuilder::max_concurrent_streams`].
    pub fn max_concurrent_streams(&self) -> u32 {
        self.max_concurrent_streams
    }

    /// See [`ServerOptionsBuilder::max_pending_resets`].
    pub fn max_pending_resets(&self) -> usize {
        self.max_pending_resets
    }

    /// See [`ServerOptionsBuilder::max_local_error_resets`].
    pub fn max_local_error_resets(&self) -> usize {
        self.max_local_error_resets
    }

    /// See [`ServerOptionsBuilder::max_resets_per_second`].
    pub fn max_resets_per_second(&self) -> u32 {
        self.max_resets_per_second
    }

    /// See [`ServerOptionsBuilder::shutdown_grace`].
    pub fn shutdown_grace(&self) -> Duration {
        self.shutdown_grace
    }

    /// See [`ServerOptionsBuilder::keepalive_interval`].
    pub fn keepalive_interval(&self) -> Duration {
        self.keepalive_interval
    }

    /// See [`ServerOptionsBuilder::max_connections`].
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// See [`ServerOptionsBuilder::max_header_list_bytes`].
    pub fn max_header_list_bytes(&self) -> u32 {
        self.max_header_list_bytes
    }

    /// See [`ServerOptionsBuilder::max_queued_response_bytes`].
    pub fn max_queued_response_bytes(&self) -> usize {
        self.max_queued_response_bytes
    }

    /// See [`ServerOptionsBuilder::response_send_timeout`].
    pub fn response_send_timeout(&self) -> Duration {
        self.response_send_timeout
    }

    /// See [`ServerOptionsBuilder::handshake_timeout`].
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// See [`ServerOptionsBuilder::max_connection_age`].
    pub fn max_connection_age(&self) -> Duration {
        self.max_connection_age
    }

    /// See [`ServerOptionsBuilder::write_coalescing`].
    pub fn write_coalescing(&self) -> bool {
        self.write_coalescing
    }

    /// See [`ServerOptionsBuilder::unary_codec`].
    pub fn unary_codec(&self) -> bool {
        self.unary_codec
    }

    /// See [`ServerOptionsBuilder::write_buffer_bytes`].
    pub fn write_buffer_bytes(&self) -> usize {
        self.write_buffer_bytes
    }

    /// See [`ServerOptionsBuilder::auth`].
    pub fn auth(&self) -> &AuthPolicy {
        &self.auth
    }

    /// See [`ServerOptionsBuilder::mutation_timeout`].
    pub fn mutation_timeout(&self) -> Duration {
        self.mutation_timeout
    }

    /// See [`ServerOptionsBuilder::access_log`].
    pub fn access_log(&self) -> AccessLog {
        self.access_log
    }

    /// See [`ServerOptionsBuilder::version`].
    pub fn version(&self) -> &str {
        &self.version
    }

    /// See [`ServerOptionsBuilder::tls`].
    pub fn tls(&self) -> Option<&ServerTls> {
        self.tls.as_ref()
    }

    /// See [`ServerOptionsBuilder::request_stats`].
    pub fn request_stats(&self) -> &RequestStats {
        &self.request_stats
    }

    /// What every connection is given.
    pub(crate) fn transport_config(&self) -> TransportConfig {
        TransportConfig {
            transport: self.transport,
            max_concurrent_streams: self.max_concurrent_streams,
            max_pending_resets: self.max_pending_resets,
            max_local_error_resets: self.max_local_error_resets,
            max_resets_per_second: self.max_resets_per_second,
            max_connections: self.max_connections,
            max_header_list_size: self.max_header_list_bytes,
            max_queued_response_bytes: self.max_queued_response_bytes,
            response_send_timeout: self.response_send_timeout,
            handshake_timeout: self.handshake_timeout,
            keepalive_interval: self.keepalive_interval,
            max_connection_age: self.max_connection_age,
            // Time a connection past its age gets for its streams.
            connection_age_grace: self
                .request_timeout
                .saturating_add(self.response_send_timeout),
            write_buffer: self.write_coalescing.then_some(self.write_buffer_bytes),
            tls: self.tls.clone(),
            open: Default::default(),
        }
    }
}

impl ServerOptions {
    fn validate(&self) -> Result<(), Error> {
        self.auth.validate()?;
        if self.max_value_bytes == 0 {
            return Err(Error::Config("max_value_bytes must be at least 1".into()));
        }
        if self.max_batch_keys == 0 {
            return Err(Error::Config("max_batch_keys must be at least 1".into()));
        }
        if self.max_concurrent_requests == 0 {
            return Err(Error::Config(
                "max_concurrent_requests must be at least 1".into(),
            ));
        }
        if self.request_timeout.is_zero() {
            return Err(Error::Config("request_timeout must be above zero".into()));
        }
        if self.mutation_timeout.is_zero() {
            return Err(Error::Config("mutation_timeout must be above zero".into()));
        }
        if self.max_concurrent_streams == 0 {
            return Err(Error::Config(
                "max_concurrent_streams must be at least 1".into(),
            ));
        }
        if self.max_pending_resets == 0 {
            return Err(Error::Config(
                "max_pending_resets must be at least 1".into(),
            ));
        }
        if self.max_local_error_resets == 0 {
            return Err(Error::Config(
                "max_local_error_resets must be at least 1".into(),
            ));
        }
        if self.max_resets_per_second == 0 {
            return Err(Error::Config(
                "max_resets_per_second must be at least 1".into(),
            ));
        }
        let zero_durations = [
            ("keepalive_interval", self.keepalive_interval),
            ("response_send_timeout", self.response_send_timeout),
            ("handshake_timeout", self.handshake_timeout),
            ("max_connection_age", self.max_connection_age),
        ];
        if let Some((name, _)) = zero_durations.iter().find(|(_, d)| d.is_zero()) {
            return Err(Error::Config(format!("{name} must be above zero")));
        }
        let zero_counts = [
            ("max_connections", self.max_connections == 0),
            ("max_header_list_bytes", self.max_header_list_bytes == 0),
            (
                "max_queued_response_bytes",
                self.max_queued_response_bytes == 0,
            ),
        ];
        if let Some((name, _)) = zero_counts.iter().find(|(_, zero)| *zero) {
            return Err(Error::Config(format!("{name} must be at least 1")));
        }
        if self.write_buffer_bytes == 0 {
            return Err(Error::Config(
                "write_buffer_bytes must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
