//! Main-content detection for article pages: the scoring of browser reader views (class and
//! id hints, paragraph text and commas propagated to ancestors, link density, sibling
//! merging, conditional cleaning of boilerplate) on the arena DOM, followed by retries with
//! looser rules when too little text survives. It edits the DOM it is given and returns the
//! node holding the article; metadata and page kind are decided elsewhere.

use std::sync::LazyLock;

use regex::Regex;

use super::dom::{Data, Dom, Id, Step, HEADINGS};
use super::span::Span;

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("constant pattern compiles")
}

static UNLIKELY: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)-ad-|ai2html|banner|breadcrumbs|combx|comment|community|cover-wrap|disqus|extra|footer|gdpr|header|legends|menu|related|remark|replies|rss|shoutbox|sidebar|skyscraper|social|sponsor|supplemental|ad-break|agegate|pagination|pager|popup|yom-remote|cookie|newsletter|subscribe",
    )
});
/// Class and id words of page furniture that is never the article, whatever else its
/// class says: consent and cookie banners, pop-ups and modals, newsletter sign-ups. A word
/// counts at the start of a class token or after a separator (`eu-cookie-law`,
/// `widget_newsletter`, `cookiebar`).
const FURNITURE: &[&str] = &[
    "cookie",
    "consent",
    "gdpr",
    "popup",
    "pop-up",
    "modal",
    "newsletter",
];
/// Prefixes of class tokens that tag a container with a taxonomy or a state rather than
/// say what it is (`category-newsletter`, `has-modal`).
const TAXONOMY_PREFIXES: &[&str] = &["category-", "tag-", "has-", "is-", "with-", "no-"];
/// Suffixes of state tokens (`modal-enabled`, `popup-open`).
const STATE_SUFFIXES: &[&str] = &[
    "-enabled", "-open", "-active", "-visible", "-shown", "-closed",
];
/// Share of the page's text above which a furniture class is not believed.
const FURNITURE_MAX_SHARE: f64 = 0.5;
/// Share of the article's text above which a block keeps its place despite a negative
/// class word: `field--label-hidden` hides a label, not the story it wraps.
const NEGATIVE_MAX_SHARE: f64 = 0.5;
/// Visible form fields from which a block can read as a sign-up or contact form.
const FORM_FIELDS: usize = 3;
/// Share of a block's text inside forms above which, with [`FORM_FIELDS`] fields, the
/// block is a form rather than a story ending in a comment form.
const FORM_SHARE: f64 = 0.5;

/// Class and id words of blocks that accompany an article inside its container without
/// being part of it: related and "see more" rows, author boxes and bylines, ratings,
/// sharing and social rows, comment forms and threads, disclaimers, affiliate and
/// subscription notices, copyright lines, breadcrumbs. They
/// are matched as [`FURNITURE`] is, but only once the article is chosen, so a word that a
/// site also uses on its content wrapper cannot cost the article.
const ACCOMPANIMENT: &[&str] = &[
    "related",
    "author",
    "saboxplugin",
    "post-ratings",
    "sharing",
    "share-buttons",
    "social",
    "comment",
    "disclaimer",
    "disclosure",
    "print-button",
    "view-more",
    "affiliate",
    "subscription",
    "entry-utility",
    "community-notice",
    "promo",
    "advert",
    "widget",
    "tags",
    "rating",
    "signup",
    "copyright",
    "breadcrumb",
];
/// Class and id words of blocks that accompany an article only when they hold a link: a
/// "teaser" is a card leading to another story, or this story's own standfirst paragraph.
const LINKED_ACCOMPANIMENT: &[&str] = &["teaser"];
/// Class and id words of a story's standfirst, the summary set above its body, often
/// outside the container that holds the paragraphs. Matched as whole words (`entry-excerpt`,
/// `p.lead`, `articleIntro`, but not `leaderboard`).
const STANDFIRST: &[&str] = &[
    "lead",
    "standfirst",
    "excerpt",
    "intro",
    "summary",
    "dek",
    "deck",
    "abstract",
    "teaser",
    "subtitle",
    "subline",
];
/// How many ancestors of the best container are searched for the series of rows it is one
/// of (see `Pass::row_of`): as deep as paragraphs lend their score.
const ROW_LEVELS: usize = 5;
/// How many rows of one shape make a series.
const SERIES_MIN: usize = 3;
/// How many ancestors of the article's container are searched for its standfirst.
const STANDFIRST_LEVELS: usize = 4;
/// Text length bounds of a standfirst, in characters.
const STANDFIRST_LEN: std::ops::RangeInclusive<usize> = 40..=1000;
/// How many short labels may end an article and leave it.
const TRAILING_LABELS: usize = 3;
/// Length under which a block without a sentence's end reads as a label, in characters.
const LABEL_MAX: usize = 40;
/// Characters that end a sentence, or a quotation or bracket closing one.
pub(crate) const SENTENCE_ENDS: &[char] = &[
    '.', '!', '?', '…', '。', '！', '？', '"', '”', '»', '«', '’', ')', '؟', '۔',
];
/// Length from which a paragraph with few links reads as running prose, in characters.
pub(crate) const PROSE_PARAGRAPH: usize = 80;
/// Share of the article's text above which an accompaniment class is not believed.
const ACCOMPANIMENT_MAX_SHARE: f64 = 0.3;
/// Share of the article's text above which all accompaniment classes together are not
/// believed.
const ACCOMPANIMENT_TOTAL_SHARE: f64 = 0.5;

/// Whether a class and id string names one of `words`, in a token that is not a taxonomy
/// or state tag.
pub(crate) fn names_any(match_string: &str, words: &[&str]) -> bool {
    match_string
        .split_ascii_whitespace()
        .any(|t| describes(t) && any_word_at_boundary(t, words))
}

/// Whether a class token says what its element is, rather than tagging it with a taxonomy
/// (`category-newsletter`) or a state (`modal-open`).
fn describes(token: &str) -> bool {
    !TAXONOMY_PREFIXES
        .iter()
        .any(|p| starts_with_ignore_case(token, p))
        && !STATE_SUFFIXES
            .iter()
            .any(|s| ends_with_ignore_case(token, s))
}

/// Whether a class and id string names a block of customer reviews (`customer-reviews`,
/// `product_reviews`, `#reviews`), stripped as unlikely content like reader comments: what
/// buyers write under a product is a shop's comments, often longer than the product's
/// description and set in the paragraphs scoring favours. The plural counts only as a whole
/// word and not in a taxonomy tag, so a critic's `review-body` and a post in
/// `category-reviews` keep their place.
fn names_reviews(match_string: &str) -> bool {
    match_string
        .split_ascii_whitespace()
        .any(|t| describes(t) && word_in_token(t, "reviews"))
}

/// Whether a class and id string names a standfirst (see [`STANDFIRST`]).
fn names_standfirst(match_string: &str) -> bool {
    match_string
        .split_ascii_whitespace()
        .any(|t| describes(t) && STANDFIRST.iter().any(|w| word_in_token(t, w)))
}

/// Whether a class and id string marks page furniture: see [`FURNITURE`], plus notices
/// that the browser is outdated.
pub(crate) fn is_furniture(match_string: &str) -> bool {
    names_any(match_string, FURNITURE)
        || match_string.split_ascii_whitespace().any(|t| {
            find_ignore_case(t, "browser").is_some()
                && describes(t)
                && ["update", "upgrade", "outdated", "unsupported", "warning"]
                    .iter()
                    .any(|w| find_ignore_case(t, w).is_some())
        })
}

/// Whether one of `words` (lower case) occurs in `token`, in any case, at its start or
/// after a character that is not a letter or digit.
fn any_word_at_boundary(token: &str, words: &[&str]) -> bool {
    let t = token.as_bytes();
    // A token has few boundaries: each is found once and every word tried there, rather
    // than every word looked for at every position.
    (0..=t.len())
        .filter(|&i| i == 0 || !t[i - 1].is_ascii_alphanumeric())
        .any(|i| {
            let first = t.get(i).map(u8::to_ascii_lowercase);
            words.iter().any(|w| {
                // The first byte alone turns most words away, before a whole comparison.
                w.as_bytes().first().is_none_or(|&f| Some(f) == first)
                    && t.get(i..i + w.len())
                        .is_some_and(|s| s.eq_ignore_ascii_case(w.as_bytes()))
            })
        })
}

/// Whether `word` (lower case) is a whole word of `token`, in any case: bounded on each side
/// by the token's ends, a character that is not a letter or digit, or a camel-case hump.
fn word_in_token(token: &str, word: &str) -> bool {
    let (t, w) = (token.as_bytes(), word.as_bytes());
    (0..=t.len().saturating_sub(w.len()))
        .filter(|&i| t.len() >= w.len() && starts_at(t, i, w))
        .any(|i| {
            let starts = i == 0
                || !t[i - 1].is_ascii_alphanumeric()
                || (t[i - 1].is_ascii_lowercase() && t[i].is_ascii_uppercase());
            let end = i + w.len();
            let ends =
                end == t.len() || !t[end].is_ascii_alphabetic() || t[end].is_ascii_uppercase();
            starts && ends
        })
}

/// Position of `needle` (lower case) in `hay`, in any case.
pub(crate) fn find_ignore_case(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.len() > h.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| starts_at(h, i, n))
}

/// Whether `needle` (lower case) is at `at` in `hay`, in any case; `hay` holds
/// `needle.len()` bytes from `at`. The first byte alone turns most places away.
fn starts_at(hay: &[u8], at: usize, needle: &[u8]) -> bool {
    needle
        .first()
        .is_none_or(|&f| hay[at].to_ascii_lowercase() == f)
        && hay[at..at + needle.len()].eq_ignore_ascii_case(needle)
}

pub(crate) fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|b| b.eq_ignore_ascii_case(prefix.as_bytes()))
}

fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.as_bytes()[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

static MAYBE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)and|article|body|column|content|main|mathjax|shadow"));
static POSITIVE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)article|body|content|entry|hentry|h-entry|main|page|pagination|post|text|blog|story")
});
static NEGATIVE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)-ad-|hidden|^hid$| hid$| hid |^hid |banner|combx|comment|com-|contact|footer|gdpr|masthead|media|meta|outbrain|promo|related|scroll|share|shoutbox|sidebar|skyscraper|sponsor|shopping|tags|widget|cookie|newsletter|subscribe",
    )
});
static BYLINE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)byline|author|dateline|writtenby|p-author"));
static SHARE: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)(\b|_)(share|sharedaddy)(\b|_)"));
static AD_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?iu)^(ad(vertising|vertisement)?|pub(licité)?|werb(ung)?|广告|Реклама|Anuncio)$")
});
static LOADING_WORDS: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?iu)^((loading|正在加载|Загрузка|chargement|cargando)(…|\.\.\.)?)$"));
static SENTENCE_END: LazyLock<Regex> = LazyLock::new(|| re(r"\.( |$)"));

