//! Paths that are not articles. `/robots.txt` is answered as `text/plain`: the upstream's
//! own (at most [`MAX_ROBOTS_BYTES`], kept per site as long as a page would be) or, with
//! `robots = "disallow"`, one that turns every crawler away. Images (`/favicon.ico` and
//! any path ending in an image extension) are never fetched: a Light page shows no
//! images, so the answer is a `204` for the favicon browsers ask for on their own and a
//! `404` for the rest, both cacheable for a day so a reader's browser asks once.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use http::{Response, StatusCode};
use tokio::time::Instant;
use url::Url;

use super::handler::ADMISSION_WAIT;
use super::respond::{self, Body};
use super::Runtime;
use crate::budget::{Exhausted, ADMISSION_BYTES};
use crate::config::{RobotsRule, Site};
use crate::error::PageError;
use crate::upstream::{media_type, Outcome};

/// The path crawlers read first.
pub(crate) const ROBOTS_PATH: &str = "/robots.txt";

/// The largest upstream `robots.txt` served; Google reads 500 KiB, real files are a few
/// KiB, and a larger one is more likely a page than rules.
pub(crate) const MAX_ROBOTS_BYTES: usize = 64 << 10;

/// What `robots = "disallow"` serves.
const DISALLOW_ALL: &str = "User-agent: *\nDisallow: /\n";

/// How long a reader's browser keeps the answer for an image path.
const IMAGE_ANSWER_SECS: u64 = 86_400;

/// Extensions of the paths answered as images, lower case.
const IMAGE_EXTENSIONS: &[&str] = &[
    "ico", "png", "jpg", "jpeg", "gif", "webp", "avif", "svg", "bmp", "apng", "jxl",
];

/// Whether a request path names an image (by its extension, in any case). Paths under
/// `/_light/` are the Light site's own.
pub(crate) fn is_image_path(path: &str) -> bool {
    if path.starts_with("/_light/") {
        return false;
    }
    let name = path.rsplit('/').next().unwrap_or_default();
    name.rsplit_once('.').is_some_and(|(_, ext)| {
        IMAGE_EXTENSIONS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(ext))
    })
}

/// The answer for an image path, without a fetch.
pub(crate) fn image(path: &str) -> Response<Body> {
    let cache_control = format!("public, max-age={IMAGE_ANSWER_SECS}");
    if path == "/favicon.ico" {
        return respond::text_file(StatusCode::NO_CONTENT, Bytes::new(), &cache_control);
    }
    let text = Bytes::from_static(b"Light pages show no images.\n");
    respond::text_file(StatusCode::NOT_FOUND, text, &cache_control)
}

/// The upstream `robots.txt` of each site, as last fetched.
#[derive(Debug, Default)]
pub(crate) struct RobotsFiles {
    sites: Mutex<HashMap<String, Kept>>,
}

#[derive(Debug, Clone)]
struct Kept {
    until: Instant,
    /// `None` when the upstream has none (or none usable), which crawlers read as "all
    /// allowed", so the answer is a 404 as the upstream's was.
    body: Option<Bytes>,
}

impl RobotsFiles {
    fn get(&self, site: &str) -> Option<Kept> {
        let sites = self.sites.lock().unwrap_or_else(PoisonError::into_inner);
        sites
            .get(site)
            .filter(|k| k.until > Instant::now())
            .cloned()
    }

    fn put(&self, site: &str, kept: Kept) {
        let mut sites = self.sites.lock().unwrap_or_else(PoisonError::into_inner);
        sites.insert(site.to_owned(), kept);
    }
}

/// The answer for `/robots.txt` of `site`.
pub(crate) async fn robots(runtime: &Runtime, site: &Site) -> Response<Body> {
    let ttl = site.cache_ttl.unwrap_or(runtime.config.cache.ttl);
    let cache_control = format!("public, max-age={}", ttl.as_secs());
    if site.robots == RobotsRule::Disallow {
        let body = Bytes::from_static(DISALLOW_ALL.as_bytes());
        return respond::text_file(StatusCode::OK, body, &cache_control);
    }
    let kept = match runtime.robots.get(&site.name) {
        Some(kept) => kept,
        None => {
            let Ok(body) = fetch_robots(runtime, site).await else {
                // A moment without memory to spare is not the upstream's answer: nothing
                // is kept, so the next crawler's request asks again.
                let busy = PageError::Busy;
                return respond::plain(busy.status(), &busy.to_string());
            };
            let kept = Kept {
                until: Instant::now() + ttl,
                body,
            };
            runtime.robots.put(&site.name, kept.clone());
            kept
        }
    };
    match kept.body {
        Some(body) => respond::text_file(StatusCode::OK, body, &cache_control),
        None => respond::text_file(StatusCode::NOT_FOUND, Bytes::new(), &cache_control),
    }
}

/// The upstream's `robots.txt`, when it answers 200 with text of at most
/// [`MAX_ROBOTS_BYTES`] within the upstream timeout; the fetch and the body held while it
/// arrives are charged to the memory budget like a page's, and it is refused when that
/// is spent.
async fn fetch_robots(runtime: &Runtime, site: &Site) -> Result<Option<Bytes>, Exhausted> {
    let mut charge = runtime
        .budget
        .admit(ADMISSION_BYTES, ADMISSION_WAIT)
        .await?;
    let mut url: Url = site.upstream.clone();
    url.set_path(ROBOTS_PATH);
    let timeout = runtime.config.limits.upstream_timeout;
    let fetched = tokio::time::timeout(timeout, runtime.fetcher.fetch(site, url));
    let Ok(Ok(Outcome::Page(mut upstream))) = fetched.await else {
        return Ok(None);
    };
    let textual = upstream
        .content_type
        .as_deref()
        .is_none_or(|ct| media_type(ct) == "text/plain");
    if upstream.status != StatusCode::OK || !textual {
        return Ok(None);
    }
    let mut body = Vec::new();
    loop {
        match upstream.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_ROBOTS_BYTES => {
                charge.grow(chunk.len())?;
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(Some(Bytes::from(body))),
            _ => {
                tracing::warn!(site = %site.name, "upstream robots.txt unusable; serving none");
                return Ok(None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn image_paths_by_extension() {
        for path in ["/favicon.ico", "/img/a.JPG", "/a/b.webp", "/x.svg"] {
            assert!(is_image_path(path), "{path}");
        }
        for path in ["/", "/news/a.html", "/png", "/a.png/b", "/_light/img/x.png"] {
            assert!(!is_image_path(path), "{path}");
        }
    }

    #[test]
    fn the_favicon_is_no_content_and_other_images_are_missing() {
        assert_eq!(image("/favicon.ico").status(), StatusCode::NO_CONTENT);
        let other = image("/logo.png");
        assert_eq!(other.status(), StatusCode::NOT_FOUND);
        let cc = other.headers().get(http::header::CACHE_CONTROL).unwrap();
        assert_eq!(cc, "public, max-age=86400");
    }

    #[test]
    fn kept_files_expire() {
        let files = RobotsFiles::default();
        let body = Some(Bytes::from_static(b"User-agent: *\n"));
        files.put(
            "a",
            Kept {
                until: Instant::now() + Duration::from_secs(60),
                body,
            },
        );
        assert!(files.get("a").is_some());
        files.put(
            "b",
            Kept {
                until: Instant::now(),
                body: None,
            },
        );
        assert!(files.get("b").is_none());
    }
}
