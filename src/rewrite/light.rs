//! The Light rewriter: one lol_html pass with the site's rules and the allowlist. Handler
//! state (base URL, open figures, depth inside links and kept subtrees) is shared through
//! one mutex and the output, with the balance of its tags, through another; both are
//! uncontended because a rewriter runs on one task at a time.

use std::borrow::Cow;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use lol_html::html_content::{ContentType, EndTag, TextType};
use lol_html::send::{
    DocumentContentHandlers, Element, ElementContentHandlers, HtmlRewriter, Settings,
};
use lol_html::{MemorySettings, Selector};
use url::Url;

use super::balance::Balancer;
use super::links::{escape_attribute, LinkContext};
use super::media::{embed_placeholder, image_placeholder, replace_with, ImageLinks, MediaWords};
use super::policy::{action, attribute_allowed, clean_value, Action, Media, GLOBAL_ATTRIBUTES};
use super::shield::EndTagShield;
use super::RewriteError;
use crate::charref::decode_attribute;

/// What a Light pass needs to know about the page.
#[derive(Debug, Clone)]
pub struct LightOptions<'a> {
    /// The URL the page was fetched from: the base for relative URLs.
    pub page_url: &'a Url,
    /// The site's upstream origin: links there stay inside the Light site.
    pub upstream: &'a Url,
    /// The other sites of this instance, as upstream origin and Light host: links to one
    /// of them go to its Light site.
    pub siblings: &'a [(Url, String)],
    /// Selectors of the subtrees to keep; empty keeps the whole body.
    pub content: &'a [Selector],
    /// Selectors of the subtrees to drop.
    pub remove: &'a [Selector],
    /// Most memory the rewriter may use.
    pub memory_limit: usize,
    /// Most kept elements open at once; deeper ones are unwrapped.
    pub max_nesting: usize,
    /// Where image placeholders link; `None` writes placeholders without links.
    pub images: Option<ImageLinks>,
    /// The words of the placeholders: the page's language, when known before the pass,
    /// else the site's, until the page's `<html lang>` says otherwise.
    pub words: MediaWords,
}

struct Figure {
    has_caption: bool,
    /// The placeholder of an image without alt text, written at the figure's end if a
    /// caption turned up after it.
    pending: Option<String>,
}

struct State {
    links: LinkContext,
    base_seen: bool,
    body_offset: Option<usize>,
    figures: Vec<Figure>,
    max_nesting: usize,
    images: Option<ImageLinks>,
    words: MediaWords,
}

/// What the handlers of nearly every element and text chunk read, apart from [`State`]
/// so that reading it takes no lock: on a news page those handlers run millions of times.
#[derive(Default)]
struct Depths {
    /// Whether the site has `content` rules.
    content_rule: bool,
    /// Open elements matching a content rule.
    content: AtomicUsize,
    /// Open kept `<a>` elements.
    link: AtomicUsize,
    /// Open kept `<pre>` elements.
    pre: AtomicUsize,
    /// Open elements removed with their content: lol_html still hands out what is inside
    /// them (an inline SVG icon is dozens of elements), none of which will be written.
    removed: AtomicUsize,
    headline_dropped: AtomicBool,
    /// Input offset where `TAG_CLOSER` begins, once `end` has written it; `usize::MAX`
    /// before.
    closer_at: AtomicUsize,
}

impl Depths {
    /// Whether content rules leave the current element or text out.
    fn outside_content(&self) -> bool {
        self.content_rule && self.content.load(Relaxed) == 0
    }

    /// Whether the current element or text is inside one removed with its content.
    fn inside_removed(&self) -> bool {
        self.removed.load(Relaxed) > 0
    }
}

/// Removes the element with its content; see [`skip_inside`].
fn remove_subtree(el: &mut Element<'_, '_>, depths: &Arc<Depths>) -> HandlerResult {
    el.remove();
    skip_inside(el, depths)
}

/// Counts the element, already removed or replaced, as open until its end tag, so the
/// handlers pass over what is inside it.
fn skip_inside(el: &mut Element<'_, '_>, depths: &Arc<Depths>) -> HandlerResult {
    if el.can_have_content() {
        enter(&depths.removed);
        let depths = depths.clone();
        el.on_end_tag(Box::new(move |_| {
            leave(&depths.removed);
            Ok(())
        }))?;
    }
    Ok(())
}

fn enter(depth: &AtomicUsize) {
    depth.fetch_add(1, Relaxed);
}

fn leave(depth: &AtomicUsize) {
    // Never below zero: an end tag lol_html matched to no start tag closes nothing.
    let _ = depth.fetch_update(Relaxed, Relaxed, |d| d.checked_sub(1));
}

