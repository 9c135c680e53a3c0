//! The store a fleet of instances shares (Valkey or Redis, `[cache] shared`): the one
//! connection to it, and the rules every use of it follows. The store is a help, never a
//! dependency: each operation waits at most `shared_timeout`, a failing store is skipped
//! (one operation probes it now and then) so requests go on at the speed of memory and
//! disk, the connection is re-made by itself, and an outage is logged once when it starts
//! and once when it ends, never per request.
//!
//! What is kept there belongs to others: pages and the fleet's fetch lock to the cache
//! (`cache::shared`), the upstream rate to [`rate`]. This module knows only keys, time
//! bounds and health.

pub(crate) mod rate;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::CacheConfig;

/// While the store fails, how often one operation may try it again; the others skip it.
const PROBE_EVERY: Duration = Duration::from_millis(250);

/// Why an operation on the store gave no answer. None reaches a reader: each caller goes
/// on as if the store were not configured.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// No answer within `shared_timeout`.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The store answered with an error, or the connection failed.
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    /// The store is failing and this operation was not the one to probe it.
    #[error("skipped while the store is failing")]
    Skipped,
}

/// A handle on the shared store; cloning is cheap and every clone is the same connection.
#[derive(Clone)]
pub(crate) struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    connection: ConnectionManager,
    prefix: String,
    timeout: Duration,
    /// The address as configured, for the log.
    address: String,
    failing: AtomicBool,
    /// Milliseconds after `epoch` of the last probe of a failing store.
    probed: AtomicU64,
    epoch: Instant,
}

impl Store {
    /// The store `[cache] shared` names, connected lazily: the first operation connects,
    /// so a store that is down at startup delays nothing. `None` without `shared`, or
    /// outside a tokio runtime (commands like `check` never use it).
    pub(crate) fn open(config: &CacheConfig) -> Option<Self> {
        let address = config.shared.as_deref()?;
        tokio::runtime::Handle::try_current().ok()?;
        let timeout = config.shared_timeout;
        // One quick retry inside the manager; past it the next operation (or probe)
        // starts a new attempt, so a restarted store is found again within a probe.
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(timeout);
        let connection = redis::Client::open(address)
            .and_then(|client| ConnectionManager::new_lazy_with_config(client, manager_config));
        match connection {
            Ok(connection) => Some(Self {
                inner: Arc::new(Inner {
                    connection,
                    prefix: config.shared_prefix.clone(),
                    timeout,
                    address: redacted(address),
                    failing: AtomicBool::new(false),
                    probed: AtomicU64::new(0),
                    epoch: Instant::now(),
                }),
            }),
            Err(error) => {
                tracing::warn!(%error, "shared store unusable; this instance's cache is its own");
                None
            }
        }
    }

    /// The store key of `name` in `space` (`page`, `lock`, `rate`), under this
    /// deployment's prefix.
    pub(crate) fn key(&self, space: &str, name: &str) -> String {
        format!("{}{space}:{name}", self.inner.prefix)
    }

    /// What [`key`](Self::key) puts before a name in `space`.
    pub(crate) fn space(&self, space: &str) -> String {
        self.key(space, "")
    }

    /// Runs one operation on the connection within `shared_timeout`, keeping the store's
    /// health: while it fails, operations are skipped but for a probe every
    /// [`PROBE_EVERY`].
    pub(crate) async fn run<T, F, Fut>(&self, operation: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let inner = &self.inner;
        if inner.failing.load(Ordering::Relaxed) && !self.may_probe() {
            return Err(StoreError::Skipped);
        }
        let answer = tokio::time::timeout(inner.timeout, operation(inner.connection.clone())).await;
        let result = match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(StoreError::Redis(error)),
            Err(_) => Err(StoreError::Timeout(inner.timeout)),
        };
        match &result {
            Ok(_) => {
                if inner.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(store = %inner.address, "shared store answers again");
                }
            }
            Err(error) => {
                if !inner.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        store = %inner.address,
                        %error,
                        "shared store failing; serving from this instance's memory and disk until it answers"
                    );
                }
            }
        }
        result
    }

    /// Whether this operation is the one to probe a failing store now.
    fn may_probe(&self) -> bool {
        let inner = &self.inner;
        let now = inner.epoch.elapsed().as_millis() as u64;
        let last = inner.probed.load(Ordering::Relaxed);
        now.saturating_sub(last) >= PROBE_EVERY.as_millis() as u64
            && inner
                .probed
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("address", &self.inner.address)
            .field("prefix", &self.inner.prefix)
            .finish()
    }
}

/// The address without its password, fit for a log line.
fn redacted(address: &str) -> String {
    match url::Url::parse(address) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => address.to_owned(),
    }
}

/// Sixteen random bytes as hex: the mark of one lock holder. Falls back on the time and
/// the process id when the system has no random bytes, which is unique enough for a lock.
pub(crate) fn token() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes[..8].copy_from_slice(&(nanos as u64).to_le_bytes());
        bytes[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_the_log() {
        assert_eq!(
            redacted("redis://:hunter2@10.0.0.5:6379/0"),
            "redis://:***@10.0.0.5:6379/0"
        );
        assert_eq!(redacted("redis://10.0.0.5/1"), "redis://10.0.0.5/1");
    }

    #[test]
    fn tokens_differ() {
        assert_eq!(token().len(), 32);
        assert_ne!(token(), token());
    }

    #[tokio::test]
    async fn an_unreachable_store_is_skipped_after_one_warning() {
        // A port nothing listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = CacheConfig {
            shared: Some(format!("redis://127.0.0.1:{port}/0")),
            shared_timeout: Duration::from_millis(50),
            ..CacheConfig::default()
        };
        let store = Store::open(&config).unwrap();
        let get = |store: Store| async move {
            store
                .run(|mut c| async move {
                    redis::cmd("GET")
                        .arg("k")
                        .query_async::<Option<Vec<u8>>>(&mut c)
                        .await
                })
                .await
        };
        assert!(matches!(
            get(store.clone()).await,
            Err(StoreError::Redis(_) | StoreError::Timeout(_))
        ));
        // The failure is known now: the next operations skip the store instead of each
        // waiting for it, but for one probe every PROBE_EVERY.
        let mut skipped = 0;
        for _ in 0..10 {
            skipped += usize::from(matches!(get(store.clone()).await, Err(StoreError::Skipped)));
        }
        assert!(skipped >= 9, "{skipped} of 10 skipped");
    }
}
