//! The TOML schema: every setting an operator can write, with its default written down
//! beside it. Parsing and validation live in `load.rs`; nothing here touches the disk.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::forms;

/// A whole deployment: the server, its limits and cache, and the sites it serves.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// Where and how the server listens.
    #[serde(default)]
    pub server: ServerConfig,
    /// Bounds on every request, downstream and upstream.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The cache of Light pages.
    #[serde(default)]
    pub cache: CacheConfig,
    /// The operator's listener: metrics and health.
    #[serde(default)]
    pub admin: AdminConfig,
    /// The upstream sites this instance serves, one `[[site]]` table each.
    #[serde(default, rename = "site")]
    pub sites: Vec<SiteConfig>,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Socket address to listen on.
    ///
    /// ### Default
    /// `127.0.0.1:8080`
    #[serde(deserialize_with = "forms::socket_address")]
    pub listen: SocketAddr,
    /// Log client IP addresses. Off so that readers in censored countries leave no trace.
    ///
    /// ### Default
    /// `false`
    pub log_client_ip: bool,
    /// How long in-flight requests may run after SIGTERM/SIGINT before they are cut.
    ///
    /// ### Default
    /// `10s`
    #[serde(deserialize_with = "forms::duration")]
    pub shutdown_grace: Duration,
    /// Log request query strings. Off, as queries carry what readers searched for.
    ///
    /// ### Default
    /// `false`
    pub log_query: bool,
    /// `"text"` for people, `"json"` (one object a line) for log collectors.
    ///
    /// ### Default
    /// `"text"`
    pub log_format: LogFormat,
    /// Peers (CIDR ranges) whose `X-Forwarded-For` or `Forwarded` header is believed for
    /// the reader's address, such as a TLS proxy in front: `["127.0.0.1/32", "::1/128"]`.
    /// From any other peer the headers are ignored.
    ///
    /// ### Default
    /// `[]`
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, coloured only on a terminal.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            log_client_ip: false,
            shutdown_grace: Duration::from_secs(10),
            log_query: false,
            log_format: LogFormat::Text,
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[admin]`: a listener for the operator, apart from the one readers reach, so that a
/// reader of a mirror can never see it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AdminConfig {
    /// Socket address of the admin listener (`GET /metrics`, `GET /health`,
    /// `POST /purge`); keep it on loopback or a private network.
    ///
    /// ### Default
    /// unset: no admin listener
    #[serde(default, deserialize_with = "forms::optional_socket_address")]
    pub listen: Option<SocketAddr>,
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// Longest wait for an upstream response, headers and body together; past it the
    /// reader gets 504.
    ///
    /// ### Default
    /// `15s`
    #[serde(deserialize_with = "forms::duration")]
    pub upstream_timeout: Duration,
    /// Longest wait to connect to an upstream.
    ///
    /// ### Default
    /// `5s`
    #[serde(deserialize_with = "forms::duration")]
    pub connect_timeout: Duration,
    /// Largest upstream body accepted, counted after decompression (guards against
    /// compression bombs); larger pages get 502.
    ///
    /// ### Default
    /// `16777216` (16 MiB)
    pub max_upstream_bytes: usize,
    /// Memory the streaming rewriter may hold for one request.
    ///
    /// ### Default
    /// `4194304` (4 MiB)
    pub rewriter_memory: usize,
    /// Redirects followed within a site's upstream before giving up.
    ///
    /// ### Default
    /// `5`
    pub max_redirects: usize,
    /// Upstream fetches in flight at once for one site; further requests wait.
    ///
    /// ### Default
    /// `32`
    pub upstream_concurrency: usize,
    /// Open client connections; further connections wait in the kernel's backlog.
    ///
    /// ### Default
    /// `4096`
    pub max_connections: usize,
    /// Time a new connection has to deliver its first complete request head, counted from
    /// the moment it is accepted, whatever protocol it speaks (guards against connections
    /// that never speak and against slowloris).
    ///
    /// ### Default
    /// `10s`
    #[serde(deserialize_with = "forms::duration")]
    pub header_read_timeout: Duration,
    /// How long a connection may stay open with no request in flight, between requests
    /// (HTTP/1 keep-alive, HTTP/2 with no open stream). It is also the interval of HTTP/2
    /// keep-alive pings. At `max_connections`, the longest-idle connections are closed
    /// first to make room for new ones.
    ///
    /// ### Default
    /// `30s`
    #[serde(deserialize_with = "forms::duration")]
    pub idle_timeout: Duration,
    /// Longest a response may wait for the reader to take its next 16 KiB (a reader that
    /// stops reading, an HTTP/2 stream whose window stays shut); past it the connection is
    /// closed. Upstream fetches never wait on readers.
    ///
    /// ### Default
    /// `30s`
    #[serde(deserialize_with = "forms::duration")]
    pub send_timeout: Duration,
    /// Memory that all requests in flight together may hold, in bytes: upstream bodies
    /// being read and converted, and Light bytes not yet taken by their readers. A new
    /// miss waits up to a second for room, then gets the stale copy or a 503 with
    /// `Retry-After`; a page that outgrows the room left fails the same way.
    ///
    /// ### Default
    /// `268435456` (256 MiB)
    pub max_inflight_bytes: usize,
    /// Largest request head (request line and headers) accepted.
    ///
    /// ### Default
    /// `16384`
    pub max_request_header_bytes: usize,
    /// Deepest element nesting the article detector walks; deeper content is flattened.
    /// Also the most elements the Light pass keeps open at once; deeper ones are
    /// unwrapped, their text kept.
    ///
    /// ### Default
    /// `512`
    pub max_nesting: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            upstream_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            max_upstream_bytes: 16 << 20,
            rewriter_memory: 4 << 20,
            max_redirects: 5,
            upstream_concurrency: 32,
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(30),
            max_inflight_bytes: 256 << 20,
            max_request_header_bytes: 16 << 10,
            max_nesting: 512,
        }
    }
}

/// `[cache]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CacheConfig {
    /// Memory given to cached Light pages, in bytes, and the most the directory holds;
    /// `0` turns the cache off. A fifth is kept for new pages (probation), the rest for
    /// pages read again after they were stored (protected). A page heavier than a fifth of
    /// this, or than 64 MiB, is served but not kept.
    ///
    /// ### Default
    /// `67108864` (64 MiB)
    pub max_bytes: u64,
    /// How long a page stays fresh when neither the site nor the upstream says otherwise.
    ///
    /// ### Default
    /// `5m`
    #[serde(deserialize_with = "forms::duration")]
    pub ttl: Duration,
    /// How long past freshness a page may still be served when the upstream fails.
    ///
    /// ### Default
    /// `7days`
    #[serde(deserialize_with = "forms::duration")]
    pub stale_if_error: Duration,
    /// Directory that keeps pages across restarts; unset keeps them in memory only. When
    /// it cannot be used, the cache warns and keeps pages in memory only.
    ///
    /// ### Default
    /// unset
    pub dir: Option<PathBuf>,
    /// Most new pages of one path that differ only in their query (`/a?x=1`, `/a?x=2` ...)
    /// kept at once among the pages not read again yet; one more pushes out the oldest.
    /// The page without a query, and variants read again, do not count. Must be at least 1.
    ///
    /// ### Default
    /// `16`
    pub max_variants: usize,
    /// File holding the secret that authenticates the directory's pages (32 bytes, created
    /// with mode 0600 when absent). It must be outside `dir`. When it is not a regular file
    /// of 32 bytes, the run uses a key of its own and discards the pages saved before.
    ///
    /// ### Default
    /// `<dir>.key` beside the directory (`/var/cache/lightmirror.key` for
    /// `/var/cache/lightmirror`)
    pub key_file: Option<PathBuf>,
    /// Memory for Light images made on readers' request, in bytes, apart from the pages'
    /// `max_bytes` so that a burst of images cannot push pages out; in memory only, split
    /// into probation and protected as pages are. `0` keeps none.
    ///
    /// ### Default
    /// `16777216` (16 MiB, about 800 images)
    pub image_bytes: u64,
    /// The store a fleet of instances shares (Valkey or Redis, `redis://host:port/db` or
    /// `redis+unix:///path/to/socket`): pages one instance converts are served by every
    /// other, one instance fetches a page for all, and `upstream_rate` is counted there.
    /// Looked up after memory and the directory; the store failing never fails a request.
    ///
    /// ### Default
    /// unset (the cache is this instance's own)
    pub shared: Option<String>,
    /// Prefix of every key this deployment writes in the shared store, so deployments
    /// sharing one store never see each other's pages. Must not be empty.
    ///
    /// ### Default
    /// `"lightmirror:"`
    pub shared_prefix: String,
    /// Longest a request waits on the shared store for one operation; past it the store
    /// counts as failing and the request goes on without it.
    ///
    /// ### Default
    /// `100ms`
    #[serde(deserialize_with = "forms::duration")]
    pub shared_timeout: Duration,
}

