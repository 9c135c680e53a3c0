//! One request, start to end, as a list of phases, each a function below: [`route`] it to
//! a site and upstream URL, [`lookup`] the cache (a fresh copy, or a shared flight's
//! page), [`fetch`] the upstream page (one fetch for all concurrent readers of it, within
//! the site's concurrency bound and the memory budget), [`judge`] the upstream's answer,
//! [`convert`] it to a Light page (streamed when the site's rules allow it), [`respond`]
//! when no fresh page came of it, and [`log`] the request. When the upstream fails,
//! refuses the mirror, sends the page elsewhere or sends less than the saved copy holds,
//! the saved copy is served, with a notice that says which; without one, a short error
//! page whose status says what went wrong ([`PageError::status`]). Every request ends
//! within a bounded time.
//!
//! The shell's markup is `page.rs`'s and the `Cache-Control` values are the cache
//! policy's; this module only joins the phases.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use url::Url;

use super::assets;
use super::cache_status::{self, CacheStatus};
use super::client;
use super::respond::{self, Body};
use super::Runtime;
use crate::budget::{
    Charge, ADMISSION_BYTES, DETECTING_BYTES_PER_BYTE, GATHERING_BYTES_PER_BYTE,
    STREAMED_BYTES_PER_BYTE,
};
use crate::cache::{
    self, Elected, FlightLeader, Landing, Lookup, PageCache, Quality, Stored, StoredPage,
    NOT_STORED,
};
use crate::compress::{negotiate, Coding, StreamEncoder};
use crate::config::Site;
use crate::convert::{Conversion, Finished};
use crate::error::{ConvertError, PageError, RouteError, UpstreamError};
use crate::extract::LOW_CONFIDENCE;
use crate::feed::{self, FeedError};
use crate::fleet;
use crate::lang::{Message, Words};
use crate::metrics::{status_class, CacheResult, Metrics, RequestLabels, SiteLabels};
use crate::page;
use crate::rewrite::policy::is_web;
use crate::route::{self, SitePage};
use crate::upstream::challenge;
use crate::upstream::{Outcome, Response as Upstream};

/// The path that answers health checks on any host.
pub(crate) const HEALTH_PATH: &str = "/_light/health";

/// How long a new miss waits for room in the memory budget before it is turned away.
pub(super) const ADMISSION_WAIT: Duration = Duration::from_secs(1);

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
    let routed = route(&request, &runtime.sites);
    let answer = answer(&request, &runtime, &routed, &trace);
    let response = match tokio::time::timeout(request_deadline(&runtime), answer).await {
        Ok(response) => response,
        Err(_) => respond::plain(
            StatusCode::GATEWAY_TIMEOUT,
            "The page took too long to prepare.",
        ),
    };
    let response = with_onion_location(mark_uncached(response), &routed, request.uri());
    log(
        &request, &response, &runtime, peer, &routed, &trace, started,
    );
    response
}

/// The phases after routing, for a request that may name a page.
async fn answer(
    request: &Request<Incoming>,
    runtime: &Runtime,
    routed: &Routed<'_>,
    trace: &Trace,
) -> Response<Body> {
    let (site, page, key, feed) = match &routed.target {
        Ok(Target::Health) => return respond::plain(StatusCode::OK, "ok"),
        Ok(Target::Image(site)) => {
            let coding = negotiate(header_text(request.headers(), header::ACCEPT_ENCODING));
            let head = request.method() == http::Method::HEAD;
            let path = request.uri().path();
            return Box::pin(super::image::serve(runtime, site, path, coding, head)).await;
        }
        Ok(Target::Robots(site)) => return Box::pin(assets::robots(runtime, site)).await,
        Ok(Target::ImagePath) => return assets::image(request.uri().path()),
        Ok(Target::Page {
            site,
            page,
            key,
            feed,
        }) => (*site, page, key, *feed),
        Err(Refusal::Request(error)) => return refusal(error),
        Err(Refusal::Path(site, error)) => {
            return Reply::new(request, runtime, site, trace).not_served(error);
        }
    };
    let reply = Reply::new(request, runtime, site, trace);
    if feed {
        Box::pin(serve_feed(runtime, &reply, page, key)).await
    } else {
        serve_page(runtime, &reply, page, key).await
    }
}

/// Phases 2 to 6 for one page: a fresh copy, or a fetch judged and converted, with the
/// saved copy or an error page for a failure.
async fn serve_page(
    runtime: &Runtime,
    reply: &Reply<'_>,
    page: &SitePage,
    key: &str,
) -> Response<Body> {
    let (stale, leader) = match lookup(runtime, key).await {
        Looked::Cached(page, served) => return reply.cached(&page, served),
        Looked::FlightFailed(stale) => return reply.stale(&stale, Stale::FetchFailed),
        Looked::Fetch { stale, leader } => (stale, leader),
    };
    let slot = CacheSlot {
        cache: runtime.cache.clone(),
        key: key.to_owned(),
        leader,
        default_ttl: runtime.config.cache.ttl,
    };
    let url = match page.url(reply.site) {
        Ok(url) => url,
        Err(error) => {
            slot.unshared();
            return reply.not_served(&error);
        }
    };
    // On the heap, as a flight's wait is (see `lookup`).
    match Box::pin(fetch_judge_convert(runtime, reply, &url, slot)).await {
        Ok(response) => response,
        Err(failure) => respond(reply, failure, stale.as_deref()),
    }
}

