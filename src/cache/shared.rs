//! The cache's shared tier: pages kept in the fleet's store (`fleet::Store`) so a page
//! one instance converts is served by all, and the fleet's fetch lock, so one instance
//! fetches a page for all of them.
//!
//! A page is stored under `<prefix>page:<cache key>` in the one stored form (`codec`,
//! sealed with a checksum), with the store's expiry set to the rest of its freshness and
//! `stale_if_error` window. A value read back is served only when it decodes, its seal
//! checks out and it names the key it was read under; anything else is ignored (and
//! overwritten by the next page stored there).
//!
//! The lock is `<prefix>lock:<cache key>`, taken with `SET NX PX` and a random token.
//! Whoever holds it fetches; the others poll for the page. Its holder ends it by deleting
//! it once the page is stored, or by leaving a short-lived mark that says the fetch failed
//! or gave nothing to share, which its waiters take as a follower of an in-process flight
//! takes the same landing. A holder that dies releases nothing: the lock's expiry lets the
//! next waiter take over.

use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime};

use super::codec::{self, Seal};
use super::{Landing, Purge, StoredPage};
use crate::fleet::{self, Store};

/// How often a waiter looks for the page another instance is fetching.
const POLL: Duration = Duration::from_millis(20);
/// How long a failed or unshareable fetch's mark stays: the waiters of that fetch see it,
/// and readers just after it do not each start a fetch of a failing page.
const MARK_TTL: Duration = Duration::from_secs(2);
/// Marks left on a lock; tokens are hex, so no token reads as one.
const FAILED: &str = "=failed";
const UNSHARED: &str = "=unshared";
/// Keys asked of the store per `SCAN` step of a purge.
const SCAN_COUNT: usize = 1000;
/// The longest a purge walks the store's keys.
const PURGE_WAIT: Duration = Duration::from_secs(30);

/// KEYS[1]: a lock; ARGV[1]: its holder's token; ARGV[2]: a mark, or empty to delete it;
/// ARGV[3]: the mark's lifetime in milliseconds. Only the holder's own lock is touched.
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
",
    )
});

/// Pages in the shared store.
#[derive(Clone)]
pub(crate) struct SharedTier {
    store: Store,
    stale_if_error: Duration,
}

/// The answer to [`SharedTier::claim`].
pub(crate) enum Claim {
    /// This instance holds the lock: fetch, then release it through the flight's landing.
    Won(FleetLock),
    /// Another instance stored the page meanwhile.
    Landed(StoredPage),
    /// Another instance's fetch of the page failed just now.
    Failed,
    /// Fetch without the lock: the store does not answer, the page is not shareable, or
    /// the holder took longer than a fetch may.
    Alone,
}

/// The fleet's lock on one page, held by this instance.
#[derive(Debug)]
pub(crate) struct FleetLock {
    store: Store,
    key: String,
    token: String,
}

impl FleetLock {
    /// Ends the lock as the flight landed, in the background: deleted when the page is
    /// stored (the waiters find it), else marked so they learn how the fetch ended.
    pub(crate) fn release(self, landing: &Landing) {
        let mark = match landing {
            Landing::Page(_) => "",
            Landing::Unshared => UNSHARED,
            Landing::Failed => FAILED,
        };
        self.end(mark);
    }

    /// Deletes the lock (`mark` empty) or leaves `mark` in it, in the background.
    fn end(self, mark: &'static str) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let Self { store, key, token } = self;
            let ttl = MARK_TTL.as_millis() as u64;
            let _ = store
                .run(|mut connection| async move {
                    RELEASE
                        .key(&key)
                        .arg(&token)
                        .arg(mark)
                        .arg(ttl)
                        .invoke_async::<i64>(&mut connection)
                        .await
                })
                .await;
        });
    }
}

impl SharedTier {
    pub(crate) fn new(store: Store, stale_if_error: Duration) -> Self {
        Self {
            store,
            stale_if_error,
        }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The usable page under `key`, if the store has one that checks out.
    pub(crate) async fn get(&self, key: &str, now: SystemTime) -> Option<StoredPage> {
        let page_key = self.store.key("page", key);
        let value = self
            .store
            .run(|mut connection| async move {
                redis::cmd("GET")
                    .arg(&page_key)
                    .query_async::<Option<Vec<u8>>>(&mut connection)
                    .await
            })
            .await
            .ok()??;
        self.checked(key, &value, now)
    }

    fn checked(&self, key: &str, value: &[u8], now: SystemTime) -> Option<StoredPage> {
        match codec::decode(value, Seal::Checksum) {
            Ok((stored_key, page)) if stored_key == key => {
                page.is_usable(now, self.stale_if_error).then_some(page)
            }
            Ok(_) => {
                tracing::warn!("shared store: a value under another page's key is ignored");
                None
            }
            Err(reason) => {
                tracing::warn!(
                    reason,
                    "shared store: a damaged or foreign value is ignored"
                );
                None
            }
        }
    }

    /// Keeps `page` under `key` for the rest of its freshness and stale window. Waits
    /// for the store (within its timeout), so a fleet lock released after this finds the
    /// page there.
    pub(crate) async fn put(&self, key: &str, page: &StoredPage, now: SystemTime) {
        let until = page.usable_until(self.stale_if_error);
        let Some(left) = until.duration_since(now).ok().filter(|d| !d.is_zero()) else {
            return;
        };
        let value = match codec::encode(key, page, Seal::Checksum) {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(%error, "shared store: page kept on this instance only");
                return;
            }
        };
        let page_key = self.store.key("page", key);
        // The store keeps milliseconds; a window beyond them is "a very long time".
        let ttl = u64::try_from(left.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, i64::MAX as u64);
        let _ = self
            .store
            .run(|mut connection| async move {
                redis::cmd("SET")
                    .arg(&page_key)
                    .arg(value)
                    .arg("PX")
                    .arg(ttl)
                    .query_async::<()>(&mut connection)
                    .await
            })
            .await;
    }

