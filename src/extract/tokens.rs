//! The tokenizer of detection's own parser: start tags with their attribute source, end
//! tags and text, found by scanning for `<` and skipping the rest of a tag in one step.
//! It follows the HTML tokenizer's rules for tag names, attribute quoting, comments, bogus
//! comments and raw-text elements as a browser with scripting off reads them (so the
//! images in `<noscript>` are markup), and leaves character references in place, so text
//! and attributes nobody reads are never decoded. Tree construction lives in
//! `parse.rs`.

use std::borrow::Cow;

use memchr::memchr;

use crate::charref;

/// One token. Names are as written; [`lower`] gives the canonical form.
#[derive(Debug, PartialEq)]
pub(crate) enum Token<'a> {
    /// A start tag: name, and whether it ended in `/>`; [`Tokenizer::attrs`] has its
    /// attributes.
    Start { name: &'a str, self_closing: bool },
    /// An end tag.
    End(&'a str),
    /// Text with character references still in it; see [`decode_text`].
    Text(&'a str),
    /// Text of a raw-text element (`<script>`, `<style>`...), taken literally.
    RawText(&'a str),
}

/// Elements whose content is text up to their end tag; the second value says whether
/// character references in it are decoded.
const RAW_TEXT: &[(&str, bool)] = &[
    ("script", false),
    ("style", false),
    ("xmp", false),
    ("iframe", false),
    ("noembed", false),
    ("noframes", false),
    ("title", true),
    ("textarea", true),
];

/// Whether a start tag of `name` makes what follows raw text, up to its end tag.
pub(crate) fn opens_raw_text(name: &str) -> bool {
    RAW_TEXT
        .iter()
        .any(|(raw, _)| raw.eq_ignore_ascii_case(name))
}

/// What the tokenizer reads next: markup, a raw-text element's text, or only text. A
/// document fed in pieces resumes each piece in the mode the last one stopped in.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Mode {
    /// Set after a raw-text start tag: its name, and whether its text decodes.
    raw: Option<(&'static str, bool)>,
    /// Set after `<plaintext>`: the rest is text.
    plaintext: bool,
}

impl Mode {
    /// The raw-text element whose text is being read.
    pub(crate) fn raw_text_of(self) -> Option<&'static str> {
        self.raw.map(|(name, _)| name)
    }
}

/// Tokens of a document, in order.
pub(crate) struct Tokenizer<'a> {
    html: &'a str,
    pos: usize,
    mode: Mode,
    /// Attributes of the last tag.
    attrs: Vec<(&'a str, &'a str)>,
}

impl<'a> Tokenizer<'a> {
    pub(crate) fn new(html: &'a str) -> Self {
        Self::resume(html, Mode::default())
    }

    /// Tokens of a piece of a document that starts in `mode`.
    pub(crate) fn resume(html: &'a str, mode: Mode) -> Self {
        Tokenizer {
            html,
            pos: 0,
            mode,
            attrs: Vec::new(),
        }
    }

    /// Where the next token starts (or the markup it skips first, such as a comment).
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// The mode the next token is read in.
    pub(crate) fn mode(&self) -> Mode {
        self.mode
    }

    /// Attributes of the last start tag, `(name as written, raw value)` in order.
    pub(crate) fn attrs(&self) -> &[(&'a str, &'a str)] {
        &self.attrs
    }

    /// Text of a raw-text element up to its end tag (which stays for the next call).
    fn raw_text(&mut self, name: &str, decodes: bool) -> Token<'a> {
        let b = self.html.as_bytes();
        let start = self.pos;
        let mut i = start;
        let end = loop {
            let Some(off) = memchr(b'<', &b[i..]) else {
                break b.len();
            };
            let at = i + off;
            let rest = &b[at + 1..];
            let closes = rest.first() == Some(&b'/')
                && rest.len() > name.len()
                && rest[1..=name.len()].eq_ignore_ascii_case(name.as_bytes())
                && rest.get(name.len() + 1).is_none_or(|c| {
                    matches!(c, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ' | b'/' | b'>')
                });
            if closes {
                break at;
            }
            i = at + 1;
        };
        self.pos = end;
        let text = &self.html[start..end];
        if decodes {
            Token::Text(text)
        } else {
            Token::RawText(text)
        }
    }
}

impl<'a> Iterator for Tokenizer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let b = self.html.as_bytes();
        loop {
            if self.pos >= b.len() {
                return None;
            }
            if self.mode.plaintext {
                let text = &self.html[self.pos..];
                self.pos = b.len();
                return Some(Token::RawText(text));
            }
            if let Some((name, decodes)) = self.mode.raw.take() {
                let text = self.raw_text(name, decodes);
                if !matches!(text, Token::Text("") | Token::RawText("")) {
                    return Some(text);
                }
            }
            let start = self.pos;
            let Some(off) = memchr(b'<', &b[start..]) else {
                self.pos = b.len();
                return Some(Token::Text(&self.html[start..]));
            };
            let lt = start + off;
            // Text before the tag goes out first; the tag is read on the next call.
            if lt > start {
                self.pos = lt;
                return Some(Token::Text(&self.html[start..lt]));
            }
            match b.get(lt + 1) {
                Some(c) if c.is_ascii_alphabetic() => {
                    let (token, end) = tag(self.html, lt + 1, &mut self.attrs);
                    self.pos = end;
                    if let Token::Start { name, .. } = token {
                        self.enter_content_of(name);
                    }
                    return Some(token);
                }
                Some(b'/') => match b.get(lt + 2) {
                    Some(c) if c.is_ascii_alphabetic() => {
                        let (token, end) = tag(self.html, lt + 2, &mut self.attrs);
                        self.pos = end;
                        if let Token::Start { name, .. } = token {
                            return Some(Token::End(name));
                        }
                        return Some(token);
                    }
                    // `</>` is dropped; `</` and anything else is a bogus comment.
                    Some(b'>') => self.pos = lt + 3,
                    _ => self.pos = bogus_comment_end(b, lt + 2),
                },
                Some(b'!') if b[lt + 2..].starts_with(b"--") => {
                    self.pos = comment_end(b, lt + 4);
                }
                Some(b'!' | b'?') => self.pos = bogus_comment_end(b, lt + 2),
                _ => {
                    // A lone `<` is text; the scan resumes after it.
                    let end = memchr(b'<', &b[lt + 1..]).map_or(b.len(), |o| lt + 1 + o);
                    self.pos = end;
                    return Some(Token::Text(&self.html[lt..end]));
                }
            }
        }
    }
}

