//! The cache as readers meet it: one upstream fetch for a crowd, a saved copy when the
//! upstream fails, conditional requests, the upstream's no-store, pages that survive a
//! restart through the cache directory, floods of one-off pages that leave read pages in
//! place, a cache directory an attacker has written to, and reloads that change a site's
//! rules.

#[path = "support/harness.rs"]
mod harness;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use harness::{site_config, Light, Reply, Upstream};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

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

/// The one-site configuration with `[cache]` settings.
fn with_cache(cache: &str) -> String {
    site_config("").replace("[limits]", &format!("[cache]\n{cache}\n\n[limits]"))
}

fn in_dir(dir: &Path) -> String {
    with_cache(&format!("dir = {:?}", dir.to_str().unwrap()))
}

#[tokio::test]
async fn the_cache_directory_survives_a_restart() {
    let root = tempfile::tempdir().unwrap();
    // The key file goes beside the directory, inside the temporary one.
    let config = in_dir(&root.path().join("pages"));
    let upstream = Upstream::start().await;
    upstream.route("/tides", fresh_for_one_second());
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

/// Memory for a few dozen of these small pages, so a flood would overflow it many times.
const SMALL_CACHE: &str = "max_bytes = 200000";

/// Requests in flight at once in a flood. The test upstream answers each in tens of
/// milliseconds (its header and body leave in separate packets), so a flood is quick only
/// when many wait at once.
const FLOOD_CONCURRENCY: usize = 128;

/// A small cache, and a site that lets a flood's fetches all run at once.
fn flood_config() -> String {
    with_cache(SMALL_CACHE).replace(
        "[limits]\n",
        &format!("[limits]\nupstream_concurrency = {FLOOD_CONCURRENCY}\n"),
    )
}

/// GETs every path, many at a time, each expected to answer 200. One client for all: a
/// new one per request would cost more than the proxy's work.
async fn read_all(light: &Light, paths: impl Iterator<Item = String>) {
    let client = Light::client();
    let requests = paths.map(|path| {
        let request = client.get(light.url(&path)).header("host", "light.test");
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            response.bytes().await.unwrap();
        }
    });
    futures_util::stream::iter(requests)
        .buffer_unordered(FLOOD_CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_read_twice_survives_a_flood_of_one_off_pages() {
    let upstream = Upstream::start().await;
    upstream.route("/tides", Reply::html(PAGE));
    let flood = |i: usize| format!("/n{i}?x={i}");
    for i in 0..2000 {
        upstream.route(&flood(i), Reply::html(PAGE));
    }
    let light = Light::start(&flood_config(), &upstream).await;
    // One after the other: readers at the same moment share one fetch, and only a
    // lookup after the page was stored counts as reading it again.
    for _ in 0..2 {
        read_all(&light, ["/tides".to_owned()].into_iter()).await;
    }
    read_all(&light, (0..2000).map(flood)).await;
    read_all(&light, ["/tides".to_owned(), flood(0)].into_iter()).await;
    assert_eq!(
        upstream.hits("/tides"),
        1,
        "the page read twice was flushed"
    );
    assert_eq!(
        upstream.hits(&flood(0)),
        2,
        "the flood never filled the cache"
    );
    light.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_variants_costs_one_path_its_share() {
    let upstream = Upstream::start().await;
    let variant = |i: usize| format!("/tides?x={i}");
    for path in ["/a", "/b", "/c"] {
        upstream.route(path, Reply::html(PAGE));
    }
    for i in 0..=2000 {
        upstream.route(&variant(i), Reply::html(PAGE));
    }
    let light = Light::start(&flood_config(), &upstream).await;
    // Read once each: they wait in probation, beside the burst.
    read_all(&light, ["/a", "/b", "/c"].map(str::to_owned).into_iter()).await;
    read_all(&light, (0..2000).map(variant)).await;
    read_all(&light, ["/a", "/b", "/c"].map(str::to_owned).into_iter()).await;
    for path in ["/a", "/b", "/c"] {
        assert_eq!(upstream.hits(path), 1, "{path} was pushed out by the burst");
    }
    // The newest variants are kept, up to max_variants; the oldest went first. The burst's
    // last requests finish in any order, so the newest is one read after it.
    read_all(&light, [variant(2000)].into_iter()).await;
    read_all(&light, [variant(2000), variant(0)].into_iter()).await;
    assert_eq!(upstream.hits(&variant(2000)), 1);
    assert_eq!(upstream.hits(&variant(0)), 2);
    light.stop().await;
}

/// A page file in the cache's format with a MAC under `key`, as an attacker who knows the
/// format (it is in the source) could write one.
fn forge_page(key: &[u8], cache_key: &str, body: &str) -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    let at = serde_json::json!({"secs_since_epoch": now.as_secs(), "nanos_since_epoch": 0});
    let meta = serde_json::to_vec(&serde_json::json!({
        "key": cache_key,
        "status": 200,
        "etag": "\"forged\"",
        "last_modified": at,
        "created": at,
        "fresh_for": {"secs": 3600, "nanos": 0},
        "text_chars": body.len(),
        "whole": true,
        "body_len": body.len(),
        "gzip_len": 0,
        "brotli_len": 0,
    }))
    .unwrap();
    let mut payload = (meta.len() as u32).to_le_bytes().to_vec();
    payload.extend_from_slice(&meta);
    payload.extend_from_slice(body.as_bytes());
    let mut signed = b"LMPAGE\r\n".to_vec();
    signed.extend_from_slice(&2u32.to_le_bytes());
    signed.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(&signed);
    mac.update(&payload);
    let mut file = signed;
    file.extend_from_slice(&mac.finalize().into_bytes());
    file.extend_from_slice(&payload);
    file
}

/// The cache key of `path` on the test site, as the server makes it.
fn ledger_key(path: &str) -> String {
    let origin = "http://127.0.0.1:1";
    let text = site_config("").replace("{upstream}", origin);
    let (_, sites) = lightmirror::config::parse(&text, "test.toml").unwrap();
    let url = url::Url::parse(&format!("{origin}{path}")).unwrap();
    lightmirror::route::cache_key(&sites[0], &url)
}

fn page_file_name(cache_key: &str) -> String {
    let hex: String = Sha256::digest(cache_key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{hex}.page")
}

async fn get_plain(light: &Light, path: &str) -> (u16, String) {
    let response = Light::client()
        .get(light.url(path))
        .header("host", "light.test")
        .header("accept-encoding", "identity")
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn the_cache_directory_is_not_trusted() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("pages");
    std::fs::create_dir(&dir).unwrap();
    let key = [42u8; 32];
    std::fs::write(root.path().join("pages.key"), key).unwrap();
    // A page under the right key is served, which shows the forgery below is well formed.
    let genuine_key = ledger_key("/genuine");
    let genuine = forge_page(&key, &genuine_key, "<p>genuine copy</p>");
    std::fs::write(dir.join(page_file_name(&genuine_key)), genuine).unwrap();
    let tides_key = ledger_key("/tides");
    let planted = forge_page(
        &[7u8; 32],
        &tides_key,
        "<p>news</p><script>steal()</script>",
    );
    std::fs::write(dir.join(page_file_name(&tides_key)), planted).unwrap();
    let fifo = dir.join(format!("{:064x}.page", 1));
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success());
    std::os::unix::fs::symlink("/dev/zero", dir.join(format!("{:064x}.page", 2))).unwrap();
    let sparse = std::fs::File::create(dir.join(format!("{:064x}.page", 3))).unwrap();
    sparse.set_len(3 << 30).unwrap();

    let upstream = Upstream::start().await;
    upstream.route("/tides", Reply::with(502, &[], "blocked"));
    upstream.route("/news", Reply::html(PAGE));
    let started = Instant::now();
    let light = Light::start(&in_dir(&dir), &upstream).await;
    let (status, body) = get_plain(&light, "/news").await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(status, 200);
    assert!(body.contains("High water at 09:12"), "{body}");

    let (status, body) = get_plain(&light, "/genuine").await;
    assert_eq!((status, body.as_str()), (200, "<p>genuine copy</p>"));
    let (status, body) = get_plain(&light, "/tides").await;
    assert_eq!(status, 502, "a planted page stood in for the upstream");
    assert!(!body.contains("script"), "{body}");
    light.stop().await;
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(
        left.len(),
        2,
        "only the genuine page and /news are kept: {left:?}"
    );
}

#[tokio::test]
async fn a_file_in_place_of_the_cache_directory_leaves_the_cache_in_memory() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("pages");
    std::fs::write(&dir, "not a directory").unwrap();
    let upstream = Upstream::start().await;
    upstream.route("/tides", Reply::html(PAGE));
    let light = Light::start(&in_dir(&dir), &upstream).await;
    for _ in 0..2 {
        let response = light.get("/tides").await;
        assert_eq!(response.status(), 200);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("High water at 09:12"));
    }
    assert_eq!(
        upstream.hits("/tides"),
        1,
        "the page was not cached in memory"
    );
    light.stop().await;
    assert_eq!(std::fs::read_to_string(&dir).unwrap(), "not a directory");
}

