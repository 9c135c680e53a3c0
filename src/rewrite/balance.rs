//! Balance: every end tag in a Light body closes an element that body opened, and every
//! element it opens is closed by its end. The body is written inside the shell's `<main>`
//! and `<article>`, so an end tag matching nothing in it (lol_html passes such a tag
//! through as written) could close the shell's elements early, and an element left open
//! would swallow the shell's footer.
//!
//! [`Balancer`] reads the Light pass's output as a browser's tokenizer would, as it
//! streams, and keeps the stack of elements open in it. It decides nothing about which
//! elements may appear (that is `policy.rs`), only where they end.

use std::collections::HashMap;

/// Elements without content: their start tag opens nothing that needs an end tag.
const VOID_ELEMENTS: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param",
    "source", "track", "wbr",
];

/// Longest tag name read. Longer ones are no element of the allowlist: such an end tag
/// matches nothing, and such a start tag is not one the Light pass writes.
const MAX_NAME_BYTES: usize = 16;

/// Where in the markup the reader is, after the tokenizer states of the HTML standard;
/// only those that decide where a tag ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    Data,
    TagOpen,
    EndTagOpen,
    TagName,
    BeforeAttributeName,
    AttributeName,
    AfterAttributeName,
    BeforeAttributeValue,
    Quoted(u8),
    Unquoted,
    AfterQuoted,
    SelfClosing,
    BogusComment,
}

/// What one byte did to the tag being read.
enum Step {
    Next,
    Reconsume,
    TagEnded,
}

/// The stack of elements open in a Light body, fed its bytes as they are written.
#[derive(Debug)]
pub(crate) struct Balancer {
    lex: Lex,
    end_tag: bool,
    name: String,
    name_too_long: bool,
    /// The start tag being read, held back until its end decides its fate.
    start_tag: Vec<u8>,
    open: Vec<Box<str>>,
    /// How many elements of each name are open: an end tag matching none (the common
    /// stray case) is dropped without walking the stack.
    open_by_name: HashMap<Box<str>, usize>,
}

impl Default for Balancer {
    fn default() -> Self {
        Self {
            lex: Lex::Data,
            end_tag: false,
            name: String::new(),
            name_too_long: false,
            start_tag: Vec::new(),
            open: Vec::new(),
            open_by_name: HashMap::new(),
        }
    }
}

impl Balancer {
    /// How many elements are open.
    pub fn depth(&self) -> usize {
        self.open.len()
    }

