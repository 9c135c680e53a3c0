//! Listing pages (home, section, tag and search pages): telling them from articles, and
//! rendering them as a lean list of headline links with short standfirsts. Article bodies
//! are `readable`'s.

use std::collections::HashMap;

use super::dom::{escape_text, Dom, Id};
use super::meta;
use super::readable::{is_furniture, link_density, text_len};
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

/// How a script writes headlines: the fewest and most characters one has, and the fewest
/// words, where words are spaced at all.
struct HeadlineShape {
    chars: std::ops::RangeInclusive<usize>,
    words: usize,
}

/// Alphabets and abjads that space their words: a headline is a short sentence.
const SPACED: HeadlineShape = HeadlineShape {
    chars: 20..=200,
    words: 3,
};
/// Chinese and Japanese: no spaces, and a headline packs into a third of the characters.
const IDEOGRAPHIC: HeadlineShape = HeadlineShape {
    chars: 6..=100,
    words: 1,
};
/// Korean: spaced, but each syllable block is a word's worth of letters.
const HANGUL: HeadlineShape = HeadlineShape {
    chars: 8..=120,
    words: 2,
};
/// Thai, Lao, Khmer, Myanmar and Tibetan: alphabets without spaces between words.
const UNSPACED: HeadlineShape = HeadlineShape {
    chars: 10..=200,
    words: 1,
};

/// The shape of headlines in the script most of `text`'s letters are in.
fn headline_shape(text: &str) -> &'static HeadlineShape {
    let (mut ideographic, mut hangul, mut unspaced, mut letters) = (0, 0, 0, 0);
    for c in text.chars().filter(|c| c.is_alphanumeric()) {
        letters += 1;
        match c {
            '\u{3040}'..='\u{30ff}'
            | '\u{3400}'..='\u{4dbf}'
            | '\u{4e00}'..='\u{9fff}'
            | '\u{f900}'..='\u{faff}' => ideographic += 1,
            '\u{1100}'..='\u{11ff}' | '\u{3130}'..='\u{318f}' | '\u{ac00}'..='\u{d7af}' => {
                hangul += 1
            }
            '\u{0e00}'..='\u{0eff}'
            | '\u{0f00}'..='\u{0fff}'
            | '\u{1000}'..='\u{109f}'
            | '\u{1780}'..='\u{17ff}' => unspaced += 1,
            _ => {}
        }
    }
    let half = |n: usize| n * 2 >= letters && n > 0;
    if half(ideographic) {
        &IDEOGRAPHIC
    } else if half(hangul) {
        &HANGUL
    } else if half(unspaced) {
        &UNSPACED
    } else {
        &SPACED
    }
}

/// A headline link's text: long enough to be a sentence-like title, short enough not to be
/// a paragraph, in characters and words as its script writes them (see [`headline_shape`]).
pub(crate) fn is_headline_text(text: &str) -> bool {
    let shape = headline_shape(text);
    shape.chars.contains(&text.chars().count()) && text.split_whitespace().count() >= shape.words
}

/// Whether a standfirst's text has a standfirst's length: as short as a headline at least,
/// and under a paragraph's worth.
fn is_standfirst_text(text: &str) -> bool {
    let shape = headline_shape(text);
    (*shape.chars.start()..=400).contains(&text.chars().count())
}

/// A headline on a listing: its link, the link's `href`, and its text.
struct Headline {
    link: Id,
    href: String,
    text: String,
}

/// The text a headline link shows as its headline: that of a heading inside it, when the
/// whole card is one link (`a > h2 + p`), else all of it.
fn link_headline(dom: &Dom, a: Id) -> (Option<Id>, String) {
    let heading = dom
        .descendants(a)
        .find(|&d| dom.is(d, super::dom::HEADINGS));
    let text = meta::collapse(&dom.text_content(heading.unwrap_or(a)));
    (heading, text)
}

/// Whether a node sits in page furniture (a consent banner, a newsletter box) below `top`,
/// or in `top` itself.
fn in_furniture(dom: &Dom, id: Id, top: Id) -> bool {
    std::iter::once(id)
        .chain(dom.ancestors(id).take_while(|&a| a != top))
        .chain(std::iter::once(top))
        .any(|a| {
            dom.attr(a, "class").is_some_and(is_furniture)
                || dom.attr(a, "id").is_some_and(is_furniture)
        })
}

