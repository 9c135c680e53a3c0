//! Random hostile markup: a grammar of allowed and dangerous elements, event handlers,
//! URLs in dangerous schemes and encodings, raw-text elements, comments, CDATA, character
//! references, stray end tags and unclosed elements, nested at random. Whatever comes in,
//! conversion on both routes either fails with an error or yields a page the allowlist
//! checker passes (its nodes and the nesting of its tags), and never panics.
//!
//! `PROPTEST_CASES` sets the number of cases (default 1000, under ten seconds in a debug build).

#[path = "support/allowlist.rs"]
mod allowlist;
#[path = "support/light.rs"]
mod light;

use light::{article, convert, Route};
use proptest::prelude::*;

const TAGS: &[&str] = &[
    // Kept by the allowlist.
    "p",
    "a",
    "b",
    "em",
    "h2",
    "ul",
    "li",
    "ol",
    "pre",
    "code",
    "blockquote",
    "table",
    "tr",
    "td",
    "th",
    "caption",
    "figure",
    "figcaption",
    "time",
    "details",
    "summary",
    "br",
    "q",
    // Unwrapped, placeholders and shell landmarks.
    "div",
    "span",
    "section",
    "article",
    "header",
    "main",
    "footer",
    "nav",
    "form",
    "font",
    "img",
    "image",
    "iframe",
    "video",
    "object",
    "embed",
    "x-widget",
    "listing",
    // Removed, parser-state changing and foreign.
    "script",
    "style",
    "svg",
    "math",
    "mtext",
    "mglyph",
    "malignmark",
    "annotation-xml",
    "foreignObject",
    "desc",
    "title",
    "textarea",
    "xmp",
    "noscript",
    "noembed",
    "noframes",
    "template",
    "select",
    "option",
    "base",
    "meta",
    "link",
    "plaintext",
    "frameset",
    "body",
    "html",
    "head",
    "colgroup",
    "input",
    "button",
    "keygen",
];

const RAW_TEXT_TAGS: &[&str] = &[
    "script",
    "style",
    "textarea",
    "title",
    "xmp",
    "noscript",
    "noembed",
    "noframes",
    "iframe",
    "plaintext",
];

const ATTRIBUTES: &[&str] = &[
    "onclick",
    "onerror",
    "ONLOAD",
    "onfocus",
    "href",
    "HREF",
    "src",
    "srcset",
    "data-src",
    "data-srcset",
    "style",
    "srcdoc",
    "formaction",
    "action",
    "xlink:href",
    "xmlns",
    "lang",
    "dir",
    "colspan",
    "start",
    "datetime",
    "title",
    "alt",
    "class",
    "http-equiv",
    "content",
    "is",
    "background",
    "poster",
    "data",
    "width",
];

/// Pieces of markup that change the parser's state or hide an active part.
const FRAGMENTS: &[&str] = &[
    "<!--",
    "-->",
    "<!-->",
    "<!--->",
    "--!>",
    "<!",
    "<?",
    "?>",
    "<![CDATA[",
    "]]>",
    "</",
    "<",
    ">",
    "\"",
    "'",
    "=",
    "/>",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "<svg onload=alert(1)>",
    "</style>",
    "</title>",
    "</textarea>",
    "</noscript>",
    "</script>",
    "</svg>",
    "</math>",
    "</select>",
    "</template>",
    "\u{0}",
    "\u{c}",
    "\t",
    "\n",
    "alert(1)",
];

const ENTITIES: &[&str] = &[
    "&lt;",
    "&#60;",
    "&#x3c",
    "&#x3C;",
    "&gt;",
    "&amp;",
    "&",
    "&#0;",
    "&#14;",
    "&NewLine;",
    "&Tab;",
    "&colon;",
    "&quot;",
    "&#x22",
    "&#106;",
    "&#x6A",
    "&nbsp;",
    "&#xFFFFFFFF;",
];

fn one_of(items: &'static [&'static str]) -> impl Strategy<Value = &'static str> + Clone {
    proptest::sample::select(items)
}

