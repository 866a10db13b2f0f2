//! Checking options in `build`.

use super::*;

/// The defaults are valid; each zero limit is refused by `build` with
/// a message naming it.
#[test]
fn zero_limits_are_refused() {
    assert!(ServerOptions::builder().build().is_ok());
    type Case = (
        fn(ServerOptionsBuilder) -> ServerOptionsBuilder,
        &'static str,
    );
    let cases: [Case; 16] = [
        (
            |b| b.keepalive_interval(Duration::ZERO),
            "keepalive_interval",
        ),
        (
            |b| b.response_send_timeout(Duration::ZERO),
            "response_send_timeout",
        ),
        (|b| b.handshake_timeout(Duration::ZERO), "handshake_timeout"),
        (
            |b| b.max_connection_age(Duration::ZERO),
            "max_connection_age",
        ),
        (|b| b.max_connections(0), "max_connections"),
        (|b| b.max_header_list_bytes(0), "max_header_list_bytes"),
        (
            |b| b.max_queued_response_bytes(0),
            "max_queued_response_bytes",
        ),
        (|b| b.max_value_bytes(0), "max_value_bytes"),
        (|b| b.max_batch_keys(0), "max_batch_keys"),
        (|b| b.max_concurrent_requests(0), "max_concurrent_requests"),
        (|b| b.request_timeout(Duration::ZERO), "request_timeout"),
        (|b| b.max_concurrent_streams(0), "max_concurrent_streams"),
        (|b| b.max_pending_resets(0), "max_pending_resets"),
        (|b| b.max_local_error_resets(0), "max_local_error_resets"),
        (|b| b.max_resets_per_second(0), "max_resets_per_second"),
        (|b| b.write_buffer_bytes(0), "write_buffer_bytes"),
    ];
    for (set, name) in cases {
        let err = set(ServerOptions::builder()).build().unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
        assert!(err.to_string().contains(name), "{err}");
    }
}

/// A builder made from options keeps them.
#[test]
fn to_builder_keeps_the_values() {
    let opts = ServerOptions::builder()
        .request_timeout(Duration::from_secs(7))
        .transport(Transport::Hyper)
        .build()
        .unwrap();
    let again = opts.to_builder().build().unwrap();
    assert_eq!(again.request_timeout(), Duration::from_secs(7));
    assert_eq!(again.transport(), Transport::Hyper);
}
