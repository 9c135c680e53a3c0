//! One request, start to end: route it to a site, answer from the cache when a fresh page
//! is there, else fetch the upstream page (one fetch for all concurrent readers of it,
//! within the site's concurrency bound and the memory budget) and answer with a Light
//! page, streamed when the site's rules allow it. When the upstream fails, refuses the
//! mirror, sends the page elsewhere or sends less than the saved copy holds, the saved
//! copy is served, with a notice that says which; without one, a short error page whose
//! status says what went wrong. Every request ends within a bounded time.

// A `Failure` carries the reader's ready answer; failures are the rare path, and boxing
// each would only move that allocation.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use url::Url;

use super::client;
use super::respond::{self, Body};
use super::Runtime;
use crate::budget::{
    Charge, ADMISSION_BYTES, DETECTING_BYTES_PER_BYTE, GATHERING_BYTES_PER_BYTE,
    STREAMED_BYTES_PER_BYTE,
};
use crate::cache::{self, FlightLeader, Landing, Lookup, PageCache, Quality, Stored, StoredPage};
use crate::compress::{negotiate, Coding, StreamEncoder};
use crate::config::Site;
use crate::convert::{Conversion, Finished};
use crate::feed::{self, FeedError};
use crate::lang::{Message, Words};
use crate::metrics::{status_class, CacheResult, Metrics, RequestLabels, SiteLabels};
use crate::page;
use crate::rewrite::policy::is_web;
use crate::route::{self, RouteError};
use crate::upstream::{Outcome, Response as Upstream, UpstreamError};

/// The path that answers health checks on any host.
pub const HEALTH_PATH: &str = "/_light/health";

/// How long a new miss waits for room in the memory budget before it is turned away.
const ADMISSION_WAIT: Duration = Duration::from_secs(1);

/// What a reader turned away for lack of memory is told to wait before trying again.
const RETRY_AFTER_SECS: u32 = 5;

/// Handles one request; never fails, every problem becomes a response, and no request
/// outlives its deadline (waiting on a flight, a permit, the budget and the upstream
/// together).
pub async fn handle(
    request: Request<Incoming>,
    runtime: Arc<Runtime>,
    peer: SocketAddr,
) -> Response<Body> {
    let started = Instant::now();
    let trace = Trace::default();
    let deadline = request_deadline(&runtime);
    let host = reader_host(&request);
    let routed = host.map(|host| route::site_for_host(&runtime.sites, host));
    let site = match &routed {
        Ok(Ok(site)) => site.name.clone(),
        _ => "none".to_owned(),
    };
    let answer =
        tokio::time::timeout(deadline, respond_to(&request, &runtime, routed, &trace)).await;
    let mut response = answer.unwrap_or_else(|_| {
        respond::plain(
            StatusCode::GATEWAY_TIMEOUT,
            "The page took too long to prepare.",
        )
    });
    if !response.headers().contains_key(CACHE_STATUS) {
        // Errors, refusals and answers that may not be kept: nothing usable was cached.
        insert_cache_status(
            response.headers_mut(),
            &format!("{CACHE_NAME}; fwd=uri-miss"),
        );
    }
    let cache = CacheResult::of(
        response
            .headers()
            .get(CACHE_STATUS)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
    );
    runtime
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            site: site.clone(),
            status: status_class(response.status()),
            cache,
        })
        .inc();
    let host = host.unwrap_or("-");
    log_request(
        &request, &response, &runtime, peer, host, &site, cache, &trace, started,
    );
    response
}

/// What the phases of one request tell its access-log line.
#[derive(Debug)]
struct Trace {
    /// Milliseconds to the upstream's response head; `u64::MAX` when nothing was fetched.
    upstream_ms: AtomicU64,
}

impl Default for Trace {
    fn default() -> Self {
        Self {
            upstream_ms: AtomicU64::new(u64::MAX),
        }
    }
}

