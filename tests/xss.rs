//! Hostile markup through both conversion routes: every DOMPurify payload alone and all at
//! once, and hand-written vectors aimed at this converter's seams (URL decoding, raw-text
//! elements, foreign content, mutation XSS, the shell). A page either fails to convert with
//! an error, which is counted, or comes out with nothing the allowlist checker objects to.

#[path = "support/allowlist.rs"]
mod allowlist;
#[path = "support/corpus.rs"]
mod corpus;
#[path = "support/light.rs"]
mod light;
#[path = "support/vectors.rs"]
mod vectors;

use light::{article, convert, convert_at, Route};
use vectors::{IN_ARTICLE, WHOLE_PAGES};

/// What became of a set of pages.
#[derive(Default)]
struct Tally {
    clean: usize,
    errors: Vec<String>,
    unsafe_pages: Vec<String>,
}

impl Tally {
    fn run(&mut self, name: &str, html: &str) {
        for route in Route::ALL {
            match convert(route, html) {
                Ok(page) => {
                    let found = allowlist::violations(&page);
                    if found.is_empty() {
                        self.clean += 1;
                    } else {
                        let list: Vec<String> = found.iter().map(ToString::to_string).collect();
                        self.unsafe_pages
                            .push(format!("{name} ({route:?}):\n  {}", list.join("\n  ")));
                    }
                }
                Err(e) => self.errors.push(format!("{name} ({route:?}): {e}")),
            }
        }
    }

    fn report(&self, what: &str) {
        println!(
            "{what}: {} conversions clean, {} refused with an error, {} unsafe",
            self.clean,
            self.errors.len(),
            self.unsafe_pages.len()
        );
        for error in &self.errors {
            println!("  error: {error}");
        }
        assert!(
            self.unsafe_pages.is_empty(),
            "{what}: unsafe output:\n{}",
            self.unsafe_pages.join("\n")
        );
    }
}

#[test]
fn dompurify_payloads_one_at_a_time() {
    let Some(payloads) = corpus::dompurify_payloads() else {
        return;
    };
    let mut tally = Tally::default();
    for (i, p) in payloads.iter().enumerate() {
        tally.run(&format!("#{i} {}", p.title), &article(&p.payload));
    }
    tally.report(&format!(
        "{} DOMPurify payloads, each alone",
        payloads.len()
    ));
    assert_eq!(
        tally.clean + tally.errors.len(),
        payloads.len() * Route::ALL.len()
    );
}

#[test]
fn dompurify_payloads_all_together() {
    let Some(payloads) = corpus::dompurify_payloads() else {
        return;
    };
    let all: Vec<&str> = payloads.iter().map(|p| p.payload.as_str()).collect();
    let mut tally = Tally::default();
    tally.run("all payloads in one page", &article(&all.join("\n")));
    tally.report("DOMPurify payloads together");
}

#[test]
fn hand_written_vectors() {
    let mut tally = Tally::default();
    for (name, markup) in IN_ARTICLE {
        tally.run(name, &article(markup));
    }
    for (name, page) in WHOLE_PAGES {
        tally.run(name, page);
    }
    tally.report(&format!(
        "{} hand-written vectors",
        IN_ARTICLE.len() + WHOLE_PAGES.len()
    ));
}

/// A page that ends inside a tag must not let the page's tail finish that tag. The tail
/// links to the original URL, which whoever links a reader chooses; here it carries an
/// event handler that would land on the upstream's unfinished `<p>`.
#[test]
fn a_tag_cut_off_at_the_end_cannot_take_in_the_page_tail() {
    let url = url::Url::parse(&format!("{}/x/onmouseover=alert(1)//", light::PAGE_URL))
        .expect("valid URL");
    for upstream in [
        "<body><p>story</p><p title=\"",
        "<body><p>story</p><p ",
        "<body><p>story</p><p title=x",
    ] {
        for route in Route::ALL {
            let page = convert_at(route, &url, upstream).expect("converts");
            let found = allowlist::violations(&page);
            assert!(found.is_empty(), "{route:?} {upstream}: {found:#?}\n{page}");
            assert!(
                page.contains("Original page</a>"),
                "the footer link is intact: {page}"
            );
        }
    }
}
