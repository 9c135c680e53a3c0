//! Detection's parser: [`Tokenizer`] tokens built straight into the arena [`Dom`] with the
//! HTML standard's tree-construction rules that decide where content lands (the implied
//! `<html>`, `<head>` and `<body>`, implied end tags of paragraphs, list items, headings
//! and table cells, scope checks for end tags) and none of those that only repair markup
//! for scripts (the adoption agency, foster parenting, active formatting elements), so a
//! misnested inline element may close early where a browser would reopen it. What the
//! arena never keeps (comments, [`is_dropped`] and [`is_hidden`] subtrees, attributes
//! [`kept_attr`] does not name) is never built. Start tags nested deeper than a limit are
//! skipped and their text joins the deepest element kept, so nothing here or later walks
//! more than that many ancestors.

use std::borrow::Cow;

use super::dom::{
    closes_explicitly, is_dropped, is_heading, is_hidden, is_void, kept_attr, name_of, Data, Dom,
    Id, HEADINGS,
};
use super::tokens::{decode_text, lower, Token, Tokenizer};
use crate::charref::decode_attribute;

/// Parses a document (or a fragment, which lands in an implied `<body>`) into the arena.
pub(crate) fn document(html: &str, max_depth: usize) -> Dom {
    let mut builder = Builder {
        dom: Dom {
            nodes: Vec::with_capacity(html.len() / 64 + 16),
        },
        stack: Vec::new(),
        head: None,
        in_body: false,
        dropped: 0,
        overflow: 0,
        max_depth: max_depth.max(3),
        verbatim: 0,
        foreign: 0,
        after_pre: false,
        open_names: [0; BUCKETS],
    };
    builder.dom.push(Data::Root);
    let mut tokens = Tokenizer::new(html);
    while let Some(token) = tokens.next() {
        builder.token(token, tokens.attrs());
    }
    builder.dom
}

/// An open element.
struct Open<'a> {
    name: Cow<'a, str>,
    /// Its node; `None` inside a dropped subtree.
    node: Option<Id>,
}

struct Builder<'a> {
    dom: Dom,
    /// Open elements, outermost first; never deeper than `max_depth`.
    stack: Vec<Open<'a>>,
    head: Option<Id>,
    in_body: bool,
    /// Open elements that were dropped with their content.
    dropped: usize,
    /// Skipped start tags past `max_depth` whose end tags are still to come.
    overflow: usize,
    max_depth: usize,
    /// Open elements whose blanks are kept as written (`<pre>`, `<textarea>`).
    verbatim: usize,
    /// Open `<svg>` and `<math>` elements, inside which `/>` ends an element.
    foreign: usize,
    /// The last token opened a `<pre>`, whose first newline is not content.
    after_pre: bool,
    /// Open elements counted by [`bucket`] of their names: when a name's count is zero no
    /// element of that name is open, so a stray end tag costs no walk down the stack.
    open_names: [u32; BUCKETS],
}

const BUCKETS: usize = 64;

/// A cheap hash of a tag name into `0..BUCKETS`.
fn bucket(name: &str) -> usize {
    let b = name.as_bytes();
    let (first, last) = (b.first().copied(), b.last().copied());
    (b.len() * 31 + usize::from(first.unwrap_or(0)) * 7 + usize::from(last.unwrap_or(0))) % BUCKETS
}

/// Attribute lookup the way the tokenizer resolves duplicates: the first one counts.
fn find(attrs: &[(&str, &str)], key: &str) -> Option<String> {
    let (_, raw) = attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(key))?;
    Some(decode_attribute(raw))
}

impl<'a> Builder<'a> {
    fn token(&mut self, token: Token<'a>, attrs: &[(&str, &str)]) {
        let after_pre = std::mem::take(&mut self.after_pre);
        match token {
            Token::Text(raw) => self.text(raw, true, after_pre),
            Token::RawText(raw) => self.text(raw, false, after_pre),
            Token::Start { name, self_closing } => self.start(lower(name), attrs, self_closing),
            Token::End(name) => self.end(&lower(name)),
        }
    }

    /// Where content goes now: the innermost open element, `None` inside a dropped one.
    fn parent(&self) -> Option<Id> {
        if self.dropped > 0 {
            return None;
        }
        Some(self.stack.last().and_then(|o| o.node).unwrap_or(0))
    }

    fn current_is(&self, names: &[&str]) -> bool {
        self.stack
            .last()
            .is_some_and(|o| names.contains(&o.name.as_ref()))
    }