/// One line per request: site, host, method, path (its query only with `log_query`),
/// status, bytes (`-` while a streamed page is still going out), cache result, upstream and
/// total time, and the reader's address only with `log_client_ip`.
#[allow(clippy::too_many_arguments)]
fn log_request<B>(
    request: &Request<B>,
    response: &Response<Body>,
    runtime: &Runtime,
    peer: SocketAddr,
    host: &str,
    site: &str,
    cache: CacheResult,
    trace: &Trace,
    started: Instant,
) {
    let server = &runtime.config.server;
    let uri = request.uri();
    let path = match uri.query() {
        Some(query) if server.log_query => format!("{}?{query}", uri.path()),
        _ => uri.path().to_owned(),
    };
    let bytes = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let upstream_ms = match trace.upstream_ms.load(Ordering::Relaxed) {
        u64::MAX => "-".to_owned(),
        ms => ms.to_string(),
    };
    let total_ms = started.elapsed().as_millis() as u64;
    let method = request.method().as_str();
    let status = response.status().as_u16();
    let cache = format!("{cache:?}");
    if server.log_client_ip {
        let client = client::reader_address(request.headers(), peer, &server.trusted_proxies);
        tracing::info!(site, host, method, path, status, bytes, cache, upstream_ms, total_ms, %client, "request");
    } else {
        tracing::info!(
            site,
            host,
            method,
            path,
            status,
            bytes,
            cache,
            upstream_ms,
            total_ms,
            "request"
        );
    }
}

/// A follower's wait, a permit's, the budget's and the upstream's own timeout, each
/// bounded on its own; this bounds them together.
fn request_deadline(runtime: &Runtime) -> Duration {
    runtime.config.limits.upstream_timeout * 4 + ADMISSION_WAIT
}

/// `routed` is the site the request's one host names, as `handle` found it.
async fn respond_to(
    request: &Request<Incoming>,
    runtime: &Runtime,
    routed: Result<Result<&Site, RouteError>, &'static str>,
    trace: &Trace,
) -> Response<Body> {
    if let Err(e) = route::check_request(request.method(), request.uri(), request.version()) {
        let status = e.status();
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
    let site = match routed {
        Ok(Ok(site)) => site,
        Ok(Err(e)) => return respond::plain(e.status(), &e.to_string()),
        Err(why) => return respond::plain(StatusCode::BAD_REQUEST, why),
    };
    let headers = request.headers();
    let reply = Reply {
        site,
        words: site.words(None),
        coding: negotiate(header_text(headers, header::ACCEPT_ENCODING)),
        head: request.method() == http::Method::HEAD,
        if_none_match: header_text(headers, header::IF_NONE_MATCH),
        if_modified_since: header_text(headers, header::IF_MODIFIED_SINCE),
        stale_if_error: runtime.config.cache.stale_if_error,
        metrics: &runtime.metrics,
        trace,
        detections: &runtime.detections,
    };
    let (query, wants_feed) = feed_request(request.uri().query());
    let url = match route::upstream_url(site, request.uri().path(), query.as_deref()) {
        Ok(url) => url,
        Err(e) => {
            tracing::debug!(site = %site.name, error = %e, "request not routed");
            let text = reply.words.text(Message::ErrorNotServed);
            return reply.message(e.status(), Message::HeadingNotAvailable, text, None);
        }
    };
    let key = route::cache_key(site, &url);
    if wants_feed {
        serve_feed(runtime, &reply, url, key).await
    } else {
        serve_page(runtime, &reply, url, key).await
    }
}

/// The request's query without the Light site's own feed parameter, and whether it was
/// there. It is taken out before the site's `query` rule sees the query, so no rule can
/// drop it or pass it on to the upstream.
fn feed_request(query: Option<&str>) -> (Option<String>, bool) {
    let Some(query) = query else {
        return (None, false);
    };
    let (name, value) = page::FEED_PARAMETER;
    let feed = format!("{name}={value}");
    let rest: Vec<&str> = query.split('&').filter(|pair| *pair != feed).collect();
    let wants = rest.len() != query.split('&').count();
    let rest = rest.join("&");
    ((!rest.is_empty()).then_some(rest), wants)
}

/// A listing's Light Atom feed: the Light page served as it would be (from the cache or
/// fetched), read back into Atom. Anything but a Light page (an error, a saved copy's
/// refusal) is passed on as it is.
async fn serve_feed(runtime: &Runtime, reply: &Reply<'_>, url: Url, key: String) -> Response<Body> {
    let whole = Reply {
        coding: Coding::Identity,
        head: false,
        if_none_match: None,
        if_modified_since: None,
        ..reply.clone()
    };
    let response = serve_page(runtime, &whole, url, key).await;
    let is_html = header_text(response.headers(), header::CONTENT_TYPE)
        .is_some_and(|ct| ct.starts_with("text/html"));
    if response.status() != StatusCode::OK || !is_html {
        return response;
    }
    let (parts, body) = response.into_parts();
    let modified = header_text(&parts.headers, header::LAST_MODIFIED)
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .unwrap_or_else(SystemTime::now);
    let page = match http_body_util::BodyExt::collect(body).await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let why = e.to_string();
            return reply
                .conversion_failed(&why, &Url::parse("about:blank").expect("static URL"))
                .answer;
        }
    };
    let atom = feed::to_atom(&String::from_utf8_lossy(&page), modified.into());
    let xml = match atom {
        Ok(xml) => xml,
        Err(FeedError::NotListing) => {
            // Said in the page's own language, as the page itself would be.
            let in_page = Reply {
                words: reply.site.words(page::lang_of(&page)),
                ..reply.clone()
            };
            let text = in_page.words.text(Message::ErrorNoFeed);
            return in_page.message(
                StatusCode::NOT_FOUND,
                Message::HeadingNotAvailable,
                text,
                None,
            );
        }
        Err(e) => {
            return reply
                .conversion_failed(
                    &e.to_string(),
                    &Url::parse("about:blank").expect("static URL"),
                )
                .answer
        }
    };
    let mut response = respond::document(
        StatusCode::OK,
        feed::ATOM_CONTENT_TYPE,
        &xml,
        reply.coding,
        reply.head,
    );
    for name in [header::CACHE_CONTROL, header::LAST_MODIFIED, CACHE_STATUS] {
        if let Some(value) = parts.headers.get(&name) {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}

/// The one host a request names. RFC 9112 §3.2 makes an HTTP/1.1 request without a Host,
/// or with two, a 400; RFC 9113 §8.3.1 makes an HTTP/2 request whose `host` differs from
/// its `:authority` malformed. Reading such a request one way when another part of the
/// chain reads it another is how routing gets fooled, so none is guessed at.
fn reader_host<B>(request: &Request<B>) -> Result<&str, &'static str> {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err("The request has more than one Host header.");
    }
    let host = match host {
        Some(value) => Some(value.to_str().map_err(|_| "The Host header is not text.")?),
        None => None,
    };
    let authority = request.uri().authority().map(|a| a.as_str());
    match (request.version(), authority, host) {
        (v, Some(authority), Some(host)) if v >= Version::HTTP_2 => {
            if authority.eq_ignore_ascii_case(host) {
                Ok(authority)
            } else {
                Err("The request's host and :authority differ.")
            }
        }
        (_, Some(authority), None) => Ok(authority),
        (_, _, Some(host)) => Ok(host),
        (_, None, None) => Err("The request has no Host header."),
    }
}

