//! What a streamed page's shell needs from the upstream head, collected without keeping
//! the head: the `<html>` language and direction, the `<title>`, every `<meta>`, the
//! JSON-LD blocks and the `rel=next`/`rel=prev` links, written out again as a small document for metadata reading. Heavy heads
//! (hundreds of KB of inline script and style) cost a few KB here, not their size.

use std::sync::{Arc, Mutex};

use lol_html::html_content::{Element, TextChunk};
use lol_html::send::{HtmlRewriter, Settings};
use lol_html::{element, text, MemorySettings};

use super::links::escape_attribute;
use crate::charref::decode_attribute;

/// Most bytes of metadata kept; past it further tags are ignored.
const MAX_COLLECTED: usize = 128 << 10;

/// Attributes of `<meta>` that carry metadata.
const META_ATTRIBUTES: &[&str] = &["name", "property", "itemprop", "content", "http-equiv"];

#[derive(Default)]
struct Collected {
    root: String,
    title: String,
    rest: String,
    in_json: bool,
    body_seen: bool,
}

impl Collected {
    /// Whether more tags are wanted: only the head's, and only up to the bound.
    fn room(&self) -> bool {
        !self.body_seen && self.root.len() + self.title.len() + self.rest.len() < MAX_COLLECTED
    }
}

type Sink = Box<dyn FnMut(&[u8]) + Send>;

/// A side pass over the start of a page that gathers its metadata tags.
pub(crate) struct HeadCollector {
    rewriter: Option<HtmlRewriter<'static, Sink>>,
    collected: Arc<Mutex<Collected>>,
}

fn lock(m: &Mutex<Collected>) -> std::sync::MutexGuard<'_, Collected> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl HeadCollector {
    /// A collector for a new page.
    pub fn new(memory_limit: usize) -> Self {
        let collected = Arc::new(Mutex::new(Collected::default()));
        let (root, title, meta, json, body, series) = (
            collected.clone(),
            collected.clone(),
            collected.clone(),
            collected.clone(),
            collected.clone(),
            collected.clone(),
        );
        let settings = Settings {
            element_content_handlers: vec![
                element!("html", move |el: &mut Element<'_, '_, _>| {
                    let mut c = lock(&root);
                    for name in ["lang", "dir"] {
                        if let Some(value) = el.get_attribute(name) {
                            c.root.push_str(&format!(
                                " {name}=\"{}\"",
                                escape_attribute(&decode_attribute(&value))
                            ));
                        }
                    }
                    Ok(())
                }),
                text!("title", move |t: &mut TextChunk<'_>| {
                    let mut c = lock(&title);
                    if c.title.len() < 2048 {
                        c.title.push_str(t.as_str());
                    }
                    Ok(())
                }),
                element!("meta", move |el: &mut Element<'_, '_, _>| {
                    let mut c = lock(&meta);
                    if !c.room() {
                        return Ok(());
                    }
                    let mut tag = String::from("<meta");
                    for name in META_ATTRIBUTES {
                        if let Some(value) = el.get_attribute(name) {
                            tag.push_str(&format!(
                                " {name}=\"{}\"",
                                escape_attribute(&decode_attribute(&value))
                            ));
                        }
                    }
                    tag.push('>');
                    c.rest.push_str(&tag);
                    Ok(())
                }),
                text!(
                    "script[type=\"application/ld+json\"]",
                    move |t: &mut TextChunk<'_>| {
                        let mut c = lock(&json);
                        if !c.room() {
                            return Ok(());
                        }
                        // A JSON-LD block is raw text: it cannot hold "</script>", so it can be
                        // written back between script tags as it came.
                        if !c.in_json {
                            c.in_json = true;
                            c.rest.push_str("<script type=\"application/ld+json\">");
                        }
                        c.rest.push_str(t.as_str());
                        if t.last_in_text_node() {
                            c.in_json = false;
                            c.rest.push_str("</script>");
                        }
                        Ok(())
                    }
                ),
                element!("link[rel][href]", move |el: &mut Element<'_, '_, _>| {
                    let mut c = lock(&series);
                    let rel = el
                        .get_attribute("rel")
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    let in_series = rel
                        .split_ascii_whitespace()
                        .any(|r| matches!(r, "next" | "prev" | "previous"));
                    if !c.room() || !in_series {
                        return Ok(());
                    }
                    let href = el.get_attribute("href").unwrap_or_default();
                    let tag = format!(
                        "<link rel=\"{}\" href=\"{}\">",
                        escape_attribute(&rel),
                        escape_attribute(&decode_attribute(&href))
                    );
                    c.rest.push_str(&tag);
                    Ok(())
                }),
                element!("body", move |_: &mut Element<'_, '_, _>| {
                    lock(&body).body_seen = true;
                    Ok(())
                }),
            ],
            memory_settings: MemorySettings {
                max_allowed_memory_usage: memory_limit,
                preallocated_parsing_buffer_size: 1024,
            },
            strict: false,
            ..Settings::new_send()
        };
        let sink: Sink = Box::new(|_: &[u8]| {});
        Self {
            rewriter: Some(HtmlRewriter::new(settings, sink)),
            collected,
        }
    }

    /// Reads the next chunk; does nothing once the body has begun or the pass failed.
    pub fn write(&mut self, chunk: &[u8]) {
        if self.body_seen() {
            return;
        }
        if let Some(rewriter) = self.rewriter.as_mut() {
            if rewriter.write(chunk).is_err() {
                // Metadata is a nicety: a page the side pass cannot read still converts.
                self.rewriter = None;
            }
        }
    }

    /// Whether the `<body>` start tag has been seen.
    pub(crate) fn body_seen(&self) -> bool {
        lock(&self.collected).body_seen
    }

    /// The gathered tags as a small HTML document.
    pub fn document(&self) -> String {
        let c = lock(&self.collected);
        let unclosed = if c.in_json { "</script>" } else { "" };
        format!(
            "<html{}><head><title>{}</title>{}{unclosed}</head></html>",
            c.root, c.title, c.rest
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_metadata_and_drops_the_weight() {
        let mut collector = HeadCollector::new(1 << 20);
        let head = format!(
            "<html lang=fa dir=rtl><head><title>خبر &amp; روز</title><script>{}</script>\
             <meta property=\"og:title\" content='Say \"hi\"'><style>{}</style>\
             <script type=\"application/ld+json\">{{\"@type\":\"NewsArticle\",\"author\":\"Ada\"}}</script>\
             <link rel=stylesheet href=/s.css><link rel=NEXT href='/a?p=2&amp;x=\"'>\
             </head><body><meta name=author content=Late><link rel=prev href=/late>",
            "x()".repeat(50_000),
            "p{}".repeat(50_000)
        );
        for chunk in head.as_bytes().chunks(1000) {
            collector.write(chunk);
        }
        assert!(collector.body_seen());
        let document = collector.document();
        assert_eq!(
            document,
            "<html lang=\"fa\" dir=\"rtl\"><head><title>خبر &amp; روز</title>\
             <meta property=\"og:title\" content=\"Say &quot;hi&quot;\">\
             <script type=\"application/ld+json\">{\"@type\":\"NewsArticle\",\"author\":\"Ada\"}</script>\
             <link rel=\"next\" href=\"/a?p=2&amp;x=&quot;\"></head></html>"
        );
    }
}
