//! Parsers for the value syntaxes of flags, for clap's `value_parser`:
//! sizes, durations, switches, thread counts, peer addresses and error
//! rates. Each returns a message naming the bad input.
//!
//! The syntaxes are the node's (`groupcache serve`), so one spelling works
//! for both binaries: sizes `1048576`, `64MiB`, `1GB`; durations `300ms`,
//! `2s`, `1m30s` (a unit is required).

use std::time::Duration;

/// A byte size: a plain number of bytes (`1048576`) or a number with a
/// unit, decimal (`1GB` = 10^9, `kb`, `MB`) or binary (`64MiB` = 64 x 2^20,
/// `KiB`, `GiB`); case-insensitive, a space before the unit allowed.
pub(crate) fn size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let bad = || {
        format!(
            "bad size {text:?}: expected bytes (1048576) or a number with a unit (64MiB, 1GB, 512KiB)"
        )
    };
    if trimmed.starts_with('.') || trimmed.is_empty() {
        return Err(bad());
    }
    trimmed
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| bad())
}

/// A duration with a unit: `300ms`, `2s`, `1m30s`, `1h` (a bare number is
/// refused, the unit being ambiguous; `0s` is zero).
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!("bad duration {text:?} ({e}): expected a number with a unit, as in 300ms, 2s, 1m")
    })
}

/// A switch's value from its environment variable (the flag itself takes
/// none): `1/0`, `true/false`, `yes/no`, `on/off`, any case.
pub(crate) fn switch(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(format!(
            "bad switch value {s:?}: expected 1, 0, true, false, yes, no, on or off"
        )),
    }
}

/// `--threads`: 0 (one per core) up to
/// [`MAX_THREADS`](super::runtime::MAX_THREADS).
pub(crate) fn threads(s: &str) -> Result<usize, String> {
    let max = super::runtime::MAX_THREADS;
    match s.trim().parse::<usize>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!(
            "bad thread count {s:?}: expected 0 (one per core), 1 (a single thread) or up to {max}"
        )),
    }
}

/// A peer address: `host:port` or `http://host:port` (no path), with a port
/// in 1..=65535. Returns it trimmed; the ring canonicalises it.
pub(crate) fn peer(text: &str) -> Result<String, String> {
    let t = text.trim();
    let hostport = t.strip_prefix("http://").unwrap_or(t);
    let bad = |why: &str| {
        format!("bad peer address {text:?}: {why} (expected host:port or http://host:port)")
    };
    if hostport.is_empty() {
        return Err(bad("empty"));
    }
    if hostport.contains('/') {
        return Err(bad("no path allowed"));
    }
    let (host, port) = hostport.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    if host.is_empty() {
        return Err(bad("no host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(t.to_owned()),
        _ => Err(bad("bad port")),
    }
}

/// `--max-error-rate`: a fraction in [0, 1].
pub(crate) fn error_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!(
            "bad error rate {s:?}: expected a number in [0, 1], as in 0.01"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Switches set from the environment take the usual spellings of yes
    /// and no; anything else is refused with the accepted list.
    #[test]
    fn switches() {
        for yes in ["1", "true", "TRUE", "yes", "on"] {
            assert_eq!(switch(yes), Ok(true), "{yes}");
        }
        for no in ["0", "false", "No", "off", ""] {
            assert_eq!(switch(no), Ok(false), "{no}");
        }
        let err = switch("maybe").unwrap_err();
        assert!(err.contains("expected 1, 0, true, false, yes, no"), "{err}");
    }

    /// Sizes and durations parse as the node's flags do; garbage is refused.
    #[test]
    fn sizes_and_durations() {
        for (text, want) in [
            ("1048576", 1_048_576),
            ("64MiB", 64 << 20),
            ("64 MiB", 64 << 20),
            ("1GB", 1_000_000_000),
            ("512KiB", 512 << 10),
            ("0", 0),
        ] {
            assert_eq!(size(text), Ok(want), "{text}");
        }
        for bad in ["", "MiB", "-1", "64XB", ".5MiB"] {
            assert!(size(bad).is_err(), "{bad} parsed");
        }
        assert_eq!(duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(duration("1m30s"), Ok(Duration::from_secs(90)));
        for bad in ["", "5", "fast", "-1s"] {
            assert!(duration(bad).unwrap_err().contains("bad duration"), "{bad}");
        }
    }

    /// Peers are host:port or http://host:port with a valid port; error
    /// rates are in [0, 1].
    #[test]
    fn peers_and_error_rates() {
        assert_eq!(
            peer(" http://node-a:7001 "),
            Ok("http://node-a:7001".into())
        );
        assert!(peer("[::1]:7001").is_ok());
        for bad in ["", "host", "host:", ":7001", "host:0", "http://h:1/x"] {
            assert!(peer(bad).is_err(), "{bad:?} accepted");
        }
        assert!(error_rate("1.5").is_err() && error_rate("0.05") == Ok(0.05));
    }
}
