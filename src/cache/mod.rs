//! Cached Light pages: what makes a flood of readers after breaking news cost one upstream
//! fetch per page, and what keeps pages readable when the upstream fails or is blocked.
//!
//! Pages live in memory (bounded by bytes, least recently used out first) and, when a
//! directory is configured, on disk across restarts. Each page is fresh for its lifetime
//! (see [`freshness`]), then stale but still served on upstream errors for
//! `stale_if_error`, then gone. Concurrent misses on one key are coalesced
//! ([`PageCache::join`]). The cache knows nothing of the server: callers pass header values
//! as text and decide themselves what to fetch and what to send.
//!
//! Modules: `page` (the stored form), `policy` (HTTP freshness and conditional-request
//! rules), `flight` (coalescing), `disk` (the directory).

mod disk;
mod flight;
mod page;
mod policy;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use moka::future::Cache;
use moka::policy::EvictionPolicy;
use moka::Expiry;
use tokio::sync::{watch, OnceCell};

use crate::config::CacheConfig;
use disk::DiskStore;
use flight::Flights;

pub use flight::{Flight, FlightFollower, FlightLeader, Landing};
pub use page::{Quality, StoredPage};
pub use policy::{freshness, not_modified};

/// What can go wrong with the cache directory. [`PageCache::new`] fails only with `Io`, when
/// the directory cannot be created or listed; the other variants concern single files and
/// are logged (a damaged file is deleted, a page that cannot be written stays in memory).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A file or directory could not be created, read, written or renamed.
    #[error("cache file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A file in the directory is not a complete page of this format; it is deleted.
    #[error("cache file {path} is damaged: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Which check it failed.
        reason: &'static str,
    },
    /// A page is larger than the whole budget, so it is not written.
    #[error("page of {bytes} bytes exceeds the {max}-byte cache")]
    TooLarge {
        /// Size of the page's file.
        bytes: u64,
        /// The configured `max_bytes`.
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
    /// The page is now the cached copy.
    Accepted(Arc<StoredPage>),
    /// A usable copy of more worth was kept; `new` was not stored.
    Declined {
        /// The page offered.
        new: Arc<StoredPage>,
        /// The copy kept.
        kept: Arc<StoredPage>,
    },
}

#[cfg(test)]
impl Stored {
    fn accepted(self) -> Arc<StoredPage> {
        match self {
            Stored::Accepted(page) => page,
            Stored::Declined { .. } => panic!("page declined"),
        }
    }
}

/// Where "now" comes from: the system clock, or a test's hand-moved one.
type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The shared cache of Light pages. Cloning is cheap and every clone is the same cache.
///
/// ```no_run
/// # async fn demo(config: &lightmirror::config::CacheConfig) -> Result<(), lightmirror::cache::CacheError> {
/// use lightmirror::cache::{Flight, Landing, Lookup, PageCache, StoredPage};
///
/// let cache = PageCache::new(config)?;
/// let key = "example/news/today";
/// if let Lookup::Fresh(page) = cache.lookup(key).await {
///     return Ok(()); // serve `page`
/// }
/// match cache.join(key) {
///     Flight::Leader(leader) => {
///         let fetched = StoredPage::new(200, "<p>today</p>".into(), None, config.ttl, lightmirror::cache::Quality { text_chars: 1, whole: true });
///         let page = cache.store(key, fetched).await;
///         leader.finish(Landing::Page(page)); // then serve it
///     }
///     Flight::Follower(follower) => match follower.wait().await {
///         Landing::Page(page) => {} // serve it
///         _ => {}                   // fetch for yourself, or serve a stale copy
///     },
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PageCache {
    /// `None` when `max_bytes` is 0: the cache is off.
    active: Option<Arc<Active>>,
}

struct Active {
    memory: Cache<String, Arc<StoredPage>>,
    disk: Option<Arc<DiskStore>>,
    flights: Arc<Flights>,
    stale_if_error: Duration,
    clock: Clock,
    /// Pages read from disk by `new`, moved into memory by the first async call (moka's
    /// inserts are async and `new` is not).
    preload: Mutex<Vec<(String, StoredPage)>>,
    preloaded: OnceCell<()>,
    /// Disk writes under way, for [`PageCache::flush`].
    writing: watch::Sender<usize>,
}

