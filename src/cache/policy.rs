//! The rules the cache applies: how long a page stays fresh (configuration and the
//! upstream's `Cache-Control`), whether the upstream forbids transforming the page at all,
//! what `Cache-Control` readers and caches in front are told, whether a reader's
//! conditional request can be answered with `304 Not Modified`, whether a new page may
//! replace a saved copy, and which keys are query variants of one path. Pure functions
//! over header values and keys; no storage here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Quality, StoredPage};

/// Whether a new page of quality `new` may replace the usable (fresh or stale) copy of
/// quality `old`, if there is one. It may, unless it carries no article text where the
/// copy does, or it may have been cut short: a failing or tampered upstream must not turn
/// a good saved page into an empty or partial one that is then served for days.
pub(crate) fn replaces(new: Quality, old: Option<Quality>) -> bool {
    let Some(old) = old else {
        return true;
    };
    let loses_text = new.text_chars == 0 && old.text_chars > 0;
    new.whole && !loses_text
}

/// The path a key with a query is a variant of (`site\0/path?q` → `site\0/path`, as made
/// by [`route::cache_key`](crate::route::cache_key)); `None` for a key without a query.
/// The query starts at the first `?` after the site name, which may itself hold one.
pub(crate) fn variant_base(key: &str) -> Option<&str> {
    let path = key.find('\0').map_or(0, |nul| nul + 1);
    key[path..].find('?').map(|query| &key[..path + query])
}

/// How long a converted page stays fresh, or `None` when it must not be stored.
///
/// The upstream's `Cache-Control` decides first: `no-store`, `private` and `no-cache` (in
/// any form, with or without field names) forbid storing, as does a lifetime of zero.
/// `s-maxage` wins over `max-age` because this is a shared cache. An upstream lifetime is
/// used as given, however long. Without one, the site's `cache_ttl` applies, else the
/// default `[cache] ttl`.
///
/// ```
/// use std::time::Duration;
/// use lightmirror::cache::freshness;
///
/// let default = Duration::from_secs(300);
/// assert_eq!(freshness(Some("max-age=60"), None, default), Some(Duration::from_secs(60)));
/// assert_eq!(freshness(Some("private, max-age=60"), None, default), None);
/// assert_eq!(freshness(None, Some(Duration::from_secs(30)), default), Some(Duration::from_secs(30)));
/// ```
pub fn freshness(
    cache_control: Option<&str>,
    site_ttl: Option<Duration>,
    default_ttl: Duration,
) -> Option<Duration> {
    let mut max_age = None;
    let mut s_maxage = None;
    for directive in cache_control.into_iter().flat_map(directives) {
        let (name, value) = directive;
        if name.eq_ignore_ascii_case("no-store")
            || name.eq_ignore_ascii_case("private")
            || name.eq_ignore_ascii_case("no-cache")
        {
            return None;
        }
        // RFC 9111 §4.2.1: the first of repeated directives counts, and a lifetime that
        // cannot be read means the response is already stale, i.e. zero.
        if name.eq_ignore_ascii_case("s-maxage") && s_maxage.is_none() {
            s_maxage = Some(seconds(value));
        } else if name.eq_ignore_ascii_case("max-age") && max_age.is_none() {
            max_age = Some(seconds(value));
        }
    }
    let lifetime = s_maxage.or(max_age).or(site_ttl).unwrap_or(default_ttl);
    (!lifetime.is_zero()).then_some(lifetime)
}

/// Whether the upstream's `Cache-Control` carries `no-transform` (RFC 9111 §5.2.2.6): the
/// publisher asks that no intermediary changes the page, so no Light version is made.
pub(crate) fn forbids_transform(cache_control: Option<&str>) -> bool {
    cache_control
        .into_iter()
        .flat_map(directives)
        .any(|(name, _)| name.eq_ignore_ascii_case("no-transform"))
}

/// The `Cache-Control` of an answer that no one may keep: errors, refusals, pages the
/// upstream forbids storing.
pub(crate) const NOT_STORED: &str = "no-store";

