//! A finished Light page as the cache keeps it: the body, its gzip and brotli forms
//! (compressed once, when stored, so a flood of readers costs no compression work), the
//! validators readers revalidate with, and how long it stays fresh.

use std::io::Write;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// gzip level: close to the best ratio for HTML at a fraction of level 9's time.
const GZIP_LEVEL: u32 = 6;
/// brotli quality: most of brotli's gain over gzip while staying a few milliseconds per page.
const BROTLI_QUALITY: u32 = 5;
/// brotli window (log2 of bytes): 1 MiB covers any Light page and keeps decoder memory small.
const BROTLI_WINDOW: u32 = 20;

/// How much of an article a stored page carries, which decides whether it may replace
/// another copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quality {
    /// Characters of article text (0: the conversion found no article text).
    pub text_chars: u32,
    /// Whether the upstream body is known to be whole.
    pub whole: bool,
}

/// A finished Light page, as stored.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use bytes::Bytes;
/// use lightmirror::cache::StoredPage;
///
/// let page = StoredPage::new(200, Bytes::from_static(b"<p>hi</p>"), None, Duration::from_secs(60), lightmirror::cache::Quality { text_chars: 1, whole: true });
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
    /// How much article it carries.
    pub quality: Quality,
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
            gzip: gzip(&body),
            brotli: brotli(&body),
            etag: etag(&body),
            last_modified: last_modified.unwrap_or(created),
            created,
            fresh_for,
            quality,
            body,
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

    /// How long from `now` until the page is of no use at all.
    pub(crate) fn usable_for(&self, now: SystemTime, stale_if_error: Duration) -> Duration {
        self.fresh_for
            .saturating_add(stale_if_error)
            .saturating_sub(self.age(now))
    }

    /// Bytes the page occupies, counting all three forms of the body.
    pub(crate) fn weight(&self) -> u64 {
        (self.body.len() + self.gzip.len() + self.brotli.len()) as u64
    }
}

fn etag(body: &[u8]) -> String {
    // 128 bits of SHA-256 tell versions apart as well as all 256 and keep headers short.
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

fn gzip(body: &[u8]) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::new(GZIP_LEVEL),
    );
    // Writing to a Vec cannot fail.
    encoder
        .write_all(body)
        .and_then(|()| encoder.finish())
        .map(Bytes::from)
        .expect("gzip into memory")
}

fn brotli(body: &[u8]) -> Bytes {
    let mut writer = brotli::CompressorWriter::new(
        Vec::with_capacity(body.len() / 4),
        4096,
        BROTLI_QUALITY,
        BROTLI_WINDOW,
    );
    // Writing to a Vec cannot fail.
    writer.write_all(body).expect("brotli into memory");
    // `into_inner` finishes the stream before handing the buffer back.
    Bytes::from(writer.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn body() -> Bytes {
        Bytes::from("<article><p>Light text, repeated. </p></article>".repeat(200))
    }

    #[test]
    fn compressed_forms_decode_to_the_body() {
        let page = StoredPage::new(
            200,
            body(),
            None,
            Duration::from_secs(1),
            crate::cache::Quality {
                text_chars: 1,
                whole: true,
            },
        );
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
        let a = StoredPage::new(
            200,
            body(),
            None,
            Duration::ZERO,
            crate::cache::Quality {
                text_chars: 1,
                whole: true,
            },
        );
        let b = StoredPage::new(
            404,
            body(),
            None,
            Duration::ZERO,
            crate::cache::Quality {
                text_chars: 1,
                whole: true,
            },
        );
        let c = StoredPage::new(
            200,
            Bytes::from_static(b"other"),
            None,
            Duration::ZERO,
            crate::cache::Quality {
                text_chars: 1,
                whole: true,
            },
        );
        assert_eq!(a.etag, b.etag);
        assert_ne!(a.etag, c.etag);
        assert_eq!(a.etag.len(), 34);
        assert!(a.etag.starts_with('"') && a.etag.ends_with('"'));
    }

    #[test]
    fn last_modified_defaults_to_creation() {
        let a = StoredPage::new(
            200,
            body(),
            None,
            Duration::ZERO,
            crate::cache::Quality {
                text_chars: 1,
                whole: true,
            },
        );
        assert_eq!(a.last_modified, a.created);
        let then = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        let b = StoredPage::new(
            200,
            body(),
            Some(then),
            Duration::ZERO,
            crate::cache::Quality {
                text_chars: 1,
                whole: true,
            },
        );
        assert_eq!(b.last_modified, then);
    }

    #[test]
    fn age_and_windows() {
        let page = StoredPage::new(
            200,
            body(),
            None,
            Duration::from_secs(10),
            crate::cache::Quality {
                text_chars: 1,
                whole: true,
            },
        );
        let at = |s| page.created + Duration::from_secs(s);
        let stale = Duration::from_secs(5);
        assert_eq!(
            page.age(page.created - Duration::from_secs(3)),
            Duration::ZERO
        );
        assert_eq!(page.age(at(4)), Duration::from_secs(4));
        assert!(page.is_fresh(at(9)) && !page.is_fresh(at(10)));
        assert!(page.is_usable(at(14), stale) && !page.is_usable(at(15), stale));
        assert_eq!(page.usable_for(at(4), stale), Duration::from_secs(11));
        assert_eq!(page.usable_for(at(40), stale), Duration::ZERO);
    }
}