impl CacheConfig {
    /// The key file in effect: `key_file`, else `<dir>.key` beside the directory. `None`
    /// without a directory, or when `dir` names none to put a key beside (`/`, `.`, `..`).
    pub(crate) fn key_path(&self) -> Option<PathBuf> {
        if let Some(file) = &self.key_file {
            return Some(file.clone());
        }
        let dir = self.dir.as_ref()?;
        let mut name = dir.file_name()?.to_owned();
        name.push(".key");
        Some(dir.with_file_name(name))
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_bytes: 64 << 20,
            ttl: Duration::from_secs(300),
            stale_if_error: Duration::from_secs(7 * 24 * 3600),
            dir: None,
            max_variants: 16,
            key_file: None,
            image_bytes: 16 << 20,
            shared: None,
            shared_prefix: "lightmirror:".to_owned(),
            shared_timeout: Duration::from_millis(100),
        }
    }
}

/// One `[[site]]`: an upstream origin and the rules that turn its pages into Light pages.
#[derive(Debug, Clone, Deserialize)]
pub struct SiteConfig {
    /// Short name used in logs and messages. Required.
    #[serde(default)]
    pub name: String,
    /// Origin the pages are fetched from, such as `https://www.example.com`. Required.
    #[serde(default)]
    pub upstream: String,
    /// Host names (with an optional `:port`) this Light site answers to. Required.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Title shown in the Light page header.
    ///
    /// ### Default
    /// `"<name> Light"`
    pub label: Option<String>,
    /// Allow an upstream on loopback, private or link-local addresses. For tests and demos.
    ///
    /// ### Default
    /// `false`
    #[serde(default)]
    pub allow_private_upstream: bool,
    /// Keep only these subtrees (CSS selectors); with it the page streams.
    ///
    /// ### Default
    /// `[]` (the article is detected)
    #[serde(default)]
    pub content: Vec<String>,
    /// Remove these subtrees (CSS selectors) before anything else.
    ///
    /// ### Default
    /// `[]`
    #[serde(default)]
    pub remove: Vec<String>,
    /// Selector of the headline, overriding detection.
    pub title: Option<String>,
    /// Selector of the byline, overriding detection.
    pub byline: Option<String>,
    /// Selector of the publication date (a `<time datetime>` or its text).
    pub date: Option<String>,
    /// Page kinds by path: the first rule whose pattern matches decides.
    #[serde(default)]
    pub kind: Vec<KindRule>,
    /// Paths that may be fetched; empty allows every path. An entry ending in `/` allows
    /// every path under it (`"/news/"`); any other entry allows that one path alone
    /// (`"/about"`), and `"/"` allows the home page alone. Requests are compared after
    /// normalisation (escapes of unreserved characters decoded, dot segments resolved,
    /// `//` collapsed), both with and without `;parameters`.
    ///
    /// ### Default
    /// `[]`
    #[serde(default)]
    pub allow_paths: Vec<String>,
    /// Path prefixes that are never fetched, checked after `allow_paths`; each is a prefix
    /// whether it ends in `/` or not (`"/admin"` also denies `/admin/panel`), normalised
    /// and compared as `allow_paths` are.
    ///
    /// ### Default
    /// `[]`
    #[serde(default)]
    pub deny_paths: Vec<String>,
    /// Compare `allow_paths` and `deny_paths` ignoring ASCII case: for upstreams that
    /// serve `/Admin` as `/admin` (IIS, case-insensitive file systems).
    ///
    /// ### Default
    /// `false`
    #[serde(default)]
    pub paths_case_insensitive: bool,
    /// Freshness of this site's pages, overriding `[cache] ttl`.
    #[serde(default, deserialize_with = "forms::optional_duration")]
    pub cache_ttl: Option<Duration>,
    /// Language of the site's pages when a page does not declare one (`fa`, `ar`, `en` ...).
    pub lang: Option<String>,
    /// Article URLs that `lightmirror check --sample` and operators test rules against.
    #[serde(default)]
    pub test_urls: Vec<String>,
    /// Which query parameters reach the upstream and the cache key: `"keep"` all of them,
    /// `"drop"` all of them, or a list of the parameter names that matter
    /// (`["page", "q"]`). Kept parameters are sorted by name, so `?a=1&b=2` and
    /// `?b=2&a=1` are one page; parameters a site ignores (tracking tags, cache busters)
    /// then cannot make every request a new fetch.
    ///
    /// ### Default
    /// `"keep"`
    #[serde(default)]
    pub query: QueryConfig,
    /// What `/robots.txt` answers: `"upstream"` serves the upstream's own (at most 64 KiB,
    /// kept as long as a page is), `"disallow"` serves `User-agent: *` / `Disallow: /`
    /// and fetches nothing.
    ///
    /// ### Default
    /// `"upstream"`
    #[serde(default)]
    pub robots: RobotsRule,
    /// The origin of this site's onion service, such as `"http://abc…xyz.onion"`. Light
    /// pages served on the site's other hosts then carry an `Onion-Location` header with
    /// the same path there, which Tor Browser offers to follow.
    ///
    /// ### Default
    /// unset: no header
    pub onion_location: Option<String>,
    /// Most upstream fetches of this site the whole fleet makes in a period, counted in
    /// `[cache] shared` (which it needs): `"20/s"`, `"600/min"`, `"5/10s"`. Past it,
    /// readers get the saved copy, else a 503 with `Retry-After`. While the store fails,
    /// only `upstream_concurrency` bounds the fetches.
    ///
    /// ### Default
    /// unset (no fleet-wide limit)
    pub upstream_rate: Option<String>,
    /// The shell's own words for this site, by message key (`original_page = "Full
    /// site"`), in place of the words of the page's language; `{name}` slots are those of
    /// the English text. Keys: `lightmirror::lang::Message`, listed in the README.
    ///
    /// ### Default
    /// `{}` (the words of each page's language)
    #[serde(default)]
    pub strings: std::collections::BTreeMap<String, String>,
    /// The site's main sections, shown as one line in the shell's header:
    /// `[{ label = "World", path = "/world/" }]`. Empty reads them from the upstream
    /// page's primary `<nav>`, when the article is detected.
    ///
    /// ### Default
    /// `[]`
    #[serde(default)]
    pub sections: Vec<SectionConfig>,
    /// The upstream's search page with `{query}` where the reader's words go
    /// (`"/search?q={query}"`): the shell then carries a one-field search form, whose
    /// results come back as a Light listing.
    ///
    /// ### Default
    /// unset: no search form
    pub search: Option<String>,
    /// What a meaningful image becomes: `"tap"`, a placeholder with its alt text or caption
    /// and a link to a small Light image made on the reader's request; `"off"`, the
    /// placeholder alone. Light pages themselves never load an image either way.
    ///
    /// ### Default
    /// `"tap"`
    #[serde(default)]
    pub images: ImageMode,
    /// Hosts (with an optional `:port`) besides the upstream's own that the site's images
    /// are fetched from, such as its image CDN: `["img.example-cdn.com"]`. Images on any
    /// other host get a placeholder without a link.
    ///
    /// ### Default
    /// `[]`
    #[serde(default)]
    pub image_hosts: Vec<String>,
    /// Widest a Light image is, in pixels (16 to 2048); wider images are scaled down.
    ///
    /// ### Default
    /// `480`
    #[serde(default = "default_image_width")]
    pub image_width: u32,
    /// Make Light images greyscale, about a third smaller again.
    ///
    /// ### Default
    /// `false`
    #[serde(default)]
    pub image_greyscale: bool,
    /// Join a multi-page article into one Light page: the pages its `rel=next` links
    /// lead to (`<link rel=next>` or `<a rel=next>`, on the upstream's own origin and
    /// paths the site serves) are fetched as pages are and their article bodies follow
    /// the first's, until a page has no next, leads back to one already joined, or the
    /// budget (`join_max_pages`, `join_max_bytes`) is spent; a next page that fails ends
    /// the joined page with a link to it. The joined page is cached as the first page.
    /// With `content` rules the page is then gathered whole rather than streamed, and
    /// only the `rel=next` of each page's `<head>` is followed.
    ///
    /// ### Default
    /// `false`
    #[serde(default)]
    pub join_pages: bool,
    /// Most pages a joined article holds, the first included (2 to 50).
    ///
    /// ### Default
    /// `5`
    #[serde(default = "default_join_max_pages")]
    pub join_max_pages: usize,
    /// Most bytes of Light body the pages of a joined article hold together (4 KiB to
    /// 64 MiB); the page that would pass it is left as the next page's link.
    ///
    /// ### Default
    /// `1048576` (1 MiB)
    #[serde(default = "default_join_max_bytes")]
    pub join_max_bytes: usize,
}