/// A listing's Light Atom feed: the Light page served as it would be (from the cache or
/// fetched), read back into Atom. Anything but a Light page (an error page, a redirect)
/// is passed on as it is.
async fn serve_feed(
    runtime: &Runtime,
    reply: &Reply<'_>,
    page: &SitePage,
    key: &str,
) -> Response<Body> {
    // The upstream URL only names the page in an error answer: a feed served from the
    // cache builds none.
    let failed = |error: PageError| match page.url(reply.site) {
        Ok(url) => respond(reply, Failure::at(error, &url), None),
        Err(error) => reply.not_served(&error),
    };
    let whole = Reply {
        coding: Coding::Identity,
        head: false,
        if_none_match: None,
        if_modified_since: None,
        ..reply.clone()
    };
    let response = serve_page(runtime, &whole, page, key).await;
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
        Err(e) => return failed(ConvertError::Abandoned(e.to_string()).into()),
    };
    let xml = match feed::to_atom(&String::from_utf8_lossy(&page), modified.into()) {
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
        Err(e) => return failed(ConvertError::Feed(e).into()),
    };
    let mut response = respond::document(
        StatusCode::OK,
        feed::ATOM_CONTENT_TYPE,
        &xml,
        reply.coding,
        reply.head,
    );
    for name in [header::CACHE_CONTROL, header::LAST_MODIFIED] {
        if let Some(value) = parts.headers.get(&name) {
            response.headers_mut().insert(name, value.clone());
        }
    }
    if let Some(status) = parts.extensions.get::<CacheStatus>() {
        cache_status::mark(&mut response, *status);
    }
    response
}

/// Fetch, judge and convert: the phases that end in a fresh page or a [`Failure`].
async fn fetch_judge_convert(
    runtime: &Runtime,
    reply: &Reply<'_>,
    url: &Url,
    slot: CacheSlot,
) -> Result<Response<Body>, Failure> {
    let mut fetched = fetch(runtime, reply, url).await?;
    let judgement = screen(&mut fetched.upstream).await.map_err(|e| match e {
        PageError::Challenged(_) => Failure::at(e, url),
        e => Failure::at(e, &fetched.upstream.url),
    })?;
    if judgement != Judgement::Convert {
        slot.unshared();
        return Ok(reply.judged(judgement, &fetched.upstream));
    }
    convert(runtime, reply, fetched, slot).await
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

/// A follower's wait, a permit's, the budget's and the upstream's own timeout, each
/// bounded on its own; this bounds them together.
fn request_deadline(runtime: &Runtime) -> Duration {
    runtime.config.limits.upstream_timeout * 4 + ADMISSION_WAIT
}

/// Where routing sent a request.
#[derive(Debug)]
struct Routed<'s> {
    /// The one host the request names.
    host: Result<&'s str, RouteError>,
    /// The site that host names, counted in metrics and the log even when the request
    /// itself is refused.
    site: Option<&'s Arc<Site>>,
    /// What the request asks for.
    target: Result<Target<'s>, Refusal<'s>>,
}

