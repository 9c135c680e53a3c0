//! The shell as a reader lives in it, through a real server in front of a real local
//! upstream: words and digits in the page's language, sections from the upstream's nav
//! bar, the search form, the pagination line, upstream RSS and Atom feeds served as
//! listings, every listing's own Atom feed, links to the instance's other sites, and
//! `Save-Data` served like any request.

#[path = "support/harness.rs"]
mod harness;

use harness::{site_config, Light, Reply, Upstream};

const PERSIAN: &str = r#"<!doctype html><html lang="fa"><head><meta charset="utf-8">
<title>قنات مهرآباد دوباره جاری شد | روزنامه</title><link rel="next" href="/fa/qanat?page=2"></head>
<body><header><nav class="main-nav"><a href="/">خانه</a><a href="/fa/iran/">ایران</a>
<a href="/fa/world/">جهان</a><a href="/fa/economy/">اقتصاد</a><a href="https://ads.example/">تبلیغ</a></nav></header>
<article><h1>قنات مهرآباد دوباره جاری شد</h1>
<p>پس از سال‌ها خشکی، آب دوباره در قنات قدیمی مهرآباد جریان یافت و کشاورزان روستا از بازگشت آن خوشحال‌اند.</p>
<p>کارشناسان می‌گویند بارش‌های پاییز امسال و لایروبی میله‌های قنات باعث شد آب بار دیگر به سطح برسد و باغ‌ها سیراب شوند.</p>
<p>اهالی روستا امیدوارند این قنات که بیش از هفتصد سال قدمت دارد، سال‌های آینده نیز جاری بماند و نسل‌های بعد از آن بهره ببرند.</p>
<p>شورای روستا برای نگهداری قنات برنامه‌ای تازه دارد و از جوانان خواسته است در لایروبی سالانه شرکت کنند.</p>
</article></body></html>"#;

fn chinese_listing() -> String {
    let mut html = String::from(
        "<!doctype html><html lang=\"zh\"><head><title>国际新闻</title>\
         <link rel=\"next\" href=\"/zh/?page=2\"></head><body><main>",
    );
    let headlines = [
        "港口防潮闸经受住第一个冬天的考验",
        "市议会通过新的自行车道建设计划",
        "老城区图书馆重新开放迎接读者",
        "渔民报告今年秋季捕捞量大幅回升",
        "地铁新线路试运行乘客反应热烈",
        "气象部门预测本周末将迎来大雪",
        "大学生志愿者帮助清理海滩垃圾",
        "新建医院将于明年春天投入使用",
        "本地乐团在国际比赛中获得金奖",
        "旧码头改造成为市民休闲公园",
    ];
    for (i, headline) in headlines.iter().enumerate() {
        html.push_str(&format!(
            "<div class=card><h3><a href=\"/zh/story-{i}\">{headline}</a></h3></div>"
        ));
    }
    html.push_str(
        "<div class=pages><a href=\"/zh/\">1</a> <a href=\"/zh/?page=2\">2</a> \
         <a href=\"/zh/?page=3\">3</a></div></main></body></html>",
    );
    html
}

const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Harbour Ledger: City</title><link>http://ledger.example/</link>
<description>City news</description><language>en</language>
<item><title>Tidal barrier holds through its first winter</title><link>{upstream}/city/barrier</link>
<pubDate>Tue, 24 Nov 2026 08:00:00 GMT</pubDate>
<description>&lt;p&gt;The barrier &lt;em&gt;held&lt;/em&gt; through three storms.&lt;/p&gt;</description></item>
<item><title>Night ferry returns</title><link>{upstream}/city/ferry</link>
<pubDate>Mon, 23 Nov 2026 18:30:00 GMT</pubDate></item>
</channel></rss>"#;

const ATOM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Harbour Ledger</title><id>urn:ledger</id>
<updated>2026-11-24T09:00:00Z</updated>
<entry><title>Quay lights switched to LEDs</title><id>urn:ledger:1</id>
<link rel="alternate" href="/city/quay-lights"/><updated>2026-11-24T09:00:00Z</updated>
<summary type="html">&lt;b&gt;Brighter&lt;/b&gt; and cheaper.</summary></entry>
</feed>"#;

