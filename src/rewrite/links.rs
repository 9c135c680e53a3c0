//! URLs in a Light page. Every URL an upstream writes is decoded, cleaned, checked against
//! the allowlisted schemes and serialised anew; links to the upstream site become
//! root-relative links into the Light site, so a page works under whatever host name,
//! address or onion name it is reached by.

use url::Url;

use super::policy::URL_SCHEMES;
use crate::charref::decode_attribute;

/// Where a page's URLs are resolved from and which origin counts as "the site".
#[derive(Debug, Clone)]
pub(crate) struct LinkContext {
    /// The document's base URL: the page URL, or its `<base href>`.
    pub base: Url,
    /// The site's upstream origin.
    pub upstream: Url,
    /// The instance's other sites: upstream origin and Light host.
    pub siblings: Vec<(Url, String)>,
}

impl LinkContext {
    /// The `href` to write for a raw attribute value, already escaped for a double-quoted
    /// attribute; `None` when the URL is unusable or its scheme is not allowed.
    pub fn href(&self, raw: &str) -> Option<String> {
        self.resolve(raw)
            .map(|url| escape_attribute(&self.light_url(&url)))
    }

    /// The absolute URL a raw attribute value points to, if its scheme is allowed.
    pub(crate) fn resolve(&self, raw: &str) -> Option<Url> {
        let decoded = decode_attribute(raw);
        // A browser reads the scheme with control characters and white space left out
        // ("java\tscript:"), so it is checked that way.
        let mut squeezed = decoded
            .chars()
            .filter(|c| !c.is_control() && !c.is_whitespace())
            .peekable();
        squeezed.peek()?;
        if let Some(scheme) = explicit_scheme(squeezed) {
            if !URL_SCHEMES.contains(&scheme.as_str()) {
                return None;
            }
        }
        let url = self.base.join(decoded.trim()).ok()?;
        URL_SCHEMES.contains(&url.scheme()).then_some(url)
    }

    /// Root-relative for URLs on the upstream site, scheme-relative on the Light host of
    /// another site this instance serves (so the reader stays on http or https as they
    /// came), absolute for everything else. Only for URLs `resolve` passed, so its scheme
    /// check is the only one.
    fn light_url(&self, url: &Url) -> String {
        if !is_same_site(url, &self.upstream) {
            return match self.siblings.iter().find(|(up, _)| is_same_site(url, up)) {
                Some((_, host)) => format!("//{host}{}", self.light_path(url)),
                None => url.as_str().to_owned(),
            };
        }
        self.light_path(url)
    }

    /// The path, query and fragment of `url` as a link on a Light site.
    fn light_path(&self, url: &Url) -> String {
        // A path that starts with an empty segment ("//host/x") would read as a link to that
        // host; the "/." prefix keeps the same path on the Light site.
        let mut out = if url.path().starts_with("//") {
            format!("/.{}", url.path())
        } else {
            url.path().to_owned()
        };
        if let Some(query) = url.query() {
            out.push('?');
            out.push_str(query);
        }
        if let Some(fragment) = url.fragment() {
            out.push('#');
            out.push_str(fragment);
        }
        out
    }
}

/// Whether a link to `url` is a link into the upstream site, to be served by the Light
/// site: the same host, ignoring `www.` and whether it is reached over http or https,
/// and the same port. The Light site fetches every such path from the upstream origin
/// itself, so the looseness never sends the proxy to another host or over cleartext;
/// which redirects the proxy follows is decided, strictly, in `upstream.rs`.
pub(crate) fn is_same_site(url: &Url, upstream: &Url) -> bool {
    if !matches!(url.scheme(), "http" | "https") {
        return false;
    }
    bare_host(url).eq_ignore_ascii_case(bare_host(upstream)) && url.port() == upstream.port()
}

/// A URL's host without a leading `www.`.
fn bare_host(url: &Url) -> &str {
    let host = url.host_str().unwrap_or_default();
    match host.get(..4) {
        Some(www) if www.eq_ignore_ascii_case("www.") => &host[4..],
        _ => host,
    }
}

/// The scheme, lowercased, that a URL's characters name, if they name one. Only the
/// characters up to the first that cannot be in a scheme are read.
fn explicit_scheme(mut chars: impl Iterator<Item = char>) -> Option<String> {
    let first = chars.next().filter(char::is_ascii_alphabetic)?;
    let mut scheme = String::from(first.to_ascii_lowercase());
    for c in chars {
        match c {
            ':' => return Some(scheme),
            c if c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.') => {
                scheme.push(c.to_ascii_lowercase());
            }
            _ => return None,
        }
    }
    None
}

/// Escapes text for a double-quoted attribute value.
pub(crate) fn escape_attribute(value: &str) -> String {
    html_escape::encode_double_quoted_attribute(value).into_owned()
}

