//! Throughput of the streaming Light pass on real pages: every `source.html` of the shared
//! Readability corpus (`../shared/corpus/readability/*/`, skipped with a note when absent)
//! as one batch, and the sample site's heavy article with and without the rules of the
//! streaming site in `config/demo.toml`. Pages are decoded to UTF-8 beforehand and fed in 16 KiB chunks, as they arrive
//! from an upstream.
//!
//! ```text
//! CARGO_TARGET_DIR=... cargo bench --bench rewrite
//! ```

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lightmirror::config::LimitsConfig;
use lightmirror::demo::{Pages, ARTICLE_PATH};
use lightmirror::rewrite::{LightOptions, LightRewriter};
use url::Url;

/// Upstream chunk size the pages are fed in.
const CHUNK: usize = 16 << 10;

struct Document {
    url: Url,
    html: String,
}

fn corpus() -> Option<Vec<Document>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/readability");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("source.html")))
        .filter(|path| path.is_file())
        .collect();
    cases.sort();
    let documents: Vec<Document> = cases
        .iter()
        .filter_map(|path| {
            let bytes = std::fs::read(path).ok()?;
            let case = path.parent()?.file_name()?.to_string_lossy().into_owned();
            Some(Document {
                url: Url::parse(&format!("https://www.example.com/{case}/")).ok()?,
                html: lightmirror::decode::decode_all(None, &bytes),
            })
        })
        .collect();
    (!documents.is_empty()).then_some(documents)
}

/// One streaming pass; returns the Light body's size so the work cannot be optimised out.
fn light_pass(document: &Document, content: &[String], remove: &[String], memory: usize) -> usize {
    let upstream = Url::parse(&document.url.origin().ascii_serialization()).unwrap();
    let options = LightOptions {
        page_url: &document.url,
        upstream: &upstream,
        siblings: &[],
        content,
        remove,
        memory_limit: memory,
        max_nesting: LimitsConfig::default().max_nesting,
    };
    let mut rewriter = LightRewriter::new(&options).unwrap();
    let mut out = 0;
    for chunk in document.html.as_bytes().chunks(CHUNK) {
        // A page the pass refuses (ambiguous markup, memory) still cost the time it took.
        if rewriter.write(chunk).is_err() {
            return out;
        }
        out += rewriter.take_output().len();
    }
    out + rewriter.end().map_or(0, |rest| rest.len())
}

fn bench(c: &mut Criterion) {
    let memory = LimitsConfig::default().rewriter_memory;
    let mut group = c.benchmark_group("light_pass");

    match corpus() {
        Some(documents) => {
            let bytes: usize = documents.iter().map(|d| d.html.len()).sum();
            eprintln!(
                "readability corpus: {} pages, {bytes} bytes",
                documents.len()
            );
            group.throughput(Throughput::Bytes(bytes as u64));
            group.bench_function("readability_corpus", |b| {
                b.iter(|| {
                    documents
                        .iter()
                        .map(|d| light_pass(d, &[], &[], memory))
                        .sum::<usize>()
                })
            });
        }
        None => eprintln!(
            "note: ../shared/corpus/readability not found; benching the demo article only"
        ),
    }

    let origin = "http://127.0.0.1:8081";
    let pages = Pages::render(origin);
    let article = Document {
        url: Url::parse(&format!("{origin}{ARTICLE_PATH}")).unwrap(),
        html: String::from_utf8(pages.get(ARTICLE_PATH).unwrap().body.to_vec()).unwrap(),
    };
    eprintln!("demo article: {} bytes", article.html.len());
    let demo = include_str!("../config/demo.toml");
    let (_, sites) = lightmirror::config::parse(demo, "config/demo.toml").unwrap();
    let streaming = &sites[0];
    group.throughput(Throughput::Bytes(article.html.len() as u64));
    group.bench_function("demo_article_whole_page", |b| {
        b.iter(|| light_pass(&article, &[], &[], memory))
    });
    group.bench_function("demo_article_site_rules", |b| {
        b.iter(|| light_pass(&article, &streaming.content, &streaming.remove, memory))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
