//! The streaming reducer: one lol_html pass over the page as it arrives that keeps only
//! what detection reads (elements, text, and the attributes named by [`keeps_attr`]), so
//! the DOM built afterwards is a fraction of the page. It does no detection itself.

use std::sync::{Arc, Mutex};

use lol_html::send::{HtmlRewriter, Settings};
use lol_html::{doc_comments, element, MemorySettings};

use super::dom::{is_dropped, keeps_attr, style_hides};
use super::{ExtractError, Rules};

/// Collects the rewriter's output, counting against the output limit.
#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl lol_html::OutputSink for Sink {
    fn handle_chunk(&mut self, chunk: &[u8]) {
        lock(&self.0).extend_from_slice(chunk);
    }
}

/// The output buffer; a panic elsewhere cannot leave it half-written, so a poisoned lock
/// is still usable.
fn lock(out: &Mutex<Vec<u8>>) -> std::sync::MutexGuard<'_, Vec<u8>> {
    out.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Streaming reducer; see the module docs.
pub struct Reducer {
    rewriter: HtmlRewriter<'static, Sink>,
    out: Arc<Mutex<Vec<u8>>>,
    limit: usize,
}

impl Reducer {
    /// A reducer whose parser buffers and output each stay within `memory_limit` bytes.
    /// Operator `remove` selectors that lol_html understands are applied here already.
    pub fn new(rules: &Rules<'_>, memory_limit: usize) -> Self {
        let out = Arc::new(Mutex::new(Vec::with_capacity(64 * 1024)));
        let mut handlers = vec![
            element!("*", |el| {
                let name = el.tag_name();
                if is_dropped(&name, |a| el.get_attribute(a)) {
                    el.remove();
                    return Ok(());
                }
                let drop: Vec<String> = el
                    .attributes()
                    .iter()
                    .map(|a| a.name())
                    .filter(|a| !keeps_attr(&name, a))
                    .collect();
                for attr in &drop {
                    if attr == "style" && el.get_attribute("style").is_some_and(|s| style_hides(&s))
                    {
                        el.set_attribute("hidden", "")?;
                    }
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
        let rewriter = HtmlRewriter::new(settings, Sink(out.clone()));
        Reducer {
            rewriter,
            out,
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
        let out = std::mem::take(&mut *lock(&self.out));
        if out.len() > self.limit {
            return Err(ExtractError::TooLarge { limit: self.limit });
        }
        Ok(String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    fn check(&self) -> Result<(), ExtractError> {
        let len = lock(&self.out).len();
        if len > self.limit {
            return Err(ExtractError::TooLarge { limit: self.limit });
        }
        Ok(())
    }
}
