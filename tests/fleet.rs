//! A fleet of real lightmirror servers on one real `redis-server` (`[cache] shared`): a
//! page fetched by one is served by all, one upstream fetch per page however many readers
//! and instances ask, saved copies served by instances that never fetched them, a store
//! that dies and comes back without a reader noticing, damaged and foreign values never
//! served, bot walls never cached, a fleet-wide `upstream_rate`, and purges that reach the
//! store. Skips with a note when `redis-server` is not installed (see `support/redis.rs`).

#[path = "support/harness.rs"]
mod harness;
#[path = "support/redis.rs"]
mod redis_server;

use std::time::Duration;

use bytes::Bytes;
use harness::{site_config, Light, Reply, Upstream};
use redis::Commands;
use redis_server::Redis;

const STORY: &str = "<html><head><title>Harbour wall</title></head><body><article>\
<h1>Harbour wall</h1><p>The new harbour wall held through the night's storm, the \
harbour master said, and the ferry will sail at nine as planned.</p></article></body></html>";
const TEXT: &str = "The new harbour wall held through the night";

const CHALLENGE: &str = "<!DOCTYPE html><html><head><title>Just a moment...</title></head>\
<body><script>window._cf_chl_opt={cvId:'3'};</script></body></html>";

/// A fleet member's configuration: the test site, on the store, with `extra` in `[cache]`
/// and `site` in the site's table.
fn fleet_config(redis: &Redis, extra: &str, site: &str) -> String {
    site_config(site).replace(
        "[limits]",
        &format!(
            "[cache]\nshared = \"{}\"\nshared_timeout = \"2s\"\n{extra}\n\n[limits]",
            redis.url()
        ),
    )
}

async fn fleet(n: usize, config: &str, upstream: &Upstream) -> Vec<Light> {
    let mut lights = Vec::new();
    for _ in 0..n {
        lights.push(Light::start(config, upstream).await);
    }
    lights
}

fn story(max_age: u32) -> Reply {
    Reply::with(
        200,
        &[
            ("content-type", "text/html; charset=utf-8"),
            ("cache-control", &format!("max-age={max_age}")),
        ],
        STORY,
    )
}

