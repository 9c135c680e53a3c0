//! The shield: the input as lol_html should read it, as it streams. A browser ignores `</body>` and
//! `</html>` inside a page's body (what follows still goes into the body and the elements
//! open there), but lol_html acts on them: it closes every element back to the `body` or
//! `html` they name, so a stray `</body>` inside an article would end a `content` subtree,
//! and the article with it.

use std::borrow::Cow;

/// End tags a browser ignores in a page's body. They reach lol_html renamed (`</b-dy`,
/// `</h-ml`): the same length, so input offsets hold, and a name no page opens, so
/// lol_html passes them on and the balance drops them. They are matched in the raw input,
/// so the same letters in a comment, a script or an attribute value change too, where
/// they are removed or harmless.
const SHIELDED_END_TAGS: [&[u8]; 2] = [b"</body", b"</html"];

/// A shielded end tag and the byte after it that shows its name is whole.
const SHIELD_SPAN: usize = 7;

/// Renames the shielded end tags of the input as it streams; see [`SHIELDED_END_TAGS`].
#[derive(Default)]
pub(crate) struct EndTagShield {
    /// The end of the last chunk, when it may begin a shielded end tag.
    held: Vec<u8>,
}

impl EndTagShield {
    /// What the last chunk held back and `chunk`, shielded, less an end that may begin a
    /// shielded end tag the next chunk finishes.
    pub fn pass<'a>(&mut self, chunk: &'a [u8]) -> Cow<'a, [u8]> {
        let mut bytes = if self.held.is_empty() {
            Cow::Borrowed(chunk)
        } else {
            let mut joined = std::mem::take(&mut self.held);
            joined.extend_from_slice(chunk);
            Cow::Owned(joined)
        };
        let shielded: Vec<usize> = memchr::memmem::find_iter(&bytes, b"</")
            .filter(|&at| bytes.get(at..at + SHIELD_SPAN).is_some_and(is_shielded))
            .collect();
        for at in shielded {
            bytes.to_mut()[at + 3] = b'-';
        }
        let cut = unfinished_at(&bytes);
        self.held = bytes[cut..].to_vec();
        match &mut bytes {
            Cow::Borrowed(b) => *b = &b[..cut],
            Cow::Owned(v) => v.truncate(cut),
        }
        bytes
    }

    /// What is held back at the end of input: no tag is finished by it.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }
}

/// Whether `span` is a shielded end tag and the byte after its name.
fn is_shielded(span: &[u8]) -> bool {
    let (tag, after) = span.split_at(SHIELD_SPAN - 1);
    SHIELDED_END_TAGS
        .iter()
        .any(|shielded| shielded.eq_ignore_ascii_case(tag))
        && matches!(
            after,
            [b'\t' | b'\n' | b'\x0c' | b'\r' | b' ' | b'/' | b'>']
        )
}

/// Where the end of `bytes` may begin a shielded end tag that more input would finish;
/// `bytes.len()` when it cannot.
fn unfinished_at(bytes: &[u8]) -> usize {
    let tail = bytes.len().saturating_sub(SHIELD_SPAN - 1);
    (tail..bytes.len())
        .find(|&at| {
            let rest = &bytes[at..];
            SHIELDED_END_TAGS
                .iter()
                .any(|shielded| shielded[..rest.len()].eq_ignore_ascii_case(rest))
        })
        .unwrap_or(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pieces` through one shield, then its end.
    fn shielded(pieces: &[&str]) -> String {
        let mut shield = EndTagShield::default();
        let mut out = Vec::new();
        for piece in pieces {
            out.extend_from_slice(&shield.pass(piece.as_bytes()));
        }
        out.extend_from_slice(&shield.finish());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn body_and_html_end_tags_are_renamed_in_place() {
        assert_eq!(
            shielded(&["a</body>b</HTML\n>c</body/>d</bodyx></htm>"]),
            "a</b-dy>b</H-ML\n>c</b-dy/>d</bodyx></htm>"
        );
    }

    #[test]
    fn a_tag_cut_between_chunks_is_renamed_whole() {
        assert_eq!(
            shielded(&["x<", "/bo", "dy", ">y</ht", "ml"]),
            "x</b-dy>y</html"
        );
        assert_eq!(shielded(&["x</ht", "ml ", "y"]), "x</h-ml y");
    }
}
