//! The Light page shell: doctype, head, header (site label, sections line, search form),
//! headline, byline, the pagination line, footer with the saving, and the small inline
//! stylesheet, all in the words and digits of the page's language (`lang`), and the
//! joints of a joined multi-page article. Metadata
//! reaches the page only through here, escaped; the body between head and tail comes from
//! the Light pass. Also the short pages for errors, non-HTML content and redirects off
//! the site.

use std::fmt::Write;
use std::sync::LazyLock;

use base64::Engine;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use sha2::{Digest, Sha256};
use url::Url;

use crate::config::{PageKind, Site};
use crate::extract::Metadata;
use crate::lang::{self, Message, Words};
use crate::rewrite::policy::is_web;

/// The only style a Light page has: readable on a phone, in RTL, and absent without harm.
pub const CSS: &str = "body{max-width:40em;margin:0 auto;padding:0 1em;font:1.05em/1.6 system-ui,sans-serif;color:#222;background:#fff}header,footer{font-size:.9em;padding:.5em 0;border-bottom:1px solid #ccc}footer{border:0;border-top:1px solid #ccc;margin-top:2em;color:#555}header>a{font-weight:bold;text-decoration:none}header nav,header form{margin-top:.3em}h1{line-height:1.25}a{color:#0645ad}blockquote{margin-inline:0;padding-inline-start:1em;border-inline-start:3px solid #ccc}pre{white-space:pre-wrap}table{border-collapse:collapse;display:block;overflow-x:auto}td,th{border:1px solid #ccc;padding:.2em .4em}li{margin:.3em 0}@media(prefers-color-scheme:dark){body{background:#111;color:#ddd}a{color:#8ab4f8}}";

/// The Content-Security-Policy of every Light page: nothing may load or run except the
/// shell's own stylesheet, pinned by its hash, and forms (the search form) go only to the
/// Light site itself.
pub fn content_security_policy() -> &'static str {
    static CSP: LazyLock<String> = LazyLock::new(|| {
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'"
        )
    });
    &CSP
}

/// What the shell shows around a body.
#[derive(Debug, Clone)]
pub struct Shell<'a> {
    /// The Light site: its label, words, sections and search form.
    pub site: &'a Site,
    /// The page's metadata, with the navigation found on it.
    pub meta: &'a Metadata,
    /// The original page.
    pub original: &'a Url,
    /// Article or listing.
    pub kind: PageKind,
}

