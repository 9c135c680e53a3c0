//! Article text a page carries outside its markup: JSON-LD `articleBody` and framework
//! state such as `__NEXT_DATA__`, used when the HTML body is an empty shell. It only reads
//! what the page embeds; deciding when to prefer it is the caller's.

use serde_json::Value;

use super::dom::{escape_text, Dom};

/// Script ids of framework state that may hold the article.
pub(crate) const STATE_IDS: &[&str] = &["__NEXT_DATA__", "__NUXT_DATA__", "__APOLLO_STATE__"];

/// Keys under which framework state keeps article bodies.
const BODY_KEYS: &[&str] = &["articleBody", "body", "content", "text", "html", "bodyHtml"];

/// Shortest embedded text worth considering.
const MIN_LEN: usize = 200;

/// Bound on JSON nodes visited, so hostile state cannot stall extraction.
const MAX_VISITS: usize = 200_000;

/// The article text (plain or HTML) the page embeds, if any.
pub(crate) fn text(dom: &Dom, ld_articles: &[Value]) -> Option<String> {
    let from_ld = ld_articles
        .iter()
        .filter_map(|a| a.get("articleBody").and_then(Value::as_str))
        .max_by_key(|b| b.len())
        .map(str::to_string);
    let from_state = dom
        .find_all(0, &["script"])
        .into_iter()
        .filter(|&s| dom.attr(s, "id").is_some_and(|id| STATE_IDS.contains(&id)))
        .filter_map(|s| serde_json::from_str::<Value>(&dom.text_content(s)).ok())
        .filter_map(|v| longest_body(&v))
        .max_by_key(String::len);
    [from_ld, from_state]
        .into_iter()
        .flatten()
        .filter(|t| t.trim().len() >= MIN_LEN)
        .max_by_key(String::len)
}

/// The longest string kept under a body-like key anywhere in `root`.
fn longest_body(root: &Value) -> Option<String> {
    let mut best: Option<&str> = None;
    let mut queue: Vec<(&str, &Value)> = vec![("", root)];
    let mut visits = 0;
    while let Some((key, v)) = queue.pop() {
        visits += 1;
        if visits > MAX_VISITS {
            break;
        }
        match v {
            Value::String(s)
                if BODY_KEYS.contains(&key) && best.is_none_or(|b| s.len() > b.len()) =>
            {
                best = Some(s);
            }
            Value::Array(items) => queue.extend(items.iter().map(|i| (key, i))),
            Value::Object(o) => queue.extend(o.iter().map(|(k, v)| (k.as_str(), v))),
            _ => {}
        }
    }
    best.map(str::to_string)
}

/// Writes embedded text as HTML: markup as given, plain text as one `<p>` per line.
pub(crate) fn render(text: &str, out: &mut String) {
    if text.contains("</p>") || text.contains("<br") {
        out.push_str(text);
        return;
    }
    for line in text.split('\n').map(str::trim).filter(|l| !l.is_empty()) {
        out.push_str("<p>");
        escape_text(line, out);
        out.push_str("</p>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_data_body_is_found() {
        let body = "A paragraph of the story. ".repeat(20);
        let html = format!(
            r#"<html><body><div id=root></div><script id="__NEXT_DATA__" type="application/json">
            {{"props":{{"page":{{"story":{{"body":"{body}\nSecond line."}}}}}}}}</script></body></html>"#
        );
        let dom = Dom::from_html(&scraper::Html::parse_document(&html), &[], 512);
        let t = text(&dom, &[]).expect("body");
        let mut out = String::new();
        render(&t, &mut out);
        assert!(out.starts_with("<p>A paragraph"));
        assert!(out.ends_with("<p>Second line.</p>"));
    }
}
