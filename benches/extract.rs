//! Reduce-and-extract speed on the corpus pages, single thread: prints the median over pages
//! of each page's fastest of several runs (the run least disturbed by other work on the
//! machine), then lets criterion time the whole corpus and each stage. Skips when the
//! corpus (`../shared/corpus/readability` beside the repository) is absent.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use lightmirror::extract::{extract, extract_reduced, Reducer, Rules};

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

fn reduce(html: &str) -> String {
    let mut r = Reducer::new(&Rules::default(), 64 << 20);
    r.write(html.as_bytes()).expect("reduces");
    r.finish().unwrap_or_else(|_| html.to_string())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench(c: &mut Criterion) {
    let pages = pages();
    if pages.is_empty() {
        eprintln!("corpus not found beside the repository; skipping the extract bench");
        return;
    }
    let url = url::Url::parse("http://fakehost/test/page.html").expect("url");
    let rules = Rules::default();
    let per_page: Vec<f64> = pages
        .iter()
        .map(|html| {
            (0..RUNS)
                .map(|_| {
                    let t = Instant::now();
                    black_box(extract(black_box(html), &url, &rules).ok());
                    t.elapsed().as_secs_f64() * 1e3
                })
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    let mut sorted = per_page.clone();
    sorted.sort_by(f64::total_cmp);
    eprintln!(
        "reduce+extract over {} pages, fastest of {RUNS} runs each: median {:.3} ms/page, \
         p90 {:.3} ms, max {:.3} ms",
        pages.len(),
        median(per_page),
        sorted[sorted.len() * 9 / 10],
        sorted[sorted.len() - 1],
    );
    let reduced: Vec<String> = pages.iter().map(|h| reduce(h)).collect();
    let mut group = c.benchmark_group("corpus");
    group.sample_size(10);
    group.bench_function("reduce+extract", |b| {
        b.iter(|| {
            for html in &pages {
                black_box(extract(html, &url, &rules).ok());
            }
        })
    });
    group.bench_function("reduce", |b| {
        b.iter(|| {
            for html in &pages {
                black_box(reduce(html));
            }
        })
    });
    group.bench_function("extract_reduced", |b| {
        b.iter(|| {
            for html in &reduced {
                black_box(extract_reduced(html, &url, &rules));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
