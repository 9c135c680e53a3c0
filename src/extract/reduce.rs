//! Detection's input, reduced as it arrives: each decoded chunk of a page bound for
//! detection is read by detection's own [`Tokenizer`], so the page held until detection
//! runs is what detection reads and little more. Each write tokenises what is complete and
//! keeps the incomplete tail (a tag, comment or raw-text end tag cut between chunks) for
//! the next, so a page reduces alike however it is cut. It drops comments, doctypes,
//! elements [`is_dropped`] or [`is_hidden`] name that end where the tokenizer alone says
//! (void elements, and raw-text ones such as scripts and styles, with their text), and
//! every attribute [`kept_attr`] does not name, and it shrinks each run of white space in
//! the body's text to the one character the Light pass would make of it; which elements,
//! attributes and hidden markers count stays in `dom.rs`, the one place detection's parser
//! also reads them.
//! Since reduction and parsing share one tokenizer, a dropped element's text ends where
//! the parser's would; other dropped or hidden elements stay, marked `hidden`, for the
//! parser to drop with the content its tree construction gives them. Pages with operator
//! selectors, which may name any attribute or count any sibling, lose their comments only.

use memchr::memrchr;

use super::dom::{is_dropped, is_hidden, is_void, kept_attr};
use super::tokens::{lower, opens_raw_text, Mode, Token, Tokenizer};
use crate::charref::decode_attribute;
use crate::rewrite::squeezed;

/// Why a page could not be reduced.
#[derive(Debug, thiserror::Error)]
pub enum ReduceError {
    /// A single tag or comment needed more memory than the per-request limit allows.
    #[error("the page needs more memory to read than the limit allows")]
    MemoryLimit,
}

/// A page being reduced: write decoded chunks in, take the reduced page at the end.
pub struct Reducer {
    /// The incomplete tail of what was written, read again with the next chunk.
    pending: Vec<u8>,
    /// The mode the tokenizer resumes `pending` in.
    mode: Mode,
    memory_limit: usize,
    out: Output,
}

/// The reduced page as it grows.
struct Output {
    selectors: bool,
    html: String,
    /// A dropped raw-text element is open: its text and end tag go too.
    in_dropped_raw: bool,
    /// Open elements whose text keeps its white space as written (`pre` and its kin).
    verbatim: usize,
    /// The run of white space that ended the last text, squeezed, not written yet since
    /// the next text (in this chunk or the next) may continue it.
    blank: Option<char>,
}

impl Reducer {
    /// Starts a pass. `selectors` says the site has operator selectors, which see the page
    /// as sent but for its comments. `memory_limit` bounds the tail held between chunks (a
    /// tag or comment cut between two).
    pub fn new(selectors: bool, memory_limit: usize) -> Self {
        Self {
            pending: Vec::new(),
            mode: Mode::default(),
            memory_limit,
            out: Output {
                selectors,
                html: String::new(),
                in_dropped_raw: false,
                verbatim: 0,
                blank: None,
            },
        }
    }

    /// Feeds the next chunk of (UTF-8) HTML.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), ReduceError> {
        // The reduced chunk is no longer than the chunk (but for a rare `hidden` marker):
        // room for it up front spares a page given whole the copies of a growing buffer.
        self.out.html.reserve(chunk.len());
        if self.pending.is_empty() {
            self.feed(chunk, false)
        } else {
            let mut pending = std::mem::take(&mut self.pending);
            pending.extend_from_slice(chunk);
            self.feed(&pending, false)
        }
    }

    /// Feeds the next chunk of decoded text: [`Reducer::write`] without checking again
    /// that it is UTF-8 when nothing is held from the last chunk.
    pub fn write_str(&mut self, chunk: &str) -> Result<(), ReduceError> {
        if !self.pending.is_empty() {
            return self.write(chunk.as_bytes());
        }
        self.out.html.reserve(chunk.len());
        self.reduce(chunk, &[], false)
    }

    /// Ends the pass: the reduced page.
    pub fn end(mut self) -> Result<String, ReduceError> {
        let pending = std::mem::take(&mut self.pending);
        self.feed(&pending, true)?;
        self.out.write_blank();
        Ok(self.out.html)
    }

    /// Reduces `bytes` (the held tail and the new chunk), holding what is incomplete
    /// unless `last`.
    fn feed(&mut self, bytes: &[u8], last: bool) -> Result<(), ReduceError> {
        // A character cut between chunks waits for the rest of it.
        let (text, tail) = match std::str::from_utf8(bytes) {
            Ok(text) => (std::borrow::Cow::Borrowed(text), &[][..]),
            Err(e) if e.error_len().is_none() && !last => {
                let (done, tail) = bytes.split_at(e.valid_up_to());
                (String::from_utf8_lossy(done), tail)
            }
            Err(_) => (String::from_utf8_lossy(bytes), &[][..]),
        };
        self.reduce(&text, tail, last)
    }

    /// Reduces `text`, holding what is incomplete (and `tail`, a character cut after it)
    /// unless `last`.
    fn reduce(&mut self, text: &str, tail: &[u8], last: bool) -> Result<(), ReduceError> {
        let (held, mode) = self.out.reduce(text, self.mode, last);
        self.mode = mode;
        let mut pending = text.as_bytes()[held..].to_vec();
        pending.extend_from_slice(tail);
        if pending.len() > self.memory_limit {
            return Err(ReduceError::MemoryLimit);
        }
        self.pending = pending;
        Ok(())
    }
}

