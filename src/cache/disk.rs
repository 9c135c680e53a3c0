//! Pages kept on disk so a restart does not empty the cache (and lose the stale copies that
//! stand in when an upstream fails or is blocked). One file per page, named by the SHA-256
//! of its key, written atomically, checksummed so a damaged file is deleted rather than
//! served, and the directory held under the same byte budget as memory, oldest page first
//! out. Everything here blocks: the cache runs it on tokio's blocking threads, or at
//! startup. One process per directory.
//!
//! File layout (integers little-endian):
//!
//! | bytes | content                                                       |
//! |-------|---------------------------------------------------------------|
//! | 8     | magic `LMPAGE\r\n`                                            |
//! | 4     | format version, `1`                                           |
//! | 8     | payload length                                                |
//! | 32    | SHA-256 of the payload                                        |
//! | rest  | payload: metadata length (4), metadata JSON, body, gzip, brotli |

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{CacheError, StoredPage};

/// The CR LF catches files mangled by text-mode transfers.
const MAGIC: &[u8; 8] = b"LMPAGE\r\n";
/// Bumped whenever the layout changes; files of another version are discarded.
const VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 8 + 32;
const PAGE_SUFFIX: &str = ".page";
/// Written first, renamed into place when complete; any left at startup are from a crash.
const TEMP_PREFIX: &str = ".tmp-";

/// Everything of a page but its three bodies, which follow the metadata raw (as JSON they
/// would be arrays of numbers, several times their size).
#[derive(Serialize, Deserialize)]
struct Meta {
    key: String,
    status: u16,
    etag: String,
    last_modified: SystemTime,
    created: SystemTime,
    fresh_for: Duration,
    body_len: u64,
    gzip_len: u64,
    brotli_len: u64,
}

/// A page's file as the budget sees it.
#[derive(Debug, Clone, Copy)]
struct Held {
    bytes: u64,
    created: SystemTime,
    /// Freshness plus the stale window: past this age the file is of no use.
    usable_for: Duration,
}

#[derive(Debug, Default)]
struct Index {
    /// By file name.
    files: HashMap<String, Held>,
    total: u64,
}

/// The cache directory and the account of what it holds.
#[derive(Debug)]
pub(crate) struct DiskStore {
    dir: PathBuf,
    max_bytes: u64,
    stale_if_error: Duration,
    /// Held while files are renamed into place or deleted, so the account and the
    /// directory never disagree about a name.
    index: Mutex<Index>,
    /// Makes temp file names unique among concurrent writes.
    temp_serial: AtomicU64,
}

impl DiskStore {
    /// Opens (creating if needed) `dir` and reads back every page still within its stale
    /// window, oldest first. Damaged, misnamed and expired files are deleted, as are the
    /// oldest pages when the directory holds more than `max_bytes`.
    pub(crate) fn open(
        dir: &Path,
        max_bytes: u64,
        stale_if_error: Duration,
        now: SystemTime,
    ) -> Result<(Self, Vec<(String, StoredPage)>), CacheError> {
        let io_error = |source| CacheError::Io {
            path: dir.to_owned(),
            source,
        };
        fs::create_dir_all(dir).map_err(io_error)?;
        let mut pages = Vec::new();
        let mut index = Index::default();
        for entry in fs::read_dir(dir).map_err(io_error)? {
            let entry = entry.map_err(io_error)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with(TEMP_PREFIX) {
                remove(&path);
                continue;
            }
            if !is_page_file_name(&name) {
                // Not ours: leave it alone.
                continue;
            }
            let page = fs::read(&path)
                .map_err(|source| CacheError::Io {
                    path: path.clone(),
                    source,
                })
                .and_then(|data| {
                    let bytes = data.len() as u64;
                    decode(&data)
                        .map(|(key, page)| (key, page, bytes))
                        .map_err(|reason| CacheError::Corrupt {
                            path: path.clone(),
                            reason,
                        })
                });
            let (key, page, bytes) = match page {
                Ok(found) => found,
                Err(error) => {
                    tracing::warn!(%error, "cache: discarding unreadable page file");
                    remove(&path);
                    continue;
                }
            };
            if file_name(&key) != name || !page.is_usable(now, stale_if_error) {
                remove(&path);
                continue;
            }
            index.insert(name, held(&page, bytes, stale_if_error));
            pages.push((key, page));
        }
        let store = Self {
            dir: dir.to_owned(),
            max_bytes,
            stale_if_error,
            index: Mutex::new(Index::default()),
            temp_serial: AtomicU64::new(0),
        };
        let evicted: HashSet<String> = store.evict(&mut index, now).into_iter().collect();
        pages.retain(|(key, _)| !evicted.contains(&file_name(key)));
        pages.sort_by_key(|(_, page)| page.created);
        *store.index.lock().unwrap_or_else(PoisonError::into_inner) = index;
        Ok((store, pages))
    }

