//! The stages joined: raw upstream bytes in, a Light page out. A site with `content` rules
//! streams (decode, Light pass, shell around it, bytes out as they are ready); any other
//! page is reduced as it arrives and handed to detection at the end, whose article then
//! takes the Light pass; a feed is gathered and read as a listing (`feed`). Used alike by
//! the server and by `lightmirror convert`.

use std::sync::Arc;

use url::Url;

use crate::config::{ImageMode, LimitsConfig, PageKind, Site};
use crate::decode::BodyDecoder;
pub use crate::error::ConvertError;
use crate::extract::{self, Extracted, Metadata, Reducer, Rules};
use crate::feed;
use crate::image::ImageSizes;
use crate::lang::Message;
use crate::page::Shell;
use crate::rewrite::{self, HeadCollector, ImageLinks, LightOptions, LightRewriter, MediaWords};

/// Input read before a streamed page's shell goes out even when no `<body>` tag came.
const HEAD_WAIT_BYTES: usize = 256 << 10;

/// The end of a conversion: the last bytes, and what was learnt about the page.
#[derive(Debug)]
pub struct Finished {
    /// The remaining output, tail of the page included.
    pub tail: Vec<u8>,
    /// The page's metadata.
    pub meta: Metadata,
    /// Article or listing.
    pub kind: PageKind,
    /// The Light body alone, without the shell.
    pub body: String,
    /// The article as plain text: blocks apart by blank lines, no headline, byline or
    /// media placeholders.
    pub text: String,
    /// How sure detection is that the body is the whole article, from 0 to 1; 1 where the
    /// site's rules say where the article is.
    pub confidence: f64,
    /// Whether the input ended its document (`</body>` or `</html>` in its last bytes),
    /// which tells a whole page from one cut short where nothing else can.
    pub document_ended: bool,
    /// Whether the site's `content` rules matched nothing on this page, so its article was
    /// found by detection instead.
    pub content_fallback: bool,
}

/// How far from the end of the input the closing `</body>` or `</html>` is looked for:
/// pages often close with a script, a comment or a timing note after it.
const DOCUMENT_END_WINDOW: usize = 512;

/// The limits a conversion reads, taken from `[limits]` when it starts.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_upstream_bytes: usize,
    rewriter_memory: usize,
    max_nesting: usize,
}

impl From<&LimitsConfig> for Limits {
    fn from(limits: &LimitsConfig) -> Self {
        Self {
            max_upstream_bytes: limits.max_upstream_bytes,
            rewriter_memory: limits.rewriter_memory,
            max_nesting: limits.max_nesting,
        }
    }
}

/// One page being converted. The site is the one compiled at load, shared, never copied.
pub struct Conversion {
    site: Arc<Site>,
    page_url: Url,
    limits: Limits,
    image_sizes: Option<ImageSizes>,
    decoder: BodyDecoder,
    original_bytes: usize,
    emitted: usize,
    /// The last bytes of the decoded input, for [`Finished::document_ended`].
    last_input: Vec<u8>,
    mode: Mode,
}

enum Mode {
    Streaming(Box<Streaming>),
    Detecting(Box<Detecting>),
    /// A feed, gathered as sent: its XML declaration names its encoding.
    Feed(Vec<u8>),
}

struct Streaming {
    light: Option<LightRewriter>,
    body_offset: Option<usize>,
    head: Option<HeadCollector>,
    seen: usize,
    shell_sent: Option<(Metadata, PageKind)>,
    pending: Vec<u8>,
    body: String,
    /// The decoded input, kept until the Light pass writes its first body text: should
    /// the `content` rules match nothing, detection reads the page from here.
    unmatched: Option<String>,
}

/// Detection reads the page as a whole, so it is gathered first (within
/// `max_upstream_bytes`), reduced to what detection reads as it arrives.
struct Detecting {
    reducer: Reducer,
}

impl Conversion {
    /// Starts converting the page at `page_url` of `site`; `content_type` is the upstream's
    /// header, which may name the charset.
    pub fn new(
        site: &Arc<Site>,
        page_url: &Url,
        limits: &LimitsConfig,
        content_type: Option<&str>,
    ) -> Result<Self, ConvertError> {
        Self::with_image_sizes(site, page_url, limits, content_type, None)
    }