    /// Elects the instance that fetches `key`: this one when it takes the lock, else it
    /// waits, up to `hold`, for the holder's page or its mark. `hold` is also the lock's
    /// lifetime, the longest one fetch may take.
    pub(crate) async fn claim(&self, key: &str, hold: Duration) -> Claim {
        let lock_key = self.store.key("lock", key);
        let token = fleet::token();
        let hold_ms = hold.as_millis().max(1) as u64;
        let started = Instant::now();
        loop {
            let taken = {
                let (lock_key, token) = (lock_key.clone(), token.clone());
                self.store
                    .run(|mut connection| async move {
                        redis::cmd("SET")
                            .arg(&lock_key)
                            .arg(&token)
                            .arg("NX")
                            .arg("PX")
                            .arg(hold_ms)
                            .query_async::<Option<String>>(&mut connection)
                            .await
                    })
                    .await
            };
            match taken {
                Err(_) => return Claim::Alone,
                Ok(Some(_)) => {
                    let lock = FleetLock {
                        store: self.store.clone(),
                        key: lock_key,
                        token,
                    };
                    // A holder that finished between the caller's lookup and this claim
                    // has stored the page already.
                    if let Some(page) = self.fresh(key).await {
                        lock.end("");
                        return Claim::Landed(page);
                    }
                    return Claim::Won(lock);
                }
                Ok(None) => {}
            }
            match self.held(key, &lock_key).await {
                Err(()) => return Claim::Alone,
                Ok((Some(page), _)) => return Claim::Landed(page),
                Ok((None, Some(mark))) if mark == FAILED => return Claim::Failed,
                Ok((None, Some(mark))) if mark == UNSHARED => return Claim::Alone,
                Ok(_) => {}
            }
            if started.elapsed() >= hold {
                return Claim::Alone;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The page under `key` when it is fresh.
    async fn fresh(&self, key: &str) -> Option<StoredPage> {
        let now = SystemTime::now();
        self.get(key, now).await.filter(|page| page.is_fresh(now))
    }

    /// The fresh page under `key` and what its lock holds, in one round trip.
    async fn held(
        &self,
        key: &str,
        lock_key: &str,
    ) -> Result<(Option<StoredPage>, Option<String>), ()> {
        let page_key = self.store.key("page", key);
        let lock_key = lock_key.to_owned();
        let (value, lock) = self
            .store
            .run(|mut connection| async move {
                redis::cmd("MGET")
                    .arg(&page_key)
                    .arg(&lock_key)
                    .query_async::<(Option<Vec<u8>>, Option<String>)>(&mut connection)
                    .await
            })
            .await
            .map_err(|_| ())?;
        let now = SystemTime::now();
        let page = value
            .and_then(|value| self.checked(key, &value, now))
            .filter(|page| page.is_fresh(now));
        Ok((page, lock))
    }

    /// Deletes the pages of `site` within `scope` from the store; returns their cache
    /// keys. Walks the site's keys with `SCAN`, so the store is never blocked; a store
    /// that fails meanwhile ends the walk with what was deleted so far, and a warning.
    pub(crate) async fn purge(&self, site: &str, scope: &Purge) -> Vec<String> {
        let space = self.store.space("page");
        let pattern = format!("{}{}.*", glob_escape(&space), glob_escape(site));
        let started = Instant::now();
        let mut cursor = 0u64;
        let mut removed = Vec::new();
        loop {
            let step = {
                let pattern = pattern.clone();
                self.store
                    .run(|mut connection| async move {
                        redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(&pattern)
                            .arg("COUNT")
                            .arg(SCAN_COUNT)
                            .query_async::<(u64, Vec<Vec<u8>>)>(&mut connection)
                            .await
                    })
                    .await
            };
            let Ok((next, keys)) = step else {
                tracing::warn!(
                    site,
                    "purge: the shared store did not answer; its copies may remain"
                );
                return removed;
            };
            let named: Vec<String> = keys
                .into_iter()
                .filter_map(|key| String::from_utf8(key).ok())
                .filter(|key| {
                    key.strip_prefix(&space)
                        .is_some_and(|cache_key| scope.matches(site, cache_key))
                })
                .collect();
            if !named.is_empty() {
                let deleting = named.clone();
                let deleted = self
                    .store
                    .run(|mut connection| async move {
                        redis::cmd("DEL")
                            .arg(&deleting)
                            .query_async::<u64>(&mut connection)
                            .await
                    })
                    .await;
                if deleted.is_err() {
                    tracing::warn!(
                        site,
                        "purge: the shared store did not answer; its copies may remain"
                    );
                    return removed;
                }
                removed.extend(
                    named
                        .iter()
                        .filter_map(|key| key.strip_prefix(&space))
                        .map(ToOwned::to_owned),
                );
            }
            cursor = next;
            if cursor == 0 {
                return removed;
            }
            if started.elapsed() > PURGE_WAIT {
                tracing::warn!(site, "purge: the shared store holds too many keys to walk now; some copies may remain");
                return removed;
            }
        }
    }
}

/// `text` with the store's glob characters escaped, so a site or prefix matches only
/// itself.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_match_only_themselves() {
        assert_eq!(glob_escape("lm:page:"), "lm:page:");
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