    /// Writes `page` under `key`, replacing an older copy, then deletes expired and oldest
    /// pages until the directory fits its budget. A copy on disk that is newer than `page`
    /// (a later store that finished first) is kept instead.
    pub(crate) fn write(
        &self,
        key: &str,
        page: &StoredPage,
        now: SystemTime,
    ) -> Result<(), CacheError> {
        let data = encode(key, page)?;
        let bytes = data.len() as u64;
        if bytes > self.max_bytes {
            return Err(CacheError::TooLarge {
                bytes,
                max: self.max_bytes,
            });
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
        let mut index = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        if index
            .files
            .get(&name)
            .is_some_and(|on_disk| on_disk.created > page.created)
        {
            remove(&temp);
            return Ok(());
        }
        let path = self.dir.join(&name);
        // The temp file is complete and synced, so whichever name survives a crash holds a
        // whole page; the directory itself is not synced because losing the newest write
        // to a power cut only costs a refetch.
        if let Err(source) = fs::rename(&temp, &path) {
            remove(&temp);
            return Err(CacheError::Io { path, source });
        }
        index.insert(name, held(page, bytes, self.stale_if_error));
        self.evict(&mut index, now);
        Ok(())
    }

    /// Deletes expired pages, then the oldest, until `index` fits the budget; returns the
    /// file names deleted.
    fn evict(&self, index: &mut Index, now: SystemTime) -> Vec<String> {
        let mut doomed: Vec<String> = index
            .files
            .iter()
            .filter(|(_, held)| age(held.created, now) >= held.usable_for)
            .map(|(name, _)| name.clone())
            .collect();
        let expired_bytes: u64 = doomed.iter().map(|name| index.files[name].bytes).sum();
        let mut excess = index
            .total
            .saturating_sub(expired_bytes)
            .saturating_sub(self.max_bytes);
        if excess > 0 {
            let mut by_age: Vec<(&String, &Held)> = index
                .files
                .iter()
                .filter(|(_, held)| age(held.created, now) < held.usable_for)
                .collect();
            by_age.sort_by_key(|(_, held)| held.created);
            for (name, held) in by_age {
                if excess == 0 {
                    break;
                }
                excess = excess.saturating_sub(held.bytes);
                doomed.push(name.clone());
            }
        }
        for name in &doomed {
            index.remove(name);
            remove(&self.dir.join(name));
        }
        doomed
    }

    #[cfg(test)]
    pub(crate) fn total_bytes(&self) -> u64 {
        self.index.lock().unwrap().total
    }
}

impl Index {
    fn insert(&mut self, name: String, held: Held) {
        if let Some(old) = self.files.insert(name, held) {
            self.total -= old.bytes;
        }
        self.total += held.bytes;
    }

