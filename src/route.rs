//! From a reader's request to a site and an upstream URL. Only configured hosts are
//! served and only their upstream origin is ever named, so the proxy cannot be pointed
//! anywhere else: absolute-form and CONNECT requests are refused outright.
//!
//! A request path is normalised once, here, into the one form that is both checked
//! against the site's path rules and sent upstream ([`NormalPath`]): an upstream that
//! decodes `%73` or resolves `..` itself would otherwise fetch a path the rules never saw.

use std::fmt::Write;
use std::sync::Arc;

use http::{Method, Uri, Version};
use url::Url;

use crate::config::Site;
pub(crate) use crate::error::{PathError, RouteError};

/// A request path in normal form: escapes of unreserved characters decoded, the hex of
/// other escapes upper-cased, characters outside a path segment's set escaped, dot
/// segments resolved and empty segments dropped. Setting it as a URL's path leaves it as
/// it is, so what is checked is byte for byte what the upstream receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NormalPath {
    path: String,
    /// The path without parameters, when it differs from `path`.
    bare: Option<String>,
}

impl NormalPath {
    /// Normalises `raw`, or says why it has no single reading.
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        if is_plain(raw) {
            return Ok(Self {
                path: raw.to_owned(),
                bare: None,
            });
        }
        Self::parse_segments(raw)
    }

    /// Normalises `raw` segment by segment.
    fn parse_segments(raw: &str) -> Result<Self, PathError> {
        let rest = raw.strip_prefix('/').ok_or(PathError::NotAbsolute)?;
        let mut segments: Vec<String> = Vec::new();
        let mut trailing_slash = false;
        for written in rest.split('/') {
            match written {
                "." | "" => {}
                ".." => {
                    segments.pop();
                }
                _ => {
                    let segment = normalise_segment(written)?;
                    if is_disguised_dot(&segment) {
                        return Err(PathError::DisguisedDotSegment);
                    }
                    segments.push(segment);
                }
            }
            // Only the last segment's value survives the loop.
            trailing_slash = matches!(written, "." | ".." | "");
        }
        let join = |names: &mut dyn Iterator<Item = &str>| {
            let mut out = String::with_capacity(raw.len());
            for name in names.filter(|n| !n.is_empty()) {
                out.push('/');
                out.push_str(name);
            }
            if out.is_empty() || trailing_slash {
                out.push('/');
            }
            out
        };
        let path = join(&mut segments.iter().map(String::as_str));
        let bare = join(&mut segments.iter().map(|s| bare_name(s)));
        Ok(Self {
            bare: (bare != path).then_some(bare),
            path,
        })
    }

    /// The path to check and to send upstream.
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// The path with every segment's `;parameters` (or `%3Bparameters`) removed and
    /// segments left empty by that dropped: what a servlet container routes on
    /// (`/admin;jsessionid=1/` is `/admin/`), so path rules hold for it too.
    pub(crate) fn without_params(&self) -> &str {
        self.bare.as_deref().unwrap_or(&self.path)
    }
}

/// Whether `raw` is already in normal form with no parameters, as most request paths are:
/// `/` and segments of unreserved characters only (no escape, no `;`), none of them empty
/// or a dot segment, the last one possibly empty (a trailing `/`). Such a path normalises
/// to itself, so the segment-by-segment pass can be skipped.
fn is_plain(raw: &str) -> bool {
    let Some(rest) = raw.strip_prefix('/') else {
        return false;
    };
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        let dot = matches!(segment, "." | "..");
        let empty_inside = segment.is_empty() && !last;
        if dot || empty_inside || !segment.bytes().all(is_unreserved) {
            return false;
        }
    }
    true
}

/// A segment's name without its `;parameters`, cut at an encoded `;` too for servers that
/// decode before they look for parameters (`%3B` is the only escape left in normal form
/// that could change a segment's name).
fn bare_name(segment: &str) -> &str {
    let name = segment.split(';').next().unwrap_or_default();
    name.split("%3B").next().unwrap_or_default()
}

/// Whether a normal segment (not `.` or `..` itself) is one once its parameters are gone.
fn is_disguised_dot(segment: &str) -> bool {
    matches!(bare_name(segment), "." | "..")
}

