//! Building responses: the security headers every Light response carries, compressed
//! whole pages, streamed pages, and the short pages for errors.

use std::convert::Infallible;
use std::io;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::budget::Charge;
use crate::cache::NOT_STORED;
use crate::compress::{compress, Coding};
use crate::page;

/// The body type of every response.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// Headers that every Light response carries, whatever its status.
pub(crate) fn secure(mut response: Response<Body>) -> Response<Body> {
    secure_headers(response.headers_mut());
    response
}

/// [`secure`]'s headers, on a head being made.
fn secure_headers(headers: &mut HeaderMap) {
    // Checked once: a value's every byte is validated when it is made, and the policy
    // alone is a few hundred.
    static FIXED: LazyLock<[(HeaderName, HeaderValue); 5]> = LazyLock::new(|| {
        [
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(page::content_security_policy()),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (header::VARY, HeaderValue::from_static("Accept-Encoding")),
        ]
    });
    for (name, value) in FIXED.iter() {
        headers.insert(name.clone(), value.clone());
    }
}

/// A whole HTML page, compressed as negotiated. `head` leaves the body out.
pub fn html(status: StatusCode, body: &[u8], coding: Coding, head: bool) -> Response<Body> {
    document(status, HTML, body, coding, head)
}

/// The media type of Light pages.
const HTML: &str = "text/html; charset=utf-8";

/// A whole document of `content_type`, compressed as negotiated.
pub fn document(
    status: StatusCode,
    content_type: &'static str,
    body: &[u8],
    coding: Coding,
    head: bool,
) -> Response<Body> {
    let encoded = match coding {
        Coding::Identity => Bytes::copy_from_slice(body),
        other => compress(other, body),
    };
    let mut response = prepared(status, encoded, coding, head);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The headers of a Light page served whole: those of [`secure`], its own (type, length,
/// coding) and the cache's (status, age, validators, lifetime), with one to spare.
const RESPONSE_HEADERS: usize = 16;

/// A page whose bytes are already encoded with `coding`.
pub(crate) fn prepared(
    status: StatusCode,
    encoded: Bytes,
    coding: Coding,
    head: bool,
) -> Response<Body> {
    let headers = prepared_headers(encoded.len(), coding);
    with_headers(status, encoded, headers, head)
}

/// The headers of a page of `length` bytes encoded with `coding`, as [`prepared`] sends
/// it, with room for a cached page's dozen headers at once rather than grown three times.
pub(crate) fn prepared_headers(length: usize, coding: Coding) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(RESPONSE_HEADERS);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Some(value) = coding.header() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(value));
    }
    secure_headers(&mut headers);
    headers
}

/// A page whose bytes are already encoded, with its whole head. `head` leaves the body out.
pub(crate) fn with_headers(
    status: StatusCode,
    encoded: Bytes,
    headers: HeaderMap,
    head: bool,
) -> Response<Body> {
    let body = if head { empty() } else { full(encoded) };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// A streamed HTML page: chunks given to the returned sender become the body. The
/// sender never waits: bytes the reader has not taken yet are charged to `unsent` and held
/// up to `unsent_limit`, past which the reader is cut off (its response aborted) while the
/// sender's side carries on.
pub(crate) fn streamed(
    coding: Coding,
    unsent: Charge,
    unsent_limit: usize,
) -> (StreamSender, Response<Body>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let unsent = Arc::new(Mutex::new(unsent));
    let taken = Arc::clone(&unsent);
    let frames = UnboundedReceiverStream::new(rx).map(move |item: Result<Bytes, io::Error>| {
        if let Ok(bytes) = &item {
            lock(&taken).shrink(bytes.len());
        }
        item.map(Frame::data)
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Some(value) = coding.header() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(value));
    }
    let sender = StreamSender {
        tx: Some(tx),
        unsent,
        unsent_limit,
    };
    (sender, secure(response))
}

fn lock(charge: &Mutex<Charge>) -> MutexGuard<'_, Charge> {
    charge.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The producing end of a streamed page.
pub(crate) struct StreamSender {
    /// `None` once the reader is gone, cut off or done.
    tx: Option<mpsc::UnboundedSender<Result<Bytes, io::Error>>>,
    unsent: Arc<Mutex<Charge>>,
    unsent_limit: usize,
}

impl StreamSender {
    /// Queues `bytes` for the reader, unless the reader is gone, or has fallen so far
    /// behind (or the memory budget is so spent) that it is cut off instead.
    pub(crate) fn send(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        let Some(tx) = &self.tx else {
            return;
        };
        let room = {
            let mut unsent = lock(&self.unsent);
            unsent.bytes() + bytes.len() <= self.unsent_limit && unsent.grow(bytes.len()).is_ok()
        };
        if !room {
            self.abort("the reader fell too far behind");
            return;
        }
        if tx.send(Ok(bytes)).is_err() {
            self.tx = None;
        }
    }

    /// Ends the body normally.
    pub(crate) fn finish(&mut self) {
        self.tx = None;
    }

    /// Ends the body with an error, so the reader's client sees it as incomplete.
    pub(crate) fn abort(&mut self, why: &str) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Err(io::Error::other(why.to_owned())));
        }
    }

    /// Sends nothing more, without an error (a HEAD request's body).
    pub(crate) fn cut(&mut self) {
        self.tx = None;
    }
}

/// `response` with `charge` held until its body is dropped: the memory of a page that is
/// sent from nowhere else.
pub(crate) fn holding(response: Response<Body>, charge: Charge) -> Response<Body> {
    response.map(|body| {
        let mut charge = Some(charge);
        body.map_frame(move |frame| {
            // Dropped with the body at the latest; given back here once the data left.
            if frame.is_data() {
                charge.take();
            }
            frame
        })
        .boxed()
    })
}

/// The policy of a Light image opened on its own: nothing may load or run, and the image
/// document is sandboxed. `img-src 'self'` lets a browser show the image it was sent.
const IMAGE_CSP: &str = "default-src 'none'; img-src 'self'; sandbox";

/// A Light image: our own JPEG, fresh for `fresh` in any cache. `head` leaves the body out.
pub fn image(jpeg: Bytes, fresh: std::time::Duration, head: bool) -> Response<Body> {
    let length = jpeg.len();
    let body = if head { empty() } else { full(jpeg) };
    let mut response = secure(Response::new(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(IMAGE_CSP),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={}", fresh.as_secs())) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    // The body is never compressed, whatever the reader accepts.
    headers.remove(header::VARY);
    response
}

/// 304 Not Modified, with the security headers but no body.
pub fn not_modified() -> Response<Body> {
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    secure(response)
}

/// A short Light page with a message, in the site's language.
pub fn message(
    status: StatusCode,
    site: &crate::config::Site,
    heading: &str,
    text: &str,
    link: Option<&url::Url>,
    coding: Coding,
    head: bool,
) -> Response<Body> {
    let page = page::message_page(site, heading, text, link);
    let mut response = html(status, page.as_bytes(), coding, head);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(NOT_STORED));
    response
}

/// A plain-text answer for requests that name no site.
pub fn plain(status: StatusCode, text: &str) -> Response<Body> {
    text_file(status, Bytes::from(format!("{text}\n")), NOT_STORED)
}

/// A `text/plain` body as it is, with its `Cache-Control`.
pub(crate) fn text_file(status: StatusCode, body: Bytes, cache_control: &str) -> Response<Body> {
    let length = body.len();
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Ok(value) = HeaderValue::from_str(cache_control) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    secure(response)
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes)
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn empty() -> Body {
    full(Bytes::new())
}
