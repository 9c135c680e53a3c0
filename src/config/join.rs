//! A site's rule for multi-page articles, checked: whether the following pages of an
//! article (its `rel=next` links on the upstream's own origin) are joined into one Light
//! page, and the budget a joined page keeps within. The joining itself is the server's
//! (`server/join.rs`).

use super::schema::SiteConfig;

/// Fewest and most pages `join_max_pages` accepts: one page is no joining, and past a
/// few dozen pages a reader is better served page by page.
const PAGES: std::ops::RangeInclusive<usize> = 2..=50;

/// Smallest and largest `join_max_bytes` accepted: below a few KiB no second page fits,
/// and the cache keeps no page above 64 MiB.
const BYTES: std::ops::RangeInclusive<usize> = 4 << 10..=64 << 20;

/// `join_max_pages` when a site does not set it.
pub const DEFAULT_JOIN_MAX_PAGES: usize = 5;

/// `join_max_bytes` when a site does not set it: 1 MiB of Light body, some forty pages
/// of a long news article, and a tenth of what one upstream page may be by default.
pub const DEFAULT_JOIN_MAX_BYTES: usize = 1 << 20;

/// The budget of a joined article: `join_max_pages` and `join_max_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinRules {
    /// Most pages joined, the first included.
    pub max_pages: usize,
    /// Most bytes of Light body the joined pages hold together.
    pub max_bytes: usize,
}

impl JoinRules {
    /// Checks the raw settings, pushing a `(field, reason)` for each problem; `None` when
    /// the site does not join pages. The budget is checked either way, so a value that
    /// makes no sense is reported before anyone turns joining on.
    pub(super) fn check(raw: &SiteConfig, push: &mut impl FnMut(&str, String)) -> Option<Self> {
        if !PAGES.contains(&raw.join_max_pages) {
            push(
                "join_max_pages",
                format!(
                    "{} is not between {} and {} pages",
                    raw.join_max_pages,
                    PAGES.start(),
                    PAGES.end()
                ),
            );
        }
        if !BYTES.contains(&raw.join_max_bytes) {
            push(
                "join_max_bytes",
                format!(
                    "{} is not between {} and {} bytes",
                    raw.join_max_bytes,
                    BYTES.start(),
                    BYTES.end()
                ),
            );
        }
        raw.join_pages.then_some(Self {
            max_pages: raw.join_max_pages,
            max_bytes: raw.join_max_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    fn parse(extra: &str) -> Result<std::sync::Arc<crate::config::Site>, String> {
        let text = format!(
            "[[site]]\nname = \"j\"\nupstream = \"https://news.example\"\n\
             hosts = [\"light.example\"]\n{extra}\n"
        );
        crate::config::parse(&text, "t")
            .map(|(_, mut sites)| sites.remove(0))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn joining_is_off_unless_asked_and_its_budget_has_defaults() {
        assert_eq!(parse("").unwrap().join, None);
        let rules = parse("join_pages = true").unwrap().join.unwrap();
        assert_eq!((rules.max_pages, rules.max_bytes), (5, 1 << 20));
        let rules = parse("join_pages = true\njoin_max_pages = 3\njoin_max_bytes = 65536")
            .unwrap()
            .join
            .unwrap();
        assert_eq!((rules.max_pages, rules.max_bytes), (3, 65536));
    }

    #[test]
    fn nonsense_budgets_are_reported_together() {
        let err = parse("join_pages = true\njoin_max_pages = 1\njoin_max_bytes = 10").unwrap_err();
        assert!(
            err.contains("site[0].join_max_pages") && err.contains("site[0].join_max_bytes"),
            "{err}"
        );
        let err = parse("join_max_pages = 1000").unwrap_err();
        assert!(err.contains("join_max_pages"), "{err}");
        assert!(parse("join_pages = \"yes\"").is_err());
    }
}
