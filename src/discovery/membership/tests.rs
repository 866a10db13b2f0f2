//! The membership rules, judged without a clock or a source (unit tier).

use std::time::Duration;

use tokio::time::Instant;

use super::*;

const SELF: &str = "127.0.0.1:7001";

fn judge() -> Judge {
    Judge::new(SELF, MembershipOptions::default())
}

fn ok(peers: &[&str]) -> Result<Vec<String>, Error> {
    Ok(peers.iter().map(|p| p.to_string()).collect())
}

fn ids(peers: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = peers.iter().map(|p| p.to_string()).collect();
    v.sort();
    v
}

#[test]
fn the_first_answer_applies_at_once_with_this_node() {
    let mut j = judge();
    let t = Instant::now();
    // Not yet in its own DNS answer (not ready): still on its ring.
    assert_eq!(
        j.answer(ok(&["http://127.0.0.1:7002/"]), t),
        Verdict::Apply(ids(&["127.0.0.1:7001", "127.0.0.1:7002"]))
    );
    let mut first_alone = judge();
    assert_eq!(first_alone.answer(ok(&[]), t), Verdict::Apply(ids(&[SELF])));
}

#[test]
fn a_change_waits_for_the_debounce_and_flapping_moves_nothing() {
    let mut j = judge();
    let t = Instant::now();
    j.answer(ok(&[SELF, "127.0.0.1:7002"]), t);
    let three = [SELF, "127.0.0.1:7002", "127.0.0.1:7003"];
    let due = t + Duration::from_secs(1);
    assert_eq!(j.answer(ok(&three), t), Verdict::Wait(due));
    // The same answer again does not restart the wait.
    assert_eq!(
        j.answer(ok(&three), t + Duration::from_millis(500)),
        Verdict::Wait(due)
    );
    assert_eq!(j.due(t + Duration::from_millis(999)), None);
    assert_eq!(j.due(due), Some(ids(&three)));
    assert_eq!(j.current(), Some(&ids(&three)[..]));
    // 7003 flaps out and back within the debounce: nothing applied.
    j.answer(ok(&[SELF, "127.0.0.1:7002"]), due);
    assert_eq!(
        j.answer(ok(&three), due + Duration::from_millis(200)),
        Verdict::Keep
    );
    assert_eq!(j.pending_due(), None);
    assert_eq!(j.current(), Some(&ids(&three)[..]));
}

#[test]
fn errors_and_bad_entries_keep_the_last_good_set() {
    let mut j = judge();
    let t = Instant::now();
    j.answer(ok(&[SELF, "127.0.0.1:7002"]), t);
    let v = j.answer(Err(Error::Discovery("dns: timed out".into())), t);
    assert_eq!(v, Verdict::Refuse("discovery: dns: timed out".into()));
    assert_eq!(j.current(), Some(&ids(&[SELF, "127.0.0.1:7002"])[..]));
    // A line that is not an address is dropped; the rest is the answer.
    assert_eq!(
        j.answer(ok(&[SELF, "127.0.0.1:7002", "not a peer"]), t),
        Verdict::Keep
    );
}

#[test]
fn losing_more_than_half_at_once_is_held_then_applied_if_it_persists() {
    let mut j = judge();
    let t = Instant::now();
    let four = [SELF, "127.0.0.1:7002", "127.0.0.1:7003", "127.0.0.1:7004"];
    j.answer(ok(&four), t);
    // Empty (a broken zone, a truncated file): held.
    let v = j.answer(ok(&[]), t);
    assert!(
        matches!(&v, Verdict::Hold(why) if why.contains("drops 3 of 4")),
        "{v:?}"
    );
    assert_eq!(j.due(t + Duration::from_secs(29)), None);
    // The source recovers before the hold ends: nothing happened.
    assert_eq!(
        j.answer(ok(&four), t + Duration::from_secs(5)),
        Verdict::Keep
    );
    // A real scale-down to this node alone: applied after the hold.
    assert!(matches!(j.answer(ok(&[SELF]), t), Verdict::Hold(_)));
    assert_eq!(j.due(t + Duration::from_secs(30)), Some(ids(&[SELF])));
    // Half exactly is not more than half: two of four leaving is only
    // debounced.
    let mut j = judge();
    j.answer(ok(&four), t);
    assert_eq!(
        j.answer(ok(&[SELF, "127.0.0.1:7002"]), t),
        Verdict::Wait(t + Duration::from_secs(1))
    );
}

#[test]
fn zero_waits_apply_at_once() {
    let opts = MembershipOptions {
        debounce: Duration::ZERO,
        max_loss: 1.0,
        hold: Duration::ZERO,
    };
    let mut j = Judge::new(SELF, opts);
    let t = Instant::now();
    j.answer(ok(&[SELF, "127.0.0.1:7002"]), t);
    assert_eq!(j.answer(ok(&[]), t), Verdict::Apply(ids(&[SELF])));
}
