//! Detection and whole-conversion speed on the corpus pages, single thread, for each corpus
//! beside the repository: Mozilla Readability's test pages (`../shared/corpus/readability`,
//! each case's `source.html`) and trafilatura's evaluation pages
//! (`../shared/corpus/trafilatura-dev`, the `pages/` its `cases.json` lists, each converted
//! as if fetched from its case's URL). For each of `extract` (parse and detection) and
//! `convert` (decoding, detection, the Light pass on the article, the page shell and the
//! plain text, as `lightmirror convert` runs them) it prints the median and p90 over pages
//! of each page's fastest of several runs (the run least disturbed by other work on the
//! machine), then lets criterion time each whole corpus. A corpus that is absent is skipped
//! with a note. First it prints how much of each corpus, and of the sample site's heavy
//! article, a page bound for detection holds once reduced as it arrives.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use lightmirror::config::{LimitsConfig, Site};
use lightmirror::convert::convert_document;
use lightmirror::demo::{Pages, ARTICLE_PATH};
use lightmirror::extract::{extract, Reducer, Rules};
use url::Url;

/// Runs per page; the fastest counts.
const RUNS: usize = 11;

/// Where the corpus pages were captured, for pages whose case names no URL.
const CASE_URL: &str = "http://fakehost/test/page.html";

/// One corpus page: the bytes as saved, as text for detection alone, and where it came from.
struct Page {
    bytes: Vec<u8>,
    html: String,
    url: Url,
    site: Arc<Site>,
}

impl Page {
    fn new(bytes: Vec<u8>, url: Url) -> Self {
        Self {
            html: String::from_utf8_lossy(&bytes).into_owned(),
            site: Arc::new(Site::ad_hoc(&url)),
            bytes,
            url,
        }
    }
}

fn corpus_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(name)
}

/// The readability corpus: every case directory's `source.html`, in name order.
fn readability_pages() -> Vec<Page> {
    let Ok(entries) = std::fs::read_dir(corpus_dir("readability")) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path().join("source.html"))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let url = Url::parse(CASE_URL).expect("case URL parses");
    paths
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .map(|bytes| Page::new(bytes, url.clone()))
        .collect()
}

/// One case of a passage corpus: only its page's file matters here.
#[derive(serde::Deserialize)]
struct Case {
    file: String,
}

/// The trafilatura corpus: the pages its `cases.json` lists, in key order, each from its
/// key's URL when the key is one.
fn trafilatura_pages() -> Vec<Page> {
    let dir = corpus_dir("trafilatura-dev");
    let Ok(json) = std::fs::read_to_string(dir.join("cases.json")) else {
        return Vec::new();
    };
    let Ok(cases) = serde_json::from_str::<BTreeMap<String, Case>>(&json) else {
        return Vec::new();
    };
    let fallback = Url::parse(CASE_URL).expect("case URL parses");
    cases
        .iter()
        .filter_map(|(key, case)| {
            let bytes = std::fs::read(dir.join("pages").join(&case.file)).ok()?;
            let url = Url::parse(key)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .unwrap_or_else(|| fallback.clone());
            Some(Page::new(bytes, url))
        })
        .collect()
}

/// Bytes of `html` left once reduced for detection, fed in 16 KiB chunks.
fn reduced(html: &[u8]) -> usize {
    let mut reducer = Reducer::new(false, LimitsConfig::default().rewriter_memory);
    for chunk in html.chunks(16 << 10) {
        if reducer.write(chunk).is_err() {
            return html.len();
        }
    }
    reducer.end().map_or(html.len(), |page| page.len())
}

fn report_reduction<'a>(label: &str, pages: impl Iterator<Item = &'a [u8]>) {
    let (raw, kept) = pages.fold((0, 0), |(raw, kept), html| {
        (raw + html.len(), kept + reduced(html))
    });
    eprintln!(
        "{label}: detection holds {kept} of {raw} bytes once reduced ({:.0}%)",
        100.0 * kept as f64 / raw as f64
    );
}

/// Prints the median, p90 and maximum over pages of each page's fastest run of `run`.
fn report(label: &str, pages: &[Page], run: impl Fn(&Page)) {
    let mut per_page: Vec<f64> = pages
        .iter()
        .map(|page| {
            (0..RUNS)
                .map(|_| {
                    let t = Instant::now();
                    run(black_box(page));
                    t.elapsed().as_secs_f64() * 1e3
                })
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    per_page.sort_by(f64::total_cmp);
    eprintln!(
        "{label} over {} pages, fastest of {RUNS} runs each: median {:.3} ms/page, \
         p90 {:.3} ms, max {:.3} ms",
        pages.len(),
        per_page[per_page.len() / 2],
        per_page[per_page.len() * 9 / 10],
        per_page[per_page.len() - 1],
    );
}

fn detect(page: &Page) {
    black_box(extract(&page.html, &page.url, &Rules::default()));
}

fn convert(page: &Page) {
    let limits = LimitsConfig::default();
    black_box(convert_document(&page.site, &page.url, &limits, None, &page.bytes).ok());
}

fn bench(c: &mut Criterion) {
    let article = Pages::render("http://127.0.0.1:8081")
        .get(ARTICLE_PATH)
        .map(|page| page.body.to_vec())
        .unwrap_or_default();
    report_reduction("demo article", std::iter::once(article.as_slice()));
    let corpora = [
        ("readability", readability_pages()),
        ("trafilatura-dev", trafilatura_pages()),
    ];
    for (name, pages) in &corpora {
        if pages.is_empty() {
            eprintln!("{name}: corpus not found beside the repository; skipped");
            continue;
        }
        report_reduction(name, pages.iter().map(|p| p.bytes.as_slice()));
        report(&format!("{name}: extract"), pages, detect);
        report(&format!("{name}: convert"), pages, convert);
        let mut group = c.benchmark_group(*name);
        group.sample_size(10);
        group.bench_function("extract", |b| b.iter(|| pages.iter().for_each(detect)));
        group.bench_function("convert", |b| b.iter(|| pages.iter().for_each(convert)));
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
