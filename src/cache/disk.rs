//! Pages kept on disk so a restart does not empty the cache (and lose the stale copies that
//! stand in when an upstream fails or is blocked). One file per page, named by the SHA-256
//! of its key, written atomically, and held under the same byte budget and segments as
//! memory (see `segments`): files loaded at startup count as protected, new ones enter
//! probation, at most `max_variants` probation files share a path, and a worse page never
//! overwrites a better usable file (see `policy::replaces`).
//!
//! The directory is not trusted. Files are opened without following symbolic links and
//! without waiting on FIFOs, must be regular files no larger than the largest page the
//! cache writes (checked before reading, and read through a cap), and must carry an
//! HMAC-SHA256 under the directory's key (`key`): anything else is deleted unread or
//! unserved. The directory is read in the background ([`DiskStore::open`]); until then
//! writes wait. A directory that cannot be used at startup leaves the cache in memory only,
//! with one warning; one that fails later is warned about once per outage.
//!
//! Everything here blocks: the cache runs it on tokio's blocking threads, or on its
//! loader thread. One process per directory.
//!
//! Each file holds one page in the stored form of `codec`, sealed with the directory's
//! key.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::codec::{self, Seal};
use super::key::{Key, UNTRUSTED_OPEN};
use super::policy::replaces;
use super::segments::{largest_entry, Evicted, Segment, Segments};
use super::{CacheError, Purge, Quality, StoredPage};
use crate::config::CacheConfig;

const PAGE_SUFFIX: &str = ".page";
/// Written first, renamed into place when complete; any left at startup are from a crash.
const TEMP_PREFIX: &str = ".tmp-";

/// What the account keeps of a page's file: enough to judge a page meant to replace it.
#[derive(Debug, Clone, Copy)]
struct Held {
    created: SystemTime,
    quality: Quality,
}

/// Whether the directory can be used yet, and under which key.
enum State {
    /// The loader has not finished reading the directory.
    Opening,
    Open(Key),
    /// Unusable since startup (already warned about): the cache is in memory only.
    Unusable,
}

/// What became of a page handed to [`DiskStore::write`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// The page's file is in place.
    Saved,
    /// A newer or better usable copy is on disk; it stays.
    Kept,
    /// The directory is unusable; nothing was written.
    Skipped,
    /// The page is no longer wanted (it left memory before its turn); nothing was written.
    Unwanted,
}

/// The cache directory and the account of what it holds.
pub(crate) struct DiskStore {
    dir: PathBuf,
    key_file: Option<PathBuf>,
    max_bytes: u64,
    stale_if_error: Duration,
    state: Mutex<State>,
    decided: Condvar,
    /// Keyed by cache key. Held while files are renamed into place or deleted, so the
    /// account and the directory never disagree about a name.
    index: Mutex<Segments<Held>>,
    outage: Outage,
    /// Makes temp file names unique among concurrent writes.
    temp_serial: AtomicU64,
}

impl DiskStore {
    /// A store for `dir` that is not read yet: writes wait until [`open`](Self::open) is done.
    pub(crate) fn new(dir: &Path, config: &CacheConfig) -> Self {
        Self {
            dir: dir.to_owned(),
            key_file: config.key_path(),
            max_bytes: config.max_bytes,
            stale_if_error: config.stale_if_error,
            state: Mutex::new(State::Opening),
            decided: Condvar::new(),
            index: Mutex::new(Segments::new(config.max_bytes, config.max_variants)),
            outage: Outage::default(),
            temp_serial: AtomicU64::new(0),
        }
    }

    /// Creates the directory if needed, loads its key and reads back every page still
    /// within its stale window, oldest first; deletes damaged, foreign, misnamed and
    /// expired files, and the oldest when the directory holds more than the budget. When
    /// the directory cannot be used, warns once and returns nothing: the cache then runs
    /// in memory only.
    pub(crate) fn open(&self, now: SystemTime) -> Vec<(String, StoredPage)> {
        let undecided = Undecided(self);
        let opened = self.prepare().and_then(|key| {
            let pages = self.load(&key, now)?;
            Ok((key, pages))
        });
        let (state, pages) = match opened {
            Ok((key, pages)) => (State::Open(key), pages),
            Err(error) => {
                tracing::warn!(
                    %error,
                    "cache: the cache directory is unusable; pages are kept in memory only"
                );
                (State::Unusable, Vec::new())
            }
        };
        undecided.decide(state);
        pages
    }

