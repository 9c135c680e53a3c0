//! Building responses: the security headers every Light response carries, compressed
//! whole pages, streamed pages, and the short pages for errors.

use std::convert::Infallible;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::compress::{compress, Coding};
use crate::page;

/// The body type of every response.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// Headers that every Light response carries, whatever its status.
pub fn secure(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            page::content_security_policy(),
        ),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    response
}

/// A whole HTML page, compressed as negotiated. `head` leaves the body out.
pub fn html(status: StatusCode, body: &[u8], coding: Coding, head: bool) -> Response<Body> {
    let encoded = match coding {
        Coding::Identity => Bytes::copy_from_slice(body),
        other => compress(other, body),
    };
    prepared(status, encoded, coding, head)
}

/// A page whose bytes are already encoded with `coding`.
pub fn prepared(status: StatusCode, encoded: Bytes, coding: Coding, head: bool) -> Response<Body> {
    let length = encoded.len();
    let body = if head { empty() } else { full(encoded) };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Some(value) = coding.header() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(value));
    }
    secure(response)
}

/// A streamed HTML page: chunks sent on the returned channel become the body; an `Err`
/// aborts the response so the reader's client sees it as incomplete.
pub fn streamed(
    coding: Coding,
) -> (
    mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>,
    Response<Body>,
) {
    let (tx, rx) = mpsc::channel(8);
    let body = StreamBody::new(ReceiverStream::new(rx));
    let mut response = Response::new(BodyExt::boxed(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Some(value) = coding.header() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(value));
    }
    (tx, secure(response))
}

/// 304 Not Modified, with the security headers but no body.
pub fn not_modified() -> Response<Body> {
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    secure(response)
}

/// A short Light page with a message.
pub fn message(
    status: StatusCode,
    site_label: &str,
    heading: &str,
    text: &str,
    link: Option<&url::Url>,
    coding: Coding,
    head: bool,
) -> Response<Body> {
    let page = page::message_page(site_label, heading, text, link);
    let mut response = html(status, page.as_bytes(), coding, head);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A plain-text answer for requests that name no site.
pub fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from(format!("{text}\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
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
