//! The `traceparent` parser against W3C Trace Context's rules, one
//! invalid form per case, and the header round trip.

use http::{HeaderMap, HeaderValue};

use super::*;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn parse(s: &str) -> Option<TraceContext> {
    parse_traceparent(s.as_bytes())
}

/// The spec's example parses into its ids and flags, and formats back to
/// the same bytes.
#[test]
fn a_valid_header_parses_and_formats_back() {
    let text = format!("00-{TRACE}-{PARENT}-01");
    let ctx = parse(&text).expect("valid");
    assert_eq!(Hex(ctx.trace_id()).to_string(), TRACE);
    assert_eq!(Hex(ctx.parent_id()).to_string(), PARENT);
    assert_eq!(ctx.flags(), 1);
    assert!(ctx.sampled());
    assert_eq!(&format_traceparent(&ctx)[..], text.as_bytes());
    let unsampled = parse(&format!("00-{TRACE}-{PARENT}-00")).unwrap();
    assert!(!unsampled.sampled());
}

/// Every malformed version-00 header is refused.
#[test]
fn each_invalid_form_is_refused() {
    let zero_trace = "0".repeat(32);
    let zero_parent = "0".repeat(16);
    let cases = [
        String::new(),
        "junk".to_owned(),
        format!("00-{TRACE}-{PARENT}"),              // no flags
        format!("00-{TRACE}-{PARENT}-1"),            // short flags
        format!("00-{TRACE}-{PARENT}-01-"),          // 00 has nothing after
        format!("00-{TRACE}-{PARENT}-01-extra"),     // nor more fields
        format!("00-{TRACE}-{PARENT}-01 "),          // nor spaces
        format!("00-{zero_trace}-{PARENT}-01"),      // all-zero trace id
        format!("00-{TRACE}-{zero_parent}-01"),      // all-zero parent id
        format!("00-{}-{PARENT}-01", &TRACE[1..]),   // trace id too short
        format!("00-{TRACE}a-{}-01", &PARENT[1..]),  // dash misplaced
        format!("00_{TRACE}-{PARENT}-01"),           // wrong separator
        format!("00-{TRACE}_{PARENT}-01"),           // wrong separator
        format!("00-{TRACE}-{PARENT}_01"),           // wrong separator
        format!("00-{}g-{PARENT}-01", &TRACE[..31]), // not hex
        format!("00-{TRACE}-{}z-01", &PARENT[..15]), // not hex
        format!("00-{TRACE}-{PARENT}-0x"),           // flags not hex
        format!("ff-{TRACE}-{PARENT}-01"),           // version ff is invalid
        format!("0-{TRACE}-{PARENT}-01"),            // one-digit version
        format!("xx-{TRACE}-{PARENT}-01"),           // version not hex
        format!("00-{TRACE}-{PARENT}-01").replace('-', " "), // no dashes at all
    ];
    for case in &cases {
        assert_eq!(parse(case), None, "accepted {case:?}");
    }
}

/// Upper-case hex is not lower-case hex (the spec's `HEXDIGLC`), in any
/// field.
#[test]
fn upper_case_hex_is_refused() {
    let upper_trace = TRACE.to_uppercase();
    let upper_parent = PARENT.to_uppercase();
    for case in [
        format!("00-{upper_trace}-{PARENT}-01"),
        format!("00-{TRACE}-{upper_parent}-01"),
        format!("00-{TRACE}-{PARENT}-0A"),
        format!("0A-{TRACE}-{PARENT}-01"),
    ] {
        assert_eq!(parse(&case), None, "accepted {case:?}");
    }
    assert!(parse(&format!("00-{TRACE}-{PARENT}-0a")).is_some());
}

