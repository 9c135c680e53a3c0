//! Fetching from an upstream site within limits: addresses checked after DNS resolution on
//! every connection (no loopback, private, link-local or translated forms unless a site
//! allows it), redirects followed only within the site, bodies capped after
//! decompression, every wait bounded. The body is handed out chunk by chunk.
//!
//! A redirect is followed only to the upstream's own host and port, never from https to
//! http, and only to a path the site's rules serve, normalised as a request's path is.
//! The `www.` twin of the upstream host is not followed: the operator named one host,
//! and fetching another one (which may resolve anywhere) on an upstream's word would let
//! the upstream point the proxy at it. Anything else is [`Outcome::Elsewhere`], a link
//! for the reader, when it is on the web at all.
//!
//! Whether an answer is a bot wall rather than the page is `challenge`'s to say.

pub(crate) mod challenge;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::time::Instant;
use url::Url;

use crate::config::{LimitsConfig, Site};
pub(crate) use crate::error::UpstreamError;
use crate::rewrite::policy::is_web;
use crate::route::{self, NormalPath};

/// What the proxy says it is to upstreams.
const USER_AGENT: &str = concat!(
    "lightmirror/",
    env!("CARGO_PKG_VERSION"),
    " (Light version proxy)"
);

/// The upstream's answer: its status and headers, the final URL, and the body to read.
pub struct Response {
    /// Upstream status.
    pub status: StatusCode,
    /// The URL that answered, after redirects within the site.
    pub url: Url,
    /// `Content-Type`, if sent.
    pub content_type: Option<String>,
    /// `Cache-Control`, if sent.
    pub cache_control: Option<String>,
    /// `Last-Modified`, if sent.
    pub last_modified: Option<String>,
    /// `cf-mitigated`, if sent: the CDN says it answered with a challenge.
    pub mitigated: Option<String>,
    /// The body ends where the connection closes (HTTP/1 without length or chunked
    /// framing), so a body cut short cannot be told from a whole one.
    pub close_delimited: bool,
    body: reqwest::Response,
    /// The body's first bytes, read ahead by [`peek`](Self::peek) and not handed out yet.
    peeked: Option<Bytes>,
    /// The body ended while it was peeked at.
    ended: bool,
    received: usize,
    max_bytes: usize,
    deadline: Instant,
    timeout: Duration,
}

impl Response {
    /// The next body chunk, `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, UpstreamError> {
        if let Some(peeked) = self.peeked.take().filter(|p| !p.is_empty()) {
            return Ok(Some(peeked));
        }
        if self.ended {
            return Ok(None);
        }
        self.next_chunk().await
    }

    /// The body's first `want` bytes (fewer when it is shorter, or when `enough` says the
    /// bytes read so far suffice), read ahead without being consumed: [`chunk`](Self::chunk)
    /// hands them out first. For judging a page by its beginning before converting it.
    pub(crate) async fn peek(
        &mut self,
        want: usize,
        enough: impl Fn(&[u8]) -> bool,
    ) -> Result<&[u8], UpstreamError> {
        let mut head = bytes::BytesMut::from(self.peeked.take().unwrap_or_default());
        while head.len() < want && !self.ended && !enough(&head) {
            match self.next_chunk().await? {
                Some(chunk) => head.extend_from_slice(&chunk),
                None => self.ended = true,
            }
        }
        let head = self.peeked.insert(head.freeze());
        Ok(&head[..])
    }

    async fn next_chunk(&mut self) -> Result<Option<Bytes>, UpstreamError> {
        let next = tokio::time::timeout_at(self.deadline, self.body.chunk())
            .await
            .map_err(|_| UpstreamError::Timeout(self.timeout))?
            .map_err(|e| UpstreamError::Unreachable(describe(&e)))?;
        if let Some(chunk) = &next {
            self.received += chunk.len();
            if self.received > self.max_bytes {
                return Err(UpstreamError::TooLarge(self.max_bytes));
            }
        }
        Ok(next)
    }

    /// Bytes of body received so far.
    pub fn received(&self) -> usize {
        self.received
    }

    /// Whether the content is HTML (or unlabelled, which upstreams mean as HTML).
    pub(crate) fn is_html(&self) -> bool {
        is_html(self.content_type.as_deref())
    }
}

/// Whether a `Content-Type` names HTML; none at all is taken as HTML, as upstreams mean it.
pub(crate) fn is_html(content_type: Option<&str>) -> bool {
    content_type.is_none_or(|ct| {
        matches!(
            media_type(ct).as_str(),
            "text/html" | "application/xhtml+xml" | ""
        )
    })
}

