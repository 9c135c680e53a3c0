//! One request, start to end: route it to a site, fetch the upstream page within the
//! site's concurrency bound, and answer with a Light page (streamed when the site's rules
//! allow it), a redirect, or a short error page whose status says what went wrong.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::{Frame, Incoming};
use url::Url;

use super::respond::{self, Body};
use super::Runtime;
use crate::compress::{negotiate, Coding, StreamEncoder};
use crate::config::Site;
use crate::convert::Conversion;
use crate::route::{self, RouteError};
use crate::upstream::{Outcome, Response as Upstream, UpstreamError};

/// The path that answers health checks on any host.
pub const HEALTH_PATH: &str = "/_light/health";

/// Handles one request; never fails, every problem becomes a response.
pub async fn handle(
    request: Request<Incoming>,
    runtime: Arc<Runtime>,
    peer: SocketAddr,
) -> Response<Body> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = respond_to(&request, &runtime).await;
    let status = response.status().as_u16();
    if runtime.config.server.log_client_ip {
        tracing::info!(%method, %path, status, client = %peer, elapsed_ms = started.elapsed().as_millis() as u64, "request");
    } else {
        tracing::info!(%method, %path, status, elapsed_ms = started.elapsed().as_millis() as u64, "request");
    }
    response
}

async fn respond_to(request: &Request<Incoming>, runtime: &Runtime) -> Response<Body> {
    if let Err(e) = route::check_request(request.method(), request.uri(), request.version()) {
        let status = match e {
            RouteError::AbsoluteForm => StatusCode::BAD_REQUEST,
            _ => StatusCode::METHOD_NOT_ALLOWED,
        };
        let mut response = respond::plain(status, &e.to_string());
        if status == StatusCode::METHOD_NOT_ALLOWED {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        return response;
    }
    if request.uri().path() == HEALTH_PATH {
        return respond::plain(StatusCode::OK, "ok");
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_default();
    let site = match route::site_for_host(&runtime.sites, &host) {
        Ok(site) => site,
        Err(e) => return respond::plain(StatusCode::NOT_FOUND, &e.to_string()),
    };
    let coding = negotiate(
        request
            .headers()
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    );
    let head = request.method() == http::Method::HEAD;
    let reply = Reply { site, coding, head };
    let url = match route::upstream_url(site, request.uri().path(), request.uri().query()) {
        Ok(url) => url,
        Err(e) => {
            return reply.message(StatusCode::NOT_FOUND, "Not available", &e.to_string(), None)
        }
    };
    fetch_and_convert(runtime, &reply, url).await
}

/// How to answer for one site and one reader.
struct Reply<'a> {
    site: &'a Site,
    coding: Coding,
    head: bool,
}

impl Reply<'_> {
    fn message(
        &self,
        status: StatusCode,
        heading: &str,
        text: &str,
        link: Option<&Url>,
    ) -> Response<Body> {
        respond::message(
            status,
            &self.site.label,
            heading,
            text,
            link,
            self.coding,
            self.head,
        )
    }

    fn upstream_failed(&self, e: &UpstreamError, url: &Url) -> Response<Body> {
        tracing::warn!(site = %self.site.name, error = %e, "upstream failed");
        let text = match e {
            UpstreamError::Timeout(_) => "The original site took too long to answer.",
            UpstreamError::TooLarge(_) => "The original page is too large to convert.",
            _ => "The original site could not be reached.",
        };
        self.message(e.status(), "Page unavailable", text, Some(url))
    }
}

async fn fetch_and_convert(runtime: &Runtime, reply: &Reply<'_>, url: Url) -> Response<Body> {
    let site = reply.site;
    let limits = &runtime.config.limits;
    let permit = match runtime.permits.get(&site.name) {
        Some(permits) => {
            match tokio::time::timeout(limits.upstream_timeout, permits.clone().acquire_owned())
                .await
            {
                Ok(Ok(permit)) => Some(permit),
                _ => {
                    return reply
                        .upstream_failed(&UpstreamError::Timeout(limits.upstream_timeout), &url)
                }
            }
        }
        None => None,
    };
    let upstream = match runtime.fetcher.fetch(site, url.clone()).await {
        Ok(Outcome::Page(response)) => response,
        Ok(Outcome::Elsewhere(target)) => {
            return reply.message(
                StatusCode::OK,
                "This page is elsewhere",
                "The original page leads to another site:",
                Some(&target),
            );
        }
        Err(e) => return reply.upstream_failed(&e, &url),
    };
    if upstream
        .cache_control
        .as_deref()
        .is_some_and(|cc| cc.to_ascii_lowercase().contains("no-transform"))
    {
        return redirect_to_original(&upstream.url);
    }
    let status = upstream.status;
    if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
        return reply.message(
            status,
            "Page not found",
            "The original site has no such page.",
            Some(&upstream.url),
        );
    }
    if status.is_server_error() || status.is_redirection() {
        let e = UpstreamError::Unreachable(format!("upstream answered {status}"));
        return reply.upstream_failed(&e, &upstream.url);
    }
    if !status.is_success() {
        return reply.message(
            status,
            "Page unavailable",
            &format!("The original site answered {status}."),
            Some(&upstream.url),
        );
    }
    if !upstream.is_html() {
        let kind = upstream.content_type.clone().unwrap_or_default();
        let text = format!(
            "This is not a web page ({}); it is only available on the original site:",
            kind.split(';').next().unwrap_or("unknown")
        );
        return reply.message(StatusCode::OK, "Not a web page", &text, Some(&upstream.url));
    }
    let conversion = match Conversion::new(
        site,
        &upstream.url,
        limits,
        upstream.content_type.as_deref(),
    ) {
        Ok(c) => c,
        Err(e) => return conversion_failed(reply, &e.to_string(), &upstream.url),
    };
    if conversion.streams() {
        stream_page(reply, upstream, conversion, permit).await
    } else {
        whole_page(reply, upstream, conversion).await
    }
}

