//! [`BusiestKeys`]: the few keys with the highest request rates seen, for
//! an operator's view (a status page), beside the [`KeyRates`] sketch that
//! measures them.
//!
//! The list holds at most `capacity` keys with the rate each had when last
//! offered. A key is offered after every request that measured it; offers
//! below the list's lowest rate (when it is full) cost one atomic load and
//! return, so only keys that make the list take its lock. Readers ask the
//! sketch for each listed key's current rate, so a key that went quiet
//! falls down the list when it is read.
//!
//! [`KeyRates`]: super::KeyRates

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// The busiest keys: a short list beside the [`KeyRates`](super::KeyRates)
/// sketch, updated only by keys busier than its quietest.
#[derive(Debug)]
pub struct BusiestKeys {
    capacity: usize,
    /// The lowest rate on a full list (`f64` bits), 0 while not full.
    floor: AtomicU64,
    keys: Mutex<Vec<(String, f64)>>,
}

impl BusiestKeys {
    /// A list of at most `capacity` keys (at least 1).
    pub fn new(capacity: usize) -> Self {
        BusiestKeys {
            capacity: capacity.max(1),
            floor: AtomicU64::new(0),
            keys: Mutex::new(Vec::new()),
        }
    }

    /// `key` was just measured at `qps`.
    pub fn offer(&self, key: &str, qps: f64) {
        if qps <= f64::from_bits(self.floor.load(Ordering::Relaxed)) {
            return;
        }
        let mut keys = self.keys.lock();
        let listed = keys.iter().position(|(k, _)| k == key);
        match listed {
            Some(i) => keys[i].1 = qps,
            None if keys.len() < self.capacity => keys.push((key.to_owned(), qps)),
            None => {
                let lowest = keys
                    .iter_mut()
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .expect("a full list has entries");
                *lowest = (key.to_owned(), qps);
            }
        }
        let floor = if keys.len() < self.capacity {
            0.0
        } else {
            keys.iter().map(|(_, q)| *q).fold(f64::INFINITY, f64::min)
        };
        self.floor.store(floor.to_bits(), Ordering::Relaxed);
    }

    /// The listed keys with `rate(key)`, busiest first.
    pub fn read(&self, rate: impl Fn(&str) -> f64) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = self
            .keys
            .lock()
            .iter()
            .map(|(k, _)| (k.clone(), rate(k)))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list keeps the busiest keys, replaces the quietest when a busier
    /// one comes, updates a listed key in place, and reads current rates.
    #[test]
    fn keeps_the_busiest() {
        let b = BusiestKeys::new(3);
        for (k, q) in [("a", 1.0), ("b", 5.0), ("c", 3.0)] {
            b.offer(k, q);
        }
        b.offer("d", 0.5); // below the floor of a full list: ignored
        b.offer("e", 4.0); // replaces a (1.0)
        b.offer("c", 9.0); // updated in place
        let listed = b.read(|k| match k {
            "b" => 5.0,
            "c" => 9.0,
            "e" => 4.0,
            _ => 0.0,
        });
        let keys: Vec<&str> = listed.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["c", "b", "e"]);
        // A key gone quiet reads low and sorts last.
        let keys: Vec<String> = b
            .read(|k| if k == "c" { 0.1 } else { 2.0 })
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys.last().map(String::as_str), Some("c"));
    }
}