/// The media type a `Content-Type` names, without its parameters, in lower case
/// (`text/html` of `Text/HTML; charset=utf-8`).
pub(crate) fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// What a fetch led to.
pub enum Outcome {
    /// A response from the site (any status).
    Page(Box<Response>),
    /// The site redirected to a URL off the site, or to a path the site does not serve:
    /// always an http or https URL, which the reader may be shown.
    Elsewhere(Url),
    /// The site redirected to a URL that is not on the web (`javascript:`, `data:`,
    /// `file:` ...), which is never shown as a link. The scheme is for the log.
    Unlinkable(String),
}

/// HTTP clients for upstream sites: one that refuses non-public addresses and one for
/// sites that allow them.
#[derive(Clone)]
pub struct Fetcher {
    guarded: reqwest::Client,
    open: reqwest::Client,
    limits: LimitsConfig,
}

impl Fetcher {
    /// Builds the clients.
    pub fn new(limits: &LimitsConfig) -> Result<Self, UpstreamError> {
        let build = |guard: bool| {
            let mut builder = reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(limits.connect_timeout)
                .pool_idle_timeout(Duration::from_secs(60))
                .http1_title_case_headers()
                .gzip(true)
                .brotli(true)
                .deflate(true)
                .no_proxy();
            if guard {
                builder = builder.dns_resolver(Arc::new(PublicOnly));
            }
            builder
                .build()
                .map_err(|e| UpstreamError::Unreachable(format!("HTTP client: {e}")))
        };
        Ok(Self {
            guarded: build(true)?,
            open: build(false)?,
            limits: limits.clone(),
        })
    }

    /// Fetches `url` for `site`, following redirects that stay on the site.
    pub async fn fetch(&self, site: &Site, url: Url) -> Result<Outcome, UpstreamError> {
        self.fetch_following(site, url, PAGE_ACCEPT, |from, target| {
            follow(site, from, target)
        })
        .await
    }

    /// Fetches the image at `url` for `site`, following redirects only to image URLs the
    /// site fetches ([`Site::image_allowed`]), never from https to http.
    pub(crate) async fn fetch_image(
        &self,
        site: &Site,
        url: Url,
    ) -> Result<Outcome, UpstreamError> {
        self.fetch_following(site, url, IMAGE_ACCEPT, |from, target| {
            follow_image(site, from, target)
        })
        .await
    }

    async fn fetch_following(
        &self,
        site: &Site,
        url: Url,
        accept: &'static str,
        follow: impl Fn(&Url, Url) -> Result<Url, Outcome>,
    ) -> Result<Outcome, UpstreamError> {
        let timeout = self.limits.upstream_timeout;
        let deadline = Instant::now() + timeout;
        let client = if site.allow_private_upstream {
            &self.open
        } else {
            &self.guarded
        };
        let mut url = url;
        for _ in 0..=self.limits.max_redirects {
            if !site.allow_private_upstream {
                check_literal_host(&url)?;
            }
            let request = client.get(url.clone()).header(http::header::ACCEPT, accept);
            let response = tokio::time::timeout_at(deadline, request.send())
                .await
                .map_err(|_| UpstreamError::Timeout(timeout))?
                .map_err(|e| classify(&e))?;
            let status = response.status();
            if status.is_redirection() {
                let target = response
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|loc| url.join(loc).ok());
                if let Some(target) = target {
                    match follow(&url, target) {
                        Ok(next) => {
                            url = next;
                            continue;
                        }
                        Err(outcome) => return Ok(outcome),
                    }
                }
            }
            let header = |name: http::HeaderName| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            return Ok(Outcome::Page(Box::new(Response {
                close_delimited: is_close_delimited(&response),
                status,
                content_type: header(http::header::CONTENT_TYPE),
                cache_control: header(http::header::CACHE_CONTROL),
                last_modified: header(http::header::LAST_MODIFIED),
                mitigated: header(http::header::HeaderName::from_static("cf-mitigated")),
                url,
                body: response,
                peeked: None,
                ended: false,
                received: 0,
                max_bytes: self.limits.max_upstream_bytes,
                deadline,
                timeout,
            })));
        }
        Err(UpstreamError::TooManyRedirects(self.limits.max_redirects))
    }
}

/// HTTP/2 and later frame every body; HTTP/1 frames it by length or chunks. reqwest drops
/// `Content-Length` when it decompresses, which leaves such bodies counted here as
/// close-delimited; a truncated compressed body fails in the decoder anyway.
fn is_close_delimited(response: &reqwest::Response) -> bool {
    let headers = response.headers();
    let chunked = headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .any(|v| {
            v.to_str()
                .is_ok_and(|v| v.to_ascii_lowercase().contains("chunked"))
        });
    response.version() < http::Version::HTTP_2
        && !chunked
        && !headers.contains_key(http::header::CONTENT_LENGTH)
}