impl Tokenizer<'_> {
    fn enter_content_of(&mut self, name: &str) {
        if name.eq_ignore_ascii_case("plaintext") {
            self.mode.plaintext = true;
        } else if let Some(&(raw, decodes)) =
            RAW_TEXT.iter().find(|(r, _)| r.eq_ignore_ascii_case(name))
        {
            self.mode.raw = Some((raw, decodes));
        }
    }
}

fn is_blank(c: u8) -> bool {
    matches!(c, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// The tag whose name starts at `name_start`, as a start tag with its attributes put in
/// `attrs`, and the offset after it. A tag cut off by the end of input is dropped, as
/// browsers drop it.
fn tag<'a>(
    html: &'a str,
    name_start: usize,
    attrs: &mut Vec<(&'a str, &'a str)>,
) -> (Token<'a>, usize) {
    attrs.clear();
    let b = html.as_bytes();
    let name_end = b[name_start..]
        .iter()
        .position(|&c| is_blank(c) || c == b'/' || c == b'>')
        .map_or(b.len(), |o| name_start + o);
    let name = &html[name_start..name_end];
    let mut i = name_end;
    let mut self_closing = false;
    loop {
        let Some(&c) = b.get(i) else {
            return (Token::Text(""), b.len());
        };
        match c {
            b'>' => break,
            b'/' => {
                self_closing = b.get(i + 1) == Some(&b'>');
                i += 1;
                continue;
            }
            c if is_blank(c) => {
                i += 1;
                continue;
            }
            _ => {}
        }
        self_closing = false;
        let (name, value, end) = attribute(html, i);
        attrs.push((name, value));
        i = end;
    }
    (Token::Start { name, self_closing }, i + 1)
}

/// The attribute starting at `i`: its name as written, its value with references still in
/// it, and the offset after it.
fn attribute(html: &str, start: usize) -> (&str, &str, usize) {
    let b = html.as_bytes();
    // The first character may be `=`; after it, names run to a blank, `/`, `>` or `=`.
    let mut i = start + 1;
    while i < b.len()
        && !matches!(
            b[i],
            b'\t' | b'\n' | b'\x0c' | b'\r' | b' ' | b'/' | b'>' | b'='
        )
    {
        i += 1;
    }
    let name = &html[start..i];
    let mut j = i;
    while j < b.len() && is_blank(b[j]) {
        j += 1;
    }
    if b.get(j) != Some(&b'=') {
        return (name, "", i);
    }
    j += 1;
    while j < b.len() && is_blank(b[j]) {
        j += 1;
    }
    match b.get(j) {
        Some(&q @ (b'"' | b'\'')) => match memchr(q, &b[j + 1..]) {
            Some(o) => (name, &html[j + 1..j + 1 + o], j + 1 + o + 1),
            None => (name, &html[j + 1..], b.len()),
        },
        _ => {
            let from = j;
            while j < b.len() && !is_blank(b[j]) && b[j] != b'>' {
                j += 1;
            }
            (name, &html[from..j], j)
        }
    }
}

/// End of a comment whose text starts at `from`: after `-->` or `--!>`, or at once for
/// `<!-->` and `<!--->`; the end of input when unclosed.
fn comment_end(b: &[u8], from: usize) -> usize {
    let rest = &b[from.min(b.len())..];
    if rest.starts_with(b">") {
        return from + 1;
    }
    if rest.starts_with(b"->") {
        return from + 2;
    }
    let mut i = from;
    while let Some(off) = memchr(b'>', &b[i.min(b.len())..]) {
        let gt = i + off;
        let before = &b[from..gt];
        if before.ends_with(b"--") || before.ends_with(b"--!") {
            return gt + 1;
        }
        i = gt + 1;
    }
    b.len()
}

/// End of a bogus comment (`<!doctype>`, `<?xml>`, `</ 3>`): after the next `>`.
fn bogus_comment_end(b: &[u8], from: usize) -> usize {
    memchr(b'>', &b[from.min(b.len())..]).map_or(b.len(), |o| from + o + 1)
}

/// A name in lower case, borrowed when it already is.
pub(crate) fn lower(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|c| c.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// Appends text with its character references decoded and, with `collapse`, each run of
/// two or more ASCII blanks cut to one (a newline when the run had one), in one pass.
pub(crate) fn decode_text(raw: &str, collapse: bool, out: &mut String) {
    let b = raw.as_bytes();
    let mut from = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'&' {
            out.push_str(&raw[from..i]);
            i = charref::decode_at(raw, i, false, out);
            from = i;
        } else if collapse && is_blank(c) && b.get(i + 1).is_some_and(|&d| is_blank(d)) {
            // Runs start and end at ASCII bytes, so these slices fall on char boundaries.
            out.push_str(&raw[from..i]);
            let run = i;
            while i < b.len() && is_blank(b[i]) {
                i += 1;
            }
            out.push(if b[run..i].contains(&b'\n') {
                '\n'
            } else {
                ' '
            });
            from = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&raw[from..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(html: &str) -> Vec<Token<'_>> {
        Tokenizer::new(html).collect()
    }

    #[test]
    fn tags_text_and_comments() {
        assert_eq!(
            tokens("a<P class=\"x>y\" id='q'>b<!-- <p> -->c</p x>d<!DOCTYPE html>< e"),
            vec![
                Token::Text("a"),
                Token::Start {
                    name: "P",
                    self_closing: false
                },
                Token::Text("b"),
                Token::Text("c"),
                Token::End("p"),
                Token::Text("d"),
                Token::Text("< e"),
            ]
        );
    }

    #[test]
    fn raw_text_runs_to_its_own_end_tag() {
        assert_eq!(
            tokens("<script>if (a</b) x = '</scriptx>'</SCRIPT >t<title>&amp;</title>"),
            vec![
                Token::Start {
                    name: "script",
                    self_closing: false
                },
                Token::RawText("if (a</b) x = '</scriptx>'"),
                Token::End("SCRIPT"),
                Token::Text("t"),
                Token::Start {
                    name: "title",
                    self_closing: false
                },
                Token::Text("&amp;"),
                Token::End("title"),
            ]
        );
    }

    #[test]
    fn odd_comments_and_cut_off_tags() {
        assert_eq!(tokens("a<!-->b<!--->c<!--x--!>d</ 3>e</>f<img src=x"), {
            vec![
                Token::Text("a"),
                Token::Text("b"),
                Token::Text("c"),
                Token::Text("d"),
                Token::Text("e"),
                Token::Text("f"),
                Token::Text(""),
            ]
        });
    }

    #[test]
    fn attributes_as_browsers_read_them() {
        let mut tokens = Tokenizer::new("<x a=1 B = \"two words\" c d='x\"y' =e f=g/ h/>");
        assert!(tokens.next().is_some());
        assert_eq!(
            tokens.attrs(),
            vec![
                ("a", "1"),
                ("B", "two words"),
                ("c", ""),
                ("d", "x\"y"),
                ("=e", ""),
                ("f", "g/"),
                ("h", ""),
            ]
        );
    }

    #[test]
    fn blank_runs_collapse_in_text() {
        let mut out = String::new();
        decode_text("a  \n  b\tc &amp;  d ", true, &mut out);
        assert_eq!(out, "a\nb\tc & d ");
    }
}
