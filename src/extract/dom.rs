//! The small arena DOM that detection works on, built once by detection's own parser (or,
//! for operator selectors, from scraper's tree), holding only elements, their kept
//! attributes and text. Every walk over it is
//! iterative (parent and sibling links, no call stack), so a page nested 100,000 levels deep
//! costs time in proportion to its size and never overflows the stack. Parsing itself,
//! scoring and serialisation live elsewhere; this module owns the tree and its edits.

use std::borrow::Cow;
use std::cell::Cell;

use scraper::Html;

use super::span::Span;
use crate::rewrite::policy;

/// Index of a node in [`Dom::nodes`].
pub(crate) type Id = usize;

/// A lower-case tag name: the standard's names are shared statics, so building a tree
/// allocates no name for them.
pub(crate) type Name = Cow<'static, str>;

/// Tag names of the HTML standard, as a `match` (which the compiler turns into a
/// length-then-bytes search) from a name to its static.
macro_rules! known_tag {
    ($name:expr, $($tag:literal)*) => {
        match $name {
            $($tag => Some($tag),)*
            _ => None,
        }
    };
}

/// The shared [`Name`] of a lower-case tag name.
pub(crate) fn name_of(name: &str) -> Name {
    let known = known_tag!(name,
        "a" "abbr" "address" "area" "article" "aside" "audio" "b" "base" "bdi" "bdo"
        "blockquote" "body" "br" "button" "canvas" "caption" "center" "cite" "code" "col"
        "colgroup" "data" "datalist" "dd" "del" "details" "dfn" "dialog" "dir" "div" "dl"
        "dt" "em" "embed" "fieldset" "figcaption" "figure" "font" "footer" "form" "h1" "h2"
        "h3" "h4" "h5" "h6" "head" "header" "hgroup" "hr" "html" "i" "iframe" "img" "input"
        "ins" "kbd" "label" "legend" "li" "link" "main" "map" "mark" "math" "menu" "meta"
        "meter" "nav" "noscript" "object" "ol" "optgroup" "option" "output" "p" "picture"
        "pre" "progress" "q" "rp" "rt" "ruby" "s" "samp" "script" "search" "section"
        "select" "small" "source" "span" "strike" "strong" "style" "sub" "summary" "sup"
        "svg" "table" "tbody" "td" "template" "textarea" "tfoot" "th" "thead" "time" "title"
        "tr" "track" "tt" "u" "ul" "var" "video" "wbr"
    );
    match known {
        Some(tag) => Cow::Borrowed(tag),
        None => Cow::Owned(name.to_string()),
    }
}

/// What a node holds.
#[derive(Debug, Clone)]
pub(crate) enum Data {
    /// The document itself: the root, with no tag.
    Root,
    /// An element with its lower-case tag name and kept attributes.
    Element {
        name: Name,
        attrs: Vec<(&'static str, String)>,
    },
    /// A run of text.
    Text(String),
}

/// One node and its links.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub parent: Option<Id>,
    pub first: Option<Id>,
    pub last: Option<Id>,
    pub prev: Option<Id>,
    pub next: Option<Id>,
    pub data: Data,
    /// A text node's [`Span`] and comma count, measured on first use and forgotten when
    /// its text grows: text is measured again and again over nested subtrees, and a
    /// text node's words never change once the tree is built.
    measure: Cell<Option<(Span, u32)>>,
}

/// One step of a walk: entering a node, or leaving it after its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Enter(Id),
    Leave(Id),
}

/// The tree. Node 0 is the root.
#[derive(Debug, Clone)]
pub(crate) struct Dom {
    pub nodes: Vec<Node>,
}

/// Elements whose whole subtree never helps detection. Empty `<input>`s stay: how many a
/// block holds tells a form (a newsletter sign-up, a comment box) from running text.
const DROPPED: &[&str] = &[
    "style", "svg", "template", "iframe", "object", "embed", "canvas", "select", "textarea",
    "button", "option", "applet", "frame", "frameset", "audio", "video", "map", "dialog", "link",
    "source", "track",
];

/// Whether an element is never kept, with its content.
pub(crate) fn is_dropped(name: &str, attr: impl Fn(&str) -> Option<String>) -> bool {
    if name == "script" {
        let ty = attr("type").unwrap_or_default();
        let ty = ty.trim();
        let ld = ty.eq_ignore_ascii_case("application/ld+json");
        let state = ty.eq_ignore_ascii_case("application/json")
            && attr("id").is_some_and(|id| super::embedded::STATE_IDS.contains(&id.as_str()));
        return !(ld || state);
    }
    if name == "link" {
        // Only a page's links to the next and previous pages of its series are read.
        let rel = attr("rel").unwrap_or_default().to_ascii_lowercase();
        return !rel
            .split_ascii_whitespace()
            .any(|r| matches!(r, "next" | "prev" | "previous"));
    }
    DROPPED.contains(&name)
}

