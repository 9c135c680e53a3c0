//! A site as the rest of the program uses it: the raw `[[site]]` table checked and turned
//! into parsed URLs, normalised host names, compiled path patterns and selectors parsed
//! by the engine that will run them.

use std::time::Duration;

use sha2::{Digest, Sha256};
use url::Url;

use super::images::ImageRules;
use super::join::JoinRules;
use super::load::problem;
use super::schema::{
    ImageMode, PageKind, QueryConfig, QueryMode, RobotsRule, SiteConfig, DEFAULT_IMAGE_WIDTH,
};
use super::selectors::Selectors;
use super::Problem;
use crate::lang::{self, Message, Overrides};
use crate::rewrite::policy::is_web;
use crate::route::NormalPath;

/// A checked `[[site]]`.
#[derive(Debug, Clone)]
pub struct Site {
    /// Short name for logs and messages.
    pub name: String,
    /// Title of the Light site shown in its page header.
    pub label: String,
    /// Whether `label` was configured; otherwise each page writes the site's name in the
    /// page language's words for it.
    pub label_configured: bool,
    /// Upstream origin: scheme, host and port, path `/`.
    pub upstream: Url,
    /// Lower-case host names, each with a port when one was given.
    pub hosts: Vec<String>,
    /// Whether the upstream may live on a loopback, private or link-local address.
    pub allow_private_upstream: bool,
    /// Selectors (streaming engine) of the subtrees to keep.
    pub content: Vec<String>,
    /// Selectors (streaming engine) of the subtrees to drop.
    pub remove: Vec<String>,
    /// DOM selector of the headline.
    pub title: Option<String>,
    /// DOM selector of the byline.
    pub byline: Option<String>,
    /// DOM selector of the publication date.
    pub date: Option<String>,
    /// The selectors above, parsed once for the engines that run them.
    pub(crate) selectors: Selectors,
    /// Page kinds by path, first match wins.
    pub kinds: Vec<(PathGlob, PageKind)>,
    /// Path prefixes that may be fetched, in the normal form of [`NormalPath`]; empty
    /// allows all.
    pub allow_paths: Vec<String>,
    /// Path prefixes never fetched, in the normal form of [`NormalPath`].
    pub deny_paths: Vec<String>,
    /// Whether path prefixes match ignoring ASCII case.
    pub paths_case_insensitive: bool,
    /// Which query parameters reach the upstream and the cache key.
    pub query: QueryConfig,
    /// Freshness of this site's pages, when set.
    pub cache_ttl: Option<Duration>,
    /// Language assumed when a page declares none.
    pub lang: Option<String>,
    /// Article URLs to test rules against.
    pub test_urls: Vec<Url>,
    /// What images become, where they may be fetched from and how Light images are made.
    pub images: ImageRules,
    /// Where `/robots.txt` comes from.
    pub robots: RobotsRule,
    /// The origin of the site's onion service, named in `Onion-Location` on other hosts.
    pub onion_location: Option<Url>,
    /// The operator's words for the shell, over those of each page's language.
    pub strings: Overrides,
    /// The sections line of the shell's header, when configured.
    pub sections: Vec<Section>,
    /// The search form of the shell, when configured.
    pub search: Option<SearchForm>,
    /// The instance's other sites, as upstream origin and first Light host: links to
    /// them become links to their Light sites. Set once all sites are checked.
    pub siblings: Vec<(Url, String)>,
    /// A short digest of the rules that shape a Light page (selectors, label, kinds, lang,
    /// query), computed once when the site is checked. It is part of every cache key
    /// (see [`cache_key`](crate::route::cache_key)), so a reload that changes them makes
    /// the pages cached under the old rules unreachable at once.
    pub rules_digest: String,
    /// The fleet-wide bound on upstream fetches, when set.
    pub upstream_rate: Option<UpstreamRate>,
    /// The budget of joined multi-page articles; `None` when pages are not joined.
    pub join: Option<JoinRules>,
}

