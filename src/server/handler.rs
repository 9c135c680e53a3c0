//! One request, start to end: route it to a site, answer from the cache when a fresh page
//! is there, else fetch the upstream page (one fetch for all concurrent readers of it,
//! within the site's concurrency bound) and answer with a Light page, streamed when the
//! site's rules allow it. When the upstream fails, a stale copy is served, marked with its
//! age; without one, a short error page whose status says what went wrong.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::{Frame, Incoming};
use url::Url;

use super::respond::{self, Body};
use super::Runtime;
use crate::cache::{self, FlightLeader, Lookup, PageCache, Quality, Stored, StoredPage};
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
    let elapsed_ms = started.elapsed().as_millis() as u64;
    if runtime.config.server.log_client_ip {
        tracing::info!(%method, %path, status, client = %peer, elapsed_ms, "request");
    } else {
        tracing::info!(%method, %path, status, elapsed_ms, "request");
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
    let headers = request.headers();
    let host = header_text(headers, header::HOST)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_default();
    let site = match route::site_for_host(&runtime.sites, &host) {
        Ok(site) => site,
        Err(e) => return respond::plain(StatusCode::NOT_FOUND, &e.to_string()),
    };
    let reply = Reply {
        site,
        coding: negotiate(header_text(headers, header::ACCEPT_ENCODING).as_deref()),
        head: request.method() == http::Method::HEAD,
        if_none_match: header_text(headers, header::IF_NONE_MATCH),
        if_modified_since: header_text(headers, header::IF_MODIFIED_SINCE),
    };
    let url = match route::upstream_url(site, request.uri().path(), request.uri().query()) {
        Ok(url) => url,
        Err(e) => {
            return reply.message(StatusCode::NOT_FOUND, "Not available", &e.to_string(), None)
        }
    };
    let key = route::cache_key(site, &url);
    let cache = &runtime.cache;
    let stale = match cache.lookup(&key).await {
        Lookup::Fresh(page) => return reply.cached(&page),
        Lookup::Stale(page) => Some(page),
        Lookup::Miss => None,
    };
    let leader = match cache.join(&key) {
        cache::Flight::Leader(leader) => {
            // A flight for this key may have landed between the lookup and the join.
            if let Lookup::Fresh(page) = cache.lookup(&key).await {
                leader.finish(Some(page.clone()));
                return reply.cached(&page);
            }
            Some(leader)
        }
        cache::Flight::Follower(follower) => {
            let wait = runtime.config.limits.upstream_timeout * 2;
            match tokio::time::timeout(wait, follower.wait()).await {
                Ok(Some(page)) => return reply.cached(&page),
                // The shared fetch failed: a stale copy beats hitting a failing upstream
                // once per waiting reader.
                _ if stale.is_some() => {
                    return reply.stale(stale.as_deref().unwrap_or_else(|| unreachable!()))
                }
                _ => None,
            }
        }
    };
    let slot = CacheSlot {
        cache: cache.clone(),
        key,
        leader,
        default_ttl: runtime.config.cache.ttl,
    };
    match fetch_and_convert(runtime, &reply, url, slot).await {
        Ok(response) => response,
        Err(failure) => match stale {
            Some(page) => reply.stale(&page),
            None => failure,
        },
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// How to answer for one site and one reader.
struct Reply<'a> {
    site: &'a Site,
    coding: Coding,
    head: bool,
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
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

    fn conversion_failed(&self, why: &str, url: &Url) -> Response<Body> {
        tracing::warn!(site = %self.site.name, error = why, "conversion failed");
        self.message(
            StatusCode::BAD_GATEWAY,
            "Page unavailable",
            "This page could not be converted to a Light page.",
            Some(url),
        )
    }

    /// A cached page, or 304 when the reader's copy is current.
    fn cached(&self, page: &StoredPage) -> Response<Body> {
        let status = StatusCode::from_u16(page.status).unwrap_or(StatusCode::OK);
        let mut response = if cache::not_modified(
            page,
            self.if_none_match.as_deref(),
            self.if_modified_since.as_deref(),
        ) {
            respond::not_modified()
        } else {
            let encoded = match self.coding {
                Coding::Brotli => page.brotli.clone(),
                Coding::Gzip => page.gzip.clone(),
                Coding::Identity => page.body.clone(),
            };
            respond::prepared(status, encoded, self.coding, self.head)
        };
        let remaining = page.fresh_for.saturating_sub(page.age(SystemTime::now()));
        let headers = response.headers_mut();
        if let Ok(etag) = HeaderValue::from_str(&page.etag) {
            headers.insert(header::ETAG, etag);
        }
        if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(page.last_modified)) {
            headers.insert(header::LAST_MODIFIED, date);
        }
        insert_cache_control(headers, &format!("public, max-age={}", remaining.as_secs()));
        response
    }

    /// A stale copy served because the upstream failed, with its age on the page.
    fn stale(&self, page: &StoredPage) -> Response<Body> {
        let age = humantime::format_duration(Duration::from_secs(
            page.age(SystemTime::now()).as_secs() / 60 * 60,
        ));
        let notice = format!(
            "<p><strong>The original site is not answering. This is a saved copy from {} ago.</strong></p>",
            if age.to_string() == "0s" { "moments".to_owned() } else { age.to_string() }
        );
        let body =
            String::from_utf8_lossy(&page.body).replacen("<main>", &format!("<main>{notice}"), 1);
        let mut response = respond::html(StatusCode::OK, body.as_bytes(), self.coding, self.head);
        insert_cache_control(response.headers_mut(), "no-store");
        response
    }
}

