//! Page metadata: title, byline, date, language, direction, site name and excerpt, read from
//! JSON-LD first, then OpenGraph and other meta tags, then the document title, `<time>` and
//! visible bylines. It reads the DOM and never edits it; finding the body is `readable`'s.

use serde_json::Value;

use super::dom::Dom;
use super::readable::similarity;
use super::Metadata;

/// Separators between a headline and the site name in `<title>`.
const SEPARATORS: &[char] = &['|', '-', '–', '—', '\\', '/', '>', '»'];

/// What JSON-LD says about the article.
#[derive(Default)]
struct JsonLd {
    title: Option<String>,
    byline: Option<String>,
    excerpt: Option<String>,
    site_name: Option<String>,
    published: Option<String>,
    lang: Option<String>,
}

/// Reads everything but the excerpt fallback and visible byline, which need the body.
pub(crate) fn read(dom: &Dom, ld_articles: &[Value]) -> Metadata {
    let doc_title = document_title(dom);
    let ld = json_ld(dom, ld_articles, &doc_title);
    let values = meta_values(dom);
    let get = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| values.iter().rfind(|(n, _)| n == k).map(|(_, v)| v.clone()))
            .filter(|v| !v.trim().is_empty())
            .map(|v| v.trim().to_string())
    };
    let title = ld.title.clone().or_else(|| {
        get(&[
            "dc:title",
            "dcterm:title",
            "og:title",
            "weibo:article:title",
            "weibo:webpage:title",
            "title",
            "twitter:title",
            "parsely-title",
        ])
    });
    let article_author = get(&["article:author"]).filter(|a| url::Url::parse(a).is_err());
    let byline = ld
        .byline
        .clone()
        .or_else(|| get(&["dc:creator", "dcterm:creator", "author", "parsely-author"]))
        .or(article_author);
    let excerpt = ld.excerpt.clone().or_else(|| {
        get(&[
            "dc:description",
            "dcterm:description",
            "og:description",
            "weibo:article:description",
            "weibo:webpage:description",
            "description",
            "twitter:description",
        ])
    });
    let html = dom.find(0, "html");
    let lang = html
        .and_then(|h| dom.attr(h, "lang"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .or_else(|| get(&["og:locale"]).map(|l| l.replace('_', "-")))
        .or(ld.lang.clone());
    let dir = html
        .and_then(|h| dom.attr(h, "dir"))
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| d == "rtl" || d == "ltr")
        .or_else(|| {
            lang.as_deref()
                .map(|l| crate::lang::direction_of(l).to_owned())
        });
    let published = ld
        .published
        .clone()
        .or_else(|| {
            get(&[
                "article:published_time",
                "parsely-pub-date",
                "date",
                "dc:date",
            ])
        })
        .or_else(|| {
            dom.find_all(0, &["time"])
                .into_iter()
                .find_map(|t| dom.attr(t, "datetime").map(|d| d.trim().to_string()))
                .filter(|d| !d.is_empty())
        });
    Metadata {
        title: title
            .or_else(|| heuristic_title(dom, &doc_title))
            .map(|t| collapse(&t)),
        byline: byline.map(|b| collapse(&b)),
        published,
        lang,
        dir,
        site_name: ld.site_name.or_else(|| get(&["og:site_name"])),
        excerpt: excerpt.map(|e| collapse(&e)),
        navigation: Default::default(),
    }
}

/// Whitespace runs become one space; ends are trimmed.
pub(crate) fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

fn document_title(dom: &Dom) -> String {
    dom.find(0, "title")
        .map(|t| collapse(&dom.text_content(t)))
        .unwrap_or_default()
}

/// Meta tag values keyed by normalised property or name, in document order (a later tag
/// overrides an earlier one; a tag's known `property` overrides its `name`).
fn meta_values(dom: &Dom) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for m in dom.find_all(0, &["meta"]) {
        let Some(content) = dom.attr(m, "content") else {
            continue;
        };
        let mut by_property = false;
        if let Some(prop) = dom.attr(m, "property") {
            for p in prop.split_whitespace() {
                let p = p.to_ascii_lowercase();
                if let Some((prefix, key)) = p.split_once(':') {
                    let known_prefix =
                        matches!(prefix, "article" | "dc" | "dcterm" | "og" | "twitter");
                    let known_key = matches!(
                        key,
                        "author"
                            | "creator"
                            | "description"
                            | "published_time"
                            | "title"
                            | "site_name"
                            | "locale"
                    );
                    if known_prefix && known_key {
                        out.push((p.clone(), content.to_string()));
                        by_property = true;
                    }
                }
            }
        }
        if let Some(name) = dom.attr(m, "name").filter(|_| !by_property) {
            let n: String = name
                .to_ascii_lowercase()
                .chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| if c == '.' { ':' } else { c })
                .collect();
            out.push((n, content.to_string()));
        }
        if let Some(prop) = dom.attr(m, "itemprop") {
            if prop.eq_ignore_ascii_case("datePublished") {
                out.push(("date".into(), content.to_string()));
            }
        }
    }
    out
}

