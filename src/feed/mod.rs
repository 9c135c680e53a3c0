//! Feeds, both ways. An upstream RSS, Atom or JSON feed opened through the mirror is read
//! (`feed-rs`) and served as a Light listing page (`read.rs`); every Light listing is also
//! offered as a Light Atom feed at its own address with `?light=atom`, written
//! (`atom_syndication`) from the listing page itself (`atom.rs`), so the feed is exactly
//! the listing a reader sees, cached with it.

mod atom;
mod read;

pub(crate) use atom::to_atom;
pub(crate) use read::to_listing;

use crate::upstream::media_type;

/// Why a feed could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The upstream's feed does not parse as RSS, Atom or JSON Feed.
    #[error("not a readable feed: {0}")]
    Unreadable(String),
    /// The Light page asked for as a feed is not a listing.
    #[error("this page is not a listing")]
    NotListing,
    /// Writing the Atom document failed.
    #[error("the Atom feed could not be written: {0}")]
    Write(String),
}

/// Media types of feeds the mirror reads as listings. `text/xml` and `application/xml`
/// are there because most RSS is served as one of them.
const FEED_TYPES: &[&str] = &[
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/rdf+xml",
    "application/xml",
    "text/xml",
];

/// The media type of a Light Atom feed.
pub(crate) const ATOM_CONTENT_TYPE: &str = "application/atom+xml; charset=utf-8";

/// Whether a `Content-Type` names a feed.
pub(crate) fn is_feed_type(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| FEED_TYPES.contains(&media_type(ct).as_str()))
}
