//! A Light listing page as an Atom feed (RFC 4287). The page is read back, not rebuilt:
//! its `<title>`, language and canonical URL make the feed, each `<li>` of its `<main>`
//! one entry (the item's first link, its `<time datetime>`, its first paragraph). Ids
//! are the upstream's absolute URLs, which never change with the Light host; links are
//! the Light site's root-relative paths, which a reader resolves against the feed's own
//! address, so entries open as Light pages on whatever host the feed was read from.

use atom_syndication::{Entry, Feed, FixedDateTime, Link, Person, Text};
use chrono::{DateTime, FixedOffset, Utc};
use scraper::{ElementRef, Html, Selector};
use url::Url;

use super::FeedError;
use crate::page::{feed_path, FEED_MARKER};

/// The Atom feed of the Light listing `page`; `fallback` dates entries without one (the
/// page's own time).
pub(crate) fn to_atom(page: &str, fallback: DateTime<Utc>) -> Result<Vec<u8>, FeedError> {
    let html = Html::parse_document(page);
    let select = |css: &str| Selector::parse(css).map_err(|e| FeedError::Write(e.to_string()));
    if html.select(&select(FEED_MARKER)?).next().is_none() {
        return Err(FeedError::NotListing);
    }
    let canonical = html
        .select(&select("link[rel=canonical]")?)
        .next()
        .and_then(|l| l.value().attr("href"))
        .and_then(|href| Url::parse(href).ok())
        .ok_or(FeedError::NotListing)?;
    let title = html
        .select(&select("title")?)
        .next()
        .map(text_of)
        .unwrap_or_default();
    let lang = html
        .select(&select("html")?)
        .next()
        .and_then(|h| h.value().attr("lang"))
        .map(str::to_owned);
    let fallback: FixedDateTime = fallback.into();
    let (link, time, para) = (select("a[href]")?, select("time[datetime]")?, select("p")?);
    let mut entries = Vec::new();
    for item in html.select(&select("main li")?) {
        let Some(a) = item.select(&link).next() else {
            continue;
        };
        let href = a.value().attr("href").unwrap_or_default();
        let Ok(id) = canonical.join(href) else {
            continue;
        };
        let updated = item
            .select(&time)
            .next()
            .and_then(|t| t.value().attr("datetime"))
            .and_then(|d| DateTime::<FixedOffset>::parse_from_rfc3339(d).ok());
        entries.push(Entry {
            title: Text::plain(text_of(a)),
            id: id.to_string(),
            updated: updated.unwrap_or(fallback),
            published: updated,
            links: vec![Link {
                href: href.to_owned(),
                rel: "alternate".into(),
                mime_type: Some("text/html".into()),
                ..Link::default()
            }],
            summary: item
                .select(&para)
                .next()
                .map(text_of)
                .filter(|s| !s.is_empty())
                .map(Text::plain),
            ..Entry::default()
        });
    }
    let updated = entries.iter().map(|e| e.updated).max().unwrap_or(fallback);
    let light_path = match canonical.query() {
        Some(query) => format!("{}?{query}", canonical.path()),
        None => canonical.path().to_owned(),
    };
    let feed = Feed {
        title: Text::plain(title.clone()),
        id: canonical.to_string(),
        updated,
        // RFC 4287 §4.1.1: a feed names an author unless every entry does.
        authors: vec![Person {
            name: title,
            ..Person::default()
        }],
        links: vec![
            Link {
                href: feed_path(&canonical),
                rel: "self".into(),
                mime_type: Some("application/atom+xml".into()),
                ..Link::default()
            },
            Link {
                href: light_path,
                rel: "alternate".into(),
                mime_type: Some("text/html".into()),
                ..Link::default()
            },
        ],
        lang,
        entries,
        ..Feed::default()
    };
    feed.write_to(Vec::new())
        .map_err(|e| FeedError::Write(e.to_string()))
}

fn text_of(element: ElementRef<'_>) -> String {
    crate::extract::collapse_whitespace(&element.text().collect::<String>())
}