/// The attribute's name when it is worth keeping on an element: the ones the Light pass
/// lets through (its allowlist, [`policy::allowed_attribute`], decides, so both routes keep
/// the same attributes), and the ones scoring, metadata and media placeholders read.
pub(crate) fn kept_attr(element: &str, attr: &str) -> Option<&'static str> {
    // Detection's own names first: `class` and `id`, the most frequent, then need no look
    // at the allowlist's table of elements. Names in both are spelt alike.
    let key = match attr {
        "class" => "class",
        "id" => "id",
        "itemprop" => "itemprop",
        "itemtype" => "itemtype",
        "itemscope" => "itemscope",
        "rel" => "rel",
        "role" => "role",
        "aria-modal" => "aria-modal",
        // On any element: the document's language and direction, canonical and feed
        // links, and dates that metadata reads where the allowlist does not keep them.
        "lang" => "lang",
        "dir" => "dir",
        "href" => "href",
        "datetime" => "datetime",
        "type" => "type",
        "content" | "name" | "property" | "charset" if element == "meta" => match attr {
            "content" => "content",
            "name" => "name",
            "property" => "property",
            _ => "charset",
        },
        "alt" | "src" | "data-src" | "data-original" | "data-lazy-src" | "width" | "height"
        | "srcset" | "data-srcset"
            if element == "img" =>
        {
            match attr {
                "alt" => "alt",
                "src" => "src",
                "srcset" => "srcset",
                "data-srcset" => "data-srcset",
                "data-src" => "data-src",
                "data-original" => "data-original",
                "data-lazy-src" => "data-lazy-src",
                "width" => "width",
                _ => "height",
            }
        }
        "title" if element == "img" || element == "abbr" => "title",
        "summary" if element == "table" => "summary",
        _ => return policy::allowed_attribute(element, attr),
    };
    Some(key)
}

/// Whether a kept attribute serves detection alone.
fn is_detection_only(attr: &str) -> bool {
    matches!(
        attr,
        "class"
            | "id"
            | "itemprop"
            | "itemtype"
            | "itemscope"
            | "rel"
            | "role"
            | "aria-modal"
            | "type"
            | "content"
            | "name"
            | "property"
            | "charset"
    )
}

/// Whether an element is hidden from readers (by `hidden`, `aria-hidden` or an inline
/// style), so that it and its content are dropped. Images marked as fallbacks stay.
pub(crate) fn is_hidden(attr: impl Fn(&str) -> Option<String>) -> bool {
    attr("hidden").is_some()
        || (attr("aria-hidden").is_some_and(|v| v.trim() == "true")
            && !attr("class").is_some_and(|c| c.contains("fallback-image")))
        || attr("style").is_some_and(|s| style_hides(&s))
}

/// Whether an inline style hides its element: `display: none` or `visibility: hidden`,
/// in any case and spacing.
fn style_hides(style: &str) -> bool {
    style.split(';').any(|decl| {
        let Some((prop, value)) = decl.split_once(':') else {
            return false;
        };
        let (prop, value) = (prop.trim(), value.trim_start());
        let starts = |v: &str, word: &str| {
            v.get(..word.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(word))
        };
        (prop.eq_ignore_ascii_case("display") && starts(value, "none"))
            || (prop.eq_ignore_ascii_case("visibility") && starts(value, "hidden"))
    })
}

