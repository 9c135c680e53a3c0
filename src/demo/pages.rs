//! The pages of the sample site, rendered once for the origin it is served on: the long
//! English article, the Persian article encoded in windows-1256, a short page for every
//! other story, and the home and section listings, all in the same heavy chrome. The text
//! lives in `site/` as files; this module only assembles it. Serving is `http.rs`'s.

use std::collections::HashMap;
use std::fmt::Write;

use bytes::Bytes;
use encoding_rs::WINDOWS_1256;
use flate2::write::GzEncoder;
use flate2::Compression;
use html_escape::encode_double_quoted_attribute as escape;
use serde_json::{json, Value};

use super::weight;

/// Path of the long English article.
pub const ARTICLE_PATH: &str = "/city/2026/11/24/tidal-barrier-first-winter";

/// Path of the Persian article, served in windows-1256.
pub const PERSIAN_ARTICLE_PATH: &str = "/fa/2026/11/23/qanat-mehrabad";

/// The listing pages besides the home page, with their section names.
pub const SECTIONS: &[&str] = &["city", "business", "world", "sport", "culture"];

const SITE_NAME: &str = "The Harbour Ledger";

const HEAD: &str = include_str!("site/head.html");
const TOP: &str = include_str!("site/top.html");
const BOTTOM: &str = include_str!("site/bottom.html");
const COMMENTS: &str = include_str!("site/comments.html");
const STYLE: &str = include_str!("site/style.css");
const ARTICLE: &str = include_str!("site/article.html");
const ARTICLE_FA: &str = include_str!("site/article-fa.html");
const STORIES: &str = include_str!("site/stories.tsv");
const STRINGS: &str = include_str!("site/strings.tsv");

/// One page as the sample site serves it.
#[derive(Debug, Clone)]
pub struct Page {
    /// The `Content-Type` header, charset included.
    pub content_type: &'static str,
    /// The body as sent without compression, in the page's own encoding.
    pub body: Bytes,
    /// The same body gzip-compressed, for clients that accept it.
    pub gzip: Bytes,
}

impl Page {
    fn new(content_type: &'static str, body: Vec<u8>) -> Self {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        // Writing into a Vec cannot fail.
        let gzip = std::io::Write::write_all(&mut encoder, &body)
            .and_then(|()| encoder.finish())
            .unwrap_or_default();
        Self {
            content_type,
            body: Bytes::from(body),
            gzip: Bytes::from(gzip),
        }
    }
}

/// Every page of the sample site, by path.
#[derive(Debug, Clone)]
pub struct Pages {
    by_path: HashMap<String, Page>,
}

impl Pages {
    /// Renders every page with absolute links on `origin` (such as `http://127.0.0.1:8081`,
    /// without a trailing slash), the address the site is reached at.
    pub fn render(origin: &str) -> Self {
        let chrome = Chrome {
            origin,
            css: weight::stylesheet(STYLE),
            bundle: weight::bundle(),
            stories: stories(),
        };
        let mut by_path = HashMap::new();
        let html = "text/html; charset=utf-8";
        by_path.insert("/".to_owned(), Page::new(html, chrome.listing(None).into()));
        for section in SECTIONS {
            by_path.insert(
                format!("/{section}/"),
                Page::new(html, chrome.listing(Some(section)).into()),
            );
        }
        for story in &chrome.stories {
            let page = if story.path == PERSIAN_ARTICLE_PATH {
                // Persian sites in windows-1256 wrote FARSI YEH as ARABIC YEH, the only one
                // the encoding has; the rest of the page encodes as it is.
                let text = chrome
                    .article(story, Lang::Fa)
                    .replace('\u{06CC}', "\u{064A}");
                let (bytes, _, _) = WINDOWS_1256.encode(&text);
                Page::new("text/html; charset=windows-1256", bytes.into_owned())
            } else {
                Page::new(html, chrome.article(story, Lang::En).into())
            };
            by_path.insert(story.path.to_owned(), page);
        }
        Self { by_path }
    }

    /// The page at `path`, if the site has one.
    pub fn get(&self, path: &str) -> Option<&Page> {
        self.by_path.get(path)
    }

    /// Every path the site serves a page at.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.by_path.keys().map(String::as_str)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    En,
    Fa,
}

impl Lang {
    fn tag(self) -> &'static str {
        match self {
            Self::En => "en-GB",
            Self::Fa => "fa",
        }
    }

    fn dir(self) -> &'static str {
        match self {
            Self::En => "ltr",
            Self::Fa => "rtl",
        }
    }

    fn locale(self) -> &'static str {
        match self {
            Self::En => "en_GB",
            Self::Fa => "fa_IR",
        }
    }
}

