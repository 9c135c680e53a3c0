//! Parsing straight into the arena [`Dom`]: an html5ever tree sink whose nodes are the
//! arena's own, so no intermediate tree is built, copied and dropped. The tree builder keeps
//! handles to every node it creates and may move them later, so the sink keeps them all and
//! marks the ones detection never reads; one pass at the end moves the kept nodes into the
//! final DOM under the same rules as [`Dom::from_html`]. Operator selectors need scraper's
//! tree and stay on that path.

use std::borrow::Cow;

use html5ever::interface::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::{namespace_url, ns, Attribute, ExpandedName, LocalName, QualName};

use super::dom::{is_dropped, is_hidden, keeps_attr, Data, Dom, Id, Node};

/// Parses a whole document into the arena, with the filtering and nesting limit of
/// [`Dom::from_html`].
pub(crate) fn document(html: &str, max_depth: usize) -> Dom {
    let mut sink = Sink {
        dom: Dom {
            nodes: Vec::with_capacity(html.len() / 32 + 16),
        },
        names: Vec::with_capacity(html.len() / 32 + 16),
        dropped: Vec::with_capacity(html.len() / 32 + 16),
        unnamed: QualName::new(None, ns!(), LocalName::from("")),
    };
    sink.push(Data::Root, None, false);
    html5ever::parse_document(sink, Default::default())
        .one(html)
        .into_dom(max_depth)
}

/// Tree sink over the raw arena.
struct Sink {
    /// Every node the parser created, kept or not; node 0 is the document.
    dom: Dom,
    /// Qualified name of each element, by node id, for the tree builder's questions.
    names: Vec<Option<QualName>>,
    /// Whether a node is left out of the result, with its subtree.
    dropped: Vec<bool>,
    /// Name answered for a node that is not an element, which the tree builder never asks.
    unnamed: QualName,
}

/// Value of an attribute without namespace, as scraper's `attr` finds it.
fn find(attrs: &[Attribute], key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|a| a.name.ns == ns!() && &*a.name.local == key)
        .map(|a| a.value.to_string())
}

impl Sink {
    fn push(&mut self, data: Data, name: Option<QualName>, dropped: bool) -> Id {
        self.dom.nodes.push(Node::new(data));
        self.names.push(name);
        self.dropped.push(dropped);
        self.dom.nodes.len() - 1
    }

    /// Appends text after the last child of `parent`, joining a text node there.
    fn append_text(&mut self, parent: Id, text: &str) {
        if let Some(last) = self.dom.nodes[parent].last {
            if let Data::Text(t) = &mut self.dom.nodes[last].data {
                t.push_str(text);
                return;
            }
        }
        let id = self.push(Data::Text(text.to_string()), None, false);
        self.dom.append(parent, id);
    }

    /// Moves the kept nodes into a DOM of their own, in document order. Elements nested
    /// deeper than `max_depth` are left out and their text joins the deepest allowed
    /// ancestor.
    fn into_dom(mut self, max_depth: usize) -> Dom {
        let raw = &mut self.dom.nodes;
        let mut dom = Dom {
            nodes: Vec::with_capacity(raw.len()),
        };
        dom.nodes.push(Node::new(Data::Root));
        // Open kept elements: the raw id and ours, so leaving one pops it.
        let mut stack: Vec<(Id, Id)> = Vec::new();
        let mut cur = 0;
        loop {
            let parent: Id = stack.last().map_or(0, |&(_, id)| id);
            let descend = if cur == 0 {
                true
            } else if self.dropped[cur] {
                false
            } else {
                match std::mem::replace(&mut raw[cur].data, Data::Root) {
                    Data::Element { .. } if stack.len() >= max_depth => true,
                    data @ Data::Element { .. } => {
                        let id = dom.push(data);
                        dom.append(parent, id);
                        stack.push((cur, id));
                        true
                    }
                    Data::Text(t) => {
                        dom.append_text_owned(parent, t);
                        false
                    }
                    Data::Root => false,
                }
            };
            if descend {
                if let Some(child) = raw[cur].first {
                    cur = child;
                    continue;
                }
            }
            loop {
                if stack.last().is_some_and(|&(e, _)| e == cur) {
                    stack.pop();
                }
                if let Some(next) = raw[cur].next {
                    cur = next;
                    break;
                }
                match raw[cur].parent {
                    Some(p) => cur = p,
                    None => return dom,
                }
            }
        }
    }
}

impl TreeSink for Sink {
    type Handle = Id;
    type Output = Self;

    fn finish(self) -> Self {
        self
    }