/// The `Cache-Control` of a Light page that readers and a shared cache in front (a CDN)
/// may keep for `fresh`: the page's lifetime here (the upstream's, else the site's
/// `cache_ttl`, else `[cache] ttl`) as `max-age` and `s-maxage`; as
/// `stale-while-revalidate`, the same again, in which a CDN may answer with its copy while
/// it fetches a new one; and as `stale-if-error`, `[cache] stale_if_error`, how long past
/// freshness this cache too serves a saved copy when the upstream fails.
pub(crate) fn shared_cache_control(fresh: Duration, stale_if_error: Duration) -> String {
    let fresh = fresh.as_secs();
    format!(
        "public, max-age={fresh}, s-maxage={fresh}, stale-while-revalidate={fresh}, \
         stale-if-error={}",
        stale_if_error.as_secs()
    )
}

/// The `Cache-Control` of a saved copy served in place of a fresh page: already stale, so
/// a CDN does not serve it as fresh, but one that may stand in for this proxy's failure
/// as it stood in for the upstream's.
pub(crate) fn stale_cache_control(stale_if_error: Duration) -> String {
    format!(
        "public, max-age=0, stale-if-error={}",
        stale_if_error.as_secs()
    )
}

/// Whether a conditional request may be answered `304 Not Modified` from `page`.
///
/// `If-None-Match` takes precedence (RFC 9110 §13.2.2): it matches on `*` or on any listed
/// entity tag equal to the page's under weak comparison (a `W/` prefix on either side is
/// ignored). Only when it is absent does `If-Modified-Since` count: it matches when the
/// page was last modified no later than the given date, at one-second precision. An
/// unreadable date never matches. The caller checks the method (GET or HEAD only).
///
/// ```
/// use std::time::Duration;
/// use bytes::Bytes;
/// use lightmirror::cache::{not_modified, Quality, StoredPage};
///
/// let whole = Quality { text_chars: 2, whole: true };
/// let page = StoredPage::new(200, Bytes::from_static(b"<p>hi</p>"), None, Duration::from_secs(60), whole);
/// assert!(not_modified(&page, Some(&format!("W/{}", page.etag)), None));
/// assert!(!not_modified(&page, Some("\"other\""), None));
/// ```
pub fn not_modified(
    page: &StoredPage,
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
) -> bool {
    if let Some(list) = if_none_match {
        if list.trim() == "*" {
            return true;
        }
        let ours = opaque_tag(&page.etag);
        return entity_tags(list).any(|tag| Some(tag) == ours);
    }
    let Some(since) = if_modified_since.and_then(|v| httpdate::parse_http_date(v.trim()).ok())
    else {
        return false;
    };
    whole_seconds(page.last_modified) <= whole_seconds(since)
}

/// The `name[=value]` directives of a `Cache-Control` value; quotes around a value are
/// removed. Commas inside quoted values (as in `private="a, b"`) do not split.
fn directives(value: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    split_outside_quotes(value).filter_map(|part| {
        let part = part.trim();
        if part.is_empty() {
            return None;
        }
        Some(match part.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (part, None),
        })
    })
}

fn split_outside_quotes(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let text = rest?;
        let mut quoted = false;
        for (i, c) in text.char_indices() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    rest = Some(&text[i + 1..]);
                    return Some(&text[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(text)
    })
}

/// A delta-seconds value; absent or unreadable counts as zero (already stale), and one
/// too large for `u64` saturates rather than failing.
fn seconds(value: Option<&str>) -> Duration {
    match value {
        Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
            Duration::from_secs(v.parse().unwrap_or(u64::MAX))
        }
        _ => Duration::ZERO,
    }
}

/// The opaque tags (quotes included) of an `If-None-Match` list, `W/` prefixes dropped.
/// Parsing stops at the first malformed member, so garbage never matches.
fn entity_tags(list: &str) -> impl Iterator<Item = &str> {
    let mut rest = list;
    std::iter::from_fn(move || {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
        let (tag, after) = split_entity_tag(rest)?;
        rest = after;
        Some(tag)
    })
}

