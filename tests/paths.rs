//! Path rules and links against a real upstream: every spelling of a denied path is
//! refused before the upstream hears of it, the upstream receives exactly the path that
//! was checked, and a redirect can neither leave the upstream host, downgrade it, nor put
//! a `javascript:` URL in front of a reader. Paths that are not articles (`robots.txt`,
//! images) are answered without a fetch per request, `allow_paths` entries name a page
//! or a prefix, and a site with an onion service names it on its other hosts.

#[path = "support/allowlist.rs"]
mod allowlist;
#[path = "support/harness.rs"]
mod harness;

use harness::{site_config, Light, Reply, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `path` exactly as written (no client normalises it on the way) and returns the
/// status and body.
async fn raw_get(light: &Light, path: &str, host: Option<&str>) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(light.addr).await.unwrap();
    let host = host.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
    let version = if host.is_empty() { "1.0" } else { "1.1" };
    let request = format!("GET {path} HTTP/{version}\r\n{host}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line for {path}: {response:?}"));
    (status, response)
}

fn guarded(extra: &str) -> String {
    site_config(&format!(
        "deny_paths = [\"/search/\", \"/secret\", \"/admin\"]\n{extra}"
    ))
}

#[tokio::test]
async fn no_spelling_of_a_denied_path_reaches_the_upstream() {
    let upstream = Upstream::start().await;
    for path in ["/search/", "/secret", "/admin", "/admin/", "/public/"] {
        upstream.route(path, Reply::html("<p>private</p>"));
    }
    let light = Light::start(&guarded(""), &upstream).await;
    for (path, status) in [
        ("/search/", 404),
        ("/%73earch/", 404),
        ("/%73%65%61rch/?q=x", 404),
        ("//search/", 404),
        ("/x/../search/", 404),
        ("/./search/", 404),
        ("/admin;jsessionid=x/", 404),
        ("/;x/admin", 404),
        ("/%61dmin", 404),
        ("/x/..%2fsearch/", 400),
        ("/ok%2fsecret", 400),
        ("/echo/..%2f..%2fadmin", 400),
        ("/public/..;/admin", 400),
        ("/public/..%3b/admin", 400),
        ("/search%3Bx/", 404),
        ("/search;x/", 404),
        ("/x/%2e%2e/admin", 400),
        ("/x/.%2E/admin", 400),
        ("/%2e/admin", 400),
        ("/a%5cadmin", 400),
        ("/a%00", 400),
        ("/bad%zzescape", 400),
    ] {
        let (got, body) = raw_get(&light, path, Some("light.test")).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(!body.contains("private"), "{path}: {body}");
    }
    assert_eq!(
        upstream.total_hits(),
        0,
        "a denied path reached the upstream"
    );
    light.stop().await;
}

#[tokio::test]
async fn the_upstream_receives_the_path_that_was_checked() {
    let upstream = Upstream::start().await;
    let light = Light::start(&guarded(""), &upstream).await;
    for (sent, received) in [
        ("/%7Euser/a%2cb", "/~user/a%2Cb"),
        ("//news//a/./b/../c", "/news/a/c"),
        ("/caf%c3%a9?q=%2f", "/caf%C3%A9?q=%2f"),
        ("/story;jsessionid=x/page", "/story;jsessionid=x/page"),
        ("/x/y/..", "/x/"),
    ] {
        let (status, _) = raw_get(&light, sent, Some("light.test")).await;
        assert_eq!(status, 404, "{sent}: the upstream has no such page");
        assert_eq!(
            upstream.hits(received),
            1,
            "{sent} did not arrive as {received}"
        );
    }
    assert_eq!(upstream.total_hits(), 5);
    light.stop().await;
}

