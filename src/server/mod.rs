//! The HTTP server (hyper on tokio): accepts connections within limits (connection count,
//! request head size and read time), serves HTTP/1 and HTTP/2, swaps its configuration on
//! reload without dropping requests, and shuts down gracefully with a bounded grace
//! period. Request handling is `handler.rs`; response building is `respond.rs`.

mod handler;
mod respond;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::cache::PageCache;
use crate::config::{Config, Site};
use crate::upstream::{Fetcher, UpstreamError};

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
    pub sites: Vec<Site>,
    pub fetcher: Fetcher,
    /// Per-site bound on upstream fetches in flight.
    pub permits: HashMap<String, Arc<Semaphore>>,
    /// Light pages; one cache for the server's life, kept across reloads.
    pub cache: PageCache,
}

impl Runtime {
    fn new(config: Config, sites: Vec<Site>, cache: PageCache) -> Result<Self, ServerError> {
        let fetcher = Fetcher::new(&config.limits)?;
        let permits = sites
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    Arc::new(Semaphore::new(config.limits.upstream_concurrency)),
                )
            })
            .collect();
        Ok(Self {
            config,
            sites,
            fetcher,
            permits,
            cache,
        })
    }
}

/// A running server's shared state; clone it to reload from another task.
#[derive(Clone)]
pub struct ServerHandle {
    runtime: Arc<RwLock<Arc<Runtime>>>,
}

impl ServerHandle {
    /// Builds the state for a checked configuration, opening the cache (whose directory
    /// loads in the background).
    pub fn new(config: Config, sites: Vec<Site>) -> Result<Self, ServerError> {
        let cache = PageCache::new(&config.cache);
        Ok(Self {
            runtime: Arc::new(RwLock::new(Arc::new(Runtime::new(config, sites, cache)?))),
        })
    }

    /// Swaps in a new configuration; requests in flight finish on the old one. Server
    /// limits (listen address, connection count) and the cache keep their start-up values.
    pub fn reload(&self, config: Config, sites: Vec<Site>) -> Result<(), ServerError> {
        let cache = self.current().cache.clone();
        let next = Arc::new(Runtime::new(config, sites, cache)?);
        *self.runtime.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(())
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
        let connections = Arc::new(Semaphore::new(limits.max_connections));
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
            .max_header_list_size(
                u32::try_from(limits.max_request_header_bytes).unwrap_or(u32::MAX),
            );
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = connections.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
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
            let handle = self.clone();
            let service = service_fn(move |request| {
                let runtime = handle.current();
                async move {
                    Ok::<_, std::convert::Infallible>(handler::handle(request, runtime, peer).await)
                }
            });
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let connection = graceful.watch(connection.into_owned());
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                drop(permit);
            });
        }
        drop(listener);
        tokio::select! {
            () = graceful.shutdown() => tracing::info!("all connections closed"),
            () = tokio::time::sleep(grace) => tracing::warn!(?grace, "grace period over; closing remaining connections"),
        }
        self.current().cache.flush().await;
    }
}