/// Picks the candidate of a `srcset` to make a Light image `width` pixels wide from: the
/// narrowest at least that wide, else the widest; among density candidates (`2x`), the
/// lowest density. Fetching more than the Light image needs costs the proxy time, and less
/// costs the reader sharpness.
pub(crate) fn srcset_for(srcset: &str, width: u32) -> Option<&str> {
    let candidates: Vec<(&str, Option<f64>, f64)> = srcset
        .split(',')
        .filter_map(|candidate| {
            let mut parts = candidate.split_whitespace();
            let url = parts.next()?;
            let descriptor = parts.next().unwrap_or("1x");
            let value = descriptor
                .get(..descriptor.len().saturating_sub(1))
                .and_then(|n| n.parse::<f64>().ok())
                .unwrap_or(1.0);
            let wide = descriptor.ends_with('w').then_some(value);
            Some((url, wide, value))
        })
        .collect();
    let wide = |c: &&(&str, Option<f64>, f64)| c.1;
    let enough = candidates
        .iter()
        .filter(|c| wide(c).is_some_and(|w| w >= f64::from(width)))
        .min_by(|a, b| a.2.total_cmp(&b.2));
    let widest = || {
        candidates
            .iter()
            .filter(|c| wide(c).is_some())
            .max_by(|a, b| a.2.total_cmp(&b.2))
    };
    let lowest_density = || candidates.iter().min_by(|a, b| a.2.total_cmp(&b.2));
    enough
        .or_else(widest)
        .or_else(lowest_density)
        .map(|(url, _, _)| *url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> LinkContext {
        LinkContext {
            base: Url::parse("https://www.example.com/news/2024/story.html").unwrap(),
            upstream: Url::parse("https://www.example.com/").unwrap(),
            siblings: vec![(
                Url::parse("https://news.other.example/").unwrap(),
                "light.other.test:8443".into(),
            )],
        }
    }

    #[test]
    fn links_to_another_site_of_the_instance_go_to_its_light_host() {
        let c = ctx();
        assert_eq!(
            c.href("http://www.news.other.example/world/a?x=1#top")
                .as_deref(),
            Some("//light.other.test:8443/world/a?x=1#top")
        );
        assert_eq!(
            c.href("https://news.third.example/a").as_deref(),
            Some("https://news.third.example/a")
        );
    }

    #[test]
    fn site_links_become_root_relative() {
        let c = ctx();
        assert_eq!(
            c.href("other.html").as_deref(),
            Some("/news/2024/other.html")
        );
        assert_eq!(c.href("/a?b=1&amp;c=2").as_deref(), Some("/a?b=1&amp;c=2"));
        assert_eq!(c.href("//example.com/x#y").as_deref(), Some("/x#y"));
        assert_eq!(c.href("http://www.example.com/z").as_deref(), Some("/z"));
        assert_eq!(c.href("../../up").as_deref(), Some("/up"));
        assert_eq!(
            c.href("https://www.example.com//evil.example/x").as_deref(),
            Some("/.//evil.example/x")
        );
        assert_eq!(
            c.href("/.//evil.example/x").as_deref(),
            Some("/.//evil.example/x")
        );
    }

    #[test]
    fn other_sites_stay_absolute() {
        let c = ctx();
        assert_eq!(
            c.href("//cdn.other.net/a b").as_deref(),
            Some("https://cdn.other.net/a%20b")
        );
        assert_eq!(
            c.href("mailto:desk@example.com").as_deref(),
            Some("mailto:desk@example.com")
        );
        assert_eq!(
            c.href("https://www.example.com:8443/x").as_deref(),
            Some("https://www.example.com:8443/x")
        );
    }

    #[test]
    fn dangerous_schemes_never_survive() {
        let c = ctx();
        for raw in [
            "javascript:alert(1)",
            " JaVaScRiPt:alert(1)",
            "java\tscript:alert(1)",
            "java&#x09;script:alert(1)",
            "&#106;avascript:alert(1)",
            "&#x6A&#x61&#x76&#x61script:alert(1)",
            "\u{1}javascript:alert(1)",
            "vbscript:msgbox",
            "data:text/html,<script>alert(1)</script>",
            "jav&NewLine;ascript:alert(1)",
            "file:///etc/passwd",
            "",
        ] {
            assert_eq!(c.href(raw), None, "{raw:?} survived");
        }
    }

    #[test]
    fn output_is_attribute_safe() {
        let c = ctx();
        let href = c.href("mailto:a@b.c?subject=\"><script>").unwrap();
        assert!(!href.contains('"') && !href.contains('<'), "{href}");
    }

    #[test]
    fn srcset_gives_the_narrowest_candidate_wide_enough() {
        assert_eq!(
            srcset_for("a.jpg 800w, b.jpg 320w, c.jpg 1200w", 480),
            Some("a.jpg")
        );
        assert_eq!(srcset_for("a.jpg 800w, b.jpg 320w", 1000), Some("a.jpg"));
        assert_eq!(srcset_for("x.jpg 2x, y.jpg 1x", 480), Some("y.jpg"));
        assert_eq!(srcset_for(" only.jpg", 480), Some("only.jpg"));
        assert_eq!(srcset_for("", 480), None);
    }
}
