//! What an attacker meets, against real servers on loopback: connections that never speak
//! or never read, readers that pin fetches, floods of misses over the memory budget, hosts
//! read two ways, and upstream answers that would push a good saved copy out.

#[path = "support/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use harness::{Light, Reply, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A one-site configuration with the given `[limits]` lines and site lines.
fn config(limits: &str, site: &str) -> String {
    format!(
        r#"
[limits]
upstream_timeout = "3s"
{limits}

[[site]]
name = "ledger"
upstream = "{{upstream}}"
hosts = ["light.test"]
allow_private_upstream = true
{site}
"#
    )
}

fn article(words: usize) -> String {
    format!(
        "<html><head><title>Story</title></head><body><article class=story><h1>Story</h1>{}</article></body></html>",
        "<p>Harbour news of the day, told at length for readers.</p>".repeat(words / 8 + 1)
    )
}

const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame.
const HTTP2_SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

/// A reader's GET of `url` for `light.test`, in a task of its own; gives its status.
fn spawn_get(url: String) -> tokio::task::JoinHandle<reqwest::StatusCode> {
    tokio::spawn(async move {
        Light::client()
            .get(url)
            .header("host", "light.test")
            .send()
            .await
            .unwrap()
            .status()
    })
}

/// Opens a connection that sends `greeting` and then nothing.
async fn silent(light: &Light, greeting: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(light.addr).await.unwrap();
    stream.write_all(greeting).await.unwrap();
    stream
}

