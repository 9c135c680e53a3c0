//! Bytes to UTF-8. Finds a page's character encoding the way browsers do (byte-order mark,
//! then the HTTP `charset`, then a `<meta>` prescan of the first kilobyte, then a guess)
//! and decodes the body as it streams, so that everything downstream sees only UTF-8.

use std::borrow::Cow;

use encoding_rs::{Decoder, Encoding, UTF_8};

/// How many leading bytes are examined before the encoding is decided.
const SNIFF_BYTES: usize = 1024;

/// A streaming decoder that decides the encoding from the first bytes it is given.
pub(crate) struct BodyDecoder {
    http_charset: Option<&'static Encoding>,
    /// The first bytes, until there are enough to decide the encoding.
    pending: Vec<u8>,
    state: State,
}

/// How the body is being decoded.
enum State {
    /// The encoding is not decided yet.
    Sniffing,
    /// UTF-8 that has been valid so far, handed on where it lies rather than copied: a
    /// page's bytes are most of what a conversion reads. `cut` holds the start of a
    /// character the last chunk's end cut, until the next completes it.
    Utf8 { cut: Vec<u8> },
    /// Any other encoding, or UTF-8 once it held invalid bytes, which encoding_rs
    /// replaces as the standard says.
    Decoding(Decoder),
}

impl BodyDecoder {
    /// `content_type` is the upstream's `Content-Type` header, if any.
    pub fn new(content_type: Option<&str>) -> Self {
        Self {
            http_charset: content_type.and_then(charset_param),
            pending: Vec::new(),
            state: State::Sniffing,
        }
    }

    /// Decodes the next chunk; returns the UTF-8 text ready so far.
    pub fn push<'a>(&mut self, chunk: &'a [u8]) -> Cow<'a, str> {
        if matches!(self.state, State::Sniffing) {
            if self.pending.is_empty() && chunk.len() >= SNIFF_BYTES {
                // A first chunk that holds the whole sniff window is read where it lies.
                return self.start(chunk, false);
            }
            self.pending.extend_from_slice(chunk);
            if self.pending.len() < SNIFF_BYTES {
                return Cow::Borrowed("");
            }
            let head = std::mem::take(&mut self.pending);
            return Cow::Owned(self.start(&head, false).into_owned());
        }
        self.run(chunk, false)
    }

    /// Decodes whatever remains at the end of the body.
    pub fn finish(&mut self) -> String {
        if matches!(self.state, State::Sniffing) {
            let head = std::mem::take(&mut self.pending);
            return self.start(&head, true).into_owned();
        }
        self.run(&[], true).into_owned()
    }

    fn start<'a>(&mut self, head: &'a [u8], last: bool) -> Cow<'a, str> {
        let (encoding, bom) = match Encoding::for_bom(head) {
            Some(found) => found,
            None => (self.http_charset.unwrap_or_else(|| sniff(head, last)), 0),
        };
        self.state = if encoding == UTF_8 {
            State::Utf8 { cut: Vec::new() }
        } else {
            State::Decoding(encoding.new_decoder_without_bom_handling())
        };
        self.run(&head[bom..], last)
    }

    fn run<'a>(&mut self, input: &'a [u8], last: bool) -> Cow<'a, str> {
        match &mut self.state {
            State::Sniffing => Cow::Borrowed(""),
            State::Decoding(decoder) => Cow::Owned(decode(decoder, input, last)),
            State::Utf8 { cut } if cut.is_empty() => match valid_utf8(input, last, cut) {
                Some(text) => Cow::Borrowed(text),
                None => Cow::Owned(self.replace_invalid(input, last)),
            },
            State::Utf8 { cut } => {
                let mut joined = std::mem::take(cut);
                joined.extend_from_slice(input);
                match valid_utf8(&joined, last, cut) {
                    Some(text) => Cow::Owned(text.to_owned()),
                    None => Cow::Owned(self.replace_invalid(&joined, last)),
                }
            }
        }
    }

    /// Decodes `input`, which starts on a character and holds invalid UTF-8, and all
    /// that follows, with encoding_rs.
    fn replace_invalid(&mut self, input: &[u8], last: bool) -> String {
        let mut decoder = UTF_8.new_decoder_without_bom_handling();
        let text = decode(&mut decoder, input, last);
        self.state = State::Decoding(decoder);
        text
    }
}

/// `input` as UTF-8 where it lies, with a character its end cuts moved to `cut` unless
/// `last`; `None` when it holds invalid bytes.
fn valid_utf8<'a>(input: &'a [u8], last: bool, cut: &mut Vec<u8>) -> Option<&'a str> {
    match std::str::from_utf8(input) {
        Ok(text) => Some(text),
        Err(e) if e.error_len().is_none() && !last => {
            let (done, tail) = input.split_at(e.valid_up_to());
            cut.extend_from_slice(tail);
            std::str::from_utf8(done).ok()
        }
        Err(_) => None,
    }
}

