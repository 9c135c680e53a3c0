//! `Cache-Status` (RFC 9211), `Age` and the `Cache-Control` a CDN in front reads, on every
//! way a Light page is served: stored, hit, shared, stale and uncacheable.

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use bytes::Bytes;
use harness::{site_config, Light, Reply, Upstream};

const PAGE: &str =
    "<html><head><title>Tide tables</title></head><body><article><h1>Tide tables</h1>\
<p>The tide tables for the harbour were published on Monday morning.</p></article></body></html>";

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn every_answer_says_how_the_cache_took_part() {
    let upstream = Upstream::start().await;
    upstream.route("/tides", Reply::html(PAGE));
    upstream.route(
        "/private",
        Reply::with(
            200,
            &[("content-type", "text/html"), ("cache-control", "no-store")],
            PAGE,
        ),
    );
    upstream.route(
        "/old",
        Reply::with(
            200,
            &[
                ("content-type", "text/html"),
                ("cache-control", "max-age=1"),
            ],
            PAGE,
        ),
    );
    let light = Light::start(&site_config("cache_ttl = \"60s\""), &upstream).await;

    let stored = light.get("/tides").await;
    assert_eq!(
        header(&stored, "cache-status"),
        "lightmirror; fwd=miss; stored"
    );
    // A CDN in front keeps it as long as this cache does, may serve it one lifetime
    // more while it revalidates, and as long as this cache would when the proxy fails.
    assert_eq!(
        header(&stored, "cache-control"),
        "public, max-age=60, s-maxage=60, stale-while-revalidate=60, stale-if-error=604800"
    );
    let hit = light.get("/tides").await;
    let status = header(&hit, "cache-status");
    assert!(status.starts_with("lightmirror; hit; ttl="), "{status}");
    assert_eq!(header(&hit, "age"), "0");

    let uncacheable = light.get("/private").await;
    assert_eq!(
        header(&uncacheable, "cache-status"),
        "lightmirror; fwd=uri-miss"
    );
    let missing = light.get("/nowhere").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        header(&missing, "cache-status"),
        "lightmirror; fwd=uri-miss"
    );

    assert_eq!(light.get("/old").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    upstream.route("/old", Reply::with(503, &[], "down"));
    let stale = light.get("/old").await;
    assert_eq!(stale.status(), 200);
    assert_eq!(
        header(&stale, "cache-status"),
        "lightmirror; fwd=stale; detail=upstream-failed"
    );
    assert_eq!(
        header(&stale, "cache-control"),
        "public, max-age=0, stale-if-error=604800"
    );
    assert!(header(&stale, "age").parse::<u64>().unwrap() >= 1);
    light.stop().await;
}

#[tokio::test]
async fn readers_of_one_fetch_see_it_shared() {
    let upstream = Upstream::start().await;
    upstream.route(
        "/slow",
        Reply::Chunks {
            status: 200,
            headers: vec![("content-type".into(), "text/html".into())],
            chunks: vec![(Duration::from_millis(300), Bytes::from(PAGE))],
        },
    );
    let light = Light::start(&site_config(""), &upstream).await;
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let url = light.url("/slow");
            tokio::spawn(async move {
                let response = Light::client()
                    .get(url)
                    .header("host", "light.test")
                    .send()
                    .await
                    .unwrap();
                header(&response, "cache-status")
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for reader in readers {
        statuses.push(reader.await.unwrap());
    }
    statuses.sort();
    assert_eq!(upstream.hits("/slow"), 1);
    assert_eq!(
        statuses,
        [
            "lightmirror; fwd=miss; collapsed",
            "lightmirror; fwd=miss; collapsed",
            "lightmirror; fwd=miss; collapsed",
            "lightmirror; fwd=miss; stored",
        ]
    );
    light.stop().await;
}
