//! The "Switch to Light" banner for publishers: a few hundred bytes of HTML to place early
//! in the full site's pages. When the full page has not finished loading after a delay, it
//! shows "It looks like you're having trouble loading this page" with a link to the same
//! path on the Light site; readers without JavaScript get the link in `<noscript>`.

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use url::Url;

/// What the banner says and where it points.
#[derive(Debug, Clone)]
pub struct Snippet<'a> {
    /// Root of the Light site, such as `https://light.example.com/`.
    pub light_root: &'a Url,
    /// Name shown in the link: "Switch to {label}".
    pub label: &'a str,
    /// Seconds to wait for the full page before offering the switch.
    pub after_secs: u32,
}

impl Snippet<'_> {
    /// The HTML to paste into the full site's pages, right after `<body>`.
    pub fn html(&self) -> String {
        let root = self.light_root.as_str().trim_end_matches('/');
        // The root is written into a JavaScript string inside an HTML attribute-free
        // script; JSON escaping covers quotes, backslashes and `</script>`.
        let js_root = serde_json::to_string(root)
            .unwrap_or_else(|_| "\"\"".into())
            .replace("</", "<\\/");
        format!(
            "<div id=\"light-switch\" hidden style=\"padding:.6em;background:#ffd;border-bottom:1px solid #cc9;font:1em/1.4 sans-serif\">\
It looks like you're having trouble loading this page. <a href=\"{href}\">Switch to {label}</a></div>\n\
<noscript><p><a href=\"{href}\">{label}: a fast, text-only version of this site</a></p></noscript>\n\
<script>(function(){{var b=document.getElementById(\"light-switch\");\
var t=setTimeout(function(){{b.querySelector(\"a\").href={js_root}+location.pathname+location.search;b.hidden=false}},{ms});\
addEventListener(\"load\",function(){{clearTimeout(t)}})}})()</script>\n",
            href = attr(&format!("{root}/")),
            label = text(self.label),
            ms = u64::from(self.after_secs) * 1000,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_links_to_the_light_site_and_escapes_its_inputs() {
        let root = Url::parse("https://light.example.com/").unwrap();
        let html = Snippet {
            light_root: &root,
            label: "Ledger <Light>",
            after_secs: 8,
        }
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
        assert!(html.len() < 1024, "snippet is {} bytes", html.len());
    }

    #[test]
    fn a_hostile_root_cannot_break_out_of_the_script() {
        let root = Url::parse("https://x.test/</script><script>alert(1)//").unwrap();
        let html = Snippet {
            light_root: &root,
            label: "X",
            after_secs: 1,
        }
        .html();
        assert_eq!(html.matches("</script>").count(), 1, "{html}");
    }
}
