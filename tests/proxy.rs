//! End to end: a real upstream on loopback, a real lightmirror server in front of it, and
//! HTTP between them.

#[path = "support/harness.rs"]
mod harness;

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use harness::{site_config, Light, Reply, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ARTICLE: &str = r#"<!doctype html><html lang="en"><head><title>Harbour reopens | The Ledger</title>
<meta property="og:title" content="Harbour reopens"><script src="https://tracker.example/t.js"></script>
<link rel="stylesheet" href="/big.css"><style>body{}</style></head>
<body><nav><a href="/">Home</a></nav>
<article class="story"><h1>Harbour reopens</h1>
<p>The harbour reopened on Monday after <a href="/news/storm.html">the storm</a> and
<a href="https://other.example.org/report">a report</a>.</p>
<figure><img src="/p.jpg" alt="Boats"><figcaption>Boats return.</figcaption></figure>
<p onclick="steal()">Fishing fleets were back by noon.</p>
<iframe src="https://ads.example/x"></iframe><script>track()</script></article>
<footer>Footer</footer><img src="https://pixel.example/p.gif" width="1" height="1"></body></html>"#;

fn streaming_site() -> String {
    site_config(r#"content = ["article.story"]"#)
}

#[tokio::test]
async fn converts_an_article_with_safe_headers() {
    let upstream = Upstream::start().await;
    upstream.route(
        "/news/harbour.html",
        Reply::with(
            200,
            &[("content-type", "text/html"), ("set-cookie", "id=1")],
            ARTICLE,
        ),
    );
    let light = Light::start(&streaming_site(), &upstream).await;
    let response = light.get("/news/harbour.html").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("default-src 'none'"));
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.get("set-cookie").is_none());
    let body = response.text().await.unwrap();
    assert!(body.starts_with("<!doctype html>"), "{body}");
    assert!(body.contains("<title>Harbour reopens</title>"), "{body}");
    assert!(
        body.contains("<a href=\"/news/storm.html\">the storm</a>"),
        "{body}"
    );
    assert!(
        body.contains("<a href=\"https://other.example.org/report\">a report</a>"),
        "{body}"
    );
    assert!(
        body.contains("<figcaption>Boats return.</figcaption>"),
        "{body}"
    );
    assert!(
        body.contains("<p>Fishing fleets were back by noon.</p>"),
        "{body}"
    );
    for gone in [
        "script",
        "track()",
        "onclick",
        "tracker.example",
        "pixel.example",
        "Footer",
        "big.css",
        "<iframe",
    ] {
        assert!(!body.contains(gone), "{gone} leaked: {body}");
    }
    let original = format!("href=\"{}\"", upstream.url("/news/harbour.html"));
    assert!(
        body.contains(&format!("<footer><p><a {original}>Original page</a>")),
        "{body}"
    );
    let saving = body
        .split("Original page</a> · ")
        .nth(1)
        .unwrap_or_default();
    assert!(
        saving.starts_with("This page: ") && saving.contains(" KB · original: 1 KB</p>"),
        "{saving}"
    );
    light.stop().await;
}

#[tokio::test]
async fn output_streams_before_the_upstream_finishes() {
    let upstream = Upstream::start().await;
    let gate = Arc::new(tokio::sync::Notify::new());
    // More than the 4 KiB the challenge check reads before a page may stream.
    let first = format!(
        "<html><head><title>Slow</title></head><body><article class=story><p>First part.</p>{}",
        "<p>More text.</p>".repeat(400)
    );
    upstream.route(
        "/slow",
        Reply::Gated {
            first: first.into(),
            rest: "<p>Last part.</p></article></body></html>".into(),
            gate: gate.clone(),
        },
    );
    let light = Light::start(&streaming_site(), &upstream).await;
    let mut response = light.get("/slow").await;
    assert_eq!(response.status(), 200);
    let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
        .await
        .expect("no bytes arrived while the upstream was still sending")
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&chunk).contains("<title>Slow</title>"));
    gate.notify_one();
    let mut rest = Vec::new();
    while let Some(c) = response.chunk().await.unwrap() {
        rest.extend_from_slice(&c);
    }
    assert!(String::from_utf8_lossy(&rest).contains("<p>Last part.</p>"));
    light.stop().await;
}

#[tokio::test]
async fn compresses_by_accept_encoding() {
    let upstream = Upstream::start().await;
    upstream.route("/a", Reply::html(ARTICLE));
    let light = Light::start(&site_config(""), &upstream).await;
    for (accept, coding) in [("gzip", "gzip"), ("br, gzip", "br")] {
        let response = reqwest::Client::builder()
            .no_gzip()
            .no_brotli()
            .build()
            .unwrap()
            .get(light.url("/a"))
            .header("host", "light.test")
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-encoding"], coding);
        let wire = response.bytes().await.unwrap();
        let mut text = String::new();
        if coding == "gzip" {
            flate2::read::GzDecoder::new(&wire[..])
                .read_to_string(&mut text)
                .unwrap();
        } else {
            brotli::Decompressor::new(&wire[..], 4096)
                .read_to_string(&mut text)
                .unwrap();
        }
        assert!(
            text.contains("Fishing fleets were back by noon."),
            "{coding}: {text}"
        );
    }
    light.stop().await;
}