    /// Writes `page` under `key` in the segment `wanted` names, unless it names none (see
    /// [`write_if`](Self::write_if)), logging what fails: a failing directory once per
    /// outage, a page that cannot be written once per page.
    pub(crate) fn save(
        &self,
        key: &str,
        page: &StoredPage,
        wanted: impl FnOnce() -> Option<Segment>,
        now: SystemTime,
    ) {
        match self.write_if(key, page, wanted, now) {
            Ok(Written::Saved | Written::Kept | Written::Unwanted) => {
                if self.outage.working() {
                    tracing::info!(dir = %self.dir.display(), "cache: the cache directory works again");
                }
            }
            Ok(Written::Skipped) => {}
            Err(error @ CacheError::Io { .. }) => {
                if self.outage.failing() {
                    tracing::warn!(
                        %error,
                        "cache: the cache directory fails; pages are kept in memory only until it works again"
                    );
                }
            }
            Err(error) => tracing::warn!(%error, "cache: page kept in memory only"),
        }
    }

    /// Writes `page` under `key`, replacing an older copy, then deletes what the budget
    /// pushes out. The file enters `segment`, the page's in memory (or protected, if it
    /// was). A usable copy on disk that is newer than `page` (a later store that finished
    /// first), or that `page` may not replace, is kept instead.
    #[cfg(test)]
    pub(crate) fn write(
        &self,
        key: &str,
        page: &StoredPage,
        segment: Segment,
        now: SystemTime,
    ) -> Result<Written, CacheError> {
        self.write_if(key, page, || Some(segment), now)
    }

    /// [`write`](Self::write), with the segment asked of `wanted` at the last moment,
    /// under the account's lock: `None` (the page left memory, purged or replaced, while
    /// this write waited) writes nothing. A purge removes from memory before it takes the
    /// account's lock, so a page it removed is never written back after it.
    pub(crate) fn write_if(
        &self,
        key: &str,
        page: &StoredPage,
        wanted: impl FnOnce() -> Option<Segment>,
        now: SystemTime,
    ) -> Result<Written, CacheError> {
        let Some(secret) = self.wait_open() else {
            return Ok(Written::Skipped);
        };
        let data = codec::encode(key, page, Seal::Key(&secret))?;
        let bytes = data.len() as u64;
        let max = largest_entry(self.max_bytes);
        if bytes > max {
            return Err(CacheError::TooLarge { bytes, max });
        }
        let name = file_name(key);
        let temp = self.dir.join(format!(
            "{TEMP_PREFIX}{name}-{}-{}",
            std::process::id(),
            self.temp_serial.fetch_add(1, Ordering::Relaxed)
        ));
        if let Err(source) = write_synced(&temp, &data) {
            remove(&temp);
            return Err(CacheError::Io { path: temp, source });
        }
        let mut index = self.index();
        let Some(segment) = wanted() else {
            remove(&temp);
            return Ok(Written::Unwanted);
        };
        if let Some(on_disk) = index.get(key, now) {
            if on_disk.created > page.created || !replaces(page.quality, Some(on_disk.quality)) {
                remove(&temp);
                return Ok(Written::Kept);
            }
        }
        let path = self.dir.join(&name);
        // The temp file is complete and synced, so whichever name survives a crash holds a
        // whole page; the directory itself is not synced because losing the newest write
        // to a power cut only costs a refetch.
        if let Err(source) = fs::rename(&temp, &path) {
            remove(&temp);
            return Err(CacheError::Io { path, source });
        }
        let held = Held {
            created: page.created,
            quality: page.quality,
        };
        let until = page.usable_until(self.stale_if_error);
        let evicted = index.insert(key, held, bytes, until, segment, now);
        self.delete(evicted);
        Ok(Written::Saved)
    }

    /// Settles the directory as unusable without reading it, when the loader cannot run.
    pub(crate) fn abandon(&self) {
        drop(Undecided(self));
    }

    /// Counts `key`'s file as protected, as memory does for the page: it was read again.
    pub(crate) fn protect(&self, key: &str, now: SystemTime) {
        if self.key().is_none() {
            return;
        }
        let mut index = self.index();
        let (_, evicted) = index.touch(key, now);
        self.delete(evicted);
    }

