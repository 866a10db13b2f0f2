//! The value a node's `synthetic:` source serves for a key, so that
//! `--verify-synthetic SIZE` can check every answer.
//!
//! A copy of `groupcache::source::synthetic_value` (this crate does not
//! depend on the node's package): both follow the definition below, which is
//! also the Go harness's (`shared/anchors/go-groupcache/node/main.go`,
//! `synthValue`), and both test it against the same fixed bytes.

use bytes::Bytes;

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
/// let v = groupcache_bench::synthetic_value("a", 4);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The values match the bytes the node's source is tested against
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
}