/// Where `token`, a slice of `text`, starts in it.
fn offset(text: &str, token: &str) -> usize {
    token.as_ptr() as usize - text.as_ptr() as usize
}

impl Output {
    /// Appends the reduction of `text` read from `mode`; the offset and mode of the part
    /// held back as incomplete (none when `last`).
    fn reduce(&mut self, text: &str, mode: Mode, last: bool) -> (usize, Mode) {
        let len = text.len();
        let mut tokens = Tokenizer::resume(text, mode);
        loop {
            let (at, before) = (tokens.pos(), tokens.mode());
            let Some(token) = tokens.next() else {
                // An unclosed comment may close in the next chunk.
                let held = if last { len } else { at };
                self.skipped(&text[at..held]);
                return (held, if held < len { before } else { tokens.mode() });
            };
            let end = tokens.pos();
            let start = match token {
                // A tag cut off by the end of input is a bare `""`: nothing of it is text.
                Token::Text("") => end,
                Token::Text(t) | Token::RawText(t) => offset(text, t),
                Token::Start { name, .. } => offset(text, name) - 1,
                Token::End(name) => offset(text, name) - 2,
            };
            if !last {
                if let Some(held) = incomplete(text, &token, start, before, end) {
                    if held > start {
                        self.skipped(&text[at..start]);
                        self.token(
                            &text[start..held],
                            &token_like(&token, &text[start..held]),
                            &[],
                            before,
                        );
                    }
                    return (held.max(at), before);
                }
            }
            self.skipped(&text[at..start]);
            self.token(&text[start..end], &token, tokens.attrs(), before);
        }
    }

    /// Markup the tokenizer skips (comments, doctypes, bogus comments): operator
    /// selectors' pages keep all but the comments.
    fn skipped(&mut self, markup: &str) {
        if !self.selectors || markup.is_empty() {
            return;
        }
        let mut rest = markup;
        while !rest.is_empty() {
            let is_comment = rest.starts_with("<!--");
            let next = rest[1..].find('<').map_or(rest.len(), |o| o + 1);
            if !is_comment {
                self.html.push_str(&rest[..next]);
            }
            rest = &rest[next..];
        }
    }

    /// Appends `token` (`source` as written), read in `mode`.
    fn token(&mut self, source: &str, token: &Token<'_>, attrs: &[(&str, &str)], mode: Mode) {
        if self.selectors {
            self.html.push_str(source);
            return;
        }
        match *token {
            Token::Text(t) if mode.raw_text_of().is_none() && self.verbatim == 0 => self.text(t),
            Token::Text(t) | Token::RawText(t) => {
                if !self.in_dropped_raw {
                    self.write_blank();
                    self.html.push_str(t);
                }
            }
            Token::End(name) => {
                if std::mem::take(&mut self.in_dropped_raw) {
                    return;
                }
                if is_verbatim(name) {
                    self.verbatim = self.verbatim.saturating_sub(1);
                }
                self.write_blank();
                self.html.push_str("</");
                self.html.push_str(name);
                self.html.push('>');
            }
            Token::Start { name, self_closing } => self.start(name, self_closing, attrs),
        }
    }

