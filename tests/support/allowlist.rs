//! An independent reading of a finished Light page: the page is parsed again the way a
//! browser parses it (html5ever, scripting on), and every node is held against the
//! allowlist of `lightmirror::rewrite::policy` and the fixed shell of `page.rs`. Whatever
//! the Light pass believed about its input, this is what a reader's browser would build.
//! Its tags, read by html5ever's tokenizer, must also nest: an end tag that closes nothing
//! of the body could close the shell's `<main>` early.

use std::fmt;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use lightmirror::page::CSS;
use lightmirror::rewrite::policy::{self, Action, URL_SCHEMES};
use scraper::{ElementRef, Html, Node};
use url::Url;

const HTML_NS: &str = "http://www.w3.org/1999/xhtml";

/// Which promise of a Light page a node breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// An element neither the allowlist nor the shell produces.
    Element,
    /// A shell element outside the part of the page it belongs to, or repeated.
    Placement,
    /// An SVG or MathML element.
    ForeignElement,
    /// An attribute the element may not carry.
    Attribute,
    /// An allowed attribute with a value the policy would not have written.
    AttributeValue,
    /// An `on*` event handler.
    EventHandler,
    /// An inline `style` attribute.
    InlineStyle,
    /// `srcdoc`, `formaction` or `xlink:href`: markup or URLs in disguise.
    HiddenActive,
    /// An `href` whose scheme is not allowed, or that leaves the site without naming its
    /// scheme and host.
    UrlScheme,
    /// A `<base>` element.
    Base,
    /// A `<meta http-equiv>`.
    MetaHttpEquiv,
    /// A comment node.
    Comment,
    /// A second `<style>`, or one whose text is not the shell's stylesheet.
    Style,
    /// An end tag that does not close the innermost open element, or an element still
    /// open at the end of the page.
    Nesting,
}

/// One problem found in a page.
#[derive(Debug, Clone)]
pub struct Violation {
    /// The promise broken.
    pub rule: Rule,
    /// The offending node, briefly.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.rule, self.detail)
    }
}

/// Elements the shell writes and that may appear only in the head, with the attributes
/// the shell gives them.
const HEAD_ELEMENTS: &[(&str, &[&str])] = &[
    ("meta", &["charset", "name", "content"]),
    ("title", &[]),
    ("link", &["rel", "href", "type", "title"]),
    ("style", &[]),
];

/// The shell's own body landmarks. The allowlist unwraps these when upstream sends them,
/// so each appears at most once.
const SHELL_LANDMARKS: &[&str] = &["header", "main", "article", "footer"];

/// The shell's navigation chrome: each element, its attributes, and the parent it must
/// sit in (the sections line and search form in the header, the pagination line in main).
/// The allowlist removes or unwraps all of them when upstream sends them.
const SHELL_CHROME: &[(&str, &[&str], &[&str])] = &[
    ("nav", &["aria-label"], &["header", "main"]),
    ("form", &["role", "action"], &["header"]),
    ("input", &["type", "name", "aria-label", "value"], &["form"]),
    ("button", &[], &["form"]),
];

/// The `<meta>` elements the shell writes, as (attribute, value) pairs.
const SHELL_META: &[&[(&str, &str)]] = &[
    &[("charset", "utf-8")],
    &[
        ("name", "viewport"),
        ("content", "width=device-width,initial-scale=1"),
    ],
    &[("name", "referrer"), ("content", "no-referrer")],
];

/// Elements that have no end tag.
const VOID_ELEMENTS: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param",
    "source", "track", "wbr",
];

