//! The reader's language: the facts about languages the program uses (which are written
//! right to left, which count in digits of their own, which words mark a next page) and
//! the Light shell's own words in each (`messages.rs`). A page's words are picked from its
//! language and the site's `[site.strings]`; nothing else in the program holds a language
//! table.

mod messages;

use std::collections::BTreeMap;
use std::time::Duration;

macro_rules! messages {
    ($($variant:ident => $key:literal),* $(,)?) => {
        /// One of the shell's fixed words or sentences; its key names it in `[site.strings]`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Message {
            $(
                #[doc = concat!("`", $key, "`")]
                $variant,
            )*
        }

        impl Message {
            /// Every message.
            pub const ALL: &'static [Message] = &[$(Message::$variant),*];

            /// The key that names it in `[site.strings]`.
            pub fn key(self) -> &'static str {
                match self {
                    $(Message::$variant => $key,)*
                }
            }
        }
    };
}

messages! {
    SiteLabel => "site_label",
    OriginalPage => "original_page",
    Saving => "saving",
    SizeKb => "size_kb",
    SizeMb => "size_mb",
    SavedCopy => "saved_copy",
    AgeMoments => "age_moments",
    AgeMinutes => "age_minutes",
    AgeHours => "age_hours",
    AgeDays => "age_days",
    StaleNotAnswering => "stale_not_answering",
    StaleRefused => "stale_refused",
    StaleMoved => "stale_moved",
    StaleBusy => "stale_busy",
    StaleIncomplete => "stale_incomplete",
    StaleFetchFailed => "stale_fetch_failed",
    StaleChallenged => "stale_challenged",
    StalePacing => "stale_pacing",
    CutShort => "cut_short",
    MayBeIncomplete => "may_be_incomplete",
    HeadingUnavailable => "heading_unavailable",
    HeadingNotFound => "heading_not_found",
    HeadingNotAvailable => "heading_not_available",
    HeadingBusy => "heading_busy",
    HeadingElsewhere => "heading_elsewhere",
    HeadingRefusedMirror => "heading_refused_mirror",
    HeadingNotWeb => "heading_not_web",
    ErrorTooSlow => "error_too_slow",
    ErrorTooLarge => "error_too_large",
    ErrorUnreachable => "error_unreachable",
    ErrorAnswered => "error_answered",
    ErrorBusy => "error_busy",
    ErrorNotConverted => "error_not_converted",
    ErrorChallenged => "error_challenged",
    ErrorPacing => "error_pacing",
    ErrorLeadsAway => "error_leads_away",
    ErrorUnlinkable => "error_unlinkable",
    ErrorNoSuchPage => "error_no_such_page",
    ErrorNotWeb => "error_not_web",
    ErrorNotServed => "error_not_served",
    ErrorNoFeed => "error_no_feed",
    Image => "image",
    Video => "video",
    Audio => "audio",
    Sections => "sections",
    Search => "search",
    Older => "older",
    Newer => "newer",
    PageNumber => "page_number",
    Feed => "feed",
    SnippetTrouble => "snippet_trouble",
    SnippetSwitch => "snippet_switch",
    SnippetNoscript => "snippet_noscript",
    SnippetLabel => "snippet_label",
    HeadingImageUnavailable => "heading_image_unavailable",
    ErrorImageNotShown => "error_image_not_shown",
    ErrorImageUnreadable => "error_image_unreadable",
    ErrorImageTooLarge => "error_image_too_large",
    ErrorImageTooHeavy => "error_image_too_heavy",
    ErrorImageGone => "error_image_gone",
    ErrorImageBusy => "error_image_busy",
    ImageLink => "image_link",
    ImageLinkAbout => "image_link_about",
    JoinStopped => "join_stopped",
}

impl Message {
    /// The message a `[site.strings]` key names.
    pub(crate) fn from_key(key: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|m| m.key() == key)
    }

    /// The `{name}` slots its English text has: an override may use these and no other.
    pub fn slots(self) -> Vec<&'static str> {
        slots(english(self))
    }
}

/// An operator's words for some messages, from `[site.strings]`; they replace the table's
/// words in every language of the site.
pub(crate) type Overrides = BTreeMap<Message, String>;

/// The `{name}` slots in a text.
pub fn slots(text: &str) -> Vec<&str> {
    text.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .filter(|name| !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase()))
        .collect()
}

fn english(message: Message) -> &'static str {
    lookup(messages::EN, message).unwrap_or_default()
}

fn lookup(table: messages::Table, message: Message) -> Option<&'static str> {
    table.iter().find(|(m, _)| *m == message).map(|(_, t)| *t)
}

/// Languages written right to left, by primary subtag. Hausa is not among them: it is
/// written in Latin letters today, as CLDR has it.
const RTL_LANGUAGES: &[&str] = &[
    "ar", "arc", "ckb", "dv", "fa", "he", "iw", "khw", "ks", "ku", "prs", "ps", "sd", "syr", "ug",
    "ur", "yi",
];

