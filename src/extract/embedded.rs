//! Article text a page carries outside its markup: JSON-LD `articleBody` and framework
//! state such as `__NEXT_DATA__`, used when the HTML body is an empty shell. It only reads
//! what the page embeds; deciding when to prefer it is the caller's.

use serde_json::Value;

use super::dom::{escape_text, Dom};

/// Script ids of framework state that may hold the article.
pub(crate) const STATE_IDS: &[&str] = &["__NEXT_DATA__", "__NUXT_DATA__", "__APOLLO_STATE__"];

/// Keys under which framework state keeps article bodies.
const BODY_KEYS: &[&str] = &["articleBody", "body", "content", "text", "html", "bodyHtml"];

/// Keys under which structured instructions (schema.org `HowTo`) keep their steps.
const STEP_KEYS: &[&str] = &["step", "steps"];

/// Shortest embedded text worth considering.
const MIN_LEN: usize = 200;

/// Bound on JSON nodes visited, so hostile state cannot stall extraction.
const MAX_VISITS: usize = 200_000;

/// The article text (plain or HTML) the page embeds, if any.
pub(crate) fn text(dom: &Dom, ld_articles: &[Value]) -> Option<String> {
    let from_ld = ld_articles
        .iter()
        .filter_map(|a| {
            a.get("articleBody")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| steps_body(a))
        })
        .max_by_key(String::len);
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

/// The body of structured instructions: their description, then the text of each step
/// in order (a step's own `text`, or those of the directions it lists).
fn steps_body(item: &Value) -> Option<String> {
    let steps = STEP_KEYS.iter().find_map(|k| item.get(*k))?;
    let mut parts: Vec<&str> = item
        .get("description")
        .and_then(Value::as_str)
        .into_iter()
        .collect();
    step_texts(steps, &mut parts, 0);
    Some(parts.join("\n"))
}

/// Appends the texts of `v`, a step, a list of steps or a step's directions, in order.
fn step_texts<'v>(v: &'v Value, out: &mut Vec<&'v str>, depth: usize) {
    // Steps nest sections in steps in directions; deeper is not instructions.
    if depth > 4 {
        return;
    }
    match v {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|i| step_texts(i, out, depth + 1)),
        Value::Object(o) => match o.get("text") {
            Some(Value::String(t)) => out.push(t),
            _ => ["itemListElement", "step"]
                .iter()
                .filter_map(|k| o.get(*k))
                .for_each(|i| step_texts(i, out, depth + 1)),
        },
        _ => {}
    }
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
    fn how_to_steps_are_its_body() {
        let step = "Cut the cloth along the line you drew, leaving a margin for the hem. ";
        let how_to: Value = serde_json::json!({
            "@type": "HowTo",
            "description": "<p>A round tablecloth takes an afternoon.</p>",
            "step": [
                {"@type": "HowToStep", "itemListElement": {"text": format!("<p>{}</p>", step.repeat(3))}},
                {"@type": "HowToStep", "text": "<p>Hem the edge.</p>"}
            ]
        });
        let dom = Dom::from_html(
            &scraper::Html::parse_document("<html><body></body></html>"),
            &[],
            512,
        );
        let t = text(&dom, &[how_to]).expect("body");
        assert!(t.starts_with("<p>A round tablecloth"), "{t}");
        assert!(t.contains("Cut the cloth"), "{t}");
        assert!(t.ends_with("<p>Hem the edge.</p>"), "{t}");
    }

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
