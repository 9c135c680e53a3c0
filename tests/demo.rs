//! The demo end to end: the sample site and a Light proxy on `demo_config`, both on
//! ephemeral loopback ports, fetched as a reader would through each of the two sites.

use std::time::{Duration, Instant};

use lightmirror::demo::{self, SampleSite, ARTICLE_PATH, PERSIAN_ARTICLE_PATH, SLOW_PREFIX};
use lightmirror::server::ServerHandle;
use tokio::net::TcpListener;

struct Demo {
    site: SampleSite,
    port: u16,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn demo() -> Demo {
    let site = demo::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let light = listener.local_addr().unwrap();
    let toml = demo::demo_config(site.addr(), light);
    let (config, sites) = lightmirror::config::parse(&toml, "demo").unwrap();
    let handle = ServerHandle::new(config, sites).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        handle
            .serve(listener, async {
                let _ = stopped.await;
            })
            .await;
    });
    Demo {
        site,
        port: light.port(),
        _stop: stop,
    }
}

impl Demo {
    /// A Light page through the site answering to `host` (`127.0.0.1` streams with the
    /// content rule, `localhost` detects).
    async fn get(&self, host: &str, path: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .header("host", format!("{host}:{}", self.port))
            .send()
            .await
            .unwrap()
    }

    async fn original_len(&self, path: &str) -> usize {
        reqwest::Client::builder()
            .no_gzip()
            .build()
            .unwrap()
            .get(self.site.url(path))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .len()
    }
}

#[tokio::test]
async fn the_article_is_light_through_both_sites() {
    let demo = demo().await;
    let original = demo.original_len(ARTICLE_PATH).await;
    for host in ["127.0.0.1", "localhost"] {
        let response = demo.get(host, ARTICLE_PATH).await;
        assert_eq!(response.status(), 200, "{host}");
        let html = response.text().await.unwrap();
        assert!(
            html.len() * 5 < original,
            "{host}: {} bytes from {original}",
            html.len()
        );
        assert!(
            html.contains("Lorna Beck has lived on Saltings Row"),
            "{host}"
        );
        assert!(
            html.contains("Funding for the Aldmere tidal barrier"),
            "{host}"
        );
        assert!(!html.contains("<script"), "{host}");
        assert!(!html.contains("ad-slot"), "{host}");
        // Links to the sample site's pages stay inside the Light site; only media
        // placeholders point at the original files (and the footer at the original page).
        let body = html.split("<main>").nth(1).unwrap();
        let body = body.split("</main>").next().unwrap();
        let origin = demo.site.url("/");
        for (i, _) in body.match_indices(&origin) {
            let rest = &body[i + origin.len()..];
            assert!(
                rest.starts_with("assets/") || rest.starts_with("embed/"),
                "{host}: a link leaves the Light site: {}",
                &rest[..rest.len().min(60)]
            );
        }
        if host == "127.0.0.1" {
            // The content rule keeps the story's section link, now inside the Light site.
            assert!(body.contains("href=\"/city/\""), "{host}");
        }
    }
}

#[tokio::test]
async fn the_persian_article_arrives_as_utf8_right_to_left() {
    let demo = demo().await;
    let response = demo.get("127.0.0.1", PERSIAN_ARTICLE_PATH).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("dir=\"rtl\""), "{}", &html[..300]);
    assert!(html.contains("مهرآباد"));
}

#[tokio::test]
async fn listings_keep_their_headlines() {
    let demo = demo().await;
    for host in ["127.0.0.1", "localhost"] {
        let html = demo.get(host, "/city/").await.text().await.unwrap();
        assert!(
            html.contains("Night buses return to the hill wards"),
            "{host}"
        );
        assert!(
            html.contains("href=\"/city/2026/11/24/tidal-barrier-first-winter\""),
            "{host}: {html}"
        );
    }
}

#[tokio::test]
async fn the_streaming_site_answers_before_the_upstream_has_finished() {
    let demo = demo().await;
    let started = Instant::now();
    let mut response = demo
        .get("127.0.0.1", &format!("{SLOW_PREFIX}{ARTICLE_PATH}"))
        .await;
    assert_eq!(response.status(), 200);
    let mut first = None;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        first.get_or_insert_with(|| started.elapsed());
        body.extend_from_slice(&chunk);
    }
    let first = first.unwrap();
    let last = started.elapsed();
    assert!(
        last >= Duration::from_millis(1_800),
        "the upstream takes two seconds, the page took {last:?}"
    );
    assert!(
        first + Duration::from_millis(500) < last,
        "first byte at {first:?}, last at {last:?}"
    );
    assert!(String::from_utf8_lossy(&body).contains("Lorna Beck"));
}