    fn text(&mut self, raw: &str, references: bool, after_pre: bool) {
        let raw = if after_pre {
            raw.strip_prefix("\r\n")
                .or_else(|| raw.strip_prefix('\n'))
                .unwrap_or(raw)
        } else {
            raw
        };
        if (!self.in_body && self.current_is(&["html", "head"])) || self.stack.is_empty() {
            if raw.bytes().all(|c| c.is_ascii_whitespace()) {
                return;
            }
            self.open_body(&[]);
        }
        let Some(parent) = self.parent() else {
            return;
        };
        if raw.is_empty() {
            return;
        }
        let verbatim = self.verbatim > 0;
        self.dom
            .append_text_with(parent, raw.len(), |out| match (references, verbatim) {
                (false, _) => out.push_str(raw),
                (true, verbatim) => decode_text(raw, !verbatim, out),
            });
    }

    fn start(&mut self, name: Cow<'a, str>, attrs: &[(&str, &str)], self_closing: bool) {
        match name.as_ref() {
            "html" => {
                self.ensure_html();
                // The root element is always the bottom of the stack.
                if let Some(html) = self.stack.first().and_then(|o| o.node) {
                    self.merge_attrs(html, attrs);
                }
                return;
            }
            "body" => {
                if self.in_body {
                    if let Some(body) = self.stack.get(1).and_then(|o| o.node) {
                        self.merge_attrs(body, attrs);
                    }
                } else {
                    self.open_body(attrs);
                }
                return;
            }
            "head" => {
                if !self.in_body && self.head.is_none() {
                    self.open_head(attrs);
                }
                return;
            }
            _ => {}
        }
        if !self.in_body {
            if IN_HEAD.contains(&name.as_ref()) {
                if self.head.is_none() {
                    self.open_head(&[]);
                }
                // After `</head>`, such elements still join the head.
                let parent = if self.current_is(&["html"]) {
                    self.head
                } else {
                    self.parent()
                };
                self.insert(name, attrs, self_closing, parent);
                return;
            }
            self.open_body(&[]);
        }
        // Past the limit the structure is frozen: a start tag there may not close (and
        // so reopen, again and again) the elements at the limit.
        if !self.at_limit() {
            self.close_implied_by(&name);
        }
        let parent = self.parent();
        self.insert(name, attrs, self_closing, parent);
    }

    fn at_limit(&self) -> bool {
        self.overflow > 0 || self.stack.len() >= self.max_depth
    }

    /// Creates an element under `parent` (none when dropped) and opens it unless void.
    fn insert(
        &mut self,
        name: Cow<'a, str>,
        attrs: &[(&str, &str)],
        self_closing: bool,
        parent: Option<Id>,
    ) {
        let void = is_void(&name) || self_closing && self.foreign > 0;
        if self.at_limit() {
            if !void && closes_explicitly(&name) {
                self.overflow += 1;
            }
            return;
        }
        let attr = |key: &str| find(attrs, key);
        let node = match parent {
            Some(parent) if !is_dropped(&name, attr) && !is_hidden(attr) => {
                let id = self.dom.push(Data::Element {
                    name: name_of(&name),
                    attrs: Vec::new(),
                });
                self.merge_attrs(id, attrs);
                self.dom.append(parent, id);
                Some(id)
            }
            _ => None,
        };
        if void {
            return;
        }
        match name.as_ref() {
            "pre" | "listing" => {
                self.verbatim += 1;
                self.after_pre = true;
            }
            "textarea" => self.verbatim += 1,
            "svg" | "math" => self.foreign += 1,
            _ => {}
        }
        if node.is_none() {
            self.dropped += 1;
        }
        self.open_names[bucket(&name)] += 1;
        self.stack.push(Open { name, node });
    }

    /// Adds the kept attributes `id` does not have yet.
    fn merge_attrs(&mut self, id: Id, attrs: &[(&str, &str)]) {
        let Data::Element { name, attrs: kept } = &mut self.dom.nodes[id].data else {
            return;
        };
        let before = kept.len();
        for (key, raw) in attrs {
            let Some(key) = kept_attr(name, &lower(key)) else {
                continue;
            };
            if !kept.iter().any(|(k, _)| *k == key) {
                kept.push((key, decode_attribute(raw)));
            }
        }
        if kept.len() != before {
            // The same order whichever parse built the tree, so output is stable.
            kept.sort_unstable();
        }
    }