async fn body(
    light: &Light,
    path: &str,
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, String) {
    let response = light.get(path).await;
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn a_persian_page_reads_in_persian_with_its_sections_and_next_page() {
    let upstream = Upstream::start().await;
    upstream.route("/fa/qanat", Reply::html(PERSIAN));
    let light = Light::start(&site_config(""), &upstream).await;
    let (status, _, page) = body(&light, "/fa/qanat").await;
    assert_eq!(status, 200);
    assert!(page.contains("<html lang=\"fa\" dir=\"rtl\">"), "{page}");
    assert!(page.contains("<a href=\"/\">نسخهٔ سبک ledger</a>"), "{page}");
    assert!(
        page.contains(
            "<nav aria-label=\"بخش‌ها\"><a href=\"/fa/iran/\">ایران</a> · \
             <a href=\"/fa/world/\">جهان</a> · <a href=\"/fa/economy/\">اقتصاد</a></nav>"
        ),
        "{page}"
    );
    assert!(
        page.contains("<a rel=\"next\" href=\"/fa/qanat?page=2\">قدیمی‌تر</a>"),
        "{page}"
    );
    assert!(page.contains(">نسخهٔ اصلی</a> · این صفحه: "), "{page}");
    let saving = page.split("این صفحه: ").nth(1).unwrap();
    assert!(
        saving.starts_with(|c: char| ('۰'..='۹').contains(&c)),
        "{saving}"
    );
    assert!(saving.contains(" کیلوبایت · اصلی: "), "{saving}");
    assert!(!saving.chars().any(|c| c.is_ascii_digit()), "{saving}");
    let (status, _, missing) = body(&light, "/fa/none").await;
    assert_eq!(status, 404);
    assert!(missing.contains("Page not found"), "{missing}");
    light.stop().await;
}

/// A page whose best block is a short notice: detection is unsure of what it found.
const NOTICE_ONLY: &str = r#"<!doctype html><html lang="es"><head><title>Aviso | El Diario</title></head>
<body><div class="browser-notice"><p>Su navegador está desactualizado. Actualícelo para ver
esta página correctamente.</p></div></body></html>"#;

#[tokio::test]
async fn an_article_detection_is_unsure_of_says_so_first_with_the_original_s_link() {
    let upstream = Upstream::start().await;
    upstream.route("/es/aviso", Reply::html(NOTICE_ONLY));
    upstream.route("/fa/qanat", Reply::html(PERSIAN));
    let notice = "<main><p><a href=\"{original}\">Página original</a> · <strong>Puede que \
                  esta página ligera no contenga el artículo completo.</strong></p>";
    for rules in ["", "content = [\"article.story\"]"] {
        let light = Light::start(&site_config(rules), &upstream).await;
        let (status, _, page) = body(&light, "/es/aviso").await;
        assert_eq!(status, 200);
        let original = upstream.url("/es/aviso");
        match rules {
            // Detection's page is written whole, so the notice opens its main part.
            "" => assert!(
                page.contains(&notice.replace("{original}", &original)),
                "{page}"
            ),
            // Rules that match nothing leave the shell already sent: the notice opens
            // the article detection found instead.
            _ => assert!(
                page.contains(&notice[6..].replace("{original}", &original)),
                "{page}"
            ),
        }
        assert!(page.contains("Su navegador está desactualizado"), "{page}");
        let (_, _, sure) = body(&light, "/fa/qanat").await;
        assert!(!sure.contains("همهٔ متن خبر"), "{sure}");
        light.stop().await;
    }
}

#[tokio::test]
async fn error_pages_speak_the_site_s_language_and_its_operator_s_words() {
    let upstream = Upstream::start().await;
    let config = site_config("lang = \"ar\"\n[site.strings]\nheading_not_found = \"لا شيء هنا\"");
    let light = Light::start(&config, &upstream).await;
    let (status, _, page) = body(&light, "/gone").await;
    assert_eq!(status, 404);
    assert!(page.contains("<html lang=\"ar\" dir=\"rtl\">"), "{page}");
    assert!(page.contains("<h1>لا شيء هنا</h1>"), "{page}");
    assert!(
        page.contains("لا توجد هذه الصفحة في الموقع الأصلي."),
        "{page}"
    );
    light.stop().await;
    let err = lightmirror::config::parse(
        &site_config("[site.strings]\noriginal = \"x\"\nsaving = \"{pages}\"")
            .replace("{upstream}", "http://127.0.0.1:9"),
        "t.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("site[0].strings.original: unknown message key"),
        "{err}"
    );
    assert!(
        err.contains("site[0].strings.saving: uses {pages}"),
        "{err}"
    );
}

#[tokio::test]
async fn a_cjk_listing_keeps_its_headlines_pages_and_an_atom_feed() {
    let upstream = Upstream::start().await;
    upstream.route("/zh/", Reply::html(chinese_listing()));
    // The query rule keeps only `page`: the feed's own parameter must still work.
    let light = Light::start(&site_config("query = [\"page\"]"), &upstream).await;
    let (status, _, page) = body(&light, "/zh/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<li><a href=\"/zh/story-0\">港口防潮闸经受住第一个冬天的考验</a></li>"),
        "{page}"
    );
    assert_eq!(page.matches("<li>").count(), 10, "{page}");
    assert!(
        page.contains(
            "<link rel=\"alternate\" type=\"application/atom+xml\" href=\"/zh/?light=atom\" title=\"订阅\">"
        ),
        "{page}"
    );
    assert!(
        page.contains(
            "<a rel=\"next\" href=\"/zh/?page=2\">更早</a> · 第 \
             <a href=\"/zh/?page=2\">2</a> <a href=\"/zh/?page=3\">3</a> 页"
        ),
        "{page}"
    );

    let response = light.get("/zh/?light=atom").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    let xml = response.bytes().await.unwrap();
    assert_eq!(upstream.hits("/zh/"), 1, "the feed is the cached listing");
    assert_eq!(upstream.hits("/zh/?light=atom"), 0);
    let feed = atom_syndication::Feed::read_from(&xml[..]).expect("valid Atom");
    assert_eq!(feed.title.value, "国际新闻");
    assert_eq!(feed.lang.as_deref(), Some("zh"));
    assert_eq!(feed.entries.len(), 10);
    let first = &feed.entries[0];
    assert_eq!(first.title.value, "港口防潮闸经受住第一个冬天的考验");
    assert_eq!(first.links[0].href, "/zh/story-0");
    assert_eq!(first.id, upstream.url("/zh/story-0"));
    assert!(feed
        .links
        .iter()
        .any(|l| l.rel == "self" && l.href == "/zh/?light=atom"));
    // A second parser, of another lineage, reads the same feed.
    let parsed = feed_rs::parser::parse(&xml[..]).expect("feed-rs reads it");
    assert_eq!(parsed.entries.len(), 10);

    // An article has no feed.
    upstream.route("/fa/qanat", Reply::html(PERSIAN));
    let (status, _, page) = body(&light, "/fa/qanat?light=atom").await;
    assert_eq!(status, 404);
    assert!(page.contains("این صفحه فهرست نیست"), "{page}");
    light.stop().await;
}