/// What a routed request asks for.
#[derive(Debug)]
enum Target<'s> {
    /// The health check, answered on any host.
    Health,
    /// The Light image the path names, on `site` (see `image.rs`).
    Image(&'s Site),
    /// `/robots.txt` of a site.
    Robots(&'s Site),
    /// An image path, answered without a fetch.
    ImagePath,
    /// The `page` of `site`, cached under `key`; as its Light Atom feed when `feed`.
    Page {
        site: &'s Arc<Site>,
        page: SitePage,
        key: String,
        feed: bool,
    },
}

/// A request routing turns away.
#[derive(Debug)]
enum Refusal<'s> {
    /// Not a request for any site's page (method, form, host): a plain-text answer.
    Request(RouteError),
    /// A path the site does not serve: answered in the site's shell.
    Path(&'s Arc<Site>, RouteError),
}

/// Phase 1, route: the method and request-target form, the health path, the site the one
/// Host names, its paths that are not articles (`robots.txt`, images), and the upstream
/// URL and cache key the path means under the site's rules.
fn route<'s, B>(request: &'s Request<B>, sites: &'s [Arc<Site>]) -> Routed<'s> {
    let host = reader_host(request);
    let site = host
        .clone()
        .and_then(|host| route::site_for_host(sites, host));
    let uri = request.uri();
    let target = match route::check_request(request.method(), uri, request.version()) {
        Err(error) => Err(Refusal::Request(error)),
        Ok(()) if uri.path() == HEALTH_PATH => Ok(Target::Health),
        Ok(()) => match &site {
            Err(error) => Err(Refusal::Request(error.clone())),
            Ok(site) if uri.path().starts_with(crate::image::PREFIX) => Ok(Target::Image(site)),
            Ok(site) if uri.path() == assets::ROBOTS_PATH => Ok(Target::Robots(site)),
            Ok(_) if assets::is_image_path(uri.path()) => Ok(Target::ImagePath),
            Ok(site) => {
                let (query, feed) = feed_request(uri.query());
                let page = SitePage::of(site, uri.path(), query.as_deref());
                match page.and_then(|page| Ok((page.cache_key(site)?, page))) {
                    Ok((key, page)) => Ok(Target::Page {
                        site,
                        page,
                        key,
                        feed,
                    }),
                    Err(error) => Err(Refusal::Path(site, error)),
                }
            }
        },
    };
    Routed {
        host,
        site: site.ok(),
        target,
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

/// The plain-text answer to a request routing refused; a refused method is told which
/// ones are allowed.
fn refusal(error: &RouteError) -> Response<Body> {
    let status = error.status();
    let mut response = respond::plain(status, &error.to_string());
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    response
}

/// The one host a request names. RFC 9112 §3.2 makes an HTTP/1.1 request without a Host,
/// or with two, a 400; RFC 9113 §8.3.1 makes an HTTP/2 request whose `host` differs from
/// its `:authority` malformed. Reading such a request one way when another part of the
/// chain reads it another is how routing gets fooled, so none is guessed at.
fn reader_host<B>(request: &Request<B>) -> Result<&str, RouteError> {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(RouteError::TwoHosts);
    }
    let host = match host {
        Some(value) => Some(value.to_str().map_err(|_| RouteError::HostNotText)?),
        None => None,
    };
    let authority = request.uri().authority().map(|a| a.as_str());
    match (request.version(), authority, host) {
        (v, Some(authority), Some(host)) if v >= Version::HTTP_2 => {
            if authority.eq_ignore_ascii_case(host) {
                Ok(authority)
            } else {
                Err(RouteError::HostMismatch)
            }
        }
        (_, Some(authority), None) => Ok(authority),
        (_, _, Some(host)) => Ok(host),
        (_, None, None) => Err(RouteError::MissingHost),
    }
}

/// What the cache phase found.
enum Looked {
    /// A page to serve as it is, and how it came.
    Cached(Arc<StoredPage>, Served),
    /// Another reader's fetch of this page failed just now: its saved copy beats hitting
    /// a failing upstream once per waiting reader.
    FlightFailed(Arc<StoredPage>),
    /// Nothing to serve yet: fetch, as the flight's leader when `leader` is set, with the
    /// saved copy, if any, standing in should that fail.
    Fetch {
        stale: Option<Arc<StoredPage>>,
        leader: Option<FlightLeader>,
    },
}

/// Phase 2, cache lookup: a fresh copy, or the page of a fetch already under way for the
/// same key (waited on within twice the upstream timeout), else the right to fetch.
async fn lookup(runtime: &Runtime, key: &str) -> Looked {
    let stale = match runtime.cache.lookup(key).await {
        Lookup::Fresh(page) => return Looked::Cached(page, Served::Hit),
        Lookup::Stale(page) => Some(page),
        Lookup::Miss => None,
    };
    // On the heap: a hit's future, moved whole into the connection for every request,
    // stays the size of the lookup alone.
    Box::pin(join_flight(runtime, key, stale)).await
}

/// Phase 2 without a fresh copy: a flight's page, or the right to fetch.
async fn join_flight(runtime: &Runtime, key: &str, stale: Option<Arc<StoredPage>>) -> Looked {
    let cache = &runtime.cache;
    match cache.join(key) {
        cache::Flight::Leader(leader) => {
            // A flight for this key may have landed between the lookup and the join.
            if let Lookup::Fresh(page) = cache.lookup(key).await {
                leader.finish(Landing::Page(Arc::clone(&page)));
                return Looked::Cached(page, Served::Collapsed);
            }
            // One instance of the fleet fetches; the others take its page.
            let hold = runtime.config.limits.upstream_timeout * 2;
            match (cache.lead(key, leader, hold).await, stale) {
                (Elected::Landed(page), _) => Looked::Cached(page, Served::Collapsed),
                (Elected::Failed(_), Some(page)) => Looked::FlightFailed(page),
                (Elected::Fetch(leader) | Elected::Failed(leader), stale) => Looked::Fetch {
                    stale,
                    leader: Some(leader),
                },
            }
        }
        cache::Flight::Follower(follower) => {
            let wait = runtime.config.limits.upstream_timeout * 2;
            let landing = tokio::time::timeout(wait, follower.wait())
                .await
                .unwrap_or(Landing::Failed);
            match (landing, stale) {
                (Landing::Page(page), _) => Looked::Cached(page, Served::Collapsed),
                (Landing::Failed, Some(page)) => Looked::FlightFailed(page),
                // Nothing to share (no-store, a missing page) or no copy: fetch alone.
                (_, stale) => Looked::Fetch {
                    stale,
                    leader: None,
                },
            }
        }
    }
}

/// An upstream answer with what it holds: memory and a fetch permit.
pub(super) struct Fetched {
    pub(super) upstream: Upstream,
    pub(super) charge: Charge,
    pub(super) permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Phase 3, fetch: room in the memory budget, a permit of the site's concurrency bound,
/// then the upstream's response head. A redirect off the site is a failure: the page is
/// no longer where the saved copy came from.
pub(super) async fn fetch(
    runtime: &Runtime,
    reply: &Reply<'_>,
    url: &Url,
) -> Result<Fetched, Failure> {
    let site = reply.site;
    let limits = &runtime.config.limits;
    if let (Some(rate), Some(store)) = (site.upstream_rate, runtime.cache.fleet()) {
        fleet::rate::admit(store, &site.name, rate)
            .await
            .map_err(|wait| Failure::at(PageError::RateLimited(wait), url))?;
    }
    let charge = runtime
        .budget
        .admit(ADMISSION_BYTES, ADMISSION_WAIT)
        .await
        .map_err(|_| Failure::busy())?;
    let permit = match runtime.permits.get(&site.name) {
        Some(permits) => {
            match tokio::time::timeout(limits.upstream_timeout, permits.acquire_owned()).await {
                Ok(Ok(permit)) => Some(permit),
                _ => {
                    let timeout = UpstreamError::Timeout(limits.upstream_timeout);
                    return Err(Failure::at(timeout.into(), url));
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
    match fetched {
        Ok(Outcome::Page(upstream)) => Ok(Fetched {
            upstream: *upstream,
            charge,
            permit,
        }),
        Ok(Outcome::Elsewhere(target)) => Err(Failure::at(PageError::Moved(Some(target)), url)),
        Ok(Outcome::Unlinkable(scheme)) => {
            tracing::warn!(site = %site.name, %scheme, "redirect off the web not shown");
            Err(Failure::at(PageError::Moved(None), url))
        }
        Err(e) => Err(Failure::at(e.into(), url)),
    }
}

/// What an upstream answer is, for the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Judgement {
    /// A page to convert.
    Convert,
    /// The publisher asks that the page is not transformed: the reader is sent to it.
    NoTransform,
    /// The page does not exist (404, 410); a saved copy must not stand in for it.
    Missing(StatusCode),
    /// Not HTML, of this media type: only on the original site.
    NotHtml,
}

/// Phase 4 on a fetched response: a bot wall is a failure whatever its status (never
/// judged as a page, never kept); anything else is judged by [`judge`].
pub(super) async fn screen(upstream: &mut Upstream) -> Result<Judgement, PageError> {
    if let Some(sign) = challenge::detect(upstream).await? {
        return Err(PageError::Challenged(sign));
    }
    judge(
        upstream.status,
        upstream.content_type.as_deref(),
        upstream.cache_control.as_deref(),
    )
}

/// Phase 4, judge the upstream response by its status and headers. A missing page stays
/// missing; every other answer that is not a success is a failure, for which a saved copy
/// beats an error page: a CDN turning a mirror away (403, 429), a legal block (451), a
/// server error.
pub(super) fn judge(
    status: StatusCode,
    content_type: Option<&str>,
    cache_control: Option<&str>,
) -> Result<Judgement, PageError> {
    if cache::forbids_transform(cache_control) {
        return Ok(Judgement::NoTransform);
    }
    if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
        return Ok(Judgement::Missing(status));
    }
    if status.is_server_error() || status.is_redirection() {
        return Err(UpstreamError::Answered(status).into());
    }
    if !status.is_success() {
        return Err(PageError::Refused(status));
    }
    if !crate::upstream::is_html(content_type) && !feed::is_feed_type(content_type) {
        return Ok(Judgement::NotHtml);
    }
    Ok(Judgement::Convert)
}

/// A fetch that gave no fresh page: why, and the page it was for.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) error: PageError,
    /// The page fetched (after redirects within the site, once there is a response).
    page: Option<Url>,
}

impl Failure {
    pub(super) fn at(error: PageError, page: &Url) -> Self {
        Self {
            error,
            page: Some(page.clone()),
        }
    }

    fn busy() -> Self {
        Self {
            error: PageError::Busy,
            page: None,
        }
    }

    /// The link the reader's error page offers: where the page went, or the page itself.
    fn link(&self) -> Option<&Url> {
        match &self.error {
            PageError::Moved(target) => target.as_ref(),
            PageError::Busy | PageError::RateLimited(_) => None,
            _ => self.page.as_ref(),
        }
    }
}

/// Phase 6, respond when no fresh page came: the saved copy with a notice saying why,
/// else the error page whose status the failure knows. Every failure is logged and, when
/// the upstream's, counted.
fn respond(reply: &Reply<'_>, failure: Failure, stale: Option<&StoredPage>) -> Response<Body> {
    let site = &reply.site.name;
    tracing::warn!(%site, error = %failure.error, "no fresh page");
    if let Some(kind) = failure.error.upstream_kind() {
        reply.metrics.upstream_failed(site, kind);
    }
    if let Some(page) = stale {
        return reply.stale(page, Stale::from(&failure.error));
    }
    let (heading, text) = failure.error.explain(&reply.words);
    let link = failure.link().filter(|u| is_web(u));
    let mut answer = reply.message_text(failure.error.status(), &heading, &text, link);
    let retry_after = match &failure.error {
        PageError::Busy => Some(u64::from(RETRY_AFTER_SECS)),
        PageError::RateLimited(wait) => Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)),
        _ => None,
    };
    if let Some(seconds) = retry_after {
        answer
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    }
    answer
}

/// Marks an answer that did not say otherwise as uncacheable (`Cache-Status:
/// fwd=uri-miss`): errors, refusals and answers that may not be kept, of which nothing
/// usable was cached.
fn mark_uncached(mut response: Response<Body>) -> Response<Body> {
    if CacheStatus::of(&response).is_none() {
        cache_status::mark(&mut response, CacheStatus::Uncacheable);
    }
    response
}

/// Tor Browser's header offering a site's onion service; `http` has no constant for it.
const ONION_LOCATION: header::HeaderName = header::HeaderName::from_static("onion-location");

/// Adds `Onion-Location` (the same path and query on the site's onion service) to a Light
/// page served on one of the site's other hosts, when the site names its onion service.
fn with_onion_location(
    mut response: Response<Body>,
    routed: &Routed<'_>,
    uri: &http::Uri,
) -> Response<Body> {
    let (Some(site), Ok(host)) = (routed.site, &routed.host) else {
        return response;
    };
    let Some(onion) = &site.onion_location else {
        return response;
    };
    let name = host
        .split(':')
        .next()
        .unwrap_or_default()
        .trim_end_matches('.');
    let on_onion = name.to_ascii_lowercase().ends_with(".onion");
    let is_page = header_text(response.headers(), header::CONTENT_TYPE)
        .is_some_and(|ct| ct.starts_with("text/html"));
    if on_onion || !is_page {
        return response;
    }
    let mut target = onion.clone();
    target.set_path(uri.path());
    target.set_query(uri.query());
    if let Ok(value) = HeaderValue::from_str(target.as_str()) {
        response.headers_mut().insert(ONION_LOCATION, value);
    }
    response
}

/// Phase 7, log: counts the request by site, status class and cache result, and writes
/// its access-log line: site, host, method, path (its query only with `log_query`),
/// status, bytes (`-` while a streamed page is still going out), cache result, upstream
/// and total time, and the reader's address only with `log_client_ip`.
fn log<B>(
    request: &Request<B>,
    response: &Response<Body>,
    runtime: &Runtime,
    peer: SocketAddr,
    routed: &Routed<'_>,
    trace: &Trace,
    started: Instant,
) {
    let site = routed.site.map_or("none", |s| s.name.as_str());
    let cache = CacheStatus::of(response).map_or(CacheResult::uncacheable, CacheStatus::result);
    runtime
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            site: site.to_owned(),
            status: status_class(response.status()),
            cache,
        })
        .inc();
    let server = &runtime.config.server;
    let uri = request.uri();
    let path = match uri.query() {
        Some(query) if server.log_query => Cow::Owned(format!("{}?{query}", uri.path())),
        _ => Cow::Borrowed(uri.path()),
    };
    let path = &*path;
    let host = *routed.host.as_ref().unwrap_or(&"-");
    let bytes = header_text(response.headers(), header::CONTENT_LENGTH).unwrap_or("-");
    let upstream_ms = match trace.upstream_ms.load(Ordering::Relaxed) {
        u64::MAX => Cow::Borrowed("-"),
        ms => Cow::Owned(ms.to_string()),
    };
    let upstream_ms = &*upstream_ms;
    let total_ms = started.elapsed().as_millis() as u64;
    let method = request.method().as_str();
    let status = response.status().as_u16();
    let cache = cache.name();
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
    /// The upstream sent less than the saved copy holds, or a page that could not be
    /// converted.
    Incomplete,
    /// Another reader's fetch of this page failed just now.
    FetchFailed,
    /// The upstream answered with a bot check or block page instead of the page.
    Challenged,
    /// The fleet has made as many fetches of the site as `upstream_rate` allows.
    RateLimited,
}