/// Removes a page from memory once it is neither fresh nor usable stale.
struct UsableWindow {
    clock: Clock,
    stale_if_error: Duration,
}

impl UsableWindow {
    fn remaining(&self, page: &StoredPage) -> Option<Duration> {
        Some(page.usable_for((self.clock)(), self.stale_if_error))
    }
}

impl Expiry<String, Arc<StoredPage>> for UsableWindow {
    fn expire_after_create(
        &self,
        _key: &String,
        page: &Arc<StoredPage>,
        _created_at: Instant,
    ) -> Option<Duration> {
        self.remaining(page)
    }

    // A replaced page brings its own lifetime; the default would keep the old one's.
    fn expire_after_update(
        &self,
        _key: &String,
        page: &Arc<StoredPage>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        self.remaining(page)
    }
}

impl PageCache {
    /// Builds the cache from `[cache]`. With a directory, creates it if needed and reads
    /// back every page still within its stale window, deleting damaged and expired files;
    /// this blocks, so call it at startup. With `max_bytes = 0` the cache is off: lookups
    /// miss, stores keep nothing, every join leads, and the directory is not touched.
    pub fn new(config: &CacheConfig) -> Result<Self, CacheError> {
        Self::with_clock(config, Arc::new(SystemTime::now))
    }

    fn with_clock(config: &CacheConfig, clock: Clock) -> Result<Self, CacheError> {
        if config.max_bytes == 0 {
            return Ok(Self { active: None });
        }
        let (disk, preload) = match &config.dir {
            Some(dir) => {
                let (disk, pages) =
                    DiskStore::open(dir, config.max_bytes, config.stale_if_error, clock())?;
                (Some(Arc::new(disk)), pages)
            }
            None => (None, Vec::new()),
        };
        let memory = Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|key: &String, page: &Arc<StoredPage>| {
                u32::try_from(page.weight() + key.len() as u64).unwrap_or(u32::MAX)
            })
            // Least recently used out first: after news breaks, the new page must get in
            // even while older pages have more hits; frequency-based admission would turn
            // it away until it had been missed often enough.
            .eviction_policy(EvictionPolicy::lru())
            .expire_after(UsableWindow {
                clock: Arc::clone(&clock),
                stale_if_error: config.stale_if_error,
            })
            .build();
        Ok(Self {
            active: Some(Arc::new(Active {
                memory,
                disk,
                flights: Arc::default(),
                stale_if_error: config.stale_if_error,
                clock,
                preload: Mutex::new(preload),
                preloaded: OnceCell::new(),
                writing: watch::Sender::new(0),
            })),
        })
    }

    /// The page under `key`: fresh, stale (within `stale_if_error` past freshness), or a
    /// miss.
    pub async fn lookup(&self, key: &str) -> Lookup {
        let Some(active) = &self.active else {
            return Lookup::Miss;
        };
        active.preload().await;
        let Some(page) = active.memory.get(key).await else {
            return Lookup::Miss;
        };
        let now = (active.clock)();
        if page.is_fresh(now) {
            Lookup::Fresh(page)
        } else if page.is_usable(now, active.stale_if_error) {
            Lookup::Stale(page)
        } else {
            // Expiry removes it from memory; until then it is simply not served.
            Lookup::Miss
        }
    }

    /// Keeps `page` under `key`, replacing any earlier copy, and returns it shared.
    ///
    /// Call it only with complete pages: a failed fetch must simply not call it, so the
    /// previous copy stays. Returns once the page is in memory; the disk copy is written on
    /// a blocking thread afterwards (see [`flush`](Self::flush)), and if that fails the
    /// memory copy remains and the failure is logged.
    pub async fn store(&self, key: &str, page: StoredPage) -> Stored {
        let page = Arc::new(page);
        let Some(active) = &self.active else {
            return Stored::Accepted(page);
        };
        active.preload().await;
        active
            .memory
            .insert(key.to_owned(), Arc::clone(&page))
            .await;
        if let Some(disk) = &active.disk {
            active.write_to_disk(Arc::clone(disk), key.to_owned(), Arc::clone(&page));
        }
        Stored::Accepted(page)
    }

    /// Pages held in memory, and their bytes.
    pub fn size(&self) -> (u64, u64) {
        match &self.active {
            Some(active) => (active.memory.entry_count(), active.memory.weighted_size()),
            None => (0, 0),
        }
    }

    /// Waits until every disk write started so far has finished; for shutdown, so pages
    /// just converted survive the restart.
    pub async fn flush(&self) {
        if let Some(active) = &self.active {
            // The sender lives in `active`, which `self` keeps alive, so this cannot fail.
            let _ = active.writing.subscribe().wait_for(|&n| n == 0).await;
        }
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
    async fn preload(&self) {
        self.preloaded
            .get_or_init(|| async {
                let pages = std::mem::take(
                    &mut *self.preload.lock().unwrap_or_else(PoisonError::into_inner),
                );
                // Oldest first, so the newest pages count as the most recently used.
                for (key, page) in pages {
                    self.memory.insert(key, Arc::new(page)).await;
                }
            })
            .await;
    }

    fn write_to_disk(&self, disk: Arc<DiskStore>, key: String, page: Arc<StoredPage>) {
        let now = (self.clock)();
        self.writing.send_modify(|n| *n += 1);
        let writing = self.writing.clone();
        let task = tokio::task::spawn_blocking(move || disk.write(&key, &page, now));
        tokio::spawn(async move {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, "cache: page kept in memory only");
                }
                Err(error) => {
                    tracing::warn!(%error, "cache: disk write did not finish");
                }
            }
            writing.send_modify(|n| *n -= 1);
        });
    }
}

