//! The secret that authenticates the cache directory's files, so the proxy serves only
//! pages it wrote itself. It lives outside the directory (`[cache] key_file`, by default
//! `<dir>.key` beside it): whoever can plant files in the directory must not also find the
//! key there. It is created once, with 32 random bytes and mode 0600, and used only when it
//! is a regular file (never through a symbolic link) of exactly that length. Otherwise the
//! run warns and uses a key of its own that dies with it, so the files of earlier runs are
//! discarded, never trusted. Blocking; the directory's loader calls it.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::CacheError;

/// Bytes of key: SHA-256's output length, past which HMAC-SHA256 gains nothing.
const KEY_LEN: usize = 32;

/// Opening flags for files an attacker may have planted: a symbolic link is refused
/// rather than followed, and a FIFO opens at once instead of waiting for a writer.
pub(crate) const UNTRUSTED_OPEN: i32 = libc::O_NOFOLLOW | libc::O_NONBLOCK;

/// The secret for one directory.
#[derive(Clone)]
pub(crate) struct Key([u8; KEY_LEN]);

impl Key {
    /// The key in `path`, created if absent. When `path` is unusable (or `None`: no place
    /// for a key was configured), warns and falls back on a key for this run only. Fails
    /// only when the system has no random bytes to give.
    pub(crate) fn load(path: Option<&Path>, dir: &Path) -> Result<Self, CacheError> {
        let loaded = match path {
            Some(path) => read_or_create(path, dir),
            None => Err(CacheError::Key {
                path: dir.to_owned(),
                reason: "no key file is configured beside this directory",
            }),
        };
        loaded.or_else(|error| {
            tracing::warn!(
                %error,
                "cache: using a key for this run only; pages saved by earlier runs will be discarded"
            );
            Self::random()
        })
    }

    /// A fresh key from the system's random source.
    pub(crate) fn random() -> Result<Self, CacheError> {
        let mut bytes = [0u8; KEY_LEN];
        getrandom::fill(&mut bytes).map_err(CacheError::Random)?;
        Ok(Self(bytes))
    }

    /// A MAC keyed with this secret, ready for the bytes to authenticate.
    pub(crate) fn mac(&self) -> Hmac<Sha256> {
        Hmac::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A secret has no place in a log.
        f.write_str("Key(..)")
    }
}

fn read_or_create(path: &Path, dir: &Path) -> Result<Key, CacheError> {
    let refuse = |reason| CacheError::Key {
        path: path.to_owned(),
        reason,
    };
    if is_inside(path, dir) {
        return Err(refuse("inside the cache directory it authenticates"));
    }
    match File::options()
        .read(true)
        .custom_flags(UNTRUSTED_OPEN)
        .open(path)
    {
        Ok(file) => read_key(file, path),
        Err(error) if error.kind() == io::ErrorKind::NotFound => create(path),
        Err(error) if error.raw_os_error() == Some(libc::ELOOP) => Err(refuse("a symbolic link")),
        Err(source) => Err(io_error(path, source)),
    }
}

/// Whether `path` resolves to a place inside `dir` (which exists by now), symbolic links
/// in its parents included: the configuration check can only compare the names.
fn is_inside(path: &Path, dir: &Path) -> bool {
    let Ok(dir) = fs::canonicalize(dir) else {
        return false;
    };
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::canonicalize(parent).is_ok_and(|parent| {
        let resolved: PathBuf = parent.join(path.file_name().unwrap_or_default());
        resolved.starts_with(&dir)
    })
}

fn read_key(file: File, path: &Path) -> Result<Key, CacheError> {
    let refuse = |reason| CacheError::Key {
        path: path.to_owned(),
        reason,
    };
    let meta = file.metadata().map_err(|source| io_error(path, source))?;
    if !meta.file_type().is_file() {
        return Err(refuse("not a regular file"));
    }
    if meta.len() != KEY_LEN as u64 {
        return Err(refuse("not 32 bytes long"));
    }
    let mut bytes = [0u8; KEY_LEN];
    file.take(KEY_LEN as u64)
        .read_exact(&mut bytes)
        .map_err(|source| io_error(path, source))?;
    Ok(Key(bytes))
}

/// Writes a new key; `create_new` never replaces (or writes through) anything already
/// there, so a racing process or a planted link makes this fail rather than overwrite.
fn create(path: &Path) -> Result<Key, CacheError> {
    let key = Key::random()?;
    let write = || {
        let mut file = File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        file.write_all(&key.0)?;
        file.sync_all()
    };
    write().map_err(|source| io_error(path, source))?;
    tracing::info!(path = %path.display(), "cache: created the key for the cache directory");
    Ok(key)
}

fn io_error(path: &Path, source: io::Error) -> CacheError {
    CacheError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn loaded(path: &Path, dir: &Path) -> [u8; KEY_LEN] {
        Key::load(Some(path), dir).unwrap().0
    }

    #[test]
    fn created_once_private_then_read_back() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("pages");
        fs::create_dir(&dir).unwrap();
        let path = root.path().join("pages.key");
        let first = loaded(&path, &dir);
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), 32);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(loaded(&path, &dir), first);
        assert_ne!(first, [0; KEY_LEN]);
    }

    #[test]
    fn unusable_key_files_give_a_key_for_this_run_only() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("pages");
        fs::create_dir(&dir).unwrap();
        let real = root.path().join("real.key");
        fs::write(&real, [7u8; KEY_LEN]).unwrap();
        assert_eq!(loaded(&real, &dir), [7u8; KEY_LEN]);

        let link = root.path().join("link.key");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let short = root.path().join("short.key");
        fs::write(&short, [7u8; 16]).unwrap();
        let folder = root.path().join("folder.key");
        fs::create_dir(&folder).unwrap();
        let inside = dir.join("pages.key");
        for path in [&link, &short, &folder, &inside] {
            let key = loaded(path, &dir);
            assert_ne!(key, [7u8; KEY_LEN], "{}", path.display());
            assert_ne!(
                loaded(path, &dir),
                key,
                "{} is not ephemeral",
                path.display()
            );
        }
        // Nothing was written through the link, beside the short file or in the directory.
        assert_eq!(fs::read(&real).unwrap(), [7u8; KEY_LEN]);
        assert_eq!(fs::read(&short).unwrap(), [7u8; 16]);
        assert!(!inside.exists());
        assert_ne!(Key::load(None, &dir).unwrap().0, [7u8; KEY_LEN]);
    }

    #[test]
    fn a_fifo_as_key_file_does_not_hang() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("pages");
        fs::create_dir(&dir).unwrap();
        let fifo = root.path().join("pages.key");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        // Opening it blocking would wait for a writer forever.
        let key = loaded(&fifo, &dir);
        assert_ne!(loaded(&fifo, &dir), key);
    }
}
