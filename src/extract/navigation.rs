//! Ways on from a page: the site's main sections, read from its primary `<nav>`, and the
//! page's series (next and previous pages, a row of page numbers), read from `rel=next`
//! and `rel=prev` links and from link texts in the languages of `lang::NEXT_WORDS`. Every
//! link found is on the page's own site and kept as a root-relative Light path.

use url::Url;

use super::dom::{Dom, Id, Step};
use super::meta;
use crate::lang::{NEXT_WORDS, PREVIOUS_WORDS};
use crate::rewrite::links::is_same_site;

/// Sections kept at most.
const MAX_SECTIONS: usize = 10;

/// A section label longer than this is a headline or a sentence, not a section.
const MAX_LABEL_CHARS: usize = 24;

/// Page numbers kept at most.
const MAX_NUMBERED: usize = 10;

/// A link of the shell's navigation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NavLink {
    /// The words shown.
    pub label: String,
    /// A root-relative path (and query) on the Light site.
    pub href: String,
}

/// What a page offers to move on to.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Navigation {
    /// The site's main sections.
    pub sections: Vec<NavLink>,
    /// The next (older) page of the series.
    pub next: Option<String>,
    /// The previous (newer) page of the series.
    pub previous: Option<String>,
    /// A row of numbered pages of the series.
    pub numbered: Vec<NavLink>,
    /// The page's own `rel=next` link (`<link>` or `<a>`) as written, resolved, on any
    /// site: the next part of a multi-page article, which a site that joins pages
    /// follows. Unlike [`next`](Self::next), never read from link words.
    #[serde(skip)]
    pub rel_next: Option<Url>,
}

/// The navigation a page's markup gives.
pub(crate) fn read(dom: &Dom, url: &Url) -> Navigation {
    let mut nav = Navigation {
        sections: sections(dom, url),
        ..Navigation::default()
    };
    let longest = longest_word();
    for link in dom.find_all(0, &["a", "link"]) {
        let rel = dom.attr(link, "rel").unwrap_or_default();
        let has_rel = |name: &str| {
            rel.split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case(name))
        };
        if nav.rel_next.is_none() && has_rel("next") {
            nav.rel_next = dom.attr(link, "href").and_then(|h| url.join(h.trim()).ok());
        }
        let Some(raw) = dom.attr(link, "href") else {
            continue;
        };
        // The link's words and rels decide before its address is resolved, which most
        // links, neither next nor previous, never need; a text longer than every table
        // word is not read out at all.
        if nav.next.is_some() && nav.previous.is_some() {
            continue;
        }
        let words = short_text(dom, link, longest).map(|t| link_words(&t));
        let is_word = |table: &[&str]| words.as_deref().is_some_and(|w| table.contains(&w));
        let is_next = nav.next.is_none() && (has_rel("next") || is_word(NEXT_WORDS));
        let is_previous = !is_next
            && nav.previous.is_none()
            && (has_rel("prev") || has_rel("previous") || is_word(PREVIOUS_WORDS));
        if !(is_next || is_previous) {
            continue;
        }
        let Some(href) = light_path(url, raw) else {
            continue;
        };
        if is_next {
            nav.next = Some(href);
        } else {
            nav.previous = Some(href);
        }
    }
    nav.numbered = numbered(dom, url);
    nav
}

/// Characters in the longest word of the next and previous tables.
fn longest_word() -> usize {
    NEXT_WORDS
        .iter()
        .chain(PREVIOUS_WORDS)
        .map(|w| w.chars().count())
        .max()
        .unwrap_or(0)
}

/// The text under `id` as found, or `None` once it holds more than `max` letters and
/// digits. Such a text can never equal a word or a number of `max` characters after
/// blanks and punctuation are trimmed and it is lower-cased (which maps each character
/// to one or more), so it is not worth building.
fn short_text(dom: &Dom, id: Id, max: usize) -> Option<String> {
    let mut out = String::new();
    let mut alphanumeric = 0;
    for step in dom.walk(id) {
        if let Step::Enter(n) = step {
            if let Some(t) = dom.text(n) {
                alphanumeric += t.chars().filter(|c| c.is_alphanumeric()).count();
                if alphanumeric > max {
                    return None;
                }
                out.push_str(t);
            }
        }
    }
    Some(out)
}