    fn start(&mut self, written: &str, self_closing: bool, attrs: &[(&str, &str)]) {
        let name = lower(written);
        let attr = |key: &str| {
            attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| decode_attribute(v))
        };
        let hidden = is_hidden(attr);
        if hidden || is_dropped(&name, attr) {
            if is_void(&name) {
                return;
            }
            if opens_raw_text(&name) {
                self.in_dropped_raw = true;
                return;
            }
        }
        if is_verbatim(&name) {
            self.verbatim += 1;
        }
        self.write_blank();
        self.html.push('<');
        self.html.push_str(written);
        for (key, value) in attrs {
            if kept_attr(&name, &lower(key)).is_none() {
                continue;
            }
            self.html.push(' ');
            self.html.push_str(key);
            if !value.is_empty() {
                let quote = if value.contains('"') { '\'' } else { '"' };
                self.html.push('=');
                self.html.push(quote);
                if value.contains('"') && value.contains('\'') {
                    self.html.push_str(&value.replace('\'', "&#39;"));
                } else {
                    self.html.push_str(value);
                }
                self.html.push(quote);
            }
        }
        if hidden {
            // `hidden` alone is what `is_hidden` reads first; the style or aria marker that
            // hid the element may have gone with the unread attributes.
            self.html.push_str(" hidden");
        }
        self.html.push_str(if self_closing { "/>" } else { ">" });
    }

    /// Appends text of the body with each run of ASCII white space [`squeezed`], as the
    /// Light pass squeezes it: all that detection's measures and the plain text read of
    /// it. Indentation between tags is a large part of a page, and a page in flight holds
    /// its reduced form until detection runs. The text's last run waits in `blank`, so a
    /// run cut between chunks, or between texts with a dropped element or comment in
    /// between, is still one run.
    fn text(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let len = bytes.len();
        // Text up to `from` is written or waits in `blank`.
        let mut from = 0;
        let mut at = 0;
        while at < len {
            let b = bytes[at];
            if b > b' ' {
                at += 1;
                continue;
            }
            // Most white space is one space or newline between two words: it stays where
            // it is and goes out with them.
            if matches!(b, b' ' | b'\n') && at > 0 && bytes.get(at + 1).is_some_and(|&n| n > b' ') {
                at += 2;
                continue;
            }
            if !b.is_ascii_whitespace() {
                at += 1;
                continue;
            }
            let run = at;
            while at < len && bytes[at].is_ascii_whitespace() {
                at += 1;
            }
            if run > from {
                self.write_blank();
                // Runs are ASCII, so their ends are character boundaries.
                self.html.push_str(&text[from..run]);
            }
            let squeezed = squeezed(&bytes[run..at]);
            // The run continues the one waiting, if any: a line break in either part wins.
            self.blank = Some(self.blank.filter(|&c| c == '\n').unwrap_or(squeezed));
            from = at;
        }
        if from < len {
            self.write_blank();
            self.html.push_str(&text[from..]);
        }
    }

    /// Writes the run of white space that `text` left waiting, if any.
    fn write_blank(&mut self) {
        if let Some(blank) = self.blank.take() {
            self.html.push(blank);
        }
    }
}

/// Elements whose text keeps its white space, as the Light pass and the plain text keep
/// it; `textarea` and `xmp` are raw text, which is never squeezed.
fn is_verbatim(name: &str) -> bool {
    ["pre", "listing", "plaintext"]
        .iter()
        .any(|v| v.eq_ignore_ascii_case(name))
}

/// The text token standing for the emitted part of a raw-text token held in part.
fn token_like<'a>(token: &Token<'_>, part: &'a str) -> Token<'a> {
    match token {
        Token::RawText(_) => Token::RawText(part),
        _ => Token::Text(part),
    }
}

