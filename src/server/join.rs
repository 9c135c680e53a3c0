//! Multi-page articles joined into one Light page, for a site with `join_pages`: after
//! an article's first page is converted, the page its `rel=next` link names is fetched
//! through the same phases as a reader's page (the site's path rules and address guards,
//! its fetch bound, the memory budget, the bot-wall check, the judgement and conversion),
//! then the next one's, and their article bodies follow the first's, each after a
//! "Page N" line. Joining stops at the last page, at a page already joined (a loop), at a
//! next page on another origin or on a path the site does not serve, or at the budget
//! (`join_max_pages`, `join_max_bytes`), where the pagination line links the next page
//! still to read. A next page that cannot be had (an upstream failure, a refusal, a
//! page that is not an article, the join's time running out) ends the joined page with a
//! notice and a link to that page on the original site. The joined bodies are held
//! against the first page's memory charge; the whole is what the first page's cache key
//! keeps.

use std::fmt::Write;

use tokio::time::Instant;
use url::Url;

use super::handler::{self, Failure, Fetched, Judgement, Reply};
use super::Runtime;
use crate::budget::Charge;
use crate::config::{JoinRules, PageKind, Site};
use crate::convert::Finished;
use crate::error::PageError;
use crate::page::{self, Shell};
use crate::route;

/// Why joining ended.
#[derive(Debug, thiserror::Error)]
enum Stop {
    /// The last page has no `rel=next`.
    #[error("the article has no further page")]
    End,
    /// The next page is one already joined.
    #[error("the next page {0} is one already joined")]
    Loop(Url),
    /// The next page is on another origin than the upstream's.
    #[error("the next page {0} is on another site")]
    OffSite(Url),
    /// The site's path rules do not serve the next page.
    #[error("the next page {0} is not served: {1}")]
    NotServed(Url, crate::error::RouteError),
    /// `join_max_pages` or `join_max_bytes` is reached: `next` is the page left to read.
    #[error("the budget of a joined page is spent before {next}")]
    Budget {
        /// The first page not joined.
        next: Url,
    },
    /// The next page could not be had.
    #[error("the next page {next} could not be joined: {why}")]
    Failed {
        /// The page that failed.
        next: Url,
        /// What went wrong, for the log.
        why: String,
    },
}

impl Stop {
    fn failed(next: &Url, why: impl ToString) -> Self {
        Self::Failed {
            next: next.clone(),
            why: why.to_string(),
        }
    }
}

/// The site's budget when `finished` is an article page with a `rel=next` link to follow.
pub(super) fn applies<'s>(site: &'s Site, finished: &Finished) -> Option<&'s JoinRules> {
    let rules = site.join.as_ref()?;
    (finished.kind == PageKind::Article && finished.meta.navigation.rel_next.is_some())
        .then_some(rules)
}

/// A following page joined.
struct Part {
    body: String,
    text: String,
}

/// Follows `first`'s `rel=next` pages within `rules` and the time of one upstream fetch,
/// and returns the joined page with the upstream bytes all its pages took; `first` as it
/// was when nothing was joined and nothing failed. `first_page` is the first page's URL
/// (after redirects) and its upstream bytes. The joined bodies are charged to `charge`.
pub(super) async fn follow(
    runtime: &Runtime,
    reply: &Reply<'_>,
    rules: &JoinRules,
    first_page: (&Url, usize),
    first: Finished,
    charge: &mut Charge,
) -> (Finished, usize) {
    let (first_url, mut original_bytes) = first_page;
    let deadline = Instant::now() + runtime.config.limits.upstream_timeout;
    let mut visited = vec![first_url.clone()];
    let mut parts: Vec<Part> = Vec::new();
    let mut body_bytes = first.body.len();
    let mut next = first.meta.navigation.rel_next.clone();
    let stop = loop {
        let Some(wanted) = next.take() else {
            break Stop::End;
        };
        let url = match target(reply.site, &wanted, &visited) {
            Ok(url) => url,
            Err(stop) => break stop,
        };
        if parts.len() + 1 >= rules.max_pages {
            break Stop::Budget { next: url };
        }
        let fetched = tokio::time::timeout_at(deadline, fetch_part(runtime, reply, &url)).await;
        let (finished, received, landed) = match fetched {
            Ok(Ok(page)) => page,
            Ok(Err(stop)) => break stop,
            Err(_) => break Stop::failed(&url, "the following pages took too long"),
        };
        if body_bytes + finished.body.len() > rules.max_bytes {
            break Stop::Budget { next: url };
        }
        if charge.grow(finished.body.len()).is_err() {
            break Stop::failed(&url, PageError::Busy);
        }
        body_bytes += finished.body.len();
        original_bytes += received;
        visited.push(url);
        visited.push(landed);
        next = finished.meta.navigation.rel_next.clone();
        parts.push(Part {
            body: finished.body,
            text: finished.text,
        });
    };
    match &stop {
        Stop::Failed { .. } => {
            tracing::warn!(site = %reply.site.name, %stop, "joined page ends early")
        }
        _ => tracing::debug!(site = %reply.site.name, %stop, "joined page ends"),
    }
    if parts.is_empty() && !matches!(stop, Stop::Failed { .. }) {
        return (first, original_bytes);
    }
    let joined = assemble(reply.site, first_url, first, parts, &stop, original_bytes);
    (joined, original_bytes)
}

