//! Cached Light pages: what makes a flood of readers after breaking news cost one upstream
//! fetch per page, and what keeps pages readable when the upstream fails or is blocked.
//!
//! Pages live in memory and, when a directory is configured, on disk across restarts; each
//! store holds `max_bytes`, split into a probation segment for new pages and a protected
//! one for pages read again, so one-off requests cannot flush what readers read (see
//! `segments`). Each page is fresh for its lifetime (see [`freshness`]), then stale but
//! still served on upstream errors for `stale_if_error`, then gone. A page that carries
//! less than the usable copy (no article text, or a body that may be cut short) does not
//! replace it ([`PageCache::store`]). Concurrent misses on one key are coalesced
//! ([`PageCache::join`]). The cache knows nothing of the server: callers pass header values
//! as text and decide themselves what to fetch and what to send; a stored page only keeps
//! room for the response heads its server makes for it, which the cache never reads.
//!
//! With `[cache] shared`, a fleet of instances shares one store: a miss in memory (which
//! holds the directory's pages) looks there before the upstream, every page stored goes
//! there too, and one instance fetches a page for the fleet ([`PageCache::lead`]). The
//! store failing only takes that tier away (see `shared`).
//!
//! An operator can purge a site's pages, one page or a subtree from memory, the directory
//! and the shared store alike ([`PageCache::purge`]).
//!
//! Modules: `page` (a page as kept), `codec` (its stored form as bytes), `policy`
//! (freshness, conditional requests, which copy to keep), `segments` (which page goes
//! when room is needed), `flight` (coalescing), `purge` (which keys a purge names), `disk`
//! (the directory, which is not trusted), `key` (the secret its files carry) `shared`
//! (the fleet's store) and `image` (Light images, in memory only).

mod codec;
mod disk;
mod flight;
mod image;
mod key;
mod page;
mod policy;
mod purge;
mod segments;
mod shared;

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::config::CacheConfig;
use crate::fleet::Store;
use disk::DiskStore;
use flight::Flights;
use segments::{Evicted, Segment, Segments};
use shared::{Claim, SharedTier};

pub use flight::{Flight, FlightFollower, FlightLeader, Landing};
pub(crate) use image::{CachedImage, ImageCache, ImageLookup};
pub use page::{Quality, StoredPage};
pub(crate) use policy::{forbids_transform, shared_cache_control, stale_cache_control, NOT_STORED};
pub use policy::{freshness, not_modified};
pub use purge::Purge;

/// How long a miss waits for the directory's pages while they load at startup: enough for
/// a typical directory, little for a reader when the disk is slow. Past it the miss is a
/// miss.
const LOAD_WAIT: Duration = Duration::from_millis(500);

/// What can go wrong with the cache directory. None of it stops the cache: a directory
/// that cannot be used leaves it in memory only, an unusable file is deleted, a page that
/// cannot be written stays in memory, and each is logged.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CacheError {
    /// A file or directory could not be created, read, written or renamed.
    #[error("cache file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A file in the directory is not a complete page of this format written under this
    /// cache's key; it is deleted.
    #[error("cache file {path} is damaged or foreign: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Which check it failed.
        reason: &'static str,
    },
    /// An entry in the directory (or the directory itself) is of a kind the cache never
    /// writes; a file is deleted unread.
    #[error("{path} is refused: {reason}")]
    Refused {
        /// The entry.
        path: PathBuf,
        /// What it is.
        reason: &'static str,
    },
    /// The key file cannot be used; a key for this run only stands in.
    #[error("cache key file {path} is refused: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// The system gave no random bytes for a key, so the directory is not used.
    #[error("no random bytes for the cache key: {0}")]
    Random(getrandom::Error),
    /// A page is larger than the largest the cache keeps, so it is not written.
    #[error("page of {bytes} bytes exceeds the largest page kept, {max} bytes")]
    TooLarge {
        /// Size of the page's file.
        bytes: u64,
        /// A fifth of `max_bytes`, at most 64 MiB.
        max: u64,
    },
    /// A page's metadata could not be written (a date before 1970).
    #[error("page metadata: {0}")]
    Metadata(serde_json::Error),
}

/// The answer to [`PageCache::lookup`].
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Within its freshness lifetime: serve it.
    Fresh(Arc<StoredPage>),
    /// Past freshness but within `stale_if_error`: fetch anew, and serve this if that fails.
    Stale(Arc<StoredPage>),
    /// Nothing usable.
    Miss,
}

/// The answer to [`PageCache::store`].
#[derive(Debug, Clone)]
pub enum Stored {
    /// The page is now the cached copy (memory, and disk when configured).
    Accepted(Arc<StoredPage>),
    /// A usable (fresh or stale) copy of more worth was kept; `new` was not stored.
    Declined {
        /// The page offered, which the caller may still send to its own reader.
        new: Arc<StoredPage>,
        /// The copy the cache keeps serving.
        kept: Arc<StoredPage>,
    },
}

/// The answer to [`PageCache::lead`].
#[derive(Debug)]
pub enum Elected {
    /// Fetch the page: no other instance is fetching it (or none can be asked).
    Fetch(FlightLeader),
    /// Another instance fetched and stored it meanwhile; the flight has landed with it.
    Landed(Arc<StoredPage>),
    /// Another instance's fetch of it failed just now: serve a stale copy if there is
    /// one, else fetch with this leader.
    Failed(FlightLeader),
}