    /// The usable copy on disk that a page of quality `quality` may not replace, if there
    /// is one; for when memory has no copy to judge by. A copy that cannot be read back is
    /// deleted.
    pub(crate) fn better_copy(
        &self,
        key: &str,
        quality: Quality,
        now: SystemTime,
    ) -> Option<StoredPage> {
        let secret = self.key()?;
        let mut index = self.index();
        let held = index.get(key, now)?;
        if replaces(quality, Some(held.quality)) {
            return None;
        }
        let path = self.dir.join(file_name(key));
        match self.read_page(&path, &secret) {
            Ok((found, page, _)) if found == key => return Some(page),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cache: discarding a page file"),
        }
        remove(&path);
        index.remove(key);
        None
    }

    /// Deletes the files of `site` within `scope`, once the directory is read (waiting
    /// for it); returns their keys. Nothing when the directory is unusable.
    pub(crate) fn purge(&self, site: &str, scope: &Purge) -> Vec<String> {
        if self.wait_open().is_none() {
            return Vec::new();
        }
        let mut index = self.index();
        let keys: Vec<String> = index
            .keys()
            .filter(|key| scope.matches(site, key))
            .map(ToOwned::to_owned)
            .collect();
        for key in &keys {
            index.remove(key);
            remove(&self.dir.join(file_name(key)));
        }
        keys
    }

    /// Bytes of the files on the account.
    #[cfg(test)]
    pub(crate) fn total_bytes(&self) -> u64 {
        self.index().bytes()
    }

    fn index(&self) -> MutexGuard<'_, Segments<Held>> {
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key once the directory is open; `None` while it opens or when it is unusable.
    fn key(&self) -> Option<Key> {
        match &*self.state() {
            State::Open(key) => Some(key.clone()),
            State::Opening | State::Unusable => None,
        }
    }

    /// Waits until the loader is done; the key when the directory is usable.
    fn wait_open(&self) -> Option<Key> {
        let state = self.state();
        let state = self
            .decided
            .wait_while(state, |state| matches!(state, State::Opening))
            .unwrap_or_else(PoisonError::into_inner);
        match &*state {
            State::Open(key) => Some(key.clone()),
            State::Opening | State::Unusable => None,
        }
    }

    /// The directory, created if needed and proven writable, and its key.
    fn prepare(&self) -> Result<Key, CacheError> {
        let io_error = |source| CacheError::Io {
            path: self.dir.clone(),
            source,
        };
        match fs::metadata(&self.dir) {
            Ok(meta) if !meta.is_dir() => {
                return Err(CacheError::Refused {
                    path: self.dir.clone(),
                    reason: "not a directory",
                })
            }
            Ok(_) => {}
            Err(_) => fs::create_dir_all(&self.dir).map_err(io_error)?,
        }
        let probe = self
            .dir
            .join(format!("{TEMP_PREFIX}probe-{}", std::process::id()));
        // Whatever was left under the name goes first, so only a real failure counts.
        remove(&probe);
        let written = write_synced(&probe, b"");
        remove(&probe);
        written.map_err(|source| CacheError::Io {
            path: probe,
            source,
        })?;
        Key::load(self.key_file.as_deref(), &self.dir)
    }