    /// Passes `bytes` to `out`, dropping end tags that close nothing open and writing any
    /// other end tag as its bare name. `<!` and `<?` go out as text: comments and doctypes
    /// are removed before here, so these come only from markup lol_html passed through
    /// raw (it keeps reading input as SVG or MathML after an HTML end tag has closed them
    /// for a browser, and writes `<![CDATA[` untouched), which a browser would read as the
    /// start of a comment.
    pub fn write(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.lex == Lex::Data {
                match memchr::memchr(b'<', rest) {
                    Some(at) => {
                        out.extend_from_slice(&rest[..at]);
                        self.lex = Lex::TagOpen;
                        rest = &rest[at + 1..];
                    }
                    None => {
                        out.extend_from_slice(rest);
                        return;
                    }
                }
                continue;
            }
            let byte = rest[0];
            match self.step(byte, out) {
                Step::Next => rest = &rest[1..],
                Step::Reconsume => {}
                Step::TagEnded => {
                    rest = &rest[1..];
                    self.tag_ended(out);
                }
            }
        }
    }

    /// Closes the innermost open `name` and every element opened inside it, innermost
    /// first; nothing when no `name` is open.
    pub fn close(&mut self, name: &str, out: &mut Vec<u8>) {
        if self.open_by_name.get(name).copied().unwrap_or(0) == 0 {
            return;
        }
        while let Some(top) = self.pop(out) {
            if *top == *name {
                break;
            }
        }
    }

    /// Ends the body: a tag cut off by the end is dropped (the shell's tail would otherwise
    /// finish it) and every open element is closed.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.lex == Lex::TagOpen {
            out.extend_from_slice(b"&lt;");
        }
        self.lex = Lex::Data;
        self.start_tag.clear();
        while self.pop(out).is_some() {}
    }

    fn pop(&mut self, out: &mut Vec<u8>) -> Option<Box<str>> {
        let top = self.open.pop()?;
        if let Some(count) = self.open_by_name.get_mut(&top) {
            *count = count.saturating_sub(1);
        }
        out.extend_from_slice(b"</");
        out.extend_from_slice(top.as_bytes());
        out.push(b'>');
        Some(top)
    }

    fn push(&mut self, name: &str) {
        *self.open_by_name.entry(name.into()).or_insert(0) += 1;
        self.open.push(name.into());
    }

    fn begin_tag(&mut self, end_tag: bool, first: u8) {
        self.end_tag = end_tag;
        self.name.clear();
        self.name_too_long = false;
        self.name.push(char::from(first.to_ascii_lowercase()));
        self.start_tag.clear();
        if !end_tag {
            self.start_tag.extend_from_slice(&[b'<', first]);
        }
        self.lex = Lex::TagName;
    }

    fn step(&mut self, byte: u8, out: &mut Vec<u8>) -> Step {
        let space = matches!(byte, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ');
        let step = match self.lex {
            // `write` reads text itself.
            Lex::Data => Step::Reconsume,
            Lex::TagOpen => {
                if byte == b'/' {
                    self.lex = Lex::EndTagOpen;
                    return Step::Next;
                }
                if byte.is_ascii_alphabetic() {
                    self.begin_tag(false, byte);
                    return Step::Next;
                }
                out.extend_from_slice(b"&lt;");
                self.lex = Lex::Data;
                return Step::Reconsume;
            }
            Lex::EndTagOpen => {
                if byte.is_ascii_alphabetic() {
                    self.begin_tag(true, byte);
                } else {
                    // "</>" is nothing to a browser, and "</" before anything else a comment.
                    self.lex = if byte == b'>' {
                        Lex::Data
                    } else {
                        Lex::BogusComment
                    };
                }
                return Step::Next;
            }
            Lex::BogusComment => {
                if byte == b'>' {
                    self.lex = Lex::Data;
                }
                return Step::Next;
            }
            Lex::TagName => match byte {
                b'>' => Step::TagEnded,
                b'/' => self.go(Lex::SelfClosing),
                _ if space => self.go(Lex::BeforeAttributeName),
                _ => {
                    if self.name.len() < MAX_NAME_BYTES {
                        self.name.push(char::from(byte.to_ascii_lowercase()));
                    } else {
                        self.name_too_long = true;
                    }
                    Step::Next
                }
            },
            Lex::BeforeAttributeName => match byte {
                b'/' | b'>' => self.reconsume(Lex::AfterAttributeName),
                _ if space => Step::Next,
                // A name may begin with "=".
                b'=' => self.go(Lex::AttributeName),
                _ => self.reconsume(Lex::AttributeName),
            },
            Lex::AttributeName => match byte {
                b'/' | b'>' => self.reconsume(Lex::AfterAttributeName),
                b'=' => self.go(Lex::BeforeAttributeValue),
                _ if space => self.reconsume(Lex::AfterAttributeName),
                _ => Step::Next,
            },
            Lex::AfterAttributeName => match byte {
                b'>' => Step::TagEnded,
                b'/' => self.go(Lex::SelfClosing),
                b'=' => self.go(Lex::BeforeAttributeValue),
                _ if space => Step::Next,
                _ => self.reconsume(Lex::AttributeName),
            },
            Lex::BeforeAttributeValue => match byte {
                b'"' | b'\'' => self.go(Lex::Quoted(byte)),
                b'>' => Step::TagEnded,
                _ if space => Step::Next,
                _ => self.reconsume(Lex::Unquoted),
            },
            Lex::Quoted(quote) => {
                if byte == quote {
                    self.lex = Lex::AfterQuoted;
                }
                Step::Next
            }
            Lex::Unquoted => match byte {
                b'>' => Step::TagEnded,
                _ if space => self.go(Lex::BeforeAttributeName),
                _ => Step::Next,
            },
            Lex::AfterQuoted => match byte {
                b'>' => Step::TagEnded,
                b'/' => self.go(Lex::SelfClosing),
                _ if space => self.go(Lex::BeforeAttributeName),
                _ => self.reconsume(Lex::BeforeAttributeName),
            },
            Lex::SelfClosing => match byte {
                b'>' => Step::TagEnded,
                _ => self.reconsume(Lex::BeforeAttributeName),
            },
        };
        if !self.end_tag && !matches!(step, Step::Reconsume) {
            self.start_tag.push(byte);
        }
        step
    }

    fn go(&mut self, lex: Lex) -> Step {
        self.lex = lex;
        Step::Next
    }

    fn reconsume(&mut self, lex: Lex) -> Step {
        self.lex = lex;
        Step::Reconsume
    }

    fn tag_ended(&mut self, out: &mut Vec<u8>) {
        self.lex = Lex::Data;
        let name = std::mem::take(&mut self.name);
        if self.name_too_long {
            // Not a name this pass writes or could have opened: the tag goes.
        } else if self.end_tag {
            self.close(&name, out);
        } else {
            out.extend_from_slice(&self.start_tag);
            if !VOID_ELEMENTS.contains(&name.as_str()) {
                self.push(&name);
            }
        }
        self.start_tag.clear();
        self.name = name;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pieces` through one balancer, then its end.
    fn balanced(pieces: &[&str]) -> String {
        let mut balancer = Balancer::default();
        let mut out = Vec::new();
        for piece in pieces {
            balancer.write(piece.as_bytes(), &mut out);
        }
        balancer.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn an_end_tag_ends_where_a_browser_ends_it() {
        assert_eq!(
            balanced(&["<b>x</b title='>'><img src=y>z</i a=\">\" b>"]),
            "<b>x</b><img src=y>z"
        );
        assert_eq!(balanced(&["<p>x</p =\">\">y"]), "<p>x</p>\">y");
    }

    #[test]
    fn tags_cut_between_writes_are_read_whole() {
        assert_eq!(
            balanced(&["<p cl", "ass=\"a>b\">x<", "/P", " id='>'", ">y</m", "ain>"]),
            "<p class=\"a>b\">x</p>y"
        );
    }

    #[test]
    fn only_what_is_open_can_be_closed() {
        assert_eq!(
            balanced(&["</p><ul><li>a</ul></li>b</>c</ x>d"]),
            "<ul><li>a</li></ul>bcd"
        );
        assert_eq!(balanced(&["<p>a<br>b<hr/>c"]), "<p>a<br>b<hr/>c</p>");
    }

    #[test]
    fn markup_declarations_stay_text() {
        assert_eq!(
            balanced(&["a<![CDATA[x]]><?php ?>< b<"]),
            "a&lt;![CDATA[x]]>&lt;?php ?>&lt; b&lt;"
        );
    }

    #[test]
    fn a_start_tag_cut_off_by_the_end_is_dropped() {
        assert_eq!(balanced(&["<p>x</p><a href=\"y"]), "<p>x</p>");
    }

    #[test]
    fn closing_by_name_closes_inner_elements_first() {
        let mut balancer = Balancer::default();
        let mut out = Vec::new();
        balancer.write(b"<b><i><u>x", &mut out);
        balancer.close("i", &mut out);
        balancer.close("p", &mut out);
        assert_eq!(balancer.depth(), 1);
        assert_eq!(out, b"<b><i><u>x</u></i>");
    }
}