/// From the cache key to a response: a fresh copy, a shared flight's page, or a fetch of
/// our own, with the stale copy standing in for any failure.
async fn serve_page(runtime: &Runtime, reply: &Reply<'_>, url: Url, key: String) -> Response<Body> {
    let cache = &runtime.cache;
    let stale = match cache.lookup(&key).await {
        Lookup::Fresh(page) => return reply.cached(&page, Served::Hit),
        Lookup::Stale(page) => Some(page),
        Lookup::Miss => None,
    };
    let leader = match cache.join(&key) {
        cache::Flight::Leader(leader) => {
            // A flight for this key may have landed between the lookup and the join.
            if let Lookup::Fresh(page) = cache.lookup(&key).await {
                leader.finish(Landing::Page(Arc::clone(&page)));
                return reply.cached(&page, Served::Collapsed);
            }
            Some(leader)
        }
        cache::Flight::Follower(follower) => {
            let wait = runtime.config.limits.upstream_timeout * 2;
            let landing = tokio::time::timeout(wait, follower.wait())
                .await
                .unwrap_or(Landing::Failed);
            match (landing, &stale) {
                (Landing::Page(page), _) => return reply.cached(&page, Served::Collapsed),
                // The shared fetch failed: a stale copy beats hitting a failing upstream
                // once per waiting reader.
                (Landing::Failed, Some(page)) => return reply.stale(page, Stale::FetchFailed),
                // Nothing to share (no-store, a missing page) or no copy: fetch alone.
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
    match fetch_and_convert(runtime, reply, url, slot).await {
        Ok(response) => response,
        Err(failure) => match stale {
            Some(page) => reply.stale(&page, failure.reason),
            None => failure.answer,
        },
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Why a saved copy is served instead of a fresh page; each notice says what happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stale {
    /// Unreachable, too slow, or a server error.
    NotAnswering,
    /// The upstream turned the mirror away (403, 429, 451 and other refusals).
    Refused(StatusCode),
    /// The upstream now sends this page off the site.
    Moved,
    /// Too many pages are being prepared at once.
    Busy,
    /// The upstream sent less than the saved copy holds.
    Incomplete,
    /// Another reader's fetch of this page failed just now.
    FetchFailed,
}

impl Stale {
    /// The `detail` of the `Cache-Status` of a saved copy served for this reason.
    fn token(self) -> &'static str {
        match self {
            Self::NotAnswering => "upstream-failed",
            Self::Refused(_) => "upstream-refused",
            Self::Moved => "upstream-moved",
            Self::Busy => "busy",
            Self::Incomplete => "upstream-incomplete",
            Self::FetchFailed => "collapsed-fetch-failed",
        }
    }

    fn notice(self, words: &Words<'_>) -> String {
        let message = match self {
            Self::NotAnswering => Message::StaleNotAnswering,
            Self::Refused(status) => {
                let status = words.number(&status.as_u16().to_string());
                return words.fill(Message::StaleRefused, &[("status", &status)]);
            }
            Self::Moved => Message::StaleMoved,
            Self::Busy => Message::StaleBusy,
            Self::Incomplete => Message::StaleIncomplete,
            Self::FetchFailed => Message::StaleFetchFailed,
        };
        words.text(message).to_owned()
    }
}

/// A fetch that did not give a page: the answer for a reader without a saved copy, and
/// the reason the saved copy is served instead when there is one.
struct Failure {
    reason: Stale,
    answer: Response<Body>,
}

/// How to answer for one site and one reader.
#[derive(Clone)]
struct Reply<'a> {
    site: &'a Site,
    /// The site's words, for pages that have no language of their own (errors).
    words: Words<'a>,
    coding: Coding,
    head: bool,
    if_none_match: Option<&'a str>,
    if_modified_since: Option<&'a str>,
    /// How long past freshness the cache serves a saved copy when the upstream fails; a
    /// CDN in front is told the same.
    stale_if_error: Duration,
    metrics: &'a Arc<Metrics>,
    trace: &'a Trace,
    /// Detections allowed to run at once.
    detections: &'a tokio::sync::Semaphore,
}

impl Reply<'_> {
    fn message(
        &self,
        status: StatusCode,
        heading: Message,
        text: &str,
        link: Option<&Url>,
    ) -> Response<Body> {
        respond::message(
            status,
            self.site,
            self.words.text(heading),
            text,
            link,
            self.coding,
            self.head,
        )
    }

    fn upstream_failed(&self, e: &UpstreamError, url: &Url) -> Failure {
        tracing::warn!(site = %self.site.name, error = %e, "upstream failed");
        self.metrics.upstream_failed(&self.site.name, e.kind());
        let text = self.words.text(match e {
            UpstreamError::Timeout(_) => Message::ErrorTooSlow,
            UpstreamError::TooLarge(_) => Message::ErrorTooLarge,
            _ => Message::ErrorUnreachable,
        });
        Failure {
            reason: Stale::NotAnswering,
            answer: self.message(e.status(), Message::HeadingUnavailable, text, Some(url)),
        }
    }

    fn refused(&self, status: StatusCode, url: &Url) -> Failure {
        tracing::warn!(site = %self.site.name, %status, "upstream refused the request");
        self.metrics.upstream_failed(&self.site.name, "refused");
        Failure {
            reason: Stale::Refused(status),
            answer: self.message(
                status,
                Message::HeadingUnavailable,
                &self.words.fill(
                    Message::ErrorAnswered,
                    &[("status", &self.words.number(&status.as_u16().to_string()))],
                ),
                Some(url),
            ),
        }
    }

    fn busy(&self) -> Failure {
        tracing::warn!(site = %self.site.name, "memory for pages in flight is in use; turning a miss away");
        self.metrics.upstream_failed(&self.site.name, "busy");
        let mut answer = self.message(
            StatusCode::SERVICE_UNAVAILABLE,
            Message::HeadingBusy,
            self.words.text(Message::ErrorBusy),
            None,
        );
        answer
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        Failure {
            reason: Stale::Busy,
            answer,
        }
    }

    fn conversion_failed(&self, why: &str, url: &Url) -> Failure {
        tracing::warn!(site = %self.site.name, error = why, "conversion failed");
        Failure {
            reason: Stale::Incomplete,
            answer: self.message(
                StatusCode::BAD_GATEWAY,
                Message::HeadingUnavailable,
                self.words.text(Message::ErrorNotConverted),
                Some(url).filter(|u| is_web(u)),
            ),
        }
    }

    /// A cached page, or 304 when the reader's copy is current.
    fn cached(&self, page: &StoredPage, served: Served) -> Response<Body> {
        let status = StatusCode::from_u16(page.status).unwrap_or(StatusCode::OK);
        let mut response = if cache::not_modified(page, self.if_none_match, self.if_modified_since)
        {
            respond::not_modified()
        } else {
            let encoded = match self.coding {
                Coding::Brotli => page.brotli.clone(),
                Coding::Gzip => page.gzip.clone(),
                Coding::Identity => page.body.clone(),
            };
            respond::prepared(status, encoded, self.coding, self.head)
        };
        let age = page.age(SystemTime::now());
        let remaining = page.fresh_for.saturating_sub(age);
        let headers = response.headers_mut();
        let status = match served {
            Served::Hit => format!("{CACHE_NAME}; hit; ttl={}", remaining.as_secs()),
            Served::Collapsed => format!("{CACHE_NAME}; fwd=miss; collapsed"),
            Served::Stored => format!("{CACHE_NAME}; fwd=miss; stored"),
        };
        insert_cache_status(headers, &status);
        headers.insert(header::AGE, HeaderValue::from(age.as_secs()));
        if let Ok(etag) = HeaderValue::from_str(&page.etag) {
            headers.insert(header::ETAG, etag);
        }
        if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(page.last_modified)) {
            headers.insert(header::LAST_MODIFIED, date);
        }
        // Caches downstream subtract `Age` from the lifetime themselves.
        insert_cache_control(headers, &self.shared_cache_control(page.fresh_for));
        response
    }

    /// `Cache-Control` of a page a shared cache in front may keep for `fresh`.
    fn shared_cache_control(&self, fresh: Duration) -> String {
        format!(
            "public, max-age={}, stale-if-error={}",
            fresh.as_secs(),
            self.stale_if_error.as_secs()
        )
    }

    /// A saved copy served in place of a fresh page, with why and how old it is on the page.
    fn stale(&self, page: &StoredPage, reason: Stale) -> Response<Body> {
        // The notice is in the saved page's own language, as the rest of its shell is.
        let words = self.site.words(page::lang_of(&page.body));
        let notice =
            page::stale_notice(&reason.notice(&words), page.age(SystemTime::now()), &words);
        let body =
            String::from_utf8_lossy(&page.body).replacen("<main>", &format!("<main>{notice}"), 1);
        let mut response = respond::html(StatusCode::OK, body.as_bytes(), self.coding, self.head);
        let headers = response.headers_mut();
        insert_cache_control(headers, "no-store");
        insert_cache_status(
            headers,
            &format!("{CACHE_NAME}; fwd=stale; detail={}", reason.token()),
        );
        headers.insert(
            header::AGE,
            HeaderValue::from(page.age(SystemTime::now()).as_secs()),
        );
        response
    }
}

/// How the cache took part in a cached answer, for `Cache-Status` (RFC 9211).
#[derive(Debug, Clone, Copy)]
enum Served {
    /// A fresh copy, no fetch.
    Hit,
    /// Another reader's fetch of the same page, shared.
    Collapsed,
    /// This reader's own fetch, stored as it was served.
    Stored,
}

/// The cache's name in `Cache-Status`.
const CACHE_NAME: &str = "lightmirror";

fn insert_cache_status(headers: &mut HeaderMap, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(CACHE_STATUS, value);
    }
}

