//! The Light image route, `/_light/img/…` on every Light host: the image a reader asked
//! for by tapping its placeholder, made small. The source named in the path must be one
//! the site fetches images from, checked on every request; a fresh cached image is served
//! at once, else the original is fetched (within the site's fetch bound), held against
//! the memory budget as it arrives, and made into a Light image on a blocking thread,
//! a few at a time, its decoding charged to the budget before a pixel is decoded. When
//! that fails and a stale copy exists, the copy is served. Failures are short Light pages
//! that say what went wrong; an image response never carries anything but our own JPEG.

// A `Refusal` carries the reader's ready answer, as the page handler's failures do.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use url::Url;

use super::cache_status::{self, CacheStatus};
use super::respond::{self, Body};
use super::Runtime;
use crate::budget::{Charge, ADMISSION_BYTES};
use crate::cache::{self, CachedImage, ImageCache, ImageLookup};
use crate::compress::Coding;
use crate::config::{ImageMode, Site};
use crate::image::{self as light_image, ImageError, Recipe};
use crate::lang::{Message, Words};
use crate::upstream::{media_type, Outcome, UpstreamError};

/// How long a request for an image waits for room in the memory budget. Its turn to be
/// made it waits for up to `upstream_timeout`: a reader who tapped an image would rather
/// wait a few seconds than be turned away, and a waiting request holds no memory.
const ROOM_WAIT: Duration = Duration::from_secs(2);

/// What a reader turned away for lack of room is told to wait before trying again.
const RETRY_AFTER_SECS: u32 = 5;

/// Light images made at once: decoding is CPU work, so one per core keeps pages, which
/// have their own bound, served meanwhile.
pub(super) fn made_at_once() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How to answer one reader.
struct Ask<'a> {
    runtime: &'a Runtime,
    site: &'a Site,
    /// The site's words: an image has no language of its own, so its error pages speak
    /// the site's, as the page error pages do.
    words: Words<'a>,
    coding: Coding,
    head: bool,
}

/// A request that got no new Light image: the answer, unless a stale copy stands in.
struct Refusal {
    answer: Response<Body>,
}

/// Answers a request for `path` (which starts with [`light_image::PREFIX`]) on `site`.
pub(super) async fn serve(
    runtime: &Runtime,
    site: &Site,
    path: &str,
    coding: Coding,
    head: bool,
) -> Response<Body> {
    let ask = Ask {
        runtime,
        site,
        words: site.words(None),
        coding,
        head,
    };
    if site.images.mode == ImageMode::Off {
        return ask.refuse(&ImageError::Off).answer;
    }
    let source = match light_image::source_of(path) {
        Ok(source) => source,
        Err(e) => return ask.refuse(&e).answer,
    };
    let Some(fetch_url) = site.image_allowed(&source) else {
        let host = source.host_str().unwrap_or_default().to_owned();
        return ask.refuse(&ImageError::NotAllowed(host)).answer;
    };
    let key = ImageCache::key(site, &source);
    let stale = match runtime.images.lookup(&key) {
        ImageLookup::Fresh(image) => {
            return ask.image(
                &image,
                CacheStatus::Hit {
                    ttl: fresh_left(&image),
                },
            )
        }
        ImageLookup::Stale(image) => Some(image),
        ImageLookup::Miss => None,
    };
    match ask.make(&key, fetch_url).await {
        Ok((image, served)) => ask.image(&image, served),
        Err(refusal) => match stale {
            Some(image) => ask.image(&image, CacheStatus::Stale(None)),
            None => refusal.answer,
        },
    }
}