#[tokio::test]
async fn legacy_charsets_become_utf8_and_rtl() {
    let upstream = Upstream::start().await;
    let persian = "<html lang=\"fa\"><head><title>خبر روز</title></head><body><article class=story><p>بندر دوباره باز شد.</p></article></body></html>";
    let bytes = encoding_rs::WINDOWS_1256.encode(persian).0.into_owned();
    upstream.route(
        "/fa",
        Reply::with(
            200,
            &[("content-type", "text/html; charset=windows-1256")],
            bytes,
        ),
    );
    let light = Light::start(&streaming_site(), &upstream).await;
    let response = light.get("/fa").await;
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let body = response.text().await.unwrap();
    assert!(body.contains("<html lang=\"fa\" dir=\"rtl\">"), "{body}");
    assert!(body.contains("<p>بندر دوباره باز شد.</p>"), "{body}");
    light.stop().await;
}

#[tokio::test]
async fn upstream_failures_map_to_statuses() {
    let upstream = Upstream::start().await;
    upstream
        .route("/error", Reply::with(500, &[], "boom"))
        .route("/stall", Reply::Stall)
        .route(
            "/huge",
            Reply::Endless {
                chunk: "<p>again and again</p>".repeat(1000).into(),
            },
        )
        .route(
            "/pdf",
            Reply::with(
                200,
                &[("content-type", "application/pdf")],
                "%PDF-1.7 secret bytes",
            ),
        )
        .route("/gone", Reply::with(410, &[], "gone"));
    let light = Light::start(&site_config(""), &upstream).await;
    let cases = [
        ("/missing", 404),
        ("/gone", 410),
        ("/error", 502),
        ("/stall", 504),
        ("/huge", 502),
        ("/pdf", 200),
    ];
    for (path, status) in cases {
        let response = light.get(path).await;
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8",
            "{path}"
        );
        let body = response.text().await.unwrap();
        assert!(
            body.contains(&upstream.url(path)),
            "{path} does not link to the original: {body}"
        );
        assert!(
            !body.contains("secret bytes") && !body.contains("boom"),
            "{path} leaked upstream bytes"
        );
    }
    light.stop().await;
}

#[tokio::test]
async fn unreachable_upstream_is_502() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let upstream = Upstream::start().await;
    let config = site_config("").replace("{upstream}", &format!("http://127.0.0.1:{port}"));
    let light = Light::start(&config, &upstream).await;
    assert_eq!(light.get("/x").await.status(), 502);
    light.stop().await;
}

#[tokio::test]
async fn never_an_open_proxy() {
    let upstream = Upstream::start().await;
    upstream.route("/a", Reply::html(ARTICLE));
    let light = Light::start(&site_config(""), &upstream).await;
    let unknown = Light::client()
        .get(light.url("/a"))
        .header("host", "elsewhere.test")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let post = Light::client()
        .post(light.url("/a"))
        .header("host", "light.test")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    for (request, status) in [
        (
            format!(
                "GET http://{}/a HTTP/1.1\r\nHost: light.test\r\n\r\n",
                upstream.addr
            ),
            "400",
        ),
        (
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n".to_owned(),
            "405",
        ),
    ] {
        let mut stream = tokio::net::TcpStream::connect(light.addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.unwrap();
        assert_eq!(&head[9..12], status.as_bytes(), "{request}");
    }
    assert_eq!(
        upstream.total_hits(),
        0,
        "a refused request reached the upstream"
    );
    light.stop().await;
}

#[tokio::test]
async fn private_upstreams_need_explicit_permission() {
    let upstream = Upstream::start().await;
    upstream.route("/a", Reply::html(ARTICLE));
    let config = site_config("").replace(
        "allow_private_upstream = true",
        "allow_private_upstream = false",
    );
    let light = Light::start(&config, &upstream).await;
    assert_eq!(light.get("/a").await.status(), 502);
    assert_eq!(upstream.total_hits(), 0);
    light.stop().await;
}

#[tokio::test]
async fn redirects_stay_on_the_site() {
    let upstream = Upstream::start().await;
    let own = upstream.url("/final");
    upstream
        .route(
            "/moved",
            Reply::with(301, &[("location", own.as_str())], ""),
        )
        .route("/final", Reply::html(ARTICLE))
        .route(
            "/away",
            Reply::with(
                302,
                &[("location", "http://169.254.169.254/latest/meta-data")],
                "",
            ),
        )
        .route("/loop", Reply::with(302, &[("location", "/loop")], ""));
    let light = Light::start(&site_config(""), &upstream).await;
    let moved = light.get("/moved").await;
    assert_eq!(moved.status(), 200);
    assert!(moved.text().await.unwrap().contains("Fishing fleets"));
    let away = light.get("/away").await;
    assert_eq!(away.status(), 200);
    let text = away.text().await.unwrap();
    assert!(
        text.contains("href=\"http://169.254.169.254/latest/meta-data\""),
        "{text}"
    );
    assert_eq!(light.get("/loop").await.status(), 502);
    assert_eq!(
        upstream.hits("/loop"),
        6,
        "redirects were not bounded at five"
    );
    light.stop().await;
}

#[tokio::test]
async fn head_requests_get_headers_only() {
    let upstream = Upstream::start().await;
    upstream.route("/a", Reply::html(ARTICLE));
    let light = Light::start(&site_config(""), &upstream).await;
    let response = Light::client()
        .head(light.url("/a"))
        .header("host", "light.test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    assert!(response.bytes().await.unwrap().is_empty());
    light.stop().await;
}
