//! The "Switch to Light" banner for publishers: a few hundred bytes of HTML to place early
//! in the full site's pages. When the full page has not finished loading after a delay,
//! or at once when the browser says its reader saves data or is on a 2G connection
//! (`navigator.connection`), it says that the page seems hard to load, with a link to the
//! same path on the Light site; readers without JavaScript get the link in `<noscript>`.
//! Its words come from the Light shell's message table (`lang`); its one inline script
//! and one inline style have fixed hashes, which a strict publisher CSP can allow.

use base64::Engine;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use sha2::{Digest, Sha256};
use url::Url;

use crate::lang::{self, Message, Overrides, Words};

/// Why a Light URL cannot be the banner's target.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnippetError {
    /// Only a web page can be switched to.
    #[error("--light-url must be http or https, not {0}")]
    Scheme(String),
    /// The banner adds the reader's path and query itself.
    #[error("--light-url must be the Light site's root, without a query or fragment")]
    QueryOrFragment,
    /// A user name or password in a public page's link.
    #[error("--light-url must not carry a user name or password")]
    Credentials,
}

/// The banner's style: it is an element, not attributes, so one hash covers it.
const STYLE: &str = "#light-switch{padding:.6em;background:#ffd;border-bottom:1px solid #cc9;font:1em/1.4 sans-serif}";

/// What the banner says and where it points.
#[derive(Debug, Clone)]
pub struct Snippet<'a> {
    light_root: &'a Url,
    label: Option<&'a str>,
    after_secs: u32,
    lang: Option<&'a str>,
}

impl<'a> Snippet<'a> {
    /// The banner for the Light site at `light_root` (such as `https://light.example/`),
    /// named `label` (else "the Light version" in `lang`), shown after `after_secs`.
    pub fn new(
        light_root: &'a Url,
        label: Option<&'a str>,
        after_secs: u32,
        lang: Option<&'a str>,
    ) -> Result<Self, SnippetError> {
        if !matches!(light_root.scheme(), "http" | "https") {
            return Err(SnippetError::Scheme(light_root.scheme().to_owned()));
        }
        if light_root.query().is_some() || light_root.fragment().is_some() {
            return Err(SnippetError::QueryOrFragment);
        }
        if !light_root.username().is_empty() || light_root.password().is_some() {
            return Err(SnippetError::Credentials);
        }
        Ok(Self {
            light_root,
            label,
            after_secs,
            lang: lang.filter(|l| lang::valid_tag(l)),
        })
    }

    /// The HTML to paste into the full site's pages, right after `<body>`.
    pub fn html(&self) -> String {
        static NONE: Overrides = Overrides::new();
        let words = Words::new(self.lang, &NONE);
        let label = self
            .label
            .unwrap_or_else(|| words.text(Message::SnippetLabel));
        let fill = |m| words.fill(m, &[("label", label)]);
        let dir = self.lang.map_or(String::new(), |l| {
            format!(" dir=\"{}\"", lang::direction_of(l))
        });
        let href = attr(&format!("{}/", self.root())).into_owned();
        format!(
            "<style>{STYLE}</style>\n<div id=\"light-switch\"{dir} hidden>{} <a href=\"{href}\">{}</a></div>\n\
             <noscript><p{dir}><a href=\"{href}\">{}</a></p></noscript>\n<script>{}</script>\n",
            text(words.text(Message::SnippetTrouble)),
            text(&fill(Message::SnippetSwitch)),
            text(&fill(Message::SnippetNoscript)),
            self.script(),
        )
    }

    /// The `Content-Security-Policy` sources that allow the banner's script and style.
    pub fn csp_sources(&self) -> String {
        format!(
            "script-src 'sha256-{}'; style-src 'sha256-{}'",
            hash(&self.script()),
            hash(STYLE)
        )
    }

    fn root(&self) -> &str {
        self.light_root.as_str().trim_end_matches('/')
    }

    fn script(&self) -> String {
        // The root is written into a JavaScript string; JSON escaping covers quotes,
        // backslashes and `</script>`.
        let js_root = serde_json::to_string(self.root())
            .unwrap_or_else(|_| "\"\"".into())
            .replace("</", "<\\/");
        format!(
            "(function(){{var b=document.getElementById(\"light-switch\");\
function s(){{b.querySelector(\"a\").href={js_root}+location.pathname+location.search;b.hidden=false}}\
var c=navigator.connection;if(c&&(c.saveData||/2g/.test(c.effectiveType||\"\"))){{s();return}}\
var t=setTimeout(s,{ms});addEventListener(\"load\",function(){{clearTimeout(t)}})}})()",
            ms = u64::from(self.after_secs) * 1000,
        )
    }
}

fn hash(source: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_links_to_the_light_site_and_escapes_its_inputs() {
        let root = Url::parse("https://light.example.com/").unwrap();
        let html = Snippet::new(&root, Some("Ledger <Light>"), 8, None)
            .unwrap()
            .html();
        assert!(
            html.contains(
                "<a href=\"https://light.example.com/\">Switch to Ledger &lt;Light&gt;</a>"
            ),
            "{html}"
        );
        assert!(
            html.contains("\"https://light.example.com\"+location.pathname+location.search"),
            "{html}"
        );
        assert!(html.contains(",8000);"), "{html}");
        assert!(html.contains("c.saveData||/2g/.test"), "{html}");
        assert!(!html.contains(" style="), "{html}");
        assert!(html.len() < 1024, "snippet is {} bytes", html.len());
    }

    #[test]
    fn the_printed_hashes_are_those_of_the_inline_script_and_style() {
        let root = Url::parse("https://light.example.com/").unwrap();
        let snippet = Snippet::new(&root, None, 8, Some("fa")).unwrap();
        let html = snippet.html();
        let inner = |open: &str, close: &str| {
            let start = html.find(open).unwrap() + open.len();
            html[start..start + html[start..].find(close).unwrap()].to_owned()
        };
        let sources = snippet.csp_sources();
        assert!(
            sources.contains(&hash(&inner("<script>", "</script>"))),
            "{sources}"
        );
        assert!(
            sources.contains(&hash(&inner("<style>", "</style>"))),
            "{sources}"
        );
        assert!(
            html.contains("<div id=\"light-switch\" dir=\"rtl\" hidden>"),
            "{html}"
        );
        assert!(html.contains(">رفتن به نسخهٔ سبک</a>"), "{html}");
    }

    #[test]
    fn only_a_plain_web_root_is_accepted() {
        for (raw, expected) in [
            (
                "javascript:alert(1)",
                SnippetError::Scheme("javascript".into()),
            ),
            ("ftp://light.example/", SnippetError::Scheme("ftp".into())),
            ("https://light.example/?x=1", SnippetError::QueryOrFragment),
            ("https://light.example/#top", SnippetError::QueryOrFragment),
            ("https://me:pw@light.example/", SnippetError::Credentials),
        ] {
            let url = Url::parse(raw).unwrap();
            assert_eq!(
                Snippet::new(&url, None, 8, None).err(),
                Some(expected),
                "{raw}"
            );
        }
    }

    #[test]
    fn a_hostile_root_cannot_break_out_of_the_script() {
        let root = Url::parse("https://x.test/</script><script>alert(1)//").unwrap();
        let html = Snippet::new(&root, Some("X"), 1, None).unwrap().html();
        assert_eq!(html.matches("</script>").count(), 1, "{html}");
    }
}
