//! An upstream feed as a Light listing: its title and language become the page's, and
//! each entry one item of the listing's `<ul>`, as headline links are for HTML listings:
//! `<li><a href>Title</a> <time datetime>date</time> <p>summary</p></li>`, all plain text.
//! The markup goes through the Light pass like any other body, which turns the entries'
//! links into links of the Light site.

use std::fmt::Write;

use feed_rs::model::{Entry, Feed, Text};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use url::Url;

use super::FeedError;
use crate::extract::{self, Metadata};
use crate::lang::Words;
use crate::page::human_date;

/// Entries listed at most: a feed of thousands is an archive, not a front page.
const MAX_ENTRIES: usize = 100;

/// A summary is cut to this many characters.
const MAX_SUMMARY_CHARS: usize = 300;

/// A feed read for its listing: the page's metadata and the (unsanitized) `<ul>`.
#[derive(Debug)]
pub struct Listing {
    /// Title, description and language of the feed.
    pub meta: Metadata,
    /// The entries as a `<ul>`, for the Light pass.
    pub body_html: String,
}

/// Reads `raw` (the feed as sent; its XML declaration names its encoding) fetched from
/// `url`. `words` writes the dates in the reader's digits once the feed's language is
/// known, so it is asked for with that language.
pub(crate) fn to_listing<'w>(
    raw: &[u8],
    url: &Url,
    words: impl Fn(Option<&str>) -> Words<'w>,
) -> Result<Listing, FeedError> {
    let feed = feed_rs::parser::Builder::new()
        .base_uri(Some(url.as_str()))
        .build()
        .parse(raw)
        .map_err(|e| FeedError::Unreadable(e.to_string()))?;
    let lang = feed
        .language
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty());
    let words = words(lang);
    Ok(Listing {
        body_html: entries(&feed, url, &words),
        meta: Metadata {
            title: feed.title.as_ref().map(plain).filter(|t| !t.is_empty()),
            lang: lang.map(str::to_owned),
            excerpt: feed.description.as_ref().map(plain),
            ..Metadata::default()
        },
    })
}

fn entries(feed: &Feed, url: &Url, words: &Words<'_>) -> String {
    let mut out = String::from("<ul>");
    for entry in feed.entries.iter().take(MAX_ENTRIES) {
        let Some(title) = entry.title.as_ref().map(plain).filter(|t| !t.is_empty()) else {
            continue;
        };
        out.push_str("<li>");
        match entry_link(entry, url) {
            Some(link) => {
                let _ = write!(
                    out,
                    "<a href=\"{}\">{}</a>",
                    attr(link.as_str()),
                    text(&title)
                );
            }
            None => out.push_str(&text(&title)),
        }
        if let Some(date) = entry.published.or(entry.updated) {
            let iso = date.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let _ = write!(
                out,
                " <time datetime=\"{iso}\">{}</time>",
                text(&human_date(&iso, words))
            );
        }
        let summary = entry
            .summary
            .as_ref()
            .map(plain)
            .or_else(|| {
                entry
                    .content
                    .as_ref()
                    .and_then(|c| c.body.as_deref())
                    .map(html_text)
            })
            .map(|s| cut(&s))
            .filter(|s| !s.is_empty() && *s != title);
        if let Some(summary) = summary {
            let _ = write!(out, " <p>{}</p>", text(&summary));
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
    out
}

/// The entry's page: its `alternate` link, else its first, on the web only.
fn entry_link(entry: &Entry, base: &Url) -> Option<Url> {
    let link = entry
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .or(entry.links.first())?;
    let url = base.join(link.href.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// A feed text as plain text: HTML summaries lose their markup.
fn plain(t: &Text) -> String {
    if t.content_type.subty() == "html" || t.content_type.subty() == "xhtml" {
        html_text(&t.content)
    } else {
        extract::collapse_whitespace(&t.content)
    }
}

fn html_text(html: &str) -> String {
    extract::collapse_whitespace(&extract::to_text(html))
}

fn cut(s: &str) -> String {
    if s.chars().count() <= MAX_SUMMARY_CHARS {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(MAX_SUMMARY_CHARS).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::Overrides;

    const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Harbour &amp; City</title><language>fa</language>
<description>All the news</description>
<item><title>Barrier holds &amp; more</title><link>https://news.example/city/barrier</link>
<pubDate>Tue, 24 Nov 2026 08:00:00 GMT</pubDate>
<description>&lt;p&gt;The &lt;em&gt;tidal&lt;/em&gt; barrier held.&lt;/p&gt;&lt;script&gt;x()&lt;/script&gt;</description></item>
<item><title></title><link>https://news.example/empty</link></item>
<item><title>Elsewhere</title><link>javascript:alert(1)</link></item>
</channel></rss>"#;

    #[test]
    fn an_rss_feed_becomes_a_plain_text_listing() {
        let url = Url::parse("https://news.example/feed.xml").unwrap();
        let none = Overrides::new();
        let listing = to_listing(RSS.as_bytes(), &url, |lang| Words::new(lang, &none)).unwrap();
        assert_eq!(listing.meta.title.as_deref(), Some("Harbour & City"));
        assert_eq!(listing.meta.lang.as_deref(), Some("fa"));
        assert_eq!(
            listing.body_html,
            "<ul><li><a href=\"https://news.example/city/barrier\">Barrier holds &amp; more</a> \
             <time datetime=\"2026-11-24T08:00:00Z\">۲۰۲۶-۱۱-۲۴</time> <p>The tidal barrier held.</p></li>\
             <li>Elsewhere</li></ul>"
        );
    }

    #[test]
    fn what_is_not_a_feed_is_refused() {
        let url = Url::parse("https://news.example/feed.xml").unwrap();
        let none = Overrides::new();
        let err = to_listing(b"<html><body>no</body></html>", &url, |l| {
            Words::new(l, &none)
        });
        assert!(matches!(err, Err(FeedError::Unreadable(_))), "{err:?}");
    }
}