/// Headline from `<title>`, minus a site name after a separator, as browsers' reader views do.
fn heuristic_title(dom: &Dom, orig: &str) -> Option<String> {
    if orig.is_empty() {
        return dom
            .find(0, "h1")
            .map(|h| collapse(&dom.text_content(h)))
            .filter(|t| !t.is_empty());
    }
    let word_count = |s: &str| s.split_whitespace().count().max(1);
    let sep_positions: Vec<usize> = orig
        .char_indices()
        .filter(|&(i, c)| {
            SEPARATORS.contains(&c)
                && orig[..i].ends_with(' ')
                && orig[i + c.len_utf8()..].starts_with(' ')
        })
        .map(|(i, _)| i)
        .collect();
    let mut hierarchical = false;
    let mut cur = orig.to_string();
    if let Some(&last) = sep_positions.last() {
        hierarchical = sep_positions
            .iter()
            .any(|&i| matches!(orig[i..].chars().next(), Some('\\' | '/' | '>' | '»')));
        // The positions come from `char_indices`, so slicing at them is on char boundaries;
        // the space before the last separator is dropped with it.
        let before_last = &orig[..last];
        cur = before_last
            .strip_suffix(' ')
            .unwrap_or(before_last)
            .to_string();
        if word_count(&cur) < 3 {
            let mut after_first = orig[sep_positions[0]..].chars();
            after_first.next();
            cur = after_first.as_str().to_string();
        }
    } else if orig.contains(": ") {
        let matches_heading = dom
            .find_all(0, &["h1", "h2"])
            .into_iter()
            .any(|h| dom.text_content(h).trim() == orig.trim());
        let colons = orig.split_once(':').zip(orig.rsplit_once(':'));
        if let (false, Some(((before_first, after_first), (_, after_last)))) =
            (matches_heading, colons)
        {
            cur = after_last.to_string();
            if word_count(&cur) < 3 {
                cur = after_first.to_string();
            } else if word_count(before_first) > 5 {
                cur = orig.to_string();
            }
        }
    } else if orig.chars().count() > 150 || orig.chars().count() < 15 {
        let h1s = dom.find_all(0, &["h1"]);
        if h1s.len() == 1 {
            cur = dom.text_content(h1s[0]);
        }
    }
    let cur = collapse(&cur);
    let words = word_count(&cur);
    let stripped: String = orig.chars().filter(|c| !SEPARATORS.contains(c)).collect();
    if words <= 4 && (!hierarchical || words + 1 != word_count(&stripped)) {
        return Some(orig.to_string());
    }
    Some(cur)
}

fn is_article_type(t: &str) -> bool {
    const TYPES: &[&str] = &[
        "Article",
        "AdvertiserContentArticle",
        "NewsArticle",
        "AnalysisNewsArticle",
        "AskPublicNewsArticle",
        "BackgroundNewsArticle",
        "OpinionNewsArticle",
        "ReportageNewsArticle",
        "ReviewNewsArticle",
        "Report",
        "SatiricalArticle",
        "ScholarlyArticle",
        "MedicalScholarlyArticle",
        "SocialMediaPosting",
        "BlogPosting",
        "LiveBlogPosting",
        "DiscussionForumPosting",
        "TechArticle",
        "APIReference",
        // Instructions are read as an article: their steps are its body.
        "HowTo",
    ];
    TYPES.contains(&t)
}