/// Where "now" comes from: the system clock, or a test's hand-moved one.
type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The shared cache of Light pages. Cloning is cheap and every clone is the same cache.
///
/// ```no_run
/// # async fn demo(config: &lightmirror::config::CacheConfig) {
/// use lightmirror::cache::{Flight, Landing, Lookup, PageCache, Quality, Stored, StoredPage};
///
/// let cache = PageCache::new(config);
/// let key = "example\0/news/today";
/// if let Lookup::Fresh(page) = cache.lookup(key).await {
///     return; // serve `page`
/// }
/// match cache.join(key) {
///     Flight::Leader(leader) => {
///         let quality = Quality { text_chars: 5, whole: true };
///         let fetched = StoredPage::new(200, "<p>today</p>".into(), None, config.ttl, quality);
///         let page = match cache.store(key, fetched).await {
///             Stored::Accepted(page) | Stored::Declined { new: page, .. } => page,
///         };
///         leader.finish(Landing::Page(page)); // then serve it
///     }
///     Flight::Follower(follower) => match follower.wait().await {
///         Landing::Page(page) => {} // serve it
///         _ => {}                   // fetch for yourself, or serve a stale copy
///     },
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct PageCache {
    /// `None` when `max_bytes` is 0: the cache is off.
    active: Option<Arc<Active>>,
}

struct Active {
    /// Shared with disk writes, which file a page in the segment it has when they run.
    memory: Arc<Mutex<Segments<Arc<StoredPage>>>>,
    disk: Option<Arc<DiskStore>>,
    shared: Option<SharedTier>,
    flights: Arc<Flights>,
    stale_if_error: Duration,
    clock: Clock,
    /// Whether the directory's pages are in memory; true from the start without a
    /// directory. The loader holds the only sender, so a loader that died counts as done.
    loaded: watch::Receiver<bool>,
    /// Disk work under way, for [`PageCache::flush`].
    writing: watch::Sender<usize>,
}

impl PageCache {
    /// Builds the cache from `[cache]` and returns at once. With a directory, a thread
    /// creates it if needed and reads back every page still within its stale window,
    /// deleting damaged, foreign and expired files, while the cache already serves; a
    /// directory that cannot be used leaves the cache in memory only, with a warning. With
    /// `max_bytes = 0` the cache is off: lookups miss, stores keep nothing, every join
    /// leads, and the directory is not touched.
    pub fn new(config: &CacheConfig) -> Self {
        Self::with_clock(config, Arc::new(SystemTime::now))
    }

    fn with_clock(config: &CacheConfig, clock: Clock) -> Self {
        if config.max_bytes == 0 {
            return Self { active: None };
        }
        let disk = config
            .dir
            .as_deref()
            .map(|dir| Arc::new(DiskStore::new(dir, config)));
        let (done, loaded) = watch::channel(disk.is_none());
        let active = Arc::new(Active {
            memory: Arc::new(Mutex::new(Segments::new(
                config.max_bytes,
                config.max_variants,
            ))),
            disk,
            shared: Store::open(config).map(|store| SharedTier::new(store, config.stale_if_error)),
            flights: Arc::default(),
            stale_if_error: config.stale_if_error,
            clock,
            loaded,
            writing: watch::Sender::new(0),
        });
        if let Some(disk) = &active.disk {
            let loader = Arc::clone(&active);
            let spawned = std::thread::Builder::new()
                .name("cache-loader".to_owned())
                .spawn(move || loader.load_directory(&done));
            if let Err(error) = spawned {
                tracing::warn!(%error, "cache: cannot start reading the cache directory; pages are kept in memory only");
                disk.abandon();
            }
        }
        Self {
            active: Some(active),
        }
    }

    /// The page under `key`: fresh, stale (within `stale_if_error` past freshness), or a
    /// miss. A hit counts as a read: a page read again after it was stored is protected
    /// from floods of one-off pages. While the directory still loads at startup, a miss
    /// waits for it a moment. Without a fresh copy in memory, the shared store is asked
    /// (for at most `shared_timeout`), and what it has joins memory.
    pub async fn lookup(&self, key: &str) -> Lookup {
        let Some(active) = &self.active else {
            return Lookup::Miss;
        };
        let mut found = active.lookup(key);
        if matches!(found, Lookup::Miss) && !*active.loaded.borrow() {
            let mut loaded = active.loaded.clone();
            // A loader that died without finishing ends the wait just as well.
            let _ = tokio::time::timeout(LOAD_WAIT, loaded.wait_for(|&done| done)).await;
            found = active.lookup(key);
        }
        match &active.shared {
            // On the heap: a memory hit's future stays small.
            Some(shared) if !matches!(found, Lookup::Fresh(_)) => {
                Box::pin(active.or_shared(shared, key, found)).await
            }
            _ => found,
        }
    }

    /// Keeps `page` under `key` unless the usable copy there is worth more: a page without
    /// article text never replaces one with text, and a page whose body may have been cut
    /// short (`quality.whole` false) replaces no usable copy at all. The copy judged
    /// against is memory's, or the directory's when memory has none. Without a cache, the
    /// page is simply accepted. A page heavier than the largest kept (a fifth of
    /// `max_bytes`, at most 64 MiB) is accepted but not kept, and its outdated copy goes.
    ///
    /// Call it only with complete conversions: a failed fetch must simply not call it.
    /// Returns once memory holds the page; the disk copy is written on a blocking thread
    /// afterwards (see [`flush`](Self::flush)), and if that fails the memory copy remains
    /// and the failure is logged.
    pub async fn store(&self, key: &str, page: StoredPage) -> Stored {
        let page = Arc::new(page);
        match &self.active {
            Some(active) => active.store(key, page).await,
            None => Stored::Accepted(page),
        }
    }