/// The Light body written so far, and the elements open in it.
#[derive(Default)]
struct Output {
    bytes: Vec<u8>,
    balance: Balancer,
    /// What lol_html wrote since the balance last read. It writes a rewritten tag in many
    /// small pieces (`<`, the name, each attribute's name, quotes and value, `>`); reading
    /// them in one run when someone needs the balance costs one pass instead of one per
    /// piece.
    unread: Vec<u8>,
}

impl Output {
    /// Takes bytes from lol_html, read by the balance before anything else uses it.
    fn receive(&mut self, bytes: &[u8]) {
        self.unread.extend_from_slice(bytes);
    }

    /// The balance, once it has read everything lol_html wrote.
    fn read_up(&mut self) -> (&mut Balancer, &mut Vec<u8>) {
        if !self.unread.is_empty() {
            self.balance.write(&self.unread, &mut self.bytes);
            self.unread.clear();
        }
        (&mut self.balance, &mut self.bytes)
    }

    fn write(&mut self, bytes: &[u8]) {
        let (balance, out) = self.read_up();
        balance.write(bytes, out);
    }

    fn close(&mut self, name: &str) {
        let (balance, out) = self.read_up();
        balance.close(name, out);
    }

    fn depth(&mut self) -> usize {
        self.read_up().0.depth()
    }

    /// The body written so far.
    fn take(&mut self) -> Vec<u8> {
        std::mem::take(self.read_up().1)
    }

    /// The rest of the body, with every element still open closed.
    fn finish(&mut self) -> Vec<u8> {
        let (balance, out) = self.read_up();
        balance.finish(out);
        std::mem::take(out)
    }
}

/// Written after the last upstream byte. lol_html passes a tag left unfinished at the end
/// of input through raw, and whatever follows the body (the page's tail) would then finish
/// it: as attribute text, or as attributes the allowlist never saw. These characters close
/// every state a tag can stop in (tag name, attribute name, before a value, inside a
/// double-, single- or unquoted value), so the tag reaches the allowlist like any other;
/// what is left of them is text, which the text handler drops.
const TAG_CLOSER: &str = "'\">'\">";

type Shared<T> = Arc<Mutex<T>>;

/// Where the rewriter writes: a closure that appends to the shared output through its
/// balance.
type Sink = Box<dyn FnMut(&[u8]) + Send>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A handler that panicked mid-update has already failed the request; the state is
    // plain data, so reading it afterwards is harmless.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A streaming Light pass: write upstream chunks in, take Light body bytes out.
pub struct LightRewriter {
    rewriter: HtmlRewriter<'static, Sink>,
    output: Shared<Output>,
    state: Shared<State>,
    depths: Arc<Depths>,
    shield: EndTagShield,
    written: usize,
}