    fn parse_error(&mut self, _msg: Cow<'static, str>) {}

    fn get_document(&mut self) -> Id {
        0
    }

    fn elem_name<'a>(&'a self, target: &'a Id) -> ExpandedName<'a> {
        self.names[*target]
            .as_ref()
            .unwrap_or(&self.unnamed)
            .expanded()
    }

    fn create_element(
        &mut self,
        name: QualName,
        attrs: Vec<Attribute>,
        _flags: ElementFlags,
    ) -> Id {
        let local: &str = &name.local;
        let attr = |a: &str| find(&attrs, a);
        if is_dropped(local, attr) || is_hidden(attr) {
            return self.push(Data::Root, Some(name), true);
        }
        let mut kept: Vec<(String, String)> = attrs
            .iter()
            .filter(|a| keeps_attr(local, &a.name.local))
            .map(|a| (a.name.local.to_string(), a.value.to_string()))
            .collect();
        // The same order as the scraper path, so output matches whichever parse ran.
        kept.sort_unstable();
        let data = Data::Element {
            name: local.to_string(),
            attrs: kept,
        };
        self.push(data, Some(name), false)
    }

    fn create_comment(&mut self, _text: StrTendril) -> Id {
        self.push(Data::Root, None, true)
    }

    fn create_pi(&mut self, _target: StrTendril, _data: StrTendril) -> Id {
        self.push(Data::Root, None, true)
    }

    fn append(&mut self, parent: &Id, child: NodeOrText<Id>) {
        match child {
            NodeOrText::AppendNode(id) => self.dom.append(*parent, id),
            NodeOrText::AppendText(t) => self.append_text(*parent, &t),
        }
    }

    fn append_based_on_parent_node(&mut self, element: &Id, prev: &Id, child: NodeOrText<Id>) {
        if self.dom.nodes[*element].parent.is_some() {
            self.append_before_sibling(element, child);
        } else {
            self.append(prev, child);
        }
    }

    fn append_doctype_to_document(&mut self, _: StrTendril, _: StrTendril, _: StrTendril) {}

    fn get_template_contents(&mut self, target: &Id) -> Id {
        // Templates are dropped with their subtree, so their content may live in them.
        *target
    }

    fn same_node(&self, x: &Id, y: &Id) -> bool {
        x == y
    }

    fn set_quirks_mode(&mut self, _mode: QuirksMode) {}

    fn append_before_sibling(&mut self, sibling: &Id, new: NodeOrText<Id>) {
        if let NodeOrText::AppendNode(id) = new {
            self.dom.detach(id);
        }
        if self.dom.nodes[*sibling].parent.is_none() {
            return;
        }
        match new {
            NodeOrText::AppendNode(id) => self.dom.insert_before(*sibling, id),
            NodeOrText::AppendText(t) => {
                if let Some(prev) = self.dom.nodes[*sibling].prev {
                    if let Data::Text(s) = &mut self.dom.nodes[prev].data {
                        s.push_str(&t);
                        return;
                    }
                }
                let id = self.push(Data::Text(t.to_string()), None, false);
                self.dom.insert_before(*sibling, id);
            }
        }
    }

    fn add_attrs_if_missing(&mut self, target: &Id, attrs: Vec<Attribute>) {
        if is_hidden(|a| find(&attrs, a)) {
            self.dropped[*target] = true;
        }
        if let Data::Element { name, attrs: kept } = &mut self.dom.nodes[*target].data {
            for a in &attrs {
                let key: &str = &a.name.local;
                if keeps_attr(name, key) && !kept.iter().any(|(k, _)| k == key) {
                    kept.push((key.to_string(), a.value.to_string()));
                }
            }
            kept.sort_unstable();
        }
    }

    fn remove_from_parent(&mut self, target: &Id) {
        self.dom.detach(*target);
    }

    fn reparent_children(&mut self, node: &Id, new_parent: &Id) {
        while let Some(child) = self.dom.nodes[*node].first {
            self.dom.append(*new_parent, child);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::Html;

    /// Serialisation of the whole DOM.
    fn html(dom: &Dom) -> String {
        let mut out = String::new();
        dom.html(0, true, &mut out);
        out
    }

    #[test]
    fn matches_the_scraper_path() {
        for page in [
            "<html><body><div class=a style='x'><p>Hi &amp; <b>there</b></p><script>x</script>\
             <img src=a.png alt='A \"q\"'></div></body></html>",
            "<table><tr><td>a</td></tr>stray<b>x<p>y</b>z</p></table><!-- c -->t<template>q</template>",
            "<body hidden><p>gone</p>",
            "<p>a<!--c-->b<script>s</script>c<div hidden>d</div>e",
            "<div><div><div><span>deep</span></div>tail</div></div>",
        ] {
            let scraped = Dom::from_html(&Html::parse_document(page), &[], 2);
            assert_eq!(html(&document(page, 2)), html(&scraped), "{page}");
        }
    }
}