/// Type names of a JSON-LD node.
fn types(v: &Value) -> Vec<&str> {
    match v.get("@type") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The JSON-LD objects of a page that describe an article.
pub(crate) fn ld_articles(dom: &Dom) -> Vec<Value> {
    let mut out = Vec::new();
    for s in dom.find_all(0, &["script"]) {
        let raw = dom.text_content(s);
        let raw = raw
            .trim()
            .trim_start_matches("<![CDATA[")
            .trim_end_matches("]]>");
        let Ok(parsed) = serde_json::from_str::<Value>(raw) else {
            continue;
        };
        let mut queue = vec![parsed];
        let mut steps = 0;
        while let Some(v) = queue.pop() {
            steps += 1;
            if steps > 1000 {
                break;
            }
            match v {
                Value::Array(items) => queue.extend(items.into_iter().rev()),
                Value::Object(ref o) => {
                    if types(&v).iter().any(|t| is_article_type(t)) {
                        out.push(v);
                    } else if let Some(Value::Array(g)) = o.get("@graph") {
                        queue.extend(g.iter().rev().cloned());
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(collapse)
        .filter(|s| !s.is_empty())
}

fn json_ld(dom: &Dom, articles: &[Value], doc_title: &str) -> JsonLd {
    let Some(a) = articles.first() else {
        return JsonLd::default();
    };
    let name = str_field(a, "name");
    let headline = str_field(a, "headline");
    let title = match (name, headline) {
        (Some(n), Some(h)) if n != h => {
            let t = heuristic_title(dom, doc_title).unwrap_or_default();
            if similarity(&h, &t) > 0.75 && similarity(&n, &t) <= 0.75 {
                Some(h)
            } else {
                Some(n)
            }
        }
        (n, h) => n.or(h),
    };
    // schema.org allows a Person, a name, or a list of either.
    let name_of = |v: &Value| match v {
        Value::String(s) => Some(collapse(s)),
        Value::Object(o) => o.get("name").and_then(Value::as_str).map(collapse),
        _ => None,
    };
    let byline = match a.get("author") {
        Some(Value::Array(list)) => {
            let names: Vec<String> = list
                .iter()
                .filter_map(name_of)
                .filter(|n| !n.is_empty())
                .collect();
            (!names.is_empty()).then(|| names.join(", "))
        }
        Some(v) => name_of(v).filter(|n| !n.is_empty()),
        None => None,
    };
    JsonLd {
        title,
        byline,
        excerpt: str_field(a, "description"),
        site_name: a.get("publisher").and_then(|p| str_field(p, "name")),
        published: str_field(a, "datePublished"),
        lang: str_field(a, "inLanguage"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(html: &str) -> Metadata {
        let dom = Dom::from_html(&scraper::Html::parse_document(html), &[], 512);
        read(&dom, &ld_articles(&dom))
    }

    #[test]
    fn json_ld_beats_open_graph() {
        let m = meta(
            r#"<html lang="fa"><head><title>T | Site</title>
            <meta property="og:title" content="OG title">
            <script type="application/ld+json">{"@context":"https://schema.org","@type":"NewsArticle",
            "headline":"LD headline","author":[{"name":"Jane Doe"},{"name":"John Roe"}],
            "datePublished":"2020-01-02T03:04:05Z"}</script></head><body></body></html>"#,
        );
        assert_eq!(m.title.as_deref(), Some("LD headline"));
        assert_eq!(m.byline.as_deref(), Some("Jane Doe, John Roe"));
        assert_eq!(m.published.as_deref(), Some("2020-01-02T03:04:05Z"));
        assert_eq!(m.dir.as_deref(), Some("rtl"));
    }

    #[test]
    fn title_loses_site_suffix() {
        let m = meta("<title>A fairly long headline here | Site</title>");
        assert_eq!(m.title.as_deref(), Some("A fairly long headline here"));
    }

    #[test]
    fn titles_split_on_separators_and_colons_of_any_width() {
        let m = meta("<title>é » Éditions du matin, la une du jour » Site</title>");
        assert_eq!(
            m.title.as_deref(),
            Some("é » Éditions du matin, la une du jour")
        );
        let m = meta("<title>خبر — گزارش کامل رویدادهای امروز در شهر</title>");
        assert_eq!(
            m.title.as_deref(),
            Some("گزارش کامل رویدادهای امروز در شهر")
        );
        let m = meta("<title>é: Harbour reopens after the long storm: live</title>");
        assert_eq!(
            m.title.as_deref(),
            Some("Harbour reopens after the long storm: live")
        );
        let m = meta("<title>Süddeutsche: Hafen öffnet wieder nach dem Sturm</title>");
        assert_eq!(
            m.title.as_deref(),
            Some("Hafen öffnet wieder nach dem Sturm")
        );
    }
}