fn insert_cache_control(headers: &mut HeaderMap, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(header::CACHE_CONTROL, value);
    }
}

/// Where a finished page goes: the cache, and the readers waiting on this fetch.
struct CacheSlot {
    cache: PageCache,
    key: String,
    leader: Option<FlightLeader>,
    default_ttl: Duration,
}

/// The upstream headers that decide how long a page may be kept.
struct Keeping {
    fresh_for: Option<Duration>,
    last_modified: Option<SystemTime>,
}

impl CacheSlot {
    /// Stores a complete page when the upstream allows keeping it, and hands it to the
    /// readers waiting on this fetch.
    async fn complete(mut self, body: Vec<u8>, keeping: &Keeping) -> Option<Arc<StoredPage>> {
        let stored = match keeping.fresh_for {
            Some(fresh_for) => {
                // The conversion's text length is not passed down yet: a full count keeps
                // every complete page storable, as it was.
                let quality = Quality {
                    text_chars: u32::MAX,
                    whole: true,
                };
                let page = StoredPage::new(
                    200,
                    Bytes::from(body),
                    keeping.last_modified,
                    fresh_for,
                    quality,
                );
                match self.cache.store(&self.key, page).await {
                    Stored::Accepted(page) | Stored::Declined { new: page, .. } => Some(page),
                }
            }
            None => None,
        };
        if let Some(leader) = self.leader.take() {
            leader.finish(stored.clone());
        }
        stored
    }
}

