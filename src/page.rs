//! The Light page shell: doctype, head, header, headline, byline, footer with the saving,
//! and the small inline stylesheet. Metadata reaches the page only through here, escaped;
//! the body between head and tail comes from the Light pass. Also the short pages for
//! errors, non-HTML content and redirects off the site.

use std::fmt::Write;
use std::sync::LazyLock;

use base64::Engine;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use sha2::{Digest, Sha256};
use url::Url;

use crate::config::PageKind;
use crate::extract::Metadata;
use crate::rewrite::policy::is_web;

/// The only style a Light page has: readable on a phone, in RTL, and absent without harm.
pub const CSS: &str = "body{max-width:40em;margin:0 auto;padding:0 1em;font:1.05em/1.6 system-ui,sans-serif;color:#222;background:#fff}header,footer{font-size:.9em;padding:.5em 0;border-bottom:1px solid #ccc}footer{border:0;border-top:1px solid #ccc;margin-top:2em;color:#555}header a{font-weight:bold;text-decoration:none}h1{line-height:1.25}a{color:#0645ad}blockquote{margin-inline:0;padding-inline-start:1em;border-inline-start:3px solid #ccc}pre{white-space:pre-wrap}table{border-collapse:collapse;display:block;overflow-x:auto}td,th{border:1px solid #ccc;padding:.2em .4em}li{margin:.3em 0}@media(prefers-color-scheme:dark){body{background:#111;color:#ddd}a{color:#8ab4f8}}";

/// The Content-Security-Policy of every Light page: nothing may load or run except the
/// shell's own stylesheet, pinned by its hash.
pub fn content_security_policy() -> &'static str {
    static CSP: LazyLock<String> = LazyLock::new(|| {
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'none'; base-uri 'none'; \
             form-action 'none'; frame-ancestors 'none'"
        )
    });
    &CSP
}

/// Languages written right to left, by primary subtag.
const RTL_LANGUAGES: &[&str] = &[
    "ar", "fa", "he", "iw", "ur", "ps", "sd", "ug", "yi", "dv", "ckb", "ku", "syr", "prs",
];

/// What the shell shows around a body.
#[derive(Debug, Clone)]
pub struct Shell<'a> {
    /// Name of the Light site, linked to its home page.
    pub site_label: &'a str,
    /// The page's metadata.
    pub meta: &'a Metadata,
    /// The original page.
    pub original: &'a Url,
    /// Article or listing.
    pub kind: PageKind,
    /// Language assumed when the page declares none.
    pub default_lang: Option<&'a str>,
}

impl Shell<'_> {
    /// Everything before the body: the document head, the site header and the headline.
    pub fn head(&self) -> String {
        let lang = self
            .meta
            .lang
            .as_deref()
            .or(self.default_lang)
            .filter(|l| valid_lang(l));
        let dir = self
            .meta
            .dir
            .as_deref()
            .filter(|d| matches!(*d, "rtl" | "ltr"))
            .or_else(|| lang.map(direction_of));
        let title = self.meta.title.as_deref().unwrap_or(self.site_label);
        let mut out = String::with_capacity(2048);
        out.push_str("<!doctype html>\n<html");
        if let Some(lang) = lang {
            let _ = write!(out, " lang=\"{}\"", attr(lang));
        }
        if let Some(dir) = dir {
            let _ = write!(out, " dir=\"{dir}\"");
        }
        let _ = write!(
            out,
            "><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <meta name=\"referrer\" content=\"no-referrer\"><title>{}</title>",
            text(title),
        );
        if let Some(href) = web_href(self.original) {
            let _ = write!(out, "<link rel=\"canonical\" href=\"{href}\">");
        }
        let _ = write!(
            out,
            "<style>{CSS}</style></head>\n<body><header><a href=\"/\">{}</a></header>\n{MAIN_OPEN}",
            text(self.site_label),
        );
        if self.kind == PageKind::Article {
            out.push_str("<article>");
        }
        let _ = writeln!(out, "<h1>{}</h1>", text(title));
        let byline = self.meta.byline.as_deref().filter(|b| !b.trim().is_empty());
        let date = self
            .meta
            .published
            .as_deref()
            .filter(|d| !d.trim().is_empty());
        if byline.is_some() || date.is_some() {
            out.push_str("<p><small>");
            if let Some(byline) = byline {
                out.push_str(&text(byline));
            }
            if let Some(date) = date {
                if byline.is_some() {
                    out.push_str(" · ");
                }
                let _ = write!(out, "<time>{}</time>", text(&human_date(date)));
            }
            out.push_str("</small></p>\n");
        }
        out
    }

    /// Everything after the body: the footer with the link to the original and the
    /// saving. `body_bytes` counts what was written so far, head and body.
    pub fn tail(&self, body_bytes: usize, original_bytes: usize, notice: Option<&str>) -> String {
        let mut out = String::with_capacity(512);
        if let Some(notice) = notice {
            let _ = write!(out, "\n<p><strong>{}</strong></p>", text(notice));
        }
        if self.kind == PageKind::Article {
            out.push_str("</article>");
        }
        out.push_str("</main>\n<footer><p>");
        if let Some(href) = web_href(self.original) {
            let _ = write!(out, "<a href=\"{href}\">Original page</a> · ");
        }
        // The footer states the page's own size, so it is computed with the footer's
        // length included; the figure is rounded, so the estimate of its own digits is safe.
        let closing = "</p></footer></body></html>\n";
        let estimate = body_bytes + out.len() + closing.len() + 40;
        let _ = write!(
            out,
            "This page: {} · original: {}{closing}",
            kilobytes(estimate),
            kilobytes(original_bytes)
        );
        out
    }
}