#[tokio::test]
async fn upstream_rss_and_atom_feeds_become_light_listings() {
    let upstream = Upstream::start().await;
    let rss = RSS.replace("{upstream}", &upstream.url(""));
    upstream.route(
        "/city/rss",
        Reply::with(200, &[("content-type", "application/rss+xml")], rss),
    );
    upstream.route(
        "/atom.xml",
        Reply::with(200, &[("content-type", "application/atom+xml")], ATOM),
    );
    let light = Light::start(&site_config(""), &upstream).await;
    let (status, headers, page) = body(&light, "/city/rss").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(
        page.contains("<title>Harbour Ledger: City</title>"),
        "{page}"
    );
    assert!(
        page.contains(
            "<li><a href=\"/city/barrier\">Tidal barrier holds through its first winter</a> \
             <time datetime=\"2026-11-24T08:00:00Z\">2026-11-24</time> \
             <p>The barrier held through three storms.</p></li>"
        ),
        "{page}"
    );
    assert!(
        page.contains("<a href=\"/city/ferry\">Night ferry returns</a>"),
        "{page}"
    );
    assert!(!page.contains("Not a web page"), "{page}");
    let (_, _, page) = body(&light, "/atom.xml").await;
    assert!(
        page.contains("<a href=\"/city/quay-lights\">Quay lights switched to LEDs</a>"),
        "{page}"
    );
    assert!(page.contains("<p>Brighter and cheaper.</p>"), "{page}");
    // The listing made from a feed has its own Light feed too.
    let xml = light
        .get("/city/rss?light=atom")
        .await
        .bytes()
        .await
        .unwrap();
    let feed = atom_syndication::Feed::read_from(&xml[..]).expect("valid Atom");
    assert_eq!(feed.entries[0].links[0].href, "/city/barrier");
    assert_eq!(
        feed.entries[0].updated.to_rfc3339(),
        "2026-11-24T08:00:00+00:00"
    );
    light.stop().await;
}