struct Story {
    section: &'static str,
    path: &'static str,
    headline: &'static str,
    standfirst: &'static str,
    brief: &'static str,
}

impl Story {
    /// `(year, month, day)` from a path of the form `/section/yyyy/mm/dd/slug`.
    fn date(&self) -> (&'static str, &'static str, &'static str) {
        let mut parts = self.path.split('/').skip(2);
        (
            parts.next().unwrap_or("2026"),
            parts.next().unwrap_or("11"),
            parts.next().unwrap_or("24"),
        )
    }

    fn iso_date(&self) -> String {
        let (y, m, d) = self.date();
        format!("{y}-{m}-{d}T07:00:00+00:00")
    }

    fn human_date(&self) -> String {
        const MONTHS: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        let (y, m, d) = self.date();
        let month = m
            .parse::<usize>()
            .ok()
            .and_then(|m| MONTHS.get(m.checked_sub(1)?));
        format!("{} {} {y}", d.trim_start_matches('0'), month.unwrap_or(&m))
    }

    fn id(&self) -> String {
        let slug = self.path.rsplit('/').next().unwrap_or_default();
        let (y, m, d) = self.date();
        format!("aldm-{y}{m}{d}-{slug}")
    }
}

fn stories() -> Vec<Story> {
    STORIES
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            Some(Story {
                section: fields.next()?,
                path: fields.next()?,
                headline: fields.next()?,
                standfirst: fields.next()?,
                brief: fields.next().unwrap_or_default(),
            })
        })
        .collect()
}

/// The interface text in one language, keyed `t_<name>` as the templates use it.
fn strings(lang: Lang) -> Vec<(String, String)> {
    STRINGS
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let key = fields.next()?;
            let en = fields.next()?;
            let fa = fields.next()?;
            let text = if lang == Lang::Fa { fa } else { en };
            Some((format!("t_{key}"), escape(text).into_owned()))
        })
        .collect()
}