/// Every violation in `page`: tags out of nesting, then nodes in document order.
pub fn violations(page: &str) -> Vec<Violation> {
    let mut found = nesting(page);
    let document = Html::parse_document(page);
    let mut report = |rule, detail: String| found.push(Violation { rule, detail });
    let mut styles = 0;
    let mut landmarks: Vec<&str> = Vec::new();
    for node in document.tree.root().descendants() {
        let element = match node.value() {
            Node::Comment(comment) => {
                report(Rule::Comment, format!("<!--{}-->", &**comment));
                continue;
            }
            Node::ProcessingInstruction(pi) => {
                report(Rule::Comment, format!("<?{} {}>", &*pi.target, &*pi.data));
                continue;
            }
            Node::Element(element) => element,
            _ => continue,
        };
        let name = element.name();
        let tag = format!("<{name}>");
        if &*element.name.ns != HTML_NS {
            report(
                Rule::ForeignElement,
                format!("{tag} in {}", &*element.name.ns),
            );
            continue;
        }
        let in_head = node
            .ancestors()
            .any(|a| ElementRef::wrap(a).is_some_and(|e| e.value().name() == "head"));
        let parent = node
            .parent()
            .and_then(ElementRef::wrap)
            .map(|p| p.value().name().to_owned())
            .unwrap_or_default();
        let chrome = SHELL_CHROME
            .iter()
            .find(|(n, _, _)| *n == name)
            .filter(|(_, _, parents)| parents.contains(&parent.as_str()));
        let shell_attributes: Option<&[&str]> = match name {
            "html" => Some(&["lang", "dir"]),
            "head" | "body" => Some(&[]),
            _ if chrome.is_some() => chrome.map(|(_, attributes, _)| *attributes),
            // The pagination line's links say which way they go.
            "a" if parent == "p"
                && node
                    .ancestors()
                    .any(|a| ElementRef::wrap(a).is_some_and(|e| e.value().name() == "nav")) =>
            {
                Some(&["href", "rel"])
            }
            _ => HEAD_ELEMENTS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, attributes)| *attributes),
        };
        let allowed: Vec<&str> = match (shell_attributes, policy::action(name)) {
            (Some(attributes), _) => attributes.to_vec(),
            (None, Action::Keep(extra)) => policy::GLOBAL_ATTRIBUTES
                .iter()
                .chain(extra)
                .copied()
                .collect(),
            (None, Action::KeepIfAttributed) => policy::GLOBAL_ATTRIBUTES.to_vec(),
            (None, _) if SHELL_LANDMARKS.contains(&name) => Vec::new(),
            (None, _) => {
                let rule = if name == "base" {
                    Rule::Base
                } else {
                    Rule::Element
                };
                report(rule, tag.clone());
                Vec::new()
            }
        };
        let head_only = HEAD_ELEMENTS.iter().any(|(n, _)| *n == name);
        if head_only != in_head && !matches!(name, "html" | "head" | "body") {
            report(
                Rule::Placement,
                format!("{tag} in the {}", if in_head { "head" } else { "body" }),
            );
        }
        if SHELL_LANDMARKS.contains(&name) || matches!(name, "html" | "head" | "body" | "title") {
            if landmarks.contains(&name) {
                report(Rule::Placement, format!("second {tag}"));
            }
            landmarks.push(name);
        }
        for (qualified, value) in &element.attrs {
            let attribute = match &qualified.prefix {
                Some(prefix) => format!("{}:{}", &**prefix, &*qualified.local),
                None => qualified.local.to_string(),
            };
            let lower = attribute.to_ascii_lowercase();
            let shown = format!("{tag} {attribute}=\"{}\"", &**value);
            if lower.starts_with("on") {
                report(Rule::EventHandler, shown);
            } else if lower == "style" {
                report(Rule::InlineStyle, shown);
            } else if matches!(lower.as_str(), "srcdoc" | "formaction" | "xlink:href")
                || !qualified.ns.is_empty()
            {
                report(Rule::HiddenActive, shown);
            } else if !allowed.contains(&attribute.as_str()) {
                report(Rule::Attribute, shown);
            } else if attribute == "href" {
                if let Some(problem) = href_problem(value) {
                    report(Rule::UrlScheme, format!("{shown}: {problem}"));
                }
            } else if shell_attributes.is_none()
                && policy::clean_value(&attribute, value).as_deref() != Some(&**value)
            {
                report(Rule::AttributeValue, shown);
            }
        }
        match name {
            "meta" => {
                if element.attr("http-equiv").is_some() {
                    report(Rule::MetaHttpEquiv, tag.clone());
                }
                let pairs: Vec<(&str, &str)> = element.attrs().collect();
                let is_shell_meta = SHELL_META.iter().any(|expected| {
                    expected.len() == pairs.len()
                        && expected.iter().all(|(n, v)| element.attr(n) == Some(*v))
                });
                if !is_shell_meta {
                    report(Rule::AttributeValue, format!("<meta> {pairs:?}"));
                }
            }
            "link"
                if element.attr("rel") != Some("canonical")
                    && !(element.attr("rel") == Some("alternate")
                        && element.attr("type") == Some("application/atom+xml")) =>
            {
                report(
                    Rule::AttributeValue,
                    format!("<link rel={:?}>", element.attr("rel")),
                );
            }
            "style" => {
                styles += 1;
                if styles > 1 {
                    report(Rule::Style, "a second <style>".to_owned());
                }
                let text: String = ElementRef::wrap(node)
                    .map(|e| e.text().collect())
                    .unwrap_or_default();
                if text != CSS {
                    report(Rule::Style, format!("<style> text {text:?}"));
                }
            }
            _ => {}
        }
    }
    found
}