impl Shell<'_> {
    /// The page's language, as written into `<html lang>`: the page's own, else the site's.
    fn lang(&self) -> Option<&str> {
        self.meta
            .lang
            .as_deref()
            .or(self.site.lang.as_deref())
            .filter(|l| lang::valid_tag(l))
    }

    /// The shell's words for this page.
    pub fn words(&self) -> Words<'_> {
        self.site.words(self.lang())
    }

    /// Everything before the body: the document head, the site header and the headline.
    pub fn head(&self) -> String {
        self.head_noting(false)
    }

    /// As [`head`](Self::head), with the notice that the article may be incomplete at the
    /// top of the main part when `incomplete`.
    pub fn head_noting(&self, incomplete: bool) -> String {
        let lang = self.lang();
        let words = self.words();
        let dir = self
            .meta
            .dir
            .as_deref()
            .filter(|d| matches!(*d, "rtl" | "ltr"))
            .or_else(|| lang.map(lang::direction_of));
        let label = self.site.label_in(&words);
        let title = self.meta.title.as_deref().unwrap_or(&label);
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
        if self.kind == PageKind::Listing {
            let _ = write!(
                out,
                "<link rel=\"alternate\" type=\"application/atom+xml\" href=\"{}\" title=\"{}\">",
                attr(&feed_path(self.original)),
                text(words.text(Message::Feed)),
            );
        }
        let _ = write!(
            out,
            "<style>{CSS}</style></head>\n<body><header><a href=\"/\">{}</a>",
            text(&label),
        );
        self.sections(&words, &mut out);
        self.search(&words, &mut out);
        let _ = write!(out, "</header>\n{MAIN_OPEN}");
        if incomplete {
            out.push_str(&self.incomplete_notice());
        }
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
                let _ = write!(out, "<time>{}</time>", text(&human_date(date, &words)));
            }
            out.push_str("</small></p>\n");
        }
        out
    }

    /// The notice for an article detection is unsure of: the link to the original page
    /// first, where the whole article is, then the words saying this one may not be.
    pub fn incomplete_notice(&self) -> String {
        let words = self.words();
        let says = text(words.text(Message::MayBeIncomplete));
        match web_href(self.original) {
            Some(href) => format!(
                "<p><a href=\"{href}\">{}</a> · <strong>{says}</strong></p>\n",
                text(words.text(Message::OriginalPage))
            ),
            None => format!("<p><strong>{says}</strong></p>\n"),
        }
    }

    /// The sections line: the site's own, else the ones found on the page.
    fn sections(&self, words: &Words<'_>, out: &mut String) {
        let configured = self
            .site
            .sections
            .iter()
            .map(|s| (s.label.as_str(), s.path.as_str()));
        let found = self
            .meta
            .navigation
            .sections
            .iter()
            .map(|l| (l.label.as_str(), l.href.as_str()));
        let links: Vec<(&str, &str)> = if self.site.sections.is_empty() {
            found.collect()
        } else {
            configured.collect()
        };
        if links.is_empty() {
            return;
        }
        let _ = write!(
            out,
            "<nav aria-label=\"{}\">",
            attr(words.text(Message::Sections))
        );
        for (i, (label, href)) in links.into_iter().enumerate() {
            let sep = if i == 0 { "" } else { " · " };
            let _ = write!(out, "{sep}<a href=\"{}\">{}</a>", attr(href), text(label));
        }
        out.push_str("</nav>");
    }

    /// The one-field search form, when the site has a search page.
    fn search(&self, words: &Words<'_>, out: &mut String) {
        let Some(form) = &self.site.search else {
            return;
        };
        let search = attr(words.text(Message::Search));
        let _ = write!(
            out,
            "<form role=\"search\" action=\"{}\"><input type=\"search\" name=\"{}\" aria-label=\"{search}\">",
            attr(&form.path),
            attr(&form.field),
        );
        for (name, value) in &form.fixed {
            let _ = write!(
                out,
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                attr(name),
                attr(value)
            );
        }
        let _ = write!(out, "<button>{search}</button></form>");
    }

    /// The "Newer · Older · Page 1 2 3" line, when the page links to others of its series.
    fn pagination(&self, words: &Words<'_>, out: &mut String) {
        let nav = &self.meta.navigation;
        let mut parts = Vec::new();
        if let Some(href) = &nav.previous {
            parts.push(format!(
                "<a rel=\"prev\" href=\"{}\">{}</a>",
                attr(href),
                text(words.text(Message::Newer))
            ));
        }
        if let Some(href) = &nav.next {
            parts.push(format!(
                "<a rel=\"next\" href=\"{}\">{}</a>",
                attr(href),
                text(words.text(Message::Older))
            ));
        }
        if !nav.numbered.is_empty() {
            let numbers: Vec<String> = nav
                .numbered
                .iter()
                .map(|l| {
                    format!(
                        "<a href=\"{}\">{}</a>",
                        attr(&l.href),
                        text(&words.number(&l.label))
                    )
                })
                .collect();
            let template = words.text(Message::PageNumber);
            let (before, after) = template.split_once("{n}").unwrap_or((template, ""));
            parts.push(format!(
                "{}{}{}",
                text(before),
                numbers.join(" "),
                text(after)
            ));
        }
        if !parts.is_empty() {
            let _ = write!(out, "\n<nav><p>{}</p></nav>", parts.join(" · "));
        }
    }

    /// Everything after the body: the pagination line, the footer with the link to the
    /// original and the saving. `body_bytes` counts what was written so far, head and body.
    pub fn tail(&self, body_bytes: usize, original_bytes: usize, notice: Option<&str>) -> String {
        let words = self.words();
        let mut out = String::with_capacity(512);
        if let Some(notice) = notice {
            let _ = write!(out, "\n<p><strong>{}</strong></p>", text(notice));
        }
        if self.kind == PageKind::Article {
            out.push_str("</article>");
        }
        self.pagination(&words, &mut out);
        out.push_str("</main>\n<footer><p>");
        if let Some(href) = web_href(self.original) {
            let _ = write!(
                out,
                "<a href=\"{href}\">{}</a> · ",
                text(words.text(Message::OriginalPage))
            );
        }
        // The footer states the page's own size, so it is computed with the footer's
        // length included; the figure is rounded, so the estimate of its own words is safe.
        let closing = "</p></footer></body></html>\n";
        let estimate = body_bytes + out.len() + closing.len() + 80;
        let saving = words.fill(
            Message::Saving,
            &[
                ("page", &words.size(estimate)),
                ("original", &words.size(original_bytes)),
            ],
        );
        let _ = write!(out, "{}{closing}", text(&saving));
        out
    }
}

