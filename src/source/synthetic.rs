//! `synthetic:size=1024,delay=20ms,missing=PREFIX`: a deterministic value per
//! key, for benchmarks and demos that need no origin.
//!
//! The bytes are the same as those of the Go harness's benchmark node
//! (`shared/anchors/go-groupcache/node/main.go`, `synthValue`), so one tool
//! can verify values served by either implementation. The load generator
//! (`crates/groupcache-bench`, `synthetic.rs`) holds a copy of
//! [`synthetic_value`] for `--verify-synthetic`, tested against the same
//! fixed bytes as here.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cache_core::{Error as CoreError, Getter, LoadContext, Loaded};

use crate::Error;

/// Default value size of a synthetic source, in bytes.
pub const DEFAULT_SYNTHETIC_SIZE: usize = 1024;

/// The FNV-1a 64-bit hash of `data`.
fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The synthetic value of `key`: `size` bytes, a function of the key alone.
///
/// Seed `x = fnv1a64(key) | 1`; for each 8-byte chunk step xorshift64
/// (`x ^= x << 13; x ^= x >> 7; x ^= x << 17`) and write `x` little-endian,
/// truncating the last chunk to `size`.
///
/// ```
/// let v = groupcache::source::synthetic_value("a", 4);
/// assert_eq!(&v[..], &[0x14, 0x6c, 0xcf, 0x7a]);
/// ```
pub fn synthetic_value(key: &str, size: usize) -> Bytes {
    let mut x = fnv1a64(key.as_bytes()) | 1;
    let mut out = Vec::with_capacity(size);
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let take = (size - out.len()).min(8);
        out.extend_from_slice(&x.to_le_bytes()[..take]);
    }
    Bytes::from(out)
}

/// Options of a synthetic source, parsed from `size=..,delay=..,missing=..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticSpec {
    /// Value size in bytes (default [`DEFAULT_SYNTHETIC_SIZE`]).
    pub size: usize,
    /// Sleep before each load, to simulate a slow origin (default none).
    pub delay: Duration,
    /// Keys starting with this prefix are NOT_FOUND (default: none; an empty
    /// prefix is rejected because it would make every key missing).
    pub missing: Option<String>,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            size: DEFAULT_SYNTHETIC_SIZE,
            delay: Duration::ZERO,
            missing: None,
        }
    }
}

impl SyntheticSpec {
    /// Parses the part after `synthetic:` (may be empty for all defaults).
    pub fn parse(options: &str) -> Result<Self, Error> {
        let mut spec = SyntheticSpec::default();
        for part in options.split(',').filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').ok_or_else(|| {
                Error::config(format!(
                    "synthetic option {part:?} is not NAME=VALUE (expected size=, delay= or missing=)"
                ))
            })?;
            match name {
                "size" => spec.size = crate::units::parse_size(value)? as usize,
                "delay" => spec.delay = crate::units::parse_duration(value)?,
                "missing" if value.is_empty() => {
                    return Err(Error::config("synthetic option missing= needs a prefix"));
                }
                "missing" => spec.missing = Some(value.to_owned()),
                _ => {
                    return Err(Error::config(format!(
                        "unknown synthetic option {name:?} (expected size, delay or missing)"
                    )));
                }
            }
        }
        Ok(spec)
    }
}

/// A [`Getter`] that makes up values with [`synthetic_value`].
#[derive(Debug, Clone)]
pub struct SyntheticSource {
    spec: SyntheticSpec,
}

impl SyntheticSource {
    /// A source with these options.
    pub fn new(spec: SyntheticSpec) -> Self {
        SyntheticSource { spec }
    }
}

#[async_trait]
impl Getter for SyntheticSource {
    async fn get(&self, key: &str, _ctx: &LoadContext) -> Result<Loaded, CoreError> {
        if !self.spec.delay.is_zero() {
            tokio::time::sleep(self.spec.delay).await;
        }
        if let Some(prefix) = &self.spec.missing
            && key.starts_with(prefix.as_str())
        {
            return Err(CoreError::NotFound);
        }
        Ok(Loaded::new(synthetic_value(key, self.spec.size)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values match bytes computed independently from the definition
    /// (FNV-1a 64 seed, xorshift64 13/7/17, little-endian, truncated).
    #[test]
    fn known_values() {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(
            hex(&synthetic_value("a", 20)),
            "146ccf7adbdd68e5cc77fb7d2131e1d423f262cb"
        );
        assert_eq!(
            hex(&synthetic_value("key-1", 12)),
            "9ad3a6e47915c13ebd38d295"
        );
        assert_eq!(hex(&synthetic_value("", 8)), "230e801df4d3ae39");
        assert!(synthetic_value("a", 0).is_empty());
    }

    /// Same key, same bytes; a longer value extends a shorter one; other keys
    /// differ.
    #[test]
    fn deterministic_and_prefix_stable() {
        let long = synthetic_value("k", 1000);
        assert_eq!(long.len(), 1000);
        assert_eq!(long, synthetic_value("k", 1000));
        assert_eq!(&long[..13], &synthetic_value("k", 13)[..]);
        assert_ne!(long, synthetic_value("j", 1000));
    }

    /// Options parse with their defaults; bad options are clear errors.
    #[test]
    fn parse_options() {
        assert_eq!(SyntheticSpec::parse("").unwrap(), SyntheticSpec::default());
        let s = SyntheticSpec::parse("size=2KiB,delay=20ms,missing=nope-").unwrap();
        assert_eq!(s.size, 2048);
        assert_eq!(s.delay, Duration::from_millis(20));
        assert_eq!(s.missing.as_deref(), Some("nope-"));
        for bad in ["size", "size=abc", "delay=5", "colour=red", "missing="] {
            let err = SyntheticSpec::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid configuration"), "{bad}: {err}");
        }
    }

    /// Loads return the value of the configured size; missing keys are
    /// NotFound; the delay is applied (paused clock).
    #[tokio::test(start_paused = true)]
    async fn getter_behaviour() {
        let src = SyntheticSource::new(SyntheticSpec::parse("size=10,delay=1s,missing=x").unwrap());
        let start = tokio::time::Instant::now();
        let v = src.get("abc", &LoadContext::new()).await.unwrap();
        assert_eq!(v.value, synthetic_value("abc", 10));
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        assert_eq!(
            src.get("xyz", &LoadContext::new()).await,
            Err(CoreError::NotFound)
        );
    }
}
