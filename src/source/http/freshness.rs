//! How long an origin's answer may be cached: its TTL from `Cache-Control`,
//! `Expires`, `Date` and `Age` (RFC 9111's freshness lifetime less the
//! answer's age), which the group then caps (`--ttl`) and jitters.
//!
//! In order, the first that applies:
//! 1. `Cache-Control: no-store`, `no-cache` or `private`: a zero TTL, the
//!    value answers the load and is not cached (this cache cannot
//!    revalidate, and it is a shared cache).
//! 2. `Cache-Control: s-maxage=N` (meant for shared caches like this one),
//!    else `max-age=N`: N seconds. A value that is no number is a zero TTL.
//! 3. `Expires`: its distance from the answer's `Date` (from this node's
//!    clock when there is no `Date`); an `Expires` that is no HTTP date
//!    (`0`, say) is in the past: a zero TTL.
//! 4. None of them: no TTL (the group's `--ttl`, if any, applies).
//!
//! The `Age` header's seconds are taken off what 2 and 3 give. No TTL is
//! longer than [`cache_core::MAX_TTL`].

use std::time::{Duration, SystemTime};

use reqwest::header::{AGE, CACHE_CONTROL, DATE, EXPIRES, HeaderMap};

/// The TTL the answer with `headers`, received at `now`, gives its value;
/// see the [module docs](self).
pub(super) fn ttl_of(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let lifetime = match cache_control(headers) {
        Directives::NoStore => return Some(Duration::ZERO),
        Directives::MaxAge(max_age) => max_age,
        Directives::None => expires(headers, now)?,
    };
    let age = header_str(headers, AGE)
        .and_then(|age| age.trim().parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_secs);
    Some(lifetime.saturating_sub(age).min(cache_core::MAX_TTL))
}

/// What the `Cache-Control` headers say about freshness.
#[derive(Debug, PartialEq, Eq)]
enum Directives {
    /// Do not store the value.
    NoStore,
    /// Fresh for this long (`s-maxage` over `max-age`).
    MaxAge(Duration),
    /// Nothing about freshness.
    None,
}

/// Reads every `Cache-Control` header's directives (names are
/// case-insensitive; values may be quoted).
fn cache_control(headers: &HeaderMap) -> Directives {
    let (mut max_age, mut s_maxage) = (None, None);
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let (name, arg) = match directive.split_once('=') {
                Some((name, arg)) => (name.trim(), Some(arg.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            let seconds = || {
                arg.and_then(|a| a.parse::<u64>().ok())
                    .map_or(Duration::ZERO, Duration::from_secs)
            };
            match name.to_ascii_lowercase().as_str() {
                "no-store" | "no-cache" | "private" => return Directives::NoStore,
                "max-age" => max_age = Some(seconds()),
                "s-maxage" => s_maxage = Some(seconds()),
                _ => {}
            }
        }
    }
    s_maxage
        .or(max_age)
        .map_or(Directives::None, Directives::MaxAge)
}

/// `Expires` less `Date` (or `now`), if there is an `Expires`.
fn expires(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let expires = header_str(headers, EXPIRES)?;
    let Ok(expires) = httpdate::parse_http_date(expires.trim()) else {
        return Some(Duration::ZERO);
    };
    let date = header_str(headers, DATE)
        .and_then(|date| httpdate::parse_http_date(date.trim()).ok())
        .unwrap_or(now);
    Some(expires.duration_since(date).unwrap_or(Duration::ZERO))
}

/// The first `name` header as text, if it is.
fn header_str(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ttl(pairs: &[(&'static str, &str)]) -> Option<Duration> {
        ttl_of(&headers(pairs), SystemTime::UNIX_EPOCH)
    }

    const fn secs(s: u64) -> Option<Duration> {
        Some(Duration::from_secs(s))
    }

    /// `max-age` gives the TTL; `s-maxage` wins over it; quoted values,
    /// case and several headers are read; `Age` is taken off.
    #[test]
    fn max_age_and_s_maxage() {
        assert_eq!(ttl(&[("cache-control", "public, max-age=60")]), secs(60));
        assert_eq!(ttl(&[("cache-control", "Max-Age=\"60\"")]), secs(60));
        assert_eq!(
            ttl(&[("cache-control", "max-age=60, s-maxage=30")]),
            secs(30)
        );
        assert_eq!(
            ttl(&[("cache-control", "public"), ("cache-control", "max-age=5")]),
            secs(5)
        );
        assert_eq!(
            ttl(&[("cache-control", "max-age=60"), ("age", "20")]),
            secs(40)
        );
        assert_eq!(
            ttl(&[("cache-control", "max-age=60"), ("age", "90")]),
            secs(0)
        );
        assert_eq!(ttl(&[("cache-control", "max-age=soon")]), secs(0));
    }

    /// `no-store`, `no-cache` and `private` mean "do not cache", whatever
    /// else the answer says.
    #[test]
    fn no_store_is_a_zero_ttl() {
        for cc in ["no-store", "max-age=60, no-store", "no-cache", "private"] {
            assert_eq!(ttl(&[("cache-control", cc)]), secs(0), "{cc}");
        }
        assert_eq!(
            ttl(&[
                ("cache-control", "no-store"),
                ("expires", "Thu, 01 Jan 1970 01:00:00 GMT")
            ]),
            secs(0)
        );
    }

    /// `Expires` counts from `Date`, or from now without one; a bad date is
    /// already past; `max-age` wins over it; no header is no TTL.
    #[test]
    fn expires_against_date() {
        let expires = ("expires", "Thu, 01 Jan 1970 00:10:00 GMT");
        assert_eq!(ttl(&[expires]), secs(600));
        assert_eq!(
            ttl(&[expires, ("date", "Thu, 01 Jan 1970 00:08:00 GMT")]),
            secs(120)
        );
        assert_eq!(
            ttl(&[expires, ("date", "Thu, 01 Jan 1970 00:20:00 GMT")]),
            secs(0)
        );
        assert_eq!(ttl(&[("expires", "0")]), secs(0));
        assert_eq!(ttl(&[expires, ("cache-control", "max-age=5")]), secs(5));
        assert_eq!(ttl(&[expires, ("age", "100")]), secs(500));
        assert_eq!(ttl(&[("content-type", "text/plain")]), None);
    }

    /// A huge `max-age` is capped at `MAX_TTL`, so an expiry can always be
    /// computed.
    #[test]
    fn huge_max_age_is_capped() {
        let huge = format!("max-age={}", u64::MAX);
        assert_eq!(
            ttl(&[("cache-control", huge.as_str())]),
            Some(cache_core::MAX_TTL)
        );
    }
}
