//! Character references (`&amp;`, `&#60;`, `&#x3C;`, `&copy`) decoded as the HTML
//! standard decodes them, with its table of named references: the one decoder both the
//! Light pass and detection's parser read attribute values and text through, so they
//! agree with each other and with browsers.

use memchr::memchr;

/// An attribute value with its character references decoded.
pub(crate) fn decode_attribute(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let b = raw.as_bytes();
    let mut from = 0;
    while let Some(off) = memchr(b'&', &b[from..]) {
        let amp = from + off;
        out.push_str(&raw[from..amp]);
        from = decode_at(raw, amp, true, &mut out);
    }
    out.push_str(&raw[from..]);
    out
}

/// Appends what the reference whose `&` is at `amp` stands for (or the `&` itself when
/// none starts there) and returns the offset of the text after it. `in_attribute`
/// applies the attribute-value rule for names without `;`.
pub(crate) fn decode_at(raw: &str, amp: usize, in_attribute: bool, out: &mut String) -> usize {
    let (decoded, end) = reference(raw, amp + 1, in_attribute);
    push_decoded(decoded, out);
    end
}

fn push_decoded(decoded: Option<Decoded>, out: &mut String) {
    match decoded {
        Some(Decoded::One(c)) => out.push(c),
        Some(Decoded::Two(c, d)) => {
            out.push(c);
            out.push(d);
        }
        None => out.push('&'),
    }
}

/// What a reference stands for.
enum Decoded {
    One(char),
    Two(char, char),
}

/// The reference after an `&` at `from`, and where the text after it starts.
fn reference(raw: &str, from: usize, in_attribute: bool) -> (Option<Decoded>, usize) {
    let b = raw.as_bytes();
    if b.get(from) == Some(&b'#') {
        return numeric(raw, from + 1);
    }
    let len = b[from..]
        .iter()
        .take(MAX_NAME)
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    if len == 0 {
        return (None, from);
    }
    let name = &raw[from..from + len];
    if b.get(from + len) == Some(&b';') {
        let mut key = String::with_capacity(len + 1);
        key.push_str(name);
        key.push(';');
        if let Some(d) = named(&key) {
            return (Some(d), from + len + 1);
        }
    }
    // Older names also stand without `;`; the longest that does wins, except inside an
    // attribute value where a letter, digit or `=` follows (so URLs keep `&copy=1`).
    for end in (1..=len).rev() {
        if let Some(d) = named(&name[..end]) {
            let next = b.get(from + end);
            if in_attribute && next.is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'=') {
                return (None, from);
            }
            return (Some(d), from + end);
        }
    }
    (None, from)
}

/// Longest entity name, `;` excluded.
const MAX_NAME: usize = 32;

fn named(key: &str) -> Option<Decoded> {
    // The table also lists every prefix of a name, as (0, 0), for incremental matching.
    let &(a, b) = markup5ever::data::NAMED_ENTITIES.get(key)?;
    let a = char::from_u32(a).filter(|_| a != 0)?;
    Some(match char::from_u32(b).filter(|_| b != 0) {
        Some(b) => Decoded::Two(a, b),
        None => Decoded::One(a),
    })
}

/// A numeric reference whose digits start at `from` (after `&#`).
fn numeric(raw: &str, from: usize) -> (Option<Decoded>, usize) {
    let b = raw.as_bytes();
    let hex = matches!(b.get(from), Some(b'x' | b'X'));
    let digits_from = from + usize::from(hex);
    let digits = b[digits_from.min(b.len())..]
        .iter()
        .take_while(|c| {
            if hex {
                c.is_ascii_hexdigit()
            } else {
                c.is_ascii_digit()
            }
        })
        .count();
    if digits == 0 {
        // `&#` without digits stays as written.
        return (None, from - 1);
    }
    let text = &raw[digits_from..digits_from + digits];
    let value = u32::from_str_radix(text, if hex { 16 } else { 10 }).unwrap_or(u32::MAX);
    let mut end = digits_from + digits;
    if b.get(end) == Some(&b';') {
        end += 1;
    }
    (Some(Decoded::One(code_point(value))), end)
}

/// The character a numeric reference means, with the HTML standard's replacements.
fn code_point(value: u32) -> char {
    const C1: [u32; 32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x8D, 0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013,
        0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ];
    let value = match value {
        0x80..=0x9F => C1[(value - 0x80) as usize],
        v => v,
    };
    match value {
        0 => char::REPLACEMENT_CHARACTER,
        v => char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_decode_like_the_standard() {
        let text = "&amp; &lt;b&gt; &#65;&#x42; &#128; &copy &notit; &nosuch; &#; &fjlig; &";
        let mut out = String::new();
        let mut from = 0;
        while let Some(amp) = text[from..].find('&').map(|o| from + o) {
            out.push_str(&text[from..amp]);
            from = decode_at(text, amp, false, &mut out);
        }
        out.push_str(&text[from..]);
        assert_eq!(out, "& <b> AB € © ¬it; &nosuch; &#; fj &");
        assert_eq!(
            decode_attribute("/a?x=1&copy=2&amp;y=&lt&NewLine;&#0;&#xFFFFFFFFF;"),
            "/a?x=1&copy=2&y=<\n\u{FFFD}\u{FFFD}"
        );
    }
}