/// What a page fetch asks for.
const PAGE_ACCEPT: &str = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5";

/// What an image fetch asks for: the formats the Light image pipeline reads.
const IMAGE_ACCEPT: &str = "image/webp,image/png,image/jpeg,image/gif;q=0.9,*/*;q=0.1";

/// The URL to fetch next for an image redirect from `from` to `target`; an image that
/// moves anywhere the site does not fetch images from is not followed, and not linked.
fn follow_image(site: &Site, from: &Url, target: Url) -> Result<Url, Outcome> {
    if !is_web(&target) {
        return Err(Outcome::Unlinkable(target.scheme().to_owned()));
    }
    let downgrade = from.scheme() == "https" && target.scheme() == "http";
    match site.image_allowed(&target) {
        Some(next) if !downgrade => Ok(next),
        _ => Err(Outcome::Unlinkable(target.scheme().to_owned())),
    }
}

/// The URL to fetch next for a redirect from `from` to `target`, or what the redirect
/// means for the reader when it is not followed.
fn follow(site: &Site, from: &Url, target: Url) -> Result<Url, Outcome> {
    if !is_web(&target) {
        return Err(Outcome::Unlinkable(target.scheme().to_owned()));
    }
    if !stays_on_upstream(from, &target, &site.upstream) {
        return Err(Outcome::Elsewhere(target));
    }
    NormalPath::parse(target.path())
        .ok()
        .and_then(|path| route::site_url(site, &target, &path, target.query()).ok())
        .ok_or(Outcome::Elsewhere(target))
}

/// Whether a redirect from `from` to `to` stays on the upstream: the same host and port,
/// or the move from http to https on the default ports; never from https to http.
fn stays_on_upstream(from: &Url, to: &Url, upstream: &Url) -> bool {
    let same_host = to.host() == upstream.host();
    let same_port = to.scheme() == upstream.scheme() && to.port() == upstream.port();
    let upgrade = upstream.scheme() == "http"
        && to.scheme() == "https"
        && upstream.port().is_none()
        && to.port().is_none();
    let downgrade = from.scheme() == "https" && to.scheme() == "http";
    same_host && (same_port || upgrade) && !downgrade
}

fn classify(e: &reqwest::Error) -> UpstreamError {
    let text = describe(e);
    if refused_address(e).is_some() {
        return UpstreamError::Forbidden(text);
    }
    if e.is_timeout() {
        return UpstreamError::Unreachable(format!("connect timeout: {text}"));
    }
    UpstreamError::Unreachable(text)
}

/// The resolver's refusal somewhere in the error's chain of causes, if that is why the
/// connection failed.
fn refused_address(e: &reqwest::Error) -> Option<&NotPublic> {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<NotPublic>() {
            return Some(refusal);
        }
        source = cause.source();
    }
    None
}

/// A name that resolves to no public address, as [`PublicOnly`] reports it.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {shown}, which is not public")]
struct NotPublic {
    host: String,
    shown: String,
}

/// reqwest's top-level message hides the cause; the chain names it. The URL in it loses
/// its query: queries carry what readers searched for, and this text reaches the logs.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if let Some(url) = e.url().filter(|u| u.query().is_some()) {
        let mut bare = url.clone();
        bare.set_query(None);
        text = text.replace(url.as_str(), bare.as_str());
    }
    text
}

/// URLs naming an IP address skip the resolver, so they are checked here.
fn check_literal_host(url: &Url) -> Result<(), UpstreamError> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    if is_public(ip) {
        Ok(())
    } else {
        Err(UpstreamError::Forbidden(ip.to_string()))
    }
}

