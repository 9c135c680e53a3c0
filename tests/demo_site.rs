//! The bundled sample site, served on an ephemeral loopback port and fetched over HTTP the
//! way the proxy fetches it.

use std::io::Read;
use std::time::{Duration, Instant};

use encoding_rs::WINDOWS_1256;
use lightmirror::demo::{self, Pages, SampleSite, ARTICLE_PATH, PERSIAN_ARTICLE_PATH, SLOW_PREFIX};

async fn site() -> SampleSite {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    demo::start(listener).await.unwrap()
}

fn client() -> reqwest::Client {
    // Without automatic decompression, so the test sees the bytes on the wire.
    reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .build()
        .unwrap()
}

async fn get(site: &SampleSite, path: &str) -> reqwest::Response {
    client().get(site.url(path)).send().await.unwrap()
}

/// Whether the page declares UTF-8 within its first kilobyte, where browsers and the
/// proxy's decoder look for a `<meta charset>`.
fn html_has_utf8_meta(bytes: &[u8]) -> bool {
    bytes
        .windows(22)
        .take(1024)
        .any(|w| w == b"<meta charset=\"utf-8\">")
}

fn content_type(response: &reqwest::Response) -> String {
    response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn every_page_is_served_heavy_with_its_links_on_the_site() {
    let site = site().await;
    let origin = site.url("");
    let pages = Pages::render(&origin);
    let mut paths: Vec<&str> = pages.paths().collect();
    paths.sort_unstable();
    assert!(paths.len() >= 20, "{paths:?}");
    for path in paths {
        let response = get(&site, path).await;
        assert_eq!(response.status(), 200, "{path}");
        let expected = pages.get(path).unwrap();
        assert_eq!(content_type(&response), expected.content_type, "{path}");
        let bytes = response.bytes().await.unwrap();
        assert_eq!(bytes, expected.body, "{path}");
        let html = if path == PERSIAN_ARTICLE_PATH {
            WINDOWS_1256
                .decode_without_bom_handling(&bytes)
                .0
                .into_owned()
        } else {
            assert_eq!(expected.content_type, "text/html; charset=utf-8", "{path}");
            assert!(html_has_utf8_meta(&bytes), "{path}");
            String::from_utf8(bytes.to_vec()).unwrap()
        };
        assert!(
            html.len() > 250_000,
            "{path} weighs only {} bytes",
            html.len()
        );
        assert!(html.contains("application/ld+json"), "{path}");
        assert!(html.contains("property=\"og:title\""), "{path}");
        assert!(html.matches("<script").count() >= 10, "{path}");
        assert!(!html.contains("{{"), "{path} has an unfilled placeholder");
        assert!(html.contains(&format!("href=\"{origin}/")), "{path}");
        // Every absolute URL in the page is on the site's own origin.
        for (i, _) in html.match_indices("http://") {
            assert!(
                html[i..].starts_with(&origin),
                "{path}: {}",
                &html[i..i + 40]
            );
        }
    }
    let listing = get(&site, "/city/").await.text().await.unwrap();
    assert!(listing.contains("href=\"2026/11/24/night-buses-return\""));
    assert!(listing.contains(&format!("href=\"{origin}{ARTICLE_PATH}\"")));
}

#[tokio::test]
async fn the_article_carries_every_part_of_a_news_page() {
    let site = site().await;
    let html = get(&site, ARTICLE_PATH).await.text().await.unwrap();
    assert!(html.len() >= 300_000, "{} bytes", html.len());
    for part in [
        "<h1 class=\"headline\"",
        "class=\"byline\"",
        "<time datetime=\"2026-11-24T06:30:00+00:00\"",
        "class=\"standfirst\"",
        "<h2>",
        "<blockquote",
        "<ul class=\"criteria\">",
        "<table class=\"data-table\">",
        "<figcaption>",
        "class=\"inline-photo\"",
        "data-src=\"/assets/img/sea-level-chart-720.png\"",
        "<iframe src=",
        "title=\"The first full test closure",
        "class=\"share-bar",
        "class=\"related\"",
        "class=\"cookie-banner\"",
        "id=\"newsletter-signup\"",
        "class=\"comments\"",
        "class=\"primary-nav\"",
        "class=\"site-footer\"",
        "/t/pixel.gif",
        "class=\"ad-slot",
        "\"@type\":\"NewsArticle\"",
        "id=\"__LEDGER_STATE__\"",
    ] {
        assert!(html.contains(part), "article lacks {part}");
    }
    let article = html.split("<article").nth(1).unwrap();
    let words = article
        .split('<')
        .filter_map(|s| s.split_once('>').map(|(_, text)| text))
        .flat_map(str::split_whitespace)
        .count();
    assert!(words >= 1_500, "only {words} words");
}

#[tokio::test]
async fn the_persian_article_is_windows_1256_named_only_in_the_header() {
    let site = site().await;
    let response = get(&site, PERSIAN_ARTICLE_PATH).await;
    assert_eq!(response.status(), 200);
    assert_eq!(content_type(&response), "text/html; charset=windows-1256");
    let bytes = response.bytes().await.unwrap();
    assert!(std::str::from_utf8(&bytes).is_err(), "sent as UTF-8");
    let (text, had_errors) = WINDOWS_1256.decode_without_bom_handling(&bytes);
    assert!(!had_errors);
    assert!(text.contains("<html lang=\"fa\" dir=\"rtl\""));
    assert!(!text.to_ascii_lowercase().contains("<meta charset"));
    // FARSI YEH is not in windows-1256; the page writes ARABIC YEH as such sites did.
    assert!(text.contains("قنات‌های کهن".replace('ی', "ي").as_str()));
    assert!(!text.contains("&#"), "a character did not fit windows-1256");
    let phrase = "روستای مهرآباد".replace('ی', "ي");
    let (expected, _, _) = WINDOWS_1256.encode(&phrase);
    assert!(bytes
        .windows(expected.len())
        .any(|window| window == expected.as_ref()));
    let article = text.split("<article").nth(1).unwrap();
    let persian_words = article
        .split_whitespace()
        .filter(|w| {
            w.chars()
                .next()
                .is_some_and(|c| ('\u{0600}'..='\u{06FF}').contains(&c))
        })
        .count();
    assert!(persian_words >= 600, "only {persian_words} Persian words");
}

#[tokio::test]
async fn pages_are_gzipped_for_clients_that_ask() {
    let site = site().await;
    let plain = get(&site, ARTICLE_PATH).await.bytes().await.unwrap();
    let response = client()
        .get(site.url(ARTICLE_PATH))
        .header("accept-encoding", "br;q=1, gzip;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let compressed = response.bytes().await.unwrap();
    assert!(compressed.len() < plain.len() / 3);
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut inflated)
        .unwrap();
    assert_eq!(inflated, plain);

    let refused = client()
        .get(site.url(ARTICLE_PATH))
        .header("accept-encoding", "gzip;q=0")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn the_slow_path_sends_the_same_page_over_two_seconds() {
    let site = site().await;
    let whole = get(&site, ARTICLE_PATH).await.bytes().await.unwrap();
    let started = Instant::now();
    let mut response = get(&site, &format!("{SLOW_PREFIX}{ARTICLE_PATH}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let mut body = response.chunk().await.unwrap().unwrap().to_vec();
    let first = started.elapsed();
    while let Some(chunk) = response.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    let last = started.elapsed();
    assert_eq!(body, whole);
    assert!(
        first < Duration::from_millis(500),
        "first byte after {first:?}"
    );
    assert!(last >= Duration::from_millis(1_800), "done after {last:?}");
}

#[tokio::test]
async fn small_routes_and_unknown_paths() {
    let site = site().await;
    let pixel = get(&site, "/t/pixel.gif?e=pageview").await;
    assert_eq!(pixel.status(), 200);
    assert_eq!(content_type(&pixel), "image/gif");
    assert!(pixel.bytes().await.unwrap().starts_with(b"GIF89a"));
    let embed = get(&site, "/embed/video/barrier-test-closure").await;
    assert_eq!(embed.status(), 200);
    assert_eq!(
        get(&site, "/assets/img/barrier-dusk-960.jpg")
            .await
            .status(),
        404
    );
    assert_eq!(get(&site, "/no/such/story").await.status(), 404);
    let post = client().post(site.url("/")).send().await.unwrap();
    assert_eq!(post.status(), 405);
    // A query string does not change the page: caches see unique URLs, the site one page.
    let query = get(&site, &format!("{ARTICLE_PATH}?n=17")).await;
    assert_eq!(query.status(), 200);
}

#[tokio::test]
async fn dropping_the_handle_stops_the_site() {
    let site = site().await;
    let url = site.url("/");
    assert_eq!(client().get(&url).send().await.unwrap().status(), 200);
    drop(site);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let fresh = reqwest::Client::builder().build().unwrap();
    assert!(fresh.get(&url).send().await.is_err());
}