impl From<&PageError> for Stale {
    fn from(error: &PageError) -> Self {
        match error {
            PageError::Upstream(_) => Self::NotAnswering,
            PageError::Refused(status) => Self::Refused(*status),
            PageError::Moved(_) => Self::Moved,
            PageError::Busy => Self::Busy,
            PageError::Convert(_) => Self::Incomplete,
            PageError::Challenged(_) => Self::Challenged,
            PageError::RateLimited(_) => Self::RateLimited,
        }
    }
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
            Self::Challenged => "upstream-challenge",
            Self::RateLimited => "upstream-rate",
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
            Self::Challenged => Message::StaleChallenged,
            Self::RateLimited => Message::StalePacing,
        };
        words.text(message).to_owned()
    }
}

/// How to answer for one site and one reader.
#[derive(Clone)]
pub(super) struct Reply<'a> {
    pub(super) site: &'a Arc<Site>,
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

impl<'a> Reply<'a> {
    fn new<B>(
        request: &'a Request<B>,
        runtime: &'a Runtime,
        site: &'a Arc<Site>,
        trace: &'a Trace,
    ) -> Self {
        let headers = request.headers();
        Self {
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
        }
    }

    /// The answer for a path the site does not serve.
    fn not_served(&self, error: &RouteError) -> Response<Body> {
        tracing::debug!(site = %self.site.name, %error, "path not served");
        let text = self.words.text(Message::ErrorNotServed);
        self.message(error.status(), Message::HeadingNotAvailable, text, None)
    }