/// `upstream_rate`: at most `fetches` upstream fetches every `per`, across the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamRate {
    /// Fetches allowed in one period; also the most that may go at once after a quiet spell.
    pub fetches: u32,
    /// The period.
    pub per: Duration,
}

impl UpstreamRate {
    /// Reads `"N/PERIOD"`: a count, a slash, then `s`, `min`, `h` or any duration
    /// (`10s`, `1m`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use lightmirror::config::UpstreamRate;
    ///
    /// let rate = UpstreamRate::parse("20/s").unwrap();
    /// assert_eq!((rate.fetches, rate.per), (20, Duration::from_secs(1)));
    /// assert_eq!(UpstreamRate::parse("5/10s").unwrap().per, Duration::from_secs(10));
    /// assert!(UpstreamRate::parse("0/s").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, String> {
        let (count, period) = text
            .split_once('/')
            .ok_or_else(|| format!("\"{text}\" is not a rate such as \"20/s\""))?;
        let fetches: u32 = count
            .trim()
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("\"{count}\" is not a count of fetches above 0"))?;
        let period = period.trim();
        let per = match period {
            "s" | "sec" => Duration::from_secs(1),
            "m" | "min" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            other => humantime::parse_duration(other)
                .map_err(|e| format!("\"{other}\" is not a period: {e}"))?,
        };
        if per < Duration::from_millis(1) {
            return Err("the period must be at least 1ms".to_owned());
        }
        Ok(Self { fetches, per })
    }
}

/// One link of the shell's sections line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The words shown.
    pub label: String,
    /// A root-relative path on the Light site.
    pub path: String,
}

/// The shell's search form: a GET form to a path of the Light site, which reaches the
/// upstream's search page like any other request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchForm {
    /// The form's action: the search page's path.
    pub path: String,
    /// The name of the parameter that carries the reader's words.
    pub field: String,
    /// The template's other parameters, sent as they are.
    pub fixed: Vec<(String, String)>,
}

impl SearchForm {
    /// Reads `"/search?q={query}"`: a path, and a query in which exactly one parameter's
    /// value is `{query}`. A GET form can only fill a query, so `{query}` in the path is
    /// refused.
    fn parse(template: &str) -> Result<Self, String> {
        let (path, query) = template
            .split_once('?')
            .ok_or("needs a query with {query} as a value, such as \"/search?q={query}\"")?;
        if !path.starts_with('/') || path.starts_with("//") || path.contains('{') {
            return Err("its path must start with / and hold no {slot}".into());
        }
        let mut field = None;
        let mut fixed = Vec::new();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if value == "{query}" {
                if field.replace(name.into_owned()).is_some() {
                    return Err("names {query} more than once".into());
                }
            } else {
                fixed.push((name.into_owned(), value.into_owned()));
            }
        }
        let field = field.ok_or("has no parameter whose value is {query}")?;
        let path = NormalPath::parse(path)
            .map_err(|e| format!("its path is not usable: {e}"))?
            .as_str()
            .to_owned();
        Ok(Self { path, field, fixed })
    }
}

/// A compiled path pattern from `[[site.kind]]`.
#[derive(Debug, Clone)]
pub struct PathGlob {
    source: String,
    matcher: globset::GlobMatcher,
}

impl PathGlob {
    /// Compiles `pattern`: `*` stays within a path segment, `**` crosses segments.
    pub fn new(pattern: &str) -> Result<Self, globset::Error> {
        let glob = globset::GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()?;
        Ok(Self {
            source: pattern.to_owned(),
            matcher: glob.compile_matcher(),
        })
    }

