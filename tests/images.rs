//! Images on the reader's request, end to end: pages with figures, charts and a
//! decompression bomb on a real upstream, a real lightmirror in front, and the Light
//! images their placeholders link to fetched through it.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/pictures.rs"]
mod pictures;

use harness::{site_config, Light, Reply, Upstream};
use image::{DynamicImage, ImageFormat};
use url::Url;

const PAGE: &str = r#"<!doctype html><html lang="en"><head><title>Port traffic | The Ledger</title></head>
<body><article class="story"><h1>Port traffic doubles</h1>
<p>Container traffic through the harbour doubled in ten years, the port authority said on
Monday, as new cranes and a deeper channel let larger ships call at the city.</p>
<figure><img src="/photos/cranes.jpg" width="1200" height="800"><figcaption>New cranes at the east quay.</figcaption></figure>
<p>Officials expect the growth to continue as the second phase of the quay opens next
spring, with room for two more of the largest vessels at once.</p>
<p><img src="/charts/traffic.png" alt="Bar chart: traffic rose from 1.2 to 3.4 million containers" width="640" height="400"></p>
<p>The authority publishes its figures every quarter, and the next report is due in April,
when the effect of the new channel should be visible in the numbers for the first time.</p>
<p><img src="/icons/share.png" alt="Share" width="24" height="24"><img src="/t.gif" width="1" height="1" alt="">
<img src="/deco.jpg" alt="Decoration" aria-hidden="true"></p>
</article></body></html>"#;

fn jpeg_reply(bytes: Vec<u8>) -> Reply {
    Reply::with(200, &[("content-type", "image/jpeg")], bytes)
}

async fn upstream_with_page() -> Upstream {
    let upstream = Upstream::start().await;
    upstream.route(
        "/news/port.html",
        Reply::with(200, &[("content-type", "text/html")], PAGE),
    );
    let photo = pictures::encode(
        DynamicImage::ImageRgb8(pictures::photo(1200, 800, 1)),
        ImageFormat::Jpeg,
    );
    upstream.route("/photos/cranes.jpg", jpeg_reply(photo));
    let chart = pictures::encode(
        DynamicImage::ImageRgba8(pictures::chart(640, 400)),
        ImageFormat::Png,
    );
    upstream.route(
        "/charts/traffic.png",
        Reply::with(200, &[("content-type", "image/png")], chart),
    );
    upstream
}

