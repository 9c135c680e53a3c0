//! Golden files for the Light pass: each `tests/golden/NAME.html` is rewritten and compared
//! with `NAME.expected.html`. `UPDATE_GOLDEN=1 cargo test --test golden` writes the
//! expected files anew; review the diff before committing it. `media` is also rewritten for
//! a site with `images = "off"`, into `media.off.expected.html`.

use std::path::Path;

use lightmirror::config::{ImageMode, LimitsConfig};
use lightmirror::rewrite::{sanitize, ImageLinks, LightOptions, MediaWords};
use url::Url;

/// The site the golden pages come from, which also fetches images from a CDN.
const SITE: &str = "[[site]]\nname = \"golden\"\nupstream = \"https://www.example.com\"\n\
                    hosts = [\"light.example\"]\nimage_hosts = [\"img.example.net\"]\n";

fn check(name: &str) {
    compare(name, ImageMode::Tap, "expected");
}

fn compare(name: &str, mode: ImageMode, suffix: &str) {
    let (_, mut sites) = lightmirror::config::parse(SITE, "golden").unwrap();
    let site = sites.remove(0);
    let images = (mode == ImageMode::Tap).then(|| ImageLinks { site, sizes: None });
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
        images,
        words: MediaWords::default(),
    };
    let output = sanitize(&input, &options).unwrap();
    let expected_path = dir.join(format!("{name}.{suffix}.html"));
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
fn media_without_image_links() {
    compare("media", ImageMode::Off, "off.expected");
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