/// Whether a link is in the page's navigation: a `nav` or `aside`, or the page's own
/// `header` or `footer` (one not inside an `article` or `section`, which are a card's).
fn in_chrome(dom: &Dom, a: Id) -> bool {
    dom.ancestors(a).any(|p| {
        dom.is(p, &["nav", "aside"])
            || (dom.is(p, &["header", "footer"])
                && !dom.ancestors(p).any(|q| dom.is(q, &["article", "section"])))
    })
}

/// Links on the page that look like headlines, one per target, in document order.
fn headlines(dom: &Dom, url: &url::Url) -> Vec<Headline> {
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
        if in_chrome(dom, a) || in_furniture(dom, a, body) {
            continue;
        }
        let (_, text) = link_headline(dom, a);
        if is_headline_text(&text) && seen.insert(target.path().to_string()) {
            out.push(Headline {
                link: a,
                href: href.to_string(),
                text,
            });
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

/// Each headline's card: the largest ancestor of its link that holds no other headline, as
/// the page's own structure draws it (`li`, `article`, `div.card`), whatever its depth.
fn cards(dom: &Dom, heads: &[Headline]) -> Vec<Id> {
    let mut holds: HashMap<Id, usize> = HashMap::new();
    for h in heads {
        for a in dom.ancestors(h.link) {
            *holds.entry(a).or_default() += 1;
        }
    }
    heads
        .iter()
        .map(|h| {
            dom.ancestors(h.link)
                .take_while(|a| holds.get(a) == Some(&1))
                .last()
                .unwrap_or(h.link)
        })
        .collect()
}

/// Elements that hold blocks, so their own text is not one.
const BLOCKS: &[&str] = &[
    "p", "div", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
    "table", "figure", "header", "footer",
];

/// A text block of a card: a paragraph, or a `div` or `span` holding text and no blocks,
/// not inside a paragraph (whose text it is part of).
fn is_text_block(dom: &Dom, id: Id, card: Id) -> bool {
    let leaf =
        || dom.is(id, &["div", "span", "dd"]) && !dom.descendants(id).any(|d| dom.is(d, BLOCKS));
    (dom.is(id, &["p"]) || leaf())
        && !dom
            .ancestors(id)
            .take_while(|&a| a != card)
            .any(|a| dom.is(a, &["p"]))
}

/// A headline's standfirst: the text block of its card nearest after the headline, else
/// the nearest before it; never the headline itself, nor text in page furniture.
fn standfirst(dom: &Dom, head: &Headline, card: Id) -> Option<String> {
    let (heading, _) = link_headline(dom, head.link);
    let headline = heading.unwrap_or(head.link);
    let mut before = None;
    let mut after_link = false;
    for d in dom.descendants(card) {
        if d == head.link {
            after_link = true;
        }
        if d == headline
            || dom.ancestors(d).any(|a| a == headline)
            || !is_text_block(dom, d, card)
            || in_furniture(dom, d, card)
        {
            continue;
        }
        let text = meta::collapse(&dom.text_content(d));
        if !is_standfirst_text(&text) || text == head.text {
            continue;
        }
        if after_link {
            return Some(text);
        }
        before = Some(text);
    }
    before
}

/// Writes the listing as `<ul>` of `<li><a href>Headline</a> <p>standfirst</p></li>`.
pub(crate) fn render(dom: &Dom, url: &url::Url, out: &mut String) {
    let heads = headlines(dom, url);
    let cards = cards(dom, &heads);
    out.push_str("<ul>");
    for (head, card) in heads.iter().zip(cards) {
        out.push_str("<li><a href=\"");
        html_escape::encode_double_quoted_attribute_to_string(&head.href, out);
        out.push_str("\">");
        escape_text(&head.text, out);
        out.push_str("</a>");
        if let Some(s) = standfirst(dom, head, card) {
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
    fn rendered(html: &str) -> String {
        let dom = Dom::from_html(&scraper::Html::parse_document(html), &[], 512);
        let mut out = String::new();
        render(
            &dom,
            &url::Url::parse("http://example.com/").unwrap(),
            &mut out,
        );
        out
    }

    /// A page of nine cards, `card(i)` each, inside `wrap`'s `{}`.
    fn page_of(wrap: &str, card: impl Fn(usize) -> String) -> String {
        let cards: String = (0..9).map(card).collect();
        format!("<html><body>{}</body></html>", wrap.replace("{}", &cards))
    }

    /// Asserts that each of the nine headlines carries its own standfirst.
    fn each_has_its_own(out: &str) {
        for i in 0..9 {
            let item = format!(
                "<li><a href=\"/news/{i}\">Headline number {i} about the news</a> \
                 <p>The standfirst of story {i}, in one short line.</p></li>"
            );
            assert!(out.contains(&item), "story {i}: {out}");
        }
        assert_eq!(out.matches("<li>").count(), 9, "{out}");
    }

    fn headline(i: usize) -> String {
        format!("<a href=\"/news/{i}\">Headline number {i} about the news</a>")
    }

    fn standfirst_of(i: usize) -> String {
        format!("The standfirst of story {i}, in one short line.")
    }

    #[test]
    fn a_list_item_with_a_heading_and_a_paragraph_is_a_card() {
        let html = page_of("<ul>{}</ul>", |i| {
            format!(
                "<li><h3>{}</h3><p>{}</p></li>",
                headline(i),
                standfirst_of(i)
            )
        });
        each_has_its_own(&rendered(&html));
    }

    #[test]
    fn a_list_item_with_a_bare_link_and_a_paragraph_is_a_card() {
        let html = page_of("<ul>{}</ul>", |i| {
            format!(
                "<li><span>2 h</span> {}<p>{}</p></li>",
                headline(i),
                standfirst_of(i)
            )
        });
        each_has_its_own(&rendered(&html));
    }

    #[test]
    fn articles_in_a_section_are_cards() {
        let html = page_of("<main><section class=latest>{}</section></main>", |i| {
            format!(
                "<article><header><h2>{}</h2></header><div class=meta><time>Today</time></div>\
                 <div class=summary>{}</div></article>",
                headline(i),
                standfirst_of(i)
            )
        });
        let out = rendered(&html);
        each_has_its_own(&out);
    }

    #[test]
    fn a_card_that_is_one_link_gives_its_heading_and_its_paragraph() {
        let html = page_of("<div class=grid>{}</div>", |i| {
            format!(
                "<div class=card><a href=\"/news/{i}\"><img src=/{i}.jpg alt=\"\">\
                 <h2>Headline number {i} about the news</h2><p>{}</p></a></div>",
                standfirst_of(i)
            )
        });
        each_has_its_own(&rendered(&html));
    }

    #[test]
    fn a_consent_notice_beside_the_list_is_no_standfirst() {
        let html = page_of(
            "<div class=cookie-consent><p>We use cookies to give you the best experience on \
             our site; by continuing you agree.</p></div>\
             <div><p>This site uses cookies and similar technologies for statistics.</p>\
             <ul>{}</ul></div>",
            |i| format!("<li>{}</li>", headline(i)),
        );
        let out = rendered(&html);
        assert_eq!(out.matches("<li>").count(), 9, "{out}");
        assert!(!out.contains("cookies"), "{out}");
        let inside = page_of("<ul>{}</ul>", |i| {
            format!(
                "<li>{}<div class=gdpr-notice>Accept the cookies of our partners to read it.</div></li>",
                headline(i)
            )
        });
        assert!(!rendered(&inside).contains("cookies"));
    }

    #[test]
    fn short_headlines_in_scripts_without_spaces_are_kept() {
        let headlines = [
            "港口防潮闸经受考验",
            "市议会通过新计划",
            "図書館が再開した",
            "서울 지하철 새 노선 개통",
            "ฝนตกหนักทั่วกรุงเทพ",
        ];
        let html = page_of("<ul>{}</ul>", |i| match headlines.get(i) {
            Some(h) => format!("<li><a href=\"/story/{i}\">{h}</a><p>短评：今天的要闻。</p></li>"),
            None => String::new(),
        });
        let out = rendered(&html);
        for h in headlines {
            assert!(out.contains(&format!(">{h}</a>")), "{h}: {out}");
        }
        assert!(out.contains("<p>短评：今天的要闻。</p>"), "{out}");
        for short in ["港口", "Short one", "Two words here"] {
            assert!(!is_headline_text(short), "{short}");
        }
    }
}
