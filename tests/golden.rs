//! Golden files for the Light pass: each `tests/golden/NAME.html` is rewritten and compared
//! with `NAME.expected.html`. `UPDATE_GOLDEN=1 cargo test --test golden` writes the
//! expected files anew; review the diff before committing it.

use std::path::Path;

use lightmirror::config::LimitsConfig;
use lightmirror::rewrite::{sanitize, LightOptions};
use url::Url;

fn check(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let input = std::fs::read_to_string(dir.join(format!("{name}.html"))).unwrap();
    let page = Url::parse("https://www.example.com/news/2024/story.html").unwrap();
    let upstream = Url::parse("https://www.example.com/").unwrap();
    let options = LightOptions {
        page_url: &page,
        upstream: &upstream,
        siblings: &[],
        content: &[],
        remove: &[],
        memory_limit: 1 << 20,
        max_nesting: LimitsConfig::default().max_nesting,
    };
    let output = sanitize(&input, &options).unwrap();
    let expected_path = dir.join(format!("{name}.expected.html"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_path, &output).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
        panic!(
            "{} is missing; run with UPDATE_GOLDEN=1",
            expected_path.display()
        )
    });
    assert_eq!(
        output,
        expected,
        "{name}: output differs from {}",
        expected_path.display()
    );
}

#[test]
fn links() {
    check("links");
}

#[test]
fn media() {
    check("media");
}

#[test]
fn structure() {
    check("structure");
}

#[test]
fn hostile() {
    check("hostile");
}

#[test]
fn rtl() {
    check("rtl");
}
