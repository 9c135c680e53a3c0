//! A linear pass over markup before html5ever sees it. Start and end tags nested deeper
//! than a limit are dropped (their content stays), because the parser's scope checks walk
//! its stack of open elements and turn 100,000 nested elements into billions of steps; and
//! runs of blanks outside `<pre>` shrink to one, as they read as one, so the parse has less
//! to do. It understands tags, quoted attributes and raw-text elements, nothing more.

use super::dom::closes_explicitly;

/// Elements whose content is not markup.
const RAW_TEXT: &[&str] = &[
    "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes",
];

/// End of the tag starting at `start` (just past its `>`), skipping quoted values.
fn tag_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while let Some(off) = b[i..]
        .iter()
        .position(|&c| matches!(c, b'>' | b'"' | b'\''))
    {
        let at = i + off;
        if b[at] == b'>' {
            return at + 1;
        }
        // A quoted value: its closing quote, or the end of the input.
        match b[at + 1..].iter().position(|&c| c == b[at]) {
            Some(close) => i = at + 1 + close + 1,
            None => return b.len(),
        }
    }
    b.len()
}

/// Appends text with each run of two or more ASCII blanks cut to one (a newline when the
/// run had one).
fn push_collapsed(out: &mut String, text: &str) {
    let b = text.as_bytes();
    // Text is copied in spans that end only where a run is cut, not word by word.
    let mut from = 0;
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let run = i;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i - run > 1 {
            // Runs start and end at ASCII bytes, so these slices fall on char boundaries.
            out.push_str(&text[from..run]);
            out.push(if b[run..i].contains(&b'\n') {
                '\n'
            } else {
                ' '
            });
            from = i;
        }
    }
    out.push_str(&text[from..]);
}

/// The markup with tags deeper than `max_depth` removed and blank runs outside `<pre>` and
/// raw text collapsed.
pub(crate) fn normalize(html: &str, max_depth: usize) -> String {
    let b = html.as_bytes();
    let mut out = String::with_capacity(html.len());
    let mut text_from = 0;
    let mut depth = 0usize;
    let mut pre = 0usize;
    let mut raw: Option<&str> = None;
    let mut i = 0;
    while let Some(off) = html[i..].find('<') {
        let start = i + off;
        let closing = b.get(start + 1) == Some(&b'/');
        let name_start = start + 1 + usize::from(closing);
        let name_len = b[name_start..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-')
            .count();
        if name_len == 0 || !b[name_start].is_ascii_alphabetic() {
            i = start + 1;
            continue;
        }
        // Tag names are matched lower-case; a short stack buffer avoids allocating each.
        let mut buf = [0u8; 16];
        let name = if name_len <= buf.len() {
            buf[..name_len].copy_from_slice(&b[name_start..name_start + name_len]);
            buf[..name_len].make_ascii_lowercase();
            std::str::from_utf8(&buf[..name_len]).unwrap_or("")
        } else {
            ""
        };
        if let Some(r) = raw {
            if !(closing && r == name) {
                i = name_start;
                continue;
            }
        }
        let text = &html[text_from..start];
        if raw.is_some() || pre > 0 {
            out.push_str(text);
        } else {
            push_collapsed(&mut out, text);
        }
        let end = tag_end(b, start);
        let mut drop = false;
        if closing {
            raw = None;
            if name == "pre" {
                pre = pre.saturating_sub(1);
            }
            if closes_explicitly(name) {
                drop = depth > max_depth;
                depth = depth.saturating_sub(1);
            }
        } else {
            if let Some(r) = RAW_TEXT.iter().find(|r| **r == name) {
                raw = Some(*r);
            }
            if name == "pre" {
                pre += 1;
            }
            if closes_explicitly(name) {
                depth += 1;
                drop = depth > max_depth;
            }
        }
        if !drop {
            out.push_str(&html[start..end]);
        }
        text_from = end;
        i = end;
    }
    let rest = &html[text_from..];
    if raw.is_some() || pre > 0 {
        out.push_str(rest);
    } else {
        push_collapsed(&mut out, rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_only_what_is_too_deep() {
        let html = "<div a='>'><div><b>x</b><script>'<div>'</script></div></div>";
        assert_eq!(normalize(html, 3), html);
        assert_eq!(normalize(html, 1), "<div a='>'>x'<div>'</div>");
    }

    #[test]
    fn collapses_blanks_outside_pre_and_raw_text() {
        let html =
            "<p>a  \n  b\tc</p>\n\n<pre>x  \n  y</pre><script>{ \"k\":  1 }</script> <b>2 < 3</b>";
        assert_eq!(
            normalize(html, 10),
            "<p>a\nb\tc</p>\n<pre>x  \n  y</pre><script>{ \"k\":  1 }</script> <b>2 < 3</b>"
        );
    }
}