impl Dom {
    /// Builds the arena from an html5ever parse, dropping comments, everything
    /// [`is_dropped`] names, [`is_hidden`] elements and elements matching `remove`, and keeping only [`kept_attr`]
    /// attributes. Elements nested deeper than `max_depth` are left out, their text kept in
    /// the deepest ancestor allowed, so later walks over ancestors stay bounded.
    pub(crate) fn from_html(html: &Html, remove: &[scraper::Selector], max_depth: usize) -> Dom {
        let mut dom = Dom {
            nodes: Vec::with_capacity(1024),
        };
        dom.nodes.push(Node::new(Data::Root));
        // Open kept elements: the parse's node id and ours, so leaving one pops it.
        let mut stack = Vec::new();
        let mut cur = html.tree.root();
        loop {
            let parent: Id = stack.last().map_or(0, |&(_, id)| id);
            let descend = match cur.value() {
                scraper::Node::Document | scraper::Node::Fragment => true,
                scraper::Node::Element(el) => {
                    let name = el.name();
                    let removed = !remove.is_empty()
                        && scraper::ElementRef::wrap(cur)
                            .is_some_and(|e| remove.iter().any(|s| s.matches(&e)));
                    let attr = |a: &str| el.attr(a).map(str::to_string);
                    if removed || is_dropped(name, attr) || is_hidden(attr) {
                        false
                    } else if stack.len() >= max_depth {
                        true
                    } else {
                        let mut attrs: Vec<(&'static str, String)> = el
                            .attrs()
                            .filter_map(|(k, v)| Some((kept_attr(name, k)?, v.to_string())))
                            .collect();
                        // The parser keeps attributes in a hash map; sorting makes output
                        // the same from run to run.
                        attrs.sort_unstable();
                        let id = dom.push(Data::Element {
                            name: name_of(name),
                            attrs,
                        });
                        dom.append(parent, id);
                        stack.push((cur.id(), id));
                        true
                    }
                }
                scraper::Node::Text(t) => {
                    dom.append_text(parent, &t.text);
                    false
                }
                _ => false,
            };
            if descend {
                if let Some(child) = cur.first_child() {
                    cur = child;
                    continue;
                }
            }
            loop {
                if stack.last().is_some_and(|&(e, _)| e == cur.id()) {
                    stack.pop();
                }
                if let Some(next) = cur.next_sibling() {
                    cur = next;
                    break;
                }
                match cur.parent() {
                    Some(p) => cur = p,
                    None => return dom,
                }
            }
        }
    }

    pub(crate) fn push(&mut self, data: Data) -> Id {
        self.nodes.push(Node::new(data));
        self.nodes.len() - 1
    }

    /// A new element, not yet in the tree.
    pub fn create(&mut self, name: &'static str) -> Id {
        self.push(Data::Element {
            name: Cow::Borrowed(name),
            attrs: Vec::new(),
        })
    }

    /// Appends text to `parent`, merging with a trailing text node.
    pub(crate) fn append_text(&mut self, parent: Id, text: &str) {
        self.append_text_with(parent, text.len(), |t| t.push_str(text));
    }

    /// Lets `write` append about `len` bytes to the text node at the end of `parent`, made
    /// when the last child is not text (and kept only when `write` wrote something).
    pub(crate) fn append_text_with(
        &mut self,
        parent: Id,
        len: usize,
        write: impl FnOnce(&mut String),
    ) {
        if let Some(last) = self.nodes[parent].last {
            let node = &mut self.nodes[last];
            if let Data::Text(t) = &mut node.data {
                write(t);
                node.measure.set(None);
                return;
            }
        }
        let mut text = String::with_capacity(len);
        write(&mut text);
        if !text.is_empty() {
            let id = self.push(Data::Text(text));
            self.append(parent, id);
        }
    }

    /// Unlinks a node (with its subtree) from its parent.
    pub(crate) fn detach(&mut self, id: Id) {
        let (parent, prev, next) = {
            let n = &self.nodes[id];
            (n.parent, n.prev, n.next)
        };
        if let Some(p) = prev {
            self.nodes[p].next = next;
        } else if let Some(par) = parent {
            self.nodes[par].first = next;
        }
        if let Some(n) = next {
            self.nodes[n].prev = prev;
        } else if let Some(par) = parent {
            self.nodes[par].last = prev;
        }
        let n = &mut self.nodes[id];
        n.parent = None;
        n.prev = None;
        n.next = None;
    }

    /// Moves `child` to the end of `parent`'s children.
    pub fn append(&mut self, parent: Id, child: Id) {
        self.detach(child);
        let last = self.nodes[parent].last;
        self.nodes[child].parent = Some(parent);
        self.nodes[child].prev = last;
        match last {
            Some(l) => self.nodes[l].next = Some(child),
            None => self.nodes[parent].first = Some(child),
        }
        self.nodes[parent].last = Some(child);
    }

    /// Moves `new` just before `reference`.
    pub(crate) fn insert_before(&mut self, reference: Id, new: Id) {
        self.detach(new);
        let Some(parent) = self.nodes[reference].parent else {
            return;
        };
        let prev = self.nodes[reference].prev;
        self.nodes[new].parent = Some(parent);
        self.nodes[new].prev = prev;
        self.nodes[new].next = Some(reference);
        self.nodes[reference].prev = Some(new);
        match prev {
            Some(p) => self.nodes[p].next = Some(new),
            None => self.nodes[parent].first = Some(new),
        }
    }

    /// Puts `new` where `old` was; `old` leaves the tree.
    pub fn replace(&mut self, old: Id, new: Id) {
        if new == old {
            return;
        }
        self.insert_before(old, new);
        self.detach(old);
    }

    /// Children of a node, in order.
    pub fn children(&self, id: Id) -> Children<'_> {
        Children {
            dom: self,
            next: self.nodes[id].first,
        }
    }