fn cache_status(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("cache-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn stop(lights: Vec<Light>) {
    for light in lights {
        light.stop().await;
    }
}

/// The store's keys of pages (`lightmirror:page:NAME.DIGEST\0/path`) whose path is `path`.
fn page_key(redis: &Redis, path: &str) -> Vec<u8> {
    let keys: Vec<Vec<u8>> = redis.client().keys("lightmirror:page:*").unwrap();
    let suffix = format!("\0{path}");
    keys.into_iter()
        .find(|key| key.ends_with(suffix.as_bytes()))
        .unwrap_or_else(|| panic!("no page key for {path}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_fetched_by_one_instance_is_served_by_the_other() {
    let Some(redis) = Redis::start() else { return };
    let upstream = Upstream::start().await;
    upstream.route("/wall", story(60));
    let lights = fleet(2, &fleet_config(&redis, "", ""), &upstream).await;
    let first = lights[0].get("/wall").await;
    assert_eq!(first.status(), 200);
    let first = first.text().await.unwrap();
    let second = lights[1].get("/wall").await;
    assert_eq!(second.status(), 200);
    assert!(
        cache_status(&second).contains("hit"),
        "{}",
        cache_status(&second)
    );
    assert_eq!(second.text().await.unwrap(), first);
    assert!(first.contains(TEXT));
    assert_eq!(upstream.hits("/wall"), 1);
    stop(lights).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_instances_of_25_readers_make_one_upstream_fetch() {
    let Some(redis) = Redis::start() else { return };
    let upstream = Upstream::start().await;
    // Slow enough that every reader asks while the one fetch is under way.
    upstream.route(
        "/breaking",
        Reply::Chunks {
            status: 200,
            headers: vec![("content-type".into(), "text/html".into())],
            chunks: vec![(Duration::from_millis(400), Bytes::from(STORY))],
        },
    );
    let lights = fleet(4, &fleet_config(&redis, "", ""), &upstream).await;
    let readers = lights.iter().flat_map(|light| {
        (0..25).map(move |_| async move {
            let response = light.get("/breaking").await;
            (response.status().as_u16(), response.text().await.unwrap())
        })
    });
    let answers = futures_util::future::join_all(readers).await;
    assert_eq!(answers.len(), 100);
    for (status, body) in answers {
        assert_eq!(status, 200);
        assert!(body.contains(TEXT));
    }
    assert_eq!(upstream.hits("/breaking"), 1);
    stop(lights).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_never_fetched_serves_the_saved_copy_when_the_upstream_fails() {
    let Some(redis) = Redis::start() else { return };
    let upstream = Upstream::start().await;
    upstream.route("/wall", story(1));
    let lights = fleet(2, &fleet_config(&redis, "", ""), &upstream).await;
    assert_eq!(lights[0].get("/wall").await.status(), 200);
    upstream.route("/wall", Reply::with(503, &[], "down"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let saved = lights[1].get("/wall").await;
    assert_eq!(saved.status(), 200);
    let status = cache_status(&saved);
    assert!(
        status.contains("fwd=stale") && status.contains("upstream-failed"),
        "{status}"
    );
    assert!(saved.text().await.unwrap().contains(TEXT));
    assert_eq!(upstream.hits("/wall"), 2);
    stop(lights).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_notice_the_store_dying_and_coming_back() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let upstream = Upstream::start().await;
    upstream.route("/wall", story(60));
    for i in 0..400 {
        upstream.route(&format!("/u{i}"), story(60));
        upstream.route(&format!("/after{i}"), story(60));
    }
    let config = fleet_config(&redis, "", "").replace("\"2s\"", "\"300ms\"");
    let lights = fleet(2, &config, &upstream).await;
    for light in &lights {
        assert_eq!(light.get("/wall").await.status(), 200);
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let urls: Vec<(String, String)> = lights
        .iter()
        .map(|light| (light.url("/wall"), light.url("/u")))
        .collect();
    let reading = tokio::spawn(async move {
        let mut failures = Vec::new();
        for i in 0..400 {
            let (hit, miss) = &urls[i % 2];
            for url in [hit.clone(), format!("{miss}{i}")] {
                let answer = client.get(&url).header("host", "light.test").send().await;
                match answer {
                    Ok(response) if response.status() == 200 => {}
                    Ok(response) => failures.push(format!("{url}: {}", response.status())),
                    Err(e) => failures.push(format!("{url}: {e}")),
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        failures
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.kill();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    redis.restart();
    let failures = reading.await.unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    // The fleet shares pages again once both instances have found the store.
    let mut shared = false;
    for i in 0..100 {
        let path = format!("/after{i}");
        assert_eq!(lights[0].get(&path).await.status(), 200);
        assert_eq!(lights[1].get(&path).await.status(), 200);
        if upstream.hits(&path) == 1 {
            shared = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        shared,
        "the instances never shared a page after the store came back"
    );
    stop(lights).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_and_foreign_values_are_never_served_and_get_overwritten() {
    let Some(redis) = Redis::start() else { return };
    let upstream = Upstream::start().await;
    let other = STORY.replace("harbour wall held", "sea wall broke");
    upstream.route("/a", story(60));
    upstream.route("/b", Reply::html(other.clone()));
    let config = fleet_config(&redis, "", "");
    let lights = fleet(2, &config, &upstream).await;
    assert_eq!(lights[0].get("/a").await.status(), 200);
    assert_eq!(lights[0].get("/b").await.status(), 200);

    let mut store = redis.client();
    let (key_a, key_b) = (page_key(&redis, "/a"), page_key(&redis, "/b"));
    let good_a: Vec<u8> = store.get(&key_a).unwrap();
    // /a's value with one byte flipped; /b's key holding /a's (well-formed) value.
    let mut damaged = good_a.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x20;
    let _: () = redis::cmd("SET")
        .arg(&key_a)
        .arg(&damaged)
        .arg("KEEPTTL")
        .query(&mut store)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(&key_b)
        .arg(&good_a)
        .arg("KEEPTTL")
        .query(&mut store)
        .unwrap();

    let a = lights[1].get("/a").await.text().await.unwrap();
    assert!(a.contains(TEXT));
    let b = lights[1].get("/b").await.text().await.unwrap();
    assert!(b.contains("sea wall broke") && !b.contains(TEXT), "{b}");
    assert_eq!((upstream.hits("/a"), upstream.hits("/b")), (2, 2));

    // Overwritten with good values: an instance that never fetched serves them.
    let third = Light::start(&config, &upstream).await;
    assert!(third.get("/a").await.text().await.unwrap().contains(TEXT));
    assert!(third
        .get("/b")
        .await
        .text()
        .await
        .unwrap()
        .contains("sea wall broke"));
    assert_eq!((upstream.hits("/a"), upstream.hits("/b")), (2, 2));
    third.stop().await;
    stop(lights).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenges_are_never_cached_and_the_saved_copy_stands_in() {
    let Some(redis) = Redis::start() else { return };
    let upstream = Upstream::start().await;
    upstream.route("/wall", story(1));
    upstream.route("/quay", story(1));
    let html = [("content-type", "text/html; charset=utf-8")];
    upstream.route("/walled", Reply::with(200, &html, CHALLENGE));
    let lights = fleet(2, &fleet_config(&redis, "", ""), &upstream).await;
    assert_eq!(lights[0].get("/wall").await.status(), 200);
    assert_eq!(lights[0].get("/quay").await.status(), 200);

    // A 403 challenge on one page, a challenge sent as 200 on the other.
    upstream.route("/wall", Reply::with(403, &html, CHALLENGE));
    upstream.route("/quay", Reply::with(200, &html, CHALLENGE));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for path in ["/wall", "/quay"] {
        let saved = lights[1].get(path).await;
        assert_eq!(saved.status(), 200, "{path}");
        let status = cache_status(&saved);
        assert!(
            status.contains("detail=upstream-challenge"),
            "{path}: {status}"
        );
        let body = saved.text().await.unwrap();
        assert!(
            body.contains(TEXT) && !body.contains("Just a moment"),
            "{path}: {body}"
        );
        assert_eq!(upstream.hits(path), 2, "{path}");
        // The store still holds the page, not the wall.
        let value: Vec<u8> = redis.client().get(page_key(&redis, path)).unwrap();
        let value = String::from_utf8_lossy(&value);
        assert!(
            value.contains(TEXT) && !value.contains("Just a moment"),
            "{path}"
        );
    }

    // Without a saved copy: a Light page that says so and links to the original, each
    // time, since nothing is kept.
    for light in &lights {
        let refused = light.get("/walled").await;
        assert_eq!(refused.status(), 502);
        let body = refused.text().await.unwrap();
        assert!(body.contains("refused the mirror"), "{body}");
        assert!(
            body.contains(&format!("href=\"{}\"", upstream.url("/walled"))),
            "{body}"
        );
        assert!(!body.contains("Just a moment"), "{body}");
    }
    assert_eq!(upstream.hits("/walled"), 2);
    stop(lights).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_rate_holds_across_the_fleet() {
    let Some(redis) = Redis::start() else { return };
    let upstream = Upstream::start().await;
    for i in 0..8 {
        upstream.route(&format!("/p{i}"), story(60));
    }
    let config = fleet_config(&redis, "", "upstream_rate = \"3/min\"");
    let lights = fleet(2, &config, &upstream).await;
    let mut served = 0;
    for i in 0..8 {
        let response = lights[i % 2].get(&format!("/p{i}")).await;
        match response.status().as_u16() {
            200 => served += 1,
            503 => {
                let retry = response.headers().get("retry-after").unwrap();
                let seconds: u64 = retry.to_str().unwrap().parse().unwrap();
                assert!((1..=60).contains(&seconds), "{seconds}");
            }
            other => panic!("/p{i}: {other}"),
        }
    }
    assert_eq!(served, 3);
    assert_eq!(upstream.total_hits(), 3);
    stop(lights).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_reaches_the_shared_store() {
    let Some(redis) = Redis::start() else { return };
    let upstream = Upstream::start().await;
    for path in ["/a", "/a?x=1", "/b"] {
        upstream.route(path, story(60));
    }
    let config = fleet_config(&redis, "", "");
    let lights = fleet(2, &config, &upstream).await;
    for path in ["/a", "/a?x=1", "/b"] {
        assert_eq!(lights[0].get(path).await.status(), 200);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = listener.local_addr().unwrap();
    let handle = lights[1].handle.clone();
    tokio::spawn(async move { handle.serve_admin(listener).await });
    let purged = reqwest::Client::new()
        .post(format!("http://{admin}/purge"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("site=ledger&path=/a")
        .send()
        .await
        .unwrap();
    assert_eq!(purged.status(), 200);
    assert_eq!(
        purged.text().await.unwrap(),
        "{\"removed\": 2, \"images\": 0}\n"
    );
    let third = Light::start(&config, &upstream).await;
    for path in ["/a", "/a?x=1", "/b"] {
        assert_eq!(third.get(path).await.status(), 200);
    }
    assert_eq!(
        (
            upstream.hits("/a"),
            upstream.hits("/a?x=1"),
            upstream.hits("/b")
        ),
        (2, 2, 1)
    );
    third.stop().await;
    stop(lights).await;
}