    /// Pages held in memory, and their bytes.
    pub fn size(&self) -> (u64, u64) {
        match &self.active {
            Some(active) => {
                let memory = active.memory();
                (memory.len() as u64, memory.bytes())
            }
            None => (0, 0),
        }
    }

    /// Waits until all disk work started so far has finished; for shutdown, so pages
    /// just converted survive the restart.
    pub async fn flush(&self) {
        if let Some(active) = &self.active {
            // The sender lives in `active`, which `self` keeps alive, so this cannot fail.
            let _ = active.writing.subscribe().wait_for(|&n| n == 0).await;
        }
    }

    /// Removes the pages of `site` within `scope` from memory, from the shared store (for
    /// the whole fleet) and from the directory, so they are gone after a restart too; returns how many pages went (one found in both
    /// counts once). Waits for the directory to be read first, so no page loaded late
    /// comes back, and for the files to be deleted. A fetch already under way when the
    /// purge runs may still store its page afterwards.
    pub async fn purge(&self, site: &str, scope: Purge) -> usize {
        let Some(active) = &self.active else {
            return 0;
        };
        let mut loaded = active.loaded.clone();
        // A loader that died without finishing ends the wait just as well.
        let _ = loaded.wait_for(|&done| done).await;
        let mut removed: HashSet<String> = {
            let mut memory = active.memory();
            let keys: Vec<String> = memory
                .keys()
                .filter(|key| scope.matches(site, key))
                .map(ToOwned::to_owned)
                .collect();
            let pages: Vec<_> = keys.iter().filter_map(|key| memory.remove(key)).collect();
            drop(memory);
            // Pages are freed outside the lock.
            drop(pages);
            keys.into_iter().collect()
        };
        if let Some(shared) = &active.shared {
            removed.extend(shared.purge(site, &scope).await);
        }
        if let Some(disk) = active.disk.clone() {
            let site = site.to_owned();
            let deleted = tokio::task::spawn_blocking(move || disk.purge(&site, &scope)).await;
            removed.extend(deleted.unwrap_or_default());
        }
        removed.len()
    }

    /// Elects the fleet's fetcher of `key` for this instance's flight leader: with a
    /// shared store, this instance fetches only when it takes the page's lock there;
    /// otherwise it waits, up to `hold` (the longest one fetch may take, and the lock's
    /// lifetime when this instance takes it), for the instance that holds it. Without a
    /// store, or when it does not answer, the leader fetches.
    pub async fn lead(&self, key: &str, mut leader: FlightLeader, hold: Duration) -> Elected {
        let Some((active, shared)) = self
            .active
            .as_ref()
            .and_then(|active| Some((active, active.shared.as_ref()?)))
        else {
            return Elected::Fetch(leader);
        };
        match shared.claim(key, hold).await {
            Claim::Won(lock) => {
                leader.hold(lock);
                Elected::Fetch(leader)
            }
            Claim::Alone => Elected::Fetch(leader),
            Claim::Failed => Elected::Failed(leader),
            Claim::Landed(page) => {
                let page = Arc::new(page);
                let now = (active.clock)();
                let page = active.put(key, &page, now).unwrap_or(page);
                leader.finish(Landing::Page(Arc::clone(&page)));
                Elected::Landed(page)
            }
        }
    }

    /// The shared store, when one is configured, for what else the fleet keeps there.
    pub(crate) fn fleet(&self) -> Option<&Store> {
        Some(self.active.as_ref()?.shared.as_ref()?.store())
    }

    /// Coalesces fetches of `key`: the first caller while none is under way leads, every
    /// other caller follows until the leader finishes or is dropped. Look the key up first;
    /// a leader may look again, as a flight may have landed in between.
    pub fn join(&self, key: &str) -> Flight {
        match &self.active {
            Some(active) => active.flights.join(key),
            None => Flight::Leader(FlightLeader::alone()),
        }
    }
}

