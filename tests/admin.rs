//! The admin listener against real servers: metrics that move with real requests, and a
//! health check, on a listener readers never reach.

#[path = "support/harness.rs"]
mod harness;

use harness::{site_config, Light, Reply, Upstream};

const PAGE: &str = "<html><head><title>Ferry times</title></head><body><article><h1>Ferry times</h1>\
<p>The winter ferry timetable starts on Monday, with two sailings fewer each day.</p></article></body></html>";

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