    /// As [`new`](Self::new), with the exact sizes of the Light images already made, which
    /// the page's image links then announce instead of an estimate.
    pub(crate) fn with_image_sizes(
        site: &Arc<Site>,
        page_url: &Url,
        limits: &LimitsConfig,
        content_type: Option<&str>,
        image_sizes: Option<ImageSizes>,
    ) -> Result<Self, ConvertError> {
        let limits = Limits::from(limits);
        let mode = if feed::is_feed_type(content_type) {
            Mode::Feed(Vec::new())
        } else if site.content.is_empty() {
            let selectors = rules_for(site, page_url, limits).has_selectors();
            Mode::Detecting(Box::new(Detecting {
                reducer: Reducer::new(selectors, limits.rewriter_memory),
            }))
        } else {
            // The page's language is not known yet: the pass reads its `<html lang>`.
            let options = light_options(site, page_url, limits, image_sizes.as_ref(), None);
            Mode::Streaming(Box::new(Streaming {
                light: Some(LightRewriter::new(&options)?),
                body_offset: None,
                head: Some(HeadCollector::new(limits.rewriter_memory)),
                seen: 0,
                shell_sent: None,
                pending: Vec::new(),
                body: String::new(),
                unmatched: Some(String::new()),
            }))
        };
        Ok(Self {
            site: Arc::clone(site),
            page_url: page_url.clone(),
            limits,
            image_sizes,
            decoder: BodyDecoder::new(content_type),
            original_bytes: 0,
            emitted: 0,
            last_input: Vec::new(),
            mode,
        })
    }

    /// Whether the output streams as the input arrives.
    pub fn streams(&self) -> bool {
        matches!(self.mode, Mode::Streaming(_))
    }

    /// Bytes a streamed conversion holds back: the input kept until the `content` rules
    /// match (detection reads it should they match nothing) and the output waiting for
    /// the shell. A conversion that gathers its page holds it all, which its caller
    /// charges as it arrives.
    pub fn held(&self) -> usize {
        match &self.mode {
            Mode::Streaming(s) => s.unmatched.as_ref().map_or(0, String::len) + s.pending.len(),
            Mode::Detecting(_) | Mode::Feed(_) => 0,
        }
    }

