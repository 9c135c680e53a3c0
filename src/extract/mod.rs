//! Article extraction for pages no rule describes: one parse of the page into a small arena
//! DOM that never holds what detection does not read (scripts, styles, hidden subtrees,
//! most attributes), then metadata, whether the page is an article or a listing, and the
//! main content as an unsanitized HTML fragment. Making that fragment safe, rewriting its
//! links and rendering the Light page belong to later stages.

mod confidence;
mod dom;
mod embedded;
mod flatten;
mod listing;
mod meta;
mod navigation;
mod parse;
mod readable;
mod reduce;
mod span;
mod text;
mod tokens;
mod trim;

use html5ever::tendril::TendrilSink;
use scraper::{Html, Selector};

pub use confidence::LOW as LOW_CONFIDENCE;
pub(crate) use meta::collapse as collapse_whitespace;
pub use navigation::{NavLink, Navigation};
pub use reduce::{ReduceError, Reducer};
pub(crate) use text::to_text;

use crate::config::PageKind;
use dom::Dom;

/// Metadata of a page.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Metadata {
    /// Headline, from structured data or the document title.
    pub title: Option<String>,
    /// Author names, e.g. "Jane Doe, John Roe".
    pub byline: Option<String>,
    /// Publication date: ISO 8601 when the source gives one, else as found.
    pub published: Option<String>,
    /// BCP 47 language tag from `<html lang>`, `og:locale` or JSON-LD `inLanguage`.
    pub lang: Option<String>,
    /// "rtl" or "ltr": `<html dir>`, else derived from the language.
    pub dir: Option<String>,
    /// Name of the site.
    pub site_name: Option<String>,
    /// Description, else the article's first paragraph.
    pub excerpt: Option<String>,
    /// The site's sections and the page's series, as the page's links give them.
    pub navigation: Navigation,
}

/// What extraction found.
#[derive(Debug, Clone)]
pub struct Extracted {
    /// Metadata of the page.
    pub meta: Metadata,
    /// Article or listing.
    pub kind: PageKind,
    /// Unsanitized main content: the article without its headline and byline, or for a
    /// listing a `<ul>` of headline links.
    pub body_html: String,
    /// The main content as plain text, as [`to_text`] gives it.
    pub text: String,
    /// How sure detection is that `body_html` is the whole article, from 0 to 1 (see
    /// the `confidence` module); 1 for listings, 0 when nothing was found.
    pub confidence: f64,
}

/// Operator overrides, from the site config (all optional).
#[derive(Debug, Clone, Default)]
pub struct Rules<'a> {
    /// Selector of the headline.
    pub title: Option<&'a Selector>,
    /// Selector of the author line.
    pub byline: Option<&'a Selector>,
    /// Selector of the publication date (its `datetime` or `content` wins over its text).
    pub date: Option<&'a Selector>,
    /// Selectors of elements removed before detection.
    pub remove: &'a [Selector],
    /// Page kind, when the operator knows it.
    pub kind: Option<PageKind>,
    /// How deep detection looks into nested elements; 0 means [`DEFAULT_MAX_NESTING`].
    pub max_nesting: usize,
}

/// Nesting depth detection looks into when [`Rules::max_nesting`] is 0.
pub(crate) const DEFAULT_MAX_NESTING: usize = 256;

impl Rules<'_> {
    fn depth(&self) -> usize {
        if self.max_nesting == 0 {
            DEFAULT_MAX_NESTING
        } else {
            self.max_nesting
        }
    }

    pub(crate) fn has_selectors(&self) -> bool {
        self.title.is_some()
            || self.byline.is_some()
            || self.date.is_some()
            || !self.remove.is_empty()
    }
}

/// Scraper's tree of a page, for operator selectors. The parse runs as a browser with
/// scripting off would, like detection's own parser, so `<noscript>` images are markup.
fn scraper_tree(html: &str, depth: usize) -> Html {
    let opts = html5ever::ParseOpts {
        tree_builder: html5ever::tree_builder::TreeBuilderOpts {
            scripting_enabled: false,
            ..Default::default()
        },
        ..Default::default()
    };
    html5ever::parse_document(Html::new_document(), opts).one(flatten::normalize(html, depth))
}