/// Characters of RFC 3986's `unreserved` set: an escape of one of them means the same
/// as the character, so it is decoded.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Characters a path segment may hold as they are (`pchar` less `%`); any other is escaped.
fn is_segment_char(b: u8) -> bool {
    is_unreserved(b)
        || matches!(b, b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+')
        || matches!(b, b',' | b';' | b'=' | b':' | b'@')
}

/// One segment (no `/` in it) in normal form.
fn normalise_segment(written: &str) -> Result<String, PathError> {
    let bytes = written.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let (byte, escaped) = if b == b'%' {
            let byte = bytes
                .get(i + 1..i + 3)
                .and_then(hex_byte)
                .ok_or(PathError::BadEscape)?;
            i += 3;
            (byte, true)
        } else {
            i += 1;
            (b, false)
        };
        match byte {
            b'/' if escaped => return Err(PathError::EncodedSlash),
            b'\\' => return Err(PathError::Backslash),
            _ if byte.is_ascii_control() => return Err(PathError::Control),
            _ if is_unreserved(byte) || (!escaped && is_segment_char(byte)) => {
                out.push(char::from(byte));
            }
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    Ok(out)
}

/// The byte two hex digits stand for.
fn hex_byte(digits: &[u8]) -> Option<u8> {
    let value = |d: u8| char::from(d).to_digit(16);
    match digits {
        [high, low] => Some((value(*high)? * 16 + value(*low)?) as u8),
        _ => None,
    }
}

/// Checks method and request-target form. HTTP/2 requests always carry an authority, so
/// only an HTTP/1 request that names one is in absolute form.
pub(crate) fn check_request(
    method: &Method,
    uri: &Uri,
    version: Version,
) -> Result<(), RouteError> {
    if method == Method::CONNECT {
        return Err(RouteError::Connect);
    }
    if version < Version::HTTP_2 && uri.authority().is_some() {
        return Err(RouteError::AbsoluteForm);
    }
    if method != Method::GET && method != Method::HEAD {
        return Err(RouteError::Method(method.to_string()));
    }
    Ok(())
}

/// The site that answers to `host` (a Host header value, any case, optional port): an
/// entry with the port matches first, then one without.
pub(crate) fn site_for_host<'a>(
    sites: &'a [Arc<Site>],
    host: &str,
) -> Result<&'a Arc<Site>, RouteError> {
    let host = without_root_dot(host.trim().to_ascii_lowercase());
    if host.is_empty() {
        return Err(RouteError::MissingHost);
    }
    let bare = strip_port(&host);
    sites
        .iter()
        .find(|s| s.hosts.contains(&host))
        .or_else(|| sites.iter().find(|s| s.hosts.iter().any(|h| h == bare)))
        .ok_or(RouteError::UnknownHost(host))
}

/// `name.` and `name.:port` are `name` and `name:port`: the dot names the DNS root, and
/// readers type it (or use it to get past filters that match host names exactly).
fn without_root_dot(host: String) -> String {
    let name = strip_port(&host);
    let trimmed = name.trim_end_matches('.');
    if trimmed.len() == name.len() {
        return host;
    }
    format!("{trimmed}{}", &host[name.len()..])
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
}

/// A page a request names on a site: its path in normal form, which the site's rules
/// serve, and the query its `query` rule keeps. Its cache key is made for every request,
/// its upstream URL only when the page is fetched: a cache hit needs no URL.
#[derive(Debug)]
pub(crate) struct SitePage {
    path: NormalPath,
    query: Option<String>,
}

impl SitePage {
    /// The page a request path and query name on `site`, or why the site does not serve
    /// it.
    pub(crate) fn of(site: &Site, path: &str, query: Option<&str>) -> Result<Self, RouteError> {
        let normal = NormalPath::parse(path).map_err(|why| RouteError::MalformedPath {
            path: path.to_owned(),
            why,
        })?;
        if !site.path_allowed(&normal) {
            return Err(RouteError::PathNotAllowed(normal.as_str().to_owned()));
        }
        Ok(Self {
            path: normal,
            query: site.kept_query(query).filter(|q| !q.is_empty()),
        })
    }

    /// The upstream URL of the page on `site`.
    pub(crate) fn url(&self, site: &Site) -> Result<Url, RouteError> {
        site_url(site, &site.upstream, &self.path, self.query.as_deref())
    }

    /// The page's cache key on `site`, as [`cache_key`] makes it from the page's URL. A
    /// query the URL keeps as it is needs no URL; any other is read back from the URL,
    /// which escapes some of its characters.
    pub(crate) fn cache_key(&self, site: &Site) -> Result<String, RouteError> {
        match &self.query {
            Some(query) if !query.bytes().all(is_kept_in_query) => {
                Ok(cache_key(site, &self.url(site)?))
            }
            query => Ok(key(site, self.path.as_str(), query.as_deref())),
        }
    }
}

