//! Article detection and metadata (interim: whole body, head metadata).

use crate::config::PageKind;
use url::Url;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Metadata {
    pub title: Option<String>,
    pub byline: Option<String>,
    pub published: Option<String>,
    pub lang: Option<String>,
    pub dir: Option<String>,
    pub site_name: Option<String>,
    pub excerpt: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Extracted {
    pub meta: Metadata,
    pub kind: PageKind,
    pub body_html: String,
}

#[derive(Debug, Clone, Default)]
pub struct Rules<'a> {
    pub title: Option<&'a str>,
    pub byline: Option<&'a str>,
    pub date: Option<&'a str>,
    pub remove: &'a [String],
    pub kind: Option<PageKind>,
    pub max_nesting: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("too large")]
    TooLarge,
}

pub struct Reducer {
    buf: Vec<u8>,
}

impl Reducer {
    pub fn new(_rules: &Rules<'_>, _memory_limit: usize) -> Self {
        Self { buf: Vec::new() }
    }
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), ExtractError> {
        self.buf.extend_from_slice(chunk);
        Ok(())
    }
    pub fn finish(self) -> Result<String, ExtractError> {
        Ok(String::from_utf8_lossy(&self.buf).into_owned())
    }
}

pub fn extract_reduced(html: &str, url: &Url, rules: &Rules<'_>) -> Extracted {
    let doc = scraper::Html::parse_document(html);
    let body = scraper::Selector::parse("body").unwrap();
    let body_html = doc
        .select(&body)
        .next()
        .map(|b| b.inner_html())
        .unwrap_or_default();
    Extracted {
        meta: read_metadata(html, url),
        kind: rules.kind.unwrap_or(PageKind::Article),
        body_html,
    }
}

pub fn extract(html: &str, url: &Url, rules: &Rules<'_>) -> Result<Extracted, ExtractError> {
    Ok(extract_reduced(html, url, rules))
}

pub fn read_metadata(html: &str, _url: &Url) -> Metadata {
    let doc = scraper::Html::parse_document(html);
    let title = scraper::Selector::parse("title").unwrap();
    let html_sel = scraper::Selector::parse("html").unwrap();
    let root = doc.select(&html_sel).next();
    Metadata {
        title: doc
            .select(&title)
            .next()
            .map(|t| t.text().collect::<String>().trim().to_owned()),
        lang: root.and_then(|r| r.value().attr("lang")).map(str::to_owned),
        dir: root.and_then(|r| r.value().attr("dir")).map(str::to_owned),
        ..Default::default()
    }
}

pub fn to_text(html_fragment: &str) -> String {
    let doc = scraper::Html::parse_fragment(html_fragment);
    doc.root_element().text().collect::<Vec<_>>().join(" ")
}