/// Detection on a whole page: metadata, kind, and the main content as an HTML fragment.
pub fn extract(html: &str, url: &url::Url, rules: &Rules<'_>) -> Extracted {
    // Operator selectors run on scraper's tree; pages without them parse straight into
    // the arena.
    let doc = rules
        .has_selectors()
        .then(|| scraper_tree(html, rules.depth()));
    let fresh = || match &doc {
        Some(doc) => Dom::from_html(doc, rules.remove, rules.depth()),
        None => parse::document(html, rules.depth()),
    };
    let dom = fresh();
    let ld = meta::ld_articles(&dom);
    let mut meta = meta::read(&dom, &ld);
    meta.navigation = navigation::read(&dom, url);
    if let Some(doc) = &doc {
        if let Some(t) = rules.title.and_then(|s| select(doc, s, &[])) {
            meta.title = Some(t);
        }
        if let Some(b) = rules.byline.and_then(|s| select(doc, s, &[])) {
            meta.byline = Some(b);
        }
        if let Some(d) = rules
            .date
            .and_then(|s| select(doc, s, &["datetime", "content"]))
        {
            meta.published = Some(d);
        }
    }
    let kind = rules
        .kind
        .unwrap_or_else(|| listing::kind(&dom, url, !ld.is_empty()));
    let mut body_html = String::new();
    let mut text = None;
    let mut confidence = 0.0;
    match kind {
        PageKind::Listing => {
            listing::render(&dom, url, &mut body_html);
            confidence = 1.0;
        }
        PageKind::Article => {
            let embedded = embedded::text(&dom, &ld);
            let title = meta.title.clone().unwrap_or_default();
            let found = readable::grab(dom, fresh, &title);
            let found_len = found.as_ref().map_or(0, |(_, f)| f.text_len);
            let embedded = embedded.filter(|e| e.chars().count() > 2 * found_len + 200);
            if let Some(e) = embedded {
                embedded::render(&e, &mut body_html);
                confidence = confidence::EMBEDDED;
            } else if let Some((dom, f)) = found {
                confidence = confidence::of(&f);
                if meta.byline.is_none() {
                    meta.byline = f.byline.filter(|b| !b.is_empty());
                }
                if meta.excerpt.is_none() {
                    meta.excerpt = dom
                        .find_all(f.article, &["p"])
                        .into_iter()
                        .map(|p| readable::inner_text(&dom, p))
                        .find(|t| !t.is_empty());
                }
                dom.content_html(f.article, true, &mut body_html);
                // Read off the tree at hand rather than parsed back from `body_html`.
                text = Some(text::dom_text(&dom, f.article));
            }
        }
    }
    Extracted {
        meta,
        kind,
        text: text.unwrap_or_else(|| to_text(&body_html)),
        body_html,
        confidence,
    }
}

/// Text (or the first of `attrs` present) of the first element matching an operator
/// selector.
fn select(doc: &Html, selector: &Selector, attrs: &[&str]) -> Option<String> {
    let el = doc.select(selector).next()?;
    let value = attrs
        .iter()
        .find_map(|a| el.value().attr(a).map(str::to_string))
        .unwrap_or_else(|| el.text().collect());
    let value = meta::collapse(&value);
    (!value.is_empty()).then_some(value)
}