    fn message(
        &self,
        status: StatusCode,
        heading: Message,
        text: &str,
        link: Option<&Url>,
    ) -> Response<Body> {
        self.message_text(status, self.words.text(heading), text, link)
    }

    fn message_text(
        &self,
        status: StatusCode,
        heading: &str,
        text: &str,
        link: Option<&Url>,
    ) -> Response<Body> {
        respond::message(
            status,
            self.site,
            heading,
            text,
            link,
            self.coding,
            self.head,
        )
    }

    /// The answer for an upstream response that is not a page to convert.
    fn judged(&self, judgement: Judgement, upstream: &Upstream) -> Response<Body> {
        let url = &upstream.url;
        match judgement {
            Judgement::NoTransform => redirect_to_original(url),
            Judgement::Missing(status) => self.message(
                status,
                Message::HeadingNotFound,
                self.words.text(Message::ErrorNoSuchPage),
                Some(url),
            ),
            Judgement::NotHtml | Judgement::Convert => {
                let kind = upstream.content_type.as_deref().unwrap_or_default();
                let kind = kind.split(';').next().unwrap_or("unknown").trim();
                let text = self.words.fill(Message::ErrorNotWeb, &[("kind", kind)]);
                self.message(StatusCode::OK, Message::HeadingNotWeb, &text, Some(url))
            }
        }
    }

