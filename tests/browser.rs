//! A real browser as the last judge: the hostile pages of `xss.rs` are served by a test
//! upstream on 127.0.0.1 and fetched through two real lightmirror servers in front of it,
//! one per conversion route, so Chromium gets each Light page exactly as a reader would,
//! response headers included. Headless Chromium loads them all
//! (`tests/browser/check_pages.mjs`). No page may open a dialog, request anything but
//! itself, trip its Content-Security-Policy, log a console error, or leave a handler, a
//! foreign element or an odd link in the DOM Chromium built. Two control pages straight
//! from the upstream, one of them with the Light CSP, show that the check does catch each
//! of those things.
//!
//! A second check opens a Light page with a figure, follows its image link as a reader's
//! tap would (`tests/browser/open_image.mjs`), and sees the Light image shown at its
//! Light size; then goes back, submits the shell's search form and lands on a Light
//! listing of the results, with no request to anywhere but the Light host throughout.
//!
//! Without Chromium or `tests/browser/node_modules` (see `.ci/browser-setup.sh`) the test
//! prints a note and passes, unless `LIGHTMIRROR_REQUIRE_BROWSER=1`.

#[path = "support/corpus.rs"]
mod corpus;
#[path = "support/harness.rs"]
mod harness;
#[path = "support/light.rs"]
mod light;
#[path = "support/pictures.rs"]
mod pictures;
#[path = "support/vectors.rs"]
mod vectors;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use harness::{Light, Reply, Upstream};
use light::{article, convert, Route};
use lightmirror::page::content_security_policy;

const CHROMIUM: &str = "/usr/bin/chromium";
/// The whole browser run, launch to last page.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);

/// A page that must fail the check, with the problems the report must name.
struct Control {
    path: &'static str,
    html: &'static str,
    light_csp: bool,
    expected: &'static [&'static str],
}

const CONTROLS: &[Control] = &[
    Control {
        path: "/control/without-csp",
        html: "<!doctype html><title>c</title><p>x</p><script>alert('control')</script><img src=/pixel.gif>",
        light_csp: false,
        expected: &["dialog alert", "request GET", "<img> in the DOM"],
    },
    Control {
        path: "/control/with-csp",
        html: "<!doctype html><title>c</title><p onclick=\"x()\">x</p><script>alert('control')</script>",
        light_csp: true,
        expected: &[
            "securitypolicyviolation: script-src-elem",
            "console error",
            "<p> has onclick",
        ],
    },
];

/// A lightmirror site for the test upstream, reached under the server's own address.
fn site(route: Route) -> String {
    let content = match route {
        Route::Detection => "",
        Route::Streaming => r#"content = ["body"]"#,
    };
    format!(
        r#"
[[site]]
name = "news"
upstream = "{{upstream}}"
hosts = ["{{light}}"]
allow_private_upstream = true
{content}
"#
    )
}

fn browser_missing(dir: &std::path::Path) -> Option<String> {
    if !std::path::Path::new(CHROMIUM).exists() {
        return Some(format!("{CHROMIUM} is not installed"));
    }
    if !dir.join("node_modules/playwright-core").is_dir() {
        return Some(format!(
            "{} has no node_modules/playwright-core",
            dir.display()
        ));
    }
    None
}

/// A hostile upstream page: where it lives, what it is, and its markup.
struct Source {
    path: String,
    name: String,
    html: String,
}

/// Every hostile page of `xss.rs`.
fn sources() -> Vec<Source> {
    let mut sources = Vec::new();
    let mut add =
        |path: String, name: String, html: String| sources.push(Source { path, name, html });
    if let Some(payloads) = corpus::dompurify_payloads() {
        for (i, p) in payloads.iter().enumerate() {
            let name = format!("DOMPurify #{i} {}", p.title);
            add(format!("/dompurify/{i}"), name, article(&p.payload));
        }
        let all: Vec<&str> = payloads.iter().map(|p| p.payload.as_str()).collect();
        let name = "DOMPurify, all payloads".to_owned();
        add("/dompurify/all".into(), name, article(&all.join("\n")));
    }
    for (i, (name, markup)) in vectors::IN_ARTICLE.iter().enumerate() {
        add(format!("/vector/{i}"), (*name).to_owned(), article(markup));
    }
    for (i, (name, page)) in vectors::WHOLE_PAGES.iter().enumerate() {
        add(format!("/page/{i}"), (*name).to_owned(), (*page).to_owned());
    }
    sources
}