const UNLIKELY_ROLES: &[&str] = &[
    "menu",
    "menubar",
    "complementary",
    "navigation",
    "alert",
    "alertdialog",
    "dialog",
];
const DIV_TO_P: &[&str] = &[
    "blockquote",
    "dl",
    "div",
    "img",
    "ol",
    "p",
    "pre",
    "table",
    "ul",
];
const PHRASING: &[&str] = &[
    "abbr", "audio", "b", "bdo", "br", "button", "cite", "code", "data", "datalist", "dfn", "em",
    "embed", "i", "img", "input", "kbd", "label", "mark", "math", "meter", "noscript", "object",
    "output", "progress", "q", "ruby", "samp", "script", "select", "small", "span", "strong",
    "sub", "sup", "textarea", "time", "var", "wbr", "font", "picture", "source",
];
const TAGS_TO_SCORE: &[&str] = &["section", "h2", "h3", "h4", "h5", "h6", "p", "td", "pre"];
const KEEP_TAG: &[&str] = &["div", "article", "section", "p", "ol", "ul"];
/// With [`DIV_TO_P`], the elements whose text counts as running text when judging a
/// container.
const TEXTISH: &[&str] = &["span", "li", "td"];

/// Longest paragraph that can be a link teaser ("Read more: <headline>").
const LINK_PARAGRAPH_MAX: usize = 200;
/// Share of a short paragraph's text in links above which it is a teaser.
const LINK_PARAGRAPH_DENSITY: f64 = 0.5;

/// Whether the block `id` is mostly a form: [`FORM_FIELDS`] visible fields or more, and
/// more than [`FORM_SHARE`] of its text in forms (labels, consent notes).
fn is_form(dom: &Dom, id: Id) -> bool {
    let forms = dom.find_all(id, &["form"]);
    let in_forms: usize = forms
        .iter()
        .filter(|&&f| !dom.ancestors(f).any(|a| forms.contains(&a)))
        .map(|&f| text_len(dom, f))
        .sum();
    in_forms as f64 > FORM_SHARE * text_len(dom, id) as f64 && form_fields(dom, id) >= FORM_FIELDS
}

/// Visible form fields under `id`: text boxes, check boxes, menus (not hidden inputs or
/// buttons, which articles carry for sharing and voting).
fn form_fields(dom: &Dom, id: Id) -> usize {
    dom.find_all(id, &["input", "select", "textarea"])
        .into_iter()
        .filter(|&f| {
            !dom.attr(f, "type").is_some_and(|t| {
                ["hidden", "submit", "button", "image", "reset"]
                    .iter()
                    .any(|h| t.eq_ignore_ascii_case(h))
            })
        })
        .count()
}

