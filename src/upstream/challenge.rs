//! Bot walls and challenges: answers that stand where the page should be (a CDN's "Just a
//! moment..." check, a captcha form, a script-only interstitial, a block page) and that
//! must never be cached or shown as an article. Every rule that tells one apart from a
//! page is here, in the tables below.
//!
//! Refusal statuses (403, 429, 503) are failures whatever their body; the broad markers
//! only tell a challenge from a plain refusal, for the reader's message and the count. A
//! success (200) counts as a challenge only on markers no article carries in its first
//! bytes (a challenge page's own title, the CDN's challenge script), or when the CDN says
//! so in `cf-mitigated`.

use http::StatusCode;
use memchr::memmem;

use super::{Response, UpstreamError};

/// How much of a refusal's body is read to judge it.
const REFUSAL_PEEK: usize = 16 << 10;
/// How much of a successful page's body is read at most to judge it: a challenge names
/// itself in its head, and more would delay a streamed page's first bytes. Reading stops
/// sooner once the head has ended (see [`head_ended`]).
const PAGE_PEEK: usize = 4 << 10;
/// Visible characters below which a refusal whose body is all script is an interstitial.
const INTERSTITIAL_TEXT: usize = 64;

/// Statuses CDNs and bot walls answer challenges with.
const REFUSALS: [StatusCode; 3] = [
    StatusCode::FORBIDDEN,
    StatusCode::TOO_MANY_REQUESTS,
    StatusCode::SERVICE_UNAVAILABLE,
];

/// Markers (lower case) of a challenge in a refusal's body.
const REFUSAL_MARKERS: &[&str] = &[
    "just a moment...",
    "cf-browser-verification",
    "cf_chl_",
    "/cdn-cgi/challenge-platform/",
    "attention required! | cloudflare",
    "checking your browser",
    "captcha",
    "cf-turnstile",
    "_incapsula_resource",
    "ddos-guard",
    "sucuri website firewall",
    "enable javascript and cookies to continue",
];

/// Markers (lower case) that only a challenge carries, even with status 200.
const PAGE_MARKERS: &[&str] = &[
    "<title>just a moment...</title>",
    "window._cf_chl_opt",
    "<title>attention required! | cloudflare</title>",
    "_incapsula_resource",
    "captcha-delivery.com",
    "<title>ddos-guard</title>",
];

/// What gave a challenge away, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sign {
    /// The CDN's `cf-mitigated` header.
    Header,
    /// One of the markers.
    Marker(&'static str),
    /// A refusal whose body is scripts and next to no text.
    ScriptOnly,
}

impl std::fmt::Display for Sign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Header => f.write_str("cf-mitigated header"),
            Self::Marker(marker) => write!(f, "marker {marker:?}"),
            Self::ScriptOnly => f.write_str("script-only body"),
        }
    }
}

/// Whether `response` is a challenge rather than the page, reading ahead as much of its
/// body as that takes (the body is still all there for its reader). A body that fails
/// while being read is left for the reader of the body to meet.
pub(crate) async fn detect(response: &mut Response) -> Result<Option<Sign>, UpstreamError> {
    if response.mitigated.is_some() {
        return Ok(Some(Sign::Header));
    }
    let status = response.status;
    if REFUSALS.contains(&status) {
        let head = response
            .peek(REFUSAL_PEEK, |_| false)
            .await?
            .to_ascii_lowercase();
        let whole = head.len() < REFUSAL_PEEK;
        return Ok(marker(&head, REFUSAL_MARKERS)
            .or_else(|| (whole && script_only(&head)).then_some(Sign::ScriptOnly)));
    }
    if status.is_success() && response.is_html() {
        let head = response
            .peek(PAGE_PEEK, head_ended)
            .await?
            .to_ascii_lowercase();
        return Ok(marker(&head, PAGE_MARKERS));
    }
    Ok(None)
}

/// Whether `bytes` hold the end of the document's head (`</head>`, or the first `<body`
/// for a page that leaves `</head>` out), in any case. The markers a 200 is judged by
/// stand in the head, so what follows cannot make a page a challenge, and the page's
/// first bytes need not wait for it. All bytes read by then, those past the head
/// included, are still looked at.
fn head_ended(bytes: &[u8]) -> bool {
    [b"</head".as_slice(), b"<body"].iter().any(|tag| {
        bytes
            .windows(tag.len())
            .any(|window| window.eq_ignore_ascii_case(tag))
    })
}