/// The directory of the browser scripts, or `None` (after a note) when the browser
/// check cannot run here and is not required to.
fn browser_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if let Some(missing) = browser_missing(&dir) {
        let required = std::env::var("LIGHTMIRROR_REQUIRE_BROWSER").as_deref() == Ok("1");
        assert!(
            !required,
            "LIGHTMIRROR_REQUIRE_BROWSER=1 but {missing}; run .ci/browser-setup.sh"
        );
        eprintln!("note: skipping the browser check: {missing} (run .ci/browser-setup.sh)");
        return None;
    }
    Some(dir)
}

/// Runs `script` in Node with `args` and reads the JSON object it prints.
async fn run_script(dir: &std::path::Path, script: &str, args: &[&String]) -> serde_json::Value {
    let child = tokio::process::Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .env("CHROMIUM", CHROMIUM)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let output = tokio::time::timeout(BROWSER_TIMEOUT, child.wait_with_output())
        .await
        .expect("the browser check finishes within its time")
        .expect("node exits");
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "no report from the browser check ({e}), exit {:?}:\n{stdout}\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The upstream's results for "harbour": a search page with its own scripts, images and
/// a tracker, as a news site's are.
const SEARCH_RESULTS: &str = r#"<!doctype html><html lang="en"><head><title>Search results: harbour</title>
<script src="https://tracker.example/t.js"></script><link rel="stylesheet" href="https://cdn.example/s.css"></head>
<body><header><form action="/search"><input name="q" value="harbour"></form></header>
<main><h1>Results for harbour</h1><ul class="results">
<li><h2><a href="/news/harbour.html">Harbour reopens after the storm</a></h2><img src="https://cdn.example/a.jpg" alt=""><p>The fishing fleets were back at their moorings by noon.</p></li>
<li><h2><a href="/news/ferries.html">Ferries resume the winter timetable</a></h2><p>Two sailings fewer each day until March.</p></li>
<li><h2><a href="/news/quay.html">New cranes at the east quay double the traffic</a></h2><p>The port authority publishes its figures every quarter.</p></li>
<li><h2><a href="/news/channel.html">A deeper channel lets larger ships call at the city</a></h2><p>Dredging ended in the autumn.</p></li>
</ul></main><footer><a href="https://social.example/share">Share</a></footer></body></html>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_opens_a_light_image_and_searches_with_nothing_else() {
    let Some(dir) = browser_dir() else {
        return;
    };
    let upstream = Upstream::start().await;
    let paragraph = "<p>The harbour reopened on Monday after the storm, and the fishing fleets \
                     were back at their moorings by noon, the port authority said.</p>";
    let html = format!(
        "<!doctype html><html lang=en><head><title>Harbour reopens</title></head><body>\
         <article>{paragraph}<figure><img src=/photo.jpg width=1200 height=800>\
         <figcaption>Boats return to the harbour.</figcaption></figure>{paragraph}\
         <p><img src=https://tracker.example/p.jpg alt=\"A third-party photo\"></p>{paragraph}</article></body></html>"
    );
    upstream.route("/news/harbour.html", Reply::html(html));
    let photo = pictures::encode(
        image::DynamicImage::ImageRgb8(pictures::photo(1200, 800, 3)),
        image::ImageFormat::Jpeg,
    );
    upstream.route(
        "/photo.jpg",
        Reply::with(200, &[("content-type", "image/jpeg")], photo),
    );
    upstream.route("/search?q=harbour", Reply::html(SEARCH_RESULTS));
    let config = format!(
        "{}search = \"/search?q={{query}}\"\n",
        site(Route::Detection)
    );
    let server = Light::start(&config, &upstream).await;
    let page = server.url("/news/harbour.html");
    let light = server.url("/");
    let query = "harbour".to_owned();
    let report = run_script(&dir, "open_image.mjs", &[&page, &query]).await;
    server.stop().await;
    assert_eq!(report["page_status"], 200, "{report}");
    assert_eq!(report["image_status"], 200, "{report}");
    assert_eq!(report["image_type"], "image/jpeg", "{report}");
    assert_eq!(report["shown"], serde_json::json!([480, 320]), "{report}");
    assert_eq!(report["violations"], serde_json::json!([]), "{report}");
    let search = &report["search"];
    assert_eq!(search["status"], 200, "{report}");
    assert_eq!(
        search["url"],
        format!("{light}search?q=harbour"),
        "{report}"
    );
    assert_eq!(search["listing"], true, "a Light listing: {report}");
    let headlines = search["headlines"].as_array().expect("headlines");
    for headline in [
        "Harbour reopens after the storm",
        "Ferries resume the winter timetable",
    ] {
        assert!(headlines.contains(&headline.into()), "{headline}: {report}");
    }
    let requests: Vec<&str> = report["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|r| r.as_str().unwrap_or_default())
        .collect();
    for url in &requests {
        assert!(
            url.starts_with(&light),
            "a request off the Light host: {url}"
        );
    }
    let images = requests.iter().filter(|u| u.contains("/_light/img/"));
    assert_eq!(
        images.count(),
        1,
        "one image, on the reader's tap: {report}"
    );
    assert!(requests.iter().any(|u| u.contains("/search?q=harbour")));
    assert_eq!(upstream.hits("/photo.jpg"), 1);
    assert_eq!(upstream.hits("/search?q=harbour"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_runs_and_fetches_nothing() {
    let Some(dir) = browser_dir() else {
        return;
    };

    let upstream = Upstream::start().await;
    let sources = sources();
    for source in &sources {
        upstream.route(&source.path, Reply::html(source.html.clone()));
    }
    for control in CONTROLS {
        let csp = content_security_policy();
        let mut headers = vec![("content-type", "text/html; charset=utf-8")];
        if control.light_csp {
            headers.push(("content-security-policy", csp));
        }
        upstream.route(control.path, Reply::with(200, &headers, control.html));
    }
    // Pages a route refuses to convert get an error page instead; they are counted, and
    // the Light pages the route does produce are loaded.
    let mut pages: BTreeMap<String, String> = BTreeMap::new();
    let mut refused = 0;
    let mut servers = Vec::new();
    for route in Route::ALL {
        let server = Light::start(&site(route), &upstream).await;
        for source in &sources {
            match convert(route, &source.html) {
                Ok(_) => {
                    let name = format!("{} ({route:?})", source.name);
                    pages.insert(server.url(&source.path), name);
                }
                Err(_) => refused += 1,
            }
        }
        servers.push(server);
    }
    let controls: Vec<String> = CONTROLS.iter().map(|c| upstream.url(c.path)).collect();
    let urls: Vec<&String> = pages.keys().chain(&controls).collect();

    let started = Instant::now();
    let report = run_script(&dir, "check_pages.mjs", &urls).await;
    assert_eq!(report["pages"].as_u64(), Some(urls.len() as u64));

    let mut by_url: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for failure in report["failures"].as_array().expect("a failure list") {
        let url = failure["url"].as_str().expect("a URL").to_owned();
        let problem = failure["problem"].as_str().expect("a problem").to_owned();
        by_url.entry(url).or_default().push(problem);
    }
    for (control, url) in CONTROLS.iter().zip(&controls) {
        let problems = by_url.remove(url).unwrap_or_default();
        for expected in control.expected {
            assert!(
                problems.iter().any(|p| p.starts_with(expected)),
                "the check missed \"{expected}\" on control page {}: {problems:?}",
                control.path
            );
        }
    }
    let objections: Vec<String> = by_url
        .iter()
        .map(|(url, problems)| {
            let name = pages.get(url).map_or("?", String::as_str);
            format!("{name}, {url}:\n  {}", problems.join("\n  "))
        })
        .collect();
    println!(
        "browser: {} Light pages loaded in Chromium in {:.1} s ({refused} conversions refused), {} with problems",
        pages.len(),
        started.elapsed().as_secs_f64(),
        objections.len()
    );
    for server in servers {
        server.stop().await;
    }
    assert!(
        objections.is_empty(),
        "Light pages Chromium objected to:\n{}",
        objections.join("\n")
    );
}