    /// Element children of a node, in order.
    pub(crate) fn element_children(&self, id: Id) -> impl Iterator<Item = Id> + '_ {
        self.children(id).filter(|&c| self.is_element(c))
    }

    /// Enter and leave steps over the subtree of `root`, `root` included.
    pub(crate) fn walk(&self, root: Id) -> Walk<'_> {
        Walk {
            dom: self,
            root,
            next: Some(Step::Enter(root)),
        }
    }

    /// The nodes of the subtree of `root` in document order, `root` first: the enter
    /// steps of [`Dom::walk`], without stepping through the leave steps.
    pub(crate) fn preorder(&self, root: Id) -> Preorder<'_> {
        Preorder {
            dom: self,
            root,
            next: Some(root),
        }
    }

    /// The nodes under `root` in document order, `root` excluded.
    pub fn descendants(&self, root: Id) -> impl Iterator<Item = Id> + '_ {
        self.preorder(root).skip(1)
    }

    /// Ancestors of a node, nearest first, up to and including the root.
    pub fn ancestors(&self, id: Id) -> impl Iterator<Item = Id> + '_ {
        std::iter::successors(self.nodes[id].parent, move |&p| self.nodes[p].parent)
    }

    pub(crate) fn is_element(&self, id: Id) -> bool {
        matches!(self.nodes[id].data, Data::Element { .. })
    }

    /// Tag name, or "" for text and the root.
    pub fn name(&self, id: Id) -> &str {
        match &self.nodes[id].data {
            Data::Element { name, .. } => name,
            _ => "",
        }
    }

    /// Whether the node is an element with one of these names.
    pub fn is(&self, id: Id, names: &[&str]) -> bool {
        let n = self.name(id);
        !n.is_empty() && names.contains(&n)
    }

    pub(crate) fn rename(&mut self, id: Id, new: &'static str) {
        if let Data::Element { name, .. } = &mut self.nodes[id].data {
            *name = Cow::Borrowed(new);
        }
    }

    pub fn attr(&self, id: Id, key: &str) -> Option<&str> {
        match &self.nodes[id].data {
            Data::Element { attrs, .. } => attrs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.as_str()),
            _ => None,
        }
    }

    pub(crate) fn set_attr(&mut self, id: Id, key: &'static str, value: &str) {
        if let Data::Element { attrs, .. } = &mut self.nodes[id].data {
            match attrs.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value.to_string(),
                None => attrs.push((key, value.to_string())),
            }
        }
    }

    pub fn text(&self, id: Id) -> Option<&str> {
        match &self.nodes[id].data {
            Data::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The [`Span`] and comma count of a text node; nothing for other nodes.
    pub(crate) fn measure(&self, id: Id) -> (Span, u32) {
        let node = &self.nodes[id];
        let Data::Text(t) = &node.data else {
            return (Span::default(), 0);
        };
        if let Some(m) = node.measure.get() {
            return m;
        }
        let m = Span::of(t);
        node.measure.set(Some(m));
        m
    }

    /// All text under a node, as found (no whitespace changes).
    pub(crate) fn text_content(&self, id: Id) -> String {
        let mut out = String::new();
        for n in self.preorder(id) {
            if let Data::Text(t) = &self.nodes[n].data {
                out.push_str(t);
            }
        }
        out
    }

    /// The first element under `root` (inclusive) with this name.
    pub fn find(&self, root: Id, name: &str) -> Option<Id> {
        self.preorder(root).find(|&id| self.name(id) == name)
    }

    /// Elements under `root` (exclusive) with one of these names, in document order.
    pub(crate) fn find_all(&self, root: Id, names: &[&str]) -> Vec<Id> {
        self.descendants(root)
            .filter(|&id| self.is(id, names))
            .collect()
    }

    /// Serialises the subtree under `id` (its children only when `inner`) as HTML, every
    /// kept attribute included: what tests compare trees by.
    #[cfg(test)]
    pub fn html(&self, id: Id, inner: bool, out: &mut String) {
        self.serialise(id, inner, |_| true, out);
    }

    /// [`Dom::html`] without the attributes only detection reads (classes, ids, roles,
    /// microdata), which no Light page carries: the content as it leaves extraction.
    pub(crate) fn content_html(&self, id: Id, inner: bool, out: &mut String) {
        self.serialise(id, inner, |key| !is_detection_only(key), out);
    }

    fn serialise(&self, id: Id, inner: bool, keep: impl Fn(&str) -> bool, out: &mut String) {
        for step in self.walk(id) {
            match step {
                Step::Enter(n) if inner && n == id => {}
                Step::Leave(n) if inner && n == id => {}
                Step::Enter(n) => match &self.nodes[n].data {
                    Data::Element { name, attrs } => {
                        out.push('<');
                        out.push_str(name);
                        for (k, v) in attrs.iter().filter(|(k, _)| keep(k)) {
                            out.push(' ');
                            out.push_str(k);
                            out.push_str("=\"");
                            html_escape::encode_double_quoted_attribute_to_string(v, out);
                            out.push('"');
                        }
                        out.push('>');
                    }
                    Data::Text(t) => escape_text(t, out),
                    Data::Root => {}
                },
                Step::Leave(n) => {
                    if let Data::Element { name, .. } = &self.nodes[n].data {
                        if !is_void(name) {
                            out.push_str("</");
                            out.push_str(name);
                            out.push('>');
                        }
                    }
                }
            }
        }
    }
}

impl Node {
    pub(crate) fn new(data: Data) -> Node {
        Node {
            parent: None,
            first: None,
            last: None,
            prev: None,
            next: None,
            data,
            measure: Cell::new(None),
        }
    }
}

/// Iterator over a node's children.
pub(crate) struct Children<'a> {
    dom: &'a Dom,
    next: Option<Id>,
}

