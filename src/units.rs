//! Sizes and durations as people write them (`64MiB`, `300ms`), for flags
//! and for source specs alike. Each parser returns an
//! [`Error::Config`](crate::Error) naming the bad input and the expected
//! form.

use std::time::Duration;

use crate::Error;

/// Parses a byte size: a plain number of bytes (`1048576`) or a number with
/// a unit, decimal (`1GB` = 10^9, `kb`, `MB`) or binary (`64MiB` = 64 x 2^20,
/// `KiB`, `GiB`); case-insensitive, a space before the unit allowed.
pub fn parse_size(text: &str) -> Result<u64, Error> {
    let trimmed = text.trim();
    if trimmed.starts_with('.') || trimmed.is_empty() {
        return Err(bad_size(text));
    }
    trimmed
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| bad_size(text))
}

fn bad_size(text: &str) -> Error {
    Error::config(format!(
        "bad size {text:?}: expected bytes (1048576) or a number with a unit (64MiB, 1GB, 512KiB)"
    ))
}

/// Parses a duration with a unit: `300ms`, `2s`, `1m30s`, `1h` (a bare
/// number is refused, the unit being ambiguous; `0s` is zero).
pub fn parse_duration(text: &str) -> Result<Duration, Error> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        Error::config(format!(
            "bad duration {text:?} ({e}): expected a number with a unit, as in 300ms, 2s, 1m"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes in bytes, decimal and binary units parse to exact byte counts;
    /// garbage is refused.
    #[test]
    fn sizes() {
        for (text, want) in [
            ("1048576", 1_048_576),
            ("64MiB", 64 << 20),
            ("64mib", 64 << 20),
            ("64 MiB", 64 << 20),
            ("1GB", 1_000_000_000),
            ("1GiB", 1 << 30),
            ("512KiB", 512 << 10),
            ("2kb", 2000),
            ("0", 0),
            ("1.5KiB", 1536),
        ] {
            assert_eq!(parse_size(text).unwrap(), want, "{text}");
        }
        for bad in ["", "MiB", "-1", "64XB", "six", ".5MiB", "1e6"] {
            assert!(parse_size(bad).is_err(), "{bad} parsed");
        }
    }

    /// Durations need a unit; common forms parse exactly.
    #[test]
    fn durations() {
        assert_eq!(parse_duration("300ms").unwrap(), Duration::from_millis(300));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        for bad in ["", "5", "fast", "-1s", "3 parsecs"] {
            let err = parse_duration(bad).unwrap_err().to_string();
            assert!(err.contains("bad duration"), "{bad}: {err}");
        }
    }
}