/// A later version is read as far as version 00's fields go: with nothing
/// more or with `-` and more fields after them; not when something else
/// follows or the header is short. Only its sampled flag is kept.
#[test]
fn future_versions_are_read_by_the_fields_of_00() {
    let ctx = parse(&format!("cc-{TRACE}-{PARENT}-01")).expect("a later version");
    assert_eq!(Hex(ctx.trace_id()).to_string(), TRACE);
    assert_eq!(ctx.flags(), 1);
    let more = parse(&format!("cc-{TRACE}-{PARENT}-09-what-the-future-holds")).unwrap();
    assert_eq!(Hex(more.parent_id()).to_string(), PARENT);
    assert_eq!(more.flags(), 1, "only the sampled bit of a later version");
    assert_eq!(parse(&format!("cc-{TRACE}-{PARENT}-01.extra")), None);
    assert_eq!(parse(&format!("cc-{TRACE}-{PARENT}-1")), None);
    assert_eq!(parse(&format!("cc-{}-{PARENT}-01", "0".repeat(32))), None);
    // Version 00 keeps the flags it defines and clears the reserved ones.
    assert_eq!(
        parse(&format!("00-{TRACE}-{PARENT}-ff")).unwrap().flags(),
        0x03
    );
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

/// From headers: the context with its `tracestate` (several headers
/// joined), nothing without a valid single `traceparent`.
#[test]
fn headers_give_the_context_and_its_state() {
    let parent = format!("00-{TRACE}-{PARENT}-01");
    let ctx = from_headers(&headers(&[
        ("traceparent", &parent),
        ("tracestate", "congo=t61rcWkgMzE"),
        ("tracestate", "rojo=00f067aa0ba902b7"),
    ]))
    .unwrap();
    assert_eq!(ctx.state(), Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"));
    assert_eq!(
        from_headers(&headers(&[("traceparent", &parent)]))
            .unwrap()
            .state(),
        None
    );
    assert_eq!(from_headers(&headers(&[])), None);
    assert_eq!(from_headers(&headers(&[("tracestate", "a=b")])), None);
    assert_eq!(
        from_headers(&headers(&[("traceparent", "junk"), ("tracestate", "a=b")])),
        None
    );
    let other = format!("00-{TRACE}-{}-01", "1".repeat(16));
    assert_eq!(
        from_headers(&headers(&[
            ("traceparent", &parent),
            ("traceparent", &other)
        ])),
        None,
        "two traceparent headers"
    );
}

/// A `tracestate` over the limit loses whole entries from its end.
#[test]
fn a_long_state_is_cut_at_an_entry() {
    let entry = format!("k={}", "v".repeat(98)); // 100 bytes
    let long = vec![entry.clone(); 6].join(","); // 605 bytes
    let parent = format!("00-{TRACE}-{PARENT}-01");
    let ctx = from_headers(&headers(&[("traceparent", &parent), ("tracestate", &long)])).unwrap();
    let state = ctx.state().unwrap();
    assert_eq!(state, vec![entry; 5].join(","));
    assert!(state.len() <= MAX_STATE_BYTES);
}

/// Span ids are never zero and do not repeat.
#[test]
fn span_ids_are_fresh() {
    let ids: std::collections::HashSet<_> = (0..10_000).map(|_| new_span_id()).collect();
    assert_eq!(ids.len(), 10_000);
    assert!(!ids.contains(&[0; 8]));
}

/// A hop sends the incoming trace under its own fresh span id, and the
/// state as it came; without an incoming trace, nothing (no `otel` layer
/// installed here).
#[test]
fn a_hop_keeps_the_trace_under_a_new_parent() {
    let incoming = parse(&format!("00-{TRACE}-{PARENT}-01"))
        .unwrap()
        .with_state(Some("a=b".into()));
    let hop = hop::Hop::start("127.0.0.1:1", "g", Some(&incoming));
    let out = hop.outgoing().unwrap();
    assert_eq!(out.trace_id(), incoming.trace_id());
    assert_ne!(out.parent_id(), incoming.parent_id());
    assert_eq!(out.state(), Some("a=b"));
    let mut metadata = tonic::metadata::MetadataMap::new();
    hop.write(&mut metadata);
    let sent = metadata.get("traceparent").unwrap().to_str().unwrap();
    assert_eq!(
        parse(sent).as_ref(),
        Some(out).map(|o| o.clone().with_state(None)).as_ref()
    );
    assert_eq!(metadata.get("tracestate").unwrap(), "a=b");

    let none = hop::Hop::start("127.0.0.1:1", "g", None);
    assert!(none.outgoing().is_none());
    let mut metadata = tonic::metadata::MetadataMap::new();
    none.write(&mut metadata);
    assert!(metadata.is_empty());
}
