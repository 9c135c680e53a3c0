//! Random Unicode in every metadata field a page can carry: `<title>`, OpenGraph,
//! `article:published_time`, `<time datetime>`, JSON-LD `headline`, `author` and
//! `datePublished`, `<meta name=author>`, `lang` and `dir`. The strings mix arbitrary
//! characters with the ones that break byte-offset code (combining marks, right-to-left
//! text and controls, multi-byte characters where a date has digits, very long runs).
//! Conversion on both routes never panics and yields a page the allowlist checker passes;
//! the page shell, fed the strings directly, does the same.
//!
//! `PROPTEST_CASES` sets the number of cases (default 256).

#[path = "support/allowlist.rs"]
mod allowlist;
#[path = "support/light.rs"]
#[allow(dead_code)]
mod light;

use light::{convert, Route};
use lightmirror::config::{PageKind, Site};
use lightmirror::extract::Metadata;
use lightmirror::page::Shell;
use proptest::prelude::*;
use url::Url;

/// Pieces that sit where byte-offset code looks: multi-byte characters, combining marks,
/// bidirectional controls, date shapes, separators titles are split on, markup.
const PIECES: &[&str] = &[
    "é",
    "e\u{301}",
    "\u{301}\u{302}\u{303}",
    "ق",
    "\u{200f}",
    "\u{202e}",
    "\u{2066}",
    "\u{200d}",
    "\u{feff}",
    "😀",
    "👩\u{200d}👩\u{200d}👧",
    "\u{0}",
    "\u{7f}",
    "\u{85}",
    "2024-01-0",
    "2024-",
    "-",
    "T10:00:00Z",
    "٢٠٢٤",
    " | ",
    " » ",
    " — ",
    ": ",
    "<",
    "&amp;",
    "\"",
    "'",
    "</script>",
    " ",
    "\n",
    "rtl",
    "fa",
];

/// A random string: arbitrary characters, a mix of the pieces, or a very long run.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(
            prop_oneof![
                proptest::sample::select(PIECES).prop_map(str::to_owned),
                any::<char>().prop_map(String::from),
            ],
            0..24
        )
        .prop_map(|parts| parts.concat()),
        (proptest::sample::select(PIECES), 100usize..3000).prop_map(|(p, n)| p.repeat(n)),
    ]
}

/// The metadata fields of one page.
#[derive(Debug, Clone)]
struct Fields {
    title: String,
    og_title: String,
    og_description: String,
    og_site_name: String,
    published_time: String,
    time_datetime: String,
    ld_headline: String,
    ld_author: String,
    ld_date: String,
    meta_author: String,
    lang: String,
    dir: String,
}

fn fields() -> impl Strategy<Value = Fields> {
    (
        (text(), text(), text(), text(), text(), text()),
        (text(), text(), text(), text(), text(), text()),
    )
        .prop_map(|(a, b)| Fields {
            title: a.0,
            og_title: a.1,
            og_description: a.2,
            og_site_name: a.3,
            published_time: a.4,
            time_datetime: a.5,
            ld_headline: b.0,
            ld_author: b.1,
            ld_date: b.2,
            meta_author: b.3,
            lang: b.4,
            dir: b.5,
        })
}

/// Text for a double-quoted attribute, so the string reaches the parser's value intact.
fn attr(s: &str) -> String {
    html_escape::encode_double_quoted_attribute(s).into_owned()
}

/// A JSON string inside `<script>`: `</` is broken up so the script runs to its end tag.
fn json(s: &str) -> String {
    serde_json::to_string(s)
        .expect("a string serialises")
        .replace("</", "<\\/")
}

fn page(f: &Fields) -> String {
    format!(
        r#"<!doctype html><html lang="{lang}" dir="{dir}"><head><meta charset="utf-8">
<title>{title}</title>
<meta property="og:title" content="{og_title}">
<meta property="og:description" content="{og_description}">
<meta property="og:site_name" content="{og_site_name}">
<meta property="article:published_time" content="{published_time}">
<meta name="author" content="{meta_author}">
<script type="application/ld+json">{{"@context":"https://schema.org","@type":"NewsArticle",
"headline":{ld_headline},"author":[{{"@type":"Person","name":{ld_author}}},{ld_author}],
"datePublished":{ld_date}}}</script></head>
<body><article><h1>{title}</h1><p>By {meta_author}, <time datetime="{time_datetime}">{time_text}</time></p>
<p>The harbour reopened on Tuesday, three days after the storm closed it to shipping, and
fishing fleets were back at their moorings by noon.</p>
<p>Officials said repairs to the outer wall would take weeks, and asked boats to keep clear
of the breakwater until the work is done.</p></article></body></html>"#,
        lang = attr(&f.lang),
        dir = attr(&f.dir),
        title = html_escape::encode_text(&f.title),
        og_title = attr(&f.og_title),
        og_description = attr(&f.og_description),
        og_site_name = attr(&f.og_site_name),
        published_time = attr(&f.published_time),
        meta_author = attr(&f.meta_author),
        ld_headline = json(&f.ld_headline),
        ld_author = json(&f.ld_author),
        ld_date = json(&f.ld_date),
        time_datetime = attr(&f.time_datetime),
        time_text = html_escape::encode_text(&f.time_datetime),
    )
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn metadata_of_any_text_converts_on_both_routes(f in fields()) {
        let html = page(&f);
        for route in Route::ALL {
            if let Ok(out) = convert(route, &html) {
                let found = allowlist::violations(&out);
                prop_assert!(
                    found.is_empty(),
                    "{route:?} output breaks the allowlist: {found:#?}\ninput: {html:?}\noutput: {out}"
                );
            }
        }
    }

    #[test]
    fn the_shell_takes_any_text(f in fields(), label in text(), article in any::<bool>()) {
        let meta = Metadata {
            title: Some(f.title),
            byline: Some(f.meta_author),
            published: Some(f.published_time),
            lang: Some(f.lang),
            dir: Some(f.dir),
            site_name: Some(f.og_site_name),
            excerpt: Some(f.og_description),
            ..Metadata::default()
        };
        let original = Url::parse(light::PAGE_URL).expect("static URL");
        let mut site = Site::ad_hoc(&original);
        site.label = label.clone();
        site.label_configured = true;
        site.lang = Some(f.ld_headline.clone());
        let shell = Shell {
            site: &site,
            meta: &meta,
            original: &original,
            kind: if article { PageKind::Article } else { PageKind::Listing },
        };
        let head = shell.head();
        let out = format!("{head}<p>Body.</p>{}", shell.tail(head.len(), 1000, Some(&f.ld_date)));
        let found = allowlist::violations(&out);
        prop_assert!(found.is_empty(), "{found:#?}\noutput: {out}");
    }
}

/// The date that used to panic the request ("not a char boundary"), on both routes.
#[test]
fn a_date_with_a_multi_byte_character_converts() {
    for date in ["2024-01-0é 10:00", "2024-01-éé", "20é4-01-05"] {
        let f = Fields {
            title: "Harbour reopens".into(),
            og_title: String::new(),
            og_description: String::new(),
            og_site_name: String::new(),
            published_time: date.into(),
            time_datetime: date.into(),
            ld_headline: "Harbour reopens".into(),
            ld_author: "A. Reporter".into(),
            ld_date: date.into(),
            meta_author: "A. Reporter".into(),
            lang: "en".into(),
            dir: "ltr".into(),
        };
        for route in Route::ALL {
            let out = convert(route, &page(&f)).expect("converts");
            assert!(
                out.contains(&format!("<time>{date}</time>")),
                "{route:?}: {out}"
            );
        }
    }
}