    /// Reads the directory into the account as protected files, deleting what is not
    /// usable, and returns the pages that fit the budget, oldest first.
    fn load(&self, secret: &Key, now: SystemTime) -> Result<Vec<(String, StoredPage)>, CacheError> {
        let listing = fs::read_dir(&self.dir).map_err(|source| CacheError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let mut pages = Vec::new();
        for entry in listing.flatten() {
            let name = entry.file_name();
            // A name that is not UTF-8 is none of ours.
            let Some(name) = name.to_str() else {
                continue;
            };
            let path = self.dir.join(name);
            if name.starts_with(TEMP_PREFIX) {
                remove(&path);
            } else if is_page_file_name(name) {
                pages.extend(self.load_file(&path, name, secret, now));
            }
        }
        pages.sort_by_key(|(_, page, _)| page.created);
        let mut index = self.index();
        let mut evicted = HashSet::new();
        for (key, page, bytes) in &pages {
            let held = Held {
                created: page.created,
                quality: page.quality,
            };
            let until = page.usable_until(self.stale_if_error);
            let out = index.insert(key, held, *bytes, until, Segment::Protected, now);
            evicted.extend(out.iter().map(|(key, _)| key.clone()));
            self.delete(out);
        }
        Ok(pages
            .into_iter()
            .filter(|(key, _, _)| !evicted.contains(key))
            .map(|(key, page, _)| (key, page))
            .collect())
    }

    /// One page file at startup: its key, page and size when it is ours and still of use;
    /// otherwise it is deleted.
    fn load_file(
        &self,
        path: &Path,
        name: &str,
        secret: &Key,
        now: SystemTime,
    ) -> Option<(String, StoredPage, u64)> {
        match self.read_page(path, secret) {
            Ok((key, page, bytes))
                if file_name(&key) == name && page.is_usable(now, self.stale_if_error) =>
            {
                return Some((key, page, bytes));
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cache: discarding a page file"),
        }
        remove(path);
        None
    }

    /// Reads and authenticates one page file (key, page, bytes of the file), refusing
    /// anything that is not a regular file within the largest page the cache writes
    /// before reading a byte of it.
    fn read_page(
        &self,
        path: &Path,
        secret: &Key,
    ) -> Result<(String, StoredPage, u64), CacheError> {
        let refused = |reason| CacheError::Refused {
            path: path.to_owned(),
            reason,
        };
        let io_error = |source| CacheError::Io {
            path: path.to_owned(),
            source,
        };
        let file = match File::options()
            .read(true)
            .custom_flags(UNTRUSTED_OPEN)
            .open(path)
        {
            Ok(file) => file,
            Err(error) if error.raw_os_error() == Some(libc::ELOOP) => {
                return Err(refused("a symbolic link"))
            }
            Err(source) => return Err(io_error(source)),
        };
        let meta = file.metadata().map_err(io_error)?;
        if !meta.file_type().is_file() {
            return Err(refused("not a regular file"));
        }
        let max = largest_entry(self.max_bytes);
        if meta.len() > max {
            return Err(refused("larger than any page the cache writes"));
        }
        let mut data = Vec::with_capacity(meta.len() as usize);
        // The cap holds even for a file that grows while it is read.
        file.take(max + 1)
            .read_to_end(&mut data)
            .map_err(io_error)?;
        if data.len() as u64 > max {
            return Err(refused("larger than any page the cache writes"));
        }
        let (key, page) =
            codec::decode(&data, Seal::Key(secret)).map_err(|reason| CacheError::Corrupt {
                path: path.to_owned(),
                reason,
            })?;
        Ok((key, page, data.len() as u64))
    }

    fn delete(&self, evicted: Evicted<Held>) {
        for (key, _) in evicted {
            remove(&self.dir.join(file_name(&key)));
        }
    }
}

/// Settles the directory's state when the loader ends, even by a panic: a directory left
/// opening would make every write wait forever.
struct Undecided<'a>(&'a DiskStore);

impl Undecided<'_> {
    fn decide(self, state: State) {
        *self.0.state() = state;
    }
}

impl Drop for Undecided<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state();
        if matches!(*state, State::Opening) {
            *state = State::Unusable;
        }
        drop(state);
        self.0.decided.notify_all();
    }
}

/// Whether the directory is failing, so an outage is reported once, not once per write.
#[derive(Debug, Default)]
struct Outage(AtomicBool);

impl Outage {
    /// Records a failure; true when it starts an outage.
    fn failing(&self) -> bool {
        !self.0.swap(true, Ordering::Relaxed)
    }

    /// Records a success; true when it ends an outage.
    fn working(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }
}

/// The file a key is kept in: the key may be any text (paths, queries), the hash is always
/// a safe, fixed-length name.
pub(crate) fn file_name(key: &str) -> String {
    let hex: String = Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{hex}{PAGE_SUFFIX}")
}

