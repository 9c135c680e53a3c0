//! Light images kept in memory, apart from pages: `[cache] image_bytes` in the same two
//! segments pages use (see `segments`), so one-off images cannot push out the ones read
//! again and a burst of images cannot push out a single page. An image is fresh as the
//! upstream's `Cache-Control` (or the site's, or the default, lifetime) says, then served
//! stale only when fetching it anew fails, then gone. Images are not written to the
//! directory: one is made again from its original in milliseconds. Keys carry the site's
//! rules digest, as page keys do, so a site whose image settings change makes new ones;
//! an operator's purge removes a site's images as it does its pages (`purge`).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use url::Url;

use super::purge::{Purge, IMAGE_PART};
use super::segments::{Segment, Segments};
use crate::config::{CacheConfig, Site};
use crate::image::ImageSizes;

/// Variants of one path kept at once: image URLs differ by resizer parameters far less
/// than pages by their query, and each is a whole image.
const MAX_IMAGE_VARIANTS: usize = 8;

/// A Light image as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CachedImage {
    /// The JPEG.
    pub jpeg: Bytes,
    /// When it was made.
    pub created: SystemTime,
    /// How long after `created` it is fresh.
    pub fresh_for: Duration,
}

impl CachedImage {
    /// Time since it was made; zero if the clock went back.
    pub fn age(&self, now: SystemTime) -> Duration {
        now.duration_since(self.created).unwrap_or(Duration::ZERO)
    }
}

/// The answer to [`ImageCache::lookup`].
#[derive(Debug, Clone)]
pub(crate) enum ImageLookup {
    /// Fresh: serve it.
    Fresh(Arc<CachedImage>),
    /// Past freshness, within `stale_if_error`: make it anew, and serve this if that fails.
    Stale(Arc<CachedImage>),
    /// Nothing usable.
    Miss,
}

/// The shared cache of Light images. Cloning is cheap and every clone is the same cache.
#[derive(Clone)]
pub(crate) struct ImageCache {
    /// `None` when `image_bytes` is 0.
    store: Option<Arc<Mutex<Segments<Arc<CachedImage>>>>>,
    stale_if_error: Duration,
}

impl ImageCache {
    /// A cache of `[cache] image_bytes`.
    pub fn new(config: &CacheConfig) -> Self {
        let store = (config.image_bytes > 0).then(|| {
            Arc::new(Mutex::new(Segments::new(
                config.image_bytes,
                MAX_IMAGE_VARIANTS,
            )))
        });
        Self {
            store,
            stale_if_error: config.stale_if_error,
        }
    }

    /// The key of the Light image of `source` for `site`.
    pub fn key(site: &Site, source: &Url) -> String {
        format!("{}{source}", Self::key_prefix(site))
    }

    /// What every key of `site`'s images starts with: its name, rules digest and
    /// namespace.
    fn key_prefix(site: &Site) -> String {
        format!("{}.{}\0{IMAGE_PART}", site.name, site.rules_digest)
    }

    fn segments(&self) -> Option<MutexGuard<'_, Segments<Arc<CachedImage>>>> {
        // The segments are plain data: a panic mid-update leaves them usable.
        self.store
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The image under `key`; a hit counts as a read, which protects it.
    pub fn lookup(&self, key: &str) -> ImageLookup {
        let now = SystemTime::now();
        let Some(mut segments) = self.segments() else {
            return ImageLookup::Miss;
        };
        let Some(image) = segments.get(key, now).cloned() else {
            return ImageLookup::Miss;
        };
        let fresh = image.age(now) < image.fresh_for;
        if fresh {
            // What a read pushes out is dropped here.
            let _ = segments.touch(key, now);
            ImageLookup::Fresh(image)
        } else {
            ImageLookup::Stale(image)
        }
    }

    /// Keeps `image` under `key`, replacing what was there.
    pub fn store(&self, key: &str, image: CachedImage) -> Arc<CachedImage> {
        let image = Arc::new(image);
        let usable = image.fresh_for.saturating_add(self.stale_if_error);
        let until = image
            .created
            .checked_add(usable)
            .unwrap_or(image.created + Duration::from_secs(1 << 40));
        if let Some(mut segments) = self.segments() {
            let bytes = image.jpeg.len() as u64;
            let now = SystemTime::now();
            let _ = segments.insert(
                key,
                Arc::clone(&image),
                bytes,
                until,
                Segment::Probation,
                now,
            );
        }
        image
    }

