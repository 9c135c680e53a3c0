//! The last cleanup of a chosen article: the edges of its text. Once detection has picked
//! the container and cleaned it, what is left around the running prose is judged by its
//! place: short, linked or link-dense blocks after the last paragraph of prose (a
//! "Sign up here" line, a "Read more" row), a copyright line, a photo or source credit, and
//! the publication date set above the first paragraph. It judges text blocks only; which
//! container holds the article is decided before.

use std::sync::LazyLock;

use regex::Regex;

use super::dom::{is_heading, Dom, Id};
use super::readable::{
    holds_link, link_density, match_string, names_any, starts_with_ignore_case, text_len,
    PROSE_PARAGRAPH, SENTENCE_ENDS,
};
use super::text::is_block;

/// Link density below which a paragraph of [`PROSE_PARAGRAPH`] characters reads as prose.
const PROSE_LINK_DENSITY: f64 = 0.3;
/// Link density from which a block after the prose reads as a row of links.
const TAIL_LINK_DENSITY: f64 = 0.3;
/// Longest copyright line removed, in characters.
const COPYRIGHT_MAX: usize = 300;
/// Longest credit line removed, in characters: a photo, image or source credit.
const CREDIT_MAX: usize = 200;
/// Longest holder named after the copyright sign of a credit line, in characters
/// (`Fotos: © Jane Roe`, `The harbour at dawn. | © Agency/Photographer`).
const CREDIT_HOLDER_MAX: usize = 60;
/// Words that label a credit line when its first word is one of them or ends with one
/// (`Foto:`, `Titelbild:`, `Bildquelle:`, `(Image: Agency)`, `Photo via Agency`), in the
/// languages of the pages read.
const CREDIT_LABELS: &[&str] = &[
    "photo",
    "photos",
    "foto",
    "fotos",
    "fot.",
    "bild",
    "bilder",
    "image",
    "images",
    "imagen",
    "picture",
    "pictures",
    "credit",
    "credits",
    "crédito",
    "créditos",
    "zdjęcie",
    "quelle",
    "source",
    "fuente",
    "fonte",
    "źródło",
];
/// Longest block above the prose that may be read as a date line, in characters.
const DATE_LINE_MAX: usize = 60;
/// Blocks that may be a date line: not headings, list items or table cells, where a day and
/// a year are a result or a record (`1. Platz 2007`).
const DATE_LINE_BLOCKS: &[&str] = &["p", "div"];
/// Most words in a date line.
const DATE_LINE_WORDS: usize = 6;

/// A day or month number and a year, in either order (`7. Oktober 2020`, `2021-10-16`,
/// `April 21, 2022`, `23.10.2018`).
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b\d{1,2}\b.*\b(1[89]|20)\d\d\b|\b(1[89]|20)\d\d\b.*\b\d{1,2}\b")
        .expect("constant pattern compiles")
});

/// Longest comments label, in characters: the label is a word and a count, so a block
/// longer than this is not read against [`COMMENTS_LABEL`].
const COMMENTS_LABEL_MAX: usize = 40;
/// The label that opens a thread of reader comments: a comments word, alone or in a
/// compound (`Leserkommentare`), with its count before or after (`3 Kommentare`,
/// `Comments (12)`), in the languages of the pages read.
static COMMENTS_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(\d+\s+)?\p{L}*(comments?|kommentare?|comentarios?|commentaires?|comment[io]|komentarz[ey]?|reacties)(\s*\(\d+\))?\s*:?$",
    )
    .expect("constant pattern compiles")
});

/// Trims the edges of `article`: see the module header. `chosen` is the container the scoring
/// picked, which `article` holds with the siblings merged beside it (or `article` itself).
pub(crate) fn trim(dom: &mut Dom, article: Id, chosen: Id) {
    let mut blocks = blocks(dom, article);
    for &b in &blocks {
        remove_copyright_line(dom, b);
        remove_credit_line(dom, b);
    }
    // The blocks are found once: those a copyright or credit line took leave the list, and the tail
    // and the date lines, after the last prose and before the first, never overlap.
    blocks.retain(|&b| dom.ancestors(b).any(|a| a == article));
    remove_tail_containers(dom, article, chosen, &mut blocks);
    remove_comments(dom, article, &mut blocks);
    remove_tail_links(dom, &blocks);
    remove_date_lines(dom, &blocks);
}