/// Bytes a URL's query holds as they are written, in URLs of any scheme: a query made
/// of them only is its own URL form. (The URL standard escapes controls, space, `"`,
/// `#`, `<`, `>` and, in `http` and `https` URLs, `'`; this set leaves out more than
/// those.)
fn is_kept_in_query(b: u8) -> bool {
    is_unreserved(b) || b"!$&()*+,;=:@/?%".contains(&b)
}

/// The upstream URL for a request path and query: the path normalised first, the query
/// kept as the site's `query` rule says.
pub(crate) fn upstream_url(
    site: &Site,
    path: &str,
    query: Option<&str>,
) -> Result<Url, RouteError> {
    SitePage::of(site, path, query)?.url(site)
}

/// The URL of a normalised path on `origin` (the site's upstream, or a redirect's https
/// upgrade of it), when the site's rules serve the path. The path is set on a copy of the
/// origin, never joined, so no path can name another host.
pub(crate) fn site_url(
    site: &Site,
    origin: &Url,
    path: &NormalPath,
    query: Option<&str>,
) -> Result<Url, RouteError> {
    let refused = || RouteError::PathNotAllowed(path.as_str().to_owned());
    if !site.path_allowed(path) {
        return Err(refused());
    }
    let mut url = origin.clone();
    url.set_path(path.as_str());
    url.set_query(query.filter(|q| !q.is_empty()));
    url.set_fragment(None);
    // The checked path must be the one sent, on the origin; a URL parser that rewrote
    // either would void the check. (Compared part by part: `Url::origin` allocates.)
    let same_origin = url.scheme() == origin.scheme()
        && url.host() == origin.host()
        && url.port_or_known_default() == origin.port_or_known_default();
    if !same_origin || url.path() != path.as_str() {
        return Err(refused());
    }
    Ok(url)
}

/// A cache key: `NAME.DIGEST\0/path?query`, with the site's name and the digest of its
/// rules ([`Site::rules_digest`]), then the normalised path and the kept query. A reload
/// that changes a site's rules changes its keys, so pages converted under the old rules
/// are never served again; purging by site matches the name whatever the digest.
///
/// ```
/// let text = "[[site]]\nname = \"news\"\nupstream = \"https://news.example\"\nhosts = [\"l.example\"]\n";
/// let (_, sites) = lightmirror::config::parse(text, "t").unwrap();
/// let url = url::Url::parse("https://news.example/a?b=1").unwrap();
/// let key = lightmirror::route::cache_key(&sites[0], &url);
/// assert_eq!(key, format!("news.{}\0/a?b=1", sites[0].rules_digest));
/// ```
pub fn cache_key(site: &Site, url: &Url) -> String {
    key(site, url.path(), url.query())
}