fn default_join_max_pages() -> usize {
    super::join::DEFAULT_JOIN_MAX_PAGES
}

fn default_join_max_bytes() -> usize {
    super::join::DEFAULT_JOIN_MAX_BYTES
}

/// `image_width` when a site does not set it.
pub(crate) const DEFAULT_IMAGE_WIDTH: u32 = 480;

fn default_image_width() -> u32 {
    DEFAULT_IMAGE_WIDTH
}

/// `images` in `[[site]]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageMode {
    /// Placeholders link to Light images.
    #[default]
    Tap,
    /// Placeholders only.
    Off,
}

/// `robots` in `[[site]]`: where `/robots.txt` comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RobotsRule {
    /// The upstream's own `robots.txt`, size-capped and cached.
    #[default]
    Upstream,
    /// `User-agent: *` and `Disallow: /`: no crawler is welcome on the mirror.
    Disallow,
}

/// One entry of `sections` in `[[site]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionConfig {
    /// The words shown.
    pub label: String,
    /// The section's path on the site, such as `/world/`.
    pub path: String,
}

/// `query` in `[[site]]`: every parameter, none, or the ones named.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum QueryConfig {
    /// `"keep"` or `"drop"`.
    Mode(QueryMode),
    /// The names of the parameters kept.
    Only(Vec<String>),
}

/// `"keep"` or `"drop"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueryMode {
    /// Every parameter.
    Keep,
    /// No parameter.
    Drop,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self::Mode(QueryMode::Keep)
    }
}

/// `[[site.kind]]`: a path pattern and the page kind it implies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindRule {
    /// A path glob: `*` matches within one segment, `**` across segments.
    pub path: String,
    /// `article` or `listing`.
    pub kind: PageKind,
}

/// What a page is, which decides how it is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PageKind {
    /// One story: rendered as its text.
    Article,
    /// Home, section, tag or search page: rendered as a list of headlines.
    Listing,
}
