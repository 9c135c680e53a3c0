//! Media placeholders: images, video and embeds become a few words of text. An image that
//! carries meaning (its alt text, or the caption of its figure) becomes `[Image: alt]`
//! and, when the site makes Light images, a link "image, about N KB" to its Light image on
//! the Light host; decorative images (tracking pixels, icons, `aria-hidden`, presentation
//! roles, empty or missing `alt` outside a captioned figure) vanish. Videos and embeds
//! with a title link to their source. The words ("Image", "image, about N KB") are the
//! page language's, under the site's `[site.strings]` (`lang`). Both routes, streamed and
//! detected, write their placeholders here and nowhere else.

use std::fmt;
use std::sync::Arc;

use lol_html::html_content::ContentType;
use lol_html::send::Element;

use super::links::{escape_attribute, srcset_for, LinkContext};
use super::policy::is_web;
use crate::charref::decode_attribute;
use crate::config::Site;
use crate::image::{estimate_bytes, light_path, ImageSizes};
use crate::lang::{self, Message, Overrides, Words};

/// Alt text and titles are cut to this many characters.
const MAX_LABEL_CHARS: usize = 160;

/// An image no larger than this on both sides is an icon.
const MAX_ICON_PX: u32 = 48;

/// An image this thin on either side is a tracking pixel or a spacer.
const MAX_PIXEL_PX: u32 = 2;

/// What image placeholders link to, for a site that makes Light images.
#[derive(Clone)]
pub struct ImageLinks {
    /// The site: which image URLs it fetches, and how wide its Light images are.
    pub site: Arc<Site>,
    /// The exact sizes of the Light images already made, when known.
    pub sizes: Option<ImageSizes>,
}

impl fmt::Debug for ImageLinks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageLinks")
            .field("site", &self.site.name)
            .field("sizes", &self.sizes.is_some())
            .finish()
    }
}

/// The language placeholders are written in, and the site's own words over it.
#[derive(Debug, Clone, Default)]
pub struct MediaWords {
    lang: Option<String>,
    strings: Overrides,
}

impl MediaWords {
    /// The words of `lang` (English when unknown or absent) under `strings`.
    pub fn new(lang: Option<&str>, strings: &Overrides) -> Self {
        Self {
            lang: lang.filter(|l| lang::valid_tag(l)).map(str::to_owned),
            strings: strings.clone(),
        }
    }

    /// Switches to the language a streamed page declares on its `<html>`, ahead of its
    /// body, as the page's shell does.
    pub(crate) fn declared(&mut self, lang: &str) {
        let lang = lang.trim();
        if lang::valid_tag(lang) {
            self.lang = Some(lang.to_owned());
        }
    }

    fn words(&self) -> Words<'_> {
        Words::new(self.lang.as_deref(), &self.strings)
    }

    /// `[Image: alt]`, `[Video]`: a placeholder's bracketed words.
    fn bracket(&self, kind: Message, label: Option<&str>) -> String {
        let words = self.words();
        match label {
            Some(label) => format!("[{}: {label}]", words.text(kind)),
            None => format!("[{}]", words.text(kind)),
        }
    }

    /// The link text of an image placeholder: "image, 18 KB" when `exact`, else "image,
    /// about 18 KB", in kilobytes of 1,000 bytes, rounded up.
    pub fn size_text(&self, bytes: u64, exact: bool) -> String {
        let words = self.words();
        let kb = bytes.div_ceil(1000).max(1).to_string();
        let size = words.fill(Message::SizeKb, &[("n", &words.number(&kb))]);
        let message = if exact {
            Message::ImageLink
        } else {
            Message::ImageLinkAbout
        };
        words.fill(message, &[("size", &size)])
    }
}

/// The placeholder for an `<img>`, or `None` when it should leave no trace. `captioned`:
/// the image is in a figure with a caption, which gives an image without alt text its
/// meaning. Inside a link, the placeholder is that link's text and links nowhere itself.
pub(crate) fn image_placeholder(
    el: &Element<'_, '_>,
    links: &LinkContext,
    images: Option<&ImageLinks>,
    words: &MediaWords,
    in_link: bool,
    captioned: bool,
) -> Option<String> {
    if is_decorative(el) {
        return None;
    }
    let text = match el.get_attribute("alt").as_deref().and_then(label) {
        Some(alt) => words.bracket(Message::Image, Some(&alt)),
        None if captioned && !in_link => words.bracket(Message::Image, None),
        None => return None,
    };
    let text = html_escape::encode_text(&text).into_owned();
    let link = images
        .filter(|_| !in_link)
        .and_then(|images| light_image_link(el, links, images, words));
    Some(match link {
        Some(link) => format!("{text} {link}"),
        None => text,
    })
}