/// The URL to fetch for a `rel=next` link: on the upstream's origin, on a path the site
/// serves (with its query rule applied, as a reader's request would have it), not yet
/// joined.
fn target(site: &Site, wanted: &Url, visited: &[Url]) -> Result<Url, Stop> {
    if wanted.origin() != site.upstream.origin() {
        return Err(Stop::OffSite(wanted.clone()));
    }
    let url = route::upstream_url(site, wanted.path(), wanted.query())
        .map_err(|e| Stop::NotServed(wanted.clone(), e))?;
    if visited.contains(&url) {
        return Err(Stop::Loop(url));
    }
    Ok(url)
}

/// One following page, fetched, judged and converted as a reader's page is: its
/// converted page, the upstream bytes it took and the URL it was fetched from in the end
/// (after redirects on the site).
async fn fetch_part(
    runtime: &Runtime,
    reply: &Reply<'_>,
    url: &Url,
) -> Result<(Finished, usize, Url), Stop> {
    let failed = |f: Failure| Stop::failed(url, f.error);
    let Fetched {
        mut upstream,
        mut charge,
        permit,
    } = handler::fetch(runtime, reply, url).await.map_err(failed)?;
    let judgement = handler::screen(&mut upstream)
        .await
        .map_err(|e| Stop::failed(url, e))?;
    if judgement != Judgement::Convert {
        return Err(Stop::failed(url, format!("{judgement:?}")));
    }
    let conversion = crate::convert::Conversion::with_image_sizes(
        reply.site,
        &upstream.url,
        &runtime.config.limits,
        upstream.content_type.as_deref(),
        Some(runtime.images.sizes_for(reply.site)),
    )
    .map_err(|e| Stop::failed(url, e))?;
    let finished = handler::gather(reply, &mut upstream, conversion, &mut charge, permit)
        .await
        .map_err(failed)?;
    if finished.kind != PageKind::Article {
        return Err(Stop::failed(url, "the next page is not an article"));
    }
    Ok((finished, upstream.received(), upstream.url))
}

/// The joined page: the first page's shell around its body and each part's after a page
/// line, closed by the stop's notice when a page failed. Its pagination line leads on
/// to the page left to read, if any.
fn assemble(
    site: &Site,
    first_url: &Url,
    first: Finished,
    parts: Vec<Part>,
    stop: &Stop,
    original_bytes: usize,
) -> Finished {
    let mut meta = first.meta;
    let navigation = &mut meta.navigation;
    navigation.rel_next = None;
    navigation.next = match stop {
        Stop::Budget { next } | Stop::Failed { next, .. } => Some(light_path(next)),
        Stop::End | Stop::Loop(_) | Stop::OffSite(_) | Stop::NotServed(..) => None,
    };
    if matches!(stop, Stop::End) {
        // Every numbered page is on this one now.
        navigation.numbered.clear();
    }
    let shell = Shell {
        site,
        meta: &meta,
        original: first_url,
        kind: first.kind,
    };
    let words = shell.words();
    let mut body = first.body;
    let mut text = first.text;
    for (i, part) in parts.into_iter().enumerate() {
        body.push_str(&page::page_break(&words, i + 2));
        body.push_str(&part.body);
        let _ = write!(text, "\n\n{}", part.text);
    }
    let mut out = shell.head();
    out.push_str(&body);
    if let Stop::Failed { next, .. } = stop {
        out.push_str(&page::join_stopped(&words, next));
    }
    let tail = shell.tail(out.len(), original_bytes, None);
    out.push_str(&tail);
    Finished {
        tail: out.into_bytes(),
        meta,
        kind: first.kind,
        body,
        text,
        confidence: first.confidence,
        document_ended: first.document_ended,
        content_fallback: first.content_fallback,
    }
}

/// A page of the upstream as the Light site's root-relative path.
fn light_path(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}
