//! Detection and whole-conversion speed on the corpus pages, single thread. For each of
//! `extract` (parse and detection) and `convert` (decoding, detection, the Light pass on
//! the article, the page shell and the plain text, as `lightmirror convert` runs them) it
//! prints the median over pages of each page's fastest of several runs (the run least
//! disturbed by other work on the machine), then lets criterion time the whole corpus.
//! Skips when the corpus (`../shared/corpus/readability` beside the repository) is absent.
//! First it prints how much of the corpus, and of the sample site's heavy article, a page
//! bound for detection holds once reduced as it arrives.

use std::hint::black_box;
use std::path::Path;
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

fn pages() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/readability");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path().join("source.html"))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect()
}

/// Bytes of `html` left once reduced for detection, fed in 16 KiB chunks.
fn reduced(html: &str) -> usize {
    let mut reducer = Reducer::new(false, LimitsConfig::default().rewriter_memory);
    for chunk in html.as_bytes().chunks(16 << 10) {
        if reducer.write(chunk).is_err() {
            return html.len();
        }
    }
    reducer.end().map_or(html.len(), |page| page.len())
}

fn report_reduction(label: &str, pages: &[String]) {
    let raw: usize = pages.iter().map(String::len).sum();
    let kept: usize = pages.iter().map(|html| reduced(html)).sum();
    eprintln!(
        "{label}: detection holds {kept} of {raw} bytes once reduced ({:.0}%)",
        100.0 * kept as f64 / raw as f64
    );
}

/// Prints the median, p90 and maximum over pages of each page's fastest run of `run`.
fn report(label: &str, pages: &[String], run: impl Fn(&str)) {
    let mut per_page: Vec<f64> = pages
        .iter()
        .map(|html| {
            (0..RUNS)
                .map(|_| {
                    let t = Instant::now();
                    run(black_box(html));
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

fn bench(c: &mut Criterion) {
    let pages = pages();
    if pages.is_empty() {
        eprintln!("corpus not found beside the repository; skipping the extract bench");
        return;
    }
    let url = Url::parse("http://fakehost/test/page.html").expect("url");
    let site = Arc::new(Site::ad_hoc(&url));
    let limits = LimitsConfig::default();
    let rules = Rules::default();
    let detect = |html: &str| {
        black_box(extract(html, &url, &rules));
    };
    let convert = |html: &str| {
        black_box(convert_document(&site, &url, &limits, None, html.as_bytes()).ok());
    };
    let article = Pages::render("http://127.0.0.1:8081")
        .get(ARTICLE_PATH)
        .map(|page| String::from_utf8_lossy(&page.body).into_owned())
        .unwrap_or_default();
    report_reduction("demo article", &[article]);
    report_reduction("corpus", &pages);
    report("extract", &pages, detect);
    report("convert", &pages, convert);
    let mut group = c.benchmark_group("corpus");
    group.sample_size(10);
    group.bench_function("extract", |b| {
        b.iter(|| pages.iter().for_each(|h| detect(h)))
    });
    group.bench_function("convert", |b| {
        b.iter(|| pages.iter().for_each(|h| convert(h)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