/// URL-ish values: a prefix browsers strip, a scheme written many ways, a separator, a
/// body.
fn url_value() -> impl Strategy<Value = String> {
    let prefix = one_of(&["", " ", "&#14;", "\u{1}", "&Tab;", "\t", "&#x20;"]);
    let scheme = one_of(&[
        "javascript",
        "JaVaScRiPt",
        "java&#x09;script",
        "jav&Tab;ascript",
        "java\nscript",
        "&#106;avascript",
        "&#x6A&#x61&#x76&#x61script",
        "vbscript",
        "data",
        "https",
        "http",
        "mailto",
        "",
        "//evil.example",
        "/\\evil.example",
        "/.//evil.example",
        "https://news.example.com//evil.example",
    ]);
    let separator = one_of(&[":", "&colon;", "&#58", "&#x3A;", "/", ""]);
    let body = one_of(&[
        "alert(1)",
        "//news.example.com/a",
        "text/html,<script>alert(1)</script>",
        "x",
        "\"><img src=x onerror=alert(1)>",
        "a@example.com",
        "1x, javascript:alert(2) 2x",
    ]);
    (prefix, scheme, separator, body).prop_map(|(p, s, sep, b)| format!("{p}{s}{sep}{b}"))
}

fn attribute() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        url_value(),
        one_of(&[
            "rtl",
            "en",
            "2",
            "x\" onclick=\"alert(1)",
            "color:red",
            "refresh"
        ])
        .prop_map(str::to_owned),
    ];
    let quote = one_of(&["\"", "'", ""]);
    let separator = one_of(&[" ", "/", "\t", "\u{c}", "\n"]);
    (separator, one_of(ATTRIBUTES), value, quote, any::<bool>()).prop_map(
        |(sep, name, value, quote, bare)| {
            if bare {
                format!("{sep}{name}")
            } else {
                format!("{sep}{name}={quote}{value}{quote}")
            }
        },
    )
}

fn start_tag(tag: &'static str) -> impl Strategy<Value = String> {
    (proptest::collection::vec(attribute(), 0..4), any::<bool>()).prop_map(
        move |(attributes, upper)| {
            let name = if upper {
                tag.to_uppercase()
            } else {
                tag.to_owned()
            };
            format!("<{name}{}>", attributes.concat())
        },
    )
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z ]{0,12}",
        one_of(ENTITIES).prop_map(str::to_owned),
        one_of(FRAGMENTS).prop_map(str::to_owned),
        one_of(TAGS).prop_flat_map(start_tag),
        (one_of(TAGS), proptest::collection::vec(attribute(), 0..2))
            .prop_map(|(tag, attributes)| format!("</{tag}{}>", attributes.concat())),
        (
            one_of(RAW_TEXT_TAGS),
            proptest::collection::vec(
                prop_oneof![
                    one_of(FRAGMENTS).prop_map(str::to_owned),
                    one_of(ENTITIES).prop_map(str::to_owned),
                    one_of(TAGS).prop_map(|tag| format!("</{tag}>")),
                    one_of(TAGS).prop_flat_map(start_tag),
                ],
                0..6
            ),
            one_of(&["", ">", " >", " x=1>"]),
        )
            .prop_map(|(tag, inside, close)| {
                let end = if close.is_empty() {
                    String::new()
                } else {
                    format!("</{tag}{close}")
                };
                format!("<{tag}>{}{end}", inside.concat())
            }),
    ]
}

fn markup() -> impl Strategy<Value = String> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..6).prop_map(|parts| parts.concat()),
            (
                one_of(TAGS).prop_flat_map(start_tag),
                one_of(TAGS),
                proptest::collection::vec(inner, 0..4),
                any::<bool>(),
            )
                .prop_map(|(open, close, children, closed)| {
                    let end = if closed {
                        format!("</{close}>")
                    } else {
                        String::new()
                    };
                    format!("{open}{}{end}", children.concat())
                }),
        ]
    })
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn conversion_errors_or_passes_the_allowlist(body in markup(), whole_page in any::<bool>()) {
        let html = if whole_page { body.clone() } else { article(&body) };
        for route in Route::ALL {
            if let Ok(page) = convert(route, &html) {
                let found = allowlist::violations(&page);
                prop_assert!(
                    found.is_empty(),
                    "{route:?} output breaks the allowlist: {found:#?}\ninput: {html:?}\noutput: {page}"
                );
            }
        }
    }
}
