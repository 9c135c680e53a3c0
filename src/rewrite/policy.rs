//! The Light page allowlist: every element, attribute and URL scheme that may reach a
//! reader, in one table. What is not listed here is unwrapped (its tag dropped, its text
//! kept) or, for elements whose content is code, media, or raw text, removed whole.

/// What the Light pass does with an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Keep the tag with only the global attributes and those listed.
    Keep(&'static [&'static str]),
    /// Keep the tag when it carries a global attribute (a `span` marking a change of
    /// language or direction), else unwrap it.
    KeepIfAttributed,
    /// Drop the tag, keep its content. Block containers get a line break around them so
    /// the words of neighbouring blocks do not run together.
    Unwrap {
        /// Whether the tag is a block container.
        block: bool,
    },
    /// Drop the element and everything inside it.
    Remove,
    /// Replace the element with a short text placeholder (see `media.rs`).
    Placeholder(Media),
}

/// Media that become text placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// `img`: `[Image: alt]`, or the figure's caption.
    Image,
    /// `iframe`, `embed`, `object`, `video`, `audio`: `[Video: title]` with a link.
    Embed,
}

/// Attributes any kept element may carry.
pub const GLOBAL_ATTRIBUTES: &[&str] = &["lang", "dir"];

/// URL schemes a link in the body may use; any other loses its `href`.
pub const URL_SCHEMES: &[&str] = &["http", "https", "mailto"];

/// URL schemes of the web: the only ones the shell links to (canonical, original page,
/// the target of a redirect), a media placeholder links to, and a reader is redirected to.
pub(crate) const WEB_SCHEMES: &[&str] = &["http", "https"];

/// Whether `url` is on the web (http or https), so it may be linked from the shell or
/// given to a reader's browser to follow.
pub(crate) fn is_web(url: &url::Url) -> bool {
    WEB_SCHEMES.contains(&url.scheme())
}

/// The table. Tags are lower-case local names as the parser reports them.
pub fn action(tag: &str) -> Action {
    const NONE: &[&str] = &[];
    match tag {
        "a" => Action::Keep(&["href"]),
        "td" | "th" => Action::Keep(&["colspan", "rowspan"]),
        "time" => Action::Keep(&["datetime"]),
        "ol" => Action::Keep(&["start", "reversed"]),
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "p" | "br" | "hr" | "ul" | "li" | "dl" | "dt"
        | "dd" | "blockquote" | "q" | "pre" | "code" | "kbd" | "samp" | "var" | "table"
        | "caption" | "thead" | "tbody" | "tfoot" | "tr" | "figure" | "figcaption" | "em"
        | "strong" | "b" | "i" | "u" | "s" | "small" | "sub" | "sup" | "mark" | "abbr" | "cite"
        | "dfn" | "del" | "ins" | "bdi" | "bdo" | "ruby" | "rt" | "rp" | "wbr" | "details"
        | "summary" => Action::Keep(NONE),

        "span" => Action::KeepIfAttributed,
        "img" => Action::Placeholder(Media::Image),
        "iframe" | "embed" | "object" | "video" | "audio" => Action::Placeholder(Media::Embed),

        // Code, styling, raw text and everything that loads or submits something. Raw-text
        // elements (script, style, textarea, title, xmp, noembed, noframes, noscript,
        // plaintext) must never be unwrapped: their text is markup once the tag is gone.
        "script" | "style" | "noscript" | "template" | "frame" | "frameset" | "svg" | "math"
        | "canvas" | "input" | "button" | "select" | "textarea" | "option" | "optgroup"
        | "datalist" | "output" | "progress" | "meter" | "dialog" | "title" | "link" | "meta"
        | "base" | "xmp" | "noembed" | "noframes" | "plaintext" | "applet" | "param" | "source"
        | "track" | "map" | "area" | "portal" | "head" | "menu" | "search" => Action::Remove,

        "div" | "section" | "article" | "main" | "header" | "footer" | "aside" | "nav"
        | "address" | "center" | "form" | "fieldset" | "hgroup" | "legend" | "listing" => {
            Action::Unwrap { block: true }
        }
        _ => Action::Unwrap { block: false },
    }
}

/// Whether `name` may appear on an element kept with `extra` attributes.
pub(crate) fn attribute_allowed(extra: &[&str], name: &str) -> bool {
    GLOBAL_ATTRIBUTES.contains(&name) || extra.contains(&name)
}

/// The allowlist's own spelling of attribute `name` when an element `tag` keeps it through
/// the Light pass, else `None`. Article detection keeps these (and what it reads itself)
/// when it builds its tree, so both routes let the same attributes through.
///
/// ```
/// use lightmirror::rewrite::policy::allowed_attribute;
/// assert_eq!(allowed_attribute("ol", "reversed"), Some("reversed"));
/// assert_eq!(allowed_attribute("p", "lang"), Some("lang"));
/// assert_eq!(allowed_attribute("p", "start"), None);
/// assert_eq!(allowed_attribute("div", "lang"), None);
/// ```
pub fn allowed_attribute(tag: &str, name: &str) -> Option<&'static str> {
    let extra = match action(tag) {
        Action::Keep(extra) => extra,
        Action::KeepIfAttributed => &[],
        _ => return None,
    };
    GLOBAL_ATTRIBUTES
        .iter()
        .chain(extra)
        .find(|allowed| **allowed == name)
        .copied()
}

/// Checks an allowed attribute's (entity-decoded) value; `None` drops the attribute.
/// URLs are not handled here but in `links.rs`.
pub fn clean_value(name: &str, value: &str) -> Option<String> {
    let value = value.trim();
    let ok = match name {
        "lang" => crate::lang::valid_tag(value),
        "dir" => matches!(value.to_ascii_lowercase().as_str(), "ltr" | "rtl" | "auto"),
        "colspan" | "rowspan" | "start" => {
            !value.is_empty() && value.len() <= 4 && value.bytes().all(|b| b.is_ascii_digit())
        }
        "reversed" => value.is_empty() || value.eq_ignore_ascii_case("reversed"),
        "datetime" => {
            value.len() <= 64
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '+' | '-' | '.' | ' '))
        }
        _ => false,
    };
    ok.then(|| {
        if name == "dir" {
            value.to_ascii_lowercase()
        } else {
            value.to_owned()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_text_elements_are_never_unwrapped() {
        for tag in [
            "script",
            "style",
            "textarea",
            "title",
            "xmp",
            "noembed",
            "noframes",
            "noscript",
            "plaintext",
            "iframe",
        ] {
            assert!(
                !matches!(action(tag), Action::Unwrap { .. } | Action::Keep(_)),
                "{tag} would expose raw text as markup"
            );
        }
    }

    #[test]
    fn values_are_checked() {
        assert_eq!(clean_value("dir", " RTL ").as_deref(), Some("rtl"));
        assert_eq!(clean_value("dir", "sideways"), None);
        assert_eq!(clean_value("lang", "fa-IR").as_deref(), Some("fa-IR"));
        assert_eq!(clean_value("lang", "en\"><script>"), None);
        assert_eq!(clean_value("colspan", "2").as_deref(), Some("2"));
        assert_eq!(clean_value("colspan", "2;x"), None);
        assert_eq!(clean_value("onclick", "x"), None);
    }
}