    /// Feeds raw upstream bytes; returns the output ready so far.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<u8>, ConvertError> {
        self.original_bytes += bytes.len();
        if self.original_bytes > self.limits.max_upstream_bytes {
            return Err(ConvertError::TooLarge(self.limits.max_upstream_bytes));
        }
        if let Mode::Feed(raw) = &mut self.mode {
            raw.extend_from_slice(bytes);
            return Ok(Vec::new());
        }
        let text = self.decoder.push(bytes);
        self.feed(&text)
    }

    fn remember_end(&mut self, bytes: &[u8]) {
        let keep = &bytes[bytes.len().saturating_sub(DOCUMENT_END_WINDOW)..];
        let overflow = (self.last_input.len() + keep.len()).saturating_sub(DOCUMENT_END_WINDOW);
        self.last_input.drain(..overflow);
        self.last_input.extend_from_slice(keep);
    }

    fn document_ended(&self) -> bool {
        let tail = self.last_input.to_ascii_lowercase();
        [b"</body".as_slice(), b"</html"]
            .iter()
            .any(|tag| tail.windows(tag.len()).any(|w| w == *tag))
    }

    fn feed(&mut self, text: &str) -> Result<Vec<u8>, ConvertError> {
        self.remember_end(text.as_bytes());
        match &mut self.mode {
            Mode::Feed(_) => Ok(Vec::new()),
            Mode::Detecting(d) => {
                d.reducer.write_str(text)?;
                Ok(Vec::new())
            }
            Mode::Streaming(s) => {
                s.seen += text.len();
                if let Some(unmatched) = s.unmatched.as_mut() {
                    unmatched.push_str(text);
                }
                if let Some(head) = s.head.as_mut() {
                    head.write(text.as_bytes());
                }
                if let Some(light) = s.light.as_mut() {
                    light.write(text.as_bytes())?;
                    let body = light.take_output();
                    s.body.push_str(&String::from_utf8_lossy(&body));
                    s.pending.extend_from_slice(&body);
                    s.body_offset = light.body_offset();
                    if !s.body.trim().is_empty() {
                        s.unmatched = None;
                    }
                }
                let ready = s.body_offset.is_some() || s.seen >= HEAD_WAIT_BYTES;
                let out = if ready {
                    self.flush_streaming()
                } else {
                    Vec::new()
                };
                self.emitted += out.len();
                Ok(out)
            }
        }
    }

    fn flush_streaming(&mut self) -> Vec<u8> {
        let Mode::Streaming(s) = &mut self.mode else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if s.shell_sent.is_none() {
            let head_html = s.head.take().map(|h| h.document()).unwrap_or_default();
            let meta = extract::read_metadata(&head_html, &self.page_url);
            let kind = self
                .site
                .kind_for(self.page_url.path())
                .unwrap_or(PageKind::Article);
            out.extend_from_slice(
                shell(&self.site, &meta, &self.page_url, kind)
                    .head()
                    .as_bytes(),
            );
            s.shell_sent = Some((meta, kind));
        }
        out.append(&mut s.pending);
        out
    }

    /// Ends the page: the remaining output with the page's tail.
    pub fn finish(mut self) -> Result<Finished, ConvertError> {
        let rest = self.decoder.finish();
        let mut out = self.feed(&rest)?;
        let document_ended = self.document_ended();
        match self.mode {
            Mode::Streaming(mut s) => {
                if let Some(light) = s.light.take() {
                    let last = light.end()?;
                    s.body.push_str(&String::from_utf8_lossy(&last));
                    s.pending.extend_from_slice(&last);
                }
                // The shell already written keeps the metadata the page's head gave.
                let detected = match s.unmatched.take() {
                    Some(raw) if s.body.trim().is_empty() => Some(Self::detect(
                        &self.site,
                        &self.page_url,
                        self.limits,
                        self.image_sizes.as_ref(),
                        &raw,
                    )?),
                    _ => None,
                };
                let content_fallback = detected.is_some();
                let mut text = None;
                let mut confidence = 1.0;
                if let Some((found, body)) = detected {
                    if let Some((meta, kind)) = s.shell_sent.as_ref() {
                        if unsure(found.confidence) {
                            let shell = shell(&self.site, meta, &self.page_url, *kind);
                            s.pending
                                .extend_from_slice(shell.incomplete_notice().as_bytes());
                        }
                    }
                    s.pending.extend_from_slice(body.as_bytes());
                    s.body = body;
                    text = Some(found.text);
                    confidence = found.confidence;
                }
                self.mode = Mode::Streaming(s);
                out.extend(self.flush_streaming());
                let Mode::Streaming(s) = self.mode else {
                    unreachable!("mode was just restored")
                };
                let (meta, kind) = s
                    .shell_sent
                    .unwrap_or_else(|| (Metadata::default(), PageKind::Article));
                let emitted = self.emitted + out.len();
                let tail = shell(&self.site, &meta, &self.page_url, kind).tail(
                    emitted,
                    self.original_bytes,
                    None,
                );
                out.extend_from_slice(tail.as_bytes());
                Ok(Finished {
                    tail: out,
                    meta,
                    kind,
                    text: text.unwrap_or_else(|| extract::to_text(&s.body)),
                    body: s.body,
                    confidence,
                    document_ended,
                    content_fallback,
                })
            }
            Mode::Feed(raw) => {
                let site = &self.site;
                let listing = feed::to_listing(&raw, &self.page_url, |lang| site.words(lang))?;
                let body = rewrite::sanitize(
                    &listing.body_html,
                    &light_options(
                        site,
                        &self.page_url,
                        self.limits,
                        self.image_sizes.as_ref(),
                        listing.meta.lang.as_deref(),
                    ),
                )?;
                let kind = PageKind::Listing;
                let shell = shell(site, &listing.meta, &self.page_url, kind);
                Ok(Finished {
                    tail: whole_page(&shell, false, &body, self.original_bytes),
                    meta: listing.meta,
                    kind,
                    text: extract::to_text(&body),
                    body,
                    confidence: 1.0,
                    // The feed parsed, so its XML was whole.
                    document_ended: true,
                    content_fallback: false,
                })
            }
            Mode::Detecting(d) => {
                let reduced = d.reducer.end()?;
                let (found, body) = Self::detect(
                    &self.site,
                    &self.page_url,
                    self.limits,
                    self.image_sizes.as_ref(),
                    &reduced,
                )?;
                let shell = shell(&self.site, &found.meta, &self.page_url, found.kind);
                let incomplete = unsure(found.confidence);
                Ok(Finished {
                    tail: whole_page(&shell, incomplete, &body, self.original_bytes),
                    meta: found.meta,
                    kind: found.kind,
                    // From the article itself: the Light body's media placeholders are not
                    // part of its text.
                    text: found.text,
                    body,
                    confidence: found.confidence,
                    document_ended,
                    content_fallback: false,
                })
            }
        }
    }

    /// The article of `raw` found by detection, and its Light body. The Light pass runs
    /// without the site's `content` rules: detection has already chosen what to keep, and
    /// a page reaches here either without such rules or because they matched nothing.
    fn detect(
        site: &Arc<Site>,
        page_url: &Url,
        limits: Limits,
        image_sizes: Option<&ImageSizes>,
        raw: &str,
    ) -> Result<(Extracted, String), ConvertError> {
        let rules = rules_for(site, page_url, limits);
        let found = extract::extract(raw, page_url, &rules);
        let options = LightOptions {
            content: &[],
            ..light_options(
                site,
                page_url,
                limits,
                image_sizes,
                found.meta.lang.as_deref(),
            )
        };
        let body = rewrite::sanitize(&found.body_html, &options)?;
        Ok((found, body))
    }

    /// Closes a page whose output has started but whose input failed: the rest of the shell
    /// with a notice and a link to the original. `None` when nothing was sent yet, so the
    /// caller can answer with an error page instead.
    pub(crate) fn close_with_notice(self, notice: Message) -> Option<Vec<u8>> {
        let Mode::Streaming(mut s) = self.mode else {
            return None;
        };
        // Elements the article left open are closed first, so the notice and the shell's
        // tail are not nested inside them.
        let mut out = s
            .light
            .take()
            .map(LightRewriter::abandon)
            .unwrap_or_default();
        let (meta, kind) = s.shell_sent.as_ref()?;
        let shell = shell(&self.site, meta, &self.page_url, *kind);
        let notice = shell.words().text(notice).to_owned();
        let tail = shell.tail(self.emitted + out.len(), self.original_bytes, Some(&notice));
        out.extend_from_slice(tail.as_bytes());
        Some(out)
    }
}