/// The article's text blocks in document order: each element that directly holds text,
/// raised to its nearest block-level ancestor, and each heading.
fn blocks(dom: &Dom, article: Id) -> Vec<Id> {
    let mut out: Vec<Id> = Vec::new();
    let mut seen = vec![false; dom.nodes.len()];
    for id in dom.descendants(article) {
        if dom.text(id).is_none_or(|t| t.trim().is_empty()) {
            continue;
        }
        let block = dom
            .ancestors(id)
            .take_while(|&a| a != article)
            .find(|&a| is_block(dom.name(a)));
        // Text straight in the article has no block of its own; it is prose kept as is.
        let Some(mut block) = block else { continue };
        if let Some(h) = dom
            .ancestors(id)
            .take_while(|&a| a != article)
            .find(|&a| is_heading(dom.name(a)))
        {
            block = h;
        }
        if !seen[block] {
            seen[block] = true;
            out.push(block);
        }
    }
    out
}

fn is_prose(dom: &Dom, id: Id) -> bool {
    !is_heading(dom.name(id))
        && text_len(dom, id) >= PROSE_PARAGRAPH
        && link_density(dom, id) < PROSE_LINK_DENSITY
}

fn ends_sentence(dom: &Dom, id: Id) -> bool {
    dom.text_content(id).trim_end().ends_with(SENTENCE_ENDS)
}

/// Removes the short blocks after the last paragraph of prose that lead elsewhere, and
/// the headings among them: a block under [`PROSE_PARAGRAPH`] characters that is mostly
/// link, or that holds a link and ends without a sentence's punctuation ("Sign up here",
/// "More on this topic"). Blocks go from the end back to the first that is neither.
fn remove_tail_links(dom: &mut Dom, blocks: &[Id]) {
    let Some(last_prose) = blocks.iter().rposition(|&b| is_prose(dom, b)) else {
        return;
    };
    let tail: Vec<Id> = blocks[last_prose + 1..]
        .iter()
        .rev()
        .copied()
        .take_while(|&b| {
            is_heading(dom.name(b))
                || text_len(dom, b) < PROSE_PARAGRAPH
                    && (link_density(dom, b) >= TAIL_LINK_DENSITY
                        || holds_link(dom, b) && !ends_sentence(dom, b))
        })
        .collect();
    for b in tail {
        dom.detach(b);
    }
}

/// Elements that group blocks into a part of the page, as opposed to the paragraphs, lists,
/// quotes and tables of running text; custom elements (`x-teaser`) are containers too.
fn is_container(name: &str) -> bool {
    name.contains('-')
        || matches!(
            name,
            "div"
                | "section"
                | "article"
                | "aside"
                | "header"
                | "footer"
                | "main"
                | "nav"
                | "form"
                | "fieldset"
        )
}

/// The containers between `article` and `block` that the page names with a class or an id,
/// outermost first. An unnamed one says nothing of what it holds: it may be a paragraph that
/// detection split at its `<br><br>` (and renamed a `div`), or a wrapper of no meaning.
fn containers(dom: &Dom, article: Id, block: Id) -> Vec<Id> {
    let mut out: Vec<Id> = dom
        .ancestors(block)
        .take_while(|&a| a != article)
        .filter(|&a| is_container(dom.name(a)) && is_named(dom, a))
        .collect();
    out.reverse();
    out
}

/// Whether the page names a container: with a class or an id, or by a custom element's own
/// name (`pp-inline-teaser`).
fn is_named(dom: &Dom, id: Id) -> bool {
    dom.name(id).contains('-')
        || ["class", "id"]
            .iter()
            .any(|k| dom.attr(id, k).is_some_and(|v| !v.trim().is_empty()))
}

/// Class and id words of a story's notes, which close it in a box of their own and belong
/// to it.
const NOTES: &[&str] = &["footnote", "endnote"];

