//! Which cached pages an operator's purge names: every page of a site, one page with all
//! its query variants, or every page under a path prefix. Pure matching over cache keys
//! (`NAME.DIGEST\0/path?query`, made by [`route::cache_key`](crate::route::cache_key));
//! the stores do the removing.

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
        let Some((site_part, page)) = key.split_once('\0') else {
            return false;
        };
        let of_site = site_part
            .strip_prefix(site)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|digest| {
                digest.len() == DIGEST_LEN && digest.bytes().all(|b| b.is_ascii_hexdigit())
            });
        if !of_site {
            return false;
        }
        let path = page.split_once('?').map_or(page, |(path, _)| path);
        match self {
            Self::Site => true,
            Self::Path(exact) => path == exact,
            Self::Prefix(prefix) => path.starts_with(prefix.as_str()),
        }
    }
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