/// Metadata only, from a page's `<head>` (or a whole page): for the streaming path that
/// never builds a full DOM.
pub(crate) fn read_metadata(html: &str, url: &url::Url) -> Metadata {
    let dom = parse::document(html, DEFAULT_MAX_NESTING);
    let mut meta = meta::read(&dom, &meta::ld_articles(&dom));
    meta.navigation = navigation::read(&dom, url);
    meta
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> url::Url {
        url::Url::parse("http://example.com/news/story").unwrap()
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let depth = 100_000;
        let mut html = String::with_capacity(depth * 11 + 64);
        html.push_str("<html><body>");
        for _ in 0..depth {
            html.push_str("<div>");
        }
        html.push_str("deep text");
        for _ in 0..depth {
            html.push_str("</div>");
        }
        let start = std::time::Instant::now();
        let out = extract(&html, &url(), &Rules::default());
        assert!(start.elapsed() < std::time::Duration::from_secs(30));
        assert!(to_text(&out.body_html).contains("deep text"));
    }

    #[test]
    fn operator_rules_win() {
        let html = "<html><head><title>Page title here and more</title></head><body>\
            <h1 class=hl>Operator headline</h1><span class=by>Ann Author</span>\
            <time class=d datetime=2021-02-03>Feb 3</time><div class=junk>junk</div>\
            <p>Body text that is long enough to matter, with commas, many words and more.</p>\
            </body></html>";
        let css = |s: &str| Selector::parse(s).unwrap();
        let (title, byline, date) = (css("h1.hl"), css(".by"), css("time.d"));
        let remove = [css(".junk")];
        let rules = Rules {
            title: Some(&title),
            byline: Some(&byline),
            date: Some(&date),
            remove: &remove,
            ..Rules::default()
        };
        let out = extract(html, &url(), &rules);
        assert_eq!(out.meta.title.as_deref(), Some("Operator headline"));
        assert_eq!(out.meta.byline.as_deref(), Some("Ann Author"));
        assert_eq!(out.meta.published.as_deref(), Some("2021-02-03"));
        assert!(!out.body_html.contains("junk"));
    }

    fn long_text() -> String {
        "Running text of the story, long enough to count as a paragraph of an article. ".repeat(4)
    }

    #[test]
    fn lazy_images_survive_as_images() {
        let p = long_text();
        let html = format!(
            "<html><body><article><p>{p}</p><figure><img class=lazy src=data:image/gif;base64,R0              alt=Lazy data-src=/real.jpg><noscript><img src=/real.jpg alt=\"A dog\"></noscript>\
             <figcaption>A caption</figcaption></figure><p>{p}</p><p>{p}</p></article></body></html>"
        );
        let out = extract(&html, &url(), &Rules::default());
        assert!(
            out.body_html
                .contains("<img alt=\"A dog\" src=\"/real.jpg\">"),
            "{}",
            out.body_html
        );
        assert!(!out.body_html.contains("noscript"), "{}", out.body_html);
        assert!(out.body_html.contains("<figcaption>A caption</figcaption>"));
    }

    #[test]
    fn empty_shell_uses_embedded_article_body() {
        let body = long_text().repeat(3);
        let html = format!(
            r#"<html lang="en"><head><title>Shell</title><script type="application/ld+json">
            {{"@context":"https://schema.org","@type":"NewsArticle","headline":"Embedded story",
            "articleBody":"{body}\nSecond paragraph."}}</script></head>
            <body><div id="app"></div></body></html>"#
        );
        let out = extract(&html, &url(), &Rules::default());
        assert_eq!(out.kind, PageKind::Article);
        assert_eq!(out.meta.title.as_deref(), Some("Embedded story"));
        assert!(to_text(&out.body_html).ends_with("Second paragraph."));
    }

    #[test]
    fn a_script_built_article_reads_from_its_noscript_copy() {
        let p = long_text();
        let html = format!(
            "<html><body><noscript><div class=notice><p>This site works best with JavaScript \
             turned on. {p}</p></div></noscript><div class=post-body itemprop=articleBody>\
             <script type=text/template><p>{p}</p></script><noscript><p>Script-free copy, {p}</p>\
             <p>{p}</p></noscript></div></body></html>"
        );
        let text = extract(&html, &url(), &Rules::default()).text;
        assert!(text.starts_with("Script-free copy"), "{text}");
        assert!(!text.contains("JavaScript"), "{text}");
    }

    #[test]
    fn hidden_ui_goes_and_paywalled_text_stays() {
        let p = long_text();
        let html = format!(
            "<html><body><article><p>{p}</p><div hidden>Hidden menu</div>\
             <div aria-hidden=true>Icon label</div><div style='display:none'>Modal</div>\
             <div class=paywall><p>Subscriber text, {p}</p></div></article></body></html>"
        );
        let text = to_text(&extract(&html, &url(), &Rules::default()).body_html);
        assert!(text.contains("Subscriber text"), "{text}");
        for hidden in ["Hidden menu", "Icon label", "Modal"] {
            assert!(!text.contains(hidden), "{text}");
        }
    }

    #[test]
    fn a_one_paragraph_story_in_a_div_is_an_article() {
        let mut html = String::from("<html><body><div class=menu>");
        for i in 0..12 {
            html.push_str(&format!(
                "<div><a href=\"/topics/{i}\">Menu entry number {i} of the site</a></div>"
            ));
        }
        html.push_str(
            "</div><div id=content>The yearly report on the climate of the country is out: \
             it was the fourth warmest year since measurements began, with little rain in the \
             south and a wet autumn in the north, where rivers rose over their banks twice.\
             </div></body></html>",
        );
        let url = url::Url::parse("http://example.com/news/climate-report-2021").unwrap();
        let out = extract(&html, &url, &Rules::default());
        assert_eq!(out.kind, PageKind::Article);
        assert!(out.text.starts_with("The yearly report"), "{}", out.text);
        assert!(!out.text.contains("Menu entry"), "{}", out.text);
    }

    #[test]
    fn never_panics_on_odd_input() {
        for html in [
            "",
            "<",
            "<html",
            "</div></div>",
            "<table><td><p><li>x",
            "\u{0}\u{feff}<a",
        ] {
            let _ = extract(html, &url(), &Rules::default());
            let _ = to_text(html);
            let _ = read_metadata(html, &url());
        }
    }
}
