//! How the cache took part in an answer, as one typed value: the phase that decides it
//! writes it with [`mark`], which sets the `Cache-Status` header (RFC 9211) readers and
//! CDNs see and keeps the value itself on the response, where the log and the metrics
//! read it. Nothing reads the header back.

use std::time::Duration;

use http::header::{HeaderName, HeaderValue, InvalidHeaderValue};
use http::Response;

use crate::metrics::CacheResult;

/// The cache's name in `Cache-Status`.
const CACHE_NAME: &str = "lightmirror";

/// RFC 9211's header; `http` has no constant for it.
pub(super) const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// How the cache took part in one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CacheStatus {
    /// A fresh copy with `ttl` left, no fetch.
    Hit {
        /// Freshness left.
        ttl: Duration,
    },
    /// Another reader's fetch of the same thing, shared.
    Collapsed,
    /// This reader's own fetch, stored as it was served.
    Stored,
    /// This reader's own fetch, going out as it is made (or not kept).
    Miss,
    /// A saved copy standing in for a failure, with the failure's token when it has one.
    Stale(Option<&'static str>),
    /// Nothing usable was cached: errors, refusals, answers that may not be kept.
    Uncacheable,
}

impl CacheStatus {
    /// The `Cache-Status` value.
    fn header(self) -> String {
        match self {
            Self::Hit { ttl } => format!("{CACHE_NAME}; hit; ttl={}", ttl.as_secs()),
            Self::Collapsed => format!("{CACHE_NAME}; fwd=miss; collapsed"),
            Self::Stored => format!("{CACHE_NAME}; fwd=miss; stored"),
            Self::Miss => format!("{CACHE_NAME}; fwd=miss"),
            Self::Stale(Some(detail)) => format!("{CACHE_NAME}; fwd=stale; detail={detail}"),
            Self::Stale(None) => format!("{CACHE_NAME}; fwd=stale"),
            Self::Uncacheable => format!("{CACHE_NAME}; fwd=uri-miss"),
        }
    }

    /// The metrics' label for it.
    pub(super) fn result(self) -> CacheResult {
        match self {
            Self::Hit { .. } => CacheResult::hit,
            Self::Collapsed => CacheResult::collapsed,
            Self::Stored | Self::Miss => CacheResult::miss,
            Self::Stale(_) => CacheResult::stale,
            Self::Uncacheable => CacheResult::uncacheable,
        }
    }

    /// What `response` was marked with, if anything.
    pub(super) fn of<B>(response: &Response<B>) -> Option<Self> {
        response.extensions().get::<Self>().copied()
    }
}

/// Marks `response` with `status`: its header and the value the log reads.
pub(super) fn mark<B>(response: &mut Response<B>, status: CacheStatus) {
    let value = match status {
        CacheStatus::Hit { ttl } => hit_value(ttl.as_secs()),
        other => HeaderValue::from_str(&other.header()),
    };
    if let Ok(value) = value {
        response.headers_mut().insert(CACHE_STATUS, value);
    }
    response.extensions_mut().insert(status);
}

/// A hit's `Cache-Status`, as [`CacheStatus::header`] writes it, made without formatting:
/// it is the value of most answers under load.
fn hit_value(ttl: u64) -> Result<HeaderValue, InvalidHeaderValue> {
    const HIT: &[u8] = b"; hit; ttl=";
    const DIGITS: usize = 20;
    let mut digits = [0u8; DIGITS];
    let mut start = DIGITS;
    let mut rest = ttl;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut text = [0u8; CACHE_NAME.len() + HIT.len() + DIGITS];
    let mut end = 0;
    for part in [CACHE_NAME.as_bytes(), HIT, &digits[start..]] {
        text[end..end + part.len()].copy_from_slice(part);
        end += part.len();
    }
    HeaderValue::from_bytes(&text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_and_the_value_agree() {
        let mut response = Response::new(());
        mark(&mut response, CacheStatus::Stale(Some("busy")));
        assert_eq!(
            response.headers()[CACHE_STATUS],
            "lightmirror; fwd=stale; detail=busy"
        );
        assert_eq!(
            CacheStatus::of(&response).map(CacheStatus::result),
            Some(CacheResult::stale)
        );
        let hit = CacheStatus::Hit {
            ttl: Duration::from_secs(9),
        };
        assert_eq!(hit.header(), "lightmirror; hit; ttl=9");
        assert_eq!(CacheStatus::of(&Response::new(())), None);
    }

    #[test]
    fn a_hit_reads_as_its_header() {
        for ttl in [0, 1, 9, 10, 59, 100, 86_400, 1 << 40, u64::MAX] {
            let hit = CacheStatus::Hit {
                ttl: Duration::from_secs(ttl),
            };
            let mut response = Response::new(());
            mark(&mut response, hit);
            assert_eq!(response.headers()[CACHE_STATUS], hit.header().as_str());
        }
    }
}