/// The digits a language writes numbers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Digits {
    /// 0123456789.
    Latin,
    /// Arabic-Indic ٠١٢٣٤٥٦٧٨٩ (Arabic).
    ArabicIndic,
    /// Extended Arabic-Indic ۰۱۲۳۴۵۶۷۸۹ (Persian, Pashto, Urdu in India).
    Persian,
}

/// The digits `lang` counts in, as CLDR's default numbering systems have them: Persian and
/// Pashto in their own digits; Arabic in Arabic-Indic ones except in the Maghreb, where
/// European digits are the norm; Urdu in European digits in Pakistan (the press and
/// government use them) and in extended Arabic-Indic ones in India.
pub(crate) fn digits_of(lang: &str) -> Digits {
    // Asked for on every request for a page: tags are compared in place, never lowered or
    // raised into new strings.
    let mut parts = lang.split(['-', '_']);
    let primary = parts.next().unwrap_or("");
    let region = parts.find(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_alphabetic()));
    let is = |tags: &[&str]| tags.iter().any(|tag| primary.eq_ignore_ascii_case(tag));
    let region_is = |names: &[&str]| {
        region.is_some_and(|region| names.iter().any(|name| region.eq_ignore_ascii_case(name)))
    };
    if is(&["fa", "prs", "ps"]) || (is(&["ur"]) && region_is(&["IN"])) {
        Digits::Persian
    } else if is(&["ar"]) && region_is(&["DZ", "MA", "TN", "LY", "EH"]) {
        Digits::Latin
    } else if is(&["ar", "ckb"]) {
        Digits::ArabicIndic
    } else {
        Digits::Latin
    }
}

/// "rtl" for right-to-left languages, else "ltr".
pub(crate) fn direction_of(lang: &str) -> &'static str {
    let primary = lang
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if RTL_LANGUAGES.contains(&primary.as_str()) {
        "rtl"
    } else {
        "ltr"
    }
}

/// Whether `lang` is a plausible language tag to write into a page.
pub(crate) fn valid_tag(lang: &str) -> bool {
    !lang.is_empty()
        && lang.len() <= 35
        && lang.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Link texts that lead to the next page of a listing or article, lower-cased, in the
/// languages with a table.
pub(crate) const NEXT_WORDS: &[&str] = &[
    "next",
    "next page",
    "older",
    "older posts",
    "older stories",
    "more",
    "more stories",
    "load more",
    "بعدی",
    "صفحه بعد",
    "صفحهٔ بعد",
    "قدیمی‌تر",
    "بیشتر",
    "التالي",
    "الصفحة التالية",
    "المزيد",
    "الأقدم",
    "далее",
    "следующая",
    "ещё",
    "еще",
    "раньше",
    "далі",
    "наступна",
    "ще",
    "раніше",
    "下一页",
    "下页",
    "更多",
    "更早",
    "siguiente",
    "anteriores",
    "más",
    "suivant",
    "suivante",
    "plus anciens",
    "plus",
    "sonraki",
    "daha eski",
    "devamı",
    "اگلا",
    "اگلا صفحہ",
    "مزید",
    "پرانی",
];

/// Link texts that lead to the previous (newer) page.
pub(crate) const PREVIOUS_WORDS: &[&str] = &[
    "previous",
    "prev",
    "newer",
    "newer posts",
    "newer stories",
    "قبلی",
    "صفحه قبل",
    "جدیدتر",
    "السابق",
    "الصفحة السابقة",
    "الأحدث",
    "назад",
    "предыдущая",
    "новее",
    "попередня",
    "новіше",
    "上一页",
    "上页",
    "更新",
    "anterior",
    "recientes",
    "précédent",
    "précédente",
    "plus récents",
    "önceki",
    "daha yeni",
    "پچھلا",
    "نئی",
];

/// The shell's words for one page: its language's table, the site's overrides over it,
/// and its digits.
#[derive(Debug, Clone, Copy)]
pub struct Words<'a> {
    table: messages::Table,
    digits: Digits,
    overrides: &'a Overrides,
}

impl<'a> Words<'a> {
    /// The words for a page in `lang` (English when unknown or absent).
    pub fn new(lang: Option<&str>, overrides: &'a Overrides) -> Self {
        // Every request for a page builds its words: compared in place, not lowered into a
        // new string.
        let primary = lang
            .and_then(|l| l.split(['-', '_']).next())
            .unwrap_or("en");
        let table = messages::TABLES
            .iter()
            .find(|(tag, _)| tag.eq_ignore_ascii_case(primary))
            .map_or(messages::EN, |(_, table)| *table);
        Self {
            table,
            digits: lang.map_or(Digits::Latin, digits_of),
            overrides,
        }
    }

    /// A message's text, slots unfilled.
    pub fn text(&self, message: Message) -> &str {
        self.overrides
            .get(&message)
            .map(String::as_str)
            .or_else(|| lookup(self.table, message))
            .unwrap_or_else(|| english(message))
    }