    fn ensure_html(&mut self) {
        if self.stack.is_empty() {
            self.insert(Cow::Borrowed("html"), &[], false, Some(0));
        }
    }

    fn open_head(&mut self, attrs: &[(&str, &str)]) {
        self.ensure_html();
        self.pop_to(1);
        let parent = self.parent();
        self.insert(Cow::Borrowed("head"), attrs, false, parent);
        self.head = self.stack.get(1).and_then(|o| o.node).or(Some(0));
    }

    fn open_body(&mut self, attrs: &[(&str, &str)]) {
        if self.head.is_none() {
            self.open_head(&[]);
        }
        self.pop_to(1);
        let parent = self.parent();
        self.insert(Cow::Borrowed("body"), attrs, false, parent);
        self.in_body = true;
    }

    /// Pops open elements until `len` remain.
    fn pop_to(&mut self, len: usize) {
        while self.stack.len() > len {
            let Some(open) = self.stack.pop() else {
                return;
            };
            if open.node.is_none() {
                self.dropped -= 1;
            }
            self.open_names[bucket(&open.name)] -= 1;
            match open.name.as_ref() {
                "pre" | "listing" | "textarea" => self.verbatim -= 1,
                "svg" | "math" => self.foreign -= 1,
                _ => {}
            }
        }
    }

    /// Index of the innermost open element named one of `names`, if no scope boundary
    /// of `scope` comes first.
    fn in_scope(&self, names: &[&str], scope: Scope) -> Option<usize> {
        if !self.may_be_open(names) {
            return None;
        }
        for (i, open) in self.stack.iter().enumerate().rev() {
            let name = open.name.as_ref();
            if names.contains(&name) {
                return Some(i);
            }
            if scope.bounded_by(name) {
                return None;
            }
        }
        None
    }

    /// Whether an element named one of `names` may be open (false means none is).
    fn may_be_open(&self, names: &[&str]) -> bool {
        names.iter().any(|n| self.open_names[bucket(n)] > 0)
    }

    /// Closes the innermost element named one of `names` in `scope`, with everything
    /// opened inside it.
    fn close(&mut self, names: &[&str], scope: Scope) {
        if let Some(i) = self.in_scope(names, scope) {
            self.pop_to(i);
        }
    }

    /// Start tags that end open elements first: a block ends a paragraph, a list item
    /// the previous item, a cell the previous cell.
    fn close_implied_by(&mut self, name: &str) {
        if closes_p(name) {
            self.close(&["p"], Scope::Button);
        }
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" if self.current_is(HEADINGS) => {
                self.pop_to(self.stack.len() - 1);
            }
            "li" => self.close_item(&["li"]),
            "dd" | "dt" => self.close_item(&["dd", "dt"]),
            "a" => self.close(&["a"], Scope::Default),
            "button" => self.close(&["button"], Scope::Default),
            "option" | "optgroup" if self.current_is(&["option"]) => {
                self.pop_to(self.stack.len() - 1);
            }
            "td" | "th" => self.close(&["td", "th"], Scope::Table),
            "tr" => {
                self.close(&["td", "th"], Scope::Table);
                self.close(&["tr"], Scope::Table);
            }
            "thead" | "tbody" | "tfoot" => {
                self.close(&["td", "th"], Scope::Table);
                self.close(&["tr"], Scope::Table);
                self.close(&["thead", "tbody", "tfoot"], Scope::Table);
            }
            _ => {}
        }
    }

    /// A new list item closes the open one, unless a block other than `<div>`,
    /// `<address>` or `<p>` lies between.
    fn close_item(&mut self, names: &[&str]) {
        for i in (0..self.stack.len()).rev() {
            let name = self.stack[i].name.as_ref();
            if names.contains(&name) {
                self.pop_to(i);
                return;
            }
            if is_special(name) && !matches!(name, "address" | "div" | "p") {
                return;
            }
        }
    }

    fn end(&mut self, name: &str) {
        if self.overflow > 0 {
            // Only the end tags of skipped elements count until they are all closed.
            if closes_explicitly(name) {
                self.overflow -= 1;
            }
            return;
        }
        match name {
            "html" | "body" => {}
            "head" => {
                if !self.in_body {
                    self.pop_to(1);
                }
            }
            "br" => self.start(Cow::Borrowed("br"), &[], false),
            "p" => self.close(&["p"], Scope::Button),
            "li" => self.close(&["li"], Scope::ListItem),
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => self.close(HEADINGS, Scope::Default),
            "table" | "tbody" | "thead" | "tfoot" | "tr" | "td" | "th" | "caption" => {
                self.close(&[name], Scope::Table);
            }
            name if is_special(name) => self.close(&[name], Scope::Default),
            // Any other end tag closes the innermost element of its name, unless a
            // block comes first.
            name if !self.may_be_open(&[name]) => {}
            name => {
                for i in (0..self.stack.len()).rev() {
                    let open = self.stack[i].name.as_ref();
                    if open == name {
                        self.pop_to(i);
                        return;
                    }
                    if is_special(open) {
                        return;
                    }
                }
            }
        }
    }
}