/// A short Light page with a message and a link, for errors, non-HTML content and
/// redirects away from the site. A link that is not http or https is left out, message
/// and all: the page then says only `message`.
pub fn message_page(site_label: &str, heading: &str, message: &str, link: Option<&Url>) -> String {
    let meta = Metadata {
        title: Some(heading.to_owned()),
        ..Metadata::default()
    };
    // Without a link the shell still needs an original; one it will not link to.
    let fallback = Url::parse("about:blank").expect("static URL");
    let shell = Shell {
        site_label,
        meta: &meta,
        original: link.unwrap_or(&fallback),
        kind: PageKind::Listing,
        default_lang: None,
    };
    let mut out = shell.head();
    let _ = write!(out, "<p>{}</p>", text(message));
    if let Some((link, href)) = link.and_then(|l| Some((l, web_href(l)?))) {
        let _ = write!(out, "<p><a href=\"{href}\">{}</a></p>", text(link.as_str()));
    }
    out.push_str("</main>\n</body></html>\n");
    out
}

/// The tag that opens the part of the page a notice goes into. The shell writes it once,
/// right after its header, whose text is escaped, and the Light pass never lets one
/// through from a page, so its first occurrence is the shell's.
const MAIN_OPEN: &str = "<main>";

/// A saved page as served in place of a fresh one: a notice at the top of its main part
/// says why (`reason`) and how old the copy is (to the minute). A page without the shell's
/// main part (which only a cache written by another version could hold) is returned as
/// it is.
pub(crate) fn stale_page(page: &[u8], reason: &str, age: std::time::Duration) -> Vec<u8> {
    let notice = stale_notice(reason, age);
    let Some(at) = memchr::memmem::find(page, MAIN_OPEN.as_bytes()) else {
        return page.to_vec();
    };
    let split = at + MAIN_OPEN.len();
    let mut out = Vec::with_capacity(page.len() + notice.len());
    out.extend_from_slice(&page[..split]);
    out.extend_from_slice(notice.as_bytes());
    out.extend_from_slice(&page[split..]);
    out
}

fn stale_notice(reason: &str, age: std::time::Duration) -> String {
    let minutes = std::time::Duration::from_secs(age.as_secs() / 60 * 60);
    let age = if minutes.is_zero() {
        "moments".to_owned()
    } else {
        humantime::format_duration(minutes).to_string()
    };
    format!(
        "<p><strong>{} This is a saved copy from {} ago.</strong></p>",
        text(reason),
        text(&age)
    )
}

/// The `href` of a link the shell writes, escaped for a double-quoted attribute, or
/// `None` for a URL that is not http or https. Every shell link goes through here, so a
/// `javascript:`, `data:` or `file:` URL from an upstream (a redirect's `Location`, a
/// page URL) can never become a live link or canonical URL on the Light origin.
pub fn web_href(url: &Url) -> Option<String> {
    is_web(url).then(|| attr(url.as_str()).into_owned())
}

/// "9 KB", "412 KB", "1.2 MB".
pub fn kilobytes(bytes: usize) -> String {
    let kb = (bytes as f64 / 1024.0).max(1.0);
    if kb < 1000.0 {
        format!("{kb:.0} KB")
    } else {
        format!("{:.1} MB", kb / 1024.0)
    }
}

fn valid_lang(lang: &str) -> bool {
    !lang.is_empty()
        && lang.len() <= 35
        && lang.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// "rtl" for right-to-left languages, else "ltr".
pub fn direction_of(lang: &str) -> &'static str {
    let primary = lang
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if RTL_LANGUAGES.contains(&primary.as_str()) {
        "rtl"
    } else {
        "ltr"
    }
}

