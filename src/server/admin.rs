//! The operator's listener (`[admin] listen`), apart from the readers' so that no reader
//! of a mirror can reach it: `GET /metrics` in the Prometheus text format and
//! `GET /health`. HTTP/1 only, a handful of connections at a time; it serves operators'
//! scrapers, not the public.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::ServerHandle;

/// Scrapers and operators at once; more wait in the kernel's backlog.
const ADMIN_CONNECTIONS: usize = 16;

impl ServerHandle {
    /// Serves the admin listener until the runtime stops.
    pub async fn serve_admin(&self, listener: TcpListener) {
        let slots = Arc::new(Semaphore::new(ADMIN_CONNECTIONS));
        loop {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let handle = self.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let handle = handle.clone();
                    async move { Ok::<_, Infallible>(handle.admin(&request)) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(TokioIo::new(stream), service);
                let _ = tokio::time::timeout(Duration::from_secs(60), connection).await;
                drop(slot);
            });
        }
    }

    fn admin(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        match (request.method(), request.uri().path()) {
            (&Method::GET, "/metrics") => text(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                self.metrics_text(),
            ),
            (&Method::GET, "/health") => {
                text(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into())
            }
            _ => text(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "GET /metrics or /health\n".into(),
            ),
        }
    }

    /// The metrics, with the gauges that are read rather than counted brought up to date.
    fn metrics_text(&self) -> String {
        let runtime = self.current();
        let metrics = &runtime.metrics;
        metrics
            .inflight_bytes
            .set(i64::try_from(runtime.budget.used()).unwrap_or(i64::MAX));
        let (pages, bytes) = runtime.cache.size();
        metrics
            .cache_pages
            .set(i64::try_from(pages).unwrap_or(i64::MAX));
        metrics
            .cache_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        metrics.encode()
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