/// Which open elements end a search for an element in scope.
#[derive(Clone, Copy)]
enum Scope {
    Default,
    ListItem,
    Button,
    Table,
}

impl Scope {
    fn bounded_by(self, name: &str) -> bool {
        match self {
            Scope::Table => matches!(name, "html" | "table" | "template"),
            Scope::Default => is_scope_boundary(name),
            Scope::ListItem => is_scope_boundary(name) || matches!(name, "ol" | "ul"),
            Scope::Button => is_scope_boundary(name) || name == "button",
        }
    }
}

fn is_scope_boundary(name: &str) -> bool {
    matches!(
        name,
        "applet"
            | "caption"
            | "html"
            | "table"
            | "td"
            | "th"
            | "marquee"
            | "object"
            | "template"
            | "math"
            | "svg"
    )
}

/// Elements that may open before `<body>` and stay in the head.
const IN_HEAD: &[&str] = &[
    "base", "basefont", "bgsound", "link", "meta", "title", "noscript", "noframes", "style",
    "script", "template",
];

/// Start tags that end an open paragraph.
fn closes_p(name: &str) -> bool {
    is_heading(name)
        || matches!(
            name,
            "address"
                | "article"
                | "aside"
                | "blockquote"
                | "center"
                | "details"
                | "dialog"
                | "dir"
                | "div"
                | "dl"
                | "fieldset"
                | "figcaption"
                | "figure"
                | "footer"
                | "form"
                | "header"
                | "hgroup"
                | "hr"
                | "li"
                | "dd"
                | "dt"
                | "listing"
                | "main"
                | "menu"
                | "nav"
                | "ol"
                | "p"
                | "plaintext"
                | "pre"
                | "search"
                | "section"
                | "summary"
                | "table"
                | "ul"
                | "xmp"
        )
}

