//! Plain text of an HTML fragment: the article's running text (headings, paragraphs,
//! lists, quotes, tables), without what only accompanies it in a page: figure captions,
//! photo credits, ruby readings. Block elements become paragraphs separated by one blank
//! line, inline whitespace collapses, `<br>` becomes a line break and table cells are joined
//! with " | ". Soft hyphens (U+00AD) go: they are hyphenation hints for a browser's line
//! breaking, which plain text has none of, and left in they split a word for search and
//! show as stray hyphens in terminals (the Light page keeps them). Used for scoring the extractor and for text-only output; it decides nothing
//! about what is content.

use super::dom::{is_heading, Data, Dom, Id, Step};

/// Elements that start and end a paragraph of text.
pub(crate) fn is_block(name: &str) -> bool {
    is_heading(name)
        || matches!(
            name,
            "p" | "div"
                | "li"
                | "ul"
                | "ol"
                | "dl"
                | "dt"
                | "dd"
                | "blockquote"
                | "pre"
                | "tr"
                | "table"
                | "thead"
                | "tbody"
                | "tfoot"
                | "caption"
                | "figure"
                | "figcaption"
                | "section"
                | "article"
                | "aside"
                | "header"
                | "footer"
                | "nav"
                | "main"
                | "hr"
                | "address"
                | "details"
                | "summary"
                | "form"
                | "fieldset"
                | "center"
                | "body"
                | "html"
        )
}

/// Separator owed before the next text, strongest wins.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Gap {
    None,
    Space,
    Cell,
    Line,
    Paragraph,
}

/// A hyphenation hint, invisible unless a line breaks at it.
const SOFT_HYPHEN: char = '\u{ad}';

struct Writer {
    out: String,
    gap: Gap,
}

impl Writer {
    fn gap(&mut self, gap: Gap) {
        self.gap = self.gap.max(gap);
    }

    fn word(&mut self, word: &str) {
        if word.contains(SOFT_HYPHEN) {
            let bare: String = word.chars().filter(|&c| c != SOFT_HYPHEN).collect();
            if !bare.is_empty() {
                self.bare_word(&bare);
            }
        } else {
            self.bare_word(word);
        }
    }

    /// Writes a word holding no soft hyphen, after the gap owed before it.
    fn bare_word(&mut self, word: &str) {
        if !self.out.is_empty() {
            self.out.push_str(match self.gap {
                Gap::None => "",
                Gap::Space => " ",
                Gap::Cell => " | ",
                Gap::Line => "\n",
                Gap::Paragraph => "\n\n",
            });
        }
        self.gap = Gap::None;
        self.out.push_str(word);
    }

    fn text(&mut self, text: &str, preformatted: bool) {
        if preformatted {
            for (i, line) in text.split('\n').enumerate() {
                if i > 0 {
                    self.gap(Gap::Line);
                }
                if !line.is_empty() {
                    self.word(line);
                }
            }
            return;
        }
        if text.starts_with(char::is_whitespace) {
            self.gap(Gap::Space);
        }
        for w in text.split_whitespace() {
            self.word(w);
            self.gap = Gap::Space;
        }
        if !text.ends_with(char::is_whitespace) && !text.is_empty() {
            self.gap = Gap::None;
        }
    }
}

/// Plain text of a (sanitized) body fragment; see the module docs.
pub(crate) fn to_text(html_fragment: &str) -> String {
    dom_text(
        &super::parse::document(html_fragment, super::DEFAULT_MAX_NESTING),
        0,
    )
}

