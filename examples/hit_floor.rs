//! The floor under the proxy's cache hits (see `bench/load.sh`): a bare hyper server that
//! answers every request with one stored page and its response head, on the proxy's
//! runtime and HTTP settings, and does nothing else: no routing, no cache lookup, no
//! access log.
//!
//! ```text
//! cargo run --release --example hit_floor -- 127.0.0.1:8083 HEADERS BODY
//! ```
//!
//! `HEADERS` is a response head as `curl -D` writes it (the status line first, then one
//! `name: value` line each); `BODY` is the bytes to send. The headers hyper writes itself
//! (`date`, `content-length`, `connection`, `keep-alive`, `transfer-encoding`) are left
//! out of the stored head. What this serves bounds what the proxy can reach on a hit the
//! way a bare lol_html pass bounds the Light pass.

use std::convert::Infallible;
use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lightmirror::config::LimitsConfig;
use lightmirror::server::protocol_builder;

/// Headers hyper writes for every response itself.
const HYPER_WRITES: [&str; 5] = [
    "date",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
];

/// One stored answer.
struct Stored {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: hit_floor ADDR HEADERS BODY";
    let addr: SocketAddr = args.next().ok_or(usage)?.parse()?;
    let head = std::fs::read_to_string(args.next().ok_or(usage)?)?;
    let body = Bytes::from(std::fs::read(args.next().ok_or(usage)?)?);
    let stored = Arc::new(parse_head(&head, body)?);
    // The proxy's runtime: tokio's default multi-threaded one, a worker per core.
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(serve(addr, stored))
}

fn parse_head(head: &str, body: Bytes) -> Result<Stored, Box<dyn Error>> {
    let mut lines = head.lines().map(|line| line.trim_end_matches('\r'));
    let status_line = lines.next().ok_or("empty head")?;
    let code = status_line.split(' ').nth(1).ok_or("no status code")?;
    let status = StatusCode::from_bytes(code.as_bytes())?;
    let mut headers = HeaderMap::new();
    for line in lines.filter(|line| !line.is_empty()) {
        let (name, value) = line.split_once(':').ok_or("a header line without ':'")?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())?;
        if HYPER_WRITES.contains(&name.as_str()) {
            continue;
        }
        headers.append(name, HeaderValue::from_str(value.trim())?);
    }
    Ok(Stored {
        status,
        headers,
        body,
    })
}

async fn serve(addr: SocketAddr, stored: Arc<Stored>) -> Result<(), Box<dyn Error>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    // The proxy's HTTP settings for its default limits.
    let builder = Arc::new(protocol_builder(&LimitsConfig::default()));
    loop {
        let (stream, _) = listener.accept().await?;
        let builder = Arc::clone(&builder);
        let stored = Arc::clone(&stored);
        tokio::spawn(async move {
            let service = service_fn(move |_request| {
                let mut response = Response::new(Full::new(stored.body.clone()));
                *response.status_mut() = stored.status;
                *response.headers_mut() = stored.headers.clone();
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await;
        });
    }
}