/// The `href`s of the page's links to Light images, in page order.
fn image_links(page: &str) -> Vec<String> {
    page.match_indices("href=\"/_light/img/")
        .map(|(at, _)| {
            let rest = &page[at + 6..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

async fn page(light: &Light, path: &str) -> String {
    let response = light.get(path).await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

async fn check_light_image(light: &Light, href: &str, max_bytes: usize) -> DynamicImage {
    let response = light.get(href).await;
    assert_eq!(response.status(), 200, "{href}");
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'none'") && csp.contains("sandbox"),
        "{csp}"
    );
    assert!(headers["cache-control"]
        .to_str()
        .unwrap()
        .starts_with("public, max-age="));
    assert!(!headers.contains_key("set-cookie"));
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.len() < max_bytes, "{href}: {} bytes", bytes.len());
    assert_eq!(headers["content-length"], bytes.len().to_string().as_str());
    image::load_from_memory_with_format(&bytes, ImageFormat::Jpeg).unwrap()
}

#[tokio::test]
async fn a_figure_keeps_its_caption_and_links_its_light_image_on_both_routes() {
    let upstream = upstream_with_page().await;
    for rules in ["", r#"content = ["article.story"]"#] {
        let light = Light::start(&site_config(rules), &upstream).await;
        let body = page(&light, "/news/port.html").await;
        assert!(
            body.contains("New cranes at the east quay."),
            "{rules}: {body}"
        );
        let figure = &body[body.find("<figure>").unwrap()..body.find("</figure>").unwrap()];
        assert!(
            figure.contains("[Image] <a href=\"/_light/img/"),
            "{rules}: {figure}"
        );
        assert!(
            figure.contains(">image, about 20 KB</a>"),
            "{rules}: {figure}"
        );
        let links = image_links(&body);
        assert_eq!(links.len(), 2, "{rules}: decorative images linked: {body}");
        assert!(
            !body.contains("Share") && !body.contains("Decoration"),
            "{body}"
        );
        let photo = check_light_image(&light, &links[0], 25_000).await;
        assert_eq!((photo.width(), photo.height()), (480, 320));
        light.stop().await;
    }
    assert_eq!(
        upstream.hits("/photos/cranes.jpg"),
        2,
        "each server made it once"
    );
}

#[tokio::test]
async fn a_chart_keeps_its_alt_text_and_its_transparency_turns_white() {
    let upstream = upstream_with_page().await;
    let light = Light::start(&site_config(""), &upstream).await;
    let body = page(&light, "/news/port.html").await;
    assert!(
        body.contains("[Image: Bar chart: traffic rose from 1.2 to 3.4 million containers] <a href=\"/_light/img/"),
        "{body}"
    );
    let links = image_links(&body);
    let chart = check_light_image(&light, &links[1], 25_000)
        .await
        .into_rgb8();
    assert_eq!(chart.dimensions(), (480, 300));
    let corner = chart.get_pixel(470, 10).0;
    assert!(corner.iter().all(|&c| c > 240), "background {corner:?}");
    // Made once, then served from the cache, and the page now says its exact size.
    let again = light.get(&links[1]).await;
    assert!(again.headers()["cache-status"]
        .to_str()
        .unwrap()
        .contains("hit"));
    let size = again.bytes().await.unwrap().len();
    assert_eq!(upstream.hits("/charts/traffic.png"), 1);
    upstream.route(
        "/news/port.html?fresh=1",
        Reply::with(200, &[("content-type", "text/html")], PAGE),
    );
    let fresh = Light::client()
        .get(light.url("/news/port.html?fresh=1"))
        .header("host", "light.test")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exact = format!(">image, {} KB</a>", size.div_ceil(1000));
    assert!(fresh.contains(&exact), "{exact} not in {fresh}");
    light.stop().await;
}

#[tokio::test]
async fn a_decompression_bomb_is_refused_with_a_clear_page() {
    let upstream = Upstream::start().await;
    upstream.route(
        "/bomb.png",
        Reply::with(
            200,
            &[("content-type", "image/png")],
            pictures::bomb_png(100_000, 100_000),
        ),
    );
    upstream.route(
        "/fake.jpg",
        Reply::with(
            200,
            &[("content-type", "image/jpeg")],
            "<html>not an image</html>",
        ),
    );
    upstream.route(
        "/page.html",
        Reply::with(
            200,
            &[("content-type", "text/html")],
            "<html><body>a page</body></html>",
        ),
    );
    let light = Light::start(&site_config(""), &upstream).await;
    let href = |path: &str| {
        lightmirror::image::light_path(&Url::parse(&upstream.url(path)).unwrap()).unwrap()
    };
    let response = light.get(&href("/bomb.png")).await;
    assert_eq!(response.status(), 502);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let text = response.text().await.unwrap();
    assert!(
        text.contains("too large to show (100000 × 100000 pixels)"),
        "{text}"
    );
    for path in ["/fake.jpg", "/page.html"] {
        let response = light.get(&href(path)).await;
        assert_eq!(response.status(), 502, "{path}");
        let text = response.text().await.unwrap();
        assert!(text.contains("not an image"), "{path}: {text}");
    }
    assert_eq!(light.get("/_light/health").await.status(), 200);
    light.stop().await;
}

#[tokio::test]
async fn only_the_upstream_and_the_named_image_hosts_are_fetched() {
    let upstream = upstream_with_page().await;
    let cdn = Upstream::start().await;
    let photo = pictures::encode(
        DynamicImage::ImageRgb8(pictures::photo(800, 600, 2)),
        ImageFormat::Jpeg,
    );
    cdn.route("/p/harbour.jpg", jpeg_reply(photo));
    let other = Upstream::start().await;
    other.route("/secret.jpg", jpeg_reply(vec![0xff, 0xd8]));
    upstream.route("/private/x.jpg", jpeg_reply(vec![0xff, 0xd8]));
    let cdn_host = cdn.addr.to_string();
    let config = site_config(&format!(
        "image_hosts = [\"{cdn_host}\"]\ndeny_paths = [\"/private/\"]"
    ));
    let light = Light::start(&config, &upstream).await;
    let href = |url: &str| lightmirror::image::light_path(&Url::parse(url).unwrap()).unwrap();
    let photo = check_light_image(&light, &href(&cdn.url("/p/harbour.jpg")), 25_000).await;
    assert_eq!(photo.width(), 480);
    for refused in [
        other.url("/secret.jpg"),
        upstream.url("/private/x.jpg"),
        upstream.url("/x/%2e%2e/private/x.jpg"),
        format!(
            "http://localhost:{}/photos/cranes.jpg",
            upstream.addr.port()
        ),
        "http://169.254.169.254/latest/meta-data".to_owned(),
    ] {
        let response = light.get(&href(&refused)).await;
        assert_eq!(response.status(), 403, "{refused}");
    }
    for malformed in [
        "/_light/img/",
        "/_light/img/%2e%2e",
        "/_light/img/aGVsbG8",
        "/_light/img/!!",
    ] {
        assert_eq!(light.get(malformed).await.status(), 404, "{malformed}");
    }
    assert_eq!(other.total_hits(), 0);
    assert_eq!(upstream.hits("/private/x.jpg"), 0);
    light.stop().await;
}

#[tokio::test]
async fn with_images_off_placeholders_stay_and_nothing_links_or_is_made() {
    let upstream = upstream_with_page().await;
    let light = Light::start(&site_config("images = \"off\""), &upstream).await;
    let body = page(&light, "/news/port.html").await;
    assert!(body.contains("[Image: Bar chart: traffic rose from 1.2 to 3.4 million containers]"));
    assert!(
        body.contains("[Image]</figure>") || body.contains("[Image]\n"),
        "{body}"
    );
    assert!(
        !body.contains("/_light/img/") && !body.contains("KB</a>"),
        "{body}"
    );
    let href =
        lightmirror::image::light_path(&Url::parse(&upstream.url("/photos/cranes.jpg")).unwrap())
            .unwrap();
    assert_eq!(light.get(&href).await.status(), 404);
    assert_eq!(upstream.hits("/photos/cranes.jpg"), 0);
    light.stop().await;
}

#[tokio::test]
async fn light_pages_still_load_no_image() {
    let upstream = upstream_with_page().await;
    let light = Light::start(&site_config(""), &upstream).await;
    let response = light.get("/news/port.html").await;
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("img-src 'none'"),
        "{csp}"
    );
    let body = response.text().await.unwrap();
    assert!(!body.contains("<img"), "{body}");
    light.stop().await;
}

#[tokio::test]
async fn placeholders_and_image_errors_speak_the_page_language_on_both_routes() {
    let upstream = upstream_with_page().await;
    let persian = PAGE
        .replace("<html lang=\"en\">", "<html lang=\"fa\">")
        .replace(
            "alt=\"Bar chart: traffic rose from 1.2 to 3.4 million containers\"",
            "alt=\"نمودار ترافیک بندر\"",
        )
        .replace(
            "<p>Officials expect",
            "<video src=\"/v.mp4\" title=\"گزارش بندر\"></video><p>Officials expect",
        );
    upstream.route(
        "/news/port-fa.html",
        Reply::with(200, &[("content-type", "text/html")], persian),
    );
    for rules in ["", r#"content = ["article.story"]"#] {
        let light = Light::start(&site_config(rules), &upstream).await;
        let fa = page(&light, "/news/port-fa.html").await;
        assert!(
            fa.contains("[تصویر: نمودار ترافیک بندر] <a href=\"/_light/img/"),
            "{rules}: {fa}"
        );
        assert!(
            fa.contains("[تصویر] <a href=\"/_light/img/"),
            "{rules}: {fa}"
        );
        assert!(fa.contains(">تصویر، حدود ۲۰ کیلوبایت</a>"), "{rules}: {fa}");
        // Detection keeps no video of an article, so only the streamed route shows one.
        if !rules.is_empty() {
            assert!(fa.contains("[ویدیو: گزارش بندر]"), "{rules}: {fa}");
        }
        assert!(
            !fa.contains("[Image") && !fa.contains("image, about"),
            "{rules}: {fa}"
        );
        let en = page(&light, "/news/port.html").await;
        assert!(
            en.contains("[Image] <a href=\"/_light/img/"),
            "{rules}: {en}"
        );
        assert!(!en.contains("تصویر"), "{rules}: {en}");
        light.stop().await;
    }
    // The operator's words win over the language's; an image error page speaks the site's.
    let config = site_config("lang = \"fa\"\n[site.strings]\nimage = \"Picture\"");
    let light = Light::start(&config, &upstream).await;
    let fa = page(&light, "/news/port-fa.html").await;
    assert!(fa.contains("[Picture: نمودار ترافیک بندر]"), "{fa}");
    let missing = Url::parse(&upstream.url("/photos/none.jpg")).unwrap();
    let response = light
        .get(&lightmirror::image::light_path(&missing).unwrap())
        .await;
    assert_eq!(response.status(), 404);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("تصویر در دسترس نیست") && text.contains("تصویر اصلی دیگر وجود ندارد."),
        "{text}"
    );
    light.stop().await;
}
