//! Every way a request can fail, each a type that knows the HTTP status its reader gets:
//! [`RouteError`] (the request names no page we may fetch), [`UpstreamError`] (the fetch
//! failed), [`ConvertError`] (the page could not be made Light), and [`PageError`], the
//! handler's sum of everything that keeps a fresh page from a reader, which also says
//! what the reader is told. Failures are classified where they arise, by type, never by
//! reading their messages.

use std::time::Duration;

use http::StatusCode;
use url::Url;

use crate::extract::ReduceError;
use crate::lang::{Message, Words};
use crate::rewrite::RewriteError;

/// Why a request names no page the proxy may fetch.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub(crate) enum RouteError {
    /// `CONNECT` asks for a tunnel; this is not that kind of proxy.
    #[error("CONNECT is not supported")]
    Connect,
    /// Only GET and HEAD read pages.
    #[error("method {0} is not allowed")]
    Method(String),
    /// An absolute-form target (`GET http://host/ HTTP/1.1`) is a forward-proxy request.
    #[error("absolute-form request targets are not accepted")]
    AbsoluteForm,
    /// The request carries no usable Host.
    #[error("the request has no Host header")]
    MissingHost,
    /// Two Host headers: which one a server in front read cannot be known.
    #[error("the request has more than one Host header")]
    TwoHosts,
    /// A Host header that is not text.
    #[error("the Host header is not text")]
    HostNotText,
    /// An HTTP/2 request whose `host` differs from its `:authority`.
    #[error("the request's host and :authority differ")]
    HostMismatch,
    /// The Host is not one of a configured site's.
    #[error("no site is configured for host {0}")]
    UnknownHost(String),
    /// The path cannot be read one way only (see [`PathError`]).
    #[error("path {path} is not accepted: {why}")]
    MalformedPath {
        /// The path as the request wrote it.
        path: String,
        /// What is wrong with it.
        why: PathError,
    },
    /// The site's rules do not allow this path.
    #[error("path {0} is not served for this site")]
    PathNotAllowed(String),
}

impl RouteError {
    /// The status a reader gets for this refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Connect | Self::Method(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::AbsoluteForm
            | Self::MissingHost
            | Self::TwoHosts
            | Self::HostNotText
            | Self::HostMismatch
            | Self::MalformedPath { .. } => StatusCode::BAD_REQUEST,
            Self::UnknownHost(_) | Self::PathNotAllowed(_) => StatusCode::NOT_FOUND,
        }
    }
}

/// Why a path has no single reading. Each is a form that servers, frameworks and caches
/// are known to read differently, so no check made on one reading holds for the others.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub(crate) enum PathError {
    /// The path does not start with `/`.
    #[error("it does not start with /")]
    NotAbsolute,
    /// A `%` not followed by two hexadecimal digits.
    #[error("a % is not followed by two hex digits")]
    BadEscape,
    /// `%2F`: a slash that one server takes for a separator and another for a character.
    #[error("it has an encoded / (%2F)")]
    EncodedSlash,
    /// `\` or `%5C`, which some servers read as `/`.
    #[error("it has a backslash")]
    Backslash,
    /// `%00` or another control character, written out or encoded.
    #[error("it has a control character")]
    Control,
    /// A segment that is `.` or `..` only once decoded (`%2e`, `.%2E`) or once its
    /// `;parameters` are removed (`..;`), which servlet containers resolve and we would not.
    #[error("it has a disguised dot segment")]
    DisguisedDotSegment,
}

/// Why a fetch failed; each kind maps to the HTTP status a reader gets.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be made, or it broke.
    #[error("upstream unreachable: {0}")]
    Unreachable(String),
    /// The upstream took longer than the limit.
    #[error("upstream took longer than {0:?}")]
    Timeout(Duration),
    /// The body grew past the limit (counted after decompression).
    #[error("upstream body larger than {0} bytes")]
    TooLarge(usize),
    /// The upstream resolves to an address the site may not reach.
    #[error("upstream address {0} is not public")]
    Forbidden(String),
    /// Redirects went on past the limit or in a loop.
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    /// The upstream answered with a server error, or a redirect that was not followed.
    #[error("upstream answered {0}")]
    Answered(StatusCode),
}

impl UpstreamError {
    /// The failure's kind, as the metrics count it.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Unreachable(_) | Self::Answered(_) => "unreachable",
            Self::Timeout(_) => "timeout",
            Self::TooLarge(_) => "too_large",
            Self::Forbidden(_) => "forbidden",
            Self::TooManyRedirects(_) => "redirects",
        }
    }

    /// The status a reader gets for this failure.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        }
    }
}