/// Splits one entity tag off the front of `text`: `(opaque tag, remainder)`.
fn split_entity_tag(text: &str) -> Option<(&str, &str)> {
    let start = text.strip_prefix("W/").unwrap_or(text);
    let body = start.strip_prefix('"')?;
    let end = body.find('"')? + 2;
    Some((&start[..end], &start[end..]))
}

fn opaque_tag(etag: &str) -> Option<&str> {
    split_entity_tag(etag.trim()).map(|(tag, _)| tag)
}

/// HTTP dates carry whole seconds, so sub-second parts must not make a page look newer
/// than the date a client echoes back.
fn whole_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const DEFAULT: Duration = Duration::from_secs(300);
    const SITE: Option<Duration> = Some(Duration::from_secs(120));

    fn secs(n: u64) -> Option<Duration> {
        Some(Duration::from_secs(n))
    }

    #[test]
    fn upstream_lifetime_then_site_then_default() {
        assert_eq!(freshness(None, None, DEFAULT), secs(300));
        assert_eq!(freshness(None, SITE, DEFAULT), secs(120));
        assert_eq!(freshness(Some("public"), SITE, DEFAULT), secs(120));
        assert_eq!(freshness(Some("max-age=60"), SITE, DEFAULT), secs(60));
        // Longer than any configured value: used as given.
        assert_eq!(
            freshness(Some("max-age=31536000"), SITE, DEFAULT),
            secs(31_536_000)
        );
    }

    #[test]
    fn s_maxage_wins_over_max_age_in_either_order() {
        assert_eq!(
            freshness(Some("max-age=60, s-maxage=600"), None, DEFAULT),
            secs(600)
        );
        assert_eq!(
            freshness(Some("S-MaxAge=\"600\" , max-age=60"), None, DEFAULT),
            secs(600)
        );
        assert_eq!(
            freshness(Some("max-age=60, s-maxage=0"), None, DEFAULT),
            None
        );
    }

    #[test]
    fn directives_that_forbid_storing() {
        for value in [
            "no-store",
            "public, no-store, max-age=60",
            "private",
            "PRIVATE, max-age=600",
            "private=\"set-cookie, x-user\", max-age=60",
            "no-cache",
            "no-cache=\"set-cookie\"",
            "max-age=0",
            "s-maxage=0, max-age=60",
        ] {
            assert_eq!(freshness(Some(value), SITE, DEFAULT), None, "{value}");
        }
    }

    #[test]
    fn unreadable_or_repeated_lifetimes() {
        assert_eq!(freshness(Some("max-age=soon"), SITE, DEFAULT), None);
        assert_eq!(freshness(Some("max-age=-5"), SITE, DEFAULT), None);
        assert_eq!(freshness(Some("max-age"), SITE, DEFAULT), None);
        assert_eq!(
            freshness(Some("max-age=30, max-age=90"), None, DEFAULT),
            secs(30)
        );
        assert_eq!(
            freshness(Some("max-age=99999999999999999999999"), None, DEFAULT),
            secs(u64::MAX)
        );
        // A quoted comma belongs to the value, so `max-age` here is its own directive.
        assert_eq!(
            freshness(Some("community=\"a,max-age=1\", max-age=40"), None, DEFAULT),
            secs(40)
        );
    }

    #[test]
    fn no_transform_is_a_directive_not_a_substring() {
        assert!(forbids_transform(Some("public, No-Transform")));
        assert!(forbids_transform(Some("no-transform")));
        assert!(!forbids_transform(Some("community=\"no-transform\"")));
        assert!(!forbids_transform(Some("max-age=60")));
        assert!(!forbids_transform(None));
    }

    #[test]
    fn readers_and_caches_in_front_are_told_both_lifetimes() {
        assert_eq!(
            shared_cache_control(Duration::from_secs(60), Duration::from_secs(86_400)),
            "public, max-age=60, s-maxage=60, stale-while-revalidate=60, stale-if-error=86400"
        );
        assert_eq!(
            stale_cache_control(Duration::from_secs(600)),
            "public, max-age=0, stale-if-error=600"
        );
    }

    #[test]
    fn zero_configured_lifetime_is_not_stored() {
        assert_eq!(freshness(None, Some(Duration::ZERO), DEFAULT), None);
        assert_eq!(freshness(None, None, Duration::ZERO), None);
    }

    fn page_modified_at(secs: u64, nanos: u32) -> StoredPage {
        let modified = UNIX_EPOCH + Duration::new(secs, nanos);
        StoredPage::new(
            200,
            Bytes::from_static(b"<p>light</p>"),
            Some(modified),
            Duration::from_secs(60),
            Quality {
                text_chars: 5,
                whole: true,
            },
        )
    }

    #[test]
    fn a_worse_page_never_replaces_a_usable_copy() {
        let q = |text_chars, whole| Quality { text_chars, whole };
        // With nothing to lose, anything is kept.
        assert!(replaces(q(0, false), None));
        assert!(replaces(q(0, true), None));
        // Whole pages replace each other, longer or shorter, as the article changes.
        assert!(replaces(q(10, true), Some(q(5000, true))));
        assert!(replaces(q(5000, true), Some(q(10, false))));
        // No text never replaces text; empty replaces empty.
        assert!(!replaces(q(0, true), Some(q(5000, true))));
        assert!(!replaces(q(0, true), Some(q(1, false))));
        assert!(replaces(q(0, true), Some(q(0, true))));
        // A body that may be cut short replaces no copy at all, however poor.
        assert!(!replaces(q(5000, false), Some(q(10, true))));
        assert!(!replaces(q(5000, false), Some(q(0, false))));
    }

    #[test]
    fn variants_share_the_path_of_their_key() {
        assert_eq!(variant_base("news\0/a?x=1"), Some("news\0/a"));
        assert_eq!(variant_base("news\0/a?"), Some("news\0/a"));
        assert_eq!(variant_base("news\0/a?x=1?y"), Some("news\0/a"));
        assert_eq!(variant_base("news\0/a"), None);
        assert_eq!(variant_base("what?\0/a"), None);
        assert_eq!(variant_base("what?\0/a?b"), Some("what?\0/a"));
    }

    #[test]
    fn if_none_match_lists_weak_and_star() {
        let page = page_modified_at(1_700_000_000, 0);
        let tag = page.etag.clone();
        assert!(not_modified(&page, Some(&tag), None));
        assert!(not_modified(&page, Some(&format!("W/{tag}")), None));
        assert!(not_modified(
            &page,
            Some(&format!("\"a\", W/\"b\",{tag}")),
            None
        ));
        assert!(not_modified(&page, Some(" * "), None));
        assert!(!not_modified(&page, Some("\"a\", \"b\""), None));
        assert!(!not_modified(&page, Some(tag.trim_matches('"')), None));
        assert!(!not_modified(&page, Some(""), None));
        // A comma inside a tag does not split it.
        assert!(!not_modified(&page, Some("\"x,y\""), None));
    }

    #[test]
    fn if_none_match_decides_before_if_modified_since() {
        let page = page_modified_at(1_700_000_000, 0);
        let later = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        assert!(!not_modified(&page, Some("\"other\""), Some(&later)));
        assert!(not_modified(&page, None, Some(&later)));
    }

    #[test]
    fn if_modified_since_at_second_precision() {
        let page = page_modified_at(1_700_000_000, 700_000_000);
        let date = |s: u64| httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(s));
        assert!(not_modified(&page, None, Some(&date(1_700_000_000))));
        assert!(not_modified(&page, None, Some(&date(1_700_000_001))));
        assert!(!not_modified(&page, None, Some(&date(1_699_999_999))));
        assert!(!not_modified(&page, None, Some("yesterday")));
        assert!(!not_modified(&page, None, None));
    }
}