/// The Light Atom feed of the listing at `url`: its root-relative path and query with
/// `light=atom` added (see [`FEED_PARAMETER`]).
pub(crate) fn feed_path(url: &Url) -> String {
    let (name, value) = FEED_PARAMETER;
    match url.query() {
        Some(query) => format!("{}?{query}&{name}={value}", url.path()),
        None => format!("{}?{name}={value}", url.path()),
    }
}

/// A selector that matches only in Light listings: the link to their feed.
pub(crate) const FEED_MARKER: &str = "link[rel=alternate][type=\"application/atom+xml\"]";

/// The query parameter that asks for a listing's Light Atom feed rather than its page:
/// `?light=atom`. It is the Light site's own, so it never reaches the upstream.
pub(crate) const FEED_PARAMETER: (&str, &str) = ("light", "atom");

/// A short Light page with a message and a link, for errors, non-HTML content and
/// redirects away from the site, in the site's language. A link that is not http or https
/// is left out: the page then says only `message`.
pub(crate) fn message_page(
    site: &Site,
    heading: &str,
    message: &str,
    link: Option<&Url>,
) -> String {
    let meta = Metadata {
        title: Some(heading.to_owned()),
        ..Metadata::default()
    };
    // Without a link the shell still needs an original; one it will not link to.
    let fallback = Url::parse("about:blank").expect("static URL");
    let shell = Shell {
        site,
        meta: &meta,
        original: link.unwrap_or(&fallback),
        kind: PageKind::Article,
    };
    let mut out = shell.head();
    let _ = write!(out, "<p>{}</p>", text(message));
    if let Some((link, href)) = link.and_then(|l| Some((l, web_href(l)?))) {
        let _ = write!(out, "<p><a href=\"{href}\">{}</a></p>", text(link.as_str()));
    }
    out.push_str("</article></main>\n</body></html>\n");
    out
}

/// Where one page of a joined article ends and its page number `n` begins.
pub fn page_break(words: &Words<'_>, n: usize) -> String {
    let label = words.fill(Message::PageNumber, &[("n", &words.number(&n.to_string()))]);
    format!("\n<hr><p><small>{}</small></p>\n", text(&label))
}

/// The end of a joined article whose next page could not be had: a notice, and a link to
/// that page on the original site.
pub fn join_stopped(words: &Words<'_>, next: &Url) -> String {
    let mut out = format!(
        "\n<p><strong>{}</strong>",
        text(words.text(Message::JoinStopped))
    );
    if let Some(href) = web_href(next) {
        let _ = write!(out, " <a href=\"{href}\">{}</a>", text(next.as_str()));
    }
    out.push_str("</p>\n");
    out
}

/// The notice at the top of a saved copy served in place of a fresh page: why, and how
/// old the copy is, in the words of the copy's own language.
fn stale_notice(reason: &str, age: std::time::Duration, words: &Words<'_>) -> String {
    let saved = words.fill(Message::SavedCopy, &[("age", &words.age(age))]);
    format!("<p><strong>{} {}</strong></p>", text(reason), text(&saved))
}

/// The language a Light page was written in, read back from its `<html lang>`: the
/// shell writes it first, so only the page's first bytes are looked at.
pub(crate) fn lang_of(page: &[u8]) -> Option<&str> {
    let start = &page[..page.len().min(256)];
    let start = std::str::from_utf8(start).ok().or_else(|| {
        let valid = std::str::from_utf8(start).err()?.valid_up_to();
        std::str::from_utf8(&start[..valid]).ok()
    })?;
    let rest = start.split_once("<html lang=\"")?.1;
    let tag = rest.split('"').next()?;
    lang::valid_tag(tag).then_some(tag)
}