fn is_page_file_name(name: &str) -> bool {
    name.strip_suffix(PAGE_SUFFIX).is_some_and(|stem| {
        stem.len() == 64 && stem.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// `create_new` neither follows nor replaces anything planted under the temp name.
fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut file = File::options().write(true).create_new(true).open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

/// Deletes a file whose contents must not be used; a failure only leaves the file to be
/// found (and judged) again at the next startup.
fn remove(path: &Path) {
    if let Err(error) = fs::remove_file(path) {
        if error.kind() != io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), %error, "cache: could not delete file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::sync::mpsc;
    use std::time::Instant;

    const STALE: Duration = Duration::from_secs(100);

    fn quality(text_chars: u32, whole: bool) -> Quality {
        Quality { text_chars, whole }
    }

    fn page(text: &str, created: SystemTime, fresh_for: u64) -> StoredPage {
        page_of(text, created, fresh_for, quality(500, true))
    }

    fn page_of(text: &str, created: SystemTime, fresh_for: u64, quality: Quality) -> StoredPage {
        let body = Bytes::from(text.repeat(50));
        let fresh_for = Duration::from_secs(fresh_for);
        let mut page = StoredPage::new(200, body, None, fresh_for, quality);
        page.created = created;
        page
    }

    fn config(dir: &Path, max_bytes: u64) -> CacheConfig {
        CacheConfig {
            max_bytes,
            stale_if_error: STALE,
            dir: Some(dir.to_owned()),
            max_variants: 2,
            ..CacheConfig::default()
        }
    }

    /// A store for `pages` beside its key file in a fresh directory.
    struct Fixture {
        _root: tempfile::TempDir,
        dir: PathBuf,
    }

    impl Fixture {
        fn new() -> Self {
            let root = tempfile::tempdir().unwrap();
            let dir = root.path().join("pages");
            fs::create_dir(&dir).unwrap();
            Self { _root: root, dir }
        }

        fn open(&self, max_bytes: u64, now: SystemTime) -> (DiskStore, Vec<(String, StoredPage)>) {
            let store = DiskStore::new(&self.dir, &config(&self.dir, max_bytes));
            let pages = store.open(now);
            (store, pages)
        }

        /// The key the directory's files are written under.
        fn key(&self) -> Key {
            let (store, _) = self.open(1 << 20, SystemTime::now());
            store.key().unwrap()
        }

        fn plant(&self, key: &str, data: &[u8]) -> PathBuf {
            let path = self.dir.join(file_name(key));
            fs::write(&path, data).unwrap();
            path
        }

        fn files(&self) -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(&self.dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    }

    /// Writes a new page, as a store does.
    fn put(store: &DiskStore, key: &str, page: &StoredPage, now: SystemTime) -> Written {
        store.write(key, page, Segment::Probation, now).unwrap()
    }

    fn names(keys: &[&str]) -> Vec<String> {
        let mut names: Vec<String> = keys.iter().map(|key| file_name(key)).collect();
        names.sort();
        names
    }

    #[test]
    fn a_well_formed_page_under_another_key_is_never_served() {
        let fixture = Fixture::new();
        let now = SystemTime::now();
        let forged = page("<p>news</p><script>steal()</script>", now, 60);
        let other = Key::random().unwrap();
        let planted = fixture.plant(
            "k",
            &codec::encode("k", &forged, Seal::Key(&other)).unwrap(),
        );
        let genuine = fixture.plant(
            "g",
            &codec::encode("g", &forged, Seal::Key(&fixture.key())).unwrap(),
        );
        let (_, loaded) = fixture.open(1 << 20, now);
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].0, "g");
        assert!(!planted.exists() && genuine.exists());
    }

    #[test]
    fn writes_leave_only_page_files_and_reopen() {
        let fixture = Fixture::new();
        let now = SystemTime::now();
        let (store, loaded) = fixture.open(1 << 20, now);
        assert!(loaded.is_empty());
        assert_eq!(put(&store, "a", &page("a", now, 60), now), Written::Saved);
        assert_eq!(put(&store, "b", &page("b", now, 60), now), Written::Saved);
        assert_eq!(fixture.files(), names(&["a", "b"]));
        let (_, loaded) = fixture.open(1 << 20, now);
        assert_eq!(loaded.len(), 2);
    }

    #[test]
    fn newer_copy_on_disk_is_kept() {
        let fixture = Fixture::new();
        let now = SystemTime::now();
        let (store, _) = fixture.open(1 << 20, now);
        put(&store, "k", &page("new", now, 60), now);
        let older = page("old", now - Duration::from_secs(5), 60);
        assert_eq!(put(&store, "k", &older, now), Written::Kept);
        let (_, loaded) = fixture.open(1 << 20, now);
        assert_eq!(loaded[0].1.body, Bytes::from("new".repeat(50)));
        assert_eq!(fixture.files().len(), 1);
    }

    #[test]
    fn a_worse_page_never_overwrites_a_better_file() {
        let fixture = Fixture::new();
        let now = SystemTime::now();
        let (store, _) = fixture.open(1 << 20, now);
        put(&store, "k", &page("good", now, 60), now);
        let later = now + Duration::from_secs(1);
        for worse in [quality(0, true), quality(900, false)] {
            let page = page_of("", later, 60, worse);
            assert_eq!(put(&store, "k", &page, later), Written::Kept);
            let kept = store.better_copy("k", worse, later).unwrap();
            assert_eq!(kept.body, Bytes::from("good".repeat(50)));
        }
        assert!(store.better_copy("k", quality(1, true), later).is_none());
        // A restart knows each file's quality as well.
        let (store, _) = fixture.open(1 << 20, now);
        let empty = page_of("", later, 60, quality(0, true));
        assert_eq!(put(&store, "k", &empty, later), Written::Kept);
        // Once the file is past use, anything replaces it.
        let gone = now + Duration::from_secs(161);
        let empty = page_of("", gone, 60, quality(0, true));
        assert_eq!(put(&store, "k", &empty, gone), Written::Saved);
    }

    #[test]
    fn budget_evicts_expired_then_probation_then_protected() {
        let fixture = Fixture::new();
        let now = SystemTime::now();
        let size = codec::encode(
            "k10",
            &page("p", now, 60),
            Seal::Key(&Key::random().unwrap()),
        )
        .unwrap()
        .len() as u64;
        // Room for ten files, whatever the length of their keys.
        let (store, _) = fixture.open(size * 10 + 50, now);
        let at = |s| now + Duration::from_secs(s);
        put(&store, "read", &page("p", now, 600), now);
        store.protect("read", now);
        put(&store, "short", &page("p", now, 1), now);
        for i in 10..30u64 {
            put(&store, &format!("k{i}"), &page("p", at(i), 60), at(i));
        }
        assert!(store.total_bytes() <= size * 10 + 50);
        let mut expected = vec!["read".to_owned()];
        expected.extend((21..30).map(|i| format!("k{i}")));
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        assert_eq!(fixture.files(), names(&expected));

        // Past k21's usable window (60 s fresh + 100 s stale), it goes first.
        let later = at(21 + 160);
        put(&store, "new", &page("p", later, 60), later);
        assert!(!fixture.files().contains(&file_name("k21")));
        assert!(fixture.files().contains(&file_name("k22")));
        assert!(fixture.files().contains(&file_name("read")));
        assert_eq!(fixture.files().len(), 10);
    }

    #[test]
    fn probation_variants_of_one_path_are_capped() {
        let fixture = Fixture::new();
        let now = SystemTime::now();
        let (store, _) = fixture.open(1 << 20, now);
        for key in ["s\0/a", "s\0/a?read", "s\0/b?x=1"] {
            put(&store, key, &page("p", now, 60), now);
        }
        store.protect("s\0/a?read", now);
        for i in 0..50 {
            put(&store, &format!("s\0/a?x={i}"), &page("p", now, 60), now);
        }
        let expected = [
            "s\0/a",
            "s\0/a?read",
            "s\0/b?x=1",
            "s\0/a?x=48",
            "s\0/a?x=49",
        ];
        assert_eq!(fixture.files(), names(&expected));
    }

    #[test]
    fn files_loaded_at_startup_are_protected() {
        let fixture = Fixture::new();
        let now = SystemTime::now();
        let (store, _) = fixture.open(1 << 20, now);
        for i in 0..2 {
            put(&store, &format!("s\0/a?old={i}"), &page("p", now, 60), now);
        }
        let (store, loaded) = fixture.open(1 << 20, now);
        assert_eq!(loaded.len(), 2);
        for i in 0..5 {
            put(&store, &format!("s\0/a?new={i}"), &page("p", now, 60), now);
        }
        let expected = ["s\0/a?old=0", "s\0/a?old=1", "s\0/a?new=3", "s\0/a?new=4"];
        assert_eq!(fixture.files(), names(&expected));
    }

    #[test]
    fn too_large_for_the_budget_is_refused() {
        let fixture = Fixture::new();
        let now = SystemTime::now();
        let (store, _) = fixture.open(500, now);
        let error = store
            .write("k", &page("big", now, 60), Segment::Probation, now)
            .unwrap_err();
        assert!(matches!(error, CacheError::TooLarge { max: 100, .. }));
        assert!(fixture.files().is_empty());
    }

    #[test]
    fn open_cleans_up_what_it_cannot_use() {
        let fixture = Fixture::new();
        let now = SystemTime::now();
        let secret = fixture.key();
        let good = page("good", now, 60);
        fixture.plant(
            "good",
            &codec::encode("good", &good, Seal::Key(&secret)).unwrap(),
        );
        // Under another key's name: a renamed or colliding file is not trusted.
        fixture.plant(
            "elsewhere",
            &codec::encode("good", &good, Seal::Key(&secret)).unwrap(),
        );
        let expired = page("old", now - Duration::from_secs(161), 60);
        fixture.plant(
            "old",
            &codec::encode("old", &expired, Seal::Key(&secret)).unwrap(),
        );
        fs::write(fixture.dir.join(format!("{TEMP_PREFIX}x-1-0")), b"partial").unwrap();
        fs::write(fixture.dir.join("README"), b"not ours").unwrap();

        let (store, loaded) = fixture.open(1 << 20, now);
        assert_eq!(loaded, vec![("good".to_owned(), good)]);
        let mut expected = vec!["README".to_owned(), file_name("good")];
        expected.sort();
        assert_eq!(fixture.files(), expected);
        let on_disk = fs::metadata(fixture.dir.join(file_name("good"))).unwrap();
        assert_eq!(store.total_bytes(), on_disk.len());
    }

    /// A FIFO, a link to an endless device, a sparse 3 GiB file and a directory, each
    /// under a page's name: none is read, none hangs the loader, the real page loads.
    #[test]
    fn hostile_entries_are_refused_unread() {
        let fixture = Fixture::new();
        let now = SystemTime::now();
        let good = page("good", now, 60);
        fixture.plant(
            "good",
            &codec::encode("good", &good, Seal::Key(&fixture.key())).unwrap(),
        );
        let fifo = fixture.dir.join(file_name("fifo"));
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let zero = fixture.dir.join(file_name("zero"));
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let sparse = fixture.dir.join(file_name("sparse"));
        File::create(&sparse).unwrap().set_len(3 << 30).unwrap();
        let folder = fixture.dir.join(file_name("folder"));
        fs::create_dir(&folder).unwrap();

        let (sender, receiver) = mpsc::channel();
        let dir = fixture.dir.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let store = DiskStore::new(&dir, &config(&dir, 1 << 30));
            let loaded = store.open(now);
            sender.send((started.elapsed(), loaded)).unwrap();
        });
        let (took, loaded) = receiver
            .recv_timeout(Duration::from_secs(10))
            .expect("the loader hung");
        assert!(took < Duration::from_secs(1), "took {took:?}");
        assert_eq!(loaded, vec![("good".to_owned(), good)]);
        for gone in [&fifo, &zero, &sparse] {
            assert!(
                fs::symlink_metadata(gone).is_err(),
                "{} kept",
                gone.display()
            );
        }
        // A directory cannot be deleted as a file; it is left, and never read.
        assert!(folder.is_dir());
    }

    #[test]
    fn a_file_in_place_of_the_directory_leaves_it_unused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("pages");
        fs::write(&dir, b"a file").unwrap();
        let now = SystemTime::now();
        let store = DiskStore::new(&dir, &config(&dir, 1 << 20));
        assert!(store.open(now).is_empty());
        let written = put(&store, "k", &page("p", now, 60), now);
        assert_eq!(written, Written::Skipped);
        assert_eq!(fs::read(&dir).unwrap(), b"a file");
    }

    #[test]
    fn an_outage_is_reported_once() {
        let outage = Outage::default();
        assert!(!outage.working());
        assert!(outage.failing());
        assert!(!outage.failing());
        assert!(outage.working());
        assert!(!outage.working());
        assert!(outage.failing());
    }
}