/// Replaces every `{{key}}` in `template`; keys without a value stay as written, which the
/// tests catch.
fn fill(template: &str, values: &[(String, String)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let key = &after[..end];
                match values.iter().find(|(k, _)| k == key) {
                    Some((_, value)) => out.push_str(value),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Words of visible text in an HTML fragment, as the analytics snippet reports them.
fn word_count(html: &str) -> usize {
    visible_text(html).split_whitespace().count()
}

/// JSON for a `<script>` element: `<` escaped so that no string can close the element.
fn script_json(value: &Value) -> String {
    value.to_string().replace('<', "\\u003c")
}

/// What one page puts into the shared chrome.
struct Frame {
    lang: Lang,
    title: String,
    description: String,
    path: String,
    page_class: &'static str,
    section: &'static str,
    content_id: String,
    og_type: &'static str,
    article_meta: String,
    json_ld: Value,
    state: Value,
    main: String,
}

struct Chrome<'a> {
    origin: &'a str,
    css: String,
    bundle: String,
    stories: Vec<Story>,
}

impl Chrome<'_> {
    fn document(&self, frame: Frame) -> String {
        let words = word_count(&frame.main);
        let mut values: Vec<(String, String)> = vec![
            ("origin".into(), self.origin.to_owned()),
            ("site_name".into(), SITE_NAME.to_owned()),
            ("lang".into(), frame.lang.tag().to_owned()),
            ("dir".into(), frame.lang.dir().to_owned()),
            ("locale".into(), frame.lang.locale().to_owned()),
            // The Persian page names its charset only in the HTTP header.
            (
                "charset_meta".into(),
                if frame.lang == Lang::Fa {
                    String::new()
                } else {
                    "<meta charset=\"utf-8\">\n".to_owned()
                },
            ),
            ("title".into(), escape(&frame.title).into_owned()),
            (
                "description".into(),
                escape(&frame.description).into_owned(),
            ),
            (
                "canonical".into(),
                format!("{}{}", self.origin, escape(&frame.path)),
            ),
            ("og_type".into(), frame.og_type.to_owned()),
            ("page_class".into(), frame.page_class.to_owned()),
            ("section".into(), frame.section.to_owned()),
            ("content_id".into(), frame.content_id.clone()),
            ("word_count".into(), words.to_string()),
            ("article_meta".into(), frame.article_meta),
            ("css".into(), self.css.clone()),
            ("json_ld".into(), script_json(&frame.json_ld)),
            ("state".into(), script_json(&frame.state)),
            ("bundle".into(), self.bundle.clone()),
            ("most_read".into(), self.most_read()),
        ];
        values.extend(strings(frame.lang));
        let mut page = fill(HEAD, &values);
        page.push_str(&fill(TOP, &values));
        page.push_str(&fill(&frame.main, &values));
        page.push_str(&fill(BOTTOM, &values));
        page
    }

    fn most_read(&self) -> String {
        let mut out = String::from("<ol>");
        for story in self.stories.iter().filter(|s| !s.brief.is_empty()).take(5) {
            let _ = write!(
                out,
                "<li><a href=\"{}?ref=most-read\">{}</a></li>",
                story.path,
                escape(story.headline)
            );
        }
        out.push_str("</ol>");
        out
    }

    /// The state a client-rendered page would hydrate from: the page, its stories, the ad
    /// and experiment configuration.
    fn state(&self, page: Value, section: &str) -> Value {
        let stories: Vec<Value> = self
            .stories
            .iter()
            .map(|s| {
                json!({
                    "id": s.id(),
                    "url": format!("{}{}", self.origin, s.path),
                    "section": s.section,
                    "headline": s.headline,
                    "standfirst": s.standfirst,
                    "published": s.iso_date(),
                    "thumbnail": format!("/assets/img/thumbs/{}.jpg", s.id()),
                    "tracking": {"list": "river", "position": 0, "campaign": "organic"},
                })
            })
            .collect();
        json!({
            "buildId": "ledger-web-24.11.3",
            "page": page,
            "stories": stories,
            "ads": weight::ad_config(section),
            "flags": weight::flags(),
            "user": {"signedIn": false, "meter": {"limit": 5, "used": 2}, "segments": []},
        })
    }

    fn article(&self, story: &Story, lang: Lang) -> String {
        let (body, byline) = match story.path {
            ARTICLE_PATH => (
                format!("{ARTICLE}{}{COMMENTS}", self.related(story)),
                "Maren Oduya",
            ),
            PERSIAN_ARTICLE_PATH => (ARTICLE_FA.to_owned(), "لیلا کمالی"),
            _ => (self.brief(story), "Harbour Ledger staff"),
        };
        let (title, description) = match lang {
            Lang::Fa => (
                "بازگشت آب به قنات‌های کهن".to_owned(),
                "در روستای مهرآباد کشاورزان با لایروبی قنات‌های چندصدساله آب را به باغ‌ها برگرداندند."
                    .to_owned(),
            ),
            Lang::En => (story.headline.to_owned(), story.standfirst.to_owned()),
        };
        let published = story.iso_date();
        let article_meta = format!(
            "<meta property=\"article:published_time\" content=\"{published}\">\n\
             <meta property=\"article:section\" content=\"{}\">\n\
             <meta name=\"author\" content=\"{}\">\n",
            story.section,
            escape(&byline)
        );
        let json_ld = json!({
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": title,
            "description": description,
            "datePublished": published,
            "dateModified": published,
            "inLanguage": lang.tag(),
            "articleSection": story.section,
            "wordCount": word_count(&body),
            "isAccessibleForFree": true,
            "author": [{"@type": "Person", "name": byline}],
            "publisher": {
                "@type": "NewsMediaOrganization",
                "name": SITE_NAME,
                "logo": {"@type": "ImageObject", "url": format!("{}/assets/logo-600.png", self.origin)},
            },
            "image": [format!("{}/assets/img/og-default-1200.jpg", self.origin)],
            "mainEntityOfPage": format!("{}{}", self.origin, story.path),
        });
        let state = self.state(
            json!({
                "type": "article",
                "id": story.id(),
                "headline": title,
                "standfirst": description,
                "bodyText": visible_text(&body),
            }),
            story.section,
        );
        self.document(Frame {
            lang,
            title,
            description,
            path: story.path.to_owned(),
            page_class: "article",
            section: story.section,
            content_id: story.id(),
            og_type: "article",
            article_meta,
            json_ld,
            state,
            main: body,
        })
    }

    /// A short story page for a listed story that has no long text.
    fn brief(&self, story: &Story) -> String {
        format!(
            "<article class=\"story\" id=\"story-main\" data-story-id=\"{id}\">\n\
             <header class=\"story-header\">\n\
             <p class=\"kicker\"><a href=\"/{section}/\">{section}</a></p>\n\
             <h1 class=\"headline\">{headline}</h1>\n\
             <p class=\"standfirst\">{standfirst}</p>\n\
             <div class=\"byline-block\"><p class=\"byline\">By Harbour Ledger staff</p>\
             <p class=\"dateline\"><time datetime=\"{iso}\">{human}</time></p></div>\n\
             </header>\n\
             <div class=\"story-body\">\n<p>{standfirst}</p>\n<p>{brief}</p>\n</div>\n\
             </article>\n{related}",
            id = story.id(),
            section = story.section,
            headline = escape(story.headline),
            standfirst = escape(story.standfirst),
            brief = escape(story.brief),
            iso = story.iso_date(),
            human = story.human_date(),
            related = self.related(story),
        )
    }

    fn related(&self, story: &Story) -> String {
        let mut out = String::from(
            "<section class=\"related\" aria-labelledby=\"related-title\">\
             <h2 id=\"related-title\">Related stories</h2><ul>",
        );
        for other in self
            .stories
            .iter()
            .filter(|s| s.path != story.path && s.path != PERSIAN_ARTICLE_PATH)
            .take(4)
        {
            let _ = write!(
                out,
                "<li><a href=\"{origin}{path}?ref=related\"><img src=\"/assets/img/thumbs/{id}.jpg\" \
                 width=\"240\" height=\"135\" alt=\"\" loading=\"lazy\"></a>\
                 <h3><a href=\"{path}?ref=related\">{headline}</a></h3></li>",
                origin = self.origin,
                path = other.path,
                id = other.id(),
                headline = escape(other.headline),
            );
        }
        out.push_str("</ul></section>\n");
        out
    }

    /// The home page (`section` unset) or one section's page.
    fn listing(&self, section: Option<&'static str>) -> String {
        let here = section.map_or_else(|| "/".to_owned(), |s| format!("/{s}/"));
        let heading = section.map_or("Today’s front page".to_owned(), capitalise);
        let mut main = format!(
            "<section class=\"listing\" aria-labelledby=\"listing-title\">\n\
             <h1 class=\"section-title\" id=\"listing-title\">{}</h1>\n<ol class=\"story-list\">\n",
            escape(&heading)
        );
        let listed: Vec<&Story> = self
            .stories
            .iter()
            .filter(|s| section.is_none_or(|wanted| s.section == wanted))
            .collect();
        for (i, story) in listed.iter().enumerate() {
            // Alternate absolute links on the site's origin with relative ones, as
            // pages assembled from several templates do.
            let href = if i % 2 == 0 {
                format!("{}{}", self.origin, story.path)
            } else {
                story
                    .path
                    .strip_prefix(here.as_str())
                    .unwrap_or(story.path)
                    .to_owned()
            };
            let class = if i == 0 {
                "story-card story-card--lead"
            } else {
                "story-card"
            };
            let _ = writeln!(
                main,
                "<li class=\"{class}\" data-position=\"{i}\">\
                 <a class=\"story-card__image\" href=\"{href}\" tabindex=\"-1\" aria-hidden=\"true\">\
                 <img src=\"/assets/img/thumbs/{id}.jpg\" width=\"320\" height=\"180\" alt=\"\" loading=\"lazy\"></a>\
                 <div class=\"story-card__text\"><p class=\"kicker\">{kicker}</p>\
                 <h3><a href=\"{href}\" data-track=\"river-{i}\">{headline}</a></h3>\
                 <p class=\"standfirst\">{standfirst}</p>\
                 <time datetime=\"{iso}\">{human}</time></div></li>",
                id = story.id(),
                kicker = capitalise(story.section),
                headline = escape(story.headline),
                standfirst = escape(story.standfirst),
                iso = story.iso_date(),
                human = story.human_date(),
            );
            if i == 3 {
                main.push_str(
                    "<li class=\"ad-slot ad-slot--inline\" id=\"ad-river-1\" aria-hidden=\"true\">\
                     <span class=\"ad-label\">Advertisement</span><div class=\"ad-frame\" style=\"min-height:250px\"></div></li>\n",
                );
            }
        }
        main.push_str("</ol>\n</section>\n");
        let title = section.map_or_else(
            || "News from Port Aldmere and the estuary".to_owned(),
            |s| format!("{} news", capitalise(s)),
        );
        let json_ld = json!({
            "@context": "https://schema.org",
            "@type": "ItemList",
            "itemListElement": listed.iter().enumerate().map(|(i, s)| json!({
                "@type": "ListItem",
                "position": i + 1,
                "url": format!("{}{}", self.origin, s.path),
            })).collect::<Vec<_>>(),
        });
        let state = self.state(
            json!({"type": "listing", "id": here, "count": listed.len()}),
            section.unwrap_or("home"),
        );
        self.document(Frame {
            lang: Lang::En,
            description: format!("{title}: the latest stories from {SITE_NAME}."),
            title,
            path: here.clone(),
            page_class: "listing",
            section: section.unwrap_or("home"),
            content_id: format!("listing-{}", section.unwrap_or("home")),
            og_type: "website",
            article_meta: String::new(),
            json_ld,
            state,
            main,
        })
    }
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The text of an HTML fragment with its tags dropped and white space collapsed: the
/// site's own crude reading, kept apart from the extraction it is test input for.
fn visible_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len() / 2);
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
