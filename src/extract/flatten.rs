//! A linear guard against absurd nesting, run on markup before html5ever sees it: start and
//! end tags nested deeper than a limit are dropped (their content stays), because the
//! parser's scope checks walk its stack of open elements and turn 100,000 nested elements
//! into billions of steps. It understands tags, quoted attributes and raw-text elements,
//! nothing more.

use std::borrow::Cow;

use super::dom::is_void;

/// Elements whose content is not markup.
const RAW_TEXT: &[&str] = &[
    "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes",
];

/// Whether an element's end tag is required, so its end reliably closes it; elements whose
/// end tag may be implied never nest deeply and stay out of the count.
fn closes_explicitly(name: &str) -> bool {
    !is_void(name)
        && !matches!(
            name,
            "p" | "li"
                | "dt"
                | "dd"
                | "tr"
                | "td"
                | "th"
                | "thead"
                | "tbody"
                | "tfoot"
                | "option"
                | "optgroup"
                | "colgroup"
                | "caption"
                | "rb"
                | "rt"
                | "rtc"
                | "rp"
                | "html"
                | "head"
                | "body"
        )
}

/// End of the tag starting at `start` (just past its `>`), skipping quoted values.
fn tag_end(b: &[u8], start: usize) -> usize {
    let mut quote = None;
    for (i, &c) in b.iter().enumerate().skip(start + 1) {
        match (quote, c) {
            (None, b'"' | b'\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, b'>') => return i + 1,
            _ => {}
        }
    }
    b.len()
}

/// The markup with tags deeper than `max_depth` removed; borrowed when none are.
pub(crate) fn flatten_deep(html: &str, max_depth: usize) -> Cow<'_, str> {
    let b = html.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut depth = 0usize;
    let mut raw: Option<String> = None;
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
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
        let name = html[name_start..name_start + name_len].to_ascii_lowercase();
        if let Some(r) = &raw {
            if !(closing && *r == name) {
                i = name_start;
                continue;
            }
        }
        let end = tag_end(b, start);
        let mut drop = false;
        if closing {
            raw = None;
            if closes_explicitly(&name) {
                drop = depth > max_depth;
                depth = depth.saturating_sub(1);
            }
        } else {
            if RAW_TEXT.contains(&name.as_str()) {
                raw = Some(name.clone());
            }
            if closes_explicitly(&name) {
                depth += 1;
                drop = depth > max_depth;
            }
        }
        if drop {
            let o = out.get_or_insert_with(|| String::with_capacity(html.len()));
            o.push_str(&html[copied..start]);
            copied = end;
        }
        i = end;
    }
    match out {
        None => Cow::Borrowed(html),
        Some(mut o) => {
            o.push_str(&html[copied..]);
            Cow::Owned(o)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_only_what_is_too_deep() {
        let html = "<div a='>'><div><b>x</b><script>'<div>'</script></div></div>";
        assert!(matches!(flatten_deep(html, 3), Cow::Borrowed(_)));
        assert_eq!(flatten_deep(html, 1), "<div a='>'>x'<div>'</div>");
    }
}
