//! Stray end tags in an article cannot break the page shell: on both routes, what the
//! article says stays inside the shell's `<main>`, and the shell's footer stays last in
//! the body, after it.

#[path = "support/light.rs"]
mod light;

use light::{article, convert, Route};
use scraper::{ElementRef, Html, Selector};

/// Words of the article, each in a paragraph after one of the stray end tags.
const MARKS: &[&str] = &["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot"];

fn payload() -> String {
    let strays = ["</main>", "</body>", "</html>", "</article>", "</div>"];
    let mut html = format!("<p>{}</p>", MARKS[0]);
    for (stray, mark) in strays.iter().zip(&MARKS[1..]) {
        html.push_str(&format!("{stray}<p>{mark}</p>"));
    }
    html
}

fn one<'a>(page: &'a Html, selector: &str) -> ElementRef<'a> {
    let selector = Selector::parse(selector).unwrap();
    let mut found = page.select(&selector);
    let first = found.next().unwrap_or_else(|| panic!("no {selector:?}"));
    assert!(found.next().is_none(), "more than one {selector:?}");
    first
}

fn text(element: ElementRef<'_>) -> String {
    element.text().collect()
}

#[test]
fn stray_end_tags_leave_the_article_inside_main() {
    for route in Route::ALL {
        let page = convert(route, &article(&payload())).expect("the article converts");
        for end_tag in ["</main>", "</body>", "</html>", "</article>"] {
            assert_eq!(
                page.matches(end_tag).count(),
                1,
                "{route:?}: {end_tag} is the shell's alone\n{page}"
            );
        }
        assert!(!page.contains("</div>"), "{route:?}\n{page}");

        let document = Html::parse_document(&page);
        let main = text(one(&document, "body > main"));
        let story = text(one(&document, "body > main > article"));
        for (i, mark) in MARKS.iter().chain(&["Officials said repairs"]).enumerate() {
            // A stray `</article>` ends the article for detection as for a browser, so
            // detection may leave out what follows it; what it keeps stays in the shell.
            let after_article_end = i >= 4;
            if route == Route::Detection && after_article_end && !page.contains(mark) {
                continue;
            }
            assert!(
                story.contains(mark),
                "{route:?}: {mark} outside the article"
            );
            assert!(main.contains(mark), "{route:?}: {mark} outside main");
        }

        let footer = one(&document, "body > footer");
        assert!(
            text(footer).starts_with("Original page"),
            "{route:?}: {}",
            footer.html()
        );
        assert!(
            MARKS.iter().all(|mark| !text(footer).contains(mark)),
            "{route:?}: article text in the footer"
        );
        let body_children: Vec<&str> = one(&document, "body")
            .children()
            .filter_map(ElementRef::wrap)
            .map(|e| e.value().name())
            .collect();
        assert_eq!(body_children, ["header", "main", "footer"], "{route:?}");
    }
}
