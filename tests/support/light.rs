//! Hostile markup through the real conversion, both ways a page can take: detection (a site
//! with no rules) and the streaming Light pass (a site whose `content` rule keeps the whole
//! body, so nothing a payload writes is cut away before the allowlist sees it).

use std::sync::{Arc, LazyLock};

use lightmirror::config::{self, LimitsConfig, Site};
use lightmirror::convert::{convert_document, ConvertError};
use url::Url;

/// Where the test pages claim to come from.
pub const PAGE_URL: &str = "https://news.example.com/world/2024/05/harbour-reopens.html";

/// The two ways through `convert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// No rules: the page is handed to article detection, then the Light pass.
    Detection,
    /// A `content` rule: the Light pass streams the page.
    Streaming,
}

impl Route {
    /// Both routes, detection first.
    pub const ALL: [Route; 2] = [Route::Detection, Route::Streaming];
}

static PAGE: LazyLock<Url> = LazyLock::new(|| Url::parse(PAGE_URL).expect("static URL"));

static DETECTION: LazyLock<Arc<Site>> = LazyLock::new(|| Arc::new(Site::ad_hoc(&PAGE)));

static STREAMING: LazyLock<Arc<Site>> = LazyLock::new(|| {
    let toml = r#"
        [[site]]
        name = "news"
        upstream = "https://news.example.com"
        hosts = ["news.light.test"]
        content = ["body"]
        remove = [".share"]
    "#;
    let (_, mut sites) = config::parse(toml, "streaming test site").expect("valid test config");
    sites.remove(0)
});

/// Converts `html` as an upstream page of `PAGE_URL` served as UTF-8.
pub fn convert(route: Route, html: &str) -> Result<String, ConvertError> {
    convert_at(route, &PAGE, html)
}

/// Converts `html` as the upstream page at `page_url`, a URL on `PAGE_URL`'s site.
pub fn convert_at(route: Route, page_url: &Url, html: &str) -> Result<String, ConvertError> {
    let site: &Arc<Site> = match route {
        Route::Detection => &DETECTION,
        Route::Streaming => &STREAMING,
    };
    let (page, _) = convert_document(
        site,
        page_url,
        &LimitsConfig::default(),
        Some("text/html; charset=utf-8"),
        html.as_bytes(),
    )?;
    Ok(String::from_utf8(page).expect("a Light page is UTF-8"))
}

/// A news article page of the kind a real site sends (head metadata, scripts, navigation,
/// share buttons, footer) with `payload` in the middle of its story.
pub fn article(payload: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Harbour reopens after storm | The Example News</title>
<meta name="viewport" content="width=device-width">
<meta property="og:title" content="Harbour reopens after storm">
<link rel="stylesheet" href="/static/site.css">
<script>window.dataLayer = [];</script>
</head>
<body class="article-page">
<nav><a href="/">Home</a> <a href="/world/">World</a></nav>
<article class="story">
<h1>Harbour reopens after storm</h1>
<p class="byline">By A. Reporter</p>
<p>The harbour reopened on Tuesday, three days after the storm closed it to shipping.</p>
{payload}
<p>Officials said repairs to the <a href="/tags/harbour">outer wall</a> would take weeks.</p>
<div class="share"><button>Share</button></div>
</article>
<footer><p>&copy; The Example News</p></footer>
<script src="/static/app.js"></script>
</body>
</html>
"#
    )
}