/// The standard's "special" elements, which stop the search an unknown end tag makes.
fn is_special(name: &str) -> bool {
    is_heading(name)
        || matches!(
            name,
            "address"
                | "applet"
                | "area"
                | "article"
                | "aside"
                | "base"
                | "basefont"
                | "bgsound"
                | "blockquote"
                | "body"
                | "br"
                | "button"
                | "caption"
                | "center"
                | "col"
                | "colgroup"
                | "dd"
                | "details"
                | "dir"
                | "div"
                | "dl"
                | "dt"
                | "embed"
                | "fieldset"
                | "figcaption"
                | "figure"
                | "footer"
                | "form"
                | "frame"
                | "frameset"
                | "head"
                | "header"
                | "hgroup"
                | "hr"
                | "html"
                | "iframe"
                | "img"
                | "input"
                | "li"
                | "link"
                | "listing"
                | "main"
                | "marquee"
                | "menu"
                | "meta"
                | "nav"
                | "noembed"
                | "noframes"
                | "noscript"
                | "object"
                | "ol"
                | "p"
                | "param"
                | "plaintext"
                | "pre"
                | "script"
                | "search"
                | "section"
                | "select"
                | "source"
                | "style"
                | "summary"
                | "table"
                | "tbody"
                | "td"
                | "template"
                | "textarea"
                | "tfoot"
                | "th"
                | "thead"
                | "title"
                | "tr"
                | "track"
                | "ul"
                | "wbr"
                | "xmp"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serialisation of the whole DOM.
    fn html(dom: &Dom) -> String {
        let mut out = String::new();
        dom.html(0, true, &mut out);
        out
    }

    fn parsed(page: &str) -> String {
        html(&document(page, 256))
    }

    #[test]
    fn implied_structure() {
        assert_eq!(
            parsed("<title>T &amp; U</title><meta name=a content=b>Hello<p>x"),
            "<html><head><title>T &amp; U</title><meta content=\"b\" name=\"a\"></head>\
             <body>Hello<p>x</p></body></html>"
        );
        assert_eq!(
            parsed("<!doctype html><html lang=fa><head></head><body dir=rtl><p>a</body></html>"),
            "<html lang=\"fa\"><head></head><body dir=\"rtl\"><p>a</p></body></html>"
        );
    }

    #[test]
    fn implied_end_tags() {
        assert_eq!(
            parsed("<body><p>a<div>b</div><ul><li>1<li>2<ol><li>x</ol></ul><p>c<h2>d<h3>e</h3>"),
            "<html><head></head><body><p>a</p><div>b</div><ul><li>1</li><li>2<ol><li>x</li></ol></li></ul>\
             <p>c</p><h2>d</h2><h3>e</h3></body></html>"
        );
        assert_eq!(
            parsed("<body><table><tr><td>a<td>b<tr><th>c</table>t"),
            "<html><head></head><body><table><tr><td>a</td><td>b</td></tr><tr><th>c</th></tr></table>t</body></html>"
        );
    }

    #[test]
    fn end_tags_respect_scope_and_blocks() {
        assert_eq!(
            parsed("<body><div><span>a</div>b</span>c<table><tr><td></div>d</td></tr></table>"),
            "<html><head></head><body><div><span>a</span></div>bc<table><tr><td>d</td></tr></table></body></html>"
        );
        assert_eq!(
            parsed("<body><b>a<i>b</b>c</p>d"),
            "<html><head></head><body><b>a<i>b</i></b>cd</body></html>"
        );
    }

    #[test]
    fn drops_what_detection_never_reads() {
        assert_eq!(
            parsed(
                "<body><div class=a style='x' onclick=y><!-- c --><script>x</script>\
                 <div hidden><p>gone</div><svg><p>gone</p></svg><img src=a.png alt='A \"q\"'></div>"
            ),
            "<html><head></head><body><div class=\"a\"><img alt=\"A &quot;q&quot;\" src=\"a.png\"></div></body></html>"
        );
        assert_eq!(parsed("<body hidden><p>gone"), "<html><head></head></html>");
    }

    #[test]
    fn blanks_collapse_outside_pre() {
        assert_eq!(
            parsed("<body><p>a  \n  b\tc</p><pre>\nx  \n  y</pre>"),
            "<html><head></head><body><p>a\nb\tc</p><pre>x  \n  y</pre></body></html>"
        );
    }

    proptest::proptest! {
        /// Whatever the markup, the parse ends, keeps every node linked to its parent,
        /// and nests no element deeper than the limit.
        #[test]
        fn any_markup_parses_within_the_limit(
            page in "(<(/?)(p|div|b|li|td|tr|table|pre|script|title|body|html|head|svg|math|a|x-y)( [a-z=\"' ]{0,12})?/?>|<!--|-->|&[a-z#0-9]{0,6};?|[a-z <>&\n]){0,80}"
        ) {
            let dom = document(&page, 8);
            for id in dom.descendants(0) {
                let depth = dom.ancestors(id).count();
                proptest::prop_assert!(depth <= 9, "depth {} in {:?}", depth, page);
                let parent = dom.nodes[id].parent.expect("linked");
                proptest::prop_assert!(dom.children(parent).any(|c| c == id));
            }
        }
    }

    #[test]
    fn tags_past_the_limit_build_nothing() {
        // Each `<tr>` would close the cell and row at the limit and open new ones.
        let page = format!("<body>{}x", "<table><tr><td>".repeat(10_000));
        let dom = document(&page, 64);
        assert!(dom.nodes.len() < 100, "{} nodes", dom.nodes.len());
        assert_eq!(dom.text_content(0), "x");
        // ... and the text still lands in the deepest element kept.
        let text = dom
            .descendants(0)
            .find(|&n| dom.text(n).is_some())
            .expect("text");
        assert_eq!(dom.ancestors(text).count(), 64 + 1);
    }

    #[test]
    fn nesting_past_the_limit_keeps_text_in_the_deepest_element() {
        let deep = format!(
            "<body>{}deep{}after",
            "<div>".repeat(10),
            "</div>".repeat(10)
        );
        let dom = document(&deep, 5);
        let out = html(&dom);
        assert_eq!(
            out,
            "<html><head></head><body><div><div><div>deep</div></div></div>after</body></html>"
        );
    }
}