fn decode(decoder: &mut Decoder, input: &[u8], last: bool) -> String {
    let capacity = decoder
        .max_utf8_buffer_length(input.len())
        .unwrap_or(input.len() * 3 + 16);
    let mut out = String::with_capacity(capacity);
    let (_, _, _) = decoder.decode_to_string(input, &mut out, last);
    out
}

/// Decodes a whole body held in memory.
pub fn decode_all(content_type: Option<&str>, body: &[u8]) -> String {
    let mut decoder = BodyDecoder::new(content_type);
    let mut text = decoder.push(body).into_owned();
    text.push_str(&decoder.finish());
    text
}

/// The encoding named by a `charset=` parameter of a `Content-Type` value. A UTF-16
/// label here means UTF-16: the header is not part of the bytes it describes, so
/// nothing contradicts it (WHATWG Encoding: `utf-16` is UTF-16LE).
pub(crate) fn charset_param(content_type: &str) -> Option<&'static Encoding> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        Encoding::for_label(value.trim().trim_matches(['"', '\'']).as_bytes())
    })
}

/// A label met inside bytes already read as ASCII cannot mean UTF-16, so browsers read it
/// as UTF-8 (the HTML prescan's rule, for `<meta>` only); doing the same keeps a lying
/// label from garbling the page.
fn utf16_as_utf8(encoding: &'static Encoding) -> &'static Encoding {
    if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE {
        UTF_8
    } else {
        encoding
    }
}

/// Without a BOM or HTTP label: UTF-8 when the bytes hold non-ASCII text that is valid
/// UTF-8 (legacy encodings almost never are, while pages re-saved as UTF-8 often keep their
/// old `<meta>` label), else a `<meta>` declaration, else UTF-8 for valid bytes, else the
/// statistical guess browsers make.
fn sniff(head: &[u8], last: bool) -> &'static Encoding {
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte sequence cut by the sniff window is still UTF-8.
        Err(e) => e.error_len().is_none() && !last,
    };
    if valid && !head.is_ascii() {
        return UTF_8;
    }
    if let Some(declared) = meta_charset(head) {
        return declared;
    }
    if valid {
        return UTF_8;
    }
    let mut detector = chardetng::EncodingDetector::new();
    detector.feed(head, last);
    detector.guess(None, true)
}