impl LightRewriter {
    /// Builds the pass; selectors must already be checked (the config loader does).
    pub fn new(options: &LightOptions<'_>) -> Result<Self, RewriteError> {
        let state = Arc::new(Mutex::new(State {
            links: LinkContext {
                base: options.page_url.clone(),
                upstream: options.upstream.clone(),
                siblings: options.siblings.to_vec(),
            },
            base_seen: false,
            body_offset: None,
            figures: Vec::new(),
            max_nesting: options.max_nesting,
            images: options.images.clone(),
            words: options.words.clone(),
        }));
        let depths = Arc::new(Depths {
            content_rule: !options.content.is_empty(),
            closer_at: AtomicUsize::new(usize::MAX),
            ..Depths::default()
        });
        let output: Shared<Output> = Arc::default();
        let mut handlers: Vec<(Cow<'static, Selector>, ElementContentHandlers<'static>)> =
            Vec::new();
        for selector in options.remove {
            let depths = depths.clone();
            handlers.push((
                Cow::Owned(selector.clone()),
                ElementContentHandlers::default().element(move |el: &mut Element| {
                    if el.removed() {
                        return Ok(());
                    }
                    remove_subtree(el, &depths)
                }),
            ));
        }
        for selector in options.content {
            let depths = depths.clone();
            handlers.push((
                Cow::Owned(selector.clone()),
                ElementContentHandlers::default().element(move |el: &mut Element| {
                    if el.can_have_content() && !el.removed() {
                        enter(&depths.content);
                        let depths = depths.clone();
                        el.on_end_tag(Box::new(move |_| {
                            leave(&depths.content);
                            Ok(())
                        }))?;
                    }
                    Ok(())
                }),
            ));
        }
        let base_state = state.clone();
        handlers.push((
            Cow::Borrowed(&FIXED.base),
            ElementContentHandlers::default().element(move |el: &mut Element| {
                let mut st = lock(&base_state);
                // Only a base in the head counts: a late one would re-target links already
                // written with the page URL.
                if !st.base_seen && st.body_offset.is_none() {
                    st.base_seen = true;
                    let href = el.get_attribute("href").unwrap_or_default();
                    if let Ok(base) = st.links.base.join(decode_attribute(&href).trim()) {
                        if matches!(base.scheme(), "http" | "https") {
                            st.links.base = base;
                        }
                    }
                }
                Ok(())
            }),
        ));
        let lang_state = state.clone();
        handlers.push((
            Cow::Borrowed(&FIXED.html_lang),
            ElementContentHandlers::default().element(move |el: &mut Element| {
                if let Some(lang) = el.get_attribute("lang") {
                    lock(&lang_state).words.declared(&lang);
                }
                Ok(())
            }),
        ));
        let body_state = state.clone();
        handlers.push((
            Cow::Borrowed(&FIXED.body),
            ElementContentHandlers::default().element(move |el: &mut Element| {
                let mut st = lock(&body_state);
                st.body_offset
                    .get_or_insert(el.source_location().bytes().start);
                Ok(())
            }),
        ));
        let shared = Arc::new(Handlers {
            state: state.clone(),
            output: output.clone(),
            depths: depths.clone(),
        });
        handlers.push((
            Cow::Borrowed(&FIXED.any),
            ElementContentHandlers::default()
                .element(move |el: &mut Element| apply_policy(el, &shared)),
        ));

        let text_depths = depths.clone();
        let document = DocumentContentHandlers::default()
            .doctype(|d: &mut lol_html::html_content::Doctype| {
                d.remove();
                Ok(())
            })
            .comments(|c: &mut lol_html::html_content::Comment| {
                c.remove();
                Ok(())
            })
            .text(move |t: &mut lol_html::html_content::TextChunk| {
                // Raw text (script, style, title, textarea ...) belongs to an element the
                // policy removes whole, so none of it is written.
                if !matches!(t.text_type(), TextType::Data | TextType::CDataSection) {
                    return Ok(());
                }
                let depths = &text_depths;
                if depths.inside_removed() {
                    return Ok(());
                }
                if depths.outside_content() {
                    // An empty text writes nothing, as a removed one does, and costs lol_html
                    // no record of the removal.
                    t.set_str(String::new());
                    return Ok(());
                }
                let upstream = match depths.closer_at.load(Relaxed) {
                    usize::MAX => usize::MAX,
                    at => at.saturating_sub(t.source_location().bytes().start),
                };
                let text = t.as_str();
                let kept = text.get(..upstream.min(text.len())).unwrap_or_default();
                let squeeze = depths.pre.load(Relaxed) == 0;
                match light_text(kept, squeeze) {
                    Some(light) => t.set_str(light),
                    None if kept.len() != text.len() => t.set_str(kept.to_owned()),
                    None => {}
                }
                Ok(())
            });

        let sink_output = output.clone();
        let sink: Sink = Box::new(move |bytes: &[u8]| lock(&sink_output).receive(bytes));
        let settings = Settings {
            element_content_handlers: handlers,
            document_content_handlers: vec![document],
            memory_settings: MemorySettings {
                max_allowed_memory_usage: options.memory_limit,
                preallocated_parsing_buffer_size: 4096.min(options.memory_limit),
            },
            strict: true,
            ..Settings::new_send()
        };
        Ok(Self {
            rewriter: HtmlRewriter::new(settings, sink),
            output,
            state,
            depths,
            shield: EndTagShield::default(),
            written: 0,
        })
    }

    /// Feeds the next chunk of (UTF-8) upstream HTML.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), RewriteError> {
        let shielded = self.shield.pass(chunk);
        self.written += shielded.len();
        self.rewriter.write(&shielded).map_err(RewriteError::from)
    }

    /// Takes the Light body bytes produced so far.
    pub fn take_output(&mut self) -> Vec<u8> {
        lock(&self.output).take()
    }

    /// Byte offset of the `<body>` start tag in the input, once it has been seen.
    pub(crate) fn body_offset(&self) -> Option<usize> {
        lock(&self.state).body_offset
    }

    /// Ends a pass whose input failed part way: the output not yet taken, with every
    /// element still open closed, so whatever follows lands outside the article's markup.
    pub(crate) fn abandon(self) -> Vec<u8> {
        lock(&self.output).finish()
    }

    /// Finishes the pass and returns the remaining output.
    pub fn end(mut self) -> Result<Vec<u8>, RewriteError> {
        let held = self.shield.finish();
        self.written += held.len();
        self.rewriter.write(&held)?;
        self.depths.closer_at.store(self.written, Relaxed);
        self.rewriter.write(TAG_CLOSER.as_bytes())?;
        self.rewriter.end()?;
        Ok(lock(&self.output).finish())
    }
}

