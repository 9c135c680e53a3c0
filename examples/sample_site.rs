//! Serves the bundled sample news site alone, so that a load test can run the Light proxy
//! in a process of its own and measure that process only (see `bench/load.sh`):
//!
//! ```text
//! cargo run --release --example sample_site -- 127.0.0.1:8081 [127.0.0.1:8082]
//! ```
//!
//! With a second address, it also serves generated stories there, of any size and as many
//! distinct ones as asked for, and counts the requests for each, for `bench/attack.sh`:
//!
//! - `/page/<KiB>/<name>`: a story of about `KiB` kibibytes in the sample site's markup
//!   (`article.story`, `h1.headline`, `.byline`, `.dateline time`, ad slots and scripts
//!   between the paragraphs), with `Content-Length`, cacheable for a minute;
//! - `/nostore/<KiB>/<name>`: the same with `Cache-Control: no-store`;
//! - `/_hits/<path>`: how many times `<path>` (query left out) was requested, as text.
//!
//! Pages differ by name only in their headline; the rest is rendered once per size and
//! shared, so serving hundreds of 10 MiB pages costs the site no copying. At most
//! [`MAX_KIB`]; anything else is 404.

use std::collections::HashMap;
use std::convert::Infallible;
use std::error::Error;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lightmirror::demo::{self, ARTICLE_PATH, PERSIAN_ARTICLE_PATH, SLOW_PREFIX};
use tokio::net::TcpListener;

/// The largest generated page, in KiB: the proxy's default `max_upstream_bytes`.
const MAX_KIB: usize = 16 << 10;

/// How the shared part of a page is cut into body frames.
const FRAME_BYTES: usize = 64 << 10;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args.next().as_deref().unwrap_or("127.0.0.1:8081").parse()?;
    let generated: Option<SocketAddr> = args.next().map(|a| a.parse()).transpose()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let site = demo::start(listener).await?;
    println!("sample site:     {}", site.url("/"));
    println!("article:         {}", site.url(ARTICLE_PATH));
    println!("Persian article: {}", site.url(PERSIAN_ARTICLE_PATH));
    println!(
        "slow article:    {}",
        site.url(&format!("{SLOW_PREFIX}{ARTICLE_PATH}"))
    );
    if let Some(addr) = generated {
        let listener = TcpListener::bind(addr).await?;
        println!("generated pages: http://{addr}/page/<KiB>/<name>");
        tokio::spawn(serve_generated(listener));
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}

type Body = BoxBody<Bytes, Infallible>;

/// The generated pages' state: the shared middles by size, and the request counts.
#[derive(Default)]
struct Generated {
    middles: Mutex<HashMap<usize, Bytes>>,
    hits: Mutex<HashMap<String, u64>>,
}

async fn serve_generated(listener: TcpListener) {
    let state = Arc::new(Generated::default());
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                eprintln!("generated pages: accept failed: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(state.respond(&request)) }
            });
            // A proxy that goes away mid-page is no concern of the site's.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