/// A simplified form of the HTML prescan: the first `<meta charset=…>` or
/// `<meta http-equiv=content-type content="…charset=…">` in the bytes.
fn meta_charset(head: &[u8]) -> Option<&'static Encoding> {
    let lower: Vec<u8> = head.iter().map(u8::to_ascii_lowercase).collect();
    let mut rest = &lower[..];
    while let Some(at) = find(rest, b"<meta") {
        rest = &rest[at + 5..];
        let end = rest.iter().position(|&b| b == b'>').unwrap_or(rest.len());
        let tag = &rest[..end];
        if let Some(pos) = find(tag, b"charset") {
            let value = tag[pos + 7..]
                .iter()
                .skip_while(|b| b.is_ascii_whitespace())
                .skip_while(|&&b| b == b'=')
                .skip_while(|b| b.is_ascii_whitespace() || **b == b'"' || **b == b'\'')
                .take_while(|b| {
                    !(b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b';' | b'/' | b'>'))
                })
                .copied()
                .collect::<Vec<u8>>();
            if let Some(encoding) = Encoding::for_label(&value) {
                return Some(utf16_as_utf8(encoding));
            }
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(encoding: &'static Encoding, text: &str) -> Vec<u8> {
        encoding.encode(text).0.into_owned()
    }

    #[test]
    fn http_charset_wins_over_guessing() {
        let bytes = encode(encoding_rs::WINDOWS_1256, "<p>سلام دنيا</p>");
        let text = decode_all(Some("text/html; charset=windows-1256"), &bytes);
        assert_eq!(text, "<p>سلام دنيا</p>");
    }

    #[test]
    fn meta_charset_is_found_in_the_first_kilobyte() {
        let mut bytes = b"<html><head><meta charset=\"windows-1251\"><title>".to_vec();
        bytes.extend(encode(encoding_rs::WINDOWS_1251, "Новости дня</title>"));
        assert!(decode_all(Some("text/html"), &bytes).contains("Новости дня"));
        let mut equiv =
            b"<meta http-equiv=Content-Type content='text/html; charset=koi8-r'>".to_vec();
        equiv.extend(encode(encoding_rs::KOI8_R, "Привет"));
        assert!(decode_all(None, &equiv).ends_with("Привет"));
    }

    #[test]
    fn a_page_decodes_alike_given_whole_or_in_pieces() {
        let mut bytes = b"<html><head><meta charset=windows-1251><title>".to_vec();
        bytes.extend(encode(
            encoding_rs::WINDOWS_1251,
            &"Новости дня ".repeat(200),
        ));
        let whole = decode_all(None, &bytes);
        assert!(whole.contains("Новости дня"), "{whole}");
        for piece in [1, 100, SNIFF_BYTES - 1, SNIFF_BYTES, SNIFF_BYTES + 1] {
            let mut decoder = BodyDecoder::new(None);
            let mut text: String = bytes.chunks(piece).map(|c| decoder.push(c)).collect();
            text.push_str(&decoder.finish());
            assert_eq!(text, whole, "{piece}");
        }
    }

    #[test]
    fn utf8_decodes_alike_cut_anywhere_invalid_bytes_included() {
        let mut valid = b"<meta charset=utf-8><p>".to_vec();
        valid.extend("Ελληνικά — 日本語 😀 ".repeat(60).as_bytes());
        let mut invalid = valid.clone();
        invalid.extend([0xE2, 0x82, b'x', 0xFF, b' ', 0xF0, 0x9F]);
        for bytes in [valid, invalid] {
            let expected = UTF_8.decode_without_bom_handling(&bytes).0.into_owned();
            assert_eq!(decode_all(None, &bytes), expected);
            for cut in 1..bytes.len() {
                let mut decoder = BodyDecoder::new(Some("text/html; charset=utf-8"));
                let mut text = decoder.push(&bytes[..cut]).into_owned();
                text.push_str(&decoder.push(&bytes[cut..]));
                text.push_str(&decoder.finish());
                assert_eq!(text, expected, "cut at {cut}");
            }
        }
    }

    #[test]
    fn utf8_text_beats_a_stale_meta_label() {
        let page = "<meta charset=gb2312><title>谷歌人工智能</title>";
        assert_eq!(decode_all(None, page.as_bytes()), page);
    }

    #[test]
    fn an_http_utf16_label_decodes_utf16() {
        let text = "<p>سلام — héllo</p>";
        for (label, encoding) in [
            ("utf-16", encoding_rs::UTF_16LE),
            ("UTF-16LE", encoding_rs::UTF_16LE),
            ("\"utf-16be\"", encoding_rs::UTF_16BE),
        ] {
            let units = text.encode_utf16();
            let bytes: Vec<u8> = if encoding == encoding_rs::UTF_16LE {
                units.flat_map(u16::to_le_bytes).collect()
            } else {
                units.flat_map(u16::to_be_bytes).collect()
            };
            let content_type = format!("text/html; charset={label}");
            assert_eq!(charset_param(&content_type), Some(encoding), "{label}");
            assert_eq!(decode_all(Some(&content_type), &bytes), text, "{label}");
        }
    }

    #[test]
    fn a_meta_utf16_label_still_means_utf8() {
        let page = "<meta charset=utf-16><p>héllo</p>";
        assert_eq!(decode_all(None, page.as_bytes()), page);
        let ascii = "<meta charset=\"utf-16be\"><p>hello</p>";
        assert_eq!(decode_all(Some("text/html"), ascii.as_bytes()), ascii);
    }

    #[test]
    fn bom_overrides_a_wrong_label() {
        let mut bytes = vec![0xEF, 0xBB, 0xBF];
        bytes.extend("héllo".as_bytes());
        assert_eq!(
            decode_all(Some("text/html; charset=iso-8859-1"), &bytes),
            "héllo"
        );
    }

    #[test]
    fn decoding_in_small_chunks_matches_decoding_at_once() {
        let text = "<p>".repeat(400) + "قيمت نفت امروز افزايش يافت";
        let bytes = encode(encoding_rs::WINDOWS_1256, &text);
        let mut decoder = BodyDecoder::new(Some("text/html;charset=\"windows-1256\""));
        let mut out = String::new();
        for chunk in bytes.chunks(7) {
            out.push_str(&decoder.push(chunk));
        }
        out.push_str(&decoder.finish());
        assert_eq!(out, text);
    }

    #[test]
    fn unlabelled_utf8_split_at_the_window_stays_utf8() {
        let text = "a".repeat(SNIFF_BYTES - 1) + "é and more";
        assert_eq!(decode_all(None, text.as_bytes()), text);
    }

    #[test]
    fn unlabelled_legacy_bytes_are_guessed() {
        let text = "Съешь же ещё этих мягких французских булок, да выпей чаю. ".repeat(20);
        let bytes = encode(encoding_rs::WINDOWS_1251, &text);
        assert_eq!(decode_all(None, &bytes), text);
    }
}
