//! Which cached pages and Light images an operator's purge names: every page of a site,
//! one page with all its query variants, or every page under a path prefix; and the
//! site's Light images alike, by their source's path on the upstream's own origin (an
//! image from one of the site's `image_hosts` has no path of the site, so only a purge
//! of the whole site takes it). Pure matching over cache keys (`NAME.DIGEST\0/path?query`,
//! made by [`route::cache_key`](crate::route::cache_key), and
//! `NAME.DIGEST\0img\0SOURCE`, made by [`ImageCache::key`](super::ImageCache::key)); the
//! stores do the removing.

use url::Url;

use crate::route::NormalPath;

/// What of a site a purge removes.
///
/// ```
/// use lightmirror::cache::Purge;
///
/// let key = "news.0123456789ab\0/world/today?page=2";
/// assert!(Purge::Site.matches("news", key));
/// assert!(Purge::Path("/world/today".into()).matches("news", key));
/// assert!(Purge::Prefix("/world/".into()).matches("news", key));
/// assert!(!Purge::Path("/world".into()).matches("news", key));
/// assert!(!Purge::Site.matches("sport", key));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purge {
    /// Every page of the site, under its present rules and any earlier ones.
    Site,
    /// One path in normal form, with every query variant of it.
    Path(String),
    /// Every path that starts with this one, as text (`/news/` spares `/newsroom`,
    /// `/news` does not).
    Prefix(String),
}

/// Hex digits of [`Site::rules_digest`](crate::config::Site::rules_digest).
const DIGEST_LEN: usize = 12;

impl Purge {
    /// Whether the page under `key` belongs to `site` and lies within this scope.
    pub fn matches(&self, site: &str, key: &str) -> bool {
        let Some(page) = of_site(site, key) else {
            return false;
        };
        let path = page.split_once('?').map_or(page, |(path, _)| path);
        self.covers(path)
    }

    /// Whether the Light image under `key` belongs to `site`, whose upstream origin is
    /// `upstream`, and lies within this scope: its source's path, in normal form, as a
    /// page's would be.
    ///
    /// ```
    /// use lightmirror::cache::Purge;
    /// use url::Url;
    ///
    /// let upstream = Url::parse("https://news.example/").unwrap();
    /// let key = "news.0123456789ab\0img\0https://news.example/world/a.jpg?w=800";
    /// assert!(Purge::Prefix("/world/".into()).matches_image("news", &upstream, key));
    /// assert!(Purge::Path("/world/a.jpg".into()).matches_image("news", &upstream, key));
    /// let cdn = "news.0123456789ab\0img\0https://cdn.example/world/a.jpg";
    /// assert!(!Purge::Prefix("/world/".into()).matches_image("news", &upstream, cdn));
    /// assert!(Purge::Site.matches_image("news", &upstream, cdn));
    /// ```
    pub fn matches_image(&self, site: &str, upstream: &Url, key: &str) -> bool {
        let Some(source) = of_site(site, key).and_then(|rest| rest.strip_prefix(IMAGE_PART)) else {
            return false;
        };
        if *self == Self::Site {
            return true;
        }
        let Ok(source) = Url::parse(source) else {
            return false;
        };
        if source.origin() != upstream.origin() {
            return false;
        }
        NormalPath::parse(source.path()).is_ok_and(|path| self.covers(path.as_str()))
    }

    /// Whether a path in normal form lies within this scope.
    fn covers(&self, path: &str) -> bool {
        match self {
            Self::Site => true,
            Self::Path(exact) => path == exact,
            Self::Prefix(prefix) => path.starts_with(prefix.as_str()),
        }
    }
}

/// The namespace of Light images in their keys, after the site part: the source URL
/// follows it.
pub(super) const IMAGE_PART: &str = "img\0";

/// The rest of `key` after its site part, when that names `site` (under any rules).
fn of_site<'k>(site: &str, key: &'k str) -> Option<&'k str> {
    let (site_part, rest) = key.split_once('\0')?;
    site_part
        .strip_prefix(site)
        .and_then(|rest| rest.strip_prefix('.'))
        .filter(|digest| {
            digest.len() == DIGEST_LEN && digest.bytes().all(|b| b.is_ascii_hexdigit())
        })
        .map(|_| rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "00112233aabb";

    fn key(site: &str, page: &str) -> String {
        format!("{site}.{DIGEST}\0{page}")
    }

    #[test]
    fn a_site_is_its_name_whatever_the_digest() {
        assert!(Purge::Site.matches("a", "a.ffffffffffff\0/x"));
        assert!(Purge::Site.matches("a.b", &key("a.b", "/x")));
        // Another site whose name starts with this one's, or a key of another shape.
        assert!(!Purge::Site.matches("a", &key("a.b", "/x")));
        assert!(!Purge::Site.matches("a", &key("ab", "/x")));
        assert!(!Purge::Site.matches("a", "a\0/x"));
        assert!(!Purge::Site.matches("a", "a/x"));
    }

    #[test]
    fn paths_take_their_variants_and_prefixes_their_subtree() {
        let path = Purge::Path("/news/a".into());
        assert!(path.matches("s", &key("s", "/news/a")));
        assert!(path.matches("s", &key("s", "/news/a?page=2")));
        assert!(!path.matches("s", &key("s", "/news/ab")));
        assert!(!path.matches("s", &key("s", "/news/a/b")));
        assert!(!path.matches("s", &key("t", "/news/a")));
        let prefix = Purge::Prefix("/news/".into());
        assert!(prefix.matches("s", &key("s", "/news/")));
        assert!(prefix.matches("s", &key("s", "/news/a/b?x=1")));
        assert!(!prefix.matches("s", &key("s", "/newsroom")));
        // The query is not part of the path a prefix is compared with.
        assert!(!Purge::Prefix("/a?x".into()).matches("s", &key("s", "/a?x=1")));
    }
}