/// Plain text of a subtree of an arena DOM.
pub(crate) fn dom_text(dom: &Dom, root: usize) -> String {
    let mut w = Writer {
        out: String::new(),
        gap: Gap::None,
    };
    let mut pre = 0usize;
    // Depth inside elements whose text is not page text.
    let mut silent = 0usize;
    for step in dom.walk(root) {
        match step {
            Step::Enter(id) if silent > 0 && dom.is_element(id) => silent += 1,
            Step::Leave(id) if silent > 0 && dom.is_element(id) => silent -= 1,
            Step::Enter(id) if is_silent(dom, id) => silent += 1,
            _ if silent > 0 => {}
            Step::Enter(id) => match &dom.nodes[id].data {
                Data::Text(t) => w.text(t, pre > 0),
                Data::Element { name, .. } => match name.as_ref() {
                    "br" => w.gap(Gap::Line),
                    "td" | "th" => w.gap(Gap::Cell),
                    "pre" => {
                        pre += 1;
                        w.gap(Gap::Paragraph);
                    }
                    n if is_block(n) => w.gap(Gap::Paragraph),
                    _ => {}
                },
                Data::Root => {}
            },
            Step::Leave(id) => {
                let name = dom.name(id);
                if name == "pre" {
                    pre = pre.saturating_sub(1);
                }
                if is_block(name) {
                    w.gap(Gap::Paragraph);
                }
            }
        }
    }
    w.out
}

/// Elements whose text is not running text: the document head, scripts, figure captions,
/// ruby readings, and short blocks classed as a caption or a credit.
fn is_silent(dom: &Dom, id: Id) -> bool {
    match dom.name(id) {
        "head" | "title" | "script" | "noscript" | "figcaption" | "rt" | "rp" => true,
        "" => false,
        _ => dom.attr(id, "class").is_some_and(is_caption_class) && short(dom, id),
    }
}

/// Longest text of an element a caption or credit class silences.
const CAPTION_MAX: usize = 300;

/// Class words of captions, credits and copyright notices; a chart's or a picture's legend
/// and an image's description are its caption.
const CAPTION_WORDS: &[&str] = &[
    "caption",
    "credit",
    "copyright",
    "legend",
    "imagedescription",
    "image-description",
    "img-desc",
    "photo-desc",
    "bildunterschrift",
];

/// Whether a class names a caption, a credit or a copyright notice, in the spellings CMSs
/// use: `wp-caption-text`, `image-credit`, `photoCredit`, `copyright`.
fn is_caption_class(class: &str) -> bool {
    use super::readable::find_ignore_case;
    class.split_ascii_whitespace().any(|c| {
        CAPTION_WORDS
            .iter()
            .any(|w| find_ignore_case(c, w).is_some())
    })
}

fn short(dom: &Dom, id: Id) -> bool {
    super::readable::text_len(dom, id) <= CAPTION_MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_breaks_and_cells() {
        let t = to_text(
            "<h2>Head</h2><p>One  <b>two</b>\n three<br>four</p><ul><li>a</li><li>b</li></ul>\
             <table><tr><td>x</td><td>y</td></tr></table><pre>a  b\nc</pre>",
        );
        assert_eq!(
            t,
            "Head\n\nOne two three\nfour\n\na\n\nb\n\nx | y\n\na  b\nc"
        );
    }

    #[test]
    fn soft_hyphens_leave_the_words_they_split() {
        let t = to_text("<p>Wehr\u{ad}anlage und Fluss&shy;ufer \u{ad} am <b>Damm</b>&shy;</p>");
        assert_eq!(t, "Wehranlage und Flussufer am Damm");
    }

    #[test]
    fn captions_credits_and_readings_are_not_running_text() {
        let t = to_text(
            "<p>Before.</p><figure><img src=a.jpg><figcaption>Rain in Khartoum. Jane Roe\
             </figcaption></figure><div class=wp-caption-text>Image 1 of 9</div>\
             <p>After <span class=photoCredit>Photo: AP</span></p>\
             <p><ruby>子<rp>(</rp><rt>こ</rt><rp>)</rp></ruby>ども</p>",
        );
        assert_eq!(t, "Before.\n\nAfter\n\n子ども");
    }

    #[test]
    fn legends_and_image_descriptions_are_captions() {
        let t = to_text(
            "<p>Before.</p><div class=legend><div>Oaks in a light forest.</div></div>\
             <p class=imagedescription>AFP / Jane Roe</p><p>After.</p>",
        );
        assert_eq!(t, "Before.\n\nAfter.");
    }

    #[test]
    fn inline_joins_without_space() {
        assert_eq!(to_text("<p>foo<b>bar</b> baz</p>"), "foobar baz");
    }
}