impl Ask<'_> {
    /// Fetches the original and makes its Light image, unless another reader's request
    /// made it while this one waited for its turn.
    async fn make(&self, key: &str, url: Url) -> Result<(Arc<CachedImage>, CacheStatus), Refusal> {
        let runtime = self.runtime;
        let turn = runtime.config.limits.upstream_timeout;
        let permit = tokio::time::timeout(turn, Arc::clone(&runtime.image_work).acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| self.busy())?;
        if let ImageLookup::Fresh(image) = runtime.images.lookup(key) {
            return Ok((image, CacheStatus::Collapsed));
        }
        let mut charge = runtime
            .budget
            .admit(ADMISSION_BYTES, ROOM_WAIT)
            .await
            .map_err(|_| self.busy())?;
        let (original, cache_control) = self.fetch(url, &mut charge).await?;
        let recipe = Recipe {
            max_width: self.site.images.width,
            greyscale: self.site.images.greyscale,
        };
        let made = tokio::task::spawn_blocking(move || {
            let made = light_image::make(&original, recipe, |bytes| {
                let bytes = usize::try_from(bytes).map_err(|_| ImageError::Busy)?;
                charge.grow(bytes).map_err(|_| ImageError::Busy)
            });
            drop(charge);
            made
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        drop(permit);
        let made = made.map_err(|e| self.refuse(&e))?;
        let fresh_for = cache::freshness(
            cache_control.as_deref(),
            self.site.cache_ttl,
            runtime.config.cache.ttl,
        );
        let image = CachedImage {
            jpeg: Bytes::from(made.jpeg),
            created: SystemTime::now(),
            fresh_for: fresh_for.unwrap_or(Duration::ZERO),
        };
        Ok(match fresh_for {
            Some(_) => (runtime.images.store(key, image), CacheStatus::Stored),
            None => (Arc::new(image), CacheStatus::Miss),
        })
    }

    /// The original's bytes and its `Cache-Control`, each chunk charged as it arrives.
    async fn fetch(
        &self,
        url: Url,
        charge: &mut Charge,
    ) -> Result<(Vec<u8>, Option<String>), Refusal> {
        let runtime = self.runtime;
        let limits = &runtime.config.limits;
        let _site_permit = match runtime.permits.get(&self.site.name) {
            Some(permits) => Some(
                tokio::time::timeout(limits.upstream_timeout, permits.acquire_owned())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .ok_or_else(|| {
                        self.upstream_failed(&UpstreamError::Timeout(limits.upstream_timeout))
                    })?,
            ),
            None => None,
        };
        let mut upstream = match runtime.fetcher.fetch_image(self.site, url).await {
            Ok(Outcome::Page(response)) => *response,
            Ok(Outcome::Elsewhere(target)) => {
                let host = target.host_str().unwrap_or_default().to_owned();
                return Err(self.refuse(&ImageError::NotAllowed(host)));
            }
            Ok(Outcome::Unlinkable(_)) => {
                return Err(self.refuse(&ImageError::NotAllowed("another host".into())))
            }
            Err(e) => return Err(self.upstream_failed(&e)),
        };
        if upstream.status == StatusCode::NOT_FOUND || upstream.status == StatusCode::GONE {
            let text = self.words.text(Message::ErrorImageGone);
            return Err(self.message(upstream.status, text));
        }
        if upstream.status != StatusCode::OK {
            let status = self.words.number(&upstream.status.as_u16().to_string());
            let text = self
                .words
                .fill(Message::ErrorAnswered, &[("status", &status)]);
            return Err(self.message(StatusCode::BAD_GATEWAY, &text));
        }
        if let Some(label) = upstream
            .content_type
            .as_deref()
            .filter(|ct| !is_image_label(ct))
        {
            return Err(self.refuse(&ImageError::NotAnImage(label.to_owned())));
        }
        let mut original = Vec::new();
        loop {
            match upstream.chunk().await {
                Ok(Some(chunk)) => {
                    charge.grow(chunk.len()).map_err(|_| self.busy())?;
                    original.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(self.upstream_failed(&e)),
            }
        }
        Ok((original, upstream.cache_control))
    }

    /// A Light image response.
    fn image(&self, image: &CachedImage, served: CacheStatus) -> Response<Body> {
        let age = image.age(SystemTime::now());
        let mut response = respond::image(image.jpeg.clone(), fresh_left(image), self.head);
        cache_status::mark(&mut response, served);
        let headers = response.headers_mut();
        headers.insert(header::AGE, HeaderValue::from(age.as_secs()));
        response
    }

    fn message(&self, status: StatusCode, text: &str) -> Refusal {
        Refusal {
            answer: respond::message(
                status,
                self.site,
                self.words.text(Message::HeadingImageUnavailable),
                text,
                None,
                self.coding,
                self.head,
            ),
        }
    }

    fn refuse(&self, e: &ImageError) -> Refusal {
        if e.status().is_server_error() {
            tracing::warn!(site = %self.site.name, error = %e, "no Light image");
        } else {
            tracing::debug!(site = %self.site.name, error = %e, "no Light image");
        }
        let mut refusal = self.message(e.status(), &e.explain(&self.words));
        if matches!(e, ImageError::Busy) {
            refusal
                .answer
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        refusal
    }

    fn busy(&self) -> Refusal {
        self.refuse(&ImageError::Busy)
    }

    fn upstream_failed(&self, e: &UpstreamError) -> Refusal {
        tracing::warn!(site = %self.site.name, error = %e, "image upstream failed");
        self.runtime
            .metrics
            .upstream_failed(&self.site.name, e.kind());
        let text = match e {
            UpstreamError::Timeout(_) => Message::ErrorTooSlow,
            UpstreamError::TooLarge(_) => Message::ErrorImageTooHeavy,
            _ => Message::ErrorUnreachable,
        };
        self.message(e.status(), self.words.text(text))
    }
}

/// Whether an upstream `Content-Type` may label an image: `image/*`, or one of the labels
/// servers put on any file. The bytes themselves decide the format.
fn is_image_label(content_type: &str) -> bool {
    let mime = media_type(content_type);
    mime.starts_with("image/")
        || matches!(
            mime.as_str(),
            "application/octet-stream" | "binary/octet-stream" | ""
        )
}

/// How long a cached image stays fresh from now.
fn fresh_left(image: &CachedImage) -> Duration {
    image.fresh_for.saturating_sub(image.age(SystemTime::now()))
}
