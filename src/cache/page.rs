//! A finished Light page as the cache keeps it: the body, its gzip and brotli forms
//! (compressed once, when stored, so a flood of readers costs no compression work), the
//! validators readers revalidate with, how long it stays fresh, how much of an article it
//! carries (its [`Quality`], which decides whether it may replace another copy), and room
//! for the response heads the server makes for it ([`Heads`]).

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::compress::{compress, Coding};

/// Past the epoch, a time later than any page's use, yet one `SystemTime` can hold.
const NEVER: Duration = Duration::from_secs(1 << 60);

/// How much of an article a stored page carries, which decides whether it may replace another copy.
///
/// A page with no article text, or from a body that may have been cut short, never
/// replaces a usable copy that is better (see [`PageCache::store`](super::PageCache::store)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quality {
    /// Characters of article text (0: the conversion found no article text).
    pub text_chars: u32,
    /// Whether the upstream body is known to be whole: delimited by length, chunked framing or HTTP/2, or close-delimited but ending its document.
    pub whole: bool,
}

/// A finished Light page, as stored.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use bytes::Bytes;
/// use lightmirror::cache::{Quality, StoredPage};
///
/// let whole = Quality { text_chars: 2, whole: true };
/// let page = StoredPage::new(200, Bytes::from_static(b"<p>hi</p>"), None, Duration::from_secs(60), whole);
/// assert!(page.etag.starts_with('"'));
/// assert!(page.is_fresh(page.created + Duration::from_secs(59)));
/// assert!(!page.is_fresh(page.created + Duration::from_secs(60)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPage {
    /// 200 or 404: only complete conversions are stored.
    pub status: u16,
    /// The Light page, UTF-8 HTML, uncompressed.
    pub body: Bytes,
    /// `body` gzip-compressed.
    pub gzip: Bytes,
    /// `body` brotli-compressed.
    pub brotli: Bytes,
    /// Strong entity tag, quotes included: a hash of `body`.
    pub etag: String,
    /// The upstream's `Last-Modified` when it gave one, else the creation time.
    pub last_modified: SystemTime,
    /// When the page was converted.
    pub created: SystemTime,
    /// How long after `created` the page is fresh.
    pub fresh_for: Duration,
    /// How much of the article the page carries.
    pub quality: Quality,
    /// The response heads made for the page so far.
    pub(crate) heads: Heads,
}

impl StoredPage {
    /// Builds a page stamped now, compressing `body` both ways and hashing it for the
    /// entity tag. This is CPU work of a few milliseconds for a large page.
    pub fn new(
        status: u16,
        body: Bytes,
        last_modified: Option<SystemTime>,
        fresh_for: Duration,
        quality: Quality,
    ) -> Self {
        let created = SystemTime::now();
        Self {
            status,
            gzip: compress(Coding::Gzip, &body),
            brotli: compress(Coding::Brotli, &body),
            etag: etag(&body),
            last_modified: last_modified.unwrap_or(created),
            created,
            fresh_for,
            quality,
            body,
            heads: Heads::default(),
        }
    }

    /// Time since creation; zero if the clock says creation is still ahead.
    pub fn age(&self, now: SystemTime) -> Duration {
        now.duration_since(self.created).unwrap_or(Duration::ZERO)
    }

    /// Whether the page is still within its freshness lifetime at `now`.
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        self.age(now) < self.fresh_for
    }

    /// Whether the page may still be served when the upstream fails: within `stale_if_error`
    /// past its freshness.
    pub(crate) fn is_usable(&self, now: SystemTime, stale_if_error: Duration) -> bool {
        self.age(now) < self.fresh_for.saturating_add(stale_if_error)
    }

    /// When the page stops being of any use: freshness and then `stale_if_error` past
    /// creation. A sum beyond what the clock can express means never.
    pub(crate) fn usable_until(&self, stale_if_error: Duration) -> SystemTime {
        let usable = self.fresh_for.saturating_add(stale_if_error);
        self.created
            .checked_add(usable)
            .unwrap_or(SystemTime::UNIX_EPOCH + NEVER)
    }

    /// Bytes the page occupies, counting all three forms of the body.
    pub(crate) fn weight(&self) -> u64 {
        (self.body.len() + self.gzip.len() + self.brotli.len()) as u64
    }
}

/// The response heads of a stored page, one per coding, each made once by whoever serves
/// the page and handed out as copies after that: a page read by a flood of readers costs
/// its headers' formatting and checks once, not once a read. The cache neither makes nor
/// reads them. A head is kept with the `stale_if_error` it was made under, the one setting
/// besides the page that it depends on: after a reload that changes it, the page's heads
/// are made anew for each answer, as they were before any was kept.
#[derive(Default)]
// Boxed: heads a page never needs take no room in it.
pub(crate) struct Heads([OnceLock<Box<(Duration, HeaderMap)>>; 3]);