/// An ISO 8601 timestamp shortened to its date; other forms are shown as given, cut to
/// 64 characters. The date is upstream text of any kind, so it is read by characters or
/// with checked slices, never by byte offsets it may not have.
fn human_date(date: &str) -> String {
    let date = date.trim();
    let iso = date.get(..10).filter(|day| {
        day.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
    });
    match iso {
        Some(day) => day.to_owned(),
        None => date.chars().take(64).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stylesheet_stays_small() {
        assert!(CSS.len() < 1024, "inline CSS is {} bytes", CSS.len());
    }

    #[test]
    fn csp_pins_the_stylesheet() {
        let csp = content_security_policy();
        assert!(
            csp.starts_with("default-src 'none'; style-src 'sha256-"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe"));
    }

    #[test]
    fn rtl_comes_from_language() {
        let meta = Metadata {
            title: Some("خبر <b>".into()),
            lang: Some("fa-IR".into()),
            ..Default::default()
        };
        let original = Url::parse("https://www.example.com/a?b=1&c=2").unwrap();
        let shell = Shell {
            site_label: "Ledger Light",
            meta: &meta,
            original: &original,
            kind: PageKind::Article,
            default_lang: None,
        };
        let head = shell.head();
        assert!(head.contains("<html lang=\"fa-IR\" dir=\"rtl\">"), "{head}");
        assert!(head.contains("<h1>خبر &lt;b&gt;</h1>"), "{head}");
        assert!(
            head.contains("href=\"https://www.example.com/a?b=1&amp;c=2\""),
            "{head}"
        );
        let tail = shell.tail(head.len(), 500_000, None);
        assert!(tail.contains("original: 488 KB"), "{tail}");
    }

    #[test]
    fn only_web_urls_are_linked() {
        let meta = Metadata::default();
        for raw in [
            "javascript:alert(document.domain)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox",
            "file:///etc/passwd",
            "about:blank",
        ] {
            let url = Url::parse(raw).unwrap();
            assert_eq!(web_href(&url), None, "{raw}");
            let shell = Shell {
                site_label: "Light",
                meta: &meta,
                original: &url,
                kind: PageKind::Article,
                default_lang: None,
            };
            let page = shell.head() + &shell.tail(0, 0, None);
            let message = message_page("Light", "Elsewhere", "Leads away:", Some(&url));
            for out in [page, message] {
                assert!(!out.contains(url.scheme()), "{raw}: {out}");
                assert!(!out.contains("canonical"), "{raw}: {out}");
                assert_eq!(out.matches("<a ").count(), 1, "{raw}: {out}");
            }
        }
        let web = Url::parse("https://news.example/a?b=\"<x>").unwrap();
        assert_eq!(
            web_href(&web).as_deref(),
            Some("https://news.example/a?b=%22%3Cx%3E")
        );
        let message = message_page("Light", "Elsewhere", "Leads away:", Some(&web));
        assert!(message.contains("<p><a href=\"https://news.example/a?b=%22%3Cx%3E\">"));
    }

    #[test]
    fn dates_are_cut_only_where_they_can_be() {
        assert_eq!(human_date(" 2024-01-05T10:00:00Z "), "2024-01-05");
        assert_eq!(human_date("2024-01-0é 10:00"), "2024-01-0é 10:00");
        assert_eq!(human_date("2024-01-éé"), "2024-01-éé");
        assert_eq!(human_date("20é4-01-05"), "20é4-01-05");
        assert_eq!(human_date("٢٠٢٤-٠١-٠٥"), "٢٠٢٤-٠١-٠٥");
        assert_eq!(human_date("May 5"), "May 5");
        assert_eq!(human_date(&"é".repeat(100)), "é".repeat(64));
    }

    #[test]
    fn stale_notice_opens_the_main_part() {
        let page = message_page("Light", "<main>", "x", None);
        let stale = stale_page(page.as_bytes(), "Gone <away>.", Duration::from_secs(125));
        let stale = String::from_utf8(stale).unwrap();
        let notice =
            "<main><p><strong>Gone &lt;away&gt;. This is a saved copy from 2m ago.</strong></p>";
        assert!(stale.contains(notice), "{stale}");
        assert_eq!(stale.len(), page.len() + notice.len() - "<main>".len());
        assert_eq!(
            stale_page(b"<p>old</p>", "x", Duration::ZERO),
            b"<p>old</p>"
        );
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(kilobytes(10), "1 KB");
        assert_eq!(kilobytes(9 * 1024), "9 KB");
        assert_eq!(kilobytes(3 << 20), "3.0 MB");
    }
}