/// A story with a box the operator may come to remove.
const PROMO_PAGE: &str =
    "<html><head><title>Harbour works</title></head><body><article class=story>\
<p>The harbour wall is to be rebuilt over the winter, and the ferry berth moves east.</p>\
<p class=promo>Subscribe today for all the harbour news</p></article></body></html>";

fn promo_config(dir: &Path, remove: &str) -> String {
    in_dir(dir).replace("[[site]]\n", &format!("[[site]]\nremove = [{remove}]\n"))
}

async fn reload(light: &Light, upstream: &Upstream, toml: &str) {
    let text = toml.replace("{upstream}", &format!("http://{}", upstream.addr));
    let (config, sites) = lightmirror::config::parse(&text, "test.toml").unwrap();
    light.handle.reload(config, sites).unwrap();
}

#[tokio::test]
async fn a_reload_that_changes_the_rules_makes_old_pages_unreachable() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("pages");
    let upstream = Upstream::start().await;
    upstream.route("/harbour", Reply::html(PROMO_PAGE));
    let before = promo_config(&dir, "");
    let light = Light::start(&before, &upstream).await;
    let (_, body) = get_plain(&light, "/harbour").await;
    assert!(body.contains("Subscribe today"), "{body}");
    assert_eq!(get_plain(&light, "/harbour").await.1, body);
    assert_eq!(upstream.hits("/harbour"), 1);

    // The same rules, reloaded: the cached page stays.
    reload(&light, &upstream, &before).await;
    assert_eq!(get_plain(&light, "/harbour").await.1, body);
    assert_eq!(upstream.hits("/harbour"), 1);

    let after = promo_config(&dir, "\".promo\"");
    reload(&light, &upstream, &after).await;
    let (status, body) = get_plain(&light, "/harbour").await;
    assert_eq!(status, 200);
    assert!(!body.contains("Subscribe today"), "{body}");
    assert!(body.contains("harbour wall"), "{body}");
    assert_eq!(upstream.hits("/harbour"), 2);
    light.stop().await;

    // Nor does a restart under the new rules find the old page on disk.
    upstream.route("/harbour", Reply::with(502, &[], "blocked"));
    let restarted = Light::start(&after, &upstream).await;
    let (status, body) = get_plain(&restarted, "/harbour").await;
    assert_eq!(status, 200);
    assert!(!body.contains("Subscribe today"), "{body}");
    restarted.stop().await;
}