impl Heads {
    /// The head for `coding` made under `stale_if_error`: the kept one, else `make`'s,
    /// kept when no other head is kept for the coding.
    pub(crate) fn get(
        &self,
        coding: Coding,
        stale_if_error: Duration,
        make: impl FnOnce() -> HeaderMap,
    ) -> HeaderMap {
        let slot = &self.0[match coding {
            Coding::Identity => 0,
            Coding::Gzip => 1,
            Coding::Brotli => 2,
        }];
        if let Some(kept) = slot.get() {
            let (made_under, head) = &**kept;
            if *made_under == stale_if_error {
                return head.clone();
            }
            return make();
        }
        let head = make();
        let _ = slot.set(Box::new((stale_if_error, head.clone())));
        head
    }
}

/// Copies start with no head: a head is made again from the page when it is needed.
impl Clone for Heads {
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// Heads follow from the page, so they never tell two pages apart.
impl PartialEq for Heads {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Heads {}

impl fmt::Debug for Heads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kept = self.0.iter().filter(|slot| slot.get().is_some()).count();
        write!(f, "Heads({kept} kept)")
    }
}

fn etag(body: &[u8]) -> String {
    // 128 bits of SHA-256 tell versions apart as well as all 256 and keep headers short.
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    const WHOLE: Quality = Quality {
        text_chars: 20,
        whole: true,
    };

    fn body() -> Bytes {
        Bytes::from("<article><p>Light text, repeated. </p></article>".repeat(200))
    }

    fn page(status: u16, body: Bytes, last_modified: Option<SystemTime>, fresh: u64) -> StoredPage {
        StoredPage::new(
            status,
            body,
            last_modified,
            Duration::from_secs(fresh),
            WHOLE,
        )
    }

    #[test]
    fn compressed_forms_decode_to_the_body() {
        let page = page(200, body(), None, 1);
        let mut from_gzip = Vec::new();
        flate2::read::GzDecoder::new(&page.gzip[..])
            .read_to_end(&mut from_gzip)
            .unwrap();
        let mut from_brotli = Vec::new();
        brotli::Decompressor::new(&page.brotli[..], 4096)
            .read_to_end(&mut from_brotli)
            .unwrap();
        assert_eq!(from_gzip, page.body);
        assert_eq!(from_brotli, page.body);
        assert!(page.gzip.len() < page.body.len() / 4);
        assert_eq!(
            page.weight() as usize,
            body().len() + page.gzip.len() + page.brotli.len()
        );
    }

    #[test]
    fn etag_follows_the_body() {
        let a = page(200, body(), None, 0);
        let b = page(404, body(), None, 0);
        let c = page(200, Bytes::from_static(b"other"), None, 0);
        assert_eq!(a.etag, b.etag);
        assert_ne!(a.etag, c.etag);
        assert_eq!(a.etag.len(), 34);
        assert!(a.etag.starts_with('"') && a.etag.ends_with('"'));
    }

    #[test]
    fn last_modified_defaults_to_creation() {
        let a = page(200, body(), None, 0);
        assert_eq!(a.last_modified, a.created);
        let then = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        let b = page(200, body(), Some(then), 0);
        assert_eq!(b.last_modified, then);
    }

    #[test]
    fn a_head_is_made_once_per_coding_and_setting() {
        let page = page(200, body(), None, 10);
        let made = std::cell::Cell::new(0);
        let head = |value: &'static str| {
            made.set(made.get() + 1);
            let mut head = HeaderMap::new();
            head.insert(http::header::ETAG, http::HeaderValue::from_static(value));
            head
        };
        let minute = Duration::from_secs(60);
        let first = page.heads.get(Coding::Gzip, minute, || head("a"));
        assert_eq!(first[http::header::ETAG], "a");
        assert_eq!(page.heads.get(Coding::Gzip, minute, || head("b")), first);
        assert_eq!(made.get(), 1);
        // Another coding has a head of its own.
        let other = page.heads.get(Coding::Identity, minute, || head("c"));
        assert_eq!(other[http::header::ETAG], "c");
        // Under another setting the head is made for each call, and the kept one stays.
        let hour = Duration::from_secs(3600);
        assert_eq!(
            page.heads.get(Coding::Gzip, hour, || head("d"))[http::header::ETAG],
            "d"
        );
        assert_eq!(
            page.heads.get(Coding::Gzip, hour, || head("e"))[http::header::ETAG],
            "e"
        );
        assert_eq!(page.heads.get(Coding::Gzip, minute, || head("f")), first);
        assert_eq!(made.get(), 4);
        // A copy of the page makes its heads again, and is still the same page.
        let copy = page.clone();
        assert_eq!(copy, page);
        assert_eq!(
            copy.heads.get(Coding::Gzip, minute, || head("g"))[http::header::ETAG],
            "g"
        );
    }

    #[test]
    fn age_and_windows() {
        let page = page(200, body(), None, 10);
        let at = |s| page.created + Duration::from_secs(s);
        let stale = Duration::from_secs(5);
        assert_eq!(
            page.age(page.created - Duration::from_secs(3)),
            Duration::ZERO
        );
        assert_eq!(page.age(at(4)), Duration::from_secs(4));
        assert!(page.is_fresh(at(9)) && !page.is_fresh(at(10)));
        assert!(page.is_usable(at(14), stale) && !page.is_usable(at(15), stale));
        assert_eq!(page.usable_until(stale), at(15));
        let forever = page.usable_until(Duration::MAX);
        assert!(forever > at(1 << 40));
    }
}