/// Why a browser following `href` could end up somewhere other than an http(s) or mailto
/// URL, or off the site while looking like a path on it; `None` when it cannot.
fn href_problem(href: &str) -> Option<String> {
    // The browser's own URL parser decides: resolving against a page of the Light site
    // strips the same control characters and whitespace a browser strips.
    let base = Url::parse("https://light.test/page").expect("static URL");
    let resolved = match base.join(href) {
        Ok(url) => url,
        Err(e) => return Some(format!("does not parse: {e}")),
    };
    if !URL_SCHEMES.contains(&resolved.scheme()) {
        return Some(format!("scheme {}", resolved.scheme()));
    }
    let explicit = Url::parse(href).is_ok();
    if !explicit && resolved.host_str() != Some("light.test") {
        return Some(format!("relative, yet it leaves the site for {resolved}"));
    }
    None
}

/// The open elements of a page as its tags are read, and the tags that do not nest.
#[derive(Default)]
struct Nesting {
    open: Vec<String>,
    found: Vec<Violation>,
}

impl TokenSink for Nesting {
    type Handle = ();

    fn process_token(&mut self, token: Token, _line: u64) -> TokenSinkResult<()> {
        if let Token::TagToken(tag) = token {
            let name = tag.name.to_string();
            match tag.kind {
                TagKind::StartTag if VOID_ELEMENTS.contains(&name.as_str()) => {}
                TagKind::StartTag => self.open.push(name),
                TagKind::EndTag => match self.open.pop() {
                    Some(top) if top == name => {}
                    top => self.found.push(Violation {
                        rule: Rule::Nesting,
                        detail: format!("</{name}> with {top:?} innermost"),
                    }),
                },
            }
        }
        TokenSinkResult::Continue
    }
}

/// Tags of `page` that do not nest. The tokenizer alone reads `<style>` and `<title>` as
/// ordinary text, which is right for a shell whose stylesheet and title hold no `<`.
fn nesting(page: &str) -> Vec<Violation> {
    let mut input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(page));
    let mut tokenizer = Tokenizer::new(Nesting::default(), TokenizerOpts::default());
    let _ = tokenizer.feed(&mut input);
    tokenizer.end();
    let Nesting { open, mut found } = tokenizer.sink;
    found.extend(open.into_iter().map(|name| Violation {
        rule: Rule::Nesting,
        detail: format!("<{name}> never closed"),
    }));
    found
}