impl fmt::Debug for PageCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The pages themselves would flood any log this reaches.
        match &self.active {
            None => f.write_str("PageCache(off)"),
            Some(active) => f
                .debug_struct("PageCache")
                .field("pages", &active.memory.entry_count())
                .field("bytes", &active.memory.weighted_size())
                .field("disk", &active.disk.is_some())
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::fs;
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

    fn config(max_bytes: u64, dir: Option<&std::path::Path>) -> CacheConfig {
        CacheConfig {
            max_bytes,
            ttl: FRESH,
            stale_if_error: STALE,
            dir: dir.map(ToOwned::to_owned),
        }
    }

    fn page_at(text: &str, clock: &TestClock) -> StoredPage {
        let mut page = StoredPage::new(
            200,
            Bytes::from(text.to_owned()),
            None,
            FRESH,
            crate::cache::Quality {
                text_chars: 1,
                whole: true,
            },
        );
        page.created = clock.now();
        page
    }

    fn cache(max_bytes: u64, dir: Option<&std::path::Path>, clock: &TestClock) -> PageCache {
        PageCache::with_clock(&config(max_bytes, dir), clock.clock()).unwrap()
    }

    fn body(lookup: &Lookup) -> Option<(&'static str, Bytes)> {
        match lookup {
            Lookup::Fresh(p) => Some(("fresh", p.body.clone())),
            Lookup::Stale(p) => Some(("stale", p.body.clone())),
            Lookup::Miss => None,
        }
    }

    #[tokio::test]
    async fn fresh_then_stale_then_miss() {
        let clock = TestClock::new();
        let cache = cache(1 << 20, None, &clock);
        assert_eq!(body(&cache.lookup("k").await), None);
        cache.store("k", page_at("v1", &clock)).await;
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
        let cache = cache(1 << 20, None, &clock);
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
    async fn memory_is_bounded_by_bytes() {
        let clock = TestClock::new();
        let text = "<p>a paragraph of news</p>".repeat(100);
        let weight = page_at(&text, &clock).weight() + 2;
        let cache = cache(weight * 3, None, &clock);
        let active = cache.active.as_ref().unwrap();
        for i in 0..6 {
            cache.store(&format!("k{i}"), page_at(&text, &clock)).await;
            // moka applies its bookkeeping in batches; settle it so the order is exact.
            active.memory.run_pending_tasks().await;
            // Reading k0 keeps it recently used, so the others go first.
            assert!(
                !matches!(cache.lookup("k0").await, Lookup::Miss),
                "k0 after k{i}"
            );
            active.memory.run_pending_tasks().await;
        }
        assert!(active.memory.weighted_size() <= weight * 3);
        let mut kept = Vec::new();
        for i in 0..6 {
            if !matches!(cache.lookup(&format!("k{i}")).await, Lookup::Miss) {
                kept.push(i);
            }
        }
        assert_eq!(kept, vec![0, 4, 5]);
    }

    #[tokio::test]
    async fn zero_bytes_turns_everything_off() {
        let clock = TestClock::new();
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("never");
        let cache = cache(0, Some(&sub), &clock);
        let page = cache.store("k", page_at("v", &clock)).await.accepted();
        assert_eq!(page.body, Bytes::from("v"));
        assert!(matches!(cache.lookup("k").await, Lookup::Miss));
        assert!(matches!(cache.join("k"), Flight::Leader(_)));
        assert!(matches!(cache.join("k"), Flight::Leader(_)));
        cache.flush().await;
        assert!(!sub.exists());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fifty_concurrent_joins_one_leader() {
        let clock = TestClock::new();
        let cache = cache(1 << 20, None, &clock);
        let start = Arc::new(tokio::sync::Barrier::new(50));
        let following = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let cache = cache.clone();
                let start = Arc::clone(&start);
                let following = Arc::clone(&following);
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
                            let page = cache
                                .store(
                                    "breaking",
                                    StoredPage::new(
                                        200,
                                        "news".into(),
                                        None,
                                        FRESH,
                                        crate::cache::Quality {
                                            text_chars: 1,
                                            whole: true,
                                        },
                                    ),
                                )
                                .await
                                .accepted();
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
        let cache = cache(1 << 20, None, &clock);
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
        let dir = tempfile::tempdir().unwrap();
        let first = cache(1 << 20, Some(dir.path()), &clock);
        let stored = first
            .store("site/a?x=1", page_at("<p>kept</p>", &clock))
            .await
            .accepted();
        first.store("site/b", page_at("<p>also</p>", &clock)).await;
        first.flush().await;
        drop(first);

        clock.advance(FRESH + Duration::from_secs(1));
        let second = cache(1 << 20, Some(dir.path()), &clock);
        match second.lookup("site/a?x=1").await {
            Lookup::Stale(page) => assert_eq!(*page, *stored),
            other => panic!("expected the stale page back, got {other:?}"),
        }
        assert!(matches!(second.lookup("site/b").await, Lookup::Stale(_)));
        assert!(matches!(second.lookup("site/c").await, Lookup::Miss));

        // Past the stale window the files are deleted at startup.
        clock.advance(STALE);
        let third = cache(1 << 20, Some(dir.path()), &clock);
        assert!(matches!(third.lookup("site/a?x=1").await, Lookup::Miss));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn damaged_files_are_deleted_not_served() {
        let clock = TestClock::new();
        let dir = tempfile::tempdir().unwrap();
        let first = cache(1 << 20, Some(dir.path()), &clock);
        for key in ["flipped", "truncated", "intact"] {
            first
                .store(key, page_at(&format!("<p>{key}</p>"), &clock))
                .await;
        }
        first.flush().await;
        drop(first);

        let flipped = dir.path().join(disk::file_name("flipped"));
        let mut data = fs::read(&flipped).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0x20;
        fs::write(&flipped, data).unwrap();
        let truncated = dir.path().join(disk::file_name("truncated"));
        let data = fs::read(&truncated).unwrap();
        fs::write(&truncated, &data[..data.len() / 2]).unwrap();

        let second = cache(1 << 20, Some(dir.path()), &clock);
        assert!(matches!(second.lookup("flipped").await, Lookup::Miss));
        assert!(matches!(second.lookup("truncated").await, Lookup::Miss));
        assert!(matches!(second.lookup("intact").await, Lookup::Fresh(_)));
        assert!(!flipped.exists() && !truncated.exists());
    }

    #[tokio::test]
    async fn disk_failure_keeps_the_memory_copy() {
        let clock = TestClock::new();
        let dir = tempfile::tempdir().unwrap();
        let cache = cache(1 << 20, Some(dir.path()), &clock);
        // The directory vanishing under a running server: every write fails.
        fs::remove_dir(dir.path()).unwrap();
        cache.store("k", page_at("v", &clock)).await;
        cache.flush().await;
        assert!(matches!(cache.lookup("k").await, Lookup::Fresh(_)));
    }
}