    /// A message with its slots filled; values are written as given (numbers go through
    /// [`number`](Self::number) first).
    pub fn fill(&self, message: Message, values: &[(&str, &str)]) -> String {
        let mut out = self.text(message).to_owned();
        for (name, value) in values {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }

    /// ASCII digits (and a decimal point between them) in the reader's digits.
    pub fn number(&self, text: &str) -> String {
        let (zero, point) = match self.digits {
            Digits::Latin => return text.to_owned(),
            Digits::ArabicIndic => ('\u{660}', '\u{66b}'),
            Digits::Persian => ('\u{6f0}', '\u{66b}'),
        };
        let chars: Vec<char> = text.chars().collect();
        chars
            .iter()
            .enumerate()
            .map(|(i, &c)| match c {
                '0'..='9' => char::from_u32(zero as u32 + (c as u32 - '0' as u32)).unwrap_or(c),
                '.' if i > 0
                    && chars[i - 1].is_ascii_digit()
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit) =>
                {
                    point
                }
                other => other,
            })
            .collect()
    }

    /// "9 KB", "412 KB", "1.2 MB", in the reader's words and digits.
    pub fn size(&self, bytes: usize) -> String {
        let kb = (bytes as f64 / 1024.0).max(1.0);
        let (message, n) = if kb < 1000.0 {
            (Message::SizeKb, format!("{kb:.0}"))
        } else {
            (Message::SizeMb, format!("{:.1}", kb / 1024.0))
        };
        self.fill(message, &[("n", &self.number(&n))])
    }

    /// How old a saved copy is, in its largest unit: "moments", "5 min", "3 h", "2 d".
    pub fn age(&self, age: Duration) -> String {
        let minutes = age.as_secs() / 60;
        let (message, n) = match minutes {
            0 => return self.text(Message::AgeMoments).to_owned(),
            1..=59 => (Message::AgeMinutes, minutes),
            60..=1439 => (Message::AgeHours, minutes / 60),
            _ => (Message::AgeDays, minutes / 1440),
        };
        self.fill(message, &[("n", &self.number(&n.to_string()))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_names_every_message_once_with_the_english_slots() {
        for (tag, table) in messages::TABLES {
            for message in Message::ALL {
                let found: Vec<&str> = table
                    .iter()
                    .filter(|(m, _)| m == message)
                    .map(|(_, t)| *t)
                    .collect();
                assert_eq!(found.len(), 1, "{tag}: {message:?}");
                let mut theirs = slots(found[0]);
                let mut english = message.slots();
                theirs.sort_unstable();
                english.sort_unstable();
                assert_eq!(theirs, english, "{tag}: {message:?}");
            }
            assert_eq!(table.len(), Message::ALL.len(), "{tag}");
        }
    }

    #[test]
    fn numbers_follow_the_language() {
        let none = Overrides::new();
        assert_eq!(Words::new(Some("fa"), &none).size(9 * 1024), "۹ کیلوبایت");
        assert_eq!(Words::new(Some("fa-IR"), &none).number("1.2 MB"), "۱٫۲ MB");
        assert_eq!(Words::new(Some("ar"), &none).number("2024"), "٢٠٢٤");
        assert_eq!(Words::new(Some("ar-MA"), &none).number("2024"), "2024");
        assert_eq!(Words::new(Some("ur"), &none).number("12"), "12");
        assert_eq!(Words::new(Some("ur-IN"), &none).number("12"), "۱۲");
        assert_eq!(Words::new(Some("en"), &none).size(3 << 20), "3.0 MB");
        assert_eq!(Words::new(Some("fr"), &none).size(10), "1 Ko");
        assert_eq!(Words::new(Some("fa"), &none).number("v.2 1."), "v.۲ ۱.");
    }

    #[test]
    fn ages_read_in_their_largest_unit() {
        let none = Overrides::new();
        let en = Words::new(None, &none);
        assert_eq!(en.age(Duration::from_secs(30)), "moments");
        assert_eq!(en.age(Duration::from_secs(5 * 60 + 9)), "5 min");
        assert_eq!(en.age(Duration::from_secs(3 * 3600 + 120)), "3 h");
        assert_eq!(
            Words::new(Some("fa"), &none).age(Duration::from_secs(2 * 86400)),
            "۲ روز"
        );
    }

    #[test]
    fn overrides_win_and_unknown_languages_read_english() {
        let mut overrides = Overrides::new();
        overrides.insert(Message::OriginalPage, "Full site".into());
        let words = Words::new(Some("xx"), &overrides);
        assert_eq!(words.text(Message::OriginalPage), "Full site");
        assert_eq!(words.text(Message::Older), "Older");
        assert_eq!(
            Words::new(Some("ZH-Hans"), &Overrides::new()).text(Message::Search),
            "搜索"
        );
        assert_eq!(Message::from_key("saving"), Some(Message::Saving));
        assert_eq!(Message::from_key("savings"), None);
        assert_eq!(Message::Saving.slots(), ["page", "original"]);
    }

    #[test]
    fn direction_comes_from_the_primary_subtag() {
        assert_eq!(direction_of("fa-IR"), "rtl");
        assert_eq!(direction_of("UR"), "rtl");
        assert_eq!(direction_of("en_GB"), "ltr");
        assert_eq!(direction_of("zh"), "ltr");
    }
}