fn in_notes(dom: &Dom, path: &[Id]) -> bool {
    path.iter()
        .any(|&c| names_any(&match_string(dom, c), NOTES))
}

/// Whether two containers are of one kind: the same element whose class opens with the same
/// word, as the repeated wrappers of a CMS's paragraph fields do (`frame frame-layout-0`,
/// `frame frame-layout-10`).
fn same_kind(dom: &Dom, a: Id, b: Id) -> bool {
    let kind = |id: Id| {
        dom.attr(id, "class")
            .and_then(|c| c.split_ascii_whitespace().next())
    };
    dom.name(a) == dom.name(b) && kind(a) == kind(b)
}

/// Whether `path` runs along `home`, to its end or short of it.
fn within(dom: &Dom, path: &[Id], home: &[Id]) -> bool {
    path.len() <= home.len() && path.iter().zip(home).all(|(&a, &b)| same_kind(dom, a, b))
}

fn same_path(dom: &Dom, a: &[Id], b: &[Id]) -> bool {
    a.len() == b.len() && within(dom, a, b)
}

/// Share of the article's text above which the blocks after its prose in other containers
/// stay: past it, the article's text is spread over containers rather than closed by a box.
const TAIL_CONTAINER_SHARE: f64 = 0.3;

/// Removes the blocks after the article's last paragraph of prose that sit in a container of
/// their own: a support plea, an author's note, a promotion or a "related" box appended to
/// the story in a wrapper its paragraphs do not share. The story's home is the path of
/// containers holding most of its prose; blocks after the last prose paragraph in that home
/// leave when their containers branch off it, if together they hold a small part of the
/// text. List items stay, and notes: footnotes, ingredients and facts are set in boxes of
/// their own. Nothing goes either when the home lies beside the `chosen` container and
/// these blocks reach into it: the block the scoring judged the best is never a box
/// appended to the story, so the article is a run of sections merged side by side (a
/// landing page's), and what follows its richest section is the next one.
fn remove_tail_containers(dom: &mut Dom, article: Id, chosen: Id, blocks: &mut Vec<Id>) {
    let paths: Vec<Vec<Id>> = blocks
        .iter()
        .map(|&b| containers(dom, article, b))
        .collect();
    let prose: Vec<usize> = (0..blocks.len())
        .filter(|&i| is_prose(dom, blocks[i]))
        .collect();
    let Some(home) = home(dom, blocks, &paths, &prose) else {
        return;
    };
    let in_chosen = |b: Id| dom.ancestors(b).any(|a| a == chosen);
    let beside_chosen = !in_chosen(blocks[home]);
    let home = &paths[home];
    let Some(&last) = prose
        .iter()
        .rev()
        .find(|&&i| same_path(dom, &paths[i], home))
    else {
        return;
    };
    let tail: Vec<Id> = (last + 1..blocks.len())
        .filter(|&i| {
            !within(dom, &paths[i], home)
                && !dom.is(blocks[i], &["li"])
                && !in_notes(dom, &paths[i])
        })
        .map(|i| blocks[i])
        .collect();
    let removed: usize = tail.iter().map(|&b| text_len(dom, b)).sum();
    if tail.is_empty()
        || removed as f64 > TAIL_CONTAINER_SHARE * text_len(dom, article) as f64
        || beside_chosen && tail.iter().any(|&b| in_chosen(b))
    {
        return;
    }
    for &b in &tail {
        dom.detach(b);
    }
    blocks.retain(|b| !tail.contains(b));
}

/// Removes the reader comments that close the article: the blocks from a comments label
/// to the end, if together they hold a small part of the text ([`TAIL_CONTAINER_SHARE`]).
/// Past that share the label heads a part of the story ("Commentary" in an analysis).
fn remove_comments(dom: &mut Dom, article: Id, blocks: &mut Vec<Id>) {
    let Some(label) = blocks.iter().position(|&b| {
        text_len(dom, b) <= COMMENTS_LABEL_MAX
            && COMMENTS_LABEL.is_match(dom.text_content(b).trim())
    }) else {
        return;
    };
    let removed: usize = blocks[label..].iter().map(|&b| text_len(dom, b)).sum();
    if removed as f64 > TAIL_CONTAINER_SHARE * text_len(dom, article) as f64 {
        return;
    }
    for &b in &blocks[label..] {
        dom.detach(b);
    }
    blocks.truncate(label);
}