/// Rank of a heading element, 1 for `h1`.
fn heading_rank(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

/// Shortest article found in the page's article markup that a looser attempt must beat by
/// [`MARKED_FACTOR`]: a short story in its `<article>` is likelier than an author box or a
/// comment form that wins once class hints are ignored.
const MARKED_MIN: usize = 100;
/// How many times longer a looser attempt's article must be than a marked one.
const MARKED_FACTOR: f64 = 3.0;

/// How much more text outside links a looser attempt must find to replace a stricter one.
const LOOSER_GAIN: f64 = 1.1;

/// Below this many characters (or half as many outside links) an attempt is retried with
/// looser rules.
const CHAR_THRESHOLD: usize = 500;

/// Which rules an attempt applies.
#[derive(Clone, Copy)]
struct Flags {
    strip_unlikely: bool,
    weight_classes: bool,
    clean_conditionally: bool,
}

/// What detection found.
pub(crate) struct Found {
    /// The element holding the article, detached from the page.
    pub article: Id,
    /// A byline found in the page text and removed from it.
    pub byline: Option<String>,
    /// Text length of the article.
    pub text_len: usize,
    /// Whether the article was found in the page's own article markup (`<article>`,
    /// `itemprop=articleBody`), which a later, looser attempt must clearly beat.
    pub marked: bool,
    /// Share of the article's text in links.
    pub link_density: f64,
    /// Which of the [`ATTEMPTS`] found it: 0 with every rule on, higher for looser rules.
    pub attempt: usize,
    /// Paragraphs of running prose in the article (see [`PROSE_PARAGRAPH`]).
    pub paragraphs: usize,
    /// Whether the chosen block was mostly a form before cleaning (see [`is_form`]): a
    /// newsletter or contact form, which neither ends the search nor takes the place of a
    /// story a stricter attempt found.
    pub form: bool,
    /// Whether no container scored above the page's body, so the whole body stands for
    /// the article: what a strict attempt leaves of a page whose content wrapper it
    /// stripped, which must not end the search however long it is.
    pub whole_body: bool,
}

impl Found {
    /// Text outside links, which attempts are compared by: a looser attempt that keeps
    /// menus and teaser lists is longer, not better.
    fn prose_len(&self) -> f64 {
        self.text_len as f64 * (1.0 - self.link_density)
    }
}

/// Attempts in order: each drops one more rule, for pages the stricter rules leave empty.
const ATTEMPTS: [Flags; 4] = [
    Flags {
        strip_unlikely: true,
        weight_classes: true,
        clean_conditionally: true,
    },
    Flags {
        strip_unlikely: false,
        weight_classes: true,
        clean_conditionally: true,
    },
    Flags {
        strip_unlikely: false,
        weight_classes: false,
        clean_conditionally: true,
    },
    Flags {
        strip_unlikely: false,
        weight_classes: false,
        clean_conditionally: false,
    },
];

/// Finds the article. `first` is the page's DOM and `fresh` rebuilds it for a retry, as
/// detection edits the DOM it works on; `title` is the headline, whose copy in the body is
/// removed. Returns the DOM the article lives in.
pub(crate) fn grab(first: Dom, fresh: impl Fn() -> Dom, title: &str) -> Option<(Dom, Found)> {
    let mut best: Option<(Dom, Found)> = None;
    let mut next = Some(first);
    for (attempt, flags) in ATTEMPTS.into_iter().enumerate() {
        let mut dom = next.take().unwrap_or_else(&fresh);
        prepare(&mut dom);
        let body = dom.find(0, "body")?;
        let mut pass = Pass {
            dom: &mut dom,
            flags,
            scores: Vec::new(),
            data_tables: Vec::new(),
            byline: None,
        };
        let found = Found {
            attempt,
            ..pass.run(body, title)
        };
        // Enough text ends the search, unless most of it is links (a menu kept with a short
        // story).
        if found.text_len >= CHAR_THRESHOLD
            && found.prose_len() >= CHAR_THRESHOLD as f64 / 2.0
            && !found.whole_body
            && !found.form
        {
            return Some((dom, found));
        }
        if best.as_ref().is_none_or(|(_, b)| {
            let needed = if b.marked && b.text_len >= MARKED_MIN {
                MARKED_FACTOR * b.prose_len()
            } else {
                LOOSER_GAIN * b.prose_len()
            };
            let gains =
                found.prose_len() > needed || (b.prose_len() == 0.0 && found.text_len > b.text_len);
            gains && !(found.form && b.text_len > 0)
        }) {
            best = Some((dom, found));
        }
    }
    best.filter(|(_, f)| f.text_len > 0)
}

/// Document-wide preparation done once: `<br><br>` runs become paragraphs, `<font>` becomes
/// `<span>`, and `<noscript>` image fallbacks replace their lazy placeholders.
fn prepare(dom: &mut Dom) {
    let Some(body) = dom.find(0, "body") else {
        return;
    };
    let all: Vec<Id> = dom.descendants(body).collect();
    for &id in &all {
        match dom.name(id) {
            "font" => dom.rename(id, "span"),
            // Structured data was read before detection; as text it is not article.
            "script" => dom.detach(id),
            _ if is_screen_reader_label(dom, id) => dom.detach(id),
            _ => {}
        }
    }
    for &id in &all {
        if dom.is(id, &["noscript"]) {
            unwrap_noscript_image(dom, id);
        }
    }
    for &br in &all {
        if dom.is(br, &["br"]) && dom.nodes[br].parent.is_some() {
            replace_brs(dom, br);
        }
    }
}

/// Whether an element is a short label for screen readers only ("Image caption",
/// "Share on Facebook", "opens in a new window"): sighted readers never see it, and in a
/// Light page it would read as stray words in the text.
fn is_screen_reader_label(dom: &Dom, id: Id) -> bool {
    dom.attr(id, "class").is_some_and(|c| {
        c.split_ascii_whitespace().any(|c| {
            SCREEN_READER_CLASSES
                .iter()
                .any(|known| c.eq_ignore_ascii_case(known))
        })
    }) && text_len(dom, id) < 80
}

/// Classes the common CSS frameworks and CMSs give to text meant only for screen readers.
const SCREEN_READER_CLASSES: &[&str] = &[
    "visually-hidden",
    "visuallyhidden",
    "sr-only",
    "screen-reader-text",
    "screen-reader-only",
    "a11y-hidden",
    "u-visually-hidden",
    "off-screen",
    "offscreen",
];

/// Text in paragraphs from which a `<noscript>` holds the page's own script-free copy of
/// its content, in characters.
const NOSCRIPT_PROSE: usize = 2 * PROSE_PARAGRAPH;

/// A `<noscript>` holding just an image: the image replaces a lazy image right before it,
/// or the noscript itself. One holding paragraphs of text is what a reader without scripts
/// gets in place of a script-built article, as a Light reader is: it becomes a plain block,
/// unless it is the notice asking for JavaScript. Any other goes.
fn unwrap_noscript_image(dom: &mut Dom, ns: Id) {
    let imgs = dom.find_all(ns, &["img"]);
    let text = text_len(dom, ns);
    if text >= NOSCRIPT_PROSE
        && dom.find(ns, "p").is_some()
        && find_ignore_case(&dom.text_content(ns), "javascript").is_none()
    {
        dom.rename(ns, "div");
        return;
    }
    if imgs.len() != 1 || text > 0 {
        dom.detach(ns);
        return;
    }
    let img = imgs[0];
    let prev = prev_element(dom, ns);
    if let Some(p) = prev {
        let prev_img = if dom.is(p, &["img"]) {
            Some(p)
        } else {
            let inner = dom.find_all(p, &["img"]);
            (inner.len() == 1 && text_len(dom, p) == 0).then(|| inner[0])
        };
        if let Some(pi) = prev_img {
            if dom.attr(img, "alt").is_none() {
                if let Some(alt) = dom.attr(pi, "alt").map(str::to_string) {
                    dom.set_attr(img, "alt", &alt);
                }
            }
            dom.replace(pi, img);
            dom.detach(ns);
            return;
        }
    }
    dom.replace(ns, img);
}

fn prev_element(dom: &Dom, id: Id) -> Option<Id> {
    let mut p = dom.nodes[id].prev;
    while let Some(n) = p {
        if dom.is_element(n) {
            return Some(n);
        }
        if dom.text(n).is_some_and(|t| !t.trim().is_empty()) {
            return None;
        }
        p = dom.nodes[n].prev;
    }
    None
}

/// Next sibling, skipping whitespace-only text.
fn next_significant(dom: &Dom, mut n: Option<Id>) -> Option<Id> {
    while let Some(id) = n {
        match dom.text(id) {
            Some(t) if t.trim().is_empty() => n = dom.nodes[id].next,
            _ => return Some(id),
        }
    }
    None
}

fn is_whitespace(dom: &Dom, id: Id) -> bool {
    match &dom.nodes[id].data {
        Data::Text(t) => t.trim().is_empty(),
        Data::Element { name, .. } => name == "br",
        Data::Root => false,
    }
}

fn is_phrasing(dom: &Dom, id: Id) -> bool {
    match &dom.nodes[id].data {
        Data::Text(_) => true,
        Data::Element { name, .. } => {
            PHRASING.contains(&name.as_ref())
                || (matches!(name.as_ref(), "a" | "del" | "ins")
                    && dom.children(id).all(|c| is_phrasing(dom, c)))
        }
        Data::Root => false,
    }
}

/// Two or more `<br>` in a row end a paragraph: what follows, up to the next block or
/// `<br><br>`, goes into a new `<p>`.
fn replace_brs(dom: &mut Dom, br: Id) {
    let mut next = dom.nodes[br].next;
    let mut replaced = false;
    while let Some(n) = next_significant(dom, next) {
        if !dom.is(n, &["br"]) {
            break;
        }
        replaced = true;
        next = dom.nodes[n].next;
        dom.detach(n);
    }
    if !replaced {
        return;
    }
    let p = dom.create("p");
    dom.replace(br, p);
    let mut next = dom.nodes[p].next;
    while let Some(n) = next {
        if dom.is(n, &["br"]) {
            if let Some(after) = next_significant(dom, dom.nodes[n].next) {
                if dom.is(after, &["br"]) {
                    break;
                }
            }
        }
        if !is_phrasing(dom, n) {
            break;
        }
        next = dom.nodes[n].next;
        dom.append(p, n);
    }
    while let Some(last) = dom.nodes[p].last {
        if !is_whitespace(dom, last) {
            break;
        }
        dom.detach(last);
    }
    if let Some(parent) = dom.nodes[p].parent {
        if dom.is(parent, &["p"]) {
            dom.rename(parent, "div");
        }
    }
}

/// Length of the text under a node with ends trimmed and whitespace runs counted as one
/// character, joined from the measures its text nodes keep.
pub(crate) fn text_len(dom: &Dom, id: Id) -> usize {
    // Other nodes measure as the empty span, which joins as nothing.
    dom.preorder(id)
        .fold(Span::default(), |span, n| span.then(dom.measure(n).0))
        .core as usize
}

/// The text under a node, trimmed, whitespace runs collapsed.
/// Whether `id` holds a link that leads somewhere (an `a` with an `href`).
pub(crate) fn holds_link(dom: &Dom, id: Id) -> bool {
    dom.descendants(id)
        .any(|a| dom.is(a, &["a"]) && dom.attr(a, "href").is_some())
}

pub(crate) fn inner_text(dom: &Dom, id: Id) -> String {
    super::meta::collapse(&dom.text_content(id))
}

/// Share of a node's text that sits in links; in-page anchors count for less.
pub(crate) fn link_density(dom: &Dom, id: Id) -> f64 {
    let total = text_len(dom, id);
    if total == 0 {
        return 0.0;
    }
    let mut links = 0.0;
    for a in dom.descendants(id) {
        if dom.is(a, &["a"]) {
            let coefficient = if dom.attr(a, "href").is_some_and(|h| h.starts_with('#')) {
                0.3
            } else {
                1.0
            };
            links += text_len(dom, a) as f64 * coefficient;
        }
    }
    links / total as f64
}

/// Whether any running-text element under `id` ([`TEXTISH`] or [`DIV_TO_P`]) holds
/// non-blank text.
fn has_running_text(dom: &Dom, id: Id) -> bool {
    let textish = |n: Id| dom.is(n, TEXTISH) || dom.is(n, DIV_TO_P);
    let mut inside = 0usize;
    for step in dom.walk(id) {
        match step {
            Step::Enter(n) if n != id && textish(n) => inside += 1,
            Step::Leave(n) if n != id && textish(n) => inside -= 1,
            Step::Enter(n) if inside > 0 && dom.text(n).is_some_and(|t| !t.trim().is_empty()) => {
                return true;
            }
            _ => {}
        }
    }
    false
}

fn heading_density(dom: &Dom, id: Id, stats: &Stats) -> f64 {
    let total = stats.len(id);
    if total == 0 {
        return 0.0;
    }
    let inner: usize = dom
        .find_all(id, HEADINGS)
        .into_iter()
        .map(|h| stats.len(h))
        .sum();
    inner as f64 / total as f64
}

pub(crate) fn match_string(dom: &Dom, id: Id) -> String {
    let (class, id) = (
        dom.attr(id, "class").unwrap_or(""),
        dom.attr(id, "id").unwrap_or(""),
    );
    let mut s = String::with_capacity(class.len() + 1 + id.len());
    s.push_str(class);
    s.push(' ');
    s.push_str(id);
    s
}

fn has_ancestor(dom: &Dom, id: Id, tag: &str) -> bool {
    dom.ancestors(id).any(|a| dom.name(a) == tag)
}

/// Next element in document order; with `skip_kids`, not below `id`.
fn next_node(dom: &Dom, id: Id, skip_kids: bool) -> Option<Id> {
    if !skip_kids {
        if let Some(c) = dom.element_children(id).next() {
            return Some(c);
        }
    }
    let mut n = id;
    loop {
        let mut s = dom.nodes[n].next;
        while let Some(x) = s {
            if dom.is_element(x) {
                return Some(x);
            }
            s = dom.nodes[x].next;
        }
        n = dom.nodes[n].parent?;
    }
}

fn remove_and_next(dom: &mut Dom, id: Id) -> Option<Id> {
    let next = next_node(dom, id, true);
    dom.detach(id);
    next
}

/// Share of `b`'s words missing from `a`, turned into a similarity in [0, 1].
pub(crate) fn similarity(a: &str, b: &str) -> f64 {
    let toks = |s: &str| -> Vec<String> {
        s.to_lowercase()
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    };
    let ta = toks(a);
    let tb = toks(b);
    let all = tb.join(" ").chars().count();
    if all == 0 {
        return 0.0;
    }
    let uniq: Vec<&str> = tb
        .iter()
        .filter(|t| !ta.contains(t))
        .map(String::as_str)
        .collect();
    1.0 - uniq.join(" ").chars().count() as f64 / all as f64
}

/// Text length, link text length and comma count of every node under a root, computed in
/// one pass and refreshed along the ancestor chain after an edit, so scoring and cleaning
/// do not walk the same subtrees again and again.
#[derive(Default)]
struct Stats {
    span: Vec<Span>,
    links: Vec<f64>,
    commas: Vec<u32>,
}

impl Stats {
    fn compute(dom: &Dom, root: Id) -> Stats {
        let n = dom.nodes.len();
        let mut stats = Stats {
            span: vec![Span::default(); n],
            links: vec![0.0; n],
            commas: vec![0; n],
        };
        for step in dom.walk(root) {
            if let Step::Leave(id) = step {
                stats.update(dom, id);
            }
        }
        stats
    }

    /// Recomputes one node from its children.
    fn update(&mut self, dom: &Dom, id: Id) {
        if dom.text(id).is_some() {
            (self.span[id], self.commas[id]) = dom.measure(id);
            return;
        }
        let mut span = Span::default();
        let mut links = 0.0;
        let mut commas = 0;
        for c in dom.children(id) {
            span = span.then(self.span[c]);
            links += self.links[c];
            commas += self.commas[c];
        }
        if dom.is(id, &["a"]) {
            let coefficient = if dom.attr(id, "href").is_some_and(|h| h.starts_with('#')) {
                0.3
            } else {
                1.0
            };
            links = f64::from(span.core) * coefficient;
        }
        self.span[id] = span;
        self.links[id] = links;
        self.commas[id] = commas;
    }

    /// Takes a node (with its subtree) out of the tree under `root`, keeping the figures of
    /// its ancestors right.
    fn remove(&mut self, dom: &mut Dom, node: Id, root: Id) {
        let parent = dom.nodes[node].parent;
        dom.detach(node);
        if let Some(p) = parent {
            self.refresh_from(dom, p, root);
        }
    }

    /// Recomputes the ancestors of a node that just left the tree under `parent`.
    fn refresh_from(&mut self, dom: &Dom, parent: Id, root: Id) {
        let mut cur = Some(parent);
        while let Some(id) = cur {
            self.update(dom, id);
            if id == root {
                break;
            }
            cur = dom.nodes[id].parent;
        }
    }

    fn len(&self, id: Id) -> usize {
        self.span.get(id).map_or(0, |s| s.core as usize)
    }

    fn commas(&self, id: Id) -> usize {
        self.commas.get(id).map_or(0, |&c| c as usize)
    }

    fn link_density(&self, id: Id) -> f64 {
        let len = self.len(id);
        if len == 0 {
            return 0.0;
        }
        self.links.get(id).copied().unwrap_or(0.0) / len as f64
    }
}

/// One attempt of detection under a set of flags.
struct Pass<'d> {
    dom: &'d mut Dom,
    flags: Flags,
    scores: Vec<Option<f64>>,
    data_tables: Vec<bool>,
    byline: Option<String>,
}

