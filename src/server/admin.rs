//! The operator's listener (`[admin] listen`), apart from the readers' so that no reader
//! of a mirror can reach it: `GET /metrics` in the Prometheus text format, `GET /health`
//! and `POST /purge` (see [`PurgeRequest`]). HTTP/1 only, a handful of connections at a
//! time; it serves operators and their scrapers, not the public.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::ServerHandle;
use crate::cache::Purge;
use crate::route::NormalPath;

/// Scrapers and operators at once; more wait in the kernel's backlog.
const ADMIN_CONNECTIONS: usize = 16;

/// The largest request body read: a purge's form is a few parameters.
const MAX_FORM_BYTES: usize = 8 * 1024;

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
                    async move { Ok::<_, Infallible>(handle.admin(request).await) }
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

    async fn admin(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path().to_owned();
        match (request.method(), path.as_str()) {
            (&Method::GET, "/metrics") => text(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                self.metrics_text(),
            ),
            (&Method::GET, "/health") => {
                text(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into())
            }
            (&Method::POST, "/purge") => self.purge(request).await,
            _ => text(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "GET /metrics or /health, POST /purge\n".into(),
            ),
        }
    }

    /// `POST /purge`: removes the pages and Light images named, answering
    /// `{"removed": N, "images": M}`.
    async fn purge(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let query = request.uri().query().unwrap_or_default().to_owned();
        let body = match Limited::new(request.into_body(), MAX_FORM_BYTES)
            .collect()
            .await
        {
            Ok(body) => body.to_bytes(),
            Err(_) => return bad_request("the form is unreadable or larger than 8 KiB"),
        };
        let runtime = self.current();
        let purge = match PurgeRequest::parse(&query, &body) {
            Ok(purge) => purge,
            Err(why) => return bad_request(&why),
        };
        let Some(site) = runtime.sites.iter().find(|site| site.name == purge.site) else {
            return bad_request(&format!("no site is named \"{}\"", purge.site));
        };
        let removed = runtime.cache.purge(&purge.site, purge.scope.clone()).await;
        let images = runtime.images.purge(site, &purge.scope);
        tracing::info!(site = %purge.site, scope = ?purge.scope, removed, images, "cache: purged");
        text(
            StatusCode::OK,
            "application/json",
            format!("{{\"removed\": {removed}, \"images\": {images}}}\n"),
        )
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

/// What a `POST /purge` asks for, from its query and its form body together:
/// `site=NAME` and at most one of `path=/x` (that page with every query variant) and
/// `prefix=/x/` (every page under it); neither purges the whole site. Paths are taken in
/// the normal form requests are cached under (`/a/./b` is `/a/b`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PurgeRequest {
    /// The site's name.
    pub site: String,
    /// What of it goes.
    pub scope: Purge,
}

impl PurgeRequest {
    /// Reads the parameters of `query` and `form` (`application/x-www-form-urlencoded`);
    /// the reason for a 400 when they name no purge.
    pub(crate) fn parse(query: &str, form: &[u8]) -> Result<Self, String> {
        let mut site = None;
        let mut path = None;
        let mut prefix = None;
        let pairs =
            url::form_urlencoded::parse(query.as_bytes()).chain(url::form_urlencoded::parse(form));
        for (name, value) in pairs {
            let slot = match name.as_ref() {
                "site" => &mut site,
                "path" => &mut path,
                "prefix" => &mut prefix,
                other => return Err(format!("unknown parameter \"{other}\"")),
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(format!("\"{name}\" is given twice"));
            }
        }
        let site = site
            .filter(|site| !site.is_empty())
            .ok_or("site=NAME is missing")?;
        let normal = |field: &str, raw: &str| {
            NormalPath::parse(raw)
                .map(|path| path.as_str().to_owned())
                .map_err(|why| format!("{field} \"{raw}\" is not a usable path: {why}"))
        };
        let scope = match (path, prefix) {
            (Some(_), Some(_)) => return Err("give path or prefix, not both".into()),
            (Some(path), None) => Purge::Path(normal("path", &path)?),
            (None, Some(prefix)) => Purge::Prefix(normal("prefix", &prefix)?),
            (None, None) => Purge::Site,
        };
        Ok(Self { site, scope })
    }
}

fn bad_request(why: &str) -> Response<Full<Bytes>> {
    text(
        StatusCode::BAD_REQUEST,
        "text/plain; charset=utf-8",
        format!("{why}\n"),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(query: &str, form: &str) -> Result<PurgeRequest, String> {
        PurgeRequest::parse(query, form.as_bytes())
    }

    #[test]
    fn purge_parameters_come_from_the_query_or_the_form() {
        let site = |scope| {
            Ok(PurgeRequest {
                site: "news".into(),
                scope,
            })
        };
        assert_eq!(parsed("site=news", ""), site(Purge::Site));
        assert_eq!(
            parsed("", "site=news&path=%2Fworld%2F.%2Ftoday"),
            site(Purge::Path("/world/today".into()))
        );
        assert_eq!(
            parsed("site=news", "prefix=/world/"),
            site(Purge::Prefix("/world/".into()))
        );
        for (query, form) in [
            ("", ""),
            ("site=", ""),
            ("path=/a", ""),
            ("site=news&path=/a&prefix=/b", ""),
            ("site=news&path=/a", "path=/b"),
            ("site=news&path=a", ""),
            ("site=news&prefix=/a%5Cb", ""),
            ("site=news&host=x", ""),
        ] {
            assert!(parsed(query, form).is_err(), "{query} {form}");
        }
    }
}