/// What a run of ASCII white space outside `<pre>` becomes: one newline if it held a line
/// break, else one space. A browser shows either as one space; the newline keeps the
/// page's lines for a reader of its source and for patterns that read line by line.
pub(crate) fn squeezed(run: &[u8]) -> char {
    if run.iter().any(|&b| b == b'\n' || b == b'\r') {
        '\n'
    } else {
        ' '
    }
}

/// Text as the Light page writes it, or `None` when that is `text` as it is. It stays as
/// written (its character references with it) but for two things. Indentation and blank
/// lines are most of a news page's text bytes, and outside `<pre>` (`squeeze`) a browser
/// shows any run of them as one space, so each run becomes [`squeezed`]. And a "<" in it is
/// text only because no tag name follows it in the source; once the element or comment
/// after it is dropped, the next word may follow, and "<" + "img ..." is a tag, so every
/// "<" becomes `&lt;`.
fn light_text(text: &str, squeeze: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let less_than = memchr::memchr(b'<', bytes);
    let run = squeeze.then(|| first_squeezable(bytes)).flatten();
    let first = less_than.into_iter().chain(run).min()?;
    let special = |b: &u8| *b == b'<' || (squeeze && b.is_ascii_whitespace());
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    let mut at = first;
    while at < bytes.len() {
        // Special bytes are ASCII, so the ends of what lies between them are character
        // boundaries.
        let plain_end = bytes[at..]
            .iter()
            .position(special)
            .map_or(bytes.len(), |n| at + n);
        out.push_str(&text[at..plain_end]);
        at = plain_end;
        match bytes.get(at) {
            Some(b'<') => {
                out.push_str("&lt;");
                at += 1;
            }
            Some(_) => {
                let run_end = bytes[at..]
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .map_or(bytes.len(), |n| at + n);
                out.push(squeezed(&bytes[at..run_end]));
                at = run_end;
            }
            None => {}
        }
    }
    Some(out)
}

