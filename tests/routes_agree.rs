//! Both ways through the converter, streamed (a site with `content` rules) and detected
//! (a site without), keep the same facts: the allowlist's attributes and the language's
//! direction, whether the page or the site's `lang` names the language. A site whose
//! `content` rules match nothing on a page gets the detected article, never an empty one.

#[path = "support/light.rs"]
mod light;

use std::sync::Arc;

use light::{article, convert, Route, PAGE_URL};
use lightmirror::config::{self, LimitsConfig, Site};
use lightmirror::convert::convert_document;
use url::Url;

#[test]
fn a_reversed_list_keeps_its_start_on_both_routes() {
    let page = article("<ol start=5 reversed><li>five</li><li>four</li></ol>");
    for route in Route::ALL {
        let out = convert(route, &page).expect("converts");
        let start = out.find("<ol ").expect("the list is kept");
        let tag = &out[start..start + out[start..].find('>').unwrap()];
        assert!(tag.contains("start=\"5\""), "{route:?}: {tag}");
        assert!(tag.contains(" reversed"), "{route:?}: {tag}");
    }
}

#[test]
fn a_page_in_uyghur_is_right_to_left_on_both_routes() {
    let page = article("<p>Second paragraph of the story, long enough to be kept.</p>")
        .replace("<html lang=\"en\">", "<html lang=\"ug\">");
    for route in Route::ALL {
        let out = convert(route, &page).expect("converts");
        assert!(
            out.contains("<html lang=\"ug\" dir=\"rtl\">"),
            "{route:?}: {out}"
        );
    }
}

fn site(extra: &str) -> Arc<Site> {
    let toml = format!(
        "[[site]]\nname = \"news\"\nupstream = \"https://news.example.com\"\n\
         hosts = [\"news.light.test\"]\n{extra}\n"
    );
    config::parse(&toml, "test site")
        .expect("valid")
        .1
        .remove(0)
}

fn convert_for(site: &Arc<Site>, html: &str) -> (String, lightmirror::convert::Finished) {
    let url = Url::parse(PAGE_URL).unwrap();
    let (page, finished) =
        convert_document(site, &url, &LimitsConfig::default(), None, html.as_bytes())
            .expect("converts");
    (String::from_utf8(page).expect("UTF-8"), finished)
}

#[test]
fn the_site_lang_gives_the_same_direction_as_the_page_would() {
    let page = article("").replace("<html lang=\"en\">", "<html>");
    for extra in ["lang = \"ug\"", "lang = \"ug\"\ncontent = [\"article\"]"] {
        let (out, _) = convert_for(&site(extra), &page);
        assert!(
            out.contains("<html lang=\"ug\" dir=\"rtl\">"),
            "{extra}: {out}"
        );
    }
}

#[test]
fn content_rules_that_match_nothing_fall_back_to_detection() {
    let story = "<p>Tugs guided the first ferry through the repaired gap in the outer wall.</p>";
    let page = article(story);
    let (out, finished) = convert_for(&site("content = [\".no-such-story\"]"), &page);
    assert!(finished.content_fallback, "{out}");
    assert!(out.contains(story), "{out}");
    assert!(
        finished.text.contains("Tugs guided the first ferry"),
        "{}",
        finished.text
    );
    // The page's own head still names it.
    assert!(out.contains("<title>Harbour reopens after storm"), "{out}");

    let (out, finished) = convert_for(&site("content = [\"article\"]"), &page);
    assert!(!finished.content_fallback, "{out}");
    assert!(out.contains(story), "{out}");
}