/// The link to the Light image of `el`, when its source is one the site fetches.
fn light_image_link(
    el: &Element<'_, '_>,
    links: &LinkContext,
    images: &ImageLinks,
    words: &MediaWords,
) -> Option<String> {
    let rules = &images.site.images;
    let source = ["srcset", "data-srcset"]
        .iter()
        .find_map(|a| {
            el.get_attribute(a)
                .and_then(|s| srcset_for(&s, rules.width).map(str::to_owned))
        })
        .or_else(|| el.get_attribute("data-src"))
        .or_else(|| el.get_attribute("src"))
        .and_then(|raw| links.resolve(&raw))
        .filter(is_web)?;
    images.site.image_allowed(&source)?;
    let path = light_path(&source)?;
    let exact = images.sizes.as_ref().and_then(|sizes| sizes(&source));
    let text = match exact {
        Some(bytes) => words.size_text(bytes, true),
        None => {
            let side = |a: &str| dimension(el, a);
            let bytes = estimate_bytes(side("width"), side("height"), rules.width, rules.greyscale);
            words.size_text(bytes, false)
        }
    };
    Some(format!(
        "<a href=\"{}\">{}</a>",
        escape_attribute(&path),
        html_escape::encode_text(&text)
    ))
}

/// The placeholder for a video, audio or embed, or `None` when it has no title.
pub(crate) fn embed_placeholder(
    el: &Element<'_, '_>,
    links: &LinkContext,
    words: &MediaWords,
    in_link: bool,
) -> Option<String> {
    let title = ["title", "aria-label"]
        .iter()
        .find_map(|a| el.get_attribute(a).and_then(|t| label(&t)))?;
    let kind = if el.tag_name() == "audio" {
        Message::Audio
    } else {
        Message::Video
    };
    let source = ["src", "data-src", "data"]
        .iter()
        .find_map(|a| el.get_attribute(a));
    Some(linked(
        &words.bracket(kind, Some(&title)),
        source.as_deref(),
        links,
        in_link,
    ))
}

/// Inserts `html` (already escaped) in place of an element.
pub(crate) fn replace_with(el: &mut Element<'_, '_>, html: Option<String>) {
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

/// A `width` or `height` attribute in pixels (`480`, `480px`); `None` for percentages
/// and anything else.
fn dimension(el: &Element<'_, '_>, name: &str) -> Option<u32> {
    el.get_attribute(name)
        .and_then(|v| v.trim().trim_end_matches("px").parse::<u32>().ok())
}

/// Tracking pixels, spacers and icons, and images the page hides from assistive
/// technology: none of them carries the story.
fn is_decorative(el: &Element<'_, '_>) -> bool {
    let (width, height) = (dimension(el, "width"), dimension(el, "height"));
    let pixel = [width, height]
        .iter()
        .any(|side| side.is_some_and(|n| n <= MAX_PIXEL_PX));
    let icon = width
        .zip(height)
        .is_some_and(|(w, h)| w <= MAX_ICON_PX && h <= MAX_ICON_PX);
    let hidden = el
        .get_attribute("aria-hidden")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let presentation = el.get_attribute("role").is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "presentation" | "none"
        )
    });
    pixel || icon || hidden || presentation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_speak_the_page_language_under_the_site_strings() {
        let none = Overrides::new();
        let en = MediaWords::new(Some("en"), &none);
        assert_eq!(
            en.bracket(Message::Image, Some("A chart")),
            "[Image: A chart]"
        );
        assert_eq!(en.size_text(17_201, false), "image, about 18 KB");
        assert_eq!(en.size_text(12, true), "image, 1 KB");
        let mut fa = MediaWords::new(None, &none);
        fa.declared("fa");
        assert_eq!(fa.bracket(Message::Video, Some("گزارش")), "[ویدیو: گزارش]");
        assert_eq!(fa.size_text(17_000, true), "تصویر، ۱۷ کیلوبایت");
        let mut strings = Overrides::new();
        strings.insert(Message::Image, "Picture".into());
        let site = MediaWords::new(Some("fa"), &strings);
        assert_eq!(site.bracket(Message::Image, None), "[Picture]");
        fa.declared("x\"y");
        assert_eq!(fa.bracket(Message::Audio, None), "[صدا]");
    }
}