#[tokio::test]
async fn the_search_form_leads_to_a_light_listing_of_results() {
    let upstream = Upstream::start().await;
    let mut results = String::from("<html><head><title>Search</title></head><body><p>Results</p>");
    for i in 0..3 {
        results.push_str(&format!(
            "<p><a href=\"/city/result-{i}\">Harbour result number {i} for the search</a></p>"
        ));
    }
    results.push_str("</body></html>");
    upstream.route("/search?q=harbour+news", Reply::html(results));
    upstream.route("/", Reply::html(PERSIAN));
    let config = site_config("search = \"/search?q={query}\"\nquery = [\"q\"]");
    let light = Light::start(&config, &upstream).await;
    let (_, headers, home) = body(&light, "/").await;
    assert!(
        home.contains(
            "<form role=\"search\" action=\"/search\"><input type=\"search\" name=\"q\" \
             aria-label=\"جستجو\"><button>جستجو</button></form></header>"
        ),
        "{home}"
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action 'self'"), "{csp}");
    let (status, _, page) = body(&light, "/search?q=harbour+news&utm_source=x").await;
    assert_eq!(status, 200);
    assert!(page.contains("<li><a href=\"/city/result-0\">"), "{page}");
    assert!(
        page.contains(
            "type=\"application/atom+xml\" href=\"/search?q=harbour+news&amp;light=atom\""
        ),
        "{page}"
    );
    assert_eq!(upstream.hits("/search?q=harbour+news"), 1);
    light.stop().await;
    let err = lightmirror::config::parse(
        &site_config("search = \"/search?q={query}\"\nquery = [\"page\"]")
            .replace("{upstream}", "http://127.0.0.1:9"),
        "t.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("site[0].search: parameter \"q\" is dropped"),
        "{err}"
    );
}

#[tokio::test]
async fn links_to_another_site_of_the_instance_open_on_its_light_host() {
    let upstream = Upstream::start().await;
    upstream.route(
        "/fa/qanat",
        Reply::html(PERSIAN.replace(
            "<p>شورای روستا",
            "<p><a href=\"https://www.sister.example/world/x\">خبر خواهر</a> شورای روستا",
        )),
    );
    let config = format!(
        "{}\n[[site]]\nname = \"sister\"\nupstream = \"https://sister.example\"\nhosts = [\"sister.light.test\"]\n",
        site_config("")
    );
    let light = Light::start(&config, &upstream).await;
    let (_, _, page) = body(&light, "/fa/qanat").await;
    assert!(
        page.contains("<a href=\"//sister.light.test/world/x\">خبر خواهر</a>"),
        "{page}"
    );
    light.stop().await;
}

#[tokio::test]
async fn save_data_readers_get_the_same_page() {
    let upstream = Upstream::start().await;
    upstream.route("/fa/qanat", Reply::html(PERSIAN));
    let light = Light::start(&site_config(""), &upstream).await;
    let plain = light.get("/fa/qanat").await;
    let vary = plain.headers()["vary"].clone();
    let plain = plain.text().await.unwrap();
    let saving = Light::client()
        .get(light.url("/fa/qanat"))
        .header("host", "light.test")
        .header("save-data", "on")
        .send()
        .await
        .unwrap();
    assert_eq!(saving.headers()["vary"], vary);
    assert_eq!(vary, "Accept-Encoding");
    assert_eq!(saving.text().await.unwrap(), plain);
    light.stop().await;
}
