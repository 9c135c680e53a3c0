//! How long a run of text reads: its length with ends trimmed and blank runs counted as
//! one character, in a form that concatenates, so the length of a subtree follows from
//! the measures of its text nodes without reading their bytes again.

/// Whitespace-normalised text length of a stretch of text, in a form that concatenates:
/// the trimmed length, and whether blanks lead or trail it (for an all-blank stretch,
/// `lead` says whether it had any).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    nonempty: bool,
    lead: bool,
    pub(crate) core: u32,
    trail: bool,
}

impl Span {
    /// The span of a text and its comma count, in one pass. ASCII bytes are classified as
    /// they are; only other characters are decoded.
    pub(crate) fn of(text: &str) -> (Span, u32) {
        let mut span = Span::default();
        let mut commas = 0;
        let mut pending = false;
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let (blank, comma) = if b[i].is_ascii() {
                let c = b[i];
                i += 1;
                (matches!(c, b' ' | b'\t'..=b'\r'), c == b',')
            } else {
                // `i` stays on a char boundary: it only ever moves by whole chars.
                let c = text[i..].chars().next().unwrap_or(' ');
                i += c.len_utf8();
                (c.is_whitespace(), is_comma(c))
            };
            commas += u32::from(comma);
            if blank {
                if span.nonempty {
                    pending = true;
                } else {
                    span.lead = true;
                }
            } else {
                if pending {
                    span.core += 1;
                    pending = false;
                }
                span.nonempty = true;
                span.core += 1;
            }
        }
        span.trail = pending;
        (span, commas)
    }

    pub(crate) fn then(self, b: Span) -> Span {
        match (self.nonempty, b.nonempty) {
            (false, false) => Span {
                lead: self.lead || b.lead,
                ..Span::default()
            },
            (false, true) => Span {
                lead: self.lead || b.lead,
                ..b
            },
            (true, false) => Span {
                trail: self.trail || b.lead,
                ..self
            },
            (true, true) => Span {
                core: self.core + b.core + u32::from(self.trail || b.lead),
                trail: b.trail,
                ..self
            },
        }
    }
}

fn is_comma(c: char) -> bool {
    matches!(
        c,
        ',' | '\u{060C}'
            | '\u{FE50}'
            | '\u{FE10}'
            | '\u{FE11}'
            | '\u{2E41}'
            | '\u{2E34}'
            | '\u{2E32}'
            | '\u{FF0C}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIECES: &[&str] = &[
        "",
        " ",
        "a",
        " a",
        "a ",
        "  a  b ",
        "\u{a0}x\u{3000}",
        "\t\n",
        "é, ü",
        "، b",
        "\u{2003}",
        "word",
        ",,",
    ];

    fn collapsed_len(text: &str) -> u32 {
        text.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .count() as u32
    }

    #[test]
    fn spans_join_as_their_texts_do() {
        for a in PIECES {
            for b in PIECES {
                let joined = format!("{a}{b}");
                let (whole, commas) = Span::of(&joined);
                let ((sa, ca), (sb, cb)) = (Span::of(a), Span::of(b));
                assert_eq!(sa.then(sb).core, whole.core, "{a:?} {b:?}");
                assert_eq!(whole.core, collapsed_len(&joined), "{joined:?}");
                assert_eq!(ca + cb, commas, "{joined:?}");
            }
        }
    }
}
