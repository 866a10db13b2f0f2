//! [`ServerOptionsBuilder`]: a setter per option, each with its default
//! and what happens at the limit; [`build`](ServerOptionsBuilder::build)
//! checks the whole.

use std::time::Duration;

use super::ServerOptions;
use crate::Error;
use crate::access_log::AccessLog;
use crate::auth::AuthPolicy;
use crate::server::RequestStats;
use crate::tls::ServerTls;
use crate::transport::Transport;

/// Builds [`ServerOptions`]: each setter takes and returns the builder
/// (`ServerOptions::builder().a(..).b(..).build()`), and
/// [`build`](Self::build) checks the whole.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ServerOptionsBuilder {
    pub(super) opts: ServerOptions,
}

impl ServerOptionsBuilder {
    /// The largest value served. Sets the message limits of the server
    /// (and must match the peers' [`PoolOptions`](crate::PoolOptions)
    /// `max_value_bytes`). Default 8 MiB.
    pub fn max_value_bytes(mut self, value: usize) -> Self {
        self.opts.max_value_bytes = value;
        self
    }

    /// The most keys one `GetMany` (or a peer's `FetchMany`, or a `Remove`) may ask for;
    /// a request with more is refused with `INVALID_ARGUMENT`, naming the
    /// limit. Use the same value on every node: a batch's keys owned by a
    /// node with a lower limit are loaded by the requester instead. Default
    /// 1000.
    pub fn max_batch_keys(mut self, value: usize) -> Self {
        self.opts.max_batch_keys = value;
        self
    }

    /// Serve `grpc.reflection.v1` and `v1alpha` (for grpcurl and friends).
    /// Default true.
    pub fn reflection(mut self, value: bool) -> Self {
        self.opts.reflection = value;
        self
    }

    /// `Groupcache` requests in flight at once; the next is answered
    /// `RESOURCE_EXHAUSTED` at once (load shedding). Default 4096.
    pub fn max_concurrent_requests(mut self, value: usize) -> Self {
        self.opts.max_concurrent_requests = value;
        self
    }

    /// The longest any `Groupcache` request may take: the budget of a
    /// request without `grpc-timeout`, and the cap of one with a longer
    /// one. Default 30 s.
    pub fn request_timeout(mut self, value: Duration) -> Self {
        self.opts.request_timeout = value;
        self
    }

    /// HTTP/2 streams per connection. Default 1024.
    pub fn max_concurrent_streams(mut self, value: u32) -> Self {
        self.opts.max_concurrent_streams = value;
        self
    }

    /// Streams a client may reset (RST_STREAM) while they still wait to be
    /// taken up by the server, on one connection at once; one more closes
    /// the connection (GOAWAY `ENHANCE_YOUR_CALM`). h2's
    /// `max_pending_accept_reset_streams`, on both transports. A stream
    /// waits there from the moment its HEADERS are read until the server
    /// takes it up, which is in the same pass over the connection unless
    /// the node is busy; a peer whose fetches time out while they are
    /// still in the node's socket buffer cancels them there. h2's default
    /// of 20 cut peers' connections; the default is
    /// `max_concurrent_streams`' (1024): a peer may cancel every stream it
    /// may have open. Default 1024.
    pub fn max_pending_resets(mut self, value: usize) -> Self {
        self.opts.max_pending_resets = value;
        self
    }

    /// Streams the server itself may reset because of the client's
    /// protocol errors, over a connection's whole life; one more closes it
    /// (GOAWAY `ENHANCE_YOUR_CALM`). h2's `max_local_error_reset_streams`
    /// (its default, made explicit), on both transports. A peer that only
    /// cancels its own fetches never adds to it. Default 1024.
    pub fn max_local_error_resets(mut self, value: usize) -> Self {
        self.opts.max_local_error_resets = value;
        self
    }

    /// Streams a client may reset before their answer, per second on one
    /// connection; one more closes the connection (GOAWAY
    /// `ENHANCE_YOUR_CALM`): a rapid-reset flood (HEADERS then RST_STREAM,
    /// over and over) is stopped even when the server keeps up with it, so
    /// that [`max_pending_resets`](Self::max_pending_resets) never trips.
    /// Twice the stream limit by default: a peer cancelling all its fetches
    /// twice in a second stays below. Our HTTP/2 driver only
    /// ([`Transport::H2`]); hyper's has no such limit. Default 2048.
    pub fn max_resets_per_second(mut self, value: u32) -> Self {
        self.opts.max_resets_per_second = value;
        self
    }

    /// Between "health says NOT_SERVING" and "stop accepting": time for
    /// load balancers to notice. Default 0.
    pub fn shutdown_grace(mut self, value: Duration) -> Self {
        self.opts.shutdown_grace = value;
        self
    }

    /// How long in-flight requests may take to finish after shutdown
    /// begins; connections still open then are closed. Default 10 s.
    pub fn drain_timeout(mut self, value: Duration) -> Self {
        self.opts.drain_timeout = value;
        self
    }

    /// HTTP/2 keep-alive ping interval on client connections; a
    /// connection whose ping is not answered within one more interval is
    /// closed. Default 30 s.
    pub fn keepalive_interval(mut self, value: Duration) -> Self {
        self.opts.keepalive_interval = value;
        self
    }

    /// Client connections open at once; a new one past it is closed as
    /// soon as it is accepted (a warning, at most once a second). Both
    /// transports. Default 10000.
    pub fn max_connections(mut self, value: usize) -> Self {
        self.opts.max_connections = value;
        self
    }

    /// The largest HTTP/2 header list a client may send; a request over
    /// it is answered HTTP 431 (its stream only). Both transports.
    /// Default 16 KiB (hyper's).
    pub fn max_header_list_bytes(mut self, value: u32) -> Self {
        self.opts.max_header_list_bytes = value;
        self
    }

