//! The cache as readers meet it: one upstream fetch for a crowd, a saved copy when the
//! upstream fails, conditional requests, the upstream's no-store, and pages that survive a
//! restart through the cache directory.

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{site_config, Light, Reply, Upstream};

const PAGE: &str = "<html><head><title>Tide tables</title></head><body><article class=story><p>High water at 09:12 and 21:40.</p></article></body></html>";

fn slow_page(delay_ms: u64) -> Reply {
    Reply::Chunks {
        status: 200,
        headers: vec![("content-type".into(), "text/html".into())],
        chunks: vec![(Duration::from_millis(delay_ms), PAGE.into())],
    }
}

/// The page, fresh for one second and then stale.
fn fresh_for_one_second() -> Reply {
    Reply::with(
        200,
        &[
            ("content-type", "text/html"),
            ("cache-control", "max-age=1"),
        ],
        PAGE,
    )
}

#[tokio::test]
async fn concurrent_readers_share_one_fetch() {
    for rules in ["", r#"content = ["article.story"]"#] {
        let upstream = Upstream::start().await;
        upstream.route("/tides", slow_page(300));
        let light = Light::start(&site_config(rules), &upstream).await;
        let readers: Vec<_> = (0..20)
            .map(|_| {
                let url = light.url("/tides");
                tokio::spawn(async move {
                    let response = Light::client()
                        .get(url)
                        .header("host", "light.test")
                        .send()
                        .await
                        .unwrap();
                    (response.status().as_u16(), response.text().await.unwrap())
                })
            })
            .collect();
        for reader in readers {
            let (status, body) = reader.await.unwrap();
            assert_eq!(status, 200, "{rules}");
            assert!(body.contains("High water at 09:12"), "{rules}: {body}");
        }
        assert_eq!(
            upstream.hits("/tides"),
            1,
            "{rules}: the crowd was not coalesced"
        );
        light.stop().await;
    }
}

#[tokio::test]
async fn stale_copy_is_served_when_the_upstream_fails() {
    let upstream = Upstream::start().await;
    upstream.route("/tides", fresh_for_one_second());
    let light = Light::start(&site_config(""), &upstream).await;
    assert_eq!(light.get("/tides").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    upstream.route("/tides", Reply::with(503, &[], "down for maintenance"));
    let response = light.get("/tides").await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(body.contains("High water at 09:12"), "{body}");
    assert!(
        body.contains("This is a saved copy from"),
        "stale copy not marked: {body}"
    );
    assert_eq!(upstream.hits("/tides"), 2);

    upstream.route("/tides", Reply::Stall);
    let response = light.get("/tides").await;
    assert_eq!(
        response.status(),
        200,
        "a timeout should fall back to the saved copy"
    );
    light.stop().await;
}

#[tokio::test]
async fn a_failed_fetch_never_replaces_a_good_copy() {
    let upstream = Upstream::start().await;
    upstream.route("/tides", fresh_for_one_second());
    let light = Light::start(&site_config(""), &upstream).await;
    light.get("/tides").await.text().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    upstream.route(
        "/tides",
        Reply::Endless {
            chunk: "<p>more</p>".repeat(1000).into(),
        },
    );
    assert!(
        light
            .get("/tides")
            .await
            .text()
            .await
            .unwrap()
            .contains("High water"),
        "oversized body replaced the copy"
    );
    upstream.route("/tides", Reply::with(503, &[], "down"));
    assert!(light
        .get("/tides")
        .await
        .text()
        .await
        .unwrap()
        .contains("High water"));
    light.stop().await;
}

#[tokio::test]
async fn conditional_requests_get_304() {
    let upstream = Upstream::start().await;
    upstream.route("/tides", Reply::html(PAGE));
    let light = Light::start(&site_config(""), &upstream).await;
    let first = light.get("/tides").await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let last_modified = first.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(first.headers()["cache-control"]
        .to_str()
        .unwrap()
        .starts_with("public, max-age="));
    assert_eq!(first.headers()["vary"], "Accept-Encoding");
    for (name, value) in [
        ("if-none-match", etag.as_str()),
        ("if-modified-since", last_modified.as_str()),
    ] {
        let again = Light::client()
            .get(light.url("/tides"))
            .header("host", "light.test")
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{name}");
        assert!(again.bytes().await.unwrap().is_empty());
    }
    assert_eq!(upstream.hits("/tides"), 1);
    light.stop().await;
}

#[tokio::test]
async fn no_store_and_private_pages_are_not_kept() {
    let upstream = Upstream::start().await;
    upstream
        .route(
            "/private",
            Reply::with(
                200,
                &[("content-type", "text/html"), ("cache-control", "private")],
                PAGE,
            ),
        )
        .route(
            "/nostore",
            Reply::with(
                200,
                &[("content-type", "text/html"), ("cache-control", "no-store")],
                PAGE,
            ),
        )
        .route(
            "/keep",
            Reply::with(
                200,
                &[
                    ("content-type", "text/html"),
                    ("cache-control", "s-maxage=600, max-age=0"),
                ],
                PAGE,
            ),
        );
    let light = Light::start(&site_config(""), &upstream).await;
    for path in ["/private", "/nostore", "/keep"] {
        for _ in 0..2 {
            let response = light.get(path).await;
            assert_eq!(response.status(), 200);
            if path != "/keep" {
                assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
            }
        }
    }
    assert_eq!(upstream.hits("/private"), 2);
    assert_eq!(upstream.hits("/nostore"), 2);
    assert_eq!(upstream.hits("/keep"), 1, "s-maxage should keep the page");
    light.stop().await;
}

#[tokio::test]
async fn no_transform_sends_readers_to_the_original() {
    let upstream = Upstream::start().await;
    upstream.route(
        "/as-is",
        Reply::with(
            200,
            &[
                ("content-type", "text/html"),
                ("cache-control", "public, no-transform"),
            ],
            PAGE,
        ),
    );
    let light = Light::start(&site_config(""), &upstream).await;
    let response = light.get("/as-is").await;
    assert_eq!(response.status(), 302);
    assert_eq!(
        response.headers()["location"],
        upstream.url("/as-is").as_str()
    );
    light.stop().await;
}

#[tokio::test]
async fn the_cache_directory_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start().await;
    upstream.route("/tides", fresh_for_one_second());
    let config = site_config("").replace(
        "[limits]",
        &format!(
            "[cache]\ndir = {:?}\n\n[limits]",
            dir.path().to_str().unwrap()
        ),
    );
    let light = Light::start(&config, &upstream).await;
    assert_eq!(light.get("/tides").await.status(), 200);
    light.stop().await;

    upstream.route("/tides", Reply::with(502, &[], "blocked"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let restarted = Light::start(&config, &upstream).await;
    let response = restarted.get("/tides").await;
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("High water at 09:12"));
    restarted.stop().await;
}