/// [`cache_key`] of an upstream URL's path and query.
fn key(site: &Site, path: &str, query: Option<&str>) -> String {
    // Made for every request, hits included: one allocation of the right size.
    let digest = &site.rules_digest;
    let length = site.name.len() + 2 + digest.len() + path.len() + query.map_or(0, |q| q.len() + 1);
    let mut key = String::with_capacity(length);
    key.push_str(&site.name);
    key.push('.');
    key.push_str(digest);
    key.push('\0');
    key.push_str(path);
    if let Some(query) = query {
        key.push('?');
        key.push_str(query);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use http::StatusCode;

    fn sites() -> Vec<Arc<Site>> {
        let text = r#"
            [[site]]
            name = "a"
            upstream = "https://www.example.com"
            hosts = ["light.example.com", "abcdefgh.onion", "127.0.0.1:8080"]
            deny_paths = ["/account"]
            [[site]]
            name = "b"
            upstream = "http://other.example:8000"
            hosts = ["light.example.com:9000"]
        "#;
        parse(text, "t").unwrap().1
    }

    #[test]
    fn hosts_route_with_and_without_port() {
        let sites = sites();
        assert_eq!(
            site_for_host(&sites, "LIGHT.example.com").unwrap().name,
            "a"
        );
        assert_eq!(
            site_for_host(&sites, "light.example.com:443").unwrap().name,
            "a"
        );
        assert_eq!(
            site_for_host(&sites, "light.example.com:9000")
                .unwrap()
                .name,
            "b"
        );
        assert_eq!(site_for_host(&sites, "abcdefgh.onion.").unwrap().name, "a");
        assert_eq!(
            site_for_host(&sites, "Light.Example.com.:9000")
                .unwrap()
                .name,
            "b"
        );
        assert_eq!(
            site_for_host(&sites, "light.example.com.:443")
                .unwrap()
                .name,
            "a"
        );
        assert!(matches!(
            site_for_host(&sites, "light.example.com..evil.test"),
            Err(RouteError::UnknownHost(_))
        ));
        assert_eq!(site_for_host(&sites, "127.0.0.1:8080").unwrap().name, "a");
        assert!(matches!(
            site_for_host(&sites, "127.0.0.1:8081"),
            Err(RouteError::UnknownHost(_))
        ));
        assert!(matches!(
            site_for_host(&sites, "evil.test"),
            Err(RouteError::UnknownHost(_))
        ));
    }

    #[test]
    fn paths_stay_on_the_upstream() {
        let sites = sites();
        let url = upstream_url(&sites[0], "//evil.test/x", Some("q=1")).unwrap();
        assert_eq!(url.as_str(), "https://www.example.com/evil.test/x?q=1");
        let url = upstream_url(&sites[0], "/a/../../b", None).unwrap();
        assert_eq!(url.as_str(), "https://www.example.com/b");
        assert!(upstream_url(&sites[0], "/account/settings", None).is_err());
        assert_eq!(
            upstream_url(&sites[1], "/", None).unwrap().as_str(),
            "http://other.example:8000/"
        );
    }

    fn normal(raw: &str) -> Result<String, PathError> {
        NormalPath::parse(raw).map(|p| p.as_str().to_owned())
    }

    #[test]
    fn paths_have_one_normal_form() {
        for (raw, expected) in [
            ("/", "/"),
            ("/%73earch/", "/search/"),
            ("/%7Euser/%41-%5f.x", "/~user/A-_.x"),
            ("//search/", "/search/"),
            ("/a//b///c", "/a/b/c"),
            ("/a/./b/../c/", "/a/c/"),
            ("/a/b/..", "/a/"),
            ("/a/.", "/a/"),
            ("/../../x", "/x"),
            ("/a%2cb%3B", "/a%2Cb%3B"),
            ("/caf\u{e9}", "/caf%C3%A9"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/a b\"<>^`{|}[]", "/a%20b%22%3C%3E%5E%60%7B%7C%7D%5B%5D"),
            ("/x;a=1,b/y@z:!$&'()*+", "/x;a=1,b/y@z:!$&'()*+"),
            ("/admin;jsessionid=x/", "/admin;jsessionid=x/"),
            ("/%25", "/%25"),
            ("/a%3bb/...", "/a%3Bb/..."),
            // Dot segments are resolved here, so the upstream never resolves one itself.
            ("/a/;/../admin", "/a/admin"),
        ] {
            assert_eq!(normal(raw).as_deref(), Ok(expected), "{raw}");
            // Normal form is a fixed point.
            assert_eq!(normal(expected).as_deref(), Ok(expected), "{expected}");
        }
    }

    #[test]
    fn paths_with_two_readings_are_refused() {
        for (raw, why) in [
            ("search", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
            ("/ok%2fsecret", PathError::EncodedSlash),
            ("/x/..%2fsearch/", PathError::EncodedSlash),
            ("/echo/..%2f..%2fadmin", PathError::EncodedSlash),
            ("/a%5Cb", PathError::Backslash),
            ("/a\\b", PathError::Backslash),
            ("/a%00", PathError::Control),
            ("/a%0d%0aX:1", PathError::Control),
            ("/a\u{7f}", PathError::Control),
            ("/a\tb", PathError::Control),
            ("/%2e/admin", PathError::DisguisedDotSegment),
            ("/x/.%2E/admin", PathError::DisguisedDotSegment),
            ("/x/%2e%2e/admin", PathError::DisguisedDotSegment),
            ("/x/%2E./admin", PathError::DisguisedDotSegment),
            ("/public/..;/admin", PathError::DisguisedDotSegment),
            ("/public/.;x/admin", PathError::DisguisedDotSegment),
            ("/public/%2e%2e;a=b/admin", PathError::DisguisedDotSegment),
            ("/public/..%3b/admin", PathError::DisguisedDotSegment),
            ("/public/.%3Bx/admin", PathError::DisguisedDotSegment),
            ("/a%", PathError::BadEscape),
            ("/a%2", PathError::BadEscape),
            ("/a%+1", PathError::BadEscape),
            ("/a%zz", PathError::BadEscape),
            ("/a%\u{e9}9", PathError::BadEscape),
        ] {
            assert_eq!(normal(raw), Err(why), "{raw:?}");
        }
    }

    #[test]
    fn plain_paths_are_their_own_normal_form() {
        // Every path of up to six characters over an alphabet with each kind of byte the
        // normal form cares about.
        let alphabet = ['/', '.', 'a', 'Z', '~', '%', '2', 'e', ';', ' '];
        let mut paths = vec![String::from("/")];
        let mut plain = 0;
        for _ in 0..5 {
            let longer: Vec<String> = paths
                .iter()
                .flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}")))
                .collect();
            for path in &longer {
                if is_plain(path) {
                    plain += 1;
                    let slow = NormalPath::parse_segments(path).unwrap();
                    assert_eq!(slow.as_str(), path, "{path:?}");
                    assert_eq!(slow.without_params(), path, "{path:?}");
                    assert_eq!(NormalPath::parse(path).unwrap(), slow, "{path:?}");
                }
            }
            paths = longer;
        }
        assert!(plain > 1000, "only {plain} plain paths tried");
        for path in [
            "/a//b", "/a/./b", "/a/../b", "/./", "/..", "/a;b", "/%61", "a/b",
        ] {
            assert!(!is_plain(path), "{path:?}");
        }
    }

    #[test]
    fn parameters_are_dropped_for_the_rules_only() {
        let path = NormalPath::parse("/admin;jsessionid=x/;y/page;v=2/b%3bc").unwrap();
        assert_eq!(path.as_str(), "/admin;jsessionid=x/;y/page;v=2/b%3Bc");
        assert_eq!(path.without_params(), "/admin/page/b");
        let plain = NormalPath::parse("/a/b/").unwrap();
        assert_eq!(plain.without_params(), "/a/b/");
    }

    fn guarded(extra: &str) -> Arc<Site> {
        let text = format!(
            "[[site]]\nname = \"g\"\nupstream = \"https://news.example\"\n\
             hosts = [\"light.example\"]\n{extra}\n"
        );
        parse(&text, "t").unwrap().1.remove(0)
    }

    #[test]
    fn rules_hold_for_every_spelling_of_a_path() {
        let site = guarded(r#"deny_paths = ["/search/", "/secret", "/admin", "/%7eme"]"#);
        for raw in [
            "/search/",
            "/%73earch/",
            "/%73%65arch/x",
            "//search/",
            "/x/../search/",
            "/./search/",
            "/secret",
            "/secret;x",
            "/admin",
            "/admin;jsessionid=x/",
            "/;x/admin",
            "/~me",
        ] {
            let refused = upstream_url(&site, raw, None).unwrap_err();
            assert_eq!(refused.status(), StatusCode::NOT_FOUND, "{raw}: {refused}");
        }
        for raw in [
            "/x/..%2fsearch/",
            "/ok%2fsecret",
            "/echo/..%2f..%2fadmin",
            "/public/..;/admin",
            "/%2e%2e/admin",
        ] {
            let refused = upstream_url(&site, raw, None).unwrap_err();
            assert_eq!(
                refused.status(),
                StatusCode::BAD_REQUEST,
                "{raw}: {refused}"
            );
        }
        // Case matters unless the site says otherwise.
        assert!(upstream_url(&site, "/Admin", None).is_ok());
        assert!(upstream_url(&site, "/searches", None).is_ok());
    }

    #[test]
    fn allow_rules_hold_with_and_without_parameters() {
        let site = guarded(r#"allow_paths = ["/news/"]"#);
        assert!(upstream_url(&site, "/news/a", None).is_ok());
        assert!(upstream_url(&site, "/news;x/../admin", None).is_err());
        assert!(upstream_url(&site, "/news;x/a", None).is_err());
        assert!(upstream_url(&site, "/admin;/news/", None).is_err());
        assert!(upstream_url(&site, "/%6Eews/a", None).is_ok());
    }

    #[test]
    fn allow_entries_without_a_trailing_slash_name_one_path() {
        let site = guarded(r#"allow_paths = ["/", "/about", "/news/"]"#);
        for allowed in ["/", "/about", "/news/", "/news/a/b", "/./about"] {
            assert!(upstream_url(&site, allowed, None).is_ok(), "{allowed}");
        }
        for refused in ["/world/a", "/about/team", "/abouts", "/news", "/index.html"] {
            let e = upstream_url(&site, refused, None).unwrap_err();
            assert_eq!(e.status(), StatusCode::NOT_FOUND, "{refused}");
        }
        let home = guarded(
            r#"allow_paths = ["/"]
            paths_case_insensitive = true"#,
        );
        assert!(upstream_url(&home, "/", None).is_ok());
        assert!(upstream_url(&home, "/a", None).is_err());
    }

    #[test]
    fn rules_may_ignore_case() {
        let site =
            guarded("deny_paths = [\"/admin\", \"/caf%c3%a9\"]\npaths_case_insensitive = true");
        assert_eq!(site.deny_paths, ["/admin", "/caf%C3%A9"]);
        for raw in ["/ADMIN", "/Admin/x", "/%41dmin", "/CAF%C3%A9"] {
            assert!(upstream_url(&site, raw, None).is_err(), "{raw}");
        }
        assert!(upstream_url(&site, "/adm", None).is_ok());
    }

    #[test]
    fn the_upstream_gets_the_path_that_was_checked() {
        let site = guarded("");
        for raw in [
            "/%73earch/a%2cb",
            "/caf\u{e9}?",
            "/a;b=c/d",
            "/x/%7Bjson%7D",
        ] {
            let checked = NormalPath::parse(raw).unwrap();
            let url = site_url(&site, &site.upstream, &checked, None).unwrap();
            assert_eq!(url.path(), checked.as_str(), "{raw}");
        }
    }

    #[test]
    fn a_page_is_keyed_as_its_url_is() {
        let sites = sites();
        let every_ascii: String = (0x21u8..0x7f).map(char::from).collect();
        let queries = [
            None,
            Some("b=1&a=2"),
            Some("q=caf%C3%A9&x=a/b?c:d@e!$()*+,;"),
            Some("q='quoted'"),
            Some("q=\"quoted\""),
            Some("q=<b>{x}|^`[y]\\"),
            Some("q=caf\u{e9}"),
            Some("q=a%20b"),
            Some(every_ascii.as_str()),
        ];
        for site in &sites {
            for path in ["/", "/a/%7Eb/../c;d", "/caf\u{e9}/"] {
                for query in queries {
                    let page = SitePage::of(site, path, query).unwrap();
                    let url = upstream_url(site, path, query).unwrap();
                    assert_eq!(page.url(site).unwrap(), url);
                    assert_eq!(
                        page.cache_key(site).unwrap(),
                        cache_key(site, &url),
                        "{path} {query:?}"
                    );
                }
            }
        }
        // A URL of either scheme keeps every byte as it is where the key is made without it.
        for site in &sites {
            for b in (0u8..=255).filter(|&b| is_kept_in_query(b)) {
                let query = format!("q={}", char::from(b));
                let mut url = site.upstream.clone();
                url.set_query(Some(&query));
                assert_eq!(url.query(), Some(query.as_str()));
            }
        }
        assert!(!is_kept_in_query(b'\''));
    }

    #[test]
    fn refusals_know_their_status() {
        assert_eq!(RouteError::Connect.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            RouteError::Method("POST".into()).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(RouteError::AbsoluteForm.status(), StatusCode::BAD_REQUEST);
        assert_eq!(RouteError::MissingHost.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            RouteError::UnknownHost("x".into()).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            RouteError::PathNotAllowed("/x".into()).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn only_get_and_head() {
        let uri: Uri = "/x".parse().unwrap();
        let v1 = Version::HTTP_11;
        assert!(check_request(&Method::GET, &uri, v1).is_ok());
        assert_eq!(
            check_request(&Method::POST, &uri, v1),
            Err(RouteError::Method("POST".into()))
        );
        let tunnel = "example.com:443".parse().unwrap();
        assert_eq!(
            check_request(&Method::CONNECT, &tunnel, v1),
            Err(RouteError::Connect)
        );
        let absolute = "http://internal.test/".parse().unwrap();
        assert_eq!(
            check_request(&Method::GET, &absolute, v1),
            Err(RouteError::AbsoluteForm)
        );
        assert!(check_request(&Method::GET, &absolute, Version::HTTP_2).is_ok());
    }
}