    /// Response bytes one connection may hold that the client's
    /// flow-control window has not let out (a client that never opens its
    /// window, or never reads); past it, new streams are refused
    /// (REFUSED_STREAM), and so is a response that would go over it. One
    /// response always fits, however large. [`Transport::H2`] only. Default 64 MiB.
    pub fn max_queued_response_bytes(mut self, value: usize) -> Self {
        self.opts.max_queued_response_bytes = value;
        self
    }

    /// How long a response body may wait for the client's flow-control
    /// window; then its stream is reset (CANCEL) and its bytes dropped.
    /// [`Transport::H2`] only. Default 30 s.
    pub fn response_send_timeout(mut self, value: Duration) -> Self {
        self.opts.response_send_timeout = value;
        self
    }

    /// How long a new connection may take to send the HTTP/2 preface;
    /// then it is closed. [`Transport::H2`] only. Default 10 s.
    pub fn handshake_timeout(mut self, value: Duration) -> Self {
        self.opts.handshake_timeout = value;
        self
    }

    /// Age at which a client connection is sent GOAWAY, so that clients
    /// reconnect (and rebalance); streams in flight then
    /// have `request_timeout` plus `response_send_timeout` to finish before
    /// the connection is closed (hyper's waits for them, within the same grace). Both
    /// transports. Default 1 h.
    pub fn max_connection_age(mut self, value: Duration) -> Self {
        self.opts.max_connection_age = value;
        self
    }

    /// Gather each connection's writes and send them from a writer task
    /// ([`CoalescingIo`](crate::transport::coalesce::CoalescingIo)), so answers that are ready together leave in one
    /// system call instead of one each. Default true.
    pub fn write_coalescing(mut self, value: bool) -> Self {
        self.opts.write_coalescing = value;
        self
    }

    /// Answer `Get` and `Fetch` with the [unary codec](crate::codec::unary)
    /// (one body read, prost, one response frame) rather than through tonic's
    /// generic codec; the answers are the same. Default true. For comparisons.
    pub fn unary_codec(mut self, value: bool) -> Self {
        self.opts.unary_codec = value;
        self
    }

    /// With `write_coalescing`, the bytes a connection may queue before
    /// its writes wait for the writer task. Default 256 KiB.
    pub fn write_buffer_bytes(mut self, value: usize) -> Self {
        self.opts.write_buffer_bytes = value;
        self
    }

    /// Which connection loop serves: [`Transport::H2`] (ours, the default) or
    /// [`Transport::Hyper`] (hyper's, as tonic's server runs it). For
    /// comparisons.
    pub fn transport(mut self, value: Transport) -> Self {
        self.opts.transport = value;
        self
    }

    /// Who may call what: client and peer tokens, peer certificates,
    /// which RPCs stay open ([`AuthPolicy`]). Default: no checks (a node
    /// on loopback). An unworkable policy (client tokens with no way for
    /// peers to prove themselves) is refused by [`build`](Self::build).
    pub fn auth(mut self, value: AuthPolicy) -> Self {
        self.opts.auth = value;
        self
    }

    /// Serve TLS ([`ServerTls`]); default plaintext. With a CA, client
    /// certificates are asked for and count in the [`auth`](Self::auth)
    /// policy: a peer's proves peer identity (`Fetch`), any other one a
    /// client's.
    pub fn tls(mut self, value: ServerTls) -> Self {
        self.opts.tls = Some(value);
        self
    }

    /// Which requests are logged: every client `Get` (target
    /// `groupcache::access`), and those slower than a threshold
    /// (`groupcache::slow`). Default: none. See [`AccessLog`].
    pub fn access_log(mut self, value: AccessLog) -> Self {
        self.opts.access_log = value;
        self
    }

    /// How long `Remove` and `Set` wait for the other nodes when the
    /// request has no deadline of its own, each step (the owners, then the
    /// rest) within it (default
    /// [`DEFAULT_MUTATION_TIMEOUT`](crate::mutations::DEFAULT_MUTATION_TIMEOUT),
    /// 5 s). A node that has not answered by then is reported unreached.
    /// Must not be zero.
    pub fn mutation_timeout(mut self, value: Duration) -> Self {
        self.opts.mutation_timeout = value;
        self
    }

    /// Refuses `Remove` and `Set` with `FAILED_PRECONDITION` and `reason`
    /// (default: served): for a node whose peers cannot take them, such as
    /// one in a golang/groupcache pool, where a `Set` would be seen by this
    /// node alone.
    pub fn mutations_off(mut self, reason: impl Into<String>) -> Self {
        self.opts.mutations_off = Some(reason.into());
        self
    }

    /// What `Stats` reports the node runs (`StatsResponse.info.version`):
    /// the binary's name, version and build. Default `cache-grpc VERSION`.
    pub fn version(mut self, value: impl Into<String>) -> Self {
        self.opts.version = value.into();
        self
    }

    /// Counts the server's requests in flight and shed there, for a
    /// metrics exporter holding a clone. Servers given clones of one handle
    /// count together. Default: a handle of the server's own, read by
    /// nobody.
    pub fn request_stats(mut self, value: RequestStats) -> Self {
        self.opts.request_stats = value;
        self
    }

    /// The options, or [`Error::Config`] naming the first value that
    /// cannot work (a zero limit or timeout).
    pub fn build(mut self) -> Result<ServerOptions, Error> {
        if self
            .opts
            .tls
            .as_ref()
            .is_some_and(|t| t.config().ca_file().is_some())
        {
            self.opts.auth = self.opts.auth.peer_certificates(true);
        }
        self.opts.validate()?;
        Ok(self.opts)
    }
}