#[tokio::test]
async fn rules_may_ignore_case() {
    let upstream = Upstream::start().await;
    upstream.route("/ADMIN/", Reply::html("<p>private</p>"));
    let strict = Light::start(&guarded(""), &upstream).await;
    let (status, _) = raw_get(&strict, "/ADMIN/", Some("light.test")).await;
    assert_eq!(status, 200, "case matters by default");
    assert_eq!(upstream.hits("/ADMIN/"), 1);
    strict.stop().await;
    let loose = Light::start(&guarded("paths_case_insensitive = true"), &upstream).await;
    for path in ["/ADMIN/", "/Admin", "/%41dmin", "/SeArCh/"] {
        let (status, body) = raw_get(&loose, path, Some("light.test")).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    assert_eq!(upstream.total_hits(), 1);
    loose.stop().await;
}

#[tokio::test]
async fn refusals_answer_with_their_own_status() {
    let upstream = Upstream::start().await;
    let light = Light::start(&guarded(""), &upstream).await;
    let (status, _) = raw_get(&light, "/a", None).await;
    assert_eq!(status, 400, "a request without Host");
    let (status, _) = raw_get(&light, "/a", Some("elsewhere.test")).await;
    assert_eq!(status, 404, "an unknown host");
    assert_eq!(upstream.total_hits(), 0);
    light.stop().await;
}

#[tokio::test]
async fn redirects_to_denied_paths_are_not_followed() {
    let upstream = Upstream::start().await;
    upstream
        .route(
            "/to-search",
            Reply::with(302, &[("location", "/%73earch/")], ""),
        )
        .route(
            "/to-admin",
            Reply::with(302, &[("location", "/x/..;/admin")], ""),
        )
        .route("/search/", Reply::html("<p>private</p>"))
        .route("/admin", Reply::html("<p>private</p>"));
    let light = Light::start(&guarded(""), &upstream).await;
    for path in ["/to-search", "/to-admin"] {
        let response = light.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let body = response.text().await.unwrap();
        assert!(body.contains("This page is elsewhere"), "{path}: {body}");
        assert!(!body.contains("private"), "{path}: {body}");
    }
    assert_eq!(upstream.hits("/search/") + upstream.hits("/admin"), 0);
    light.stop().await;
}

#[tokio::test]
async fn redirects_off_the_web_leave_no_link() {
    let upstream = Upstream::start().await;
    let targets = [
        "javascript:alert(document.domain)",
        " JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
    ];
    for (i, target) in targets.iter().enumerate() {
        upstream.route(
            &format!("/r{i}"),
            Reply::with(302, &[("location", target)], ""),
        );
    }
    for rules in ["", r#"content = ["article"]"#] {
        let light = Light::start(&site_config(rules), &upstream).await;
        for (i, target) in targets.iter().enumerate() {
            let response = light.get(&format!("/r{i}")).await;
            assert_eq!(response.status(), 200, "{target}");
            let body = response.text().await.unwrap();
            let lower = body.to_ascii_lowercase();
            for scheme in ["javascript:", "data:", "vbscript:", "file:"] {
                assert!(!lower.contains(scheme), "{target}: {body}");
            }
            assert!(!body.contains("rel=\"canonical\""), "{target}: {body}");
            // The only link left is the shell's own, to the Light site's home.
            assert_eq!(body.matches("<a ").count(), 1, "{target}: {body}");
            let found = allowlist::violations(&body);
            assert!(found.is_empty(), "{target}: {found:#?}\n{body}");
        }
        light.stop().await;
    }
}

#[tokio::test]
async fn redirects_to_another_host_name_are_links_not_fetches() {
    let upstream = Upstream::start().await;
    let port = upstream.addr.port();
    // The upstream is named `localhost` here. Each target names the same server under
    // another host name or port, its `www.` twin included: following any of them would
    // fetch from a host the operator never configured.
    let targets = [
        format!("http://127.0.0.1:{port}/elsewhere"),
        format!("http://www.localhost:{port}/elsewhere"),
        format!("http://localhost:{}/elsewhere", port.wrapping_add(1)),
    ];
    for (i, target) in targets.iter().enumerate() {
        upstream.route(
            &format!("/r{i}"),
            Reply::with(301, &[("location", target.as_str())], ""),
        );
    }
    upstream.route("/elsewhere", Reply::html("<p>fetched</p>"));
    let config = site_config("").replace("{upstream}", &format!("http://localhost:{port}"));
    let light = Light::start(&config, &upstream).await;
    for (i, target) in targets.iter().enumerate() {
        let body = light.get(&format!("/r{i}")).await.text().await.unwrap();
        assert!(body.contains("This page is elsewhere"), "{target}: {body}");
        assert!(
            body.contains(&format!("href=\"{target}\"")),
            "{target}: {body}"
        );
        let found = allowlist::violations(&body);
        assert!(found.is_empty(), "{target}: {found:#?}\n{body}");
    }
    assert_eq!(
        upstream.hits("/elsewhere"),
        0,
        "another host name was fetched"
    );
    light.stop().await;
}

#[tokio::test]
async fn robots_txt_is_the_upstreams_text_fetched_once() {
    let upstream = Upstream::start().await;
    let rules = "User-agent: *\nDisallow: /account/\n";
    upstream.route(
        "/robots.txt",
        Reply::with(200, &[("content-type", "text/plain")], rules),
    );
    let light = Light::start(&site_config(""), &upstream).await;
    for _ in 0..3 {
        let response = light.get("/robots.txt").await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
        assert_eq!(response.text().await.unwrap(), rules);
    }
    assert_eq!(
        upstream.hits("/robots.txt"),
        1,
        "robots.txt fetched per request"
    );
    light.stop().await;
}

#[tokio::test]
async fn an_oversized_or_missing_robots_txt_is_none() {
    let upstream = Upstream::start().await;
    let huge = "Disallow: /x\n".repeat(10_000);
    upstream.route(
        "/robots.txt",
        Reply::with(200, &[("content-type", "text/plain")], huge),
    );
    let light = Light::start(&site_config(""), &upstream).await;
    let response = light.get("/robots.txt").await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.text().await.unwrap(), "");
    light.stop().await;

    let upstream = Upstream::start().await;
    let light = Light::start(&site_config(""), &upstream).await;
    assert_eq!(light.get("/robots.txt").await.status(), 404);
    light.stop().await;
}