    /// The byte size of the image under `key`, if one is held; not a read.
    pub(crate) fn size_of(&self, key: &str) -> Option<u64> {
        let segments = self.segments()?;
        segments
            .get(key, SystemTime::now())
            .map(|image| image.jpeg.len() as u64)
    }

    /// The exact sizes of `site`'s Light images held now, for the links of a page.
    pub(crate) fn sizes_for(&self, site: &Site) -> ImageSizes {
        let cache = self.clone();
        let prefix = Self::key_prefix(site);
        Arc::new(move |source: &Url| cache.size_of(&format!("{prefix}{source}")))
    }

    /// Removes the Light images of `site` within `scope` (see
    /// [`Purge::matches_image`]), under its present rules and any earlier ones; returns
    /// how many went.
    pub fn purge(&self, site: &Site, scope: &Purge) -> usize {
        let Some(mut segments) = self.segments() else {
            return 0;
        };
        let keys: Vec<String> = segments
            .keys()
            .filter(|key| scope.matches_image(&site.name, &site.upstream, key))
            .map(ToOwned::to_owned)
            .collect();
        let images: Vec<_> = keys.iter().filter_map(|key| segments.remove(key)).collect();
        drop(segments);
        // Images are freed outside the lock.
        images.len()
    }

    /// Images held, and their bytes.
    #[cfg(test)]
    fn size(&self) -> (u64, u64) {
        self.segments()
            .map_or((0, 0), |s| (s.len() as u64, s.bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(image_bytes: u64) -> CacheConfig {
        CacheConfig {
            image_bytes,
            ..CacheConfig::default()
        }
    }

    fn image(bytes: usize, fresh_for: Duration, age: Duration) -> CachedImage {
        CachedImage {
            jpeg: Bytes::from(vec![0u8; bytes]),
            created: SystemTime::now() - age,
            fresh_for,
        }
    }

    #[test]
    fn images_are_fresh_then_stale_then_gone() {
        let cache = ImageCache::new(&config(1 << 20));
        let minute = Duration::from_secs(60);
        cache.store("a", image(100, minute, Duration::ZERO));
        assert!(matches!(cache.lookup("a"), ImageLookup::Fresh(_)));
        assert_eq!(cache.size_of("a"), Some(100));
        cache.store("b", image(100, minute, minute * 2));
        assert!(matches!(cache.lookup("b"), ImageLookup::Stale(_)));
        let past = CacheConfig::default().stale_if_error + minute * 2;
        cache.store("c", image(100, minute, past));
        assert!(matches!(cache.lookup("c"), ImageLookup::Miss));
        assert_eq!(cache.size_of("c"), None);
        assert!(matches!(cache.lookup("z"), ImageLookup::Miss));
    }

    #[test]
    fn a_purge_takes_the_images_of_its_site_and_paths() {
        let text = "[[site]]\nname = \"s\"\nupstream = \"https://news.example\"\n\
                    hosts = [\"light.example\"]\nimage_hosts = [\"cdn.example\"]\n";
        let site = crate::config::parse(text, "t").unwrap().1.remove(0);
        let cache = ImageCache::new(&config(1 << 20));
        let sources = [
            "https://news.example/world/a.jpg",
            "https://news.example/world/b.jpg?w=480",
            "https://news.example/sport/c.jpg",
            "https://cdn.example/world/d.jpg",
        ];
        for source in sources {
            let key = ImageCache::key(&site, &Url::parse(source).unwrap());
            cache.store(&key, image(10, Duration::from_secs(60), Duration::ZERO));
        }
        let other = crate::config::Site {
            name: "t".into(),
            ..(*site).clone()
        };
        assert_eq!(cache.purge(&other, &Purge::Site), 0);
        assert_eq!(cache.purge(&site, &Purge::Prefix("/world/".into())), 2);
        assert_eq!(cache.purge(&site, &Purge::Path("/sport/c.jpg".into())), 1);
        assert_eq!(cache.size().0, 1);
        assert_eq!(cache.purge(&site, &Purge::Site), 1);
        assert_eq!(cache.size().0, 0);
    }

    #[test]
    fn the_budget_holds_and_zero_keeps_nothing() {
        let cache = ImageCache::new(&config(10_000));
        for i in 0..50 {
            cache.store(
                &format!("k{i}"),
                image(1000, Duration::from_secs(60), Duration::ZERO),
            );
        }
        assert!(cache.size().1 <= 10_000, "{:?}", cache.size());
        let off = ImageCache::new(&config(0));
        off.store("a", image(10, Duration::from_secs(60), Duration::ZERO));
        assert!(matches!(off.lookup("a"), ImageLookup::Miss));
        assert_eq!(off.size(), (0, 0));
    }
}
