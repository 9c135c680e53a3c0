//! The admin listener against real servers: metrics that move with real requests, a
//! health check and purges (by request and by the `lightmirror purge` command), on a
//! listener readers never reach.

#[path = "support/harness.rs"]
mod harness;

use harness::{site_config, Light, Reply, Upstream};

const PAGE: &str = "<html><head><title>Ferry times</title></head><body><article><h1>Ferry times</h1>\
<p>The winter ferry timetable starts on Monday, with two sailings fewer each day.</p></article></body></html>";

/// Serves `light`'s admin listener on an ephemeral port.
async fn admin_of(light: &Light) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = listener.local_addr().unwrap();
    let handle = light.handle.clone();
    tokio::spawn(async move { handle.serve_admin(listener).await });
    admin
}

async fn scrape(admin: std::net::SocketAddr) -> String {
    reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_count_real_requests_and_health_answers() {
    let upstream = Upstream::start().await;
    upstream.route("/ferry", Reply::html(PAGE));
    upstream.route("/down", Reply::with(503, &[], "down"));
    let light = Light::start(&site_config(""), &upstream).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = listener.local_addr().unwrap();
    let handle = light.handle.clone();
    tokio::spawn(async move { handle.serve_admin(listener).await });

    let health = reqwest::get(format!("http://{admin}/health"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let before = scrape(admin).await;
    assert_eq!(light.get("/ferry").await.status(), 200);
    assert_eq!(light.get("/ferry").await.status(), 200);
    assert_eq!(light.get("/down").await.status(), 502);
    let after = scrape(admin).await;

    let hits = r#"lightmirror_requests_total{site="ledger",status="2xx",cache="hit"}"#;
    let misses = r#"lightmirror_requests_total{site="ledger",status="2xx",cache="miss"}"#;
    let failed = r#"lightmirror_requests_total{site="ledger",status="5xx",cache="uncacheable"}"#;
    assert_eq!(value(&after, hits) - value(&before, hits), 1.0, "{after}");
    assert_eq!(
        value(&after, misses) - value(&before, misses),
        1.0,
        "{after}"
    );
    assert_eq!(
        value(&after, failed) - value(&before, failed),
        1.0,
        "{after}"
    );
    let fetches = r#"lightmirror_upstream_fetches_total{site="ledger"}"#;
    assert_eq!(value(&after, fetches), 2.0, "{after}");
    let errors = r#"lightmirror_upstream_errors_total{site="ledger",kind="unreachable"}"#;
    assert_eq!(value(&after, errors), 1.0, "{after}");
    assert!(
        value(&after, r#"lightmirror_original_bytes_total{site="ledger"}"#) >= PAGE.len() as f64
    );
    assert!(value(&after, "lightmirror_cache_pages") >= 1.0, "{after}");
    assert_eq!(value(&after, "lightmirror_config_generation"), 1.0);
    // The readers' listener has no such page.
    assert_eq!(light.get("/metrics").await.status(), 404);
    light.stop().await;
}

async fn purge(admin: std::net::SocketAddr, query: &str, form: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("http://{admin}/purge?{query}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_purge_makes_the_next_request_a_miss() {
    let upstream = Upstream::start().await;
    for path in ["/ferry", "/ferry?day=mon", "/news/one", "/news/two"] {
        upstream.route(path, Reply::html(PAGE));
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("pages");
    let config = site_config("").replace(
        "[limits]",
        &format!("[cache]\ndir = {:?}\n\n[limits]", dir.to_str().unwrap()),
    );
    let light = Light::start(&config, &upstream).await;
    let admin = admin_of(&light).await;
    let read_all = || async {
        for path in ["/ferry", "/ferry?day=mon", "/news/one", "/news/two"] {
            assert_eq!(light.get(path).await.status(), 200, "{path}");
        }
    };
    read_all().await;
    read_all().await;
    assert_eq!(upstream.total_hits(), 4);

    assert_eq!(
        purge(admin, "", "site=ledger&path=/ferry").await,
        (200, "{\"removed\": 2, \"images\": 0}\n".into())
    );
    read_all().await;
    assert_eq!(upstream.hits("/ferry"), 2);
    assert_eq!(upstream.hits("/ferry?day=mon"), 2);
    assert_eq!(upstream.hits("/news/one"), 1);

    for (query, form) in [
        ("site=elsewhere", ""),
        ("", "path=/ferry"),
        ("site=ledger&path=/ferry", "prefix=/news/"),
    ] {
        let (status, body) = purge(admin, query, form).await;
        assert_eq!(status, 400, "{query} {form}: {body}");
    }
    let get = reqwest::get(format!("http://{admin}/purge")).await.unwrap();
    assert_eq!(get.status(), 404);
    // Readers cannot purge.
    let reader = Light::client()
        .post(light.url("/purge?site=ledger"))
        .header("host", "light.test")
        .send()
        .await
        .unwrap();
    assert_ne!(reader.status(), 200);
    assert_eq!(upstream.total_hits(), 6);

    // The command, as an operator runs it.
    let command = tokio::process::Command::new(env!("CARGO_BIN_EXE_lightmirror"))
        .args(["purge", "--admin", &admin.to_string(), "--site", "ledger"])
        .args(["--prefix", "/news/"])
        .output()
        .await
        .unwrap();
    assert!(command.status.success(), "{command:?}");
    assert_eq!(String::from_utf8_lossy(&command.stdout), "2\n");
    read_all().await;
    assert_eq!(upstream.hits("/news/one"), 2);
    assert_eq!(upstream.hits("/ferry"), 2);
    assert_eq!(
        purge(admin, "site=ledger", "").await,
        (200, "{\"removed\": 4, \"images\": 0}\n".into())
    );
    light.stop().await;

    // What was purged from the directory stays purged across a restart.
    assert_eq!(purge_restarted(&config, &upstream).await, 0);
}

/// After a restart on the same directory, purges the whole site: the pages it held.
async fn purge_restarted(config: &str, upstream: &Upstream) -> u64 {
    let light = Light::start(config, upstream).await;
    let admin = admin_of(&light).await;
    let (status, body) = purge(admin, "site=ledger", "").await;
    assert_eq!(status, 200, "{body}");
    light.stop().await;
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    answer["removed"].as_u64().unwrap()
}

#[tokio::test]
async fn a_purge_makes_the_next_image_request_a_fresh_fetch() {
    let upstream = Upstream::start().await;
    let jpeg = |shade: u8| {
        let pixels = image::RgbImage::from_pixel(64, 48, image::Rgb([shade, 90, 40]));
        let mut bytes = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(pixels)
            .write_to(&mut bytes, image::ImageFormat::Jpeg)
            .unwrap();
        Reply::with(200, &[("content-type", "image/jpeg")], bytes.into_inner())
    };
    upstream.route("/photos/quay.jpg", jpeg(200));
    upstream.route("/charts/fares.jpg", jpeg(20));
    let light = Light::start(&site_config(""), &upstream).await;
    let admin = admin_of(&light).await;
    let href = |path: &str| {
        let source = url::Url::parse(&upstream.url(path)).unwrap();
        lightmirror::image::light_path(&source).unwrap()
    };
    let (quay, fares) = (href("/photos/quay.jpg"), href("/charts/fares.jpg"));
    let read = |href: String| {
        let light = &light;
        async move {
            let response = light.get(&href).await;
            assert_eq!(response.status(), 200, "{href}");
            let status = response.headers()["cache-status"]
                .to_str()
                .unwrap()
                .to_owned();
            (status, response.bytes().await.unwrap())
        }
    };
    let (_, first) = read(quay.clone()).await;
    read(fares.clone()).await;
    let (status, _) = read(quay.clone()).await;
    assert!(status.contains("hit"), "{status}");
    assert_eq!(upstream.hits("/photos/quay.jpg"), 1);

    // A path purge takes that image and no other; a page purge counts it apart.
    assert_eq!(
        purge(admin, "site=ledger&path=/photos/quay.jpg", "").await,
        (200, "{\"removed\": 0, \"images\": 1}\n".into())
    );
    upstream.route("/photos/quay.jpg", jpeg(40));
    let (status, again) = read(quay.clone()).await;
    assert!(status.contains("fwd=miss"), "{status}");
    assert_eq!(upstream.hits("/photos/quay.jpg"), 2);
    assert_ne!(
        again, first,
        "the image was made anew from the new original"
    );
    let (status, _) = read(fares.clone()).await;
    assert!(status.contains("hit"), "{status}");

    assert_eq!(
        purge(admin, "site=ledger&prefix=/charts/", "").await,
        (200, "{\"removed\": 0, \"images\": 1}\n".into())
    );
    read(fares).await;
    assert_eq!(upstream.hits("/charts/fares.jpg"), 2);
    assert_eq!(
        purge(admin, "site=ledger", "").await,
        (200, "{\"removed\": 0, \"images\": 2}\n".into())
    );
    light.stop().await;
}
