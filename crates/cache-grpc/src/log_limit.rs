//! [`RateLimited`]: a log line that may repeat at a high rate (a failing
//! accept, a dead peer) is let through at most once per interval, with the
//! number of lines held back since the last one, so the log says how often
//! without flooding.

use std::time::Duration;

use tokio::time::Instant;

/// Lets a line through at most once per `every`, counting the ones held
/// back in between.
#[derive(Debug)]
pub(crate) struct RateLimited {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimited {
    /// At most one line per `every`.
    pub(crate) fn new(every: Duration) -> Self {
        RateLimited {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(lines held back since the last one)` if a line may be logged
    /// at `now`, else `None` (and one more is counted).
    pub(crate) fn due(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One line per interval, then the count of those held back.
    #[test]
    fn log_lines_are_rate_limited() {
        let start = Instant::now();
        let mut r = RateLimited::new(Duration::from_secs(1));
        assert_eq!(r.due(start), Some(0));
        for ms in [1, 500, 999] {
            assert_eq!(r.due(start + Duration::from_millis(ms)), None);
        }
        assert_eq!(r.due(start + Duration::from_secs(1)), Some(3));
    }
}