    /// A cached page, or 304 when the reader's copy is current.
    fn cached(&self, page: &StoredPage, served: Served) -> Response<Body> {
        let mut response = if cache::not_modified(page, self.if_none_match, self.if_modified_since)
        {
            let mut response = respond::not_modified();
            self.cache_headers(response.headers_mut(), page);
            response
        } else {
            let status = StatusCode::from_u16(page.status).unwrap_or(StatusCode::OK);
            let encoded = match self.coding {
                Coding::Brotli => page.brotli.clone(),
                Coding::Gzip => page.gzip.clone(),
                Coding::Identity => page.body.clone(),
            };
            let headers = page.heads.get(self.coding, self.stale_if_error, || {
                let mut headers = respond::prepared_headers(encoded.len(), self.coding);
                self.cache_headers(&mut headers, page);
                headers
            });
            respond::with_headers(status, encoded, headers, self.head)
        };
        let age = page.age(SystemTime::now());
        let remaining = page.fresh_for.saturating_sub(age);
        let status = match served {
            Served::Hit => CacheStatus::Hit { ttl: remaining },
            Served::Collapsed => CacheStatus::Collapsed,
            Served::Stored => CacheStatus::Stored,
        };
        // In place of the placeholders, so the headers keep their order.
        cache_status::mark(&mut response, status);
        let headers = response.headers_mut();
        headers.insert(header::AGE, HeaderValue::from(age.as_secs()));
        response
    }

