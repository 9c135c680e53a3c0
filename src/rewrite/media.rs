//! Media placeholders: images, video and embeds become a few words of text, with a link
//! to the smallest version of the media for a reader who wants it. Tracking pixels and
//! images with empty `alt` vanish; an image inside a `<figure>` defers to its caption.

use lol_html::html_content::ContentType;
use lol_html::send::Element;

use super::links::{escape_attribute, smallest_srcset, LinkContext};
use super::policy::is_web;
use crate::charref::decode_attribute;

/// Alt text and titles are cut to this many characters.
const MAX_LABEL_CHARS: usize = 160;

/// The placeholder for an `<img>`, or `None` when it should leave no trace.
pub fn image_placeholder(
    el: &Element<'_, '_>,
    links: &LinkContext,
    in_link: bool,
) -> Option<String> {
    if is_tracking_pixel(el) {
        return None;
    }
    let alt = label(el.get_attribute("alt").as_deref()?)?;
    let source = ["srcset", "data-srcset"]
        .iter()
        .find_map(|a| {
            el.get_attribute(a)
                .and_then(|s| smallest_srcset(&s).map(str::to_owned))
        })
        .or_else(|| el.get_attribute("data-src"))
        .or_else(|| el.get_attribute("src"));
    let text = format!("[Image: {alt}]");
    Some(linked(&text, source.as_deref(), links, in_link))
}

/// The placeholder for a video, audio or embed, or `None` when it has no title.
pub fn embed_placeholder(
    el: &Element<'_, '_>,
    links: &LinkContext,
    in_link: bool,
) -> Option<String> {
    let title = ["title", "aria-label"]
        .iter()
        .find_map(|a| el.get_attribute(a).and_then(|t| label(&t)))?;
    let kind = if el.tag_name() == "audio" {
        "Audio"
    } else {
        "Video"
    };
    let source = ["src", "data-src", "data"]
        .iter()
        .find_map(|a| el.get_attribute(a));
    Some(linked(
        &format!("[{kind}: {title}]"),
        source.as_deref(),
        links,
        in_link,
    ))
}

/// Inserts `html` (already escaped) in place of an element.
pub fn replace_with(el: &mut Element<'_, '_>, html: Option<String>) {
    match html {
        Some(html) => el.replace(&html, ContentType::Html),
        None => el.remove(),
    }
}

fn linked(text: &str, source: Option<&str>, links: &LinkContext, in_link: bool) -> String {
    let text = html_escape::encode_text(text);
    let target = source
        .filter(|_| !in_link)
        .and_then(|s| links.resolve(s))
        .filter(is_web);
    match target {
        Some(url) => format!("<a href=\"{}\">{text}</a>", escape_attribute(url.as_str())),
        None => text.into_owned(),
    }
}

/// Decoded, whitespace-collapsed, shortened; `None` when nothing is left.
fn label(raw: &str) -> Option<String> {
    let decoded = decode_attribute(raw);
    let words: Vec<&str> = decoded.split_whitespace().collect();
    if words.is_empty() {
        return None;
    }
    let joined = words.join(" ");
    Some(match joined.char_indices().nth(MAX_LABEL_CHARS) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    })
}

fn is_tracking_pixel(el: &Element<'_, '_>) -> bool {
    ["width", "height"].iter().any(|a| {
        el.get_attribute(a)
            .and_then(|v| v.trim().trim_end_matches("px").parse::<u32>().ok())
            .is_some_and(|n| n <= 2)
    })
}