fn redirect_to_original(url: &Url) -> Response<Body> {
    let mut response = respond::plain(
        StatusCode::FOUND,
        "The publisher asks that this page is not transformed.",
    );
    if let Ok(location) = HeaderValue::from_str(url.as_str()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn conversion_failed(reply: &Reply<'_>, why: &str, url: &Url) -> Response<Body> {
    tracing::warn!(site = %reply.site.name, error = why, "conversion failed");
    reply.message(
        StatusCode::BAD_GATEWAY,
        "Page unavailable",
        "This page could not be converted to a Light page.",
        Some(url),
    )
}

/// Reads the whole upstream body, converts it, answers with the finished page.
async fn whole_page(
    reply: &Reply<'_>,
    mut upstream: Upstream,
    mut conversion: Conversion,
) -> Response<Body> {
    loop {
        match upstream.chunk().await {
            Ok(Some(chunk)) => {
                if let Err(e) = conversion.push(&chunk) {
                    return conversion_failed(reply, &e.to_string(), &upstream.url);
                }
            }
            Ok(None) => break,
            Err(e) => return reply.upstream_failed(&e, &upstream.url),
        }
    }
    let url = upstream.url.clone();
    // Detection is CPU work of a millisecond or more: keep it off the I/O threads.
    let finished = tokio::task::spawn_blocking(move || conversion.finish()).await;
    match finished {
        Ok(Ok(done)) => respond::html(StatusCode::OK, &done.tail, reply.coding, reply.head),
        Ok(Err(e)) => conversion_failed(reply, &e.to_string(), &url),
        Err(e) => conversion_failed(reply, &e.to_string(), &url),
    }
}

/// Converts as the upstream body arrives. The response starts once the first Light bytes
/// exist, so a failure before then still gets a clean error page; after it, the page is
/// closed with a notice.
async fn stream_page(
    reply: &Reply<'_>,
    mut upstream: Upstream,
    mut conversion: Conversion,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Response<Body> {
    let mut first = Vec::new();
    while first.is_empty() {
        match upstream.chunk().await {
            Ok(Some(chunk)) => match conversion.push(&chunk) {
                Ok(out) => first = out,
                Err(e) => return conversion_failed(reply, &e.to_string(), &upstream.url),
            },
            Ok(None) => {
                let url = upstream.url.clone();
                return match conversion.finish() {
                    Ok(done) => respond::html(StatusCode::OK, &done.tail, reply.coding, reply.head),
                    Err(e) => conversion_failed(reply, &e.to_string(), &url),
                };
            }
            Err(e) => return reply.upstream_failed(&e, &upstream.url),
        }
    }
    let (tx, response) = respond::streamed(reply.coding);
    if reply.head {
        return response;
    }
    let mut encoder = StreamEncoder::new(reply.coding);
    let site = reply.site.name.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let send = |bytes: Bytes| {
            let tx = tx.clone();
            async move { tx.send(Ok(Frame::data(bytes))).await.is_ok() }
        };
        if !send(encoder.push(&first)).await {
            return;
        }
        let failure = loop {
            match upstream.chunk().await {
                Ok(Some(chunk)) => match conversion.push(&chunk) {
                    Ok(out) if out.is_empty() => {}
                    Ok(out) => {
                        if !send(encoder.push(&out)).await {
                            return;
                        }
                    }
                    Err(e) => break e.to_string(),
                },
                Ok(None) => match conversion.finish() {
                    Ok(done) => {
                        let mut last = encoder.push(&done.tail).to_vec();
                        last.extend_from_slice(&encoder.finish());
                        send(Bytes::from(last)).await;
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(%site, error = %e, "conversion failed mid-stream");
                        let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                        return;
                    }
                },
                Err(e) => break e.to_string(),
            }
        };
        tracing::warn!(%site, error = %failure, "page cut short");
        let notice =
            "The rest of this page could not be loaded. The original page is linked below.";
        if let Some(tail) = conversion.close_with_notice(notice) {
            let mut last = encoder.push(&tail).to_vec();
            last.extend_from_slice(&encoder.finish());
            send(Bytes::from(last)).await;
        }
    });
    response
}