impl Iterator for Children<'_> {
    type Item = Id;
    fn next(&mut self) -> Option<Id> {
        let id = self.next?;
        self.next = self.dom.nodes[id].next;
        Some(id)
    }
}

/// Iterator over a subtree's nodes in document order, following links only.
pub(crate) struct Preorder<'a> {
    dom: &'a Dom,
    root: Id,
    next: Option<Id>,
}

impl Iterator for Preorder<'_> {
    type Item = Id;
    fn next(&mut self) -> Option<Id> {
        let id = self.next?;
        let nodes = &self.dom.nodes;
        self.next = nodes[id].first.or_else(|| {
            // Past a leaf: the next sibling of the nearest node up to the root that has
            // one.
            let mut cur = id;
            loop {
                if cur == self.root {
                    return None;
                }
                if let Some(n) = nodes[cur].next {
                    return Some(n);
                }
                cur = nodes[cur].parent?;
            }
        });
        Some(id)
    }
}

/// Iterator of [`Step`]s over a subtree, following links only.
pub(crate) struct Walk<'a> {
    dom: &'a Dom,
    root: Id,
    next: Option<Step>,
}

impl Iterator for Walk<'_> {
    type Item = Step;
    fn next(&mut self) -> Option<Step> {
        let step = self.next?;
        let nodes = &self.dom.nodes;
        self.next = match step {
            Step::Enter(id) => Some(match nodes[id].first {
                Some(c) => Step::Enter(c),
                None => Step::Leave(id),
            }),
            Step::Leave(id) if id == self.root => None,
            Step::Leave(id) => match (nodes[id].next, nodes[id].parent) {
                (Some(n), _) => Some(Step::Enter(n)),
                (None, Some(p)) => Some(Step::Leave(p)),
                (None, None) => None,
            },
        };
        Some(step)
    }
}

/// Whether an element's end tag is required, so its end reliably closes it; elements whose
/// end tag may be implied never nest deeply and stay out of the count.
pub(crate) fn closes_explicitly(name: &str) -> bool {
    !is_void(name)
        && !matches!(
            name,
            "p" | "li"
                | "dt"
                | "dd"
                | "tr"
                | "td"
                | "th"
                | "thead"
                | "tbody"
                | "tfoot"
                | "option"
                | "optgroup"
                | "colgroup"
                | "caption"
                | "rb"
                | "rt"
                | "rtc"
                | "rp"
                | "html"
                | "head"
                | "body"
        )
}

