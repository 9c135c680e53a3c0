//! Throughput of the streaming Light pass on real pages: every `source.html` of the shared
//! Readability corpus (`../shared/corpus/readability/*/`, skipped with a note when absent)
//! as one batch, and the sample site's heavy article with and without the rules of the
//! streaming site in `config/demo.toml`. Pages are decoded to UTF-8 beforehand and fed in
//! 16 KiB chunks, as they arrive from an upstream.
//!
//! Beside the Light pass it times a bare lol_html pass (no handlers) over the same corpus
//! pages in the same chunks, the parser's own cost, and a pass with the two handlers the
//! Light pass cannot do without (one on every element, one on every text chunk) doing
//! nothing: what lol_html costs once it hands every token out. Before criterion's own
//! figures it prints the three, each the median of alternate rounds (so all see the same
//! load on a shared machine), and the ratios.
//!
//! Both run on the binary's allocator (jemalloc), so allocation costs what it costs in
//! the server.
//!
//! ```text
//! CARGO_TARGET_DIR=... cargo bench --bench rewrite
//! ```

use std::path::PathBuf;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lightmirror::config::LimitsConfig;
use lightmirror::demo::{Pages, ARTICLE_PATH};
use lightmirror::rewrite::{LightOptions, LightRewriter, MediaWords};
use lol_html::{doc_text, element, HtmlRewriter, Selector, Settings};
use url::Url;

#[cfg(all(unix, not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Upstream chunk size the pages are fed in.
const CHUNK: usize = 16 << 10;

/// Alternate rounds of the Light and the bare pass for the printed comparison.
const ROUNDS: usize = 9;

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
fn light_pass(
    document: &Document,
    content: &[Selector],
    remove: &[Selector],
    memory: usize,
) -> usize {
    let upstream = Url::parse(&document.url.origin().ascii_serialization()).unwrap();
    let options = LightOptions {
        page_url: &document.url,
        upstream: &upstream,
        siblings: &[],
        content,
        remove,
        memory_limit: memory,
        max_nesting: LimitsConfig::default().max_nesting,
        images: None,
        words: MediaWords::default(),
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

/// A lol_html pass with no handlers; returns the output's size.
fn bare_pass(document: &Document) -> usize {
    lol_html_pass(document, Settings::new())
}

/// A lol_html pass whose handlers on every element, end tag and text chunk do
/// nothing: the per-token cost lol_html charges any pass that, like the Light
/// pass, must see each element close (to track depth) and each text chunk.
fn idle_handlers_pass(document: &Document) -> usize {
    let settings = Settings {
        element_content_handlers: vec![element!("*", |el| {
            if el.can_have_content() {
                let ignore_end: lol_html::EndTagHandler<'static> = Box::new(|_| Ok(()));
                el.on_end_tag(ignore_end)?;
            }
            Ok(())
        })],
        document_content_handlers: vec![doc_text!(|_| Ok(()))],
        ..Settings::new()
    };
    lol_html_pass(document, settings)
}

fn lol_html_pass(document: &Document, settings: Settings<'_, '_>) -> usize {
    let mut out = 0;
    let mut rewriter = HtmlRewriter::new(settings, |bytes: &[u8]| out += bytes.len());
    for chunk in document.html.as_bytes().chunks(CHUNK) {
        if rewriter.write(chunk).is_err() {
            break;
        }
    }
    let _ = rewriter.end();
    out
}

/// Prints the median throughput of each pass over `documents` and their ratio.
fn compare(documents: &[Document], memory: usize) {
    let bytes: usize = documents.iter().map(|d| d.html.len()).sum();
    let mut light = Vec::new();
    let mut bare = Vec::new();
    let mut idle = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        std::hint::black_box(
            documents
                .iter()
                .map(|d| light_pass(d, &[], &[], memory))
                .sum::<usize>(),
        );
        light.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        std::hint::black_box(documents.iter().map(bare_pass).sum::<usize>());
        bare.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        std::hint::black_box(documents.iter().map(idle_handlers_pass).sum::<usize>());
        idle.push(t.elapsed().as_secs_f64());
    }
    let median = |times: &mut Vec<f64>| {
        times.sort_by(f64::total_cmp);
        bytes as f64 / times[times.len() / 2] / 1e6
    };
    let (light, bare, idle) = (median(&mut light), median(&mut bare), median(&mut idle));
    eprintln!(
        "corpus, median of {ROUNDS} alternate rounds: Light pass {light:.0} MB/s, \
         bare lol_html pass {bare:.0} MB/s (bare/Light {:.2}), \
         idle element, end-tag and text handlers {idle:.0} MB/s (idle/Light {:.2})",
        bare / light,
        idle / light
    );
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
            compare(&documents, memory);
            group.throughput(Throughput::Bytes(bytes as u64));
            group.bench_function("readability_corpus", |b| {
                b.iter(|| {
                    documents
                        .iter()
                        .map(|d| light_pass(d, &[], &[], memory))
                        .sum::<usize>()
                })
            });
            group.bench_function("readability_corpus_bare_lol_html", |b| {
                b.iter(|| documents.iter().map(bare_pass).sum::<usize>())
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
    let parsed = |selectors: &[String]| -> Vec<Selector> {
        selectors.iter().map(|s| s.parse().unwrap()).collect()
    };
    let (content, remove) = (parsed(&streaming.content), parsed(&streaming.remove));
    group.throughput(Throughput::Bytes(article.html.len() as u64));
    group.bench_function("demo_article_whole_page", |b| {
        b.iter(|| light_pass(&article, &[], &[], memory))
    });
    group.bench_function("demo_article_site_rules", |b| {
        b.iter(|| light_pass(&article, &content, &remove, memory))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
