//! Multi-page articles joined into one Light page (`join_pages`), end to end: a real
//! upstream serving a three-page article, a real lightmirror in front, and what the
//! joined page holds when the pages run out, loop, spend the budget, fail or lead away.

#[path = "support/harness.rs"]
mod harness;

use harness::{site_config, Light, Reply, Upstream};

/// Paragraphs of each page: about 2.2 KB of Light body.
const PARAGRAPHS: usize = 8;

/// Words that are on page `n` of the article and nowhere else.
fn marker(n: usize) -> String {
    format!("Harbour story part {n} of the inquiry")
}

/// Page `n` of the article, whose `rel=next` (in its head, or as a link in its body)
/// leads to `next`.
fn article(n: usize, next: Option<&str>, in_head: bool) -> String {
    let link = |html: &str| {
        next.map(|href| html.replace("{href}", href))
            .unwrap_or_default()
    };
    let head = if in_head {
        link(r#"<link rel="next" href="{href}">"#)
    } else {
        String::new()
    };
    let body_link = if in_head {
        String::new()
    } else {
        link(r#"<p><a rel="next" href="{href}">Continue reading</a></p>"#)
    };
    let paragraph = format!(
        "<p>{}. The port authority said the new cranes at the east quay had doubled the \
         traffic through the harbour in ten years, and the deeper channel let larger ships \
         call at the city for the first time since the old docks closed.</p>",
        marker(n)
    );
    format!(
        r#"<!doctype html><html lang="en"><head><title>The harbour inquiry | The Ledger</title>{head}</head>
<body><nav><a href="/">Home</a></nav><article class="story"><h1>The harbour inquiry</h1>
{}{body_link}</article><footer>© The Ledger</footer></body></html>"#,
        paragraph.repeat(PARAGRAPHS)
    )
}

/// An upstream serving `/story`, `/story/2` and `/story/3`, each leading to the next.
async fn three_pages(in_head: bool) -> Upstream {
    let upstream = Upstream::start().await;
    upstream
        .route("/story", Reply::html(article(1, Some("/story/2"), in_head)))
        .route(
            "/story/2",
            Reply::html(article(2, Some("/story/3"), in_head)),
        )
        .route("/story/3", Reply::html(article(3, None, in_head)));
    upstream
}

async fn light_page(light: &Light, path: &str) -> String {
    let response = light.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

/// Where each page's words are in `page`, `None` for pages absent.
fn positions(page: &str) -> Vec<Option<usize>> {
    (1..=3).map(|n| page.find(&marker(n))).collect()
}

#[tokio::test]
async fn three_pages_join_in_order_and_are_kept_as_the_first() {
    for (in_head, rules) in [(false, ""), (true, r#"content = ["article.story"]"#)] {
        let upstream = three_pages(in_head).await;
        let config = site_config(&format!("join_pages = true\n{rules}"));
        let light = Light::start(&config, &upstream).await;
        let page = light_page(&light, "/story").await;
        let found = positions(&page);
        assert!(
            found.iter().all(Option::is_some) && found.windows(2).all(|w| w[0] < w[1]),
            "{rules}: {found:?} {page}"
        );
        let break_3 = page.find("<small>Page 3</small>").expect("page line");
        assert!(
            page.find("<small>Page 2</small>").unwrap() < break_3,
            "{page}"
        );
        assert!(found[1].unwrap() < break_3 && break_3 < found[2].unwrap());
        // Joined to the end: no page left to lead on to.
        assert!(!page.contains("rel=\"next\""), "{page}");
        assert_eq!(page.matches("<h1>").count(), 1, "{page}");
        for path in ["/story", "/story/2", "/story/3"] {
            assert_eq!(upstream.hits(path), 1, "{rules}: {path}");
        }
        let again = light.get("/story").await;
        let status = again.headers()["cache-status"].to_str().unwrap().to_owned();
        assert!(status.contains("hit"), "{status}");
        assert_eq!(again.text().await.unwrap(), page);
        assert_eq!(upstream.total_hits(), 3);
        light.stop().await;
    }
}

#[tokio::test]
async fn without_join_pages_the_next_page_is_only_linked() {
    let upstream = three_pages(false).await;
    let light = Light::start(&site_config(""), &upstream).await;
    let page = light_page(&light, "/story").await;
    assert_eq!(positions(&page), [page.find(&marker(1)), None, None]);
    assert!(
        page.contains("<a rel=\"next\" href=\"/story/2\">"),
        "{page}"
    );
    assert_eq!(upstream.hits("/story/2"), 0);
    light.stop().await;
}

#[tokio::test]
async fn a_loop_stops_where_it_began() {
    let upstream = Upstream::start().await;
    // The second page leads back to the first, by its absolute URL.
    let back = article(2, Some(&upstream.url("/story")), false);
    upstream
        .route("/story", Reply::html(article(1, Some("/story/2"), true)))
        .route("/story/2", Reply::html(back));
    let light = Light::start(&site_config("join_pages = true"), &upstream).await;
    let page = light_page(&light, "/story").await;
    assert_eq!(page.matches(&marker(1)).count(), PARAGRAPHS, "{page}");
    assert_eq!(page.matches(&marker(2)).count(), PARAGRAPHS, "{page}");
    assert!(!page.contains("<small>Page 3</small>"), "{page}");
    assert!(!page.contains("rel=\"next\""), "{page}");
    assert_eq!((upstream.hits("/story"), upstream.hits("/story/2")), (1, 1));
    light.stop().await;
}

#[tokio::test]
async fn the_page_and_byte_budgets_stop_and_link_the_next_page() {
    let upstream = three_pages(false).await;
    let light = Light::start(
        &site_config("join_pages = true\njoin_max_pages = 2"),
        &upstream,
    )
    .await;
    let page = light_page(&light, "/story").await;
    let found = positions(&page);
    assert!(
        found[0].is_some() && found[1].is_some() && found[2].is_none(),
        "{page}"
    );
    assert!(
        page.contains("<a rel=\"next\" href=\"/story/3\">"),
        "{page}"
    );
    assert_eq!(upstream.hits("/story/3"), 0);
    light.stop().await;

    // One page's Light body is about 2.2 KB: a 4 KiB budget holds the first page only.
    let light = Light::start(
        &site_config("join_pages = true\njoin_max_bytes = 4096"),
        &upstream,
    )
    .await;
    let page = light_page(&light, "/story").await;
    assert_eq!(positions(&page)[1..], [None, None], "{page}");
    assert!(
        page.contains("<a rel=\"next\" href=\"/story/2\">"),
        "{page}"
    );
    light.stop().await;
}

#[tokio::test]
async fn a_failed_page_keeps_what_was_joined_and_links_the_original() {
    let upstream = three_pages(false).await;
    upstream.route(
        "/story/3",
        Reply::with(500, &[("content-type", "text/html")], "down"),
    );
    let light = Light::start(&site_config("join_pages = true"), &upstream).await;
    let page = light_page(&light, "/story").await;
    let found = positions(&page);
    assert!(
        found[0].is_some() && found[1].is_some() && found[2].is_none(),
        "{page}"
    );
    let notice = page
        .find("The next page of this article could not be loaded.")
        .expect("notice");
    let original = format!("<a href=\"{}\">", upstream.url("/story/3"));
    assert!(page[notice..].contains(&original), "{page}");
    // The Light version of the page that failed stays a tap away.
    assert!(
        page.contains("<a rel=\"next\" href=\"/story/3\">"),
        "{page}"
    );
    light.stop().await;
}

#[tokio::test]
async fn a_next_page_on_another_site_is_never_fetched() {
    let upstream = Upstream::start().await;
    let elsewhere = Upstream::start().await;
    elsewhere.route("/story/2", Reply::html(article(2, None, true)));
    let away = elsewhere.url("/story/2");
    upstream.route("/story", Reply::html(article(1, Some(&away), true)));
    let light = Light::start(&site_config("join_pages = true"), &upstream).await;
    let page = light_page(&light, "/story").await;
    assert_eq!(positions(&page)[1], None, "{page}");
    assert_eq!(elsewhere.total_hits(), 0);
    light.stop().await;
}
