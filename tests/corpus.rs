//! Detection quality on the two corpora shared beside the project (`../shared/corpus`):
//! Readability's test pages scored by shingles against Readability's output, and
//! trafilatura's multilingual evaluation pages scored by human-chosen passages. Each run
//! must keep its floor. The corpora are not part of the repository: a checkout without
//! them skips with a note, unless `LIGHTMIRROR_REQUIRE_CORPUS=1` asks for them.
//!
//! `LIGHTMIRROR_EVAL_DUMP=DIR` writes each corpus's predictions (and the Readability
//! corpus's expected texts) there in the reference scripts' format.

use std::path::{Path, PathBuf};

use lightmirror::eval::{self, prediction_json, EvalArgs, Report};

/// Shingle F1 on the Readability corpus: its expected output copies Readability's own
/// choices (captions, link blocks), so a little of it may be traded for unseen pages.
const READABILITY_FLOOR: f64 = 0.98;

/// Passage F1 on the trafilatura corpus, a little under the measured figure.
const TRAFILATURA_FLOOR: f64 = 0.945;

/// Most pages of the trafilatura corpus allowed to have none of their passages found: a
/// page served without any of its article is the failure readers notice most.
const TRAFILATURA_MAX_MISSED_PAGES: usize = 5;

fn corpus(name: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(name);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("LIGHTMIRROR_REQUIRE_CORPUS").as_deref() != Ok("1"),
        "LIGHTMIRROR_REQUIRE_CORPUS=1 but {} is absent",
        dir.display()
    );
    eprintln!(
        "note: {} not found beside the repository; skipping its evaluation",
        dir.display()
    );
    None
}

fn dump(name: &str) -> Option<PathBuf> {
    std::env::var_os("LIGHTMIRROR_EVAL_DUMP").map(|d| PathBuf::from(d).join(name))
}

#[test]
fn readability_corpus_reaches_its_floor() {
    let Some(dir) = corpus("readability") else {
        return;
    };
    if let Some(out) = dump("readability-truth.json") {
        let preds = eval::predictions(&dir).expect("corpus evaluates");
        let texts: Vec<_> = preds
            .iter()
            .map(|p| (p.case.clone(), p.expected_text.clone()))
            .collect();
        std::fs::write(out, prediction_json(&texts)).unwrap();
    }
    let report = eval::run(&EvalArgs {
        corpus: dir,
        floor: Some(READABILITY_FLOOR),
        dump: dump("readability-pred.json"),
    })
    .expect("corpus evaluates");
    println!("{report}");
    assert!(report.passes(), "{report}");
}

#[test]
fn trafilatura_corpus_reaches_its_floor() {
    let Some(dir) = corpus("trafilatura-dev") else {
        return;
    };
    let report = eval::run(&EvalArgs {
        corpus: dir,
        floor: Some(TRAFILATURA_FLOOR),
        dump: dump("trafilatura-pred.json"),
    })
    .expect("corpus evaluates");
    println!("{report}");
    assert!(report.passes(), "{report}");
    let Report::Snippet(snippets) = &report else {
        panic!("the trafilatura corpus is scored by passages: {report}");
    };
    let missed = snippets
        .pages
        .iter()
        .filter(|p| p.counts.tp == 0 && p.counts.fn_ > 0)
        .count();
    assert!(missed <= TRAFILATURA_MAX_MISSED_PAGES, "{report}");
}