impl Pass<'_> {
    fn score(&self, id: Id) -> Option<f64> {
        self.scores.get(id).copied().flatten()
    }

    fn set_score(&mut self, id: Id, s: f64) {
        if self.scores.len() <= id {
            self.scores.resize(self.dom.nodes.len().max(id + 1), None);
        }
        self.scores[id] = Some(s);
    }

    fn class_weight(&self, id: Id) -> f64 {
        if !self.flags.weight_classes {
            return 0.0;
        }
        let mut w = 0.0;
        for key in ["class", "id"] {
            if let Some(v) = self.dom.attr(id, key).filter(|v| !v.is_empty()) {
                if NEGATIVE.is_match(v) {
                    w -= 25.0;
                }
                if POSITIVE.is_match(v) {
                    w += 25.0;
                }
            }
        }
        w
    }

    fn initialize(&mut self, id: Id) {
        let base = match self.dom.name(id) {
            "div" => 5.0,
            "pre" | "td" | "blockquote" => 3.0,
            "address" | "ol" | "ul" | "dl" | "dd" | "dt" | "li" | "form" => -3.0,
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "th" => -5.0,
            _ => 0.0,
        };
        let w = self.class_weight(id);
        self.set_score(id, base + w);
    }

    fn check_byline(&mut self, id: Id, match_string: &str) -> bool {
        if self.byline.is_some() {
            return false;
        }
        let rel_author = self.dom.attr(id, "rel") == Some("author");
        let itemprop_author = self
            .dom
            .attr(id, "itemprop")
            .is_some_and(|p| p.contains("author"));
        let hinted = match_string.len() > 1 && BYLINE.is_match(match_string);
        if !(rel_author || itemprop_author || hinted) {
            return false;
        }
        let len = text_len(self.dom, id);
        if len == 0 || len >= 100 {
            return false;
        }
        let name_node = self.dom.descendants(id).find(|&d| {
            self.dom
                .attr(d, "itemprop")
                .is_some_and(|p| p.contains("name"))
        });
        let text = inner_text(self.dom, name_node.unwrap_or(id));
        self.byline = Some(text);
        true
    }

    /// Whether `id` is an `<aside>`, which HTML reserves for content beside the page's
    /// own (a sidebar of other threads, polls and teasers), holding less than
    /// [`FURNITURE_MAX_SHARE`] of the page's text: it never competes with the page's main
    /// text, which may be short, or named like a comment. A page set mostly in one keeps it.
    fn is_sidebar(&self, id: Id, page_len: usize) -> bool {
        self.dom.is(id, &["aside"])
            && (text_len(self.dom, id) as f64) < FURNITURE_MAX_SHARE * page_len as f64
    }

    fn without_content(&self, id: Id) -> bool {
        let has_text = self
            .dom
            .descendants(id)
            .any(|d| self.dom.text(d).is_some_and(|t| !t.trim().is_empty()));
        if has_text {
            return false;
        }
        let kids: Vec<Id> = self.dom.element_children(id).collect();
        kids.is_empty() || kids.iter().all(|&k| self.dom.is(k, &["br", "hr"]))
    }

    fn has_block_child(&self, id: Id) -> bool {
        self.dom.descendants(id).any(|d| self.dom.is(d, DIV_TO_P))
    }

    fn single_p_inside(&self, id: Id) -> bool {
        let mut kids = self.dom.element_children(id);
        let (Some(only), None) = (kids.next(), kids.next()) else {
            return false;
        };
        self.dom.is(only, &["p"])
            && !self
                .dom
                .children(id)
                .any(|c| self.dom.text(c).is_some_and(|t| !t.trim().is_empty()))
    }

    /// Removes noise, turns text-bearing divs into paragraphs and returns what to score.
    fn collect(&mut self, title: &str) -> Vec<Id> {
        let mut to_score = Vec::new();
        let mut title_header_left = !title.is_empty();
        let mut node = self.dom.find(0, "html");
        let page_len = node.map_or(0, |html| text_len(self.dom, html));
        while let Some(id) = node {
            let ms = match_string(self.dom, id);
            if ms.len() > 1
                && is_furniture(&ms)
                && !self.dom.is(id, &["html", "body"])
                && (text_len(self.dom, id) as f64) < FURNITURE_MAX_SHARE * page_len as f64
            {
                node = remove_and_next(self.dom, id);
                continue;
            }
            if self.dom.attr(id, "aria-modal") == Some("true")
                && self.dom.attr(id, "role") == Some("dialog")
            {
                node = remove_and_next(self.dom, id);
                continue;
            }
            if self.is_sidebar(id, page_len) {
                node = remove_and_next(self.dom, id);
                continue;
            }
            if self.check_byline(id, &ms) {
                node = remove_and_next(self.dom, id);
                continue;
            }
            if title_header_left
                && self.dom.is(id, &["h1", "h2"])
                && similarity(title, &inner_text(self.dom, id)) > 0.75
            {
                title_header_left = false;
                node = remove_and_next(self.dom, id);
                continue;
            }
            let name = self.dom.name(id).to_string();
            if self.flags.strip_unlikely {
                // A bare element (match string " ") carries no class or id hint.
                if ms.len() > 1
                    && (UNLIKELY.is_match(&ms) || names_reviews(&ms))
                    && !MAYBE.is_match(&ms)
                    && !has_ancestor(self.dom, id, "table")
                    && !has_ancestor(self.dom, id, "code")
                    && name != "body"
                    && name != "a"
                {
                    node = match self.standfirst_in_header(id, &ms) {
                        Some(lead) => {
                            self.dom.replace(id, lead);
                            next_node(self.dom, lead, true)
                        }
                        None => remove_and_next(self.dom, id),
                    };
                    continue;
                }
                if self
                    .dom
                    .attr(id, "role")
                    .is_some_and(|r| UNLIKELY_ROLES.contains(&r))
                {
                    node = remove_and_next(self.dom, id);
                    continue;
                }
            }
            if matches!(
                name.as_str(),
                "div" | "section" | "header" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
            ) && self.without_content(id)
            {
                node = remove_and_next(self.dom, id);
                continue;
            }
            if TAGS_TO_SCORE.contains(&name.as_str()) {
                to_score.push(id);
            }
            let mut id = id;
            if name == "div" {
                self.wrap_phrasing(id);
                if self.single_p_inside(id) && link_density(self.dom, id) < 0.25 {
                    let only = self.dom.element_children(id).next();
                    if let Some(p) = only {
                        // The wrapper's name may be all that says the paragraph is the
                        // standfirst, or an author's note or a copyright line.
                        if names_standfirst(&ms) || names_any(&ms, ACCOMPANIMENT) {
                            if let Some(class) = self.dom.attr(id, "class").map(str::to_string) {
                                self.dom.set_attr(p, "class", &class);
                            }
                        }
                        self.dom.replace(id, p);
                        id = p;
                        to_score.push(id);
                    }
                } else if !self.has_block_child(id) {
                    self.dom.rename(id, "p");
                    to_score.push(id);
                }
            }
            node = next_node(self.dom, id, false);
        }
        to_score
    }

    /// Runs of phrasing content directly in a div become paragraphs.
    fn wrap_phrasing(&mut self, div: Id) {
        let mut p: Option<Id> = None;
        let mut child = self.dom.nodes[div].first;
        while let Some(c) = child {
            let next = self.dom.nodes[c].next;
            if is_phrasing(self.dom, c) {
                if let Some(p) = p {
                    self.dom.append(p, c);
                } else if !is_whitespace(self.dom, c) {
                    let np = self.dom.create("p");
                    self.dom.replace(c, np);
                    self.dom.append(np, c);
                    p = Some(np);
                }
            } else if let Some(pp) = p.take() {
                self.trim_trailing_whitespace(pp);
            }
            child = next;
        }
        if let Some(pp) = p {
            self.trim_trailing_whitespace(pp);
        }
    }

    fn trim_trailing_whitespace(&mut self, p: Id) {
        while let Some(last) = self.dom.nodes[p].last {
            if !is_whitespace(self.dom, last) {
                break;
            }
            self.dom.detach(last);
        }
    }

    fn run(&mut self, body: Id, title: &str) -> Found {
        let to_score = self.collect(title);
        let stats = Stats::compute(self.dom, body);
        let mut candidates = Vec::new();
        for el in to_score {
            let Some(parent) = self.dom.nodes[el].parent else {
                continue;
            };
            if !self.dom.is_element(parent) {
                continue;
            }
            let len = stats.len(el);
            if len < 25 {
                continue;
            }
            let content = 1.0 + (stats.commas(el) + 1) as f64 + (len / 100).min(3) as f64;
            let ancestors: Vec<Id> = self.dom.ancestors(el).take(5).collect();
            for (level, anc) in ancestors.into_iter().enumerate() {
                let parent_is_element = self.dom.nodes[anc]
                    .parent
                    .is_some_and(|p| self.dom.is_element(p));
                if !self.dom.is_element(anc) || !parent_is_element {
                    continue;
                }
                if self.score(anc).is_none() {
                    self.initialize(anc);
                    candidates.push(anc);
                }
                let divider = match level {
                    0 => 1.0,
                    1 => 2.0,
                    l => l as f64 * 3.0,
                };
                let s = self.score(anc).unwrap_or(0.0) + content / divider;
                self.set_score(anc, s);
            }
        }
        let mut top: Vec<Id> = Vec::new();
        for c in candidates {
            let s = self.score(c).unwrap_or(0.0) * (1.0 - stats.link_density(c));
            self.set_score(c, s);
            let pos = top
                .iter()
                .position(|&t| s > self.score(t).unwrap_or(0.0))
                .unwrap_or(top.len());
            if pos < 5 {
                top.insert(pos, c);
                top.truncate(5);
            }
        }
        let whole_body = top.first().is_none_or(|&t| t == body);
        let mut rows = Vec::new();
        let top_candidate = match top.first() {
            Some(&t) if t != body => {
                let refined = self.refine(t, &top, body);
                let (row, series) = self.row_of(refined, body);
                rows = series;
                row
            }
            _ => {
                let div = self.dom.create("div");
                while let Some(c) = self.dom.nodes[body].first {
                    self.dom.append(div, c);
                }
                self.dom.append(body, div);
                self.initialize(div);
                div
            }
        };
        let marked = std::iter::once(top_candidate)
            .chain(self.dom.ancestors(top_candidate))
            .any(|a| {
                self.dom.is(a, &["article"])
                    || self
                        .dom
                        .attr(a, "itemprop")
                        .is_some_and(|p| p.contains("articleBody"))
            });
        let standfirst = self.standfirst_before(top_candidate);
        let article = self.merge_siblings(top_candidate, &rows);
        let form = is_form(self.dom, article);
        if let Some(lead) = standfirst.filter(|&l| !self.dom.ancestors(l).any(|a| a == article)) {
            self.dom.detach(lead);
            match self.dom.nodes[article].first {
                Some(first) => self.dom.insert_before(first, lead),
                None => self.dom.append(article, lead),
            }
        }
        self.prep_article(article, top_candidate);
        Found {
            article,
            byline: self.byline.take(),
            text_len: text_len(self.dom, article),
            link_density: link_density(self.dom, article),
            marked,
            attempt: 0,
            paragraphs: self.prose_paragraphs(article),
            form,
            whole_body,
        }
    }

    /// Moves from the best-scoring node up to the container that holds the whole article.
    fn refine(&mut self, first: Id, top: &[Id], body: Id) -> Id {
        let mut top_candidate = first;
        let top_score = self.score(first).unwrap_or(0.0);
        let alternatives: Vec<Vec<Id>> = top[1..]
            .iter()
            .filter(|&&t| top_score > 0.0 && self.score(t).unwrap_or(0.0) / top_score >= 0.75)
            .map(|&t| self.dom.ancestors(t).collect())
            .collect();
        if alternatives.len() >= 3 {
            let mut parent = self.dom.nodes[top_candidate].parent;
            while let Some(p) = parent.filter(|&p| p != body && p != 0) {
                let lists = alternatives.iter().filter(|a| a.contains(&p)).count();
                if lists >= 3 {
                    top_candidate = p;
                    break;
                }
                parent = self.dom.nodes[p].parent;
            }
        }
        if self.score(top_candidate).is_none() {
            self.initialize(top_candidate);
        }
        let mut last = self.score(top_candidate).unwrap_or(0.0);
        let threshold = last / 3.0;
        let mut parent = self.dom.nodes[top_candidate].parent;
        while let Some(p) = parent.filter(|&p| p != body && p != 0) {
            let Some(ps) = self.score(p) else {
                parent = self.dom.nodes[p].parent;
                continue;
            };
            if ps < threshold {
                break;
            }
            if ps > last {
                top_candidate = p;
                break;
            }
            last = ps;
            parent = self.dom.nodes[p].parent;
        }
        top_candidate = self.out_of_table(top_candidate, threshold, body);
        while let Some(p) = self.dom.nodes[top_candidate]
            .parent
            .filter(|&p| p != body && p != 0)
        {
            if self.dom.element_children(p).count() != 1 {
                break;
            }
            top_candidate = p;
        }
        if self.score(top_candidate).is_none() {
            self.initialize(top_candidate);
        }
        top_candidate
    }

    /// A candidate that is a piece of a table (a row, a row group, the table) leaves it
    /// for the nearest scored container outside the table, when that container scores at
    /// least `threshold`: a long table (a list of signatories, of constituencies) reads as
    /// running text cell by cell, while the story it belongs to is in the paragraphs
    /// around it.
    fn out_of_table(&self, candidate: Id, threshold: f64, body: Id) -> Id {
        const TABLE_PARTS: &[&str] = &["table", "tbody", "thead", "tfoot", "tr", "td", "th"];
        // A row or a row group wins when many cells score, as in a table of data; a layout
        // table's content cell wins as a cell and stays.
        if !self
            .dom
            .is(candidate, &["table", "tbody", "thead", "tfoot", "tr"])
        {
            return candidate;
        }
        let mut outside = false;
        for a in self.dom.ancestors(candidate) {
            if a == body || a == 0 {
                break;
            }
            if self.dom.is(a, &["table"]) {
                outside = true;
                continue;
            }
            if outside
                && !self.dom.is(a, TABLE_PARTS)
                && self.score(a).is_some_and(|s| s >= threshold)
            {
                return a;
            }
        }
        candidate
    }

    /// The story's standfirst when it stands before the article's container, in a block of
    /// its own near it: the first element named as one (see [`STANDFIRST`]) that precedes
    /// the container within a few ancestors and reads as prose.
    fn standfirst_before(&self, top: Id) -> Option<Id> {
        let mut child = top;
        for ancestor in self.dom.ancestors(top).take(STANDFIRST_LEVELS) {
            if self.dom.is(ancestor, &["body", "html"]) {
                break;
            }
            let before = self
                .dom
                .element_children(ancestor)
                .take_while(|&c| c != child)
                .collect::<Vec<_>>();
            let found = before
                .into_iter()
                .rev()
                .flat_map(|c| {
                    std::iter::once(c)
                        .chain(self.dom.descendants(c).filter(|&d| self.dom.is_element(d)))
                })
                .find(|&d| self.is_standfirst(d));
            if found.is_some() {
                return found;
            }
            child = ancestor;
        }
        None
    }

    /// The standfirst inside a header that is stripped as unlikely content: an article's
    /// header holds its headline, byline and date, which the shell prints, and often the
    /// standfirst, which only the article has.
    fn standfirst_in_header(&self, id: Id, match_string: &str) -> Option<Id> {
        (self.dom.is(id, &["header"]) || find_ignore_case(match_string, "header").is_some())
            .then(|| {
                self.dom
                    .descendants(id)
                    .find(|&d| d != id && self.dom.is_element(d) && self.is_standfirst(d))
            })
            .flatten()
    }

    fn is_standfirst(&self, id: Id) -> bool {
        if !self
            .dom
            .is(id, &["p", "div", "span", "h2", "h3", "section"])
            || !names_standfirst(&match_string(self.dom, id))
        {
            return false;
        }
        let len = text_len(self.dom, id);
        STANDFIRST_LEN.contains(&len)
            && link_density(self.dom, id) < LINK_PARAGRAPH_DENSITY / 2.0
            && self
                .dom
                .find_all(id, &["h1", "ul", "ol", "table", "form"])
                .is_empty()
    }

    /// The best container, or the ancestor of it (up to [`ROW_LEVELS`] above it, below
    /// `body`) that is one of a series of rows of the article, with the other rows of the
    /// series: page builders set each section of a story in a row of its own, forums each
    /// post of a thread, and the scoring picks the richest row alone. A series has
    /// [`SERIES_MIN`] rows at least, so a lone block that shares a grid class with the
    /// story (an author's card, a tag row) is not one.
    fn row_of(&self, top: Id, body: Id) -> (Id, Vec<Id>) {
        let mut row = top;
        for _ in 0..=ROW_LEVELS {
            let Some(parent) = self.dom.nodes[row].parent.filter(|&p| p != 0) else {
                break;
            };
            let series: Vec<Id> = self
                .dom
                .element_children(parent)
                .filter(|&sib| sib != row && self.is_article_row(row, sib))
                .collect();
            if series.len() + 1 >= SERIES_MIN {
                return (row, series);
            }
            if parent == body {
                break;
            }
            row = parent;
        }
        (top, Vec::new())
    }

    /// Whether `sib` is another row of the article `row` belongs to: an element of the
    /// same shape (its tag and a class word in common) holding a paragraph of running
    /// prose, neither named as an accompaniment or boilerplate nor a teaser card.
    fn is_article_row(&self, row: Id, sib: Id) -> bool {
        let dom = &*self.dom;
        let (Some(a), Some(b)) = (dom.attr(row, "class"), dom.attr(sib, "class")) else {
            return false;
        };
        let shaped = dom.name(row) == dom.name(sib)
            && a.split_ascii_whitespace()
                .any(|t| b.split_ascii_whitespace().any(|u| u == t));
        shaped
            && !names_any(&match_string(dom, sib), ACCOMPANIMENT)
            && self.class_weight(sib) >= 0.0
            && !self.is_teaser_card(sib)
            && dom
                .find_all(sib, &["p", "li", "blockquote", "dd", "pre"])
                .into_iter()
                .any(|p| text_len(dom, p) >= PROSE_PARAGRAPH && link_density(dom, p) < 0.3)
    }

    /// Whether a block is a card leading to another story: a heading whose link reads as a
    /// headline (a forum post's heading links its author's name, which does not).
    fn is_teaser_card(&self, id: Id) -> bool {
        let dom = &*self.dom;
        dom.find_all(id, HEADINGS).into_iter().any(|h| {
            dom.find_all(h, &["a"])
                .into_iter()
                .any(|a| super::listing::is_headline_text(&inner_text(dom, a)))
        })
    }

    /// Gathers the top candidate and the siblings that look like part of the same article:
    /// those that score, paragraphs of prose, and the other `rows` of its series.
    fn merge_siblings(&mut self, top: Id, rows: &[Id]) -> Id {
        let article = self.dom.create("div");
        let Some(parent) = self.dom.nodes[top].parent else {
            self.dom.append(article, top);
            return article;
        };
        let top_score = self.score(top).unwrap_or(0.0);
        let threshold = (top_score * 0.2).max(10.0);
        let top_class = self.dom.attr(top, "class").unwrap_or("").to_string();
        let siblings: Vec<Id> = self.dom.element_children(parent).collect();
        for sib in siblings {
            let append = if sib == top {
                true
            } else {
                let bonus = if !top_class.is_empty()
                    && self.dom.attr(sib, "class").unwrap_or("") == top_class
                {
                    top_score * 0.2
                } else {
                    0.0
                };
                if self.score(sib).is_some_and(|s| s + bonus >= threshold) || rows.contains(&sib) {
                    true
                } else if self.dom.is(sib, &["p"]) {
                    let density = link_density(self.dom, sib);
                    let text = inner_text(self.dom, sib);
                    let len = text.chars().count();
                    (len > 80 && density < 0.25)
                        || (len < 80 && len > 0 && density == 0.0 && SENTENCE_END.is_match(&text))
                } else {
                    false
                }
            };
            if append {
                if !self.dom.is(sib, KEEP_TAG) {
                    self.dom.rename(sib, "div");
                }
                self.dom.append(article, sib);
            }
        }
        article
    }

    fn prep_article(&mut self, article: Id, chosen: Id) {
        self.mark_data_tables(article);
        self.fix_lazy_images(article);
        // One set of statistics serves every step, refreshed after each removal.
        let mut stats = Stats::compute(self.dom, article);
        self.clean_conditionally(article, "form", &mut stats);
        self.clean_conditionally(article, "fieldset", &mut stats);
        self.clean(
            article,
            &["object", "embed", "footer", "link", "aside", "nav"],
            &mut stats,
        );
        self.remove_accompaniments(article, &mut stats);
        self.clean(
            article,
            &["iframe", "input", "textarea", "select", "button"],
            &mut stats,
        );
        for h in self.dom.find_all(article, &["h1", "h2"]) {
            if self.class_weight(h) < 0.0 {
                stats.remove(self.dom, h, article);
            }
        }
        self.clean_conditionally(article, "table", &mut stats);
        self.clean_conditionally(article, "ul", &mut stats);
        self.clean_conditionally(article, "div", &mut stats);
        if self.flags.clean_conditionally {
            self.remove_link_paragraphs(article, &mut stats);
            self.remove_trailing_labels(article, &mut stats);
            self.remove_orphan_headings(article, &mut stats);
            super::trim::trim(self.dom, article, chosen);
        }
        for h in self.dom.find_all(article, &["h1"]) {
            self.dom.rename(h, "h2");
        }
        for p in self.dom.find_all(article, &["p"]).into_iter().rev() {
            let media = self
                .dom
                .find_all(p, &["img", "embed", "object", "iframe"])
                .len();
            if media == 0 && self.dom.text_content(p).trim().is_empty() {
                self.dom.detach(p);
            }
        }
        for br in self.dom.find_all(article, &["br"]) {
            let next = next_significant(self.dom, self.dom.nodes[br].next);
            if next.is_some_and(|n| self.dom.is(n, &["p"])) {
                self.dom.detach(br);
            }
        }
    }

    /// Removes the blocks inside the article that accompany it (see [`ACCOMPANIMENT`]) and
    /// short sharing rows. Each must hold a small part of the article's text, and all of
    /// them together at most half of it: past that, the words describe the article's own
    /// blocks on this site, and nothing is taken.
    fn remove_accompaniments(&mut self, article: Id, stats: &mut Stats) {
        let article_len = stats.len(article) as f64;
        let mut found = Vec::new();
        let mut node = next_node(self.dom, article, false);
        let end = next_node(self.dom, article, true);
        while let Some(n) = node.filter(|&n| Some(n) != end) {
            let ms = match_string(self.dom, n);
            let len = stats.len(n);
            let sharing = SHARE.is_match(&ms) && len < CHAR_THRESHOLD;
            let accompanying = (names_any(&ms, ACCOMPANIMENT)
                || names_any(&ms, LINKED_ACCOMPANIMENT) && self.leads_elsewhere(n))
                && (len as f64) < ACCOMPANIMENT_MAX_SHARE * article_len;
            if sharing || accompanying {
                found.push((n, len));
                node = next_node(self.dom, n, true);
            } else {
                node = next_node(self.dom, n, false);
            }
        }
        let total: usize = found.iter().map(|&(_, len)| len).sum();
        if total as f64 > ACCOMPANIMENT_TOTAL_SHARE * article_len {
            found.retain(|&(n, len)| {
                SHARE.is_match(&match_string(self.dom, n)) && len < CHAR_THRESHOLD
            });
        }
        for (n, _) in found {
            stats.remove(self.dom, n, article);
        }
    }

    /// Paragraphs of the article that read as running prose: see [`PROSE_PARAGRAPH`].
    fn prose_paragraphs(&self, article: Id) -> usize {
        self.dom
            .find_all(article, &["p", "li", "blockquote", "dd"])
            .into_iter()
            .filter(|&p| {
                text_len(self.dom, p) >= PROSE_PARAGRAPH && link_density(self.dom, p) < 0.3
            })
            .count()
    }

    /// Whether a block is a card that leads to another page: a container, not a paragraph,
    /// holding a link.
    fn leads_elsewhere(&self, id: Id) -> bool {
        !self.dom.is(id, &["p"]) && holds_link(self.dom, id)
    }

    /// Removes short paragraphs that are mostly a link: the "Read more: <headline>" and
    /// "See also" teasers set between the paragraphs of a story.
    fn remove_link_paragraphs(&mut self, article: Id, stats: &mut Stats) {
        for p in self.dom.find_all(article, &["p"]) {
            let len = stats.len(p);
            if len > 0
                && len <= LINK_PARAGRAPH_MAX
                && stats.link_density(p) > LINK_PARAGRAPH_DENSITY
            {
                stats.remove(self.dom, p, article);
            }
        }
    }

    /// Removes headings left with nothing to head: the last blocks of the article, or one
    /// followed straight by a heading of the same or a higher rank. They titled a block of
    /// links or a widget that cleaning took out ("Related", "More on this topic").
    fn remove_orphan_headings(&mut self, article: Id, stats: &mut Stats) {
        let blocks = self.text_blocks(article);
        let mut orphans = Vec::new();
        let mut next_rank: Option<u8> = None;
        for &(id, rank) in blocks.iter().rev() {
            if rank > 0 && next_rank.is_none_or(|n| n > 0 && n <= rank) {
                orphans.push(id);
                continue;
            }
            next_rank = Some(rank);
        }
        for h in orphans {
            stats.remove(self.dom, h, article);
        }
    }

    /// Removes the short labels that end an article after its last sentence: a widget's
    /// leftover caption ("No comments", "Advertisement:", "Contact", "Load more"), a
    /// picture credit, a tag line. At most [`TRAILING_LABELS`] go, each under
    /// [`LABEL_MAX`] characters and ending without a sentence's punctuation.
    fn remove_trailing_labels(&mut self, article: Id, stats: &mut Stats) {
        let blocks = self.text_blocks(article);
        let labels: Vec<Id> = blocks
            .iter()
            .rev()
            .take(TRAILING_LABELS)
            .take_while(|&&(id, rank)| rank == 0 && self.is_label(id, stats))
            .map(|&(id, _)| id)
            .collect();
        if labels.len() < blocks.len() {
            for id in labels {
                stats.remove(self.dom, id, article);
            }
        }
    }

    /// Whether a block's text is a short label rather than a sentence.
    fn is_label(&self, id: Id, stats: &Stats) -> bool {
        let len = stats.len(id);
        len > 0 && len < LABEL_MAX && {
            let text = self.dom.text_content(id);
            !text.trim_end().ends_with(SENTENCE_ENDS)
        }
    }

    /// Headings (by rank) and text-bearing blocks (rank 0) of the article, in document
    /// order; a block inside a heading is the heading's.
    fn text_blocks(&self, article: Id) -> Vec<(Id, u8)> {
        let mut blocks: Vec<(Id, u8)> = Vec::new();
        for id in self.dom.descendants(article) {
            let name = self.dom.name(id);
            if let Some(rank) = heading_rank(name) {
                blocks.push((id, rank));
            } else if self.dom.is_element(id)
                && !blocks
                    .last()
                    .is_some_and(|&(h, _)| self.dom.ancestors(id).any(|a| a == h))
                && self
                    .dom
                    .children(id)
                    .any(|c| self.dom.text(c).is_some_and(|t| !t.trim().is_empty()))
            {
                blocks.push((id, 0));
            }
        }
        blocks
    }

    fn clean(&mut self, root: Id, tags: &[&str], stats: &mut Stats) {
        for n in self.dom.find_all(root, tags) {
            stats.remove(self.dom, n, root);
        }
    }

    fn fix_lazy_images(&mut self, root: Id) {
        for img in self.dom.find_all(root, &["img"]) {
            let has_src = self
                .dom
                .attr(img, "src")
                .is_some_and(|s| !s.is_empty() && !s.starts_with("data:"));
            if has_src {
                continue;
            }
            let lazy = ["data-src", "data-original", "data-lazy-src"]
                .iter()
                .find_map(|k| self.dom.attr(img, k).map(str::to_string));
            if let Some(src) = lazy {
                self.dom.set_attr(img, "src", &src);
            }
        }
    }

    fn mark_data_tables(&mut self, root: Id) {
        for table in self.dom.find_all(root, &["table"]) {
            let is_data = self.is_data_table(table);
            if self.data_tables.len() <= table {
                self.data_tables
                    .resize(self.dom.nodes.len().max(table + 1), false);
            }
            self.data_tables[table] = is_data;
        }
    }

    fn is_data_table(&self, table: Id) -> bool {
        let dom = &*self.dom;
        if dom.attr(table, "role") == Some("presentation")
            || dom.attr(table, "datatable") == Some("0")
        {
            return false;
        }
        if dom.attr(table, "summary").is_some() {
            return true;
        }
        if let Some(caption) = dom.find_all(table, &["caption"]).first() {
            if dom.children(*caption).next().is_some() {
                return true;
            }
        }
        if !dom
            .find_all(table, &["col", "colgroup", "tfoot", "thead", "th"])
            .is_empty()
        {
            return true;
        }
        if !dom.find_all(table, &["table"]).is_empty() {
            return false;
        }
        let mut rows = 0usize;
        let mut cols = 0usize;
        for tr in dom.find_all(table, &["tr"]) {
            let span = |id: Id, k: &str| {
                dom.attr(id, k)
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(1)
                    .clamp(1, 1000)
            };
            rows += span(tr, "rowspan");
            let c: usize = dom
                .element_children(tr)
                .filter(|&td| dom.is(td, &["td"]))
                .map(|td| span(td, "colspan"))
                .sum();
            cols = cols.max(c);
        }
        rows >= 10 || cols > 4 || rows * cols > 10
    }

    fn is_data(&self, id: Id) -> bool {
        self.data_tables.get(id).copied().unwrap_or(false)
    }

    /// Removes `tag` elements under `root` that look like boilerplate rather than article.
    fn clean_conditionally(&mut self, root: Id, tag: &str, stats: &mut Stats) {
        if !self.flags.clean_conditionally {
            return;
        }
        for node in self.dom.find_all(root, &[tag]).into_iter().rev() {
            if self.should_remove(node, tag, root, stats) {
                stats.remove(self.dom, node, root);
            }
        }
    }

    /// Whether a block holds more than [`NEGATIVE_MAX_SHARE`] of the article in paragraphs
    /// of running prose, so that a class or id word counting against it names a detail of
    /// the block
    /// (`field--label-hidden`), and removing it would leave the article's shell.
    fn carries_article(&self, node: Id, root: Id, stats: &Stats) -> bool {
        let prose: usize = self
            .dom
            .find_all(node, &["p"])
            .into_iter()
            .map(|p| stats.len(p))
            .filter(|&len| len >= PROSE_PARAGRAPH)
            .sum();
        prose as f64 > NEGATIVE_MAX_SHARE * stats.len(root) as f64
    }

    fn should_remove(&self, node: Id, tag: &str, root: Id, stats: &Stats) -> bool {
        let dom = &*self.dom;
        let total = stats.len(node);
        let mut is_list = tag == "ul" || tag == "ol";
        if !is_list && total > 0 {
            let list_len: usize = dom
                .find_all(node, &["ul", "ol"])
                .into_iter()
                .map(|l| stats.len(l))
                .sum();
            is_list = list_len as f64 / total as f64 > 0.9;
        }
        if tag == "table" && self.is_data(node) {
            return false;
        }
        if dom
            .ancestors(node)
            .any(|a| dom.is(a, &["table"]) && self.is_data(a))
        {
            return false;
        }
        if has_ancestor(dom, node, "code") {
            return false;
        }
        if dom
            .find_all(node, &["table"])
            .into_iter()
            .any(|t| self.is_data(t))
        {
            return false;
        }
        let weight = self.class_weight(node);
        if weight < 0.0 && !self.carries_article(node, root, stats) {
            return true;
        }
        if stats.commas(node) >= 10 {
            return false;
        }
        let mut p = 0usize;
        let mut img = 0usize;
        let mut li = 0usize;
        let mut input = 0usize;
        let mut embeds = 0usize;
        for d in dom.descendants(node) {
            match dom.name(d) {
                "p" => p += 1,
                "img" => img += 1,
                "li" => li += 1,
                "input" => input += 1,
                "object" | "embed" | "iframe" => embeds += 1,
                _ => {}
            }
        }
        // Only short texts can be a lone "Advertisement" or "Loading…".
        if total <= 40 {
            let inner = inner_text(dom, node);
            if AD_WORDS.is_match(&inner) || LOADING_WORDS.is_match(&inner) {
                return true;
            }
        }
        let content_len = total;
        let density = stats.link_density(node);
        let in_figure = has_ancestor(dom, node, "figure");
        let li_excess = li as f64 - 100.0;
        let remove = (!in_figure && img > 1 && (p as f64 / img as f64) < 0.5)
            || (!is_list && li_excess > p as f64)
            || (input > p / 3)
            || (!is_list
                && !in_figure
                && content_len < 25
                && (img == 0 || img > 2)
                && density > 0.0
                && heading_density(dom, node, stats) < 0.9)
            || (!is_list && weight < 25.0 && density > 0.2)
            || (weight >= 25.0 && density > 0.5)
            || ((embeds == 1 && content_len < 75) || embeds > 1)
            || (img == 0 && !has_running_text(dom, node));
        if is_list && remove {
            if dom
                .element_children(node)
                .any(|c| dom.element_children(c).count() > 1)
            {
                return true;
            }
            if img == li {
                return false;
            }
        }
        remove
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::Html;

    fn article(html: &str) -> String {
        let doc = Html::parse_document(html);
        let fresh = || Dom::from_html(&doc, &[], 512);
        let (dom, found) = grab(fresh(), fresh, "The headline of the story").expect("article");
        super::super::text::dom_text(&dom, found.article)
    }

    /// The article's HTML, captions included.
    fn article_html(html: &str) -> String {
        let doc = Html::parse_document(html);
        let fresh = || Dom::from_html(&doc, &[], 512);
        let (dom, found) = grab(fresh(), fresh, "The headline of the story").expect("article");
        let mut out = String::new();
        dom.content_html(found.article, true, &mut out);
        out
    }

    fn sentences(words: &str, n: usize) -> String {
        (0..n)
            .map(|i| format!("<p>{words}, sentence {i} of the story, runs on a while.</p>"))
            .collect()
    }

    #[test]
    fn a_sign_up_form_never_replaces_a_short_story() {
        let labels: String = (0..12)
            .map(|i| {
                format!(
                    "<p><label>Receive the letter, field {i}, which we send twice a month, \
                     and events near you, as often as you like</label><input name=f{i}></p>"
                )
            })
            .collect();
        let html = format!(
            "<html><body><div class=story><p>The council voted on Tuesday to close the old \
             bridge, after engineers found cracks in two of its piers, and the mayor said a \
             ferry would run until a new bridge opens, in three years at the earliest.</p>\
             </div><div class=subscribe-box><form>{labels}</form></div></body></html>"
        );
        let text = article(&html);
        assert!(text.contains("close the old bridge"), "{text}");
        assert!(!text.contains("Receive the letter"), "{text}");
    }

    #[test]
    fn a_stripped_wrapper_does_not_end_the_search() {
        let notice = "Offers on this site come from companies that pay us, and that may \
             change how and where they appear, in what order, and which ones we show. "
            .repeat(3);
        let html = format!(
            "<html><body><section class=advertiser-disclosure><p>{notice}</p><p>{notice}</p>\
             </section><div class=above-footer><div class=article-body>{}</div></div>\
             </body></html>",
            sentences("The airline joins the alliance next spring", 40)
        );
        let text = article(&html);
        assert!(text.contains("joins the alliance"), "{text}");
        assert!(!text.contains("companies that pay us"), "{text}");
    }

    #[test]
    fn customer_reviews_do_not_outweigh_a_product_description() {
        let reviews: String = (0..6)
            .map(|i| {
                format!(
                    "<div class=review><div class=review-content><p>Buyer {i} says: \
                     the beans arrived fresh, smell wonderful and taste of berries, \
                     citrus and chocolate, so we ordered them again.</p></div></div>"
                )
            })
            .collect();
        let html = format!(
            "<html><body><div class=product><div class=description>{}</div></div>\
             <div class=customer-reviews><div class=reviews-body>{reviews}</div></div>\
             </body></html>",
            sentences("These beans are grown by a cooperative in the hills", 8)
        );
        let text = article(&html);
        assert!(text.contains("grown by a cooperative"), "{text}");
        assert!(!text.contains("Buyer 3 says"), "{text}");
    }

    #[test]
    fn reviews_are_named_by_the_plural_word_not_a_tag() {
        for named in [
            "customer-reviews",
            "product_reviews",
            "x reviewsTab",
            " reviews",
        ] {
            assert!(names_reviews(named), "{named}");
        }
        for not in [
            "review-body",
            "category-reviews",
            "bestreviews",
            "reviewsite",
        ] {
            assert!(!names_reviews(not), "{not}");
        }
    }

    #[test]
    fn a_negative_word_on_most_of_the_article_does_not_remove_it() {
        let html = format!(
            "<html><body><div class=node-body><div class='field field--label-hidden'>{}</div>\
             <div class=field>{}</div></div></body></html>",
            sentences("The parliament ended the state of emergency", 12),
            sentences("Schools stay open", 4)
        );
        let text = article(&html);
        assert!(text.contains("state of emergency"), "{text}");
        assert!(text.contains("Schools stay open"), "{text}");
    }

    #[test]
    fn link_teasers_and_their_headings_leave_the_body() {
        let para = "A long paragraph of the story, with commas, clauses and enough words to be \
                    scored as the article's running text. ";
        let html = format!(
            "<html><body><article><p>{para}{para}</p><p>{para}{para}</p>\
             <p><b>Read more: <a href=/x>Minister resigns after the budget vote</a></b></p>\
             <p>{para}</p><p>Reported by <a href=/ann>Ann</a> from the capital, {para}</p>\
             <h3>You may also like</h3><div class=teasers><a href=/a>First teaser title</a>\
             <a href=/b>Second teaser title</a><a href=/c>Third teaser title</a></div>\
             </article></body></html>"
        );
        let text = article(&html);
        assert!(text.contains("Reported by Ann"), "{text}");
        for teaser in ["Read more", "Minister", "You may also like", "teaser"] {
            assert!(!text.contains(teaser), "{teaser} in {text}");
        }
    }

    #[test]
    fn a_consent_banner_loses_to_a_short_article() {
        let html = "<html><body><ul class=nav><li><a href=/>Home page</a></li>\
             <li><a href=/a>Archive of old posts</a></li><li><a href=/b>About this blog</a></li>\
             </ul><div id=main><div class=post><h1>The headline of the story</h1>\
             <p>\u{201e}I know I am drunk and should not say it\u{201c} \u{2013} \u{201e}Then \
             don't\u{201c} \u{2013} \u{201e}OK.\u{201c}</p></div></div>\
             <div class='widget eu-cookie-law-widget'><form><p>Privacy and cookies: this site \
             uses cookies. By continuing to use this website, you agree to their use. To find \
             out more, including how to control cookies, see here: Cookie Policy</p>\
             <input type=submit value='Close and accept'></form></div>\
             <div id=update-browser-banner class=popup-banner><p>Your browser is out of date. \
             Download a newer browser for a better experience, free of charge.</p></div>\
             </body></html>";
        let text = article(html);
        assert!(text.contains("I know I am drunk"), "{text}");
        assert!(!text.contains("cookies"), "{text}");
        assert!(!text.contains("browser"), "{text}");
    }

    #[test]
    fn what_accompanies_the_article_leaves_it() {
        let para = "This is a long paragraph of article text, with commas, and more words to make \
                    it count as real content for the scorer. ";
        let html = format!(
            "<html><body><div class=\"entry-content\"><p>{para}{para}</p><p>{para}{para}</p>\
             <div class=\"author-box\"><p>Jane writes about gardens, and has for years.</p></div>\
             <ul class=\"post-ratings\"><li>Was this article useful?</li></ul>\
             <div class=\"card-teaser\"><a href=/other>Another story, told elsewhere</a></div>\
             <p class=\"article-teaser\">The standfirst, which stays with its story.</p>\
             </div></body></html>"
        );
        let text = article(&html);
        assert!(text.contains("The standfirst"), "{text}");
        for gone in ["Jane writes", "Was this article", "Another story"] {
            assert!(!text.contains(gone), "{gone} kept in {text}");
        }
    }

    #[test]
    fn short_labels_after_the_last_sentence_leave_the_article() {
        let para = "This is a long paragraph of article text, with commas, and more words to make \
                    it count as real content for the scorer. ";
        let html = format!(
            "<html><body><div class=\"entry-content\"><p>{para}{para}</p><p>{para}{para}</p>\
             <p>{para}{para}</p><p>Short, but a sentence.</p><div><span>Keine Kommentare</span></div><p>Anzeige:</p>\
             </div></body></html>"
        );
        let text = article(&html);
        assert!(
            text.trim_end().ends_with("Short, but a sentence."),
            "{text}"
        );
    }

    #[test]
    fn a_standfirst_above_the_body_joins_it() {
        let para = "This is a long paragraph of article text, with commas, and more words to make \
                    it count as real content for the scorer. ";
        let html = format!(
            "<html><body><article><header><div class=leaderboard>Advertisement banner here \
             for a product nobody asked about.</div><h1>The headline of the story</h1>\
             <div class=\"entry-excerpt\"><p>What happened, in one sentence that sums the \
             story up.</p></div></header><div class=\"entry-content\"><p>{para}{para}</p>\
             <p>{para}{para}</p><p>{para}</p></div></article></body></html>"
        );
        let text = article(&html);
        assert!(text.starts_with("What happened, in one sentence"), "{text}");
        assert!(!text.contains("Advertisement"), "{text}");
    }

    #[test]
    fn a_standfirst_set_above_nested_wrappers_joins_the_body() {
        let para = "This is a long paragraph of article text, with commas, and more words to make \
                    it count as real content for the scorer. ";
        let html = format!(
            "<html><body><div class=page><div class=\"article-lead\"><p>What happened, in one \
             sentence that sums the story up.</p></div><div class=grid><aside>Menu</aside>\
             <div class=col><aside>Tools</aside><div class=wrap><aside>Share</aside>\
             <div class=\"entry-content\"><p>{para}{para}</p><p>{para}{para}</p><p>{para}</p>\
             </div></div></div></div></div></body></html>"
        );
        let text = article(&html);
        assert!(text.starts_with("What happened, in one sentence"), "{text}");
    }

    #[test]
    fn author_boxes_comment_forms_and_copyright_rows_leave_the_article() {
        let para = "<p>The council voted on Tuesday to close the old bridge for repairs, \
                    which engineers say cannot wait another winter, and work starts soon.</p>";
        let t = article(&format!(
            "<html><body><div class=story>{para}{para}{para}{para}\
             <section class=post-author><p>Jane Roe writes about cities, bridges and the \
             people who mend them, and has done so for twenty years.</p></section>\
             <div class=comment-form><p>Leave a reply to this story, we read them all.</p></div>\
             <div class=site-copyright><p>All rights reserved by the publisher.</p></div>\
             </div></body></html>"
        ));
        assert!(t.contains("bridge"), "{t}");
        for boilerplate in ["Jane Roe", "Leave a reply", "rights reserved"] {
            assert!(!t.contains(boilerplate), "{t}");
        }
    }

    #[test]
    fn a_content_wrapper_named_like_an_accompaniment_stays() {
        let para = "This is a long paragraph of article text, with commas, and more words to make \
                    it count as real content for the scorer. ";
        let html = format!(
            "<html><body><div class=\"post\">{}</div></body></html>",
            format!("<div class=\"social-wrap\"><p>{para}{para}</p></div>").repeat(4)
        );
        let text = article(&html);
        assert_eq!(
            text.matches("This is a long paragraph").count(),
            8,
            "{text}"
        );
    }

    #[test]
    fn picks_the_article_over_boilerplate() {
        let para = "This is a long paragraph of article text, with commas, and more words to make \
                    it count as real content for the scorer. ";
        let html = format!(
            "<html><body><nav><a href=/>Home</a> <a href=/x>Section</a></nav>\
             <div class=sidebar><p>Sidebar promo text that should not be kept anywhere.</p></div>\
             <article><h1>The headline of the story</h1><p class=byline>By Jane Doe</p>\
             <p>{para}{para}</p><p>{para}</p><p>{para}{para}{para}</p></article>\
             <div class=comments><p>{para}</p></div><footer>Copyright</footer></body></html>"
        );
        let text = article(&html);
        assert!(text.starts_with("This is a long paragraph"), "{text}");
        assert!(!text.contains("headline"));
        assert!(!text.contains("Jane Doe"));
        assert!(!text.contains("Sidebar"));
        assert!(!text.contains("Copyright"));
    }

    #[test]
    fn screen_reader_labels_go_and_long_hidden_text_stays() {
        let para = "A long paragraph of the story, with commas, clauses and enough words to be \
                    scored as the article's running text. ";
        let long = "An explanation written for screen readers that runs on for well over eighty \
                    characters, so it is content.";
        let html = format!(
            "<html><body><article><p>{para}{para}</p><figure><span class='Visually-Hidden'>\
             Photo</span><figcaption>Rain in Khartoum. <span class=sr-only>Credit</span> \
             Jane Roe</figcaption></figure><p>{para}</p><p class=visually-hidden>{long}</p>\
             <a class='visually-hidden focusable' href=#x>Continue reading the main story</a>\
             <p>{para}{para}</p></article></body></html>"
        );
        let html = article_html(&html);
        assert!(html.contains("<figcaption>Rain in Khartoum."), "{html}");
        assert!(html.contains("Jane Roe</figcaption>"), "{html}");
        let text = super::super::to_text(&html);
        assert!(
            text.contains("An explanation written for screen readers"),
            "{text}"
        );
        for label in ["Photo", "Credit", "Continue reading"] {
            assert!(!text.contains(label), "{label} in {text}");
        }
    }

    #[test]
    fn an_article_set_in_rows_of_a_page_builder_is_read_whole() {
        let para = "This is a long paragraph of article text, with commas, and more words to make \
                    it count as real content for the scorer. ";
        let row = |text: &str| {
            format!(
                "<div class=\"row builder-row\"><div class=col><div class=inner>{text}</div>\
                 </div></div>"
            )
        };
        let html = format!(
            "<html><body><div class=main>{}{}{}</div><div class=side><p>Short note.</p></div>\
             </body></html>",
            row(&format!(
                "<h2>The opening row</h2><p>Opening row, {para}</p>"
            )),
            row(&format!(
                "<p>{para}{para}</p><p>{para}{para}</p><p>{para}{para}</p>"
            )),
            row(&format!("<p>Closing row, {para}</p>")),
        );
        let text = article(&html);
        for row in ["Opening row", "Closing row"] {
            assert!(text.contains(row), "{row} missing from {text}");
        }
    }

    #[test]
    fn a_thread_is_read_from_its_opening_post() {
        let post = |who: &str, text: &str| {
            format!(
                "<div class=\"message post\"><div class=user><h4><a href=/u/{who}>{who}</a></h4>\
                 <time>12 May 2021</time></div><div class=message-body><p>{text}</p></div></div>"
            )
        };
        let reply = "A long reply that goes on, with commas, advice and a story of its own, \
                     told at length by somebody who has seen the same thing happen. "
            .repeat(4);
        let html = format!(
            "<html><body><div class=thread>{}{}{}</div></body></html>",
            post(
                "anna",
                "The opening question of the thread, asked in a few lines, with a comma, \
                 and a word on what was tried."
            ),
            post("ben", &reply),
            post(
                "cem",
                "A short thanks, with a comma, for the help so far, and a question of mine on the food."
            ),
        );
        let text = article(&html);
        assert!(text.contains("The opening question"), "{text}");
        assert!(text.contains("A long reply"), "{text}");
    }

    #[test]
    fn a_short_thread_named_like_comments_beats_a_longer_sidebar() {
        let post = |who: &str, text: &str| {
            format!(
                "<div class=forum-comment><div class=comment-author>{who}</div>\
                 <div class=comment-text>{text}</div></div>"
            )
        };
        let teaser = "A teaser for another part of the site, with commas, a promise, and a \
                      summary that runs on for a while to fill the box beside the thread. ";
        let html = format!(
            "<html><body><main>{}{}{}{}</main><aside><section class=panel><h3>Partners</h3>\
             <p>{teaser}</p><p>{teaser}</p></section></aside></body></html>",
            post(
                "anna",
                "The opening question of the thread, asked in a few lines: since the update, \
                 the store no longer opens over mobile data, on every device I have."
            ),
            post(
                "ben",
                "Works here, with the same version, over mobile data and wifi."
            ),
            post(
                "cem",
                "Same here, since the update; no setting I changed explains it."
            ),
            post(
                "dan",
                "Solved: the store had lost its right to mobile data, in settings."
            ),
        );
        let text = article(&html);
        assert!(text.contains("The opening question"), "{text}");
        assert!(!text.contains("A teaser for another part"), "{text}");
    }

    #[test]
    fn comments_and_teaser_cards_beside_an_article_stay_out() {
        let para = "This is a long paragraph of article text, with commas, and more words to make \
                    it count as real content for the scorer. ";
        let note = "A reader's long note on the story, with commas, and an opinion of their \
                    own that runs on for a while. ";
        let html = format!(
            "<html><body><div class=box><div class=story><p>{para}{para}</p><p>{para}{para}</p>\
             <p>{para}</p></div></div>\
             <div class=\"box reader-comments\"><p>{note}</p></div>\
             <div class=box><h3><a href=/other>Another story, told at length elsewhere</a></h3><p>{note}</p></div>\
             </body></html>"
        );
        let text = article(&html);
        assert!(text.contains("This is a long paragraph"), "{text}");
        assert!(!text.contains("A reader's long note"), "{text}");
        assert!(!text.contains("Another story"), "{text}");
    }

    #[test]
    fn a_standfirst_in_a_stripped_header_stays() {
        let para = "This is a long paragraph of article text, with commas, and more words to make \
                    it count as real content for the scorer. ";
        let html = format!(
            "<html><body><article><header class=\"entry-header\"><h1>The headline of the \
             story</h1><div class=lead><p>What happened, in one sentence that sums the story \
             up.</p></div><span>By Jane, 12 May 2021</span></header><div class=\"entry-content\">\
             <p>{para}{para}</p><p>{para}{para}</p><p>{para}</p></div></article></body></html>"
        );
        let text = article(&html);
        assert!(text.starts_with("What happened, in one sentence"), "{text}");
        assert!(!text.contains("By Jane"), "{text}");
    }

    #[test]
    fn text_len_collapses_whitespace() {
        let dom = Dom::from_html(&Html::parse_document("<p>  a  b\n<b>c</b>  </p>"), &[], 512);
        let p = dom.find(0, "p").unwrap();
        assert_eq!(text_len(&dom, p), 5);
    }

    #[test]
    fn class_words_match_in_any_case_at_boundaries_only() {
        assert!(is_furniture("site-COOKIE-bar "));
        assert!(is_furniture(" OutdatedBrowser"));
        assert!(!is_furniture("xcookie "));
        assert!(names_standfirst("ArticleLead "));
        assert!(!names_standfirst("misleading "));
        assert_eq!(find_ignore_case("FooBROWSER", "browser"), Some(3));
        assert_eq!(find_ignore_case("brows", "browser"), None);
        // The matchers compare a word's first byte with the lower-cased text, so every
        // table they are given must be lower case.
        for words in [FURNITURE, ACCOMPANIMENT, LINKED_ACCOMPANIMENT, STANDFIRST] {
            assert!(words
                .iter()
                .all(|w| !w.is_empty() && w.to_lowercase() == *w));
        }
    }
}
