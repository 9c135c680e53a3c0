//! Detection's input, reduced as it arrives: a streaming lol_html pass over each chunk of
//! a page bound for detection, so the page held until detection runs is what detection
//! reads and little more. It drops comments, the subtrees [`is_dropped`] and [`is_hidden`]
//! name (scripts other than structured data, styles, SVG, forms' widgets, media) and
//! every attribute [`kept_attr`] does not name; which elements, attributes and hidden
//! markers count stays in `dom.rs`, the one place detection's parser also reads them.
//! A subtree goes whole only where lol_html and detection's parser end it alike (its end
//! tag is required and no start tag closes it); elsewhere the element stays, marked
//! `hidden`, for the parser to drop as before. Pages with operator selectors, which may
//! name any attribute or count any sibling, lose their comments only.

use std::sync::{Arc, Mutex, MutexGuard};

use lol_html::html_content::Comment;
use lol_html::send::{DocumentContentHandlers, Element, HtmlRewriter, Settings};
use lol_html::{element, HandlerResult, MemorySettings};

use super::dom::{closes_explicitly, is_dropped, is_hidden, is_void, kept_attr};

/// Why a page could not be reduced.
#[derive(Debug, thiserror::Error)]
pub enum ReduceError {
    /// A single tag or comment needed more memory than the per-request limit allows.
    #[error("the page needs more memory to read than the limit allows")]
    MemoryLimit,
}

type Shared = Arc<Mutex<Vec<u8>>>;

/// Where the pass writes: a closure appending to the shared output.
type Sink = Box<dyn FnMut(&[u8]) + Send>;

fn lock(output: &Mutex<Vec<u8>>) -> MutexGuard<'_, Vec<u8>> {
    // The output is plain bytes: a panicked writer leaves nothing to repair.
    output
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A page being reduced: write decoded chunks in, take the reduced page at the end.
pub struct Reducer {
    rewriter: HtmlRewriter<'static, Sink>,
    output: Shared,
}

impl Reducer {
    /// Starts a pass. `selectors` says the site has operator selectors, which see the page
    /// as sent but for its comments. `memory_limit` bounds what lol_html buffers (a tag cut
    /// between two chunks).
    pub fn new(selectors: bool, memory_limit: usize) -> Self {
        let output = Shared::default();
        let sink_output = Arc::clone(&output);
        let sink: Sink = Box::new(move |bytes: &[u8]| lock(&sink_output).extend_from_slice(bytes));
        let comments = DocumentContentHandlers::default().comments(|c: &mut Comment| {
            c.remove();
            Ok(())
        });
        let elements = if selectors {
            Vec::new()
        } else {
            vec![element!("*", reduce_element)]
        };
        let settings = Settings {
            element_content_handlers: elements,
            document_content_handlers: vec![comments],
            memory_settings: MemorySettings {
                max_allowed_memory_usage: memory_limit,
                preallocated_parsing_buffer_size: 4096.min(memory_limit),
            },
            // Markup lol_html cannot read for certain is passed on as it is, for
            // detection's parser to read, rather than failing the page.
            strict: false,
            ..Settings::new_send()
        };
        Self {
            rewriter: HtmlRewriter::new(settings, sink),
            output,
        }
    }

    /// Feeds the next chunk of (UTF-8) HTML.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), ReduceError> {
        // The reduced chunk is no longer than the chunk (but for a rare `hidden` marker):
        // room for it up front spares a page given whole the copies of a growing buffer.
        lock(&self.output).reserve(chunk.len());
        self.rewriter
            .write(chunk)
            .map_err(|_| ReduceError::MemoryLimit)
    }

    /// Ends the pass: the reduced page.
    pub fn end(self) -> Result<String, ReduceError> {
        let Self { rewriter, output } = self;
        rewriter.end().map_err(|_| ReduceError::MemoryLimit)?;
        let bytes = std::mem::take(&mut *lock(&output));
        // UTF-8 in gives UTF-8 out: lol_html passes the input through and writes ASCII.
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }
}

/// Whether lol_html and detection's parser end an element at the same place: its end tag
/// is required, and no start tag closes it (as a new `<a>`, `<button>` or heading closes
/// an open one in detection's parser).
fn ends_alike(name: &str) -> bool {
    closes_explicitly(name)
        && !matches!(
            name,
            "a" | "button" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
        )
}

fn reduce_element(el: &mut Element<'_, '_>) -> HandlerResult {
    let name = el.tag_name();
    // Each attribute's lower-case name, read once: lol_html's own lookup lower-cases and
    // re-encodes the key it is given on every call, and the markers take several.
    let names: Vec<String> = el.attributes().iter().map(|a| a.name()).collect();
    let (dropped, hidden) = {
        let attrs = el.attributes();
        let attr = |key: &str| {
            let i = names.iter().position(|n| n == key)?;
            Some(attrs[i].value())
        };
        (is_dropped(&name, attr), is_hidden(attr))
    };
    if (dropped || hidden) && (is_void(&name) || ends_alike(&name)) {
        el.remove();
        return Ok(());
    }
    for key in names.iter().filter(|key| kept_attr(&name, key).is_none()) {
        el.remove_attribute(key);
    }
    if hidden {
        // `hidden` alone is what `is_hidden` reads first; the style or aria marker that
        // hid the element may have gone with the unread attributes.
        el.set_attribute("hidden", "")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reduce(html: &str, chunk: usize) -> String {
        let mut reducer = Reducer::new(false, 1 << 20);
        for piece in html.as_bytes().chunks(chunk.max(1)) {
            reducer.write(piece).expect("write");
        }
        reducer.end().expect("end")
    }

    #[test]
    fn drops_what_detection_never_reads() {
        let html = "<!doctype html><html lang=en><head><title>T</title><style>p{}</style>\
            <script>x()</script><script type=application/ld+json>{\"a\":1}</script>\
            <meta property=og:title content=Head onload=x></head><body><!-- c -->\
            <div class=story data-track=1 style=\"color:red\"><p onclick=x>One\
            <svg><text>s</text></svg><img src=/i.jpg srcset=\"/a 1x\" alt=A></p>\
            <div style=\"display: none\">Modal</div><p aria-hidden=true>Icon</p></div></body></html>";
        assert_eq!(
            reduce(html, html.len()),
            "<!doctype html><html lang=en><head><title>T</title>\
            <script type=application/ld+json>{\"a\":1}</script>\
            <meta property=og:title content=Head></head><body>\
            <div class=story><p>One<img src=/i.jpg srcset=\"/a 1x\" alt=A></p>\
            <p hidden=\"\">Icon</p></div></body></html>"
        );
    }

    #[test]
    fn output_does_not_depend_on_where_the_input_is_cut() {
        let html = "<p class=a title='x>y'>a<!-- x > y --></p><script>if (a<b) {}</script>\
                    <div hidden><p>b</div><li style=visibility:hidden>c<li>d";
        let whole = reduce(html, html.len());
        for chunk in 1..html.len() {
            assert_eq!(reduce(html, chunk), whole, "{chunk}");
        }
    }

    #[test]
    fn operator_selectors_see_every_attribute_and_sibling() {
        let mut reducer = Reducer::new(true, 1 << 20);
        let html = "<div data-x=1><script>x</script><!-- c --><p hidden>p</p></div>";
        reducer.write(html.as_bytes()).expect("write");
        assert_eq!(
            reducer.end().expect("end"),
            "<div data-x=1><script>x</script><p hidden>p</p></div>"
        );
    }
}