fn marker(head: &[u8], markers: &[&'static str]) -> Option<Sign> {
    markers
        .iter()
        .find(|marker| memmem::find(head, marker.as_bytes()).is_some())
        .map(|marker| Sign::Marker(marker))
}

/// A body with a script and next to no text outside scripts, styles and tags.
fn script_only(body: &[u8]) -> bool {
    memmem::find(body, b"<script").is_some() && visible_text(body) < INTERSTITIAL_TEXT
}

/// Non-space characters outside tags, scripts and styles, counted up to
/// [`INTERSTITIAL_TEXT`].
fn visible_text(body: &[u8]) -> usize {
    let mut count = 0;
    let mut rest = body;
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'<' {
            rest = skip_markup(rest);
            continue;
        }
        if !byte.is_ascii_whitespace() {
            count += 1;
            if count >= INTERSTITIAL_TEXT {
                break;
            }
        }
        rest = tail;
    }
    count
}

/// `rest` (which starts at `<`) past its tag, or past a whole script or style element.
fn skip_markup(rest: &[u8]) -> &[u8] {
    for (open, close) in [(&b"<script"[..], &b"</script"[..]), (b"<style", b"</style")] {
        if rest.starts_with(open) {
            return match memmem::find(rest, close) {
                Some(end) => skip_tag(&rest[end..]),
                None => &[],
            };
        }
    }
    skip_tag(rest)
}

fn skip_tag(rest: &[u8]) -> &[u8] {
    match memchr::memchr(b'>', rest) {
        Some(end) => &rest[end + 1..],
        None => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lower(text: &str) -> Vec<u8> {
        text.to_ascii_lowercase().into_bytes()
    }

    #[test]
    fn challenge_pages_are_told_by_their_markers() {
        let cloudflare = lower(
            "<!DOCTYPE html><html><head><title>Just a moment...</title></head>\
             <body><script>window._cf_chl_opt={cvId:'3'}</script></body></html>",
        );
        assert!(marker(&cloudflare, PAGE_MARKERS).is_some());
        assert!(marker(&cloudflare, REFUSAL_MARKERS).is_some());
        let captcha = lower("<form id=challenge><div class=\"g-recaptcha\"></div></form>");
        assert!(marker(&captcha, REFUSAL_MARKERS).is_some());
    }

    #[test]
    fn an_article_about_challenges_is_not_one() {
        let article = lower(
            "<html><head><title>Why sites ask: just a moment...</title></head><body>\
             <p>Readers meet a captcha when a CDN thinks they are bots.</p></body></html>",
        );
        assert_eq!(marker(&article, PAGE_MARKERS), None);
    }

    #[test]
    fn the_head_ends_at_its_closing_tag_or_the_body() {
        assert!(head_ended(b"<html><head><title>t</title></HEAD>"));
        assert!(head_ended(b"<title>t</title><Body class=x>"));
        assert!(!head_ended(
            b"<html><head><title>t</title><meta charset=utf-8>"
        ));
        assert!(!head_ended(b"<p>no head yet</p><bod"));
    }

    #[test]
    fn script_only_bodies_are_interstitials() {
        assert!(script_only(
            b"<html><body><script>location.reload()</script></body></html>"
        ));
        assert!(script_only(
            b"<script src=/c.js></script><noscript>enable js</noscript>"
        ));
        let refusal = b"<html><body><h1>Forbidden</h1><p>You do not have permission to \
            read this page from where you are. Contact the site's owner.</p><script>x()</script></body></html>";
        assert!(!script_only(refusal));
        assert!(!script_only(b"<p>no scripts, little text</p>"));
    }

    #[test]
    fn text_is_counted_outside_markup() {
        assert_eq!(
            visible_text(b"<p class='a b'>ab c</p><style>p{}</style>"),
            3
        );
        assert_eq!(visible_text(b"<script>var long_code = 1;</script>x"), 1);
        assert_eq!(visible_text(b"<p unterminated"), 0);
    }
}