/// Fetches and converts. `Err` carries the answer for an upstream failure, which the
/// caller replaces with a stale copy when it has one.
async fn fetch_and_convert(
    runtime: &Runtime,
    reply: &Reply<'_>,
    url: Url,
    slot: CacheSlot,
) -> Result<Response<Body>, Response<Body>> {
    let site = reply.site;
    let limits = &runtime.config.limits;
    let permit = match runtime.permits.get(&site.name) {
        Some(permits) => {
            match tokio::time::timeout(limits.upstream_timeout, permits.clone().acquire_owned())
                .await
            {
                Ok(Ok(permit)) => Some(permit),
                _ => {
                    return Err(reply
                        .upstream_failed(&UpstreamError::Timeout(limits.upstream_timeout), &url))
                }
            }
        }
        None => None,
    };
    let upstream = match runtime.fetcher.fetch(site, url.clone()).await {
        Ok(Outcome::Page(response)) => *response,
        Ok(Outcome::Elsewhere(target)) => {
            return Ok(reply.message(
                StatusCode::OK,
                "This page is elsewhere",
                "The original page leads to another site:",
                Some(&target),
            ));
        }
        Err(e) => return Err(reply.upstream_failed(&e, &url)),
    };
    let cache_control = upstream
        .cache_control
        .as_deref()
        .map(str::to_ascii_lowercase);
    if cache_control
        .as_deref()
        .is_some_and(|cc| cc.contains("no-transform"))
    {
        return Ok(redirect_to_original(&upstream.url));
    }
    let status = upstream.status;
    if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
        return Ok(reply.message(
            status,
            "Page not found",
            "The original site has no such page.",
            Some(&upstream.url),
        ));
    }
    if status.is_server_error() || status.is_redirection() {
        let e = UpstreamError::Unreachable(format!("upstream answered {status}"));
        return Err(reply.upstream_failed(&e, &upstream.url));
    }
    if !status.is_success() {
        return Ok(reply.message(
            status,
            "Page unavailable",
            &format!("The original site answered {status}."),
            Some(&upstream.url),
        ));
    }
    if !upstream.is_html() {
        let kind = upstream.content_type.clone().unwrap_or_default();
        let text = format!(
            "This is not a web page ({}); it is only available on the original site:",
            kind.split(';').next().unwrap_or("unknown")
        );
        return Ok(reply.message(StatusCode::OK, "Not a web page", &text, Some(&upstream.url)));
    }
    let keeping = Keeping {
        fresh_for: cache::freshness(
            upstream.cache_control.as_deref(),
            site.cache_ttl,
            slot.default_ttl,
        ),
        last_modified: upstream
            .last_modified
            .as_deref()
            .and_then(|d| httpdate::parse_http_date(d).ok()),
    };
    let conversion = Conversion::new(
        site,
        &upstream.url,
        limits,
        upstream.content_type.as_deref(),
    )
    .map_err(|e| reply.conversion_failed(&e.to_string(), &upstream.url))?;
    if conversion.streams() {
        stream_page(reply, upstream, conversion, permit, slot, keeping).await
    } else {
        whole_page(reply, upstream, conversion, slot, keeping).await
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

/// Reads the whole upstream body, converts it, answers with the finished page.
async fn whole_page(
    reply: &Reply<'_>,
    mut upstream: Upstream,
    mut conversion: Conversion,
    slot: CacheSlot,
    keeping: Keeping,
) -> Result<Response<Body>, Response<Body>> {
    loop {
        match upstream.chunk().await {
            Ok(Some(chunk)) => {
                conversion
                    .push(&chunk)
                    .map_err(|e| reply.conversion_failed(&e.to_string(), &upstream.url))?;
            }
            Ok(None) => break,
            Err(e) => return Err(reply.upstream_failed(&e, &upstream.url)),
        }
    }
    let url = upstream.url.clone();
    // Detection is CPU work of a millisecond or more: keep it off the I/O threads.
    let finished = tokio::task::spawn_blocking(move || conversion.finish())
        .await
        .map_err(|e| reply.conversion_failed(&e.to_string(), &url))?
        .map_err(|e| reply.conversion_failed(&e.to_string(), &url))?;
    let page = finished.tail;
    Ok(match slot.complete(page.clone(), &keeping).await {
        Some(stored) => reply.cached(&stored),
        None => {
            let mut response = respond::html(StatusCode::OK, &page, reply.coding, reply.head);
            insert_cache_control(response.headers_mut(), "no-store");
            response
        }
    })
}

/// Converts as the upstream body arrives. The response starts once the first Light bytes
/// exist, so a failure before then still gets a clean error page; after it, the page is
/// closed with a notice and is not cached.
async fn stream_page(
    reply: &Reply<'_>,
    mut upstream: Upstream,
    mut conversion: Conversion,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    slot: CacheSlot,
    keeping: Keeping,
) -> Result<Response<Body>, Response<Body>> {
    let mut first = Vec::new();
    while first.is_empty() {
        match upstream.chunk().await {
            Ok(Some(chunk)) => {
                first = conversion
                    .push(&chunk)
                    .map_err(|e| reply.conversion_failed(&e.to_string(), &upstream.url))?;
            }
            Ok(None) => {
                let url = upstream.url.clone();
                let done = conversion
                    .finish()
                    .map_err(|e| reply.conversion_failed(&e.to_string(), &url))?;
                first = done.tail;
                return Ok(match slot.complete(first.clone(), &keeping).await {
                    Some(stored) => reply.cached(&stored),
                    None => respond::html(StatusCode::OK, &first, reply.coding, reply.head),
                });
            }
            Err(e) => return Err(reply.upstream_failed(&e, &upstream.url)),
        }
    }
    let (tx, mut response) = respond::streamed(reply.coding);
    let cache_control = match keeping.fresh_for {
        Some(fresh) => format!("public, max-age={}", fresh.as_secs()),
        None => "no-store".to_owned(),
    };
    insert_cache_control(response.headers_mut(), &cache_control);
    if reply.head {
        return Ok(response);
    }
    let mut encoder = StreamEncoder::new(reply.coding);
    let site = reply.site.name.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let mut whole = first.clone();
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
                        whole.extend_from_slice(&out);
                        if !send(encoder.push(&out)).await {
                            return;
                        }
                    }
                    Err(e) => break e.to_string(),
                },
                Ok(None) => match conversion.finish() {
                    Ok(done) => {
                        whole.extend_from_slice(&done.tail);
                        let mut last = encoder.push(&done.tail).to_vec();
                        last.extend_from_slice(&encoder.finish());
                        send(Bytes::from(last)).await;
                        slot.complete(whole, &keeping).await;
                        return;
                    }
                    Err(e) => {
                        // The pass failed on the page's last bytes, after which no shell
                        // tail can be trusted: abort so the reader's client sees the cut.
                        tracing::warn!(%site, error = %e, "conversion failed at the end of the page");
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
    Ok(response)
}
