//! Turning a source's answers into the ring.
//!
//! Invariants:
//! - the ring only ever holds a set some answer gave (plus this node);
//! - an error, an empty answer, or an answer that drops more than
//!   `max_loss` of the peers at once never replaces a good set at once:
//!   the last good set stays (an outage of the source, a half-written
//!   file or a DNS server answering from an empty zone does not empty the
//!   ring). A shrinking answer is applied once the source has given it
//!   without change for `hold` (a real scale-down);
//! - a change is applied only after the source has kept it for `debounce`
//!   (a flapping entry moves no keys), except the first set, applied at
//!   once so the node can turn ready.
//!
//! Stub: filled in by the membership work.