/// RFC 9211's header; `http` has no constant for it.
const CACHE_STATUS: header::HeaderName = header::HeaderName::from_static("cache-status");

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

/// What became of a finished page.
enum Kept {
    /// Stored: serve it from the cache's copy.
    Stored(Arc<StoredPage>),
    /// Not storable (`no-store` and the like): serve these bytes to this reader only.
    Unshared(Vec<u8>),
    /// Worse than the saved copy, which was kept and is served instead.
    Declined(Arc<StoredPage>),
}

impl CacheSlot {
    /// Tells the readers waiting on this fetch that the upstream's answer is not theirs
    /// to share.
    fn unshared(mut self) {
        if let Some(leader) = self.leader.take() {
            leader.finish(Landing::Unshared);
        }
    }

    /// Stores a complete page when the upstream allows keeping it and it is worth at least
    /// the copy already saved, and tells the readers waiting on this fetch.
    async fn complete(mut self, page: Vec<u8>, keeping: &Keeping, quality: Quality) -> Kept {
        let (kept, landing) = match keeping.fresh_for {
            Some(fresh_for) => {
                let last_modified = keeping.last_modified;
                // Compressing a large page twice is CPU work of tens of milliseconds: keep
                // it off the threads that serve cache hits.
                let page = tokio::task::spawn_blocking(move || {
                    StoredPage::new(200, Bytes::from(page), last_modified, fresh_for, quality)
                })
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
                match self.cache.store(&self.key, page).await {
                    Stored::Accepted(page) => {
                        (Kept::Stored(Arc::clone(&page)), Landing::Page(page))
                    }
                    // Followers hold the saved copy too, if they hold any: serving it is
                    // theirs to decide, as for a failed fetch.
                    Stored::Declined { kept, .. } => (Kept::Declined(kept), Landing::Failed),
                }
            }
            None => (Kept::Unshared(page), Landing::Unshared),
        };
        if let Some(leader) = self.leader.take() {
            leader.finish(landing);
        }
        kept
    }
}

