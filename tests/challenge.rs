//! Bot walls and challenges against one real server, no store: never cached, never shown
//! as the article, the saved copy served in their place, and each one counted.

#[path = "support/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::{site_config, Light, Reply, Upstream};

const STORY: &str = "<html><head><title>Tide tables</title></head><body><article>\
<h1>Tide tables</h1><p>The spring tides this week reach their highest on Thursday \
evening, the harbour office said, and the lower quay will close for two hours.</p>\
</article></body></html>";
const TEXT: &str = "The spring tides this week";

const HTML: [(&str, &str); 1] = [("content-type", "text/html; charset=utf-8")];

#[tokio::test]
async fn challenges_are_failures_with_or_without_a_saved_copy() {
    let upstream = Upstream::start().await;
    let fresh_for_a_second = [HTML[0], ("cache-control", "max-age=1")];
    upstream.route("/tides", Reply::with(200, &fresh_for_a_second, STORY));
    let walls = [
        (
            "/cloudflare",
            Reply::with(403, &HTML, "<html><head><title>Just a moment...</title></head><body></body></html>"),
        ),
        (
            "/captcha",
            Reply::with(429, &HTML, "<html><body><form><div class=\"h-captcha\"></div></form></body></html>"),
        ),
        (
            "/interstitial",
            Reply::with(503, &HTML, "<html><body><script>document.cookie='a=1';location.reload()</script></body></html>"),
        ),
        (
            "/mitigated",
            Reply::with(200, &[HTML[0], ("cf-mitigated", "challenge")], STORY),
        ),
        (
            "/ok-status",
            Reply::with(200, &HTML, "<html><head><title>Just a moment...</title></head><body><script>window._cf_chl_opt={}</script></body></html>"),
        ),
    ];
    for (path, reply) in &walls {
        upstream.route(path, reply.clone());
    }
    let light = Light::start(&site_config(""), &upstream).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = listener.local_addr().unwrap();
    let handle = light.handle.clone();
    tokio::spawn(async move { handle.serve_admin(listener).await });

    for (path, _) in &walls {
        for _ in 0..2 {
            let refused = light.get(path).await;
            assert_eq!(refused.status(), 502, "{path}");
            let body = refused.text().await.unwrap();
            assert!(body.contains("refused the mirror"), "{path}: {body}");
            assert!(
                !body.contains("Just a moment") && !body.contains(TEXT),
                "{path}: {body}"
            );
        }
        // Nothing was kept: each reader's request went to the upstream.
        assert_eq!(upstream.hits(path), 2, "{path}");
    }

    // With a saved copy, the copy stands in.
    assert_eq!(light.get("/tides").await.status(), 200);
    upstream.route("/tides", walls[0].1.clone());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let saved = light.get("/tides").await;
    assert_eq!(saved.status(), 200);
    let status = saved.headers()["cache-status"].to_str().unwrap().to_owned();
    assert!(status.contains("detail=upstream-challenge"), "{status}");
    assert!(saved.text().await.unwrap().contains(TEXT));

    let metrics = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted = r#"lightmirror_upstream_errors_total{site="ledger",kind="challenge"} 11"#;
    assert!(metrics.contains(counted), "{metrics}");
    light.stop().await;
}

#[tokio::test]
async fn articles_about_challenges_are_pages() {
    let upstream = Upstream::start().await;
    let article = STORY.replace(
        "</p>",
        " Readers abroad sometimes meet a captcha or a page saying \"Just a moment...\".</p>",
    );
    upstream.route("/story", Reply::with(200, &HTML, article));
    // A plain refusal is a refusal, not a challenge.
    upstream.route(
        "/forbidden",
        Reply::with(403, &HTML, "<html><body><h1>Forbidden</h1></body></html>"),
    );
    let light = Light::start(&site_config(""), &upstream).await;
    let page = light.get("/story").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(TEXT));
    let refused = light.get("/forbidden").await;
    assert_eq!(refused.status(), 403);
    assert!(!refused.text().await.unwrap().contains("refused the mirror"));
    light.stop().await;
}

#[tokio::test]
async fn a_streamed_page_is_not_held_past_its_head() {
    let upstream = Upstream::start().await;
    let gate = Arc::new(tokio::sync::Notify::new());
    // Past the decoder's 1 KiB sniffing window, short of the 4 KiB the check reads at most:
    // the head has ended, so nothing the check reads is still to come.
    let first = format!(
        "<html><head><title>Tide tables</title></head><body><article class=story><p>{}</p>",
        "The spring tides this week reach their highest. ".repeat(40)
    );
    assert!((1 << 10..4 << 10).contains(&first.len()));
    upstream.route(
        "/tides",
        Reply::Gated {
            first: first.into(),
            rest: "<p>Last part.</p></article></body></html>".into(),
            gate: gate.clone(),
        },
    );
    let light = Light::start(&site_config(r#"content = ["article.story"]"#), &upstream).await;
    let first_bytes = async {
        let mut response = light.get("/tides").await;
        let chunk = response.chunk().await.unwrap().unwrap();
        (response, chunk)
    };
    let (mut response, chunk) = tokio::time::timeout(Duration::from_secs(10), first_bytes)
        .await
        .expect("the page was held back although its head had ended");
    assert_eq!(response.status(), 200);
    assert!(String::from_utf8_lossy(&chunk).contains("<title>Tide tables</title>"));
    gate.notify_one();
    let mut rest = Vec::new();
    while let Some(c) = response.chunk().await.unwrap() {
        rest.extend_from_slice(&c);
    }
    assert!(String::from_utf8_lossy(&rest).contains("<p>Last part.</p>"));
    light.stop().await;
}