impl Active {
    fn memory(&self) -> MutexGuard<'_, Segments<Arc<StoredPage>>> {
        lock(&self.memory)
    }

    fn lookup(&self, key: &str) -> Lookup {
        let now = (self.clock)();
        let mut memory = self.memory();
        let Some(page) = memory.get(key, now).cloned() else {
            return Lookup::Miss;
        };
        let (promoted, evicted) = memory.touch(key, now);
        drop(memory);
        // Pages pushed out are freed outside the lock.
        drop(evicted);
        if promoted {
            let key = key.to_owned();
            self.on_disk(move |disk| disk.protect(&key, now));
        }
        if page.is_fresh(now) {
            Lookup::Fresh(page)
        } else {
            Lookup::Stale(page)
        }
    }

    async fn store(&self, key: &str, page: Arc<StoredPage>) -> Stored {
        let now = (self.clock)();
        let in_memory = self.memory().get(key, now).is_some();
        if !in_memory {
            if let Some(kept) = self.better_on_disk(key, page.quality, now).await {
                let kept = Arc::new(kept);
                let kept = self.put(key, &kept, now).unwrap_or(kept);
                return Stored::Declined { new: page, kept };
            }
        }
        if let Some(kept) = self.put(key, &page, now) {
            return Stored::Declined { new: page, kept };
        }
        if let Some(shared) = &self.shared {
            shared.put(key, &page, now).await;
        }
        let saved = Arc::clone(&page);
        let key = key.to_owned();
        let memory = Arc::clone(&self.memory);
        self.on_disk(move |disk| {
            // Asked only at the last moment: a read may have protected the page while this
            // write waited, and its protection must not reach the disk before the file
            // does; a page purged or replaced meanwhile is not written at all.
            let wanted = || match lock(&memory).held(&key) {
                Some((held, segment)) if Arc::ptr_eq(held, &saved) => Some(segment),
                _ => None,
            };
            disk.save(&key, &saved, wanted, now);
        });
        Stored::Accepted(page)
    }

    /// `found` in memory, or the shared store's copy of `key` when that is fresh (or
    /// memory has none), put in memory unless memory's copy is worth more.
    async fn or_shared(&self, shared: &SharedTier, key: &str, found: Lookup) -> Lookup {
        let now = (self.clock)();
        let Some(page) = shared.get(key, now).await else {
            return found;
        };
        let fresh = page.is_fresh(now);
        if !fresh && !matches!(found, Lookup::Miss) {
            return found;
        }
        let page = Arc::new(page);
        if self.put(key, &page, now).is_some() {
            return found;
        }
        if fresh {
            Lookup::Fresh(page)
        } else {
            Lookup::Stale(page)
        }
    }

    /// Puts `page` in memory unless the usable copy there is worth more; returns that copy.
    fn put(&self, key: &str, page: &Arc<StoredPage>, now: SystemTime) -> Option<Arc<StoredPage>> {
        let mut memory = self.memory();
        if let Some(old) = memory.get(key, now) {
            if !policy::replaces(page.quality, Some(old.quality)) {
                return Some(Arc::clone(old));
            }
        }
        let evicted = self.admit(&mut memory, key, page, Segment::Probation, now);
        drop(memory);
        // Pages pushed out are freed outside the lock.
        drop(evicted);
        None
    }

    fn admit(
        &self,
        memory: &mut Segments<Arc<StoredPage>>,
        key: &str,
        page: &Arc<StoredPage>,
        segment: Segment,
        now: SystemTime,
    ) -> Evicted<Arc<StoredPage>> {
        let weight = page.weight() + key.len() as u64;
        let until = page.usable_until(self.stale_if_error);
        memory.insert(key, Arc::clone(page), weight, until, segment, now)
    }

    /// The directory's copy of `key` when a page of `quality` may not replace it.
    async fn better_on_disk(
        &self,
        key: &str,
        quality: Quality,
        now: SystemTime,
    ) -> Option<StoredPage> {
        let disk = Arc::clone(self.disk.as_ref()?);
        let key = key.to_owned();
        let found = tokio::task::spawn_blocking(move || disk.better_copy(&key, quality, now));
        found.await.ok().flatten()
    }

    /// The loader thread: reads the directory, then moves its pages into memory, oldest
    /// first so the newest count as the most recent. A page stored meanwhile by a live
    /// fetch stays unless it may not replace the disk copy (it carries less).
    fn load_directory(&self, done: &watch::Sender<bool>) {
        let Some(disk) = &self.disk else {
            return;
        };
        let pages = disk.open((self.clock)());
        let now = (self.clock)();
        for (key, page) in pages {
            let page = Arc::new(page);
            let mut memory = self.memory();
            let live = memory.get(&key, now);
            if live.is_some_and(|live| policy::replaces(live.quality, Some(page.quality))) {
                continue;
            }
            // Files read back were worth keeping across a restart: protected, as on disk.
            let evicted = self.admit(&mut memory, &key, &page, Segment::Protected, now);
            drop(memory);
            drop(evicted);
        }
        done.send_replace(true);
    }

    /// Runs `job` on the directory on a blocking thread, counted for [`PageCache::flush`].
    fn on_disk(&self, job: impl FnOnce(&DiskStore) + Send + 'static) {
        let Some(disk) = self.disk.clone() else {
            return;
        };
        self.writing.send_modify(|n| *n += 1);
        let pending = Pending(self.writing.clone());
        tokio::task::spawn_blocking(move || {
            let _pending = pending;
            job(&disk);
        });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One unit of disk work; counted down when dropped, so a panicking job is not waited for
/// forever.
struct Pending(watch::Sender<usize>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl fmt::Debug for PageCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The pages themselves would flood any log this reaches.
        match &self.active {
            None => f.write_str("PageCache(off)"),
            Some(active) => {
                let memory = active.memory();
                f.debug_struct("PageCache")
                    .field("pages", &memory.len())
                    .field("bytes", &memory.bytes())
                    .field("disk", &active.disk.is_some())
                    .finish()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::fs;
    use std::path::Path;
    use std::sync::atomic::Ordering;

    const FRESH: Duration = Duration::from_secs(60);
    const STALE: Duration = Duration::from_secs(600);

    /// A clock that moves only when told to.
    #[derive(Clone)]
    struct TestClock(Arc<Mutex<SystemTime>>);

    impl TestClock {
        fn new() -> Self {
            Self(Arc::new(Mutex::new(SystemTime::now())))
        }
        fn now(&self) -> SystemTime {
            *self.0.lock().unwrap()
        }
        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
        fn clock(&self) -> Clock {
            let this = self.clone();
            Arc::new(move || this.now())
        }
    }

    fn config(max_bytes: u64, dir: Option<&Path>) -> CacheConfig {
        CacheConfig {
            max_bytes,
            ttl: FRESH,
            stale_if_error: STALE,
            dir: dir.map(ToOwned::to_owned),
            ..CacheConfig::default()
        }
    }

    fn whole(text: &str) -> Quality {
        Quality {
            text_chars: text.len() as u32,
            whole: true,
        }
    }

    fn page_with(text: &str, quality: Quality, clock: &TestClock) -> StoredPage {
        let body = Bytes::from(text.to_owned());
        let mut page = StoredPage::new(200, body, None, FRESH, quality);
        page.created = clock.now();
        page
    }

    fn page_at(text: &str, clock: &TestClock) -> StoredPage {
        page_with(text, whole(text), clock)
    }

    /// A cache whose directory (if any) has been read.
    async fn cache(max_bytes: u64, dir: Option<&Path>, clock: &TestClock) -> PageCache {
        let cache = PageCache::with_clock(&config(max_bytes, dir), clock.clock());
        if let Some(active) = &cache.active {
            let _ = active.loaded.clone().wait_for(|&done| done).await;
        }
        cache
    }

    /// A directory for pages, with room beside it for the key file.
    fn pages_dir() -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("pages");
        (root, dir)
    }

    fn body(lookup: &Lookup) -> Option<(&'static str, Bytes)> {
        match lookup {
            Lookup::Fresh(p) => Some(("fresh", p.body.clone())),
            Lookup::Stale(p) => Some(("stale", p.body.clone())),
            Lookup::Miss => None,
        }
    }

    async fn text(cache: &PageCache, key: &str) -> Option<Bytes> {
        body(&cache.lookup(key).await).map(|(_, body)| body)
    }

    fn accepted(stored: Stored) -> Arc<StoredPage> {
        match stored {
            Stored::Accepted(page) => page,
            Stored::Declined { kept, .. } => panic!("declined for {:?}", kept.body),
        }
    }

    fn declined(stored: Stored) -> (Arc<StoredPage>, Arc<StoredPage>) {
        match stored {
            Stored::Declined { new, kept } => (new, kept),
            Stored::Accepted(page) => panic!("accepted {:?}", page.body),
        }
    }

    fn page_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn fresh_then_stale_then_miss() {
        let clock = TestClock::new();
        let cache = cache(1 << 20, None, &clock).await;
        assert_eq!(body(&cache.lookup("k").await), None);
        accepted(cache.store("k", page_at("v1", &clock)).await);
        let v1 = Bytes::from("v1");

        clock.advance(FRESH - Duration::from_millis(1));
        assert_eq!(body(&cache.lookup("k").await), Some(("fresh", v1.clone())));
        clock.advance(Duration::from_millis(1));
        assert_eq!(body(&cache.lookup("k").await), Some(("stale", v1.clone())));
        clock.advance(STALE - Duration::from_millis(1));
        assert_eq!(body(&cache.lookup("k").await), Some(("stale", v1)));
        clock.advance(Duration::from_millis(1));
        assert_eq!(body(&cache.lookup("k").await), None);
    }

    #[tokio::test]
    async fn a_new_store_replaces_a_stale_copy() {
        let clock = TestClock::new();
        let cache = cache(1 << 20, None, &clock).await;
        cache.store("k", page_at("old", &clock)).await;
        clock.advance(FRESH * 2);
        assert_eq!(body(&cache.lookup("k").await).map(|b| b.0), Some("stale"));
        cache.store("k", page_at("new", &clock)).await;
        assert_eq!(
            body(&cache.lookup("k").await),
            Some(("fresh", Bytes::from("new")))
        );
    }

    #[tokio::test]
    async fn a_worse_page_never_replaces_a_good_copy() {
        let clock = TestClock::new();
        let (_root, dir) = pages_dir();
        let cache = cache(1 << 20, Some(&dir), &clock).await;
        let good = accepted(
            cache
                .store("k", page_at("<p>the article</p>", &clock))
                .await,
        );
        let empty = Quality {
            text_chars: 0,
            whole: true,
        };
        let cut = Quality {
            text_chars: 900,
            whole: false,
        };
        for quality in [empty, cut] {
            let (new, kept) = declined(cache.store("k", page_with("", quality, &clock)).await);
            assert_eq!((new.quality, &*kept), (quality, &*good));
        }
        // Stale, the good copy still wins; a whole page with text replaces it.
        clock.advance(FRESH * 2);
        declined(cache.store("k", page_with("", empty, &clock)).await);
        assert_eq!(text(&cache, "k").await, Some(good.body.clone()));
        cache.flush().await;

        // With memory's copy gone, the one on disk is judged, kept, and served again.
        cache.active.as_ref().unwrap().memory().remove("k");
        let (_, kept) = declined(cache.store("k", page_with("", cut, &clock)).await);
        assert_eq!(*kept, *good);
        assert_eq!(text(&cache, "k").await, Some(good.body.clone()));
        cache.flush().await;
        drop(cache);

        let restarted = self::cache(1 << 20, Some(&dir), &clock).await;
        assert_eq!(text(&restarted, "k").await, Some(good.body.clone()));
        accepted(
            restarted
                .store("k", page_at("<p>updated</p>", &clock))
                .await,
        );
        assert_eq!(text(&restarted, "k").await, Some("<p>updated</p>".into()));
        // Past its usable window the good copy protects nothing any more.
        clock.advance(FRESH + STALE);
        accepted(restarted.store("k", page_with("", empty, &clock)).await);
    }

    #[tokio::test]
    async fn memory_is_bounded_by_bytes_and_a_read_protects() {
        let clock = TestClock::new();
        let text = "<p>a paragraph of news</p>".repeat(100);
        let weight = page_at(&text, &clock).weight() + 3;
        let cache = cache(weight * 10, None, &clock).await;
        cache.store("k0", page_at(&text, &clock)).await;
        assert!(text_of(&cache, "k0").await);
        for i in 1..40 {
            cache.store(&format!("k{i}"), page_at(&text, &clock)).await;
        }
        let (bytes, pages) = {
            let memory = cache.active.as_ref().unwrap().memory();
            (memory.bytes(), memory.len())
        };
        assert!(bytes <= weight * 10);
        assert_eq!(pages, 10);
        // The page read again, and the newest nine of those read once.
        let mut kept = Vec::new();
        for i in 0..40 {
            if text_of(&cache, &format!("k{i}")).await {
                kept.push(i);
            }
        }
        assert_eq!(kept, [0].into_iter().chain(31..40).collect::<Vec<_>>());
    }

    async fn text_of(cache: &PageCache, key: &str) -> bool {
        text(cache, key).await.is_some()
    }

    /// A path read again, the same path without query, thousands of one-off variants of
    /// it: memory and directory still hold the first two.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_off_variants_flush_neither_read_pages_nor_their_path() {
        let clock = TestClock::new();
        let (_root, dir) = pages_dir();
        let text = "<p>news of the day, at some length</p>".repeat(20);
        let weight = page_at(&text, &clock).weight() + 40;
        let cache = cache(weight * 40, Some(&dir), &clock).await;
        cache.store("news\0/read", page_at(&text, &clock)).await;
        assert!(text_of(&cache, "news\0/read").await);
        cache.store("news\0/path", page_at(&text, &clock)).await;
        let page = page_at(&text, &clock);
        for i in 0..3000 {
            let mut variant = page.clone();
            variant.created = clock.now();
            cache.store(&format!("news\0/path?x={i}"), variant).await;
        }
        cache.flush().await;
        for key in ["news\0/read", "news\0/path", "news\0/path?x=2999"] {
            assert!(text_of(&cache, key).await, "{key} left memory");
        }
        assert!(!text_of(&cache, "news\0/path?x=2983").await);
        assert_eq!(cache.active.as_ref().unwrap().memory().len(), 2 + 16);
        let files = page_files(&dir);
        assert_eq!(files.len(), 2 + 16);
        for key in ["news\0/read", "news\0/path"] {
            assert!(files.contains(&disk::file_name(key)), "{key} left the disk");
        }
        drop(cache);
        let restarted = self::cache(weight * 40, Some(&dir), &clock).await;
        assert!(text_of(&restarted, "news\0/read").await);
        assert!(text_of(&restarted, "news\0/path").await);
    }

    /// Thousands of one-off pages on as many paths: only probation churns, in memory and on
    /// disk, and the page read again stays.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_off_pages_never_flush_a_page_read_again() {
        let clock = TestClock::new();
        let (_root, dir) = pages_dir();
        let text = "<p>news of the day, at some length</p>".repeat(20);
        let weight = page_at(&text, &clock).weight() + 40;
        let cache = cache(weight * 40, Some(&dir), &clock).await;
        cache.store("news\0/read", page_at(&text, &clock)).await;
        assert!(text_of(&cache, "news\0/read").await);
        let page = page_at(&text, &clock);
        for i in 0..2000 {
            cache
                .store(&format!("news\0/p{i}?x={i}"), page.clone())
                .await;
        }
        cache.flush().await;
        assert!(text_of(&cache, "news\0/read").await);
        assert!(!text_of(&cache, "news\0/p0?x=0").await);
        assert!(page_files(&dir).contains(&disk::file_name("news\0/read")));
        let active = cache.active.as_ref().unwrap();
        assert!(active.memory().bytes() <= weight * 40);
        assert!(active.disk.as_ref().unwrap().total_bytes() <= weight * 40);
    }

    #[tokio::test]
    async fn zero_bytes_turns_everything_off() {
        let clock = TestClock::new();
        let (_root, dir) = pages_dir();
        let cache = cache(0, Some(&dir), &clock).await;
        let page = accepted(cache.store("k", page_at("v", &clock)).await);
        assert_eq!(page.body, Bytes::from("v"));
        assert!(matches!(cache.lookup("k").await, Lookup::Miss));
        assert!(matches!(cache.join("k"), Flight::Leader(_)));
        assert!(matches!(cache.join("k"), Flight::Leader(_)));
        cache.flush().await;
        assert!(!dir.exists());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fifty_concurrent_joins_one_leader() {
        let clock = TestClock::new();
        let cache = cache(1 << 20, None, &clock).await;
        let start = Arc::new(tokio::sync::Barrier::new(50));
        let following = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let cache = cache.clone();
                let start = Arc::clone(&start);
                let following = Arc::clone(&following);
                let clock = clock.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    match cache.join("breaking") {
                        Flight::Leader(leader) => {
                            // Land only once everyone else has joined, so a second leader
                            // can only come from a coalescing bug, not from timing.
                            let everyone = async {
                                while following.load(Ordering::SeqCst) < 49 {
                                    tokio::time::sleep(Duration::from_millis(1)).await;
                                }
                            };
                            let _ = tokio::time::timeout(Duration::from_secs(5), everyone).await;
                            let page =
                                accepted(cache.store("breaking", page_at("news", &clock)).await);
                            leader.finish(Landing::Page(Arc::clone(&page)));
                            (true, Some(page))
                        }
                        Flight::Follower(follower) => {
                            following.fetch_add(1, Ordering::SeqCst);
                            match follower.wait().await {
                                Landing::Page(page) => (false, Some(page)),
                                _ => (false, None),
                            }
                        }
                    }
                })
            })
            .collect();
        let mut leaders = 0;
        for task in tasks {
            let (led, page) = task.await.unwrap();
            leaders += usize::from(led);
            assert_eq!(page.map(|p| p.body.clone()), Some(Bytes::from("news")));
        }
        assert_eq!(leaders, 1);
        assert!(matches!(cache.lookup("breaking").await, Lookup::Fresh(_)));
    }

    #[tokio::test]
    async fn dropped_leader_releases_followers() {
        let clock = TestClock::new();
        let cache = cache(1 << 20, None, &clock).await;
        let Flight::Leader(leader) = cache.join("k") else {
            panic!("first caller must lead");
        };
        let followers: Vec<_> = (0..5)
            .map(|_| match cache.join("k") {
                Flight::Follower(f) => tokio::spawn(f.wait()),
                Flight::Leader(_) => panic!("second leader"),
            })
            .collect();
        // A cancelled request drops its leader mid-fetch.
        let fetch = tokio::spawn(async move {
            let _leader = leader;
            std::future::pending::<()>().await;
        });
        tokio::task::yield_now().await;
        fetch.abort();
        for follower in followers {
            let waited = tokio::time::timeout(Duration::from_secs(5), follower).await;
            let landing = waited.expect("follower released").unwrap();
            assert!(matches!(landing, Landing::Failed), "{landing:?}");
        }
        assert!(matches!(cache.join("k"), Flight::Leader(_)));
    }

    #[tokio::test]
    async fn disk_round_trip_across_instances() {
        let clock = TestClock::new();
        let (_root, dir) = pages_dir();
        let first = cache(1 << 20, Some(&dir), &clock).await;
        let stored = accepted(
            first
                .store("site/a?x=1", page_at("<p>kept</p>", &clock))
                .await,
        );
        first.store("site/b", page_at("<p>also</p>", &clock)).await;
        first.flush().await;
        drop(first);

        clock.advance(FRESH + Duration::from_secs(1));
        let second = cache(1 << 20, Some(&dir), &clock).await;
        match second.lookup("site/a?x=1").await {
            Lookup::Stale(page) => assert_eq!(*page, *stored),
            other => panic!("expected the stale page back, got {other:?}"),
        }
        assert!(matches!(second.lookup("site/b").await, Lookup::Stale(_)));
        assert!(matches!(second.lookup("site/c").await, Lookup::Miss));
        drop(second);

        // Past the stale window the files are deleted at startup.
        clock.advance(STALE);
        let third = cache(1 << 20, Some(&dir), &clock).await;
        assert!(matches!(third.lookup("site/a?x=1").await, Lookup::Miss));
        assert_eq!(page_files(&dir), Vec::<String>::new());
    }

    #[tokio::test]
    async fn a_miss_waits_for_the_directory_while_it_loads() {
        let clock = TestClock::new();
        let (_root, dir) = pages_dir();
        let first = cache(1 << 20, Some(&dir), &clock).await;
        first.store("k", page_at("<p>saved</p>", &clock)).await;
        first.flush().await;
        drop(first);
        // No wait for the loader here: the lookup itself waits for it.
        let second = PageCache::with_clock(&config(1 << 20, Some(&dir)), clock.clock());
        assert_eq!(text(&second, "k").await, Some("<p>saved</p>".into()));
    }

    #[tokio::test]
    async fn pages_loaded_late_never_hide_a_live_store() {
        let clock = TestClock::new();
        let (_root, dir) = pages_dir();
        let first = cache(1 << 20, Some(&dir), &clock).await;
        for key in ["live", "worse"] {
            first.store(key, page_at("<p>from disk</p>", &clock)).await;
        }
        first.flush().await;
        drop(first);
        let second = cache(1 << 20, Some(&dir), &clock).await;
        let active = second.active.as_ref().unwrap();
        // As if the loader were still reading when two live fetches landed.
        active.memory().remove("live");
        active.memory().remove("worse");
        clock.advance(Duration::from_secs(1));
        active.put(
            "live",
            &Arc::new(page_at("<p>live</p>", &clock)),
            clock.now(),
        );
        let empty = Quality {
            text_chars: 0,
            whole: true,
        };
        active.put(
            "worse",
            &Arc::new(page_with("", empty, &clock)),
            clock.now(),
        );
        active.load_directory(&watch::channel(false).0);
        assert_eq!(text(&second, "live").await, Some("<p>live</p>".into()));
        assert_eq!(
            text(&second, "worse").await,
            Some("<p>from disk</p>".into())
        );
    }

    /// A key as `route::cache_key` makes it.
    fn site_key(site: &str, page: &str) -> String {
        format!("{site}.0123456789ab\0{page}")
    }

    #[tokio::test]
    async fn purge_removes_a_path_a_prefix_or_a_site_from_memory() {
        let clock = TestClock::new();
        let cache = cache(1 << 20, None, &clock).await;
        let pages = [
            "/a",
            "/a?page=2",
            "/ab",
            "/news/x",
            "/news/y?z=1",
            "/newsroom",
        ];
        for page in pages {
            for site in ["s", "t"] {
                cache
                    .store(&site_key(site, page), page_at(page, &clock))
                    .await;
            }
        }
        let purge = |scope| cache.purge("s", scope);
        assert_eq!(purge(Purge::Path("/a".into())).await, 2);
        assert_eq!(purge(Purge::Path("/a".into())).await, 0);
        assert_eq!(purge(Purge::Prefix("/news/".into())).await, 2);
        let left = ["/ab", "/newsroom"];
        for page in pages {
            let kept = text(&cache, &site_key("s", page)).await.is_some();
            assert_eq!(kept, left.contains(&page), "{page}");
            assert!(text(&cache, &site_key("t", page)).await.is_some(), "{page}");
        }
        assert_eq!(cache.purge("s", Purge::Site).await, 2);
        assert_eq!(cache.size().0, pages.len() as u64);
        assert_eq!(cache.purge("nowhere", Purge::Site).await, 0);
    }

    #[tokio::test]
    async fn a_purged_page_is_gone_after_a_restart() {
        let clock = TestClock::new();
        let (_root, dir) = pages_dir();
        let first = cache(1 << 20, Some(&dir), &clock).await;
        for page in ["/a", "/a?x=1", "/b", "/c/d"] {
            first
                .store(&site_key("s", page), page_at(page, &clock))
                .await;
        }
        first.flush().await;
        drop(first);

        let second = cache(1 << 20, Some(&dir), &clock).await;
        // Only on disk (loaded back into memory, then dropped there), or in both.
        second
            .active
            .as_ref()
            .unwrap()
            .memory()
            .remove(&site_key("s", "/a?x=1"));
        assert_eq!(second.purge("s", Purge::Path("/a".into())).await, 2);
        // Stored and purged at once: its disk write, whenever it runs, writes nothing.
        second
            .store(&site_key("s", "/new"), page_at("new", &clock))
            .await;
        assert_eq!(second.purge("s", Purge::Prefix("/n".into())).await, 1);
        second.flush().await;
        assert_eq!(
            page_files(&dir),
            names_of(&[site_key("s", "/b"), site_key("s", "/c/d")])
        );
        drop(second);

        let third = cache(1 << 20, Some(&dir), &clock).await;
        for gone in ["/a", "/a?x=1", "/new"] {
            assert!(matches!(
                third.lookup(&site_key("s", gone)).await,
                Lookup::Miss
            ));
        }
        assert!(matches!(
            third.lookup(&site_key("s", "/b")).await,
            Lookup::Fresh(_)
        ));
        assert_eq!(third.purge("s", Purge::Site).await, 2);
        assert_eq!(page_files(&dir), Vec::<String>::new());
    }

    fn names_of(keys: &[String]) -> Vec<String> {
        let mut names: Vec<String> = keys.iter().map(|key| disk::file_name(key)).collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn damaged_files_are_deleted_not_served() {
        let clock = TestClock::new();
        let (_root, dir) = pages_dir();
        let first = cache(1 << 20, Some(&dir), &clock).await;
        for key in ["flipped", "truncated", "intact"] {
            first
                .store(key, page_at(&format!("<p>{key}</p>"), &clock))
                .await;
        }
        first.flush().await;
        drop(first);

        let flipped = dir.join(disk::file_name("flipped"));
        let mut data = fs::read(&flipped).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0x20;
        fs::write(&flipped, data).unwrap();
        let truncated = dir.join(disk::file_name("truncated"));
        let data = fs::read(&truncated).unwrap();
        fs::write(&truncated, &data[..data.len() / 2]).unwrap();

        let second = cache(1 << 20, Some(&dir), &clock).await;
        assert!(matches!(second.lookup("flipped").await, Lookup::Miss));
        assert!(matches!(second.lookup("truncated").await, Lookup::Miss));
        assert!(matches!(second.lookup("intact").await, Lookup::Fresh(_)));
        assert!(!flipped.exists() && !truncated.exists());
    }

    #[tokio::test]
    async fn disk_failure_keeps_the_memory_copy() {
        let clock = TestClock::new();
        let (_root, dir) = pages_dir();
        let cache = cache(1 << 20, Some(&dir), &clock).await;
        // The directory vanishing under a running server: every write fails.
        fs::remove_dir(&dir).unwrap();
        cache.store("k", page_at("v", &clock)).await;
        cache.flush().await;
        assert!(matches!(cache.lookup("k").await, Lookup::Fresh(_)));
        // Back again, it is written to as before.
        fs::create_dir(&dir).unwrap();
        cache.store("k2", page_at("v2", &clock)).await;
        cache.flush().await;
        assert_eq!(page_files(&dir), vec![disk::file_name("k2")]);
    }

    #[tokio::test]
    async fn a_file_where_the_directory_should_be_leaves_memory_working() {
        let clock = TestClock::new();
        let (_root, dir) = pages_dir();
        fs::write(&dir, b"not a directory").unwrap();
        let cache = cache(1 << 20, Some(&dir), &clock).await;
        accepted(cache.store("k", page_at("v", &clock)).await);
        cache.flush().await;
        assert!(matches!(cache.lookup("k").await, Lookup::Fresh(_)));
        assert_eq!(fs::read(&dir).unwrap(), b"not a directory");
    }
}