    fn remove(&mut self, name: &str) {
        if let Some(old) = self.files.remove(name) {
            self.total -= old.bytes;
        }
    }
}

fn held(page: &StoredPage, bytes: u64, stale_if_error: Duration) -> Held {
    Held {
        bytes,
        created: page.created,
        usable_for: page.fresh_for.saturating_add(stale_if_error),
    }
}

fn age(created: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(created).unwrap_or(Duration::ZERO)
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

fn encode(key: &str, page: &StoredPage) -> Result<Vec<u8>, CacheError> {
    let meta = Meta {
        key: key.to_owned(),
        status: page.status,
        etag: page.etag.clone(),
        last_modified: page.last_modified,
        created: page.created,
        fresh_for: page.fresh_for,
        body_len: page.body.len() as u64,
        gzip_len: page.gzip.len() as u64,
        brotli_len: page.brotli.len() as u64,
    };
    // Fails only for a time before 1970, which the JSON form of a time cannot express.
    let meta = serde_json::to_vec(&meta).map_err(CacheError::Metadata)?;
    let mut payload =
        Vec::with_capacity(4 + meta.len() + page.body.len() + page.gzip.len() + page.brotli.len());
    payload.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    payload.extend_from_slice(&meta);
    payload.extend_from_slice(&page.body);
    payload.extend_from_slice(&page.gzip);
    payload.extend_from_slice(&page.brotli);

    let mut data = Vec::with_capacity(HEADER_LEN + payload.len());
    data.extend_from_slice(MAGIC);
    data.extend_from_slice(&VERSION.to_le_bytes());
    data.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    data.extend_from_slice(&Sha256::digest(&payload));
    data.extend_from_slice(&payload);
    Ok(data)
}

/// Reads a page file back, refusing anything but a complete file of this version whose
/// payload matches its checksum.
fn decode(data: &[u8]) -> Result<(String, StoredPage), &'static str> {
    let (header, payload) = data
        .split_at_checked(HEADER_LEN)
        .ok_or("shorter than the header")?;
    let (magic, rest) = header.split_at(MAGIC.len());
    if magic != MAGIC {
        return Err("not a page file");
    }
    let (version, rest) = rest.split_at(4);
    if version != VERSION.to_le_bytes() {
        return Err("written by another format version");
    }
    let (length, checksum) = rest.split_at(8);
    if length != (payload.len() as u64).to_le_bytes() {
        return Err("truncated or extended");
    }
    if checksum != Sha256::digest(payload).as_slice() {
        return Err("checksum mismatch");
    }
    let (meta_len, rest) = payload.split_at_checked(4).ok_or("no metadata")?;
    let meta_len = u32::from_le_bytes(meta_len.try_into().expect("four bytes")) as usize;
    let (meta, bodies) = rest
        .split_at_checked(meta_len)
        .ok_or("metadata cut short")?;
    let meta: Meta = serde_json::from_slice(meta).map_err(|_| "unreadable metadata")?;
    let bodies = Bytes::copy_from_slice(bodies);
    let mut start = 0usize;
    let mut take = |len: u64| {
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| start.checked_add(len))
            .filter(|&end| end <= bodies.len())
            .ok_or("bodies cut short")?;
        let part = bodies.slice(start..end);
        start = end;
        Ok::<_, &'static str>(part)
    };
    let body = take(meta.body_len)?;
    let gzip = take(meta.gzip_len)?;
    let brotli = take(meta.brotli_len)?;
    if start != bodies.len() {
        return Err("bytes after the bodies");
    }
    let page = StoredPage {
        status: meta.status,
        body,
        gzip,
        brotli,
        etag: meta.etag,
        last_modified: meta.last_modified,
        created: meta.created,
        fresh_for: meta.fresh_for,
        // Placeholder until the format records it: pages from disk are taken as whole.
        quality: super::Quality {
            text_chars: u32::MAX,
            whole: true,
        },
    };
    Ok((meta.key, page))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALE: Duration = Duration::from_secs(100);

