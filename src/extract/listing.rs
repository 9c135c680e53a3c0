//! Listing pages (home, section, tag and search pages): telling them from articles, and
//! rendering them as a lean list of headline links with short standfirsts. Article bodies
//! are `readable`'s.

use std::collections::HashMap;

use super::dom::{escape_text, Dom, Id};
use super::meta;
use super::readable::{link_density, text_len};
use crate::config::PageKind;

/// Headline links a listing has at least.
const MIN_HEADLINES: usize = 8;

/// Share of a listing's text that sits in links, at least.
const MIN_LINK_DENSITY: f64 = 0.35;

/// Characters of running text in one container that make a page an article.
const MIN_ARTICLE_PROSE: usize = 800;

/// Characters of running text that make a page an article when its address reads as one
/// story's (see [`is_story_path`]): a short news item or notice keeps its one or two
/// paragraphs beside a long menu.
const MIN_STORY_PROSE: usize = 200;

/// Whether the last segment of a path names one story: a slug of three or more words
/// (`histalp-jahresbericht-2021`, `2021_11_mineraloelinfo.html`), as section and tag pages
/// seldom have.
fn is_story_path(path: &str) -> bool {
    let Some(last) = path.trim_end_matches('/').rsplit('/').next() else {
        return false;
    };
    let stem = last.split(['.', ';']).next().unwrap_or("");
    stem.split(['-', '_']).filter(|w| !w.is_empty()).count() >= 3
}

/// A headline link's text: long enough to be a sentence-like title, short enough not to be
/// a paragraph. Chinese and Japanese write no spaces between words, and pack a headline
/// into a third of the characters, so there the characters are counted.
fn is_headline_text(text: &str) -> bool {
    let words = text.split_whitespace().count();
    let chars = text.chars().count();
    let ideographs = text.chars().filter(|&c| is_ideograph(c)).count();
    if ideographs * 2 >= chars {
        (8..=100).contains(&chars)
    } else {
        words >= 3 && (20..=200).contains(&chars)
    }
}

/// Han characters and Japanese kana.
fn is_ideograph(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}')
}

/// Links on the page that look like headlines, one per target, in document order.
fn headlines(dom: &Dom, url: &url::Url) -> Vec<(Id, String, String)> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let Some(body) = dom.find(0, "body") else {
        return out;
    };
    for a in dom.find_all(body, &["a"]) {
        let Some(href) = dom.attr(a, "href") else {
            continue;
        };
        let Ok(target) = url.join(href) else {
            continue;
        };
        if target.host_str() != url.host_str() || target.path() == url.path() {
            continue;
        }
        if dom
            .ancestors(a)
            .any(|p| dom.is(p, &["nav", "footer", "header", "aside"]))
        {
            continue;
        }
        let text = meta::collapse(&dom.text_content(a));
        if is_headline_text(&text) && seen.insert(target.path().to_string()) {
            out.push((a, href.to_string(), text));
        }
    }
    out
}