/// The prose paragraph whose path of containers holds the most prose text, by its index.
fn home(dom: &Dom, blocks: &[Id], paths: &[Vec<Id>], prose: &[usize]) -> Option<usize> {
    // One entry per distinct path: a paragraph on it, and the prose text on it.
    let mut homes: Vec<(usize, usize)> = Vec::new();
    for &i in prose {
        let len = text_len(dom, blocks[i]);
        match homes
            .iter_mut()
            .find(|(h, _)| same_path(dom, &paths[*h], &paths[i]))
        {
            Some((_, sum)) => *sum += len,
            None => homes.push((i, len)),
        }
    }
    homes
        .into_iter()
        .max_by_key(|&(_, sum)| sum)
        .map(|(h, _)| h)
}

/// Removes `block` if it is a copyright line: at most [`COPYRIGHT_MAX`] characters that
/// open with the copyright sign or the word.
fn remove_copyright_line(dom: &mut Dom, block: Id) {
    let text = dom.text_content(block);
    let text = text.trim_start();
    let opens = text.starts_with('©')
        || starts_with_ignore_case(text, "(c) ")
        || starts_with_ignore_case(text, "copyright");
    if opens && text_len(dom, block) <= COPYRIGHT_MAX {
        dom.detach(block);
    }
}

/// Removes `block` if it is a credit line, wherever it sits: at most [`CREDIT_MAX`]
/// characters that open with a credit label before a colon or `via`, or that end by naming
/// a holder after the copyright sign. A credit belongs to a picture or a chart, not to the
/// running text. Table cells and list items stay: there a label and a name are data.
fn remove_credit_line(dom: &mut Dom, block: Id) {
    if text_len(dom, block) > CREDIT_MAX || in_data(dom, block) {
        return;
    }
    let text = dom.text_content(block);
    if is_credit(text.trim()) {
        dom.detach(block);
    }
}

fn is_credit(text: &str) -> bool {
    let holder = text
        .rsplit_once('©')
        .is_some_and(|(_, h)| h.chars().count() <= CREDIT_HOLDER_MAX);
    holder || opens_with_credit_label(text)
}

fn opens_with_credit_label(text: &str) -> bool {
    let text = text.strip_prefix('(').unwrap_or(text);
    let end = text
        .find(|c: char| c == ':' || c.is_whitespace())
        .unwrap_or(text.len());
    let (word, rest) = text.split_at(end);
    let rest = rest.trim_start();
    let labelled = rest.starts_with(':') || starts_with_ignore_case(rest, "via ");
    let word = word.to_lowercase();
    labelled && CREDIT_LABELS.iter().any(|l| word.ends_with(l))
}

/// Whether `id` sits in a table, a list item or preformatted text, where a short line
/// holding a day and a year, or a label and a name, is a record rather than a note.
fn in_data(dom: &Dom, id: Id) -> bool {
    dom.is(id, &["li"])
        || dom
            .ancestors(id)
            .any(|a| dom.is(a, &["table", "pre", "li"]))
}

/// Removes the date lines above the article's first paragraph of prose: short blocks,
/// not headings, of a few words holding a day and a year, or a `<time>` element and little
/// else. The date is metadata, read before; in the text it repeats the page's header.
fn remove_date_lines(dom: &mut Dom, blocks: &[Id]) {
    let Some(first_prose) = blocks.iter().position(|&b| is_prose(dom, b)) else {
        return;
    };
    let dates: Vec<Id> = blocks[..first_prose]
        .iter()
        .copied()
        .filter(|&b| dom.is(b, DATE_LINE_BLOCKS) && is_date_line(dom, b))
        .collect();
    for b in dates {
        dom.detach(b);
    }
}