    /// The headers a cached page carries that change with the page but not with the
    /// request: validators and lifetime, after a placeholder for each one that changes
    /// with every answer (`Cache-Status`, `Age`), which keeps its place when it is set.
    fn cache_headers(&self, headers: &mut HeaderMap, page: &StoredPage) {
        let placeholder = HeaderValue::from_static("");
        headers.insert(cache_status::CACHE_STATUS, placeholder.clone());
        headers.insert(header::AGE, placeholder);
        if let Ok(etag) = HeaderValue::from_str(&page.etag) {
            headers.insert(header::ETAG, etag);
        }
        if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(page.last_modified)) {
            headers.insert(header::LAST_MODIFIED, date);
        }
        // Caches downstream subtract `Age` from the lifetime themselves.
        let cache_control = cache::shared_cache_control(page.fresh_for, self.stale_if_error);
        insert_cache_control(headers, &cache_control);
    }

    /// The answer for a page converted whole, once the cache has had it: the stored page,
    /// the saved copy it was worse than, or, when it may not be kept, the page itself for
    /// this reader alone, held against `charge` until the reader has taken it.
    fn finished(&self, kept: Kept, mut charge: Charge) -> Response<Body> {
        match kept {
            Kept::Stored(stored) => self.cached(&stored, Served::Stored),
            Kept::Declined(kept) => self.stale(&kept, Stale::Incomplete),
            Kept::Unshared(page) => {
                let mut response = respond::html(StatusCode::OK, &page, self.coding, self.head);
                insert_cache_control(response.headers_mut(), NOT_STORED);
                let held = charge.bytes().min(page.len());
                respond::holding(response, charge.split(held))
            }
        }
    }

    /// A saved copy served in place of a fresh page, with why and how old it is on the page.
    fn stale(&self, page: &StoredPage, reason: Stale) -> Response<Body> {
        let age = page.age(SystemTime::now());
        // The notice is in the saved page's own language, as the rest of its shell is.
        let words = self.site.words(page::lang_of(&page.body));
        let body = page::stale_page(&page.body, &reason.notice(&words), age, &words);
        let mut response = respond::html(StatusCode::OK, &body, self.coding, self.head);
        cache_status::mark(&mut response, CacheStatus::Stale(Some(reason.token())));
        let headers = response.headers_mut();
        insert_cache_control(headers, &cache::stale_cache_control(self.stale_if_error));
        headers.insert(header::AGE, HeaderValue::from(age.as_secs()));
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

impl Keeping {
    fn of(upstream: &Upstream, site: &Site, default_ttl: Duration) -> Self {
        Self {
            fresh_for: cache::freshness(
                upstream.cache_control.as_deref(),
                site.cache_ttl,
                default_ttl,
            ),
            last_modified: upstream
                .last_modified
                .as_deref()
                .and_then(|d| httpdate::parse_http_date(d).ok()),
        }
    }
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

/// Phase 5, convert: the upstream body to a Light page, streamed when the site's rules
/// allow it, else gathered and handed to detection; the page goes to the cache when the
/// upstream allows keeping it.
async fn convert(
    runtime: &Runtime,
    reply: &Reply<'_>,
    fetched: Fetched,
    slot: CacheSlot,
) -> Result<Response<Body>, Failure> {
    let limits = &runtime.config.limits;
    let Fetched {
        upstream,
        charge,
        permit,
    } = fetched;
    let keeping = Keeping::of(&upstream, reply.site, slot.default_ttl);
    let conversion = Conversion::with_image_sizes(
        reply.site,
        &upstream.url,
        limits,
        upstream.content_type.as_deref(),
        Some(runtime.images.sizes_for(reply.site)),
    )
    .map_err(|e| Failure::at(e.into(), &upstream.url))?;
    let fetch = Fetch {
        started: Instant::now(),
        upstream,
        conversion,
        charge,
        permit,
        slot,
        keeping,
    };
    // A joined article's following pages go before the footer, so its first page is
    // gathered whole even under `content` rules.
    if fetch.conversion.streams() && reply.site.join.is_none() {
        stream_page(reply, fetch, limits.rewriter_memory).await
    } else {
        whole_page(runtime, reply, fetch).await
    }
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

/// Reads the whole upstream body, converts it (and joins the article's following pages
/// when the site says so), answers with the finished page.
async fn whole_page(
    runtime: &Runtime,
    reply: &Reply<'_>,
    fetch: Fetch,
) -> Result<Response<Body>, Failure> {
    let Fetch {
        started,
        mut upstream,
        conversion,
        mut charge,
        permit,
        slot,
        keeping,
    } = fetch;
    let mut finished = gather(reply, &mut upstream, conversion, &mut charge, permit).await?;
    judged(reply.metrics, &reply.site.name, &upstream.url, &finished);
    let mut original_bytes = upstream.received();
    if let Some(rules) = super::join::applies(reply.site, &finished) {
        let first = (&upstream.url, upstream.received());
        (finished, original_bytes) =
            super::join::follow(runtime, reply, rules, first, finished, &mut charge).await;
    }
    let quality = quality_of(&finished, upstream.close_delimited);
    let page = finished.tail;
    reply.metrics.converted(
        &reply.site.name,
        "detected",
        started.elapsed(),
        page.len(),
        original_bytes,
    );
    let kept = slot.complete(page, &keeping, quality).await;
    Ok(reply.finished(kept, charge))
}

/// Reads a whole upstream body into its conversion and finishes it. The upstream's permit
/// goes back once the body is read; detection, CPU work of a millisecond or more, runs a
/// few at a time on a blocking thread, charged for its peak. The page in the result's
/// `tail` is whole whatever the conversion's mode: a streaming conversion's output is
/// gathered too.
pub(super) async fn gather(
    reply: &Reply<'_>,
    upstream: &mut Upstream,
    mut conversion: Conversion,
    charge: &mut Charge,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Result<Finished, Failure> {
    let mut page = Vec::new();
    loop {
        match upstream.chunk().await {
            Ok(Some(chunk)) => {
                charge
                    .grow(chunk.len() * GATHERING_BYTES_PER_BYTE)
                    .map_err(|_| Failure::busy())?;
                let out = conversion
                    .push(&chunk)
                    .map_err(|e| Failure::at(e.into(), &upstream.url))?;
                page.extend_from_slice(&out);
            }
            Ok(None) => break,
            Err(e) => return Err(Failure::at(e.into(), &upstream.url)),
        }
    }
    // The upstream is done with; the next fetch of this site need not wait for detection.
    drop(permit);
    let _detecting = reply
        .detections
        .acquire()
        .await
        .map_err(|_| Failure::busy())?;
    charge.overdraw(upstream.received() * DETECTING_BYTES_PER_BYTE);
    let url = upstream.url.clone();
    let mut finished = tokio::task::spawn_blocking(move || conversion.finish())
        .await
        .map_err(|e| ConvertError::Abandoned(e.to_string()))
        .and_then(|finished| finished)
        .map_err(|e| Failure::at(e.into(), &url))?;
    page.extend_from_slice(&finished.tail);
    finished.tail = page;
    Ok(finished)
}

/// Logs a finished conversion with detection's confidence in it, and counts those whose
/// page says the article may be incomplete. A page whose site's `content` rules matched
/// nothing, so its article was found by detection, is logged as a warning and counted:
/// the rules may need updating for a new page layout.
fn judged(metrics: &Metrics, site: &str, url: &Url, finished: &Finished) {
    let confidence = (finished.confidence * 100.0).round() / 100.0;
    tracing::info!(%site, path = url.path(), kind = ?finished.kind, confidence, "converted");
    if finished.confidence < LOW_CONFIDENCE {
        metrics.low_confidence(site);
    }
    if finished.content_fallback {
        tracing::warn!(%site, path = url.path(), "content rules matched nothing; article detected instead");
        metrics.content_fell_back(site);
    }
}

/// Keeps `held` charged for exactly what `conversion` holds back (see
/// [`Conversion::held`]): it grows while the `content` rules have not matched yet and is
/// given back once they have.
fn charge_held(held: &mut Charge, conversion: &Conversion) -> Result<(), crate::budget::Exhausted> {
    let now = conversion.held();
    match now.checked_sub(held.bytes()) {
        Some(more) => held.grow(more),
        None => {
            held.shrink(held.bytes() - now);
            Ok(())
        }
    }
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
    let mut held = charge.split(0);
    let mut first = Vec::new();
    while first.is_empty() {
        match upstream.chunk().await {
            Ok(Some(chunk)) => {
                first = conversion
                    .push(&chunk)
                    .map_err(|e| Failure::at(e.into(), &upstream.url))?;
                charge_held(&mut held, &conversion).map_err(|_| Failure::busy())?;
            }
            Ok(None) => {
                let url = upstream.url.clone();
                let done = conversion
                    .finish()
                    .map_err(|e| Failure::at(e.into(), &url))?;
                judged(reply.metrics, &reply.site.name, &url, &done);
                let quality = quality_of(&done, upstream.close_delimited);
                let kept = slot.complete(done.tail, &keeping, quality).await;
                return Ok(reply.finished(kept, charge));
            }
            Err(e) => return Err(Failure::at(e.into(), &upstream.url)),
        }
    }
    let unsent = charge.split(charge.bytes());
    if charge.grow(first.len() * STREAMED_BYTES_PER_BYTE).is_err() {
        return Err(Failure::busy());
    }
    let (mut reader, mut response) = respond::streamed(reply.coding, unsent, unsent_limit);
    let cache_control = match keeping.fresh_for {
        Some(fresh) => cache::shared_cache_control(fresh, reply.stale_if_error),
        None => NOT_STORED.to_owned(),
    };
    insert_cache_control(response.headers_mut(), &cache_control);
    cache_status::mark(&mut response, CacheStatus::Miss);
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
                    Ok(_) if charge_held(&mut held, &conversion).is_err() => {
                        break "the memory for pages in flight is in use".to_owned();
                    }
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
                        judged(&metrics, &site, &upstream.url, &done);
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

    fn sites() -> Vec<Arc<Site>> {
        let text = "[[site]]\nname = \"news\"\nupstream = \"https://news.example\"\n\
                    hosts = [\"light.test\"]\nallow_paths = [\"/world/\"]\n";
        crate::config::parse(text, "t").unwrap().1
    }

    fn routed(method: &str, uri: &str, host: &str) -> String {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, host)
            .body(())
            .unwrap();
        let sites = sites();
        let routed = route(&request, &sites);
        let site = routed.site.map_or("none", |s| s.name.as_str());
        match routed.target {
            Ok(Target::Health) => format!("{site}: health"),
            Ok(Target::Image(_)) => format!("{site}: image"),
            Ok(Target::Robots(_)) => format!("{site}: robots"),
            Ok(Target::ImagePath) => format!("{site}: no image"),
            Ok(Target::Page { site: s, page, .. }) => match page.url(s) {
                Ok(url) => format!("{site}: {url}"),
                Err(e) => format!("{site}: path {} when fetched", e.status().as_u16()),
            },
            Err(Refusal::Request(e)) => format!("{site}: refused {}", e.status().as_u16()),
            Err(Refusal::Path(_, e)) => format!("{site}: path {}", e.status().as_u16()),
        }
    }

    #[test]
    fn route_names_the_site_even_for_refused_requests() {
        assert_eq!(
            routed("GET", "/world/a?b=1", "LIGHT.test"),
            "news: https://news.example/world/a?b=1"
        );
        assert_eq!(
            routed("POST", "/world/a", "light.test"),
            "news: refused 405"
        );
        assert_eq!(routed("GET", "/sport/", "light.test"), "news: path 404");
        assert_eq!(routed("GET", "/world/%2F", "light.test"), "news: path 400");
        assert_eq!(routed("GET", "/world/a", "other.test"), "none: refused 404");
        assert_eq!(routed("GET", HEALTH_PATH, "other.test"), "none: health");
        assert_eq!(
            routed("GET", "/_light/img/aGk", "light.test"),
            "news: image"
        );
        assert_eq!(routed("GET", "/robots.txt", "light.test"), "news: robots");
        assert_eq!(
            routed("GET", "/favicon.ico", "light.test"),
            "news: no image"
        );
        assert_eq!(
            routed("GET", "/world/a.png", "light.test"),
            "news: no image"
        );
        assert_eq!(
            routed("GET", "/robots.txt", "other.test"),
            "none: refused 404"
        );
    }

    #[test]
    fn judge_reads_status_type_and_no_transform() {
        let html = Some("text/html; charset=utf-8");
        let ok = StatusCode::OK;
        assert_eq!(judge(ok, html, None).unwrap(), Judgement::Convert);
        assert_eq!(judge(ok, None, None).unwrap(), Judgement::Convert);
        assert_eq!(
            judge(ok, html, Some("public, no-transform")).unwrap(),
            Judgement::NoTransform
        );
        assert_eq!(
            judge(ok, Some("image/png"), None).unwrap(),
            Judgement::NotHtml
        );
        for missing in [StatusCode::NOT_FOUND, StatusCode::GONE] {
            assert_eq!(
                judge(missing, html, None).unwrap(),
                Judgement::Missing(missing)
            );
        }
        for failing in [StatusCode::BAD_GATEWAY, StatusCode::MOVED_PERMANENTLY] {
            let e = judge(failing, html, None).unwrap_err();
            assert_eq!(e.status(), StatusCode::BAD_GATEWAY, "{failing}");
            assert_eq!(Stale::from(&e), Stale::NotAnswering);
        }
        for refused in [StatusCode::FORBIDDEN, StatusCode::TOO_MANY_REQUESTS] {
            let e = judge(refused, html, None).unwrap_err();
            assert_eq!(e.status(), refused);
            assert_eq!(Stale::from(&e), Stale::Refused(refused));
        }
    }

    #[test]
    fn a_failure_links_where_the_reader_can_go() {
        let page = Url::parse("https://news.example/a").unwrap();
        let away = Url::parse("https://elsewhere.example/").unwrap();
        let moved = Failure::at(PageError::Moved(Some(away.clone())), &page);
        assert_eq!(moved.link(), Some(&away));
        assert_eq!(Failure::at(PageError::Moved(None), &page).link(), None);
        assert_eq!(Failure::busy().link(), None);
        let timeout = UpstreamError::Timeout(Duration::from_secs(1)).into();
        assert_eq!(Failure::at(timeout, &page).link(), Some(&page));
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