/// Where to hold `text` from when `token` (from `start` to `end`, read in `before`) may
/// read otherwise once the next chunk follows: a tag or lone `<` cut by the chunk's end,
/// or a raw-text element's text whose end tag may still be coming.
fn incomplete(
    text: &str,
    token: &Token<'_>,
    start: usize,
    before: Mode,
    end: usize,
) -> Option<usize> {
    let len = text.len();
    match token {
        // Held from where its reading began (`max` with it).
        Token::Text("") if end == len => return Some(0),
        Token::Text("<") if end == len => return Some(start),
        _ => {}
    }
    if let (Some(raw), Token::Text(_) | Token::RawText(_)) = (before.raw_text_of(), token) {
        if end == len {
            // Only the last `</name` may still turn out to be the end tag.
            let from = len.saturating_sub(raw.len() + 1).max(start);
            return Some(memrchr(b'<', &text.as_bytes()[from..]).map_or(len, |o| from + o));
        }
        // The end tag was taken as one because the chunk ended right after its name.
        return (end + 2 + raw.len() >= len).then_some(end);
    }
    None
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
            "<html lang=\"en\"><head><title>T</title>\
            <script type=\"application/ld+json\">{\"a\":1}</script>\
            <meta property=\"og:title\" content=\"Head\"></head><body>\
            <div class=\"story\"><p>One<svg><text>s</text></svg>\
            <img src=\"/i.jpg\" srcset=\"/a 1x\" alt=\"A\"></p>\
            <div hidden>Modal</div><p hidden>Icon</p></div></body></html>"
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
    fn tricky_pages_reduce_alike_cut_at_every_byte() {
        let pages = [
            "<!DOCTYPE html><p a='x>y' b=\"q\">t&amp;<!-- a -- > b --!><!--->x<!-->y</p>",
            "<script>a</scr</script </scriptx>b</script><style>p{}</style\t>z</STYLE>w",
            "<title>a<b>&lt;</title><textarea>1</textarea2></textarea>2<xmp></xm</xmp>",
            "<![CDATA[x]]><?xml v?></ 3>e</>f< g<<h<img hidden src=x><p>\u{e9}\u{1f600}</p>",
            "<svg><path d=1/></svg><div><img src=x",
            "<plaintext><p>all</p> text",
        ];
        for html in pages {
            let whole = reduce(html, html.len());
            for cut in 1..html.len() {
                let mut reducer = Reducer::new(false, 1 << 20);
                reducer.write(&html.as_bytes()[..cut]).expect("write");
                reducer.write(&html.as_bytes()[cut..]).expect("write");
                assert_eq!(reducer.end().expect("end"), whole, "{html:?} cut at {cut}");
                if let (Some(head), Some(rest)) = (html.get(..cut), html.get(cut..)) {
                    let mut reducer = Reducer::new(false, 1 << 20);
                    reducer.write_str(head).expect("write");
                    reducer.write_str(rest).expect("write");
                    assert_eq!(reducer.end().expect("end"), whole, "{html:?} cut at {cut}");
                }
            }
        }
    }

    #[test]
    fn white_space_runs_shrink_to_one_character_but_in_pre_title_and_scripts() {
        let html = "<body>\n    <div>\n\t<p>One  two\t three\r\nfour <b> five </b></p>  \
            <!-- c -->\n  <p>six</p><pre>  a\n\n   b</pre><title> t  u </title>\
            <script type=application/ld+json>{ \"a\":  1 }</script>  \u{a0}  x</div></body>";
        let whole = reduce(html, html.len());
        assert_eq!(
            whole,
            "<body>\n<div>\n<p>One two three\nfour <b> five </b></p>\n<p>six</p>\
            <pre>  a\n\n   b</pre><title> t  u </title>\
            <script type=\"application/ld+json\">{ \"a\":  1 }</script> \u{a0} x</div></body>"
        );
        for cut in 1..html.len() {
            if !html.is_char_boundary(cut) {
                continue;
            }
            let mut reducer = Reducer::new(false, 1 << 20);
            reducer.write(&html.as_bytes()[..cut]).expect("write");
            reducer.write(&html.as_bytes()[cut..]).expect("write");
            assert_eq!(reducer.end().expect("end"), whole, "cut at {cut}");
        }
    }

    #[test]
    fn a_tag_over_the_limit_fails_the_page() {
        let mut reducer = Reducer::new(false, 16);
        assert!(reducer.write(b"<p>text of any length, whole").is_ok());
        assert!(matches!(
            reducer.write(b"<a href=\"/a/very/long/address\""),
            Err(ReduceError::MemoryLimit)
        ));
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