/// Why a page could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The Light pass failed (memory limit, ambiguous markup).
    #[error(transparent)]
    Rewrite(#[from] RewriteError),
    /// The page could not be read for detection.
    #[error(transparent)]
    Reduce(#[from] ReduceError),
    /// The page is larger than the limit.
    #[error("page larger than {0} bytes")]
    TooLarge(usize),
    /// The conversion's task ended without a result (it panicked or was cancelled).
    #[error("conversion did not finish: {0}")]
    Abandoned(String),
    /// A feed that could not be read.
    #[error(transparent)]
    Feed(#[from] crate::feed::FeedError),
}

impl ConvertError {
    /// The status a reader gets for this failure: the upstream's page could not be
    /// turned into a Light one.
    pub fn status(&self) -> StatusCode {
        StatusCode::BAD_GATEWAY
    }
}

/// Why no fresh page came of a fetch. When a saved copy exists it is served instead, with
/// a notice; otherwise the reader gets a short page saying this.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PageError {
    /// The upstream could not give the page.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The upstream turned the mirror away (403, 429, 451 and other refusals).
    #[error("upstream refused the request: {0}")]
    Refused(StatusCode),
    /// The upstream sends this page off the site: to `target` when it is on the web, to
    /// a scheme the Light site does not link to when `None`.
    #[error("the upstream sends this page elsewhere")]
    Moved(Option<Url>),
    /// The memory for pages in flight, or the detection slots, are in use.
    #[error("the memory for pages in flight is in use")]
    Busy,
    /// The page could not be converted.
    #[error(transparent)]
    Convert(#[from] ConvertError),
    /// The upstream answered with a bot wall or challenge instead of the page.
    #[error("upstream answered with a challenge, not the page ({0})")]
    Challenged(crate::upstream::challenge::Sign),
    /// The fleet has made as many fetches of the site as `upstream_rate` allows; one may
    /// go after this long.
    #[error("the fleet's upstream_rate for the site is reached for {0:?}")]
    RateLimited(Duration),
}

impl PageError {
    /// The status a reader without a saved copy gets. A page that moved off the site is
    /// a valid answer (a link to follow), so it is a 200.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::Upstream(e) => e.status(),
            Self::Refused(status) => *status,
            Self::Moved(_) => StatusCode::OK,
            Self::Busy | Self::RateLimited(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Convert(e) => e.status(),
            Self::Challenged(_) => StatusCode::BAD_GATEWAY,
        }
    }

    /// The kind the metrics count an upstream failure under; a conversion failure is not
    /// one.
    pub(crate) fn upstream_kind(&self) -> Option<&'static str> {
        match self {
            Self::Upstream(e) => Some(e.kind()),
            Self::Refused(_) => Some("refused"),
            Self::Moved(_) => Some("moved"),
            Self::Busy => Some("busy"),
            Self::Convert(_) => None,
            Self::Challenged(_) => Some("challenge"),
            Self::RateLimited(_) => Some("rate_limited"),
        }
    }

    /// The heading and text of the page a reader without a saved copy gets, in `words`.
    pub(crate) fn explain(&self, words: &Words<'_>) -> (String, String) {
        let text = match self {
            Self::Upstream(UpstreamError::Timeout(_)) => Message::ErrorTooSlow,
            Self::Upstream(UpstreamError::TooLarge(_)) => Message::ErrorTooLarge,
            Self::Upstream(_) => Message::ErrorUnreachable,
            Self::Refused(status) => {
                let status = words.number(&status.as_u16().to_string());
                return (
                    words.text(Message::HeadingUnavailable).to_owned(),
                    words.fill(Message::ErrorAnswered, &[("status", &status)]),
                );
            }
            Self::Moved(Some(_)) => Message::ErrorLeadsAway,
            Self::Moved(None) => Message::ErrorUnlinkable,
            Self::Busy => Message::ErrorBusy,
            Self::Convert(_) => Message::ErrorNotConverted,
            Self::Challenged(_) => Message::ErrorChallenged,
            Self::RateLimited(_) => Message::ErrorPacing,
        };
        let heading = match self {
            Self::Moved(_) => Message::HeadingElsewhere,
            Self::Busy | Self::RateLimited(_) => Message::HeadingBusy,
            Self::Challenged(_) => Message::HeadingRefusedMirror,
            _ => Message::HeadingUnavailable,
        };
        (words.text(heading).to_owned(), words.text(text).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_knows_its_status() {
        let upstream = |e| PageError::Upstream(e).status();
        assert_eq!(
            upstream(UpstreamError::Timeout(Duration::from_secs(1))),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            upstream(UpstreamError::Forbidden("10.0.0.1".into())),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            upstream(UpstreamError::Answered(StatusCode::SERVICE_UNAVAILABLE)),
            StatusCode::BAD_GATEWAY
        );
        let refused = PageError::Refused(StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);
        assert_eq!(refused.status(), StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);
        assert_eq!(PageError::Busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(PageError::Moved(None).status(), StatusCode::OK);
        let convert = PageError::Convert(ConvertError::TooLarge(10));
        assert_eq!(convert.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(convert.upstream_kind(), None);
        assert_eq!(RouteError::TwoHosts.status(), StatusCode::BAD_REQUEST);
        assert_eq!(RouteError::HostMismatch.status(), StatusCode::BAD_REQUEST);
    }
}
