//! Language facts, kept once for every stage that needs them: which language tags are
//! well-formed enough to pass on, and which languages are written right to left. The
//! page shell, metadata reading and the Light pass's allowlist all ask here, so a page
//! and a site's `lang` setting always get the same direction.

/// Languages written right to left, by primary subtag.
const RTL_LANGUAGES: &[&str] = &[
    "ar", "arc", "ckb", "dv", "fa", "he", "iw", "khw", "ks", "ku", "prs", "ps", "sd", "syr", "ug",
    "ur", "yi",
];

/// Whether `tag` may be written into a `lang` attribute: 1 to 35 ASCII letters, digits
/// and hyphens (the shape of a BCP 47 tag, without checking its registry).
pub(crate) fn is_valid_tag(tag: &str) -> bool {
    !tag.is_empty() && tag.len() <= 35 && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// `"rtl"` for a language written right to left, else `"ltr"`. Only the primary subtag
/// counts, in any case, separated by `-` or `_`.
///
/// ```
/// assert_eq!(lightmirror::lang::direction_of("ug-CN"), "rtl");
/// assert_eq!(lightmirror::lang::direction_of("FA_ir"), "rtl");
/// assert_eq!(lightmirror::lang::direction_of("en"), "ltr");
/// ```
pub fn direction_of(lang: &str) -> &'static str {
    let primary = lang.split(['-', '_']).next().unwrap_or("");
    if RTL_LANGUAGES
        .iter()
        .any(|rtl| rtl.eq_ignore_ascii_case(primary))
    {
        "rtl"
    } else {
        "ltr"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_lists_that_were_kept_apart_agree_here() {
        for rtl in ["ug", "syr", "prs", "arc", "khw", "ks", "he-IL", "AR"] {
            assert_eq!(direction_of(rtl), "rtl", "{rtl}");
        }
        for ltr in ["en", "de-DE", "", "u", "ha"] {
            assert_eq!(direction_of(ltr), "ltr", "{ltr}");
        }
    }

    #[test]
    fn tags_are_checked_for_shape() {
        assert!(is_valid_tag("zh-Hant-TW"));
        assert!(!is_valid_tag(""));
        assert!(!is_valid_tag("en\" onload=\"x"));
        assert!(!is_valid_tag(&"a".repeat(36)));
    }
}