fn is_date_line(dom: &Dom, id: Id) -> bool {
    if in_data(dom, id) {
        return false;
    }
    let len = text_len(dom, id);
    if len == 0 || len > DATE_LINE_MAX {
        return false;
    }
    let text = dom.text_content(id);
    if text.split_whitespace().count() > DATE_LINE_WORDS {
        return false;
    }
    DATE.is_match(&text)
        || dom
            .find_all(id, &["time"])
            .iter()
            .any(|&t| 2 * text_len(dom, t) >= len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::Html;

    /// The text of the page's `<main>` once trimmed.
    fn trimmed(html: &str) -> String {
        let doc = Html::parse_document(html);
        let mut dom = Dom::from_html(&doc, &[], 512);
        let main = dom.find(0, "main").expect("main");
        trim(&mut dom, main, main);
        super::super::text::dom_text(&dom, main)
    }

    const PROSE: &str = "<p>The council voted on Tuesday to close the old bridge for repairs, \
                         which engineers say cannot wait another winter.</p>";

    #[test]
    fn linked_lines_after_the_prose_leave_it() {
        let t = trimmed(&format!(
            "<main>{PROSE}<p>The work on the bridge starts next month, <a href=/plan>the city says</a>.</p>\
             <h3>Stay informed</h3><p>Get our updates: <a href=/join>sign up here</a></p>\
             <p><a href=/more>... on to part two</a></p></main>"
        ));
        assert!(t.ends_with("the city says."), "{t}");
    }

    #[test]
    fn a_linked_line_within_the_prose_stays() {
        let html = format!("<main>{PROSE}<p>See <a href=/map>the map</a></p>{PROSE}</main>");
        assert!(trimmed(&html).contains("See the map"));
    }

    #[test]
    fn copyright_lines_leave_the_article() {
        let t = trimmed(&format!(
            "<main>{PROSE}<p>© 2022 The Daily Example. All rights reserved.</p>\
             <p>Copyright The Daily Example</p>{PROSE}</main>"
        ));
        assert!(!t.contains("Example"), "{t}");
    }

    #[test]
    fn credit_lines_leave_the_article() {
        let t = trimmed(&format!(
            "<main><p>Titelbild: Jane Roe/Agency</p>{PROSE}\
             <p>The old bridge at dawn. | © Agency/John Doe</p><p>(Image: AGENCY)</p>\
             <p>Photo via Example Pictures.</p>{PROSE}<p>Source: City Council</p></main>"
        ));
        assert!(t.starts_with("The council"), "{t}");
        assert!(t.ends_with("another winter."), "{t}");
        assert!(!t.contains("Agency") && !t.contains("AGENCY"), "{t}");
    }

    #[test]
    fn prose_naming_a_picture_and_labels_in_lists_stay() {
        let t = trimmed(&format!(
            "<main>{PROSE}<p>The photo shows the bridge in 1898, before the flood.</p>\
             <ul><li>Source: City Council</li></ul><p>Images: {}</p></main>",
            "a long note on where the pictures come from, ".repeat(5)
        ));
        assert!(t.contains("The photo shows"), "{t}");
        assert!(t.contains("Source: City Council"), "{t}");
        assert!(t.contains("Images: a long note"), "{t}");
    }

    #[test]
    fn a_date_line_above_the_prose_leaves_it() {
        let t = trimmed(&format!(
            "<main><p>Published: 7 October 2020</p><p><time>2021-10-16</time></p>\
             <p>Rome, the 9th</p>{PROSE}<p>12 March 2021</p></main>"
        ));
        assert!(t.starts_with("Rome, the 9th"), "{t}");
        assert!(t.ends_with("12 March 2021"), "{t}");
    }

    /// A plea of prose length, as support boxes write them.
    const PLEA: &str = "<p>If you enjoyed reading this story, would you consider supporting \
                        our work with a small gift every month?</p>";

    #[test]
    fn a_box_after_the_prose_leaves_it() {
        let t = trimmed(&format!(
            "<main><div class=body>{PROSE}{PROSE}{PROSE}</div>\
             <div class=support><div class=col>{PLEA}</div></div></main>"
        ));
        assert!(t.ends_with("another winter."), "{t}");
    }

    #[test]
    fn paragraph_fields_of_one_kind_stay() {
        let t = trimmed(&format!(
            "<main><div class=\"field field-1\">{PROSE}{PROSE}</div>\
             <div class=\"field field-2\">{PLEA}</div></main>"
        ));
        assert!(t.ends_with("every month?"), "{t}");
    }

    #[test]
    fn notes_lists_and_unnamed_wrappers_after_the_prose_stay() {
        let t = trimmed(&format!(
            "<main><div class=body>{PROSE}{PROSE}{PROSE}</div>\
             <div class=footnotes><p>1. The council's minutes of 3 May.</p></div>\
             <div class=facts><ul><li>Built in 1898</li></ul></div><div>{PLEA}</div></main>"
        ));
        assert!(t.contains("minutes of 3 May"), "{t}");
        assert!(t.contains("Built in 1898"), "{t}");
        assert!(t.ends_with("every month?"), "{t}");
    }

    /// The text of the page's `<main>` once trimmed, the block with id `chosen` standing for
    /// the container the scoring picked.
    fn trimmed_around_chosen(html: &str) -> String {
        let doc = Html::parse_document(html);
        let mut dom = Dom::from_html(&doc, &[], 512);
        let main = dom.find(0, "main").expect("main");
        let chosen = dom
            .descendants(main)
            .find(|&d| dom.attr(d, "id") == Some("chosen"))
            .expect("chosen");
        trim(&mut dom, main, chosen);
        super::super::text::dom_text(&dom, main)
    }

    #[test]
    fn sections_after_prose_merged_beside_the_chosen_one_stay() {
        let page = |intro: &str, cases: &str| {
            format!(
                "<main><div class=intro {intro}>{PROSE}{PROSE}{PROSE}</div>\
                 <div class=cases {cases}><h2>Case studies</h2>\
                 <p>See how three towns planned their bridges</p></div>\
                 <div class=safety><h2>Safety</h2><p>Every plan is checked twice</p></div></main>"
            )
        };
        let t = trimmed_around_chosen(&page("", "id=chosen"));
        assert!(t.contains("three towns planned"), "{t}");
        assert!(t.ends_with("checked twice"), "{t}");
        // Chosen where the prose is, the same blocks are boxes after the story.
        let t = trimmed_around_chosen(&page("id=chosen", ""));
        assert!(t.ends_with("another winter."), "{t}");
    }

    #[test]
    fn a_box_after_prose_merged_beside_the_chosen_block_leaves_it() {
        let t = trimmed_around_chosen(&format!(
            "<main><div class=kicker id=chosen><p>Bridges, part two</p></div>\
             <div class=body>{PROSE}{PROSE}{PROSE}</div>\
             <div class=support><div class=col>{PLEA}</div></div></main>"
        ));
        assert!(t.starts_with("Bridges, part two"), "{t}");
        assert!(t.ends_with("another winter."), "{t}");
    }

    #[test]
    fn boxes_holding_much_of_the_text_stay() {
        let t = trimmed(&format!(
            "<main><div class=body>{PROSE}</div><div class=more>{PLEA}</div></main>"
        ));
        assert!(t.ends_with("every month?"), "{t}");
    }

    #[test]
    fn reader_comments_after_the_story_leave_it() {
        let t = trimmed(&format!(
            "<main>{PROSE}{PROSE}{PROSE}<h3>3 Kommentare</h3><p>You are not logged in.</p>\
             <p>Great piece, thanks!</p></main>"
        ));
        assert!(t.ends_with("another winter."), "{t}");
    }

    #[test]
    fn a_commentary_section_of_the_story_stays() {
        let t = trimmed(&format!(
            "<main>{PROSE}<h3>Commentary</h3>{PROSE}{PROSE}</main>"
        ));
        assert!(t.contains("Commentary"), "{t}");
        assert_eq!(t.matches("The council").count(), 3, "{t}");
    }

    #[test]
    fn a_result_in_a_list_is_not_a_date_line() {
        let t = trimmed(&format!(
            "<main><ul><li>1. Place 2007</li></ul>{PROSE}</main>"
        ));
        assert!(t.starts_with("1. Place 2007"), "{t}");
    }
}