/// `h1` to `h6`.
pub(crate) const HEADINGS: &[&str] = &["h1", "h2", "h3", "h4", "h5", "h6"];

/// Whether `name` is one of [`HEADINGS`].
pub(crate) fn is_heading(name: &str) -> bool {
    HEADINGS.contains(&name)
}

/// Elements without content or end tag.
pub(crate) fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "source"
            | "track"
            | "wbr"
    )
}

/// Appends text escaped for an HTML text node, no-break spaces as `&nbsp;` as html5ever
/// writes them. Attribute values are the `html_escape` crate's, as on the Light pass.
pub(crate) fn escape_text(s: &str, out: &mut String) {
    // Text is copied in spans between the few characters that need escaping; all but the
    // no-break space (0xC2 0xA0 in UTF-8) are single bytes.
    let b = s.as_bytes();
    let mut from = 0;
    let mut i = 0;
    while i < b.len() {
        let (entity, len) = match b[i] {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            0xC2 if b.get(i + 1) == Some(&0xA0) => ("&nbsp;", 2),
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&s[from..i]);
        out.push_str(entity);
        i += len;
        from = i;
    }
    out.push_str(&s[from..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_serialises() {
        let html = Html::parse_document(
            "<html><body><div class=a style='x'><p>Hi &amp; <b>there</b></p><script>x</script>\
             <img src=a.png alt='A \"q\"'></div></body></html>",
        );
        let dom = Dom::from_html(&html, &[], 512);
        let body = dom.find(0, "body").unwrap();
        let mut out = String::new();
        dom.html(body, true, &mut out);
        assert_eq!(
            out,
            "<div class=\"a\"><p>Hi &amp; <b>there</b></p><img alt=\"A &quot;q&quot;\" src=\"a.png\"></div>"
        );
    }

    #[test]
    fn inline_styles_that_hide() {
        for hides in [
            "display:none",
            "color: red; DISPLAY : None !important",
            "visibility:hidden",
        ] {
            assert!(style_hides(hides), "{hides}");
        }
        for shows in [
            "display: block",
            "color: none",
            "visibility: visible",
            "none",
        ] {
            assert!(!style_hides(shows), "{shows}");
        }
    }

    #[test]
    fn edits_keep_links_consistent() {
        let html = Html::parse_document("<body><p>1</p><p>2</p><p>3</p></body>");
        let mut dom = Dom::from_html(&html, &[], 512);
        let body = dom.find(0, "body").unwrap();
        let ps = dom.find_all(body, &["p"]);
        dom.append(body, ps[0]);
        let div = dom.create("div");
        dom.replace(ps[1], div);
        dom.append(div, ps[1]);
        let mut out = String::new();
        dom.html(body, true, &mut out);
        assert_eq!(out, "<div><p>2</p></div><p>3</p><p>1</p>");
    }

    #[test]
    fn preorder_is_the_enter_steps_of_a_walk() {
        let html = Html::parse_document(
            "<body><div><p>a<b>b</b></p><ul><li>c</li><li></li></ul></div><p>d</p>\
             <section><div><span>e</span></div></section></body>",
        );
        let dom = Dom::from_html(&html, &[], 512);
        for root in 0..dom.nodes.len() {
            let entered: Vec<Id> = dom
                .walk(root)
                .filter_map(|s| match s {
                    Step::Enter(id) => Some(id),
                    Step::Leave(_) => None,
                })
                .collect();
            assert_eq!(dom.preorder(root).collect::<Vec<_>>(), entered, "{root}");
        }
        let div = dom.find(0, "div").unwrap();
        assert_eq!(dom.preorder(div).count(), 9);
    }

    #[test]
    fn kept_measures_match_the_text_as_it_is_now() {
        let html = Html::parse_document(
            "<body><p> One, <b>two</b>\n</p><div>three <i> </i>four</div></body>",
        );
        let mut dom = Dom::from_html(&html, &[], 512);
        let joined = |dom: &Dom, id: Id| {
            dom.preorder(id)
                .fold(Span::default(), |s, n| s.then(dom.measure(n).0))
        };
        for id in 0..dom.nodes.len() {
            assert_eq!(joined(&dom, id), Span::of(&dom.text_content(id)).0, "{id}");
        }
        let p = dom.find(0, "p").unwrap();
        let before = joined(&dom, p);
        dom.append_text(p, "and five");
        assert_eq!(joined(&dom, p), Span::of(&dom.text_content(p)).0);
        assert_ne!(joined(&dom, p), before);
    }
}