#[tokio::test]
async fn robots_disallow_turns_every_crawler_away_without_a_fetch() {
    let upstream = Upstream::start().await;
    upstream.route("/robots.txt", Reply::with(200, &[], "User-agent: *\n"));
    let light = Light::start(&site_config("robots = \"disallow\""), &upstream).await;
    let response = light.get("/robots.txt").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        "User-agent: *\nDisallow: /\n"
    );
    assert_eq!(upstream.total_hits(), 0);
    light.stop().await;
}

#[tokio::test]
async fn image_paths_are_answered_without_an_upstream_fetch() {
    let upstream = Upstream::start().await;
    upstream.route(
        "/favicon.ico",
        Reply::with(200, &[("content-type", "image/x-icon")], "ico"),
    );
    upstream.route(
        "/logo.png",
        Reply::with(200, &[("content-type", "image/png")], "png"),
    );
    let light = Light::start(&site_config(""), &upstream).await;
    for _ in 0..2 {
        let favicon = light.get("/favicon.ico").await;
        assert_eq!(favicon.status(), 204);
        assert_eq!(favicon.headers()["cache-control"], "public, max-age=86400");
        assert_eq!(light.get("/logo.png").await.status(), 404);
    }
    assert_eq!(upstream.total_hits(), 0);
    light.stop().await;
}

#[tokio::test]
async fn allow_paths_without_a_trailing_slash_allow_that_page_alone() {
    let upstream = Upstream::start().await;
    for path in ["/", "/about", "/about/team", "/news/a"] {
        upstream.route(path, Reply::html("<p>page</p>"));
    }
    let light = Light::start(
        &site_config("allow_paths = [\"/\", \"/about\", \"/news/\"]"),
        &upstream,
    )
    .await;
    for (path, status) in [
        ("/", 200),
        ("/about", 200),
        ("/news/a", 200),
        ("/about/team", 404),
    ] {
        assert_eq!(light.get(path).await.status(), status, "{path}");
    }
    assert_eq!(upstream.hits("/about/team"), 0);
    light.stop().await;
}

#[tokio::test]
async fn onion_location_names_the_same_page_on_the_onion_service() {
    let upstream = Upstream::start().await;
    upstream.route("/a?b=1", Reply::html("<p>page</p>"));
    let onion = "http://ledgerf4z3qk7v2x6wpa5mhd4nvtrj6euk3ybqlc5o2ifhwgqs7adxyz.onion";
    let config = site_config(&format!("onion_location = \"{onion}\"")).replace(
        "hosts = [\"light.test\"]",
        &format!("hosts = [\"light.test\", \"{}\"]", &onion[7..]),
    );
    let light = Light::start(&config, &upstream).await;
    let clearnet = light.get("/a?b=1").await;
    assert_eq!(
        clearnet.headers()["onion-location"],
        format!("{onion}/a?b=1").as_str()
    );
    let on_onion = Light::client()
        .get(light.url("/a?b=1"))
        .header("host", &onion[7..])
        .send()
        .await
        .unwrap();
    assert_eq!(on_onion.status(), 200);
    assert!(on_onion.headers().get("onion-location").is_none());
    // Not on answers that are not Light pages.
    assert!(light
        .get("/robots.txt")
        .await
        .headers()
        .get("onion-location")
        .is_none());
    light.stop().await;
}