/// Where the first run of white space that is not already one space or one newline
/// begins: two or more in a row, or a lone tab, carriage return or form feed.
fn first_squeezable(bytes: &[u8]) -> Option<usize> {
    let mut from = 0;
    // Most bytes of text are above the space character; only those at or below it are
    // looked at twice.
    while let Some(n) = bytes[from..].iter().position(|&b| b <= b' ') {
        let at = from + n;
        let b = bytes[at];
        if matches!(b, b'\t' | b'\r' | b'\x0c') {
            return Some(at);
        }
        if b.is_ascii_whitespace() && bytes.get(at + 1).is_some_and(u8::is_ascii_whitespace) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The selectors every pass runs, parsed once per process.
struct Fixed {
    base: Selector,
    html_lang: Selector,
    body: Selector,
    any: Selector,
}

static FIXED: LazyLock<Fixed> = LazyLock::new(|| {
    let parse = |css: &str| {
        css.parse::<Selector>()
            .expect("the pass's own selectors parse")
    };
    Fixed {
        base: parse("base[href]"),
        html_lang: parse("html[lang]"),
        body: parse("body"),
        any: parse("*"),
    }
});

type HandlerResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// What the element handlers share.
struct Handlers {
    state: Shared<State>,
    output: Shared<Output>,
    depths: Arc<Depths>,
}

fn apply_policy(el: &mut Element<'_, '_>, shared: &Arc<Handlers>) -> HandlerResult {
    let depths = &shared.depths;
    if el.removed() || depths.inside_removed() {
        return Ok(());
    }
    let tag = el.tag_name();
    let policy = match action(&tag) {
        Action::KeepIfAttributed if GLOBAL_ATTRIBUTES.iter().any(|a| el.has_attribute(a)) => {
            Action::Keep(&[])
        }
        Action::KeepIfAttributed => Action::Unwrap { block: false },
        other => other,
    };
    if depths.outside_content() {
        return match policy {
            Action::Remove | Action::Placeholder(_) => remove_subtree(el, depths),
            _ => {
                el.remove_and_keep_content();
                Ok(())
            }
        };
    }
    // Under a content rule the shell prints the headline from the page's metadata, so the
    // kept subtree's own first h1 would repeat it.
    if depths.content_rule && tag == "h1" && !depths.headline_dropped.swap(true, Relaxed) {
        return remove_subtree(el, depths);
    }
    match policy {
        Action::Keep(extra) => {
            let st = lock(&shared.state);
            // The start tag goes out after this handler, so what is open now is its depth.
            let too_deep = el.can_have_content() && lock(&shared.output).depth() >= st.max_nesting;
            if !too_deep && keep_attributes(el, extra, &st.links) {
                drop(st);
                track_end(el, &tag, shared)?;
            } else {
                el.remove_and_keep_content();
            }
        }
        Action::KeepIfAttributed | Action::Unwrap { block: false } => el.remove_and_keep_content(),
        Action::Unwrap { block: true } => {
            el.before("\n", ContentType::Text);
            el.after("\n", ContentType::Text);
            el.remove_and_keep_content();
        }
        Action::Remove => remove_subtree(el, depths)?,
        Action::Placeholder(Media::Image) => {
            let in_link = depths.link.load(Relaxed) > 0;
            let mut st = lock(&shared.state);
            let captioned = st.figures.last().map(|f| f.has_caption);
            let placeholder = |captioned| {
                image_placeholder(
                    el,
                    &st.links,
                    st.images.as_ref(),
                    &st.words,
                    in_link,
                    captioned,
                )
            };
            let now = placeholder(captioned.unwrap_or(false));
            // An image without alt text before its figure's caption waits for it.
            let pending = match (&now, captioned) {
                (None, Some(false)) => placeholder(true),
                _ => None,
            };
            if let Some(figure) = st.figures.last_mut() {
                figure.pending = figure.pending.take().or(pending);
            }
            replace_with(el, now);
            skip_inside(el, depths)?;
        }
        Action::Placeholder(Media::Embed) => {
            let in_link = depths.link.load(Relaxed) > 0;
            let st = lock(&shared.state);
            let placeholder = embed_placeholder(el, &st.links, &st.words, in_link);
            drop(st);
            replace_with(el, placeholder);
            skip_inside(el, depths)?;
        }
    }
    Ok(())
}

/// Keeps only allowlisted attributes with checked values. Every attribute is removed and
/// the kept ones written anew, so duplicates and odd quoting in the source cannot survive.
/// `false` when the tag cannot be cleaned and must be dropped.
fn keep_attributes(el: &mut Element<'_, '_>, extra: &[&str], links: &LinkContext) -> bool {
    // Most kept tags come bare: nothing to remove, nothing to write anew.
    if el.attributes().is_empty() {
        return true;
    }
    let mut kept: Vec<(String, String)> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for attribute in el.attributes() {
        let name = attribute.name();
        if attribute_allowed(extra, &name) && !kept.iter().any(|(n, _)| *n == name) {
            let value = if name == "href" {
                links.href(&attribute.value())
            } else {
                clean_value(&name, &decode_attribute(&attribute.value()))
                    .map(|v| escape_attribute(&v))
            };
            if let Some(value) = value {
                kept.push((name.clone(), value));
            }
        }
        names.push(name);
    }
    for name in names {
        el.remove_attribute(&name);
    }
    // lol_html will not remove an attribute whose name it would not write itself, such as
    // one starting with "=" ('<p =onclick=x>'); it would go out as written.
    if !el.attributes().is_empty() {
        return false;
    }
    for (name, value) in kept {
        // Names come from the allowlist, so they are always valid.
        let _ = el.set_attribute(&name, &value);
    }
    true
}

/// Closes the element where lol_html ends it, and the figure and link bookkeeping with
/// it. The end tag is written anew from the name alone, so no attribute written on an end
/// tag survives. It is written here rather than by renaming the token because the token
/// may be an ancestor's end tag (`</div>` ending an unclosed `<p>`), which the ancestor's
/// own handling then removes or renames.
fn track_end(el: &mut Element<'_, '_>, tag: &str, shared: &Arc<Handlers>) -> HandlerResult {
    if !el.can_have_content() {
        return Ok(());
    }
    let depths = &shared.depths;
    match tag {
        "figure" => lock(&shared.state).figures.push(Figure {
            has_caption: false,
            pending: None,
        }),
        "figcaption" => {
            if let Some(figure) = lock(&shared.state).figures.last_mut() {
                figure.has_caption = true;
            }
        }
        "a" => enter(&depths.link),
        "pre" => enter(&depths.pre),
        _ => {}
    }
    let shared = shared.clone();
    let name = tag.to_owned();
    el.on_end_tag(Box::new(move |end: &mut EndTag| {
        // lol_html has written everything before this end tag, and nothing of it yet.
        let mut out = lock(&shared.output);
        match name.as_str() {
            "figure" => {
                if let Some(Figure {
                    has_caption: true,
                    pending: Some(image),
                }) = lock(&shared.state).figures.pop()
                {
                    out.write(image.as_bytes());
                }
            }
            "a" => leave(&shared.depths.link),
            "pre" => leave(&shared.depths.pre),
            _ => {}
        }
        out.close(&name);
        end.remove();
        Ok(())
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn light(html: &str, content: &[&str], remove: &[&str]) -> String {
        light_in_chunks(html, content, remove, html.len().max(1))
    }

    /// The Light pass over `html` written `chunk` bytes at a time.
    fn light_in_chunks(html: &str, content: &[&str], remove: &[&str], chunk: usize) -> String {
        let page = Url::parse("https://www.example.com/news/story.html").unwrap();
        let upstream = Url::parse("https://www.example.com/").unwrap();
        let content: Vec<Selector> = content.iter().map(|s| s.parse().unwrap()).collect();
        let remove: Vec<Selector> = remove.iter().map(|s| s.parse().unwrap()).collect();
        let options = LightOptions {
            page_url: &page,
            upstream: &upstream,
            siblings: &[],
            content: &content,
            remove: &remove,
            memory_limit: 4 << 20,
            max_nesting: 512,
            images: None,
            words: MediaWords::default(),
        };
        let mut rewriter = LightRewriter::new(&options).unwrap();
        let mut out = Vec::new();
        for piece in html.as_bytes().chunks(chunk) {
            rewriter.write(piece).unwrap();
            out.append(&mut rewriter.take_output());
        }
        out.append(&mut rewriter.end().unwrap());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn keeps_structure_and_drops_code() {
        let out = light(
            "<!doctype html><html><head><title>T</title><style>p{}</style><script>x()</script></head>\
             <body class=b><div id=d><h2 style='color:red'>Sub</h2><p onclick='x()'>One <b>two</b></p>\
             <!-- c --><noscript><img src=x></noscript><svg><text>s</text></svg></div></body></html>",
            &[],
            &[],
        );
        assert_eq!(out.trim(), "<h2>Sub</h2><p>One <b>two</b></p>");
    }

    #[test]
    fn text_after_removed_elements_closed_implicitly_is_kept() {
        // An ancestor's end tag closes each removed element here; none has its own.
        let out = light(
            "<div><p>One<svg><g><path d=x></div><p>Two</p>\
             <section><nav class=menu><ul><li>Menu</section><p>Three</p>\
             <div><p>Four<object data=x><param name=a></div><p>Five</p>",
            &[],
            &[".menu"],
        );
        for word in ["One", "Two", "Three", "Four", "Five"] {
            assert!(out.contains(word), "{word} missing from {out}");
        }
        assert!(!out.contains("Menu") && !out.contains("path"), "{out}");
    }

    #[test]
    fn end_tags_lose_their_attributes() {
        let out = light(
            "<p>x</p onclick=\"alert(1)\"><table><tr><td colspan=2 width=9>c</td foo></tr></table>",
            &[],
            &[],
        );
        assert_eq!(
            out,
            "<p>x</p><table><tr><td colspan=\"2\">c</td></tr></table>"
        );
    }

    #[test]
    fn duplicate_and_encoded_hrefs_are_cleaned() {
        let out = light(
            "<a href=\"/ok?a=1&amp;b=2\" href=\"javascript:alert(1)\">a</a>\
             <a href=\"&#106;avascript:alert(1)\">b</a><a href='//other.org/x'>c</a>",
            &[],
            &[],
        );
        assert_eq!(
            out,
            "<a href=\"/ok?a=1&amp;b=2\">a</a><a>b</a><a href=\"https://other.org/x\">c</a>"
        );
    }

    #[test]
    fn base_href_changes_resolution() {
        let out = light(
            "<head><base href=\"https://www.example.com/deep/\"></head><a href=x>x</a>",
            &[],
            &[],
        );
        assert_eq!(out, "<a href=\"/deep/x\">x</a>");
    }

    #[test]
    fn images_become_placeholders() {
        let out = light(
            "<p><img alt=\"A &amp; B\" src=\"/i.jpg\"><img src=t.gif width=1 height=1 alt=px><img alt=\"\" src=e.jpg></p>\
             <a href=/x><img alt=Inside src=/y.jpg></a>",
            &[],
            &[],
        );
        assert_eq!(
            out,
            "<p>[Image: A &amp; B]</p><a href=\"/x\">[Image: Inside]</a>"
        );
    }

    /// The Light pass of a site that makes Light images.
    fn light_with_images(html: &str) -> String {
        let text = "[[site]]\nname = \"t\"\nupstream = \"https://www.example.com\"\n\
                    hosts = [\"light.example\"]\n";
        let site = crate::config::parse(text, "t").unwrap().1.remove(0);
        let page = Url::parse("https://www.example.com/news/story.html").unwrap();
        let options = LightOptions {
            page_url: &page,
            upstream: &site.upstream.clone(),
            siblings: &[],
            content: &[],
            remove: &[],
            memory_limit: 4 << 20,
            max_nesting: 512,
            images: Some(ImageLinks {
                sizes: Some(std::sync::Arc::new(|url: &Url| {
                    url.path().ends_with("known.jpg").then_some(12_345)
                })),
                site,
            }),
            words: MediaWords::default(),
        };
        crate::rewrite::sanitize(html, &options).unwrap()
    }

    fn image_link(path: &str) -> String {
        let url = Url::parse("https://www.example.com/")
            .unwrap()
            .join(path)
            .unwrap();
        crate::image::light_path(&url).unwrap()
    }

    #[test]
    fn figures_keep_their_caption_and_their_image() {
        let out = light_with_images(
            "<figure><img alt=Alt src=a.jpg width=960 height=640><figcaption>Caption</figcaption></figure>\
             <figure><img alt=Lonely src=/known.jpg></figure>\
             <figure><img src=c.jpg><figcaption>Only a caption</figcaption></figure>\
             <figure><figcaption>First</figcaption><img src=d.jpg></figure>\
             <figure><img src=e.jpg></figure>",
        );
        let (a, known, c, d) = (
            image_link("/news/a.jpg"),
            image_link("/known.jpg"),
            image_link("/news/c.jpg"),
            image_link("/news/d.jpg"),
        );
        assert_eq!(
            out,
            format!(
                "<figure>[Image: Alt] <a href=\"{a}\">image, about 20 KB</a><figcaption>Caption</figcaption></figure>\
                 <figure>[Image: Lonely] <a href=\"{known}\">image, 13 KB</a></figure>\
                 <figure><figcaption>Only a caption</figcaption>[Image] <a href=\"{c}\">image, about 20 KB</a></figure>\
                 <figure><figcaption>First</figcaption>[Image] <a href=\"{d}\">image, about 20 KB</a></figure>\
                 <figure></figure>"
            )
        );
    }

    #[test]
    fn decorative_and_foreign_images_get_no_image_link() {
        let out = light_with_images(
            "<p><img alt=Icon src=i.png width=32 height=32><img alt=Deco aria-hidden=true src=d.jpg>\
             <img alt=Role role=presentation src=r.jpg><img alt=Far src=https://cdn.other.example/f.jpg>\
             <a href=/x><img alt=Linked src=/l.jpg></a></p>",
        );
        assert_eq!(out, "<p>[Image: Far]<a href=\"/x\">[Image: Linked]</a></p>");
    }

    #[test]
    fn embeds_with_titles_become_links() {
        let out = light(
            "<iframe title=\"Launch &quot;day&quot;\" src=\"https://video.example.net/e/1\"><p>x</p></iframe>\
             <iframe src=\"https://ads.example.net\"></iframe><video src=\"javascript:x\" title=Clip></video>",
            &[],
            &[],
        );
        assert_eq!(
            out,
            "<a href=\"https://video.example.net/e/1\">[Video: Launch \"day\"]</a>[Video: Clip]"
        );
    }

    #[test]
    fn content_rule_keeps_only_its_subtrees() {
        let out = light(
            "<body><nav><a href=/>Home</a></nav><article class=story><h1>Head</h1><p>Kept <i>text</i></p>\
             <div class=share>Share</div></article><footer>Foot</footer></body>",
            &["article.story"],
            &[".share"],
        );
        assert_eq!(out.trim(), "<p>Kept <i>text</i></p>");
    }

    #[test]
    fn raw_text_stays_text() {
        let out = light("<textarea><script>alert(1)</script></textarea><title><img src=x onerror=alert(1)></title><xmp><b>x</b></xmp>", &[], &[]);
        assert_eq!(out, "");
    }

    #[test]
    fn ambiguous_markup_is_an_error() {
        let page = Url::parse("https://www.example.com/").unwrap();
        let options = LightOptions {
            page_url: &page,
            upstream: &page,
            siblings: &[],
            content: &[],
            remove: &[],
            memory_limit: 1 << 20,
            max_nesting: 512,
            images: None,
            words: MediaWords::default(),
        };
        let err = crate::rewrite::sanitize("<select><xmp><script>alert(1)</script>", &options);
        assert!(matches!(err, Err(RewriteError::Ambiguous(_))), "{err:?}");
    }

    #[test]
    fn a_tag_cut_off_by_the_end_of_input_is_closed_and_filtered() {
        for (input, expected) in [
            (
                "<p>x</p><p title=\"x>y<img src=x onerror=alert(1)>",
                "<p>x</p><p></p>",
            ),
            ("<p>x</p><p title='y", "<p>x</p><p></p>"),
            ("<p>x</p><img src=x onerror=alert(1)", "<p>x</p>"),
            (
                "<p>x</p><a href=/y onclick=alert(1)",
                "<p>x</p><a href=\"/y\"></a>",
            ),
            ("<p>x</p><b", "<p>x</p>"),
            ("<p>kept text</p>tail", "<p>kept text</p>tail"),
            ("<p>x &amp", "<p>x &amp</p>"),
        ] {
            assert_eq!(light(input, &[], &[]), expected, "{input}");
        }
    }

    #[test]
    fn a_less_than_sign_cannot_join_the_text_after_a_dropped_element() {
        let out = light(
            "<p>a < b</p><<span>img src=x onerror=alert(1)><<!---->svg onload=alert(1)>\
             <<script>x</script>iframe>",
            &[],
            &[],
        );
        assert_eq!(
            out,
            "<p>a &lt; b</p>&lt;img src=x onerror=alert(1)>&lt;svg onload=alert(1)>&lt;iframe>"
        );
    }

    #[test]
    fn cdata_after_foreign_content_closed_by_an_html_end_tag_stays_text() {
        let out = light(
            "<article><p><svg></article><![CDATA[ x> <img src=x onerror=alert(1)> ]]>",
            &[],
            &[],
        );
        assert!(!out.contains("<!") && !out.contains("<img"), "{out}");
    }

    #[test]
    fn a_tag_with_an_attribute_that_cannot_be_removed_is_dropped() {
        let out = light(
            "<p title=\"a\"=onclick=alert(1)>x</p><p ==y>z</p><a =href=/x href=/y>w</a>",
            &[],
            &[],
        );
        assert_eq!(out, "xzw");
    }

    #[test]
    fn lang_and_dir_survive_checked() {
        let out = light(
            "<p dir=RTL lang=fa>سلام</p><p dir=evil lang='x\"y'>b</p>",
            &[],
            &[],
        );
        assert_eq!(out, "<p dir=\"rtl\" lang=\"fa\">سلام</p><p>b</p>");
    }

    #[test]
    fn stray_end_tags_are_dropped() {
        let out = light(
            "</main><p>a</p></div></body></html></article></p></b title='>'>b</main x=\"y\">",
            &[],
            &[],
        );
        assert_eq!(out, "<p>a</p>b");
    }

    #[test]
    fn an_end_tag_closes_what_was_opened_inside_it() {
        for (input, expected) in [
            ("<div><p>x</div>y", "\n<p>x</p>\ny"),
            ("<b><i>x</b>y", "<b><i>x</i></b>y"),
            ("<td><p>x</td>y", "<td><p>x</p></td>y"),
            ("<p><a href=/x>x</p>y</a>z", "<p><a href=\"/x\">x</a></p>yz"),
        ] {
            assert_eq!(light(input, &[], &[]), expected, "{input}");
        }
    }

    #[test]
    fn what_is_open_at_the_end_is_closed() {
        let out = light("<ul><li><b>x<blockquote>y", &[], &[]);
        assert_eq!(out, "<ul><li><b>x<blockquote>y</blockquote></b></li></ul>");
    }

    #[test]
    fn a_body_or_html_end_tag_inside_the_content_does_not_end_it() {
        let out = light(
            "<body><article class=story><p>a</p></body></html><p>b</p></BODY\n></article>\
             <footer>f</footer></body>",
            &["article.story"],
            &[],
        );
        assert_eq!(out.trim(), "<p>a</p><p>b</p>");
    }

    #[test]
    fn output_does_not_depend_on_where_the_input_is_cut() {
        let html = "<body><p>a</p></BODY\n><b title='>'>b</b></HtMl ><i>c</i></Body\
                    /><p>d</p></body></html><p>e</p></h";
        let whole = light(html, &["body"], &[]);
        assert_eq!(whole, "<p>a</p><b>b</b><i>c</i><p>d</p><p>e</p>");
        for chunk in 1..html.len() {
            assert_eq!(
                light_in_chunks(html, &["body"], &[], chunk),
                whole,
                "{chunk}"
            );
        }
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_unwrapped() {
        let html = format!("{}x{}", "<b>".repeat(600), "</b>".repeat(600));
        let out = light(&html, &[], &[]);
        assert_eq!(out.matches("<b>").count(), 512);
        assert_eq!(out.matches("</b>").count(), 512);
        assert!(out.contains('x'));
    }

    #[test]
    fn a_million_stray_end_tags_leave_nothing() {
        let html = format!("<p>a{}b</p>", "</div></main>".repeat(500_000));
        assert_eq!(light(&html, &[], &[]), "<p>ab</p>");
    }
}