/// Whether detection is unsure enough of an article that the page says so at its top.
fn unsure(confidence: f64) -> bool {
    confidence < extract::LOW_CONFIDENCE
}

fn shell<'a>(site: &'a Site, meta: &'a Metadata, page_url: &'a Url, kind: PageKind) -> Shell<'a> {
    Shell {
        site,
        meta,
        original: page_url,
        kind,
    }
}

/// A page converted whole: the shell's head (with the notice that the article may be
/// incomplete when `incomplete`), `body`, and the shell's tail, which counts what came
/// before it.
fn whole_page(shell: &Shell<'_>, incomplete: bool, body: &str, original_bytes: usize) -> Vec<u8> {
    let mut page = shell.head_noting(incomplete);
    page.push_str(body);
    let tail = shell.tail(page.len(), original_bytes, None);
    page.push_str(&tail);
    page.into_bytes()
}

fn light_options<'a>(
    site: &'a Arc<Site>,
    page_url: &'a Url,
    limits: Limits,
    image_sizes: Option<&ImageSizes>,
    lang: Option<&str>,
) -> LightOptions<'a> {
    let images = (site.images.mode == ImageMode::Tap).then(|| ImageLinks {
        site: Arc::clone(site),
        sizes: image_sizes.cloned(),
    });
    LightOptions {
        page_url,
        upstream: &site.upstream,
        siblings: &site.siblings,
        content: &site.selectors.content,
        remove: &site.selectors.remove,
        memory_limit: limits.rewriter_memory,
        max_nesting: limits.max_nesting,
        images,
        words: MediaWords::new(lang.or(site.lang.as_deref()), &site.strings),
    }
}

fn rules_for<'a>(site: &'a Site, page_url: &Url, limits: Limits) -> Rules<'a> {
    Rules {
        title: site.selectors.title.as_ref(),
        byline: site.selectors.byline.as_ref(),
        date: site.selectors.date.as_ref(),
        remove: &site.selectors.remove_tree,
        kind: site.kind_for(page_url.path()),
        max_nesting: limits.max_nesting,
    }
}

/// Converts a whole page held in memory.
pub fn convert_document(
    site: &Arc<Site>,
    page_url: &Url,
    limits: &LimitsConfig,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<(Vec<u8>, Finished), ConvertError> {
    let mut conversion = Conversion::new(site, page_url, limits, content_type)?;
    let mut page = conversion.push(bytes)?;
    let finished = conversion.finish()?;
    page.extend_from_slice(&finished.tail);
    Ok((page, finished))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    #[test]
    fn a_page_cut_short_closes_its_open_elements_before_the_notice() {
        let (config, sites) = parse(
            "[[site]]\nname = \"cut\"\nupstream = \"https://news.example/\"\n\
             hosts = [\"light.example\"]\ncontent = [\"article\"]\n",
            "test",
        )
        .expect("config");
        let url = Url::parse("https://news.example/story").expect("url");
        let content_type = Some("text/html; charset=utf-8");
        let mut conversion =
            Conversion::new(&sites[0], &url, &config.limits, content_type).expect("conversion");
        // Longer than the decoder's sniffing window, so it all goes through at once.
        let opening = format!(
            "<html><head><title>T</title></head><body><article><p>{}</p><p>Start <b>bold <i>both",
            "Words of the story. ".repeat(200)
        );
        let mut page = conversion.push(opening.as_bytes()).expect("push");
        page.extend(
            conversion
                .close_with_notice(Message::CutShort)
                .expect("started"),
        );
        let page = String::from_utf8(page).expect("utf-8");
        let notice = page.find("The rest of this page").expect("notice");
        assert!(page[..notice].contains("both</i></b></p>"), "{page}");
        assert!(!page[notice..].contains("</b>"), "{page}");
    }
}