/// A link text as the word tables hold it: lower-case, without arrows and quotes around.
fn link_words(text: &str) -> String {
    meta::collapse(text)
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase()
}

/// `href` on the page's site, as a Light path; `None` for links elsewhere or to this page.
fn light_path(page: &Url, href: &str) -> Option<String> {
    let target = page.join(href.trim()).ok()?;
    if !is_same_site(&target, page)
        || (target.path() == page.path() && target.query() == page.query())
    {
        return None;
    }
    Some(match target.query() {
        Some(query) => format!("{}?{query}", target.path()),
        None => target.path().to_owned(),
    })
}

/// The primary `<nav>`: the first one named main or primary, else the first with enough
/// own-site links.
fn sections(dom: &Dom, url: &Url) -> Vec<NavLink> {
    let navs: Vec<Id> = dom
        .find_all(0, &["nav"])
        .into_iter()
        .chain(
            dom.find_all(0, &["div", "ul"])
                .into_iter()
                .filter(|&n| dom.attr(n, "role") == Some("navigation")),
        )
        .collect();
    let named = |&n: &Id| {
        ["class", "id"].iter().any(|a| {
            dom.attr(n, a).is_some_and(|v| {
                let v = v.to_ascii_lowercase();
                v.contains("main") || v.contains("primary")
            })
        })
    };
    let candidates = navs.iter().filter(|n| named(n)).chain(navs.iter());
    for &nav in candidates {
        let links = section_links(dom, nav, url);
        if links.len() >= 3 {
            return links;
        }
    }
    Vec::new()
}

fn section_links(dom: &Dom, nav: Id, url: &Url) -> Vec<NavLink> {
    let mut out: Vec<NavLink> = Vec::new();
    for a in dom.find_all(nav, &["a"]) {
        let label = meta::collapse(&dom.text_content(a));
        let short = !label.is_empty()
            && label.chars().count() <= MAX_LABEL_CHARS
            && label.split_whitespace().count() <= 3;
        let Some(href) = dom.attr(a, "href").and_then(|h| light_path(url, h)) else {
            continue;
        };
        if short && href != "/" && !out.iter().any(|l| l.href == href) {
            out.push(NavLink { label, href });
        }
        if out.len() == MAX_SECTIONS {
            break;
        }
    }
    out
}

/// Characters in the longest page number read.
const MAX_PAGE_DIGITS: usize = 3;

/// A page number written in any decimal digits: "2", "۲", "٢".
fn page_number(text: &str) -> Option<u32> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_PAGE_DIGITS {
        return None;
    }
    text.chars()
        .try_fold(0u32, |n, c| Some(n * 10 + decimal_digit(c)?))
}

fn decimal_digit(c: char) -> Option<u32> {
    c.to_digit(10).or_else(|| match c {
        '\u{660}'..='\u{669}' => Some(c as u32 - 0x660),
        '\u{6f0}'..='\u{6f9}' => Some(c as u32 - 0x6f0),
        _ => None,
    })
}

/// Blocks a row of page numbers may stand in.
const NUMBER_BLOCKS: &[&str] = &["nav", "ul", "ol", "div", "p"];