    /// Whether a URL path matches.
    pub fn matches(&self, path: &str) -> bool {
        self.matcher.is_match(path)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl Site {
    /// Checks one raw site, pushing every problem found under `key`.
    pub(super) fn check(raw: &SiteConfig, key: &str, problems: &mut Vec<Problem>) -> Option<Self> {
        let before = problems.len();
        let mut push = |field: &str, reason: String| {
            problems.push(problem(&format!("{key}.{field}"), reason));
        };
        if raw.name.trim().is_empty() {
            push("name", "must not be empty".into());
        }
        let upstream = match Url::parse(&raw.upstream) {
            _ if raw.upstream.is_empty() => {
                push(
                    "upstream",
                    "is missing: the origin to fetch from, such as \"https://www.example.com\""
                        .into(),
                );
                None
            }
            Ok(url) if !matches!(url.scheme(), "http" | "https") => {
                push(
                    "upstream",
                    format!("scheme \"{}\" is not http or https", url.scheme()),
                );
                None
            }
            Ok(url) if url.host_str().is_none() => {
                push("upstream", "has no host".into());
                None
            }
            Ok(url) if url.path() != "/" || url.query().is_some() || url.fragment().is_some() => {
                push(
                    "upstream",
                    "must be an origin only (scheme://host[:port]), without path or query".into(),
                );
                None
            }
            Ok(url) if !url.username().is_empty() || url.password().is_some() => {
                push("upstream", "must not carry credentials".into());
                None
            }
            Ok(url) => Some(url),
            Err(e) => {
                push(
                    "upstream",
                    format!("\"{}\" is not a URL: {e}", raw.upstream),
                );
                None
            }
        };
        if raw.hosts.is_empty() {
            push("hosts", "must list at least one host name".into());
        }
        let mut hosts = Vec::new();
        for host in &raw.hosts {
            match normalise_host(host) {
                Some(h) => hosts.push(h),
                None => push("hosts", format!("\"{host}\" is not a host name")),
            }
        }
        let selectors = Selectors::parse(raw, &mut push);
        let mut kinds = Vec::new();
        for (i, rule) in raw.kind.iter().enumerate() {
            if !rule.path.starts_with('/') {
                push(
                    &format!("kind[{i}].path"),
                    format!("\"{}\" must start with /", rule.path),
                );
                continue;
            }
            match PathGlob::new(&rule.path) {
                Ok(glob) => kinds.push((glob, rule.kind)),
                Err(e) => push(&format!("kind[{i}].path"), e.to_string()),
            }
        }
        // Requests are compared in normal form, so the prefixes are kept in it.
        let mut normal_prefixes = |field: &str, prefixes: &[String]| -> Vec<String> {
            let mut normal = Vec::new();
            for prefix in prefixes {
                match NormalPath::parse(prefix) {
                    Ok(path) => normal.push(path.as_str().to_owned()),
                    Err(e) => push(field, format!("\"{prefix}\" is not a usable path: {e}")),
                }
            }
            normal
        };
        let allow_paths = normal_prefixes("allow_paths", &raw.allow_paths);
        let deny_paths = normal_prefixes("deny_paths", &raw.deny_paths);
        if let Some(lang) = &raw.lang {
            if !lang::valid_tag(lang) {
                push(
                    "lang",
                    format!("\"{lang}\" is not a language tag such as \"fa\" or \"en-GB\""),
                );
            }
        }
        let onion_location = raw
            .onion_location
            .as_deref()
            .and_then(|raw| match Url::parse(raw) {
                Ok(url)
                    if is_web(&url)
                        && url.host_str().is_some_and(|h| h.ends_with(".onion"))
                        && url.path() == "/"
                        && url.query().is_none() =>
                {
                    Some(url)
                }
                _ => {
                    push(
                        "onion_location",
                        format!(
                            "\"{raw}\" is not an onion origin such as \"http://abc…xyz.onion\""
                        ),
                    );
                    None
                }
            });
        let upstream_rate = match raw.upstream_rate.as_deref().map(UpstreamRate::parse) {
            Some(Ok(rate)) => Some(rate),
            Some(Err(reason)) => {
                push("upstream_rate", reason);
                None
            }
            None => None,
        };
        let mut test_urls = Vec::new();
        for url in &raw.test_urls {
            match (Url::parse(url), &upstream) {
                (Ok(parsed), Some(up)) if parsed.origin() != up.origin() => {
                    push(
                        "test_urls",
                        format!(
                            "\"{url}\" is not on the upstream {}",
                            up.origin().ascii_serialization()
                        ),
                    );
                }
                (Ok(parsed), _) => test_urls.push(parsed),
                (Err(e), _) => push("test_urls", format!("\"{url}\" is not a URL: {e}")),
            }
        }
        let images = ImageRules::check(raw, normalise_host, &mut push);
        let join = JoinRules::check(raw, &mut push);
        let strings = check_strings(&raw.strings, &mut push);
        let mut sections = Vec::new();
        for (i, section) in raw.sections.iter().enumerate() {
            let label = section.label.trim();
            if label.is_empty() || label.chars().count() > 40 {
                push(
                    &format!("sections[{i}].label"),
                    "must be 1 to 40 characters".into(),
                );
            }
            match NormalPath::parse(&section.path) {
                Ok(path) => sections.push(Section {
                    label: label.to_owned(),
                    path: path.as_str().to_owned(),
                }),
                Err(e) => push(
                    &format!("sections[{i}].path"),
                    format!("\"{}\" is not a usable path: {e}", section.path),
                ),
            }
        }
        let search = match raw.search.as_deref().map(SearchForm::parse) {
            Some(Ok(form)) => {
                let names = std::iter::once(&form.field).chain(form.fixed.iter().map(|(n, _)| n));
                for name in names {
                    let kept = match &raw.query {
                        QueryConfig::Mode(mode) => *mode == QueryMode::Keep,
                        QueryConfig::Only(names) => names.contains(name),
                    };
                    if !kept {
                        push(
                            "search",
                            format!("parameter \"{name}\" is dropped by this site's query rule"),
                        );
                    }
                }
                Some(form)
            }
            Some(Err(why)) => {
                push("search", why);
                None
            }
            None => None,
        };
        if problems.len() != before {
            return None;
        }
        Some(Self::with_digest(Self {
            name: raw.name.clone(),
            label_configured: raw.label.is_some(),
            label: raw
                .label
                .clone()
                .unwrap_or_else(|| format!("{} Light", raw.name)),
            upstream: upstream?,
            hosts,
            allow_private_upstream: raw.allow_private_upstream,
            content: raw.content.clone(),
            remove: raw.remove.clone(),
            title: raw.title.clone(),
            byline: raw.byline.clone(),
            date: raw.date.clone(),
            selectors,
            kinds,
            allow_paths,
            deny_paths,
            paths_case_insensitive: raw.paths_case_insensitive,
            query: raw.query.clone(),
            cache_ttl: raw.cache_ttl,
            lang: raw.lang.clone(),
            test_urls,
            images,
            robots: raw.robots,
            onion_location,
            strings,
            sections,
            search,
            siblings: Vec::new(),
            rules_digest: String::new(),
            upstream_rate,
            join,
        }))
    }

    /// Tells each site of one instance about the others (see [`siblings`](Self::siblings)).
    pub(super) fn introduce(sites: &mut [Site]) {
        let all: Vec<(Url, String, String)> = sites
            .iter()
            .filter_map(|s| Some((s.upstream.clone(), s.hosts.first()?.clone(), s.name.clone())))
            .collect();
        for site in sites.iter_mut() {
            site.siblings = all
                .iter()
                .filter(|(_, _, name)| *name != site.name)
                .map(|(up, host, _)| (up.clone(), host.clone()))
                .collect();
            site.rules_digest = site.digest_rules();
        }
    }

    /// `site` with its [`rules_digest`](Self::rules_digest) computed.
    fn with_digest(mut site: Self) -> Self {
        site.rules_digest = site.digest_rules();
        site
    }

    /// Twelve hex digits of a SHA-256 over every rule that changes what a page becomes.
    /// Each part is length-prefixed, so no two different rule sets write the same bytes.
    fn digest_rules(&self) -> String {
        let mut hasher = Sha256::new();
        let mut part = |field: &str, value: &str| {
            for text in [field, value] {
                hasher.update((text.len() as u64).to_le_bytes());
                hasher.update(text.as_bytes());
            }
        };
        part("label", &self.label);
        for selector in &self.content {
            part("content", selector);
        }
        for selector in &self.remove {
            part("remove", selector);
        }
        for (field, selector) in [
            ("title", &self.title),
            ("byline", &self.byline),
            ("date", &self.date),
            ("lang", &self.lang),
        ] {
            if let Some(value) = selector {
                part(field, value);
            }
        }
        for (glob, kind) in &self.kinds {
            part("kind", glob.as_str());
            part("kind.kind", &format!("{kind:?}"));
        }
        part("query", &format!("{:?}", self.query));
        // Image links, and the sizes they announce, are part of the page.
        part("images", &format!("{:?}", self.images));
        for (message, text) in &self.strings {
            part(message.key(), text);
        }
        for section in &self.sections {
            part("section", &section.label);
            part("section.path", &section.path);
        }
        part("search", &format!("{:?}", self.search));
        // A joined article is another page than its first page alone.
        if let Some(join) = &self.join {
            part("join", &format!("{join:?}"));
        }
        for (upstream, host) in &self.siblings {
            part("sibling", upstream.as_str());
            part("sibling.host", host);
        }
        let digest = hasher.finalize();
        digest[..6].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The kind the operator's rules give a path, if any rule matches.
    /// The search page is a listing unless a rule says otherwise.
    pub(crate) fn kind_for(&self, path: &str) -> Option<PageKind> {
        self.kinds
            .iter()
            .find(|(glob, _)| glob.matches(path))
            .map(|(_, kind)| *kind)
            .or_else(|| {
                self.search
                    .as_ref()
                    .filter(|form| form.path == path)
                    .map(|_| PageKind::Listing)
            })
    }

    /// The shell's words for a page in `lang` (the site's `lang` when `None`).
    pub fn words(&self, lang: Option<&str>) -> lang::Words<'_> {
        lang::Words::new(lang.or(self.lang.as_deref()), &self.strings)
    }

    /// The label of the site's header, in `words` unless the operator set one.
    pub(crate) fn label_in(&self, words: &lang::Words<'_>) -> String {
        if self.label_configured {
            self.label.clone()
        } else {
            words.fill(Message::SiteLabel, &[("site", &self.name)])
        }
    }

    /// Whether the operator allows fetching this path. The rules must hold both for the
    /// path as sent and for it without `;parameters`, the path a servlet container serves.
    pub(crate) fn path_allowed(&self, path: &NormalPath) -> bool {
        [path.as_str(), path.without_params()]
            .into_iter()
            .all(|p| self.rules_allow(p))
    }

    fn rules_allow(&self, path: &str) -> bool {
        let allowed = self.allow_paths.is_empty()
            || self.allow_paths.iter().any(|rule| self.allows(path, rule));
        let denied = self
            .deny_paths
            .iter()
            .any(|rule| self.compare(path, rule, true));
        allowed && !denied
    }

    /// Whether an `allow_paths` entry allows `path`: an entry ending in `/` allows every
    /// path under it, any other entry that one path alone. `/` allows only the home page:
    /// as a prefix it would allow every path, which an empty list already says.
    fn allows(&self, path: &str, rule: &str) -> bool {
        self.compare(path, rule, rule.len() > 1 && rule.ends_with('/'))
    }

    /// Whether `path` is `rule`, or starts with it when `is_prefix`. A `deny_paths` entry
    /// is always a prefix, so `/admin` also keeps `/admin/panel` and `/admin.php` away.
    fn compare(&self, path: &str, rule: &str, is_prefix: bool) -> bool {
        let compared = if is_prefix {
            path.get(..rule.len())
        } else {
            Some(path).filter(|p| p.len() == rule.len())
        };
        compared.is_some_and(|head| {
            if self.paths_case_insensitive {
                head.eq_ignore_ascii_case(rule)
            } else {
                head == rule
            }
        })
    }

    /// The query a request's `query` becomes under the site's `query` rule: only the
    /// parameters kept, sorted by name (the order of repeated names kept), each as it was
    /// written; `None` when none is left.
    pub(crate) fn kept_query(&self, query: Option<&str>) -> Option<String> {
        let keep = |name: &str| match &self.query {
            QueryConfig::Mode(QueryMode::Keep) => true,
            QueryConfig::Mode(QueryMode::Drop) => false,
            QueryConfig::Only(names) => names.iter().any(|n| n == name),
        };
        let mut kept: Vec<(String, &str)> = query
            .unwrap_or_default()
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter_map(|pair| {
                let raw_name = pair.split_once('=').map_or(pair, |(name, _)| name);
                let name: String = url::form_urlencoded::parse(raw_name.as_bytes())
                    .next()
                    .map(|(name, _)| name.into_owned())
                    .unwrap_or_default();
                keep(&name).then_some((name, pair))
            })
            .collect();
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        let joined: Vec<&str> = kept.into_iter().map(|(_, pair)| pair).collect();
        (!joined.is_empty()).then(|| joined.join("&"))
    }

    /// The URL to fetch for an image at `url`, or `None` when the site does not fetch it:
    /// it must be on the upstream origin, where the path rules hold as for pages and the
    /// path is sent in its normal form, or on one of `image_hosts`.
    pub(crate) fn image_allowed(&self, url: &Url) -> Option<Url> {
        if !self.images.host_allowed(url, &self.upstream) {
            return None;
        }
        if !self.is_upstream(url) {
            return Some(url.clone());
        }
        let path = NormalPath::parse(url.path()).ok()?;
        crate::route::site_url(self, url, &path, url.query()).ok()
    }

    /// Whether `url` lies on this site's upstream origin.
    pub fn is_upstream(&self, url: &Url) -> bool {
        url.origin() == self.upstream.origin()
    }

    /// A site for converting one page with no configuration: detection only.
    pub fn ad_hoc(url: &Url) -> Self {
        let mut upstream = url.clone();
        upstream.set_path("/");
        upstream.set_query(None);
        upstream.set_fragment(None);
        let name = url.host_str().unwrap_or("page").to_owned();
        Self::with_digest(Self {
            label: format!("{name} Light"),
            label_configured: false,
            name,
            upstream,
            hosts: Vec::new(),
            allow_private_upstream: false,
            content: Vec::new(),
            remove: Vec::new(),
            title: None,
            byline: None,
            date: None,
            selectors: Selectors::default(),
            kinds: Vec::new(),
            allow_paths: Vec::new(),
            deny_paths: Vec::new(),
            paths_case_insensitive: false,
            query: QueryConfig::default(),
            cache_ttl: None,
            lang: None,
            test_urls: Vec::new(),
            images: ImageRules {
                mode: ImageMode::Tap,
                hosts: Vec::new(),
                width: DEFAULT_IMAGE_WIDTH,
                greyscale: false,
            },
            robots: RobotsRule::default(),
            onion_location: None,
            strings: Overrides::new(),
            sections: Vec::new(),
            search: None,
            siblings: Vec::new(),
            rules_digest: String::new(),
            upstream_rate: None,
            join: None,
        })
    }
}

/// `[site.strings]`: each key a message, each text using only that message's slots.
fn check_strings(
    raw: &std::collections::BTreeMap<String, String>,
    push: &mut impl FnMut(&str, String),
) -> Overrides {
    let mut strings = Overrides::new();
    for (key, text) in raw {
        let field = format!("strings.{key}");
        let Some(message) = Message::from_key(key) else {
            push(&field, "unknown message key".into());
            continue;
        };
        let allowed = message.slots();
        let stray: Vec<&str> = lang::slots(text)
            .into_iter()
            .filter(|slot| !allowed.contains(slot))
            .collect();
        if !stray.is_empty() {
            push(
                &field,
                format!(
                    "uses {{{}}}; this message has {:?}",
                    stray.join("}, {"),
                    allowed
                ),
            );
            continue;
        }
        strings.insert(message, text.clone());
    }
    strings
}

/// Lower-cases a `host[:port]` and checks it parses as one.
fn normalise_host(host: &str) -> Option<String> {
    let lower = host.trim().to_ascii_lowercase();
    let url = Url::parse(&format!("http://{lower}/")).ok()?;
    let parsed = url.host_str()?;
    match url.port() {
        Some(port) => (format!("{parsed}:{port}") == lower).then_some(lower),
        None => (parsed == lower || format!("{parsed}:80") == lower).then(|| parsed.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site_with_query(rule: &str) -> std::sync::Arc<Site> {
        let text = format!(
            "[[site]]\nname = \"q\"\nupstream = \"https://news.example\"\nhosts = [\"l.example\"]\nquery = {rule}\n"
        );
        super::super::parse(&text, "t").unwrap().1.remove(0)
    }

    #[test]
    fn queries_keep_what_the_rule_says_sorted() {
        let keep = site_with_query("\"keep\"");
        assert_eq!(
            keep.kept_query(Some("b=2&a=1&&a=0")).as_deref(),
            Some("a=1&a=0&b=2")
        );
        assert_eq!(keep.kept_query(None), None);
        let drop = site_with_query("\"drop\"");
        assert_eq!(drop.kept_query(Some("utm_source=x&page=2")), None);
        let only = site_with_query("[\"page\", \"q\"]");
        assert_eq!(
            only.kept_query(Some("utm_source=x&q=harbour+news&page=2&fbclid=1"))
                .as_deref(),
            Some("page=2&q=harbour+news")
        );
        assert_eq!(
            only.kept_query(Some("%70age=3")).as_deref(),
            Some("%70age=3")
        );
    }

    fn site_with(rules: &str) -> std::sync::Arc<Site> {
        let text = format!(
            "[[site]]\nname = \"d\"\nupstream = \"https://news.example\"\nhosts = [\"l.example\"]\n{rules}\n"
        );
        super::super::parse(&text, "t").unwrap().1.remove(0)
    }

    #[test]
    fn the_digest_follows_the_rules_that_shape_a_page() {
        let base = site_with("remove = [\".ad\"]");
        assert_eq!(base.rules_digest.len(), 12);
        assert_eq!(
            base.rules_digest,
            site_with("remove = [\".ad\"]").rules_digest
        );
        // Rules that only decide what is fetched leave it alone.
        let paths = site_with("remove = [\".ad\"]\ndeny_paths = [\"/x/\"]\ncache_ttl = \"1m\"");
        assert_eq!(base.rules_digest, paths.rules_digest);
        for changed in [
            "remove = [\".ads\"]",
            "remove = [\".ad\", \".promo\"]",
            "remove = [\".ad\"]\ncontent = [\"article\"]",
            "remove = [\".ad\"]\ntitle = \"h1\"",
            "remove = [\".ad\"]\nbyline = \".by\"",
            "remove = [\".ad\"]\ndate = \"time\"",
            "remove = [\".ad\"]\nlabel = \"Other\"",
            "remove = [\".ad\"]\nlang = \"fa\"",
            "remove = [\".ad\"]\nquery = \"drop\"",
            "remove = [\".ad\"]\n[[site.kind]]\npath = \"/tag/*\"\nkind = \"listing\"",
        ] {
            assert_ne!(
                base.rules_digest,
                site_with(changed).rules_digest,
                "{changed}"
            );
        }
        // Moving a selector from one rule to another is a change too.
        assert_ne!(
            site_with("title = \"h1\"").rules_digest,
            site_with("byline = \"h1\"").rules_digest
        );
    }

    #[test]
    fn globs_respect_segments() {
        let one = PathGlob::new("/tag/*").unwrap();
        assert!(one.matches("/tag/politics"));
        assert!(!one.matches("/tag/politics/page/2"));
        let deep = PathGlob::new("/tag/**").unwrap();
        assert!(deep.matches("/tag/politics/page/2"));
    }

    #[test]
    fn hosts_are_normalised_or_rejected() {
        assert_eq!(
            normalise_host("Light.Example.COM").as_deref(),
            Some("light.example.com")
        );
        assert_eq!(normalise_host("[::1]:8080").as_deref(), Some("[::1]:8080"));
        assert_eq!(normalise_host("abc.onion").as_deref(), Some("abc.onion"));
        assert_eq!(normalise_host("a/b"), None);
        assert_eq!(normalise_host("a b"), None);
    }
}