/// What a finished conversion is worth against a saved copy.
fn quality_of(finished: &Finished, close_delimited: bool) -> Quality {
    Quality {
        text_chars: u32::try_from(finished.text.chars().count()).unwrap_or(u32::MAX),
        whole: !close_delimited || finished.document_ended,
    }
}

/// Fetches and converts. `Err` carries the answer for a failure, which the caller
/// replaces with a stale copy when it has one.
async fn fetch_and_convert(
    runtime: &Runtime,
    reply: &Reply<'_>,
    url: Url,
    slot: CacheSlot,
) -> Result<Response<Body>, Failure> {
    let site = reply.site;
    let limits = &runtime.config.limits;
    let charge = runtime
        .budget
        .admit(ADMISSION_BYTES, ADMISSION_WAIT)
        .await
        .map_err(|_| reply.busy())?;
    let permit = match runtime.permits.get(&site.name) {
        Some(permits) => {
            match tokio::time::timeout(limits.upstream_timeout, permits.acquire_owned()).await {
                Ok(Ok(permit)) => Some(permit),
                _ => {
                    return Err(reply
                        .upstream_failed(&UpstreamError::Timeout(limits.upstream_timeout), &url))
                }
            }
        }
        None => None,
    };
    runtime
        .metrics
        .upstream_fetches
        .get_or_create(&SiteLabels {
            site: site.name.clone(),
        })
        .inc();
    let asked = Instant::now();
    let fetched = runtime.fetcher.fetch(site, url.clone()).await;
    let took = asked.elapsed();
    runtime.metrics.upstream_took(&site.name, took);
    reply
        .trace
        .upstream_ms
        .store(took.as_millis() as u64, Ordering::Relaxed);
    let upstream = match fetched {
        Ok(Outcome::Page(response)) => *response,
        Ok(Outcome::Elsewhere(target)) => {
            runtime.metrics.upstream_failed(&site.name, "moved");
            return Err(Failure {
                reason: Stale::Moved,
                answer: reply.message(
                    StatusCode::OK,
                    Message::HeadingElsewhere,
                    reply.words.text(Message::ErrorLeadsAway),
                    Some(&target),
                ),
            });
        }
        Ok(Outcome::Unlinkable(scheme)) => {
            tracing::warn!(site = %site.name, %scheme, "redirect off the web not shown");
            runtime.metrics.upstream_failed(&site.name, "moved");
            return Err(Failure {
                reason: Stale::Moved,
                answer: reply.message(
                    StatusCode::OK,
                    Message::HeadingElsewhere,
                    reply.words.text(Message::ErrorUnlinkable),
                    None,
                ),
            });
        }
        Err(e) => return Err(reply.upstream_failed(&e, &url)),
    };
    if upstream
        .cache_control
        .as_deref()
        .is_some_and(|cc| cc.to_ascii_lowercase().contains("no-transform"))
    {
        slot.unshared();
        return Ok(redirect_to_original(&upstream.url));
    }
    if let Judged::Answer(answer) = judge_status(reply, &upstream)? {
        slot.unshared();
        return Ok(answer);
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
    let fetch = Fetch {
        started: Instant::now(),
        upstream,
        conversion,
        charge,
        permit,
        slot,
        keeping,
    };
    if fetch.conversion.streams() {
        stream_page(reply, fetch, limits.rewriter_memory).await
    } else {
        whole_page(reply, fetch).await
    }
}

/// What an upstream status means for the reader.
enum Judged {
    /// A page to convert.
    Page,
    /// A valid answer that is not a page and must not be replaced by a saved copy.
    Answer(Response<Body>),
}

/// Which upstream answers are pages to convert. A missing page stays missing; every other
/// answer that is not a success is a failure, for which a saved copy beats an error page:
/// a CDN turning a mirror away (403, 429), a legal block (451), a server error.
fn judge_status(reply: &Reply<'_>, upstream: &Upstream) -> Result<Judged, Failure> {
    let status = upstream.status;
    if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
        return Ok(Judged::Answer(reply.message(
            status,
            Message::HeadingNotFound,
            reply.words.text(Message::ErrorNoSuchPage),
            Some(&upstream.url),
        )));
    }
    if status.is_server_error() || status.is_redirection() {
        let e = UpstreamError::Unreachable(format!("upstream answered {status}"));
        return Err(reply.upstream_failed(&e, &upstream.url));
    }
    if !status.is_success() {
        return Err(reply.refused(status, &upstream.url));
    }
    let content_type = upstream.content_type.as_deref();
    if !upstream.is_html() && !feed::is_feed_type(content_type) {
        let kind = content_type.unwrap_or_default();
        let kind = kind.split(';').next().unwrap_or("unknown").trim();
        let text = reply.words.fill(Message::ErrorNotWeb, &[("kind", kind)]);
        return Ok(Judged::Answer(reply.message(
            StatusCode::OK,
            Message::HeadingNotWeb,
            &text,
            Some(&upstream.url),
        )));
    }
    Ok(Judged::Page)
}

