//! The allowlist checker is itself tested: it passes pages the converter really produces,
//! and it flags each kind of forbidden markup planted in an otherwise valid Light page.

#[path = "support/allowlist.rs"]
mod allowlist;
#[path = "support/light.rs"]
mod light;

use allowlist::{violations, Rule};
use light::{article, convert, Route};

/// A benign article, converted for real; `replace` then plants markup in it.
fn real_page(route: Route) -> String {
    let page = convert(
        route,
        &article(
            "<figure><img src=/a.jpg alt=Boats><figcaption>Boats <em>waiting</em></figcaption></figure>\
             <table><tr><th colspan=2>Tide</th></tr><tr><td>1</td><td rowspan=1>2</td></tr></table>\
             <ol start=3 reversed><li lang=fr dir=ltr>un</li></ol><a href=\"mailto:desk@example.com\">Desk</a>\
             <p><time datetime=\"2024-05-07\">Tuesday</time> <a href=\"https://other.example.org/x\">x</a></p>",
        ),
    )
    .expect("a benign article converts");
    assert!(
        page.contains("<figcaption>") && page.contains("mailto:"),
        "{page}"
    );
    page
}

#[test]
fn real_pages_pass() {
    for route in Route::ALL {
        let page = real_page(route);
        let found = violations(&page);
        assert!(found.is_empty(), "{route:?}: {found:#?}\n{page}");
    }
}

#[test]
fn each_kind_of_forbidden_markup_is_flagged() {
    let planted: &[(&str, Rule)] = &[
        ("<script>alert(1)</script>", Rule::Element),
        ("<div>x</div>", Rule::Element),
        ("<iframe src=/x></iframe>", Rule::Element),
        ("<base href=\"https://evil.example/\">", Rule::Base),
        (
            "<meta http-equiv=refresh content=\"0;url=https://evil.example/\">",
            Rule::MetaHttpEquiv,
        ),
        ("<meta charset=utf-8>", Rule::Placement),
        ("<style>p{}</style>", Rule::Style),
        ("<link rel=stylesheet href=/x.css>", Rule::Placement),
        ("<header>again</header>", Rule::Placement),
        ("<svg><circle r=1></circle></svg>", Rule::ForeignElement),
        ("<math><mi>x</mi></math>", Rule::ForeignElement),
        ("<!-- note -->", Rule::Comment),
        ("<p onclick=\"alert(1)\">x</p>", Rule::EventHandler),
        ("<p ONMOUSEOVER=\"alert(1)\">x</p>", Rule::EventHandler),
        ("<p style=\"color:red\">x</p>", Rule::InlineStyle),
        ("<p srcdoc=\"&lt;script&gt;\">x</p>", Rule::HiddenActive),
        (
            "<a formaction=\"javascript:alert(1)\">x</a>",
            Rule::HiddenActive,
        ),
        (
            "<a xlink:href=\"javascript:alert(1)\">x</a>",
            Rule::HiddenActive,
        ),
        ("<p class=lead>x</p>", Rule::Attribute),
        ("<td>x</td><p colspan=2>x</p>", Rule::Attribute),
        ("<p dir=\"sideways\">x</p>", Rule::AttributeValue),
        ("<a href=\"javascript:alert(1)\">x</a>", Rule::UrlScheme),
        (
            "<a href=\" &#14;javascript:alert(1)\">x</a>",
            Rule::UrlScheme,
        ),
        (
            "<a href=\"java&#x09;script:alert(1)\">x</a>",
            Rule::UrlScheme,
        ),
        ("<a href=\"data:text/html,x\">x</a>", Rule::UrlScheme),
        ("<a href=\"//evil.example/x\">x</a>", Rule::UrlScheme),
        ("<a href=\"/\\evil.example/x\">x</a>", Rule::UrlScheme),
        ("</main>", Rule::Nesting),
        ("<p>x", Rule::Nesting),
        ("x</b>", Rule::Nesting),
    ];
    for route in Route::ALL {
        let page = real_page(route);
        let at = page.find("</main>").expect("the shell closes main");
        for (markup, rule) in planted {
            let bad = format!("{}{markup}{}", &page[..at], &page[at..]);
            let found = violations(&bad);
            assert!(
                found.iter().any(|v| v.rule == *rule),
                "{route:?}: {markup} not flagged as {rule:?}, found {found:#?}"
            );
        }
    }
}

#[test]
fn the_shell_is_held_to_what_page_rs_writes() {
    let page = real_page(Route::Streaming);
    let tampered: &[(&str, &str, Rule)] = &[
        (
            "<meta charset=\"utf-8\">",
            "<meta charset=\"utf-7\">",
            Rule::AttributeValue,
        ),
        (
            "content=\"no-referrer\"",
            "content=\"unsafe-url\"",
            Rule::AttributeValue,
        ),
        (
            "<link rel=\"canonical\"",
            "<link rel=\"import\"",
            Rule::AttributeValue,
        ),
        ("<style>", "<style>*{}", Rule::Style),
        ("</style>", "</style><style>p{}</style>", Rule::Style),
        (
            "<head>",
            "<head><base href=\"https://evil.example/\">",
            Rule::Base,
        ),
        ("<head>", "<head><script>alert(1)</script>", Rule::Element),
        ("<html", "<html onload=\"alert(1)\"", Rule::EventHandler),
        ("<header>", "<header class=top>", Rule::Attribute),
        ("<main>", "<main><title>again</title>", Rule::Placement),
    ];
    for (from, to, rule) in tampered {
        assert!(page.contains(from), "the shell no longer writes {from}");
        let bad = page.replacen(from, to, 1);
        let found = violations(&bad);
        assert!(
            found.iter().any(|v| v.rule == *rule),
            "{to} not flagged as {rule:?}, found {found:#?}"
        );
    }
}