impl Generated {
    fn respond<B>(&self, request: &Request<B>) -> Response<Body> {
        let path = request.uri().path();
        if let Some(counted) = path.strip_prefix("/_hits") {
            let hits = lock(&self.hits).get(counted).copied().unwrap_or(0);
            return reply(StatusCode::OK, "text/plain", full(format!("{hits}\n")));
        }
        *lock(&self.hits).entry(path.to_owned()).or_insert(0) += 1;
        let mut parts = path.trim_start_matches('/').splitn(3, '/');
        let (kind, kib, name) = (parts.next(), parts.next(), parts.next());
        let cache_control = match kind {
            Some("page") => "public, max-age=60",
            Some("nostore") => "no-store",
            _ => return not_found(),
        };
        let (Some(kib), Some(name)) = (kib.and_then(|k| k.parse::<usize>().ok()), name) else {
            return not_found();
        };
        if kib == 0 || kib > MAX_KIB || name.is_empty() {
            return not_found();
        }
        let head = Bytes::from(page_head(name));
        let middle = self.middle(kib << 10);
        let length = head.len() + middle.len() + PAGE_TAIL.len();
        let frames = std::iter::once(head)
            .chain(
                (0..middle.len())
                    .step_by(FRAME_BYTES)
                    .map(move |start| middle.slice(start..(start + FRAME_BYTES).min(middle.len()))),
            )
            .chain(std::iter::once(Bytes::from_static(PAGE_TAIL.as_bytes())))
            .map(|bytes| Ok::<_, Infallible>(Frame::data(bytes)));
        let body = StreamBody::new(futures_util::stream::iter(frames)).boxed();
        let mut response = reply(StatusCode::OK, "text/html; charset=utf-8", body);
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache_control));
        headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
        response
    }

    /// The paragraphs, ad slots and scripts that fill a page to about `bytes`.
    fn middle(&self, bytes: usize) -> Bytes {
        lock(&self.middles)
            .entry(bytes)
            .or_insert_with(|| Bytes::from(render_middle(bytes)))
            .clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn page_head(name: &str) -> String {
    let name = html_escape::encode_text(name);
    format!(
        "<!DOCTYPE html><html lang=\"en-GB\"><head><meta charset=\"utf-8\">\
<title>Generated story {name} | The Harbour Ledger</title>\
<meta name=\"description\" content=\"A generated story for load tests.\">\
<style>body{{font:16px/1.5 Georgia,serif;margin:0}}.ad-slot{{min-height:250px}}</style>\
<script>window.__ledger={{\"page\":\"story\",\"consent\":false,\"ads\":[1,2,3]}};</script>\
</head><body><nav class=\"site-nav\"><a href=\"/\">Home</a> <a href=\"/city/\">City</a> \
<a href=\"/business/\">Business</a></nav><main>\
<article class=\"story\"><header class=\"story-header\">\
<h1 class=\"headline\">Generated story {name}</h1>\
<p class=\"standfirst\">A story generated to weigh what it is asked to weigh.</p>\
<p class=\"byline\">By <a rel=\"author\" href=\"/authors/bench/\">The Bench Desk</a></p>\
<p class=\"dateline\"><time datetime=\"2026-11-24T06:30:00+00:00\">Tuesday 24 November \
2026, 06:30</time></p></header><div class=\"story-body\">"
    )
}

const PAGE_TAIL: &str = "</div></article></main><footer class=\"site-footer\"><p>The Harbour \
Ledger, a fictional newspaper.</p></footer></body></html>";

const PARAGRAPHS: [&str; 4] = [
    "The harbour gates closed at dawn for the third time this month, and the water stood \
a hand's width below the sills of Saltings Row while the engineers in the control room \
watched the gauges climb and then, slowly, fall back. Nobody on the quay cheered; most \
of them had seen the sea come in before, and they went home to check their cellars.",
    "Councillors will vote next week on whether to spend the reserve on a second pumping \
station. The finance committee says the money is there; the opposition says it was \
promised to the schools. Both sides agree that the barrier has done what it was built \
to do, which in this city counts as a rare kind of consensus.",
    "At the fish market the talk was of prices rather than floods. A box of mackerel \
fetched twice what it did a year ago, and the auctioneer blamed the fuel, the weather \
and the new rules on quotas, in that order. The buyers blamed the auctioneer, which is \
an old custom and, by all accounts, a healthy one.",
    "The tide tables for the winter are pinned to the door of every pub on the front. \
Landlords say the late closing on storm nights is good for trade, and the lifeboat crew \
say it is good for nobody. The harbour master, asked for a view, said only that the \
gates are checked every morning and that she sleeps well.",
];

const AD_SLOT: &str = "<div class=\"ad-slot\" data-slot=\"mid\"><script>(function(){var \
s=document.createElement('script');s.src='/ads/loader.js?slot=mid';s.async=true;\
document.head.appendChild(s);window.__ads=(window.__ads||[]).concat(['mid']);})();\
</script></div>";

fn render_middle(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 1024);
    let mut n = 0;
    while out.len() < bytes {
        n += 1;
        let text = PARAGRAPHS[n % PARAGRAPHS.len()];
        let _ = write!(
            out,
            "<p id=\"p{n}\">{text} <a href=\"/city/\">More</a> ({n})</p>"
        );
        if n % 4 == 0 {
            out.push_str(AD_SLOT);
        }
    }
    out
}

fn reply(status: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn full(text: String) -> Body {
    Full::new(Bytes::from(text)).boxed()
}

fn not_found() -> Response<Body> {
    reply(
        StatusCode::NOT_FOUND,
        "text/plain",
        full("no such generated page\n".to_owned()),
    )
}