/// Article or listing, from structured data first, then the shape of the page.
/// `ld_article` says whether JSON-LD describes the page as an article.
pub(crate) fn kind(dom: &Dom, url: &url::Url, ld_article: bool) -> PageKind {
    if ld_article {
        return PageKind::Article;
    }
    let og_type = dom.find_all(0, &["meta"]).into_iter().find_map(|m| {
        (dom.attr(m, "property") == Some("og:type")).then(|| dom.attr(m, "content").unwrap_or(""))
    });
    if og_type.is_some_and(|t| t.eq_ignore_ascii_case("article")) {
        return PageKind::Article;
    }
    let Some(body) = dom.find(0, "body") else {
        return PageKind::Article;
    };
    if link_density(dom, body) <= MIN_LINK_DENSITY {
        return PageKind::Article;
    }
    // Articles keep their running text together in one container; listings scatter short
    // standfirsts over one card each.
    let mut prose: HashMap<Id, usize> = HashMap::new();
    for p in dom.find_all(body, &["p"]) {
        let len = text_len(dom, p);
        if len >= 80 && link_density(dom, p) < 0.2 {
            if let Some(parent) = dom.nodes[p].parent {
                *prose.entry(parent).or_default() += len;
            }
        }
    }
    // Text straight in a block, without paragraphs, is prose of that block.
    for div in dom.find_all(body, &["div", "td", "section", "article"]) {
        let direct: usize = dom
            .children(div)
            .filter_map(|c| dom.text(c))
            .map(|t| {
                t.split_whitespace()
                    .map(|w| w.chars().count() + 1)
                    .sum::<usize>()
            })
            .sum();
        if direct >= 80 && link_density(dom, div) < 0.2 {
            *prose.entry(div).or_default() += direct;
        }
    }
    let densest = prose.values().copied().max().unwrap_or(0);
    let needed = if is_story_path(url.path()) {
        MIN_STORY_PROSE
    } else {
        MIN_ARTICLE_PROSE
    };
    if densest < needed && headlines(dom, url).len() >= MIN_HEADLINES {
        PageKind::Listing
    } else {
        PageKind::Article
    }
}

/// A standfirst near a headline link: the first short paragraph in its card.
fn standfirst(dom: &Dom, link: Id) -> Option<String> {
    let card = dom.ancestors(link).take(3).last()?;
    dom.find_all(card, &["p"])
        .into_iter()
        .filter(|&p| !dom.ancestors(link).any(|a| a == p))
        .map(|p| meta::collapse(&dom.text_content(p)))
        .find(|t| (30..=400).contains(&t.chars().count()))
}

/// Writes the listing as `<ul>` of `<li><a href>Headline</a> <p>standfirst</p></li>`.
pub(crate) fn render(dom: &Dom, url: &url::Url, out: &mut String) {
    out.push_str("<ul>");
    for (a, href, text) in headlines(dom, url) {
        out.push_str("<li><a href=\"");
        html_escape::encode_double_quoted_attribute_to_string(&href, out);
        out.push_str("\">");
        escape_text(&text, out);
        out.push_str("</a>");
        if let Some(s) = standfirst(dom, a).filter(|s| *s != text) {
            out.push_str(" <p>");
            escape_text(&s, out);
            out.push_str("</p>");
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_paragraph_story_in_a_div_beside_a_long_menu_is_an_article() {
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
             <br>Its series reach back to the eighteenth century.</div></body></html>",
        );
        let dom = Dom::from_html(&scraper::Html::parse_document(&html), &[], 512);
        let story = url::Url::parse("http://example.com/news/climate-report-2021").unwrap();
        assert_eq!(kind(&dom, &story, false), PageKind::Article);
        let section = url::Url::parse("http://example.com/news/").unwrap();
        assert_eq!(kind(&dom, &section, false), PageKind::Listing);
    }

    #[test]
    fn front_page_is_a_listing() {
        let mut html = String::from("<html><body><nav><a href=/>Home</a></nav><main>");
        for i in 0..12 {
            html.push_str(&format!(
                "<div class=card><h3><a href=\"/news/{i}\">Headline number {i} about the news</a></h3>\
                 <p>A short standfirst for story {i}, in one line.</p></div>"
            ));
        }
        html.push_str("</main></body></html>");
        let url = url::Url::parse("http://example.com/").unwrap();
        let dom = Dom::from_html(&scraper::Html::parse_document(&html), &[], 512);
        assert_eq!(kind(&dom, &url, false), PageKind::Listing);
        let mut out = String::new();
        render(&dom, &url, &mut out);
        assert!(out.starts_with(
            "<ul><li><a href=\"/news/0\">Headline number 0 about the news</a> \
             <p>A short standfirst for story 0, in one line.</p></li>"
        ));
        assert_eq!(out.matches("<li>").count(), 12);
    }
}
