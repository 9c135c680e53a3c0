//! The streaming reducer: one lol_html pass over the page as it arrives that keeps only
//! what detection reads (elements, text, and the attributes named by [`keeps_attr`]), so
//! the DOM built afterwards is a fraction of the page. It does no detection itself.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lol_html::send::{HtmlRewriter, Settings};
use lol_html::{doc_comments, element, MemorySettings};

use super::dom::{is_dropped, is_hidden, keeps_attr};
use super::{ExtractError, Rules};

/// Collects the rewriter's output. The rewriter owns its sink and hands out many small
/// chunks, so the sink keeps them in a buffer of its own, publishes only the running
/// length (for the limit), and gives the buffer up when the rewriter drops it at the end.
struct Sink {
    buf: Vec<u8>,
    len: Arc<AtomicUsize>,
    done: Arc<Mutex<Vec<u8>>>,
}

impl lol_html::OutputSink for Sink {
    fn handle_chunk(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
        self.len.store(self.buf.len(), Ordering::Relaxed);
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        *lock(&self.done) = std::mem::take(&mut self.buf);
    }
}

/// The finished output; it is written once, whole, so a poisoned lock still holds it.
fn lock(out: &Mutex<Vec<u8>>) -> std::sync::MutexGuard<'_, Vec<u8>> {
    out.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Streaming reducer; see the module docs.
pub struct Reducer {
    rewriter: HtmlRewriter<'static, Sink>,
    len: Arc<AtomicUsize>,
    done: Arc<Mutex<Vec<u8>>>,
    limit: usize,
}

impl Reducer {
    /// A reducer whose parser buffers and output each stay within `memory_limit` bytes.
    /// Operator `remove` selectors that lol_html understands are applied here already.
    pub fn new(rules: &Rules<'_>, memory_limit: usize) -> Self {
        let len = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink {
            buf: Vec::with_capacity(64 * 1024),
            len: len.clone(),
            done: done.clone(),
        };
        let mut handlers = vec![
            element!("*", |el| {
                let name = el.tag_name();
                // lol_html lower-cases (and allocates) the name on every lookup, so names
                // are taken once and looked up here.
                let names: Vec<String> = el.attributes().iter().map(|a| a.name()).collect();
                let attr = |key: &str| {
                    let i = names.iter().position(|n| n == key)?;
                    el.attributes().get(i).map(|a| a.value())
                };
                if is_dropped(&name, attr) || is_hidden(attr) {
                    el.remove();
                    return Ok(());
                }
                for attr in names.iter().filter(|a| !keeps_attr(&name, a)) {
                    el.remove_attribute(attr);
                }
                Ok(())
            }),
            element!("noscript", |el| {
                // Lazy-loading pages put the real <img> in <noscript>; lol_html and html5ever
                // read its content as text, so it is renamed to keep the markup as markup.
                el.set_tag_name("lm-noscript")?;
                Ok(())
            }),
        ];
        for sel in rules.remove {
            if let Ok(selector) = sel.parse::<lol_html::Selector>() {
                handlers.push((
                    std::borrow::Cow::Owned(selector),
                    lol_html::send::ElementContentHandlers::default().element(
                        |el: &mut lol_html::send::Element<'_, '_>| {
                            el.remove();
                            Ok(())
                        },
                    ),
                ));
            }
        }
        let settings = Settings {
            element_content_handlers: handlers,
            document_content_handlers: vec![doc_comments!(|c| {
                c.remove();
                Ok(())
            })],
            memory_settings: MemorySettings {
                max_allowed_memory_usage: memory_limit,
                ..MemorySettings::default()
            },
            ..Settings::new_send()
        };
        let rewriter = HtmlRewriter::new(settings, sink);
        Reducer {
            rewriter,
            len,
            done,
            limit: memory_limit,
        }
    }

    /// Feeds the next chunk of the decoded page.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), ExtractError> {
        self.rewriter.write(chunk).map_err(ExtractError::from)?;
        self.check()
    }

    /// Ends the page and returns the reduced HTML.
    pub fn finish(self) -> Result<String, ExtractError> {
        self.rewriter.end().map_err(ExtractError::from)?;
        let out = std::mem::take(&mut *lock(&self.done));
        if out.len() > self.limit {
            return Err(ExtractError::TooLarge { limit: self.limit });
        }
        Ok(String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    fn check(&self) -> Result<(), ExtractError> {
        if self.len.load(Ordering::Relaxed) > self.limit {
            return Err(ExtractError::TooLarge { limit: self.limit });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reduce(html: &str) -> String {
        let mut r = Reducer::new(&Rules::default(), 1 << 20);
        for chunk in html.as_bytes().chunks(7) {
            r.write(chunk).unwrap();
        }
        r.finish().unwrap()
    }

    #[test]
    fn keeps_only_what_detection_reads() {
        let out = reduce(
            "<div class=a onclick=x>  <!-- c -->\n\n   <p data-x=1>Hi</p><p style='display: none'>x</p>\
             <script>alert(1)</script><script type=application/ld+json>{\"a\":1}</script>\
             <style>p{}</style><pre>a\n    b</pre><noscript><img src=i.png alt=I></noscript></div>",
        );
        assert_eq!(
            out,
            "<div class=a>  \n\n   <p>Hi</p><script type=application/ld+json>{\"a\":1}</script>\
             <pre>a\n    b</pre><lm-noscript><img src=i.png alt=I></lm-noscript></div>"
        );
    }

    #[test]
    fn output_limit_is_enforced() {
        let mut r = Reducer::new(&Rules::default(), 4096);
        let big = "<p>text</p>".repeat(1000);
        let res = r.write(big.as_bytes()).and_then(|()| r.finish());
        assert!(
            matches!(res, Err(ExtractError::TooLarge { limit: 4096 })),
            "{res:?}"
        );
    }
}
