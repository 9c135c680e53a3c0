//! Serving the sample site over HTTP/1.1 with hyper: the rendered pages (gzip when the
//! client accepts it), a slow copy of each page for streaming measurements, a tracking
//! pixel and a video embed, and 404 for everything else. Knows nothing of how the pages
//! are written (`pages.rs`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http::header::{
    HeaderValue, ACCEPT_ENCODING, ALLOW, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, VARY,
};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use super::pages::Pages;
use super::DemoError;

/// Prefix under which every page is also served slowly: `/slow/city/...` sends the page at
/// `/city/...` in [`SLOW_CHUNKS`] pieces, [`SLOW_INTERVAL`] apart (about two seconds in
/// all), so a proxy's first byte can be timed against the upstream's last.
pub const SLOW_PREFIX: &str = "/slow";

/// Pieces a slow page is sent in.
pub const SLOW_CHUNKS: usize = 20;

/// Pause before each piece of a slow page after the first.
pub const SLOW_INTERVAL: Duration = Duration::from_millis(100);

/// A 1×1 transparent GIF: what tracking pixels answer.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x01, 0x44, 0x00, 0x3b,
];

const VIDEO_EMBED: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Video player</title></head><body style=\"margin:0;background:#000;color:#fff;font:16px sans-serif\">\
<p style=\"padding:1em\">Video player: the sample site has no video to play.</p></body></html>";

const NOT_FOUND: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Page not found | The Harbour Ledger</title></head><body><h1>Page not found</h1>\
<p>The page you asked for is not on the Harbour Ledger. <a href=\"/\">Go to the front page</a>.</p>\
</body></html>";

type Body = BoxBody<Bytes, Infallible>;

/// The bundled sample news site, serving on loopback until this handle is dropped.
///
/// ```no_run
/// # async fn run() -> Result<(), lightmirror::demo::DemoError> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let site = lightmirror::demo::start(listener).await?;
/// println!("sample site at {}", site.url(lightmirror::demo::ARTICLE_PATH));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SampleSite {
    addr: SocketAddr,
    origin: String,
    task: JoinHandle<()>,
}

impl SampleSite {
    /// The address the site listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The absolute URL of `path` (which starts with `/`) on the site.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }
}

impl Drop for SampleSite {
    fn drop(&mut self) {
        // Aborting the accept loop drops its set of connection tasks, which aborts them.
        self.task.abort();
    }
}

/// Starts the sample site on `listener` (bind it to a loopback address; port 0 picks a free
/// one). Pages are rendered once, with absolute links on the listener's own address, before
/// this returns; the site then serves on the current Tokio runtime until the returned
/// handle is dropped.
pub async fn start(listener: TcpListener) -> Result<SampleSite, DemoError> {
    let addr = listener.local_addr().map_err(DemoError::Listener)?;
    let origin = format!("http://{addr}");
    let pages = Arc::new(Pages::render(&origin));
    let task = tokio::spawn(accept_loop(listener, pages));
    Ok(SampleSite { addr, origin, task })
}

async fn accept_loop(listener: TcpListener, pages: Arc<Pages>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let pages = pages.clone();
                    connections.spawn(async move {
                        let service = service_fn(move |request| {
                            let pages = pages.clone();
                            async move { Ok::<_, Infallible>(respond(&pages, &request)) }
                        });
                        // A client that goes away mid-response is no concern of the site's.
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Err(error) => {
                    // Out of file descriptors under load: give connections time to close
                    // rather than spinning on the same error.
                    tracing::warn!(%error, "sample site: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn respond(pages: &Pages, request: &Request<Incoming>) -> Response<Body> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET or HEAD only",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let path = request.uri().path();
    if let Some(page) = path
        .strip_prefix(SLOW_PREFIX)
        .and_then(|rest| pages.get(rest))
    {
        let mut response = Response::new(slow_body(page.body.clone()));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(page.content_type));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return response;
    }
    if let Some(page) = pages.get(path) {
        let gzip = accepts_gzip(request);
        let body = if gzip { &page.gzip } else { &page.body };
        let mut response = Response::new(full(body.clone()));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(page.content_type));
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=60"),
        );
        headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        if gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        return response;
    }
    if path == "/t/pixel.gif" {
        return plain(StatusCode::OK, "image/gif", PIXEL);
    }
    if path.starts_with("/embed/video/") {
        return plain(StatusCode::OK, "text/html; charset=utf-8", VIDEO_EMBED);
    }
    plain(StatusCode::NOT_FOUND, "text/html; charset=utf-8", NOT_FOUND)
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

fn plain(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Whether the request's `Accept-Encoding` lists gzip without refusing it (`q=0`).
fn accepts_gzip(request: &Request<Incoming>) -> bool {
    request
        .headers()
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            coding.eq_ignore_ascii_case("gzip") && !refused
        })
}

/// The page in [`SLOW_CHUNKS`] pieces: the first at once, each next after [`SLOW_INTERVAL`].
fn slow_body(page: Bytes) -> Body {
    let size = page.len().div_ceil(SLOW_CHUNKS).max(1);
    let pieces = stream::unfold((page, true), move |(mut rest, first)| async move {
        if rest.is_empty() {
            return None;
        }
        if !first {
            tokio::time::sleep(SLOW_INTERVAL).await;
        }
        let piece = rest.split_to(size.min(rest.len()));
        Some((Ok::<_, Infallible>(Frame::data(piece)), (rest, false)))
    });
    StreamBody::new(pieces).boxed()
}