fn redirect_to_original(url: &Url) -> Response<Body> {
    let mut response = respond::plain(
        StatusCode::FOUND,
        "The publisher asks that this page is not transformed.",
    );
    // Only a web URL may be handed to a browser to follow.
    let location = Some(url.as_str())
        .filter(|_| is_web(url))
        .and_then(|u| HeaderValue::from_str(u).ok());
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// An upstream response being converted, with what it holds: memory, a fetch permit, the
/// cache slot the page goes to.
struct Fetch {
    /// When the upstream's response head arrived.
    started: Instant,
    upstream: Upstream,
    conversion: Conversion,
    charge: Charge,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    slot: CacheSlot,
    keeping: Keeping,
}

/// Reads the whole upstream body, converts it, answers with the finished page.
async fn whole_page(reply: &Reply<'_>, fetch: Fetch) -> Result<Response<Body>, Failure> {
    let Fetch {
        started,
        mut upstream,
        mut conversion,
        mut charge,
        permit,
        slot,
        keeping,
    } = fetch;
    loop {
        match upstream.chunk().await {
            Ok(Some(chunk)) => {
                charge
                    .grow(chunk.len() * GATHERING_BYTES_PER_BYTE)
                    .map_err(|_| reply.busy())?;
                conversion
                    .push(&chunk)
                    .map_err(|e| reply.conversion_failed(&e.to_string(), &upstream.url))?;
            }
            Ok(None) => break,
            Err(e) => return Err(reply.upstream_failed(&e, &upstream.url)),
        }
    }
    // The upstream is done with; the next fetch of this site need not wait for detection.
    drop(permit);
    // Detection is CPU work: a few at a time, each charged for its peak.
    let _detecting = reply.detections.acquire().await.map_err(|_| reply.busy())?;
    charge.overdraw(upstream.received() * DETECTING_BYTES_PER_BYTE);
    let url = upstream.url.clone();
    // Detection is CPU work of a millisecond or more: keep it off the I/O threads.
    let finished = tokio::task::spawn_blocking(move || conversion.finish())
        .await
        .map_err(|e| reply.conversion_failed(&e.to_string(), &url))?
        .map_err(|e| reply.conversion_failed(&e.to_string(), &url))?;
    let quality = quality_of(&finished, upstream.close_delimited);
    let page = finished.tail;
    reply.metrics.converted(
        &reply.site.name,
        "detected",
        started.elapsed(),
        page.len(),
        upstream.received(),
    );
    Ok(match slot.complete(page, &keeping, quality).await {
        Kept::Stored(stored) => reply.cached(&stored, Served::Stored),
        Kept::Declined(kept) => reply.stale(&kept, Stale::Incomplete),
        Kept::Unshared(page) => {
            let mut response = respond::html(StatusCode::OK, &page, reply.coding, reply.head);
            insert_cache_control(response.headers_mut(), "no-store");
            // Until the reader has taken it, the page is memory in flight.
            let held = charge.bytes().min(page.len());
            respond::holding(response, charge.split(held))
        }
    })
}

/// Converts as the upstream body arrives. The response starts once the first Light bytes
/// exist, so a failure before then still gets a clean error page; after it, the page is
/// closed with a notice and is not cached.
///
/// The upstream side never waits on the reader: the conversion runs to its end (and to
/// the cache) at the upstream's pace, and what the reader has not taken yet is held up to
/// `unsent_limit` bytes, past which that reader is cut off.
async fn stream_page(
    reply: &Reply<'_>,
    fetch: Fetch,
    unsent_limit: usize,
) -> Result<Response<Body>, Failure> {
    let Fetch {
        started,
        mut upstream,
        mut conversion,
        mut charge,
        permit,
        slot,
        keeping,
    } = fetch;
    let metrics = Arc::clone(reply.metrics);
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
                let quality = quality_of(&done, upstream.close_delimited);
                return Ok(match slot.complete(done.tail, &keeping, quality).await {
                    Kept::Stored(stored) => reply.cached(&stored, Served::Stored),
                    Kept::Declined(kept) => reply.stale(&kept, Stale::Incomplete),
                    Kept::Unshared(page) => {
                        respond::html(StatusCode::OK, &page, reply.coding, reply.head)
                    }
                });
            }
            Err(e) => return Err(reply.upstream_failed(&e, &upstream.url)),
        }
    }
    let unsent = charge.split(charge.bytes());
    if charge.grow(first.len() * STREAMED_BYTES_PER_BYTE).is_err() {
        return Err(reply.busy());
    }
    let (mut reader, mut response) = respond::streamed(reply.coding, unsent, unsent_limit);
    let cache_control = match keeping.fresh_for {
        Some(fresh) => reply.shared_cache_control(fresh),
        None => "no-store".to_owned(),
    };
    insert_cache_control(response.headers_mut(), &cache_control);
    insert_cache_status(response.headers_mut(), &format!("{CACHE_NAME}; fwd=miss"));
    if reply.head {
        // The reader wants no body; the page still goes to the cache.
        reader.cut();
    }
    let mut encoder = StreamEncoder::new(reply.coding);
    let site = reply.site.name.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let mut whole = first.clone();
        reader.send(encoder.push(&first));
        let failure = loop {
            match upstream.chunk().await {
                Ok(Some(chunk)) => match conversion.push(&chunk) {
                    Ok(out) if out.is_empty() => {}
                    Ok(out) => {
                        if charge.grow(out.len() * STREAMED_BYTES_PER_BYTE).is_err() {
                            break "the memory for pages in flight is in use".to_owned();
                        }
                        whole.extend_from_slice(&out);
                        reader.send(encoder.push(&out));
                    }
                    Err(e) => break e.to_string(),
                },
                Ok(None) => match conversion.finish() {
                    Ok(done) => {
                        let quality = quality_of(&done, upstream.close_delimited);
                        whole.extend_from_slice(&done.tail);
                        let mut last = encoder.push(&done.tail).to_vec();
                        last.extend_from_slice(&encoder.finish());
                        reader.send(Bytes::from(last));
                        reader.finish();
                        metrics.converted(
                            &site,
                            "streamed",
                            started.elapsed(),
                            whole.len(),
                            upstream.received(),
                        );
                        slot.complete(whole, &keeping, quality).await;
                        return;
                    }
                    Err(e) => {
                        // The pass failed on the page's last bytes, after which no shell
                        // tail can be trusted: abort so the reader's client sees the cut.
                        tracing::warn!(%site, error = %e, "conversion failed at the end of the page");
                        reader.abort(&e.to_string());
                        return;
                    }
                },
                Err(e) => break e.to_string(),
            }
        };
        tracing::warn!(%site, error = %failure, "page cut short");
        if let Some(tail) = conversion.close_with_notice(Message::CutShort) {
            let mut last = encoder.push(&tail).to_vec();
            last.extend_from_slice(&encoder.finish());
            reader.send(Bytes::from(last));
            reader.finish();
        }
    });
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, uri: &str, hosts: &[&str]) -> Request<()> {
        let mut builder = Request::builder().version(version).uri(uri);
        for host in hosts {
            builder = builder.header(header::HOST, *host);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn one_host_per_request() {
        let v11 = Version::HTTP_11;
        assert_eq!(
            reader_host(&request(v11, "/", &["light.test"])),
            Ok("light.test")
        );
        assert!(reader_host(&request(v11, "/", &["light.test", "evil.test"])).is_err());
        assert!(reader_host(&request(v11, "/", &["light.test", "light.test"])).is_err());
        assert!(reader_host(&request(v11, "/", &[])).is_err());
    }

    #[test]
    fn http2_host_must_agree_with_authority() {
        let v2 = Version::HTTP_2;
        let uri = "https://light.test/page";
        assert_eq!(reader_host(&request(v2, uri, &[])), Ok("light.test"));
        assert_eq!(
            reader_host(&request(v2, uri, &["LIGHT.test"])),
            Ok("light.test")
        );
        assert!(reader_host(&request(v2, uri, &["evil.test"])).is_err());
        assert!(reader_host(&request(v2, uri, &["light.test", "light.test"])).is_err());
    }
}