/// The tag that opens the part of the page a notice goes into. The shell writes it once,
/// right after its header, whose text is escaped, and the Light pass never lets one
/// through from a page, so its first occurrence is the shell's.
const MAIN_OPEN: &str = "<main>";

/// A saved page as served in place of a fresh one: a notice at the top of its main part
/// says why (`reason`) and how old the copy is, in `words`. A page without the shell's
/// main part (which only a cache written by another version could hold) is returned as
/// it is.
pub(crate) fn stale_page(
    page: &[u8],
    reason: &str,
    age: std::time::Duration,
    words: &Words<'_>,
) -> Vec<u8> {
    let notice = stale_notice(reason, age, words);
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

/// The `href` of a link the shell writes, escaped for a double-quoted attribute, or
/// `None` for a URL that is not http or https. Every shell link goes through here, so a
/// `javascript:`, `data:` or `file:` URL from an upstream (a redirect's `Location`, a
/// page URL) can never become a live link or canonical URL on the Light origin.
pub(crate) fn web_href(url: &Url) -> Option<String> {
    is_web(url).then(|| attr(url.as_str()).into_owned())
}

/// An ISO 8601 timestamp shortened to its date, in the reader's digits; other forms are
/// shown as given, cut to 64 characters. The date is upstream text of any kind, so it is
/// read by characters or with checked slices, never by byte offsets it may not have.
pub(crate) fn human_date(date: &str, words: &Words<'_>) -> String {
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
        Some(day) => words.number(day),
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

    fn site(extra: &str) -> std::sync::Arc<Site> {
        let text = format!(
            "[[site]]\nname = \"ledger\"\nupstream = \"https://www.example.com\"\nhosts = [\"l.test\"]\n{extra}\n"
        );
        crate::config::parse(&text, "t").unwrap().1.remove(0)
    }

    /// The shell's head and tail around the home page of `site`, without metadata, as a
    /// page of 100 bytes from an original of 2 KiB.
    fn home_page(site: &Site, kind: PageKind) -> (String, String) {
        let meta = Metadata::default();
        let original = Url::parse("https://www.example.com/").unwrap();
        let shell = Shell {
            site,
            meta: &meta,
            original: &original,
            kind,
        };
        (shell.head(), shell.tail(100, 2048, None))
    }

    #[test]
    fn rtl_comes_from_language() {
        let meta = Metadata {
            title: Some("خبر <b>".into()),
            lang: Some("fa-IR".into()),
            ..Default::default()
        };
        let original = Url::parse("https://www.example.com/a?b=1&c=2").unwrap();
        let site = site("");
        let shell = Shell {
            site: &site,
            meta: &meta,
            original: &original,
            kind: PageKind::Article,
        };
        let head = shell.head();
        assert!(head.contains("<html lang=\"fa-IR\" dir=\"rtl\">"), "{head}");
        assert!(head.contains("<h1>خبر &lt;b&gt;</h1>"), "{head}");
        assert!(head.contains("<a href=\"/\">نسخهٔ سبک ledger</a>"), "{head}");
        assert!(
            head.contains("href=\"https://www.example.com/a?b=1&amp;c=2\""),
            "{head}"
        );
        let tail = shell.tail(head.len(), 500_000, None);
        assert!(tail.contains(">نسخهٔ اصلی</a>"), "{tail}");
        assert!(tail.contains("اصلی: ۴۸۸ کیلوبایت"), "{tail}");
    }

    #[test]
    fn an_operator_s_words_and_label_win() {
        let site = site(
            "label = \"Ledger\"\nlang = \"ru\"\n[site.strings]\noriginal_page = \"Full site\"",
        );
        let (head, tail) = home_page(&site, PageKind::Listing);
        let page = head + &tail;
        assert!(page.contains("<a href=\"/\">Ledger</a>"), "{page}");
        assert!(page.contains(">Full site</a>"), "{page}");
        assert!(page.contains("исходная: 2 КБ"), "{page}");
        assert!(
            page.contains("<link rel=\"alternate\" type=\"application/atom+xml\" href=\"/?light=atom\" title=\"Лента\">"),
            "{page}"
        );
    }

    #[test]
    fn the_search_form_and_sections_sit_in_the_header() {
        let site = site(
            "search = \"/find?q={query}&sort=new\"\nsections = [{ label = \"World\", path = \"/world/\" }, { label = \"<Sport>\", path = \"/sport\" }]",
        );
        let (head, _) = home_page(&site, PageKind::Article);
        assert!(
            head.contains("<nav aria-label=\"Sections\"><a href=\"/world/\">World</a> · <a href=\"/sport\">&lt;Sport&gt;</a></nav>"),
            "{head}"
        );
        assert!(
            head.contains("<form role=\"search\" action=\"/find\"><input type=\"search\" name=\"q\" aria-label=\"Search\"><input type=\"hidden\" name=\"sort\" value=\"new\"><button>Search</button></form></header>"),
            "{head}"
        );
    }

    #[test]
    fn stale_notices_speak_the_copy_s_language() {
        let site = site("");
        let words = site.words(lang_of(
            "<!doctype html>\n<html lang=\"ar\" dir=\"rtl\"><head>".as_bytes(),
        ));
        let notice = stale_notice(
            words.text(Message::StaleNotAnswering),
            std::time::Duration::from_secs(7200),
            &words,
        );
        assert_eq!(
            notice,
            "<p><strong>الموقع الأصلي لا يستجيب. هذه نسخة محفوظة منذ ٢ س.</strong></p>"
        );
        assert_eq!(lang_of(b"<!doctype html>\n<html><head>"), None);
    }

    #[test]
    fn only_web_urls_are_linked() {
        let meta = Metadata::default();
        let site = site("label = \"Light\"");
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
                site: &site,
                meta: &meta,
                original: &url,
                kind: PageKind::Article,
            };
            let page = shell.head() + &shell.tail(0, 0, None);
            let message = message_page(&site, "Elsewhere", "Leads away:", Some(&url));
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
        let message = message_page(&site, "Elsewhere", "Leads away:", Some(&web));
        assert!(message.contains("<p><a href=\"https://news.example/a?b=%22%3Cx%3E\">"));
    }

    #[test]
    fn dates_are_cut_only_where_they_can_be() {
        let none = lang::Overrides::new();
        let en = Words::new(None, &none);
        let human_date = |d: &str| super::human_date(d, &en);
        assert_eq!(human_date(" 2024-01-05T10:00:00Z "), "2024-01-05");
        assert_eq!(human_date("2024-01-0é 10:00"), "2024-01-0é 10:00");
        assert_eq!(human_date("2024-01-éé"), "2024-01-éé");
        assert_eq!(human_date("20é4-01-05"), "20é4-01-05");
        assert_eq!(human_date("٢٠٢٤-٠١-٠٥"), "٢٠٢٤-٠١-٠٥");
        assert_eq!(human_date("May 5"), "May 5");
        assert_eq!(human_date(&"é".repeat(100)), "é".repeat(64));
        let fa = Words::new(Some("fa"), &none);
        assert_eq!(super::human_date("2024-01-05", &fa), "۲۰۲۴-۰۱-۰۵");
    }

    #[test]
    fn stale_notice_opens_the_main_part() {
        let site = site("label = \"Light\"");
        let none = lang::Overrides::new();
        let en = Words::new(None, &none);
        let page = message_page(&site, "<main>", "x", None);
        let stale = stale_page(
            page.as_bytes(),
            "Gone <away>.",
            Duration::from_secs(125),
            &en,
        );
        let stale = String::from_utf8(stale).unwrap();
        let notice =
            "<main><p><strong>Gone &lt;away&gt;. This is a saved copy from 2 min ago.</strong></p>";
        assert!(stale.contains(notice), "{stale}");
        assert_eq!(stale.len(), page.len() + notice.len() - "<main>".len());
        assert_eq!(
            stale_page(b"<p>old</p>", "x", Duration::ZERO, &en),
            b"<p>old</p>"
        );
    }
}
