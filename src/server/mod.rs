//! The HTTP server (hyper on tokio): accepts connections within limits (connection count,
//! request head size, the deadlines of `connection.rs`), serves HTTP/1 and HTTP/2, swaps
//! its configuration on reload without dropping requests, and shuts down gracefully with
//! a bounded grace period. Request handling is `handler.rs`; response building is
//! `respond.rs`.

mod admin;
mod assets;
mod cache_status;
mod client;
mod connection;
mod handler;
mod image;
mod join;
mod respond;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::budget::MemoryBudget;
use crate::cache::{ImageCache, PageCache};
use crate::config::{Config, LimitsConfig, Site};
use crate::metrics::Metrics;
use crate::upstream::{Fetcher, UpstreamError};
use connection::{Deadlines, Registered, Registry, Tracked, Verdict};

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listening socket failed.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The upstream HTTP client could not be built.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

/// Everything a request needs, swapped whole on reload.
pub(crate) struct Runtime {
    pub config: Config,
    /// The sites, each compiled once at load and shared with every request and
    /// conversion of it; a reload swaps the whole set.
    pub sites: Vec<Arc<Site>>,
    pub fetcher: Fetcher,
    /// Per-site bound on upstream fetches in flight, kept across reloads.
    pub permits: Arc<SitePermits>,
    /// Light pages; one cache for the server's life, kept across reloads.
    pub cache: PageCache,
    /// Memory of requests in flight; one budget for the server's life.
    pub budget: MemoryBudget,
    /// What the server counts; kept across reloads.
    pub metrics: Arc<Metrics>,
    /// Detections running at once; one bound for the server's life.
    pub detections: Arc<Semaphore>,
    /// Light images made; one cache for the server's life.
    pub images: ImageCache,
    /// Light images being made at once; one bound for the server's life.
    pub image_work: Arc<Semaphore>,
    /// The upstreams' `robots.txt` files, fetched anew after a reload.
    pub robots: assets::RobotsFiles,
}

/// What outlives a reload: the cache, the fetch bounds, the memory budget, the counts.
#[derive(Clone)]
struct Lasting {
    cache: PageCache,
    permits: Arc<SitePermits>,
    budget: MemoryBudget,
    metrics: Arc<Metrics>,
    detections: Arc<Semaphore>,
    images: ImageCache,
    image_work: Arc<Semaphore>,
}

impl Runtime {
    fn new(config: Config, sites: Vec<Arc<Site>>, lasting: Lasting) -> Result<Self, ServerError> {
        let fetcher = Fetcher::new(&config.limits)?;
        lasting
            .permits
            .resize(&sites, config.limits.upstream_concurrency);
        Ok(Self {
            config,
            sites,
            fetcher,
            permits: lasting.permits,
            cache: lasting.cache,
            budget: lasting.budget,
            metrics: lasting.metrics,
            detections: lasting.detections,
            images: lasting.images,
            image_work: lasting.image_work,
            robots: assets::RobotsFiles::default(),
        })
    }

    fn lasting(&self) -> Lasting {
        Lasting {
            cache: self.cache.clone(),
            permits: Arc::clone(&self.permits),
            budget: self.budget.clone(),
            metrics: Arc::clone(&self.metrics),
            detections: Arc::clone(&self.detections),
            images: self.images.clone(),
            image_work: Arc::clone(&self.image_work),
        }
    }
}

/// The bound on upstream fetches in flight for each site. One semaphore per site name for
/// the server's life: a reload resizes it rather than replacing it, so fetches still in
/// flight under the old configuration count against the new bound too.
#[derive(Debug, Default)]
pub(crate) struct SitePermits {
    sites: Mutex<HashMap<String, SiteBound>>,
}

#[derive(Debug)]
struct SiteBound {
    semaphore: Arc<Semaphore>,
    size: usize,
}