/// A resolver that drops every non-public address and fails when none is left. reqwest
/// asks it for every new connection, so a name that later re-resolves to an internal
/// address (DNS rebinding) is refused too.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| is_public(a.ip()))
                .collect();
            if public.is_empty() {
                let shown = found
                    .first()
                    .map_or_else(|| host.clone(), |a| a.ip().to_string());
                return Err(Box::new(NotPublic { host, shown }) as _);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Whether an address is on the public internet.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let translated = (s[0] == 0
        && s[1] == 0
        && s[2] == 0
        && s[3] == 0
        && s[4] == 0
        && (s[5] == 0xffff || s[5] == 0))
        || (s[0] == 0x64 && s[1] == 0xff9b)
        || s[0] == 0x2002
        || (s[0] == 0x2001 && s[1] == 0);
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || translated
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        || (s[0] == 0x2001 && s[1] == 0xdb8)
        || (s[0] == 0x100 && s[1] == 0 && s[2] == 0 && s[3] == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2001::1",
            "ff02::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} counted as public");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip} counted as internal");
        }
    }

    #[tokio::test]
    async fn resolver_refuses_names_of_internal_hosts() {
        let name: Name = "localhost".parse().unwrap();
        let err = match PublicOnly.resolve(name).await {
            Ok(_) => panic!("localhost resolved"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("not public"), "{err}");
    }

    #[tokio::test]
    async fn a_name_of_an_internal_host_is_a_forbidden_fetch() {
        let fetcher = Fetcher::new(&LimitsConfig::default()).unwrap();
        let url = Url::parse("http://localhost:9/a?q=secret").unwrap();
        match fetcher.fetch(&site(""), url).await {
            Err(UpstreamError::Forbidden(why)) => {
                assert!(!why.contains("secret"), "{why}");
            }
            Err(e) => panic!("not classified as forbidden: {e}"),
            Ok(_) => panic!("localhost fetched"),
        }
    }

    fn site(extra: &str) -> std::sync::Arc<Site> {
        let text = format!(
            "[[site]]\nname = \"r\"\nupstream = \"https://news.example\"\n\
             hosts = [\"light.example\"]\n{extra}\n"
        );
        crate::config::parse(&text, "t").unwrap().1.remove(0)
    }

    fn redirect(site: &Site, from: &str, to: &str) -> Result<String, String> {
        let from = Url::parse(from).unwrap();
        let target = from.join(to).unwrap();
        match follow(site, &from, target) {
            Ok(next) => Ok(next.to_string()),
            Err(Outcome::Elsewhere(url)) => Err(format!("elsewhere {url}")),
            Err(Outcome::Unlinkable(scheme)) => Err(format!("unlinkable {scheme}")),
            Err(Outcome::Page(_)) => unreachable!(),
        }
    }

    #[test]
    fn redirects_followed_only_on_the_upstream_host_without_downgrade() {
        let s = site("");
        let page = "https://news.example/a";
        assert_eq!(
            redirect(&s, page, "/b?c=1"),
            Ok("https://news.example/b?c=1".into())
        );
        assert_eq!(
            redirect(&s, page, "https://NEWS.example:443/b"),
            Ok("https://news.example/b".into())
        );
        for to in [
            "http://news.example/b",
            "http://news.example:443/b",
            "https://news.example:8443/b",
            "https://www.news.example/b",
            "https://other.example/b",
        ] {
            assert_eq!(
                redirect(&s, page, to),
                Err(format!("elsewhere {}", Url::parse(to).unwrap())),
                "{to}"
            );
        }
        let mut http = site("");
        std::sync::Arc::make_mut(&mut http).upstream = Url::parse("http://news.example/").unwrap();
        assert_eq!(
            redirect(&http, "http://news.example/a", "https://news.example/b"),
            Ok("https://news.example/b".into())
        );
        assert_eq!(
            redirect(&http, "http://news.example/a", "/b"),
            Ok("http://news.example/b".into())
        );
        // Once upgraded, never back to cleartext.
        assert!(redirect(&http, "https://news.example/b", "http://news.example/c").is_err());
        assert!(redirect(
            &http,
            "http://news.example/a",
            "https://news.example:8443/b"
        )
        .is_err());
    }

    #[test]
    fn redirects_off_the_web_are_never_linked() {
        let s = site("");
        for (to, scheme) in [
            ("javascript:alert(document.domain)", "javascript"),
            ("JavaScript:alert(1)", "javascript"),
            ("data:text/html,<script>alert(1)</script>", "data"),
            ("vbscript:msgbox", "vbscript"),
            ("file:///etc/passwd", "file"),
        ] {
            assert_eq!(
                redirect(&s, "https://news.example/a", to),
                Err(format!("unlinkable {scheme}")),
                "{to}"
            );
        }
    }

    #[test]
    fn redirect_targets_meet_the_path_rules_in_normal_form() {
        let s = site(r#"deny_paths = ["/search/"]"#);
        let page = "https://news.example/a";
        assert_eq!(
            redirect(&s, page, "/x/%2e%2e/%73earch/?q=1"),
            Err("elsewhere https://news.example/%73earch/?q=1".into())
        );
        assert!(redirect(&s, page, "//news.example//search/").is_err());
        assert!(redirect(&s, page, "/a%2fb").is_err());
        assert_eq!(
            redirect(&s, page, "/%7Euser/caf%c3%a9#top"),
            Ok("https://news.example/~user/caf%C3%A9".into())
        );
    }

    #[test]
    fn literal_addresses_are_checked() {
        assert!(check_literal_host(&Url::parse("http://127.0.0.1:8080/").unwrap()).is_err());
        assert!(check_literal_host(&Url::parse("http://[::ffff:10.0.0.1]/").unwrap()).is_err());
        assert!(check_literal_host(&Url::parse("http://8.8.8.8/").unwrap()).is_ok());
    }
}