/// The first block holding two or more links whose texts are page numbers.
fn numbered(dom: &Dom, url: &Url) -> Vec<NavLink> {
    let Some(body) = dom.find(0, "body") else {
        return Vec::new();
    };
    // One walk reads every link under the body once, in order, and notes the run of them
    // each block holds: blocks nest, and reading each block's links anew costs a walk
    // and a text per link for every block around it.
    let mut links: Vec<Option<NavLink>> = Vec::new();
    let mut blocks: Vec<(usize, usize)> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for step in dom.walk(body) {
        match step {
            Step::Enter(n) if n != body && dom.is(n, &["a"]) => {
                links.push(number_link(dom, n, url));
            }
            Step::Enter(n) if n != body && dom.is(n, NUMBER_BLOCKS) => {
                open.push(blocks.len());
                blocks.push((links.len(), links.len()));
            }
            Step::Leave(n) if n != body && dom.is(n, NUMBER_BLOCKS) => {
                if let Some(b) = open.pop() {
                    blocks[b].1 = links.len();
                }
            }
            _ => {}
        }
    }
    let mut numbers_before = Vec::with_capacity(links.len() + 1);
    numbers_before.push(0);
    for link in &links {
        let last = numbers_before.last().copied().unwrap_or(0);
        numbers_before.push(last + usize::from(link.is_some()));
    }
    for (start, end) in blocks {
        let found = (numbers_before[end] - numbers_before[start]).min(MAX_NUMBERED);
        // A block of page numbers is mostly page numbers (a next link beside them).
        if found >= 2 && found * 2 >= end - start {
            return links[start..end]
                .iter()
                .flatten()
                .take(MAX_NUMBERED)
                .cloned()
                .collect();
        }
    }
    Vec::new()
}

/// A link whose text is a page number, as a numbered link on the page's site.
fn number_link(dom: &Dom, a: Id, url: &Url) -> Option<NavLink> {
    let n = page_number(&short_text(dom, a, MAX_PAGE_DIGITS)?)?;
    let href = dom.attr(a, "href").and_then(|h| light_path(url, h))?;
    Some(NavLink {
        label: n.to_string(),
        href,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_page(html: &str, url: &str) -> Navigation {
        let dom = super::super::parse::document(html, 256);
        read(&dom, &Url::parse(url).unwrap())
    }

    #[test]
    fn the_primary_nav_gives_short_own_site_sections() {
        let nav = read_page(
            "<html><body><nav class=top><a href=/login>Log in</a></nav>\
             <nav class=main-menu><a href=/>Home</a><a href=/world/>World</a>\
             <a href=https://www.example.com/sport>Sport</a><a href=https://ads.example.net/>Ads</a>\
             <a href=/opinion>An opinion section with a far too long name</a><a href=/tech>Tech</a></nav>\
             </body></html>",
            "https://example.com/",
        );
        let labels: Vec<&str> = nav.sections.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["World", "Sport", "Tech"]);
        assert_eq!(nav.rel_next, None);
        assert_eq!(nav.sections[1].href, "/sport");
    }

    #[test]
    fn series_links_come_from_rel_words_and_numbers() {
        let nav = read_page(
            "<html><head><link rel=next href=/news/?page=2></head><body>\
             <p><a href=/news/>١</a> <a href=/news/?page=2>٢</a> <a href=/news/?page=3>٣</a>\
             <a href=/news/?page=2>التالي</a></p><a href=/archive/new>« Newer</a></body></html>",
            "https://example.com/news/?page=1",
        );
        assert_eq!(nav.next.as_deref(), Some("/news/?page=2"));
        assert_eq!(
            nav.rel_next.as_ref().map(Url::as_str),
            Some("https://example.com/news/?page=2")
        );
        assert_eq!(nav.previous.as_deref(), Some("/archive/new"));
        let numbers: Vec<&str> = nav.numbered.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(numbers, ["1", "2", "3"]);
    }

    #[test]
    fn link_texts_are_read_out_only_while_they_may_be_a_word() {
        let dom = super::super::parse::document(
            "<body><a href=/2>« Older <b>posts</b></a><a href=/3>12</a><a href=/4>1 234</a></body>",
            256,
        );
        let links = dom.find_all(0, &["a"]);
        assert_eq!(
            short_text(&dom, links[0], 10).as_deref(),
            Some("« Older posts")
        );
        assert_eq!(short_text(&dom, links[0], 9), None);
        assert_eq!(
            short_text(&dom, links[1], MAX_PAGE_DIGITS).as_deref(),
            Some("12")
        );
        assert_eq!(short_text(&dom, links[2], MAX_PAGE_DIGITS), None);
        assert!(longest_word() >= "older posts".len());
    }
}