/// How long until the server closes `stream` (reads until end of stream or reset).
async fn time_to_close(mut stream: TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return start.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

#[tokio::test]
async fn connections_that_never_send_a_request_are_closed_at_their_deadline() {
    let upstream = Upstream::start().await;
    let light = Light::start(&config(r#"header_read_timeout = "1s""#, ""), &upstream).await;
    let greetings: [&[u8]; 4] = [
        b"",
        &HTTP2_PREFACE[..10],
        HTTP2_PREFACE,
        &[HTTP2_PREFACE, HTTP2_SETTINGS].concat(),
    ];
    let mut waits = Vec::new();
    for greeting in greetings {
        let stream = silent(&light, greeting).await;
        waits.push(tokio::spawn(time_to_close(stream, Duration::from_secs(5))));
    }
    // Half a request line, trickled: the deadline counts from accept, not from the bytes.
    let mut trickle = silent(&light, b"GET / HT").await;
    let trickling = tokio::spawn(async move {
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if trickle.write_all(b"T").await.is_err() {
                break;
            }
        }
        time_to_close(trickle, Duration::from_secs(5)).await
    });
    for wait in waits {
        let closed = wait.await.unwrap().expect("connection left open");
        assert!(
            closed >= Duration::from_millis(800),
            "closed early: {closed:?}"
        );
    }
    trickling
        .await
        .unwrap()
        .expect("trickling connection left open");
    light.stop().await;
}

#[tokio::test]
async fn a_full_house_of_silent_connections_makes_room_for_a_reader() {
    let upstream = Upstream::start().await;
    upstream.route("/news", Reply::html(article(100)));
    let limits = r#"max_connections = 8
header_read_timeout = "30s""#;
    let light = Light::start(&config(limits, ""), &upstream).await;
    let mut flood = Vec::new();
    for i in 0..8 {
        let greeting: &[u8] = match i % 3 {
            0 => b"",
            1 => &HTTP2_PREFACE[..12],
            _ => HTTP2_PREFACE,
        };
        flood.push(silent(&light, greeting).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..3 {
        let started = Instant::now();
        let response = tokio::time::timeout(Duration::from_secs(5), light.get("/news"))
            .await
            .expect("the reader waited behind idle connections");
        assert_eq!(response.status(), 200);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    light.stop().await;
}

#[tokio::test]
async fn keep_alive_connections_close_once_idle() {
    let upstream = Upstream::start().await;
    upstream.route("/news", Reply::html(article(100)));
    let light = Light::start(&config(r#"idle_timeout = "1s""#, ""), &upstream).await;
    let mut stream = TcpStream::connect(light.addr).await.unwrap();
    stream
        .write_all(b"GET /news HTTP/1.1\r\nHost: light.test\r\n\r\n")
        .await
        .unwrap();
    let mut first = vec![0u8; 1024];
    let n = stream.read(&mut first).await.unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 200"));
    let closed = time_to_close(stream, Duration::from_secs(5))
        .await
        .expect("idle keep-alive connection left open");
    assert!(closed < Duration::from_secs(3), "{closed:?}");
    light.stop().await;
}

/// A streamed site with one upstream fetch at a time, for the tests of readers that stall.
fn one_permit_streamed() -> String {
    config(
        r#"upstream_concurrency = 1
send_timeout = "2s"
max_upstream_bytes = 16000000"#,
        r#"content = ["article.story"]"#,
    )
}

#[tokio::test]
async fn an_http1_reader_that_never_reads_holds_no_fetch() {
    let upstream = Upstream::start().await;
    upstream.route("/big", Reply::html(article(400_000)));
    upstream.route("/other", Reply::html(article(100)));
    let light = Light::start(&one_permit_streamed(), &upstream).await;
    let mut stalled = TcpStream::connect(light.addr).await.unwrap();
    stalled
        .write_all(b"GET /big HTTP/1.1\r\nHost: light.test\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = tokio::time::timeout(Duration::from_secs(5), light.get("/other"))
        .await
        .expect("a stalled reader pinned the site's only fetch");
    assert_eq!(response.status(), 200);
    // The stalled reader's page was fetched through to the cache all the same.
    let mut cached = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if light.get("/big").await.status() == 200 && upstream.hits("/big") == 1 {
            cached = true;
            break;
        }
    }
    assert!(cached, "the page read by nobody never reached the cache");
    let closed = time_to_close(stalled, Duration::from_secs(10)).await;
    assert!(
        closed.is_some(),
        "a reader that never reads kept its connection"
    );
    light.stop().await;
}

#[tokio::test]
async fn http2_streams_with_a_shut_window_hold_no_fetch() {
    let upstream = Upstream::start().await;
    for i in 0..4 {
        upstream.route(&format!("/big/{i}"), Reply::html(article(200_000)));
    }
    upstream.route("/other", Reply::html(article(100)));
    let light = Light::start(&one_permit_streamed(), &upstream).await;

    let tcp = TcpStream::connect(light.addr).await.unwrap();
    let (client, connection) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, Bytes>(tcp)
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    let mut streams = Vec::new();
    for i in 0..4 {
        let mut client = client.clone().ready().await.unwrap();
        let request = http::Request::get(format!("http://light.test/big/{i}"))
            .body(())
            .unwrap();
        let (response, _) = client.send_request(request, true).unwrap();
        streams.push(response);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = tokio::time::timeout(Duration::from_secs(5), light.get("/other"))
        .await
        .expect("zero-window streams pinned the site's only fetch");
    assert_eq!(response.status(), 200);
    // The server gives up on the stalled connection after send_timeout.
    let ended = tokio::time::timeout(Duration::from_secs(10), connection).await;
    assert!(
        ended.is_ok(),
        "a connection whose window never opens stayed open"
    );
    for i in 0..4 {
        let path = format!("/big/{i}");
        assert_eq!(light.get(&path).await.status(), 200);
        assert_eq!(upstream.hits(&path), 1, "{path} was not cached");
    }
    drop(streams);
    light.stop().await;
}

#[tokio::test]
async fn misses_over_the_memory_budget_get_503_or_the_saved_copy() {
    let upstream = Upstream::start().await;
    let gate = Arc::new(tokio::sync::Notify::new());
    let held = article(7_800);
    let (first, rest) = held.split_at(held.len() - 200);
    for i in 0..3 {
        upstream.route(
            &format!("/held/{i}"),
            Reply::Gated {
                first: Bytes::from(first.to_owned()),
                rest: Bytes::from(rest.to_owned()),
                gate: Arc::clone(&gate),
            },
        );
    }
    upstream.route("/second", Reply::html(article(6_000)));
    upstream.route("/third", Reply::html(article(6_000)));
    // The least the budget may be: one page of max_upstream_bytes, gathered and detected.
    let limits = r#"max_upstream_bytes = 60000
max_inflight_bytes = 665536"#;
    let light = Light::start(&config(limits, r#"cache_ttl = "1s""#), &upstream).await;
    assert_eq!(light.get("/second").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // Pages in flight take most of the budget.
    let holders: Vec<_> = (0..3)
        .map(|i| spawn_get(light.url(&format!("/held/{i}"))))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let refused = light.get("/third").await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");
    let stale = light.get("/second").await;
    assert_eq!(stale.status(), 200);
    let body = stale.text().await.unwrap();
    assert!(body.contains("too busy"), "{body}");
    assert!(body.contains("saved copy"), "{body}");

    // The pages in flight finish, detections a few at a time, none waiting on memory.
    gate.notify_waiters();
    for holder in holders {
        assert_eq!(holder.await.unwrap(), 200);
    }
    // The budget is whole again.
    assert_eq!(light.get("/third").await.status(), 200);
    light.stop().await;
}

/// Sends `request` on a raw connection and returns the status line.
async fn status_line(light: &Light, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(light.addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_host_read_two_ways_is_a_bad_request() {
    let upstream = Upstream::start().await;
    upstream.route("/news", Reply::html(article(100)));
    let light = Light::start(&config("", ""), &upstream).await;
    let twice = status_line(
        &light,
        b"GET /news HTTP/1.1\r\nHost: light.test\r\nHost: other.test\r\n\r\n",
    )
    .await;
    assert!(twice.starts_with("HTTP/1.1 400"), "{twice}");
    let none = status_line(&light, b"GET /news HTTP/1.1\r\n\r\n").await;
    assert!(none.starts_with("HTTP/1.1 400"), "{none}");

    let tcp = TcpStream::connect(light.addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    for (host, expected) in [("other.test", 400), ("LIGHT.test", 200)] {
        let request = http::Request::get("http://light.test/news")
            .header("host", host)
            .body(())
            .unwrap();
        let (response, _) = client.send_request(request, true).unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), expected, "host {host}");
    }
    light.stop().await;
}

#[tokio::test]
async fn refusals_and_redirects_off_the_site_serve_the_saved_copy() {
    let upstream = Upstream::start().await;
    let light = Light::start(&config("", r#"cache_ttl = "1s""#), &upstream).await;
    let refusals = [403, 429, 451, 401, 400];
    for status in refusals {
        upstream.route(&format!("/p{status}"), Reply::html(article(100)));
        assert_eq!(light.get(&format!("/p{status}")).await.status(), 200);
    }
    upstream.route("/moved", Reply::html(article(100)));
    assert_eq!(light.get("/moved").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;

    for status in refusals {
        let path = format!("/p{status}");
        upstream.route(
            &path,
            Reply::with(status, &[("content-type", "text/html")], "Denied"),
        );
        let response = light.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        let body = response.text().await.unwrap();
        assert!(
            body.contains(&format!("refused this request ({status})")),
            "{body}"
        );
        assert!(body.contains("Harbour news of the day"), "{body}");
    }
    upstream.route(
        "/moved",
        Reply::with(302, &[("location", "https://elsewhere.example/x")], ""),
    );
    let body = light.get("/moved").await.text().await.unwrap();
    assert!(
        body.contains("sends this page to another address"),
        "{body}"
    );
    assert!(body.contains("Harbour news of the day"), "{body}");

    // Without a saved copy the refusal is passed on.
    upstream.route(
        "/new",
        Reply::with(403, &[("content-type", "text/html")], "Denied"),
    );
    assert_eq!(light.get("/new").await.status(), 403);
    light.stop().await;
}

#[tokio::test]
async fn followers_of_an_unshareable_answer_fetch_for_themselves() {
    let upstream = Upstream::start().await;
    upstream.route("/n", Reply::html(article(100)));
    let light = Light::start(&config("", r#"cache_ttl = "1s""#), &upstream).await;
    assert_eq!(light.get("/n").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    upstream.route(
        "/n",
        Reply::Chunks {
            status: 200,
            headers: vec![
                ("content-type".into(), "text/html".into()),
                ("cache-control".into(), "no-store".into()),
            ],
            chunks: vec![(Duration::from_millis(400), Bytes::from(article(100)))],
        },
    );
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let url = light.url("/n");
            tokio::spawn(async move {
                Light::client()
                    .get(url)
                    .header("host", "light.test")
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap()
            })
        })
        .collect();
    for reader in readers {
        let body = reader.await.unwrap();
        assert!(
            !body.contains("saved copy"),
            "a follower claimed a failure: {body}"
        );
        assert!(body.contains("Harbour news of the day"), "{body}");
    }
    light.stop().await;
}

#[tokio::test]
async fn a_reload_keeps_fetches_in_flight_within_the_site_bound() {
    let upstream = Upstream::start().await;
    let gate = Arc::new(tokio::sync::Notify::new());
    let slow = article(100);
    upstream.route(
        "/slow",
        Reply::Gated {
            first: Bytes::from(slow[..50].to_owned()),
            rest: Bytes::from(slow[50..].to_owned()),
            gate: Arc::clone(&gate),
        },
    );
    upstream.route("/other", Reply::html(article(100)));
    let text = config("upstream_concurrency = 1", "");
    let light = Light::start(&text, &upstream).await;
    let holder = spawn_get(light.url("/slow"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reloaded = text.replace("{upstream}", &format!("http://{}", upstream.addr));
    let (config, sites) = lightmirror::config::parse(&reloaded, "reload.toml").unwrap();
    light.handle.reload(config, sites).unwrap();
    let other = spawn_get(light.url("/other"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        upstream.hits("/other"),
        0,
        "a reload let a second fetch past a bound of one"
    );
    gate.notify_one();
    assert_eq!(holder.await.unwrap(), 200);
    assert_eq!(other.await.unwrap(), 200);
    light.stop().await;
}

/// An upstream that answers every request with the raw bytes it is given, then closes the
/// connection: for framings hyper's server would never produce, such as a body delimited
/// only by the close.
#[derive(Clone)]
struct RawUpstream {
    addr: std::net::SocketAddr,
    answer: Arc<std::sync::Mutex<Vec<u8>>>,
}

impl RawUpstream {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let raw = Self {
            addr: listener.local_addr().unwrap(),
            answer: Arc::default(),
        };
        let answer = Arc::clone(&raw.answer);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let answer = answer.lock().unwrap().clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = stream.write_all(&answer).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        raw
    }

    fn answer(&self, head: &str, body: &str) {
        *self.answer.lock().unwrap() = format!("{head}\r\n\r\n{body}").into_bytes();
    }
}

#[tokio::test]
async fn empty_and_cut_answers_never_replace_a_saved_copy() {
    let raw = RawUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let site = format!(
        "cache_ttl = \"1s\"\n[cache]\ndir = \"{}\"",
        dir.path().join("pages").display()
    );
    // The site's own line comes first, so that `[cache]` opens a table of its own.
    let light = Light::start_at(&config("", &site), raw.addr).await;
    let good = article(200);
    raw.answer(
        &format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}",
            good.len()
        ),
        &good,
    );
    assert_eq!(light.get("/story").await.status(), 200);
    let cut = &good[..good.len() / 2];
    let worse = [
        (
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 0",
            "",
        ),
        ("HTTP/1.1 204 No Content", ""),
        (
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close",
            cut,
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 44",
            "<html><body><p>   </p></body></html>        ",
        ),
    ];
    for (head, body) in worse {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        raw.answer(head, body);
        let page = light.get("/story").await.text().await.unwrap();
        assert!(page.contains("incomplete page"), "{head}: {page}");
        assert!(page.contains("told at length"), "{head}: {page}");
    }
    // A close-delimited body that ends its document is a whole page, and replaces the copy.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let update = good.replace("told at length", "now updated");
    raw.answer(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close",
        &update,
    );
    let page = light.get("/story").await.text().await.unwrap();
    assert!(page.contains("now updated"), "{page}");
    assert!(!page.contains("saved copy"), "{page}");
    light.stop().await;
}

#[tokio::test]
async fn a_burst_of_dropped_parameters_is_one_fetch() {
    let upstream = Upstream::start().await;
    upstream.route("/p", Reply::html(article(100)));
    upstream.route("/search?page=2&q=tide", Reply::html(article(100)));
    let light = Light::start(&config("", r#"query = ["q", "page"]"#), &upstream).await;
    let client = Light::client();
    let base = light.url("/p");
    let mut requests = futures_util::stream::iter(0..1000)
        .map(|i| {
            let client = client.clone();
            let url = format!("{base}?utm_source=mail&cb={i}");
            async move {
                client
                    .get(url)
                    .header("host", "light.test")
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        })
        .buffer_unordered(32);
    while let Some(status) = requests.next().await {
        assert_eq!(status, 200);
    }
    drop(requests);
    assert_eq!(upstream.hits("/p"), 1);
    assert_eq!(upstream.total_hits(), 1);
    // Kept parameters are sorted, so both orders are one page.
    for query in ["q=tide&page=2", "page=2&q=tide&fbclid=x"] {
        assert_eq!(light.get(&format!("/search?{query}")).await.status(), 200);
    }
    assert_eq!(upstream.hits("/search?page=2&q=tide"), 1);
    light.stop().await;
}