impl SitePermits {
    /// The semaphore of `site`, if it is configured.
    pub(crate) fn get(&self, site: &str) -> Option<Arc<Semaphore>> {
        self.lock().get(site).map(|b| Arc::clone(&b.semaphore))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SiteBound>> {
        self.sites.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives every site of `sites` a bound of `size`.
    fn resize(&self, sites: &[Arc<Site>], size: usize) {
        let mut bounds = self.lock();
        for site in sites {
            let bound = bounds
                .entry(site.name.clone())
                .or_insert_with(|| SiteBound {
                    semaphore: Arc::new(Semaphore::new(size)),
                    size,
                });
            if size > bound.size {
                bound.semaphore.add_permits(size - bound.size);
            } else if size < bound.size {
                // Permits held now cannot be taken back; they are retired as they return.
                let surplus = u32::try_from(bound.size - size).unwrap_or(u32::MAX);
                let semaphore = Arc::clone(&bound.semaphore);
                tokio::spawn(async move {
                    if let Ok(retired) = semaphore.acquire_many_owned(surplus).await {
                        retired.forget();
                    }
                });
            }
            bound.size = size;
        }
    }
}

/// A running server's shared state; clone it to reload from another task.
#[derive(Clone)]
pub struct ServerHandle {
    runtime: Arc<RwLock<Arc<Runtime>>>,
}

impl ServerHandle {
    /// Builds the state for a checked configuration and opens the cache (whose directory,
    /// if any, is read in the background).
    pub fn new(config: Config, sites: Vec<Arc<Site>>) -> Result<Self, ServerError> {
        let lasting = Lasting {
            cache: PageCache::new(&config.cache),
            permits: Arc::new(SitePermits::default()),
            budget: MemoryBudget::new(config.limits.max_inflight_bytes),
            metrics: Arc::new(Metrics::default()),
            detections: Arc::new(Semaphore::new(crate::budget::detections_at_once())),
            images: ImageCache::new(&config.cache),
            image_work: Arc::new(Semaphore::new(image::made_at_once())),
        };
        let runtime = Runtime::new(config, sites, lasting)?;
        Ok(Self {
            runtime: Arc::new(RwLock::new(Arc::new(runtime))),
        })
    }

    /// Swaps in a new configuration; requests in flight finish on the old one. Server
    /// limits (listen address, connection count, memory budget) and the cache keep their
    /// start-up values.
    pub fn reload(&self, config: Config, sites: Vec<Arc<Site>>) -> Result<(), ServerError> {
        let current = self.current();
        let unapplied = crate::config::restart_only_changes(&current.config, &config);
        if !unapplied.is_empty() {
            tracing::warn!(
                keys = %unapplied.join(", "),
                "reload: these settings changed but keep their start-up values until a restart"
            );
        }
        let lasting = current.lasting();
        let metrics = Arc::clone(&lasting.metrics);
        metrics.reloads.inc();
        let next = Runtime::new(config, sites, lasting).inspect_err(|_| self.reload_refused())?;
        *self.runtime.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        metrics.config_generation.inc();
        metrics.last_reload_ok.set(1);
        Ok(())
    }

    /// Records a reload whose configuration was refused, so the operator's metrics show
    /// the old one still serving.
    pub fn reload_refused(&self) {
        let metrics = &self.current().metrics;
        metrics.last_reload_ok.set(0);
    }

    fn current(&self) -> Arc<Runtime> {
        self.runtime
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Serves connections from `listener` until `shutdown` resolves, then lets requests in
    /// flight finish for at most the configured grace period.
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let start = self.current();
        let limits = start.config.limits.clone();
        let grace = start.config.server.shutdown_grace;
        let builder = Arc::new(protocol_builder(&limits));
        let deadlines = Deadlines::from_limits(&limits);
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let registry = Arc::new(Registry::new(start.metrics.connections.clone()));
        let (stopping, stop) = watch::channel(Stop::Running);
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: pause instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let slot = tokio::select! {
                slot = take_slot(&slots, &registry) => slot,
                () = &mut shutdown => break,
            };
            let connection = Connection {
                handle: self.clone(),
                builder: Arc::clone(&builder),
                registered: registry.open(),
                deadlines,
                stop: stop.clone(),
                peer,
            };
            tokio::spawn(async move {
                connection.run(stream).await;
                drop(slot);
            });
        }
        drop(listener);
        let _ = stopping.send(Stop::Draining);
        let drained = async {
            while registry.len() > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::select! {
            () = drained => tracing::info!("all connections closed"),
            () = tokio::time::sleep(grace) => {
                tracing::warn!(?grace, "grace period over; closing remaining connections");
                let _ = stopping.send(Stop::Now);
            }
        }
        self.current().cache.flush().await;
    }
}

/// HTTP/1 and HTTP/2 settings from `[limits]`; public so that the cache-hit benchmark's
/// bare hyper server (`examples/hit_floor.rs`) runs with exactly the proxy's.
pub fn protocol_builder(limits: &LimitsConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_request_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(100)
        .keep_alive_interval(Some(limits.idle_timeout))
        .keep_alive_timeout(limits.send_timeout)
        .max_header_list_size(u32::try_from(limits.max_request_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// A connection slot: free at once, or made free by closing the longest-idle connection,
/// or (when every connection is busy) the next one to end.
async fn take_slot(slots: &Arc<Semaphore>, registry: &Registry) -> OwnedSemaphorePermit {
    if let Ok(slot) = Arc::clone(slots).try_acquire_owned() {
        return slot;
    }
    registry.evict_longest_idle();
    // The semaphore is never closed, so this only waits.
    loop {
        if let Ok(slot) = Arc::clone(slots).acquire_owned().await {
            return slot;
        }
    }
}

/// Where the server is in its life, as connections see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Running,
    /// Finish what is in flight, take no new requests.
    Draining,
    /// The grace period is over.
    Now,
}

/// One accepted connection and what it needs to be served and watched.
struct Connection {
    handle: ServerHandle,
    builder: Arc<auto::Builder<TokioExecutor>>,
    registered: Registered,
    deadlines: Deadlines,
    stop: watch::Receiver<Stop>,
    peer: SocketAddr,
}

impl Connection {
    /// Serves the connection until it ends, its deadlines pass or the server stops.
    async fn run(mut self, stream: TcpStream) {
        let watch = Arc::clone(&self.registered.watch);
        let handle = self.handle.clone();
        let peer = self.peer;
        let service = service_fn(move |request| {
            let in_flight = watch.start_request();
            let runtime = handle.current();
            async move {
                let response = handler::handle(request, runtime, peer).await;
                Ok::<_, Infallible>(response.map(|body| Tracked::new(body, in_flight)))
            }
        });
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let watch = Arc::clone(&self.registered.watch);
        // Set once hyper was asked to close: it may then finish what is in flight.
        let mut shut_down = false;
        let mut close_by: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if close_by.is_some_and(|by| now >= by) {
                return;
            }
            let wake = match watch.judge(now, &self.deadlines) {
                Verdict::CloseStalled => {
                    tracing::debug!("closing a connection whose reader stopped reading");
                    return;
                }
                Verdict::CloseIdle => {
                    if !shut_down {
                        connection.as_mut().graceful_shutdown();
                        shut_down = true;
                    }
                    let by = *close_by.get_or_insert(now + CLOSE_IDLE_WITHIN);
                    Some(by)
                }
                Verdict::Keep(at) => earliest(at, close_by),
            };
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                () = sleep => {}
                () = watch.changed() => {}
                changed = self.stop.changed() => {
                    let stop = match changed {
                        Ok(()) => *self.stop.borrow_and_update(),
                        Err(_) => Stop::Now,
                    };
                    match stop {
                        Stop::Now => return,
                        Stop::Draining if !shut_down => {
                            connection.as_mut().graceful_shutdown();
                            shut_down = true;
                        }
                        Stop::Draining | Stop::Running => {}
                    }
                }
            }
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// How long an idle connection asked to close may take to say goodbye: long enough to
/// write an HTTP/2 GOAWAY, short enough that a new connection waiting for the slot (and a
/// client that never answers) costs nobody a noticeable wait.
const CLOSE_IDLE_WITHIN: Duration = Duration::from_millis(100);