    fn page(text: &str, created: SystemTime, fresh_for: u64) -> StoredPage {
        let mut page = StoredPage::new(
            200,
            Bytes::from(text.repeat(50)),
            None,
            Duration::from_secs(fresh_for),
            crate::cache::Quality {
                text_chars: 1,
                whole: true,
            },
        );
        page.created = created;
        page
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn encode_decode_round_trip() {
        let original = page("<p>kept</p>", SystemTime::now(), 60);
        let (key, back) = decode(&encode("site/a?b=c", &original).unwrap()).unwrap();
        assert_eq!(key, "site/a?b=c");
        assert_eq!(back, original);
    }

    #[test]
    fn every_damage_is_detected() {
        let data = encode("k", &page("<p>x</p>", SystemTime::now(), 60)).unwrap();
        for cut in [0, 10, HEADER_LEN, HEADER_LEN + 3, data.len() - 1] {
            assert!(decode(&data[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = data.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
        for i in (0..data.len()).step_by(7) {
            let mut flipped = data.clone();
            flipped[i] ^= 0x01;
            assert!(decode(&flipped).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn writes_leave_only_page_files_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let (store, loaded) = DiskStore::open(dir.path(), 1 << 20, STALE, now).unwrap();
        assert!(loaded.is_empty());
        store.write("a", &page("a", now, 60), now).unwrap();
        store.write("b", &page("b", now, 60), now).unwrap();
        assert_eq!(files(dir.path()), {
            let mut names = vec![file_name("a"), file_name("b")];
            names.sort();
            names
        });
        let (_, loaded) = DiskStore::open(dir.path(), 1 << 20, STALE, now).unwrap();
        assert_eq!(loaded.len(), 2);
    }

    #[test]
    fn newer_copy_on_disk_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let (store, _) = DiskStore::open(dir.path(), 1 << 20, STALE, now).unwrap();
        store.write("k", &page("new", now, 60), now).unwrap();
        let older = page("old", now - Duration::from_secs(5), 60);
        store.write("k", &older, now).unwrap();
        let (_, loaded) = DiskStore::open(dir.path(), 1 << 20, STALE, now).unwrap();
        assert_eq!(loaded[0].1.body, Bytes::from("new".repeat(50)));
        assert_eq!(files(dir.path()).len(), 1);
    }

    #[test]
    fn budget_evicts_oldest_and_expired() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let size = encode("k0", &page("p", now, 60)).unwrap().len() as u64;
        let (store, _) = DiskStore::open(dir.path(), size * 3, STALE, now).unwrap();
        for i in 0..5u64 {
            let created = now + Duration::from_secs(i);
            store
                .write(&format!("k{i}"), &page("p", created, 60), created)
                .unwrap();
        }
        assert!(store.total_bytes() <= size * 3);
        let mut left = files(dir.path());
        let mut expected: Vec<_> = ["k2", "k3", "k4"].iter().map(|k| file_name(k)).collect();
        left.sort();
        expected.sort();
        assert_eq!(left, expected);

        // Past k2's usable window (60 s fresh + 100 s stale), the next write drops it.
        let later = now + Duration::from_secs(162);
        store.write("k5", &page("p", later, 60), later).unwrap();
        assert!(!files(dir.path()).contains(&file_name("k2")));
        assert_eq!(files(dir.path()).len(), 3);
    }

    #[test]
    fn too_large_for_the_budget_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let (store, _) = DiskStore::open(dir.path(), 100, STALE, now).unwrap();
        let error = store.write("k", &page("big", now, 60), now).unwrap_err();
        assert!(matches!(error, CacheError::TooLarge { max: 100, .. }));
        assert!(files(dir.path()).is_empty());
    }

    #[test]
    fn open_cleans_up_what_it_cannot_use() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let good = page("good", now, 60);
        fs::write(
            dir.path().join(file_name("good")),
            encode("good", &good).unwrap(),
        )
        .unwrap();
        // Under another key's name: a renamed or colliding file is not trusted.
        fs::write(
            dir.path().join(file_name("elsewhere")),
            encode("good", &good).unwrap(),
        )
        .unwrap();
        let expired = page("old", now - Duration::from_secs(161), 60);
        fs::write(
            dir.path().join(file_name("old")),
            encode("old", &expired).unwrap(),
        )
        .unwrap();
        fs::write(dir.path().join(format!("{TEMP_PREFIX}x-1-0")), b"partial").unwrap();
        fs::write(dir.path().join("README"), b"not ours").unwrap();

        let (store, loaded) = DiskStore::open(dir.path(), 1 << 20, STALE, now).unwrap();
        assert_eq!(loaded, vec![("good".to_owned(), good)]);
        let mut expected = vec!["README".to_owned(), file_name("good")];
        expected.sort();
        assert_eq!(files(dir.path()), expected);
        assert_eq!(
            store.total_bytes(),
            fs::metadata(dir.path().join(file_name("good")))
                .unwrap()
                .len()
        );
    }
}
