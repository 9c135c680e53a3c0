//! Measuring extraction against a corpus of pages with known answers. Two layouts:
//!
//! - one directory per case (`source.html`, `expected.html`, `expected-metadata.json`):
//!   body text by token 4-gram overlap (the shingle F1 of public extraction benchmarks,
//!   computed exactly as `shared/tools/shingle_f1.py` does), title and byline by
//!   normalised equality;
//! - a `cases.json` beside a `pages/` directory, each case listing passages a good
//!   extraction contains and boilerplate it leaves out: scored by passage, exactly as
//!   `shared/tools/snippet_score.py` does.
//!
//! Either way every page goes through the same conversion a reader gets
//! ([`crate::convert`]) and its plain text is scored; nothing here tunes anything.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use regex::Regex;

use crate::config::{LimitsConfig, Site};
use crate::convert::{convert_document, ConvertError};
use crate::extract::to_text;

/// Base URL the corpus pages were captured under.
const CASE_URL: &str = "http://fakehost/test/page.html";

/// F1 below which a case is listed as a failure.
const WEAK_F1: f64 = 0.5;

/// Python's `\w+` on text: letters, numbers and underscore, Unicode-aware.
static WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\p{L}\p{N}_]+").expect("word pattern compiles"));

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalArgs {
    /// Directory of cases, each `<case>/{source.html, expected.html, expected-metadata.json}`,
    /// or a passage corpus: `cases.json` beside `pages/`.
    pub corpus: PathBuf,
    /// Overall F1 the run must reach to pass; none passes always.
    pub floor: Option<f64>,
    /// Where to write the extracted texts as `{case: {"articleBody": text}}`, the
    /// prediction format of the reference scripts.
    pub dump: Option<PathBuf>,
}

/// The result of a run, by corpus layout.
#[derive(Debug, Clone)]
pub enum Report {
    /// A corpus of expected articles, scored by shingles.
    Shingle(EvalReport),
    /// A corpus of passages, scored by passage.
    Snippet(SnippetReport),
}

impl Report {
    /// Whether overall F1 reaches the floor (always, without one).
    pub fn passes(&self) -> bool {
        match self {
            Report::Shingle(r) => r.passes(),
            Report::Snippet(r) => r.passes(),
        }
    }
}

/// The report's last line, when a floor is set: the floor and whether it is met.
fn write_floor(f: &mut fmt::Formatter<'_>, floor: Option<f64>, passes: bool) -> fmt::Result {
    match floor {
        Some(floor) => writeln!(
            f,
            "floor {floor:.4}: {}",
            if passes { "pass" } else { "FAIL" }
        ),
        None => Ok(()),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Report::Shingle(r) => r.fmt(f),
            Report::Snippet(r) => r.fmt(f),
        }
    }
}

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A corpus file or directory could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A case's metadata is not valid JSON.
    #[error("parsing {path}: {source}")]
    Json {
        /// The metadata file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// Conversion failed on a case.
    #[error("converting case {case}: {source}")]
    Convert {
        /// The case name.
        case: String,
        /// The underlying error.
        source: ConvertError,
    },
    /// The corpus holds no cases.
    #[error("no cases under {0}")]
    Empty(PathBuf),
    /// The predictions could not be written.
    #[error("writing {path}: {source}")]
    Dump {
        /// The dump file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Scores of one case.
#[derive(Debug, Clone)]
pub struct CaseScore {
    /// Case name (its directory).
    pub case: String,
    /// Shingle precision.
    pub precision: f64,
    /// Shingle recall.
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
    /// Whether the extracted title matches the expected one.
    pub title_ok: bool,
    /// Whether the extracted byline matches the expected one (both absent counts).
    pub byline_ok: bool,
}

/// Result of a run.
#[derive(Debug, Clone)]
pub struct EvalReport {
    /// Per-case scores, by case name.
    pub cases: Vec<CaseScore>,
    /// Mean precision over cases with predicted shingles.
    pub precision: f64,
    /// Mean recall over cases with expected shingles.
    pub recall: f64,
    /// F1 of the two means.
    pub f1: f64,
    /// Share of cases with the right title.
    pub title_accuracy: f64,
    /// Share of cases with the right byline.
    pub byline_accuracy: f64,
    /// The floor asked for.
    pub floor: Option<f64>,
}

impl EvalReport {
    /// Whether overall F1 reaches the floor (always, without one).
    pub fn passes(&self) -> bool {
        self.floor.is_none_or(|f| self.f1 >= f)
    }

    /// Cases scoring below 0.5 F1.
    pub(crate) fn weak_cases(&self) -> impl Iterator<Item = &CaseScore> {
        self.cases.iter().filter(|c| c.f1 < WEAK_F1)
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.cases {
            writeln!(
                f,
                "{:<44} P {:.3}  R {:.3}  F1 {:.3}  title {}  byline {}",
                c.case,
                c.precision,
                c.recall,
                c.f1,
                if c.title_ok { "ok" } else { "--" },
                if c.byline_ok { "ok" } else { "--" },
            )?;
        }
        writeln!(
            f,
            "overall: F1 {:.4}  precision {:.4}  recall {:.4}  over {} cases",
            self.f1,
            self.precision,
            self.recall,
            self.cases.len()
        )?;
        writeln!(
            f,
            "title accuracy {:.3}  byline accuracy {:.3}",
            self.title_accuracy, self.byline_accuracy
        )?;
        let weak: Vec<&str> = self.weak_cases().map(|c| c.case.as_str()).collect();
        writeln!(
            f,
            "cases below {WEAK_F1}: {} {}",
            weak.len(),
            weak.join(" ")
        )?;
        write_floor(f, self.floor, self.passes())
    }
}

/// One case's texts and metadata, expected and predicted.
#[derive(Debug, Clone)]
pub struct Prediction {
    /// Case name.
    pub case: String,
    /// Text of the expected article.
    pub expected_text: String,
    /// Text of the extracted article.
    pub predicted_text: String,
    /// Expected title and byline.
    pub expected: (Option<String>, Option<String>),
    /// Extracted title and byline.
    pub predicted: (Option<String>, Option<String>),
}

fn read(path: &Path) -> Result<String, EvalError> {
    std::fs::read_to_string(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Extracts every case of the corpus.
pub fn predictions(corpus: &Path) -> Result<Vec<Prediction>, EvalError> {
    let io = |source| EvalError::Io {
        path: corpus.to_path_buf(),
        source,
    };
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus)
        .map_err(io)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("source.html").is_file())
        .collect();
    cases.sort();
    if cases.is_empty() {
        return Err(EvalError::Empty(corpus.to_path_buf()));
    }
    let url = url::Url::parse(CASE_URL).expect("case URL parses");
    let mut out = Vec::with_capacity(cases.len());
    for dir in cases {
        let case = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let source = read(&dir.join("source.html"))?;
        let expected_html = read(&dir.join("expected.html"))?;
        let meta_path = dir.join("expected-metadata.json");
        let meta: serde_json::Value =
            serde_json::from_str(&read(&meta_path)?).map_err(|source| EvalError::Json {
                path: meta_path.clone(),
                source,
            })?;
        let site = Arc::new(Site::ad_hoc(&url));
        let (_, got) = convert_document(
            &site,
            &url,
            &LimitsConfig::default(),
            None,
            source.as_bytes(),
        )
        .map_err(|source| EvalError::Convert {
            case: case.clone(),
            source,
        })?;
        let field = |k: &str| meta.get(k).and_then(|v| v.as_str()).map(str::to_string);
        out.push(Prediction {
            expected_text: to_text(&expected_html),
            predicted_text: got.text,
            expected: (field("title"), field("byline")),
            predicted: (got.meta.title, got.meta.byline),
            case,
        });
    }
    Ok(out)
}

/// Scores a corpus of either layout; see the module docs.
pub fn run(args: &EvalArgs) -> Result<Report, EvalError> {
    let (texts, report) = if is_snippet_corpus(&args.corpus) {
        let cases = snippet_cases(&args.corpus)?;
        let texts = snippet_predictions(&args.corpus, &cases)?;
        let report = Report::Snippet(snippet_score(&cases, &texts, args.floor));
        (texts, report)
    } else {
        let preds = predictions(&args.corpus)?;
        let texts = preds
            .iter()
            .map(|p| (p.case.clone(), p.predicted_text.clone()))
            .collect();
        (texts, Report::Shingle(score(&preds, args.floor)))
    };
    if let Some(path) = &args.dump {
        std::fs::write(path, prediction_json(&texts)).map_err(|source| EvalError::Dump {
            path: path.clone(),
            source,
        })?;
    }
    Ok(report)
}

/// Texts by case in the reference scripts' prediction format.
pub fn prediction_json(texts: &[(String, String)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = texts
        .iter()
        .map(|(case, text)| (case.clone(), serde_json::json!({ "articleBody": text })))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// Plain text of the conversion a reader gets of `bytes`, fetched from `url`.
fn convert_text(case: &str, url: &url::Url, bytes: &[u8]) -> Result<String, EvalError> {
    let site = Arc::new(Site::ad_hoc(url));
    let (_, got) =
        convert_document(&site, url, &LimitsConfig::default(), None, bytes).map_err(|source| {
            EvalError::Convert {
                case: case.to_string(),
                source,
            }
        })?;
    Ok(got.text)
}

/// One page of a passage corpus.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct SnippetCase {
    /// The page's file under `pages/`.
    pub file: String,
    /// Passages of the article a good extraction contains.
    pub with: Vec<String>,
    /// Boilerplate passages it leaves out.
    pub without: Vec<String>,
}

/// Whether `dir` is a passage corpus (`cases.json` beside `pages/`).
pub(crate) fn is_snippet_corpus(dir: &Path) -> bool {
    dir.join("cases.json").is_file() && dir.join("pages").is_dir()
}

/// The cases of a passage corpus, by key (a page URL or a label), in key order.
pub(crate) fn snippet_cases(dir: &Path) -> Result<Vec<(String, SnippetCase)>, EvalError> {
    let path = dir.join("cases.json");
    let cases: std::collections::BTreeMap<String, SnippetCase> =
        serde_json::from_str(&read(&path)?).map_err(|source| EvalError::Json {
            path: path.clone(),
            source,
        })?;
    if cases.is_empty() {
        return Err(EvalError::Empty(dir.to_path_buf()));
    }
    Ok(cases.into_iter().collect())
}

/// The plain text of every page of a passage corpus, by key. A key that is not an
/// absolute URL is a label: its page converts as if fetched from [`CASE_URL`].
pub(crate) fn snippet_predictions(
    dir: &Path,
    cases: &[(String, SnippetCase)],
) -> Result<Vec<(String, String)>, EvalError> {
    let fallback = url::Url::parse(CASE_URL).expect("case URL parses");
    cases
        .iter()
        .map(|(key, case)| {
            let path = dir.join("pages").join(&case.file);
            let bytes = std::fs::read(&path).map_err(|source| EvalError::Io { path, source })?;
            let url = url::Url::parse(key)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .unwrap_or_else(|| fallback.clone());
            Ok((key.clone(), convert_text(key, &url, &bytes)?))
        })
        .collect()
}

/// Passage counts of one page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnippetCounts {
    /// `with` passages found.
    pub tp: usize,
    /// `without` passages found.
    pub fp: usize,
    /// `with` passages missing.
    pub fn_: usize,
    /// `without` passages absent.
    pub tn: usize,
}

impl SnippetCounts {
    fn add(&mut self, o: &SnippetCounts) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
        self.tn += o.tn;
    }
}

/// Scores of one page of a passage corpus.
#[derive(Debug, Clone)]
pub struct SnippetPage {
    /// The case's key.
    pub case: String,
    /// Its passage counts.
    pub counts: SnippetCounts,
}

/// Result of a passage-corpus run.
#[derive(Debug, Clone)]
pub struct SnippetReport {
    /// Per-page counts, in key order.
    pub pages: Vec<SnippetPage>,
    /// Counts over all pages.
    pub total: SnippetCounts,
    /// tp / (tp + fp).
    pub precision: f64,
    /// tp / (tp + fn).
    pub recall: f64,
    /// 2tp / (2tp + fp + fn).
    pub f1: f64,
    /// (tp + tn) / all.
    pub accuracy: f64,
    /// The floor asked for.
    pub floor: Option<f64>,
}

/// How many pages with most errors the report lists.
const WORST: usize = 25;

impl SnippetReport {
    /// Whether overall F1 reaches the floor (always, without one).
    pub fn passes(&self) -> bool {
        self.floor.is_none_or(|f| self.f1 >= f)
    }

    /// Pages where none of the `with` passages was found.
    pub(crate) fn missed_pages(&self) -> impl Iterator<Item = &SnippetPage> {
        self.pages
            .iter()
            .filter(|p| p.counts.tp == 0 && p.counts.fn_ > 0)
    }
}

impl fmt::Display for SnippetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut worst: Vec<&SnippetPage> = self.pages.iter().collect();
        worst.sort_by_key(|p| std::cmp::Reverse(p.counts.fn_ + p.counts.fp));
        writeln!(f, "pages with most errors:")?;
        for p in worst
            .iter()
            .take(WORST)
            .filter(|p| p.counts.fn_ + p.counts.fp > 0)
        {
            writeln!(
                f,
                "  {:3} errors ({} missed, {} boilerplate)  {}",
                p.counts.fn_ + p.counts.fp,
                p.counts.fn_,
                p.counts.fp,
                p.case
            )?;
        }
        let missed: Vec<&str> = self.missed_pages().map(|p| p.case.as_str()).collect();
        writeln!(f, "pages with none of their passages: {}", missed.len())?;
        for case in &missed {
            writeln!(f, "  {case}")?;
        }
        let t = &self.total;
        writeln!(
            f,
            "overall: F1 {:.4}  precision {:.4}  recall {:.4}  accuracy {:.4}  over {} pages \
             (tp {} fp {} fn {} tn {})",
            self.f1,
            self.precision,
            self.recall,
            self.accuracy,
            self.pages.len(),
            t.tp,
            t.fp,
            t.fn_,
            t.tn
        )?;
        write_floor(f, self.floor, self.passes())
    }
}

/// Text with every run of white space collapsed to one space and the ends trimmed, as
/// the reference script's `squash`: Python's `\s` is Unicode white space, as Rust's.
fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Passage counts of one page's text.
pub(crate) fn snippet_counts(case: &SnippetCase, text: &str) -> SnippetCounts {
    let text = squash(text);
    let found = |s: &String| text.contains(&squash(s));
    let tp = case.with.iter().filter(|s| found(s)).count();
    let fp = case.without.iter().filter(|s| found(s)).count();
    SnippetCounts {
        tp,
        fp,
        fn_: case.with.len() - tp,
        tn: case.without.len() - fp,
    }
}

/// Scores the texts of a passage corpus as the reference script does; a case without a
/// text counts as an empty extraction.
pub(crate) fn snippet_score(
    cases: &[(String, SnippetCase)],
    texts: &[(String, String)],
    floor: Option<f64>,
) -> SnippetReport {
    let by_key: HashMap<&str, &str> = texts
        .iter()
        .map(|(k, t)| (k.as_str(), t.as_str()))
        .collect();
    let mut total = SnippetCounts::default();
    let pages: Vec<SnippetPage> = cases
        .iter()
        .map(|(key, case)| {
            let counts = snippet_counts(case, by_key.get(key.as_str()).copied().unwrap_or(""));
            total.add(&counts);
            SnippetPage {
                case: key.clone(),
                counts,
            }
        })
        .collect();
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let t = &total;
    SnippetReport {
        precision: ratio(t.tp, t.tp + t.fp),
        recall: ratio(t.tp, t.tp + t.fn_),
        f1: ratio(2 * t.tp, 2 * t.tp + t.fp + t.fn_),
        accuracy: ratio(t.tp + t.tn, t.tp + t.fp + t.fn_ + t.tn),
        pages,
        total,
        floor,
    }
}

/// Token 4-gram counts of a text, as the reference script builds them.
fn shingles(text: &str) -> HashMap<Vec<&str>, usize> {
    let toks: Vec<&str> = WORD.find_iter(text).map(|m| m.as_str()).collect();
    let mut out = HashMap::new();
    if toks.is_empty() {
        return out;
    }
    let n = toks.len().saturating_sub(3).max(1);
    for i in 0..n {
        let end = (i + 4).min(toks.len());
        *out.entry(toks[i..end].to_vec()).or_insert(0) += 1;
    }
    out
}

/// tp, fp and fn of one document, normalised to sum 1 (all 0 when both are empty).
fn doc_scores(truth: &str, pred: &str) -> (f64, f64, f64) {
    let t = shingles(truth);
    let p = shingles(pred);
    let tp: usize = t
        .iter()
        .filter_map(|(k, &c)| p.get(k).map(|&d| c.min(d)))
        .sum();
    let fp = p.values().sum::<usize>() - tp;
    let fnn = t.values().sum::<usize>() - tp;
    let s = (tp + fp + fnn) as f64;
    if s == 0.0 {
        return (0.0, 0.0, 0.0);
    }
    (tp as f64 / s, fp as f64 / s, fnn as f64 / s)
}

fn precision((tp, fp, fnn): (f64, f64, f64)) -> f64 {
    if fp == 0.0 && fnn == 0.0 {
        1.0
    } else if tp == 0.0 && fp == 0.0 {
        0.0
    } else {
        tp / (tp + fp)
    }
}

fn recall((tp, fp, fnn): (f64, f64, f64)) -> f64 {
    if fp == 0.0 && fnn == 0.0 {
        1.0
    } else if tp == 0.0 && fnn == 0.0 {
        0.0
    } else {
        tp / (tp + fnn)
    }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    }
}

fn same(a: &Option<String>, b: &Option<String>) -> bool {
    let norm = |s: &Option<String>| {
        s.as_deref()
            .map(|s| {
                s.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            })
            .filter(|s| !s.is_empty())
    };
    norm(a) == norm(b)
}

/// Scores predictions as the reference script does.
pub(crate) fn score(preds: &[Prediction], floor: Option<f64>) -> EvalReport {
    let mut cases = Vec::with_capacity(preds.len());
    let (mut ps, mut rs) = (Vec::new(), Vec::new());
    for p in preds {
        let row = doc_scores(&p.expected_text, &p.predicted_text);
        if row.0 + row.1 > 0.0 {
            ps.push(precision(row));
        }
        if row.0 + row.2 > 0.0 {
            rs.push(recall(row));
        }
        let (cp, cr) = (precision(row), recall(row));
        cases.push(CaseScore {
            case: p.case.clone(),
            precision: cp,
            recall: cr,
            f1: f1(cp, cr),
            title_ok: same(&p.expected.0, &p.predicted.0),
            byline_ok: same(&p.expected.1, &p.predicted.1),
        });
    }
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let (precision, recall) = (mean(&ps), mean(&rs));
    let share = |f: fn(&CaseScore) -> bool| {
        cases.iter().filter(|c| f(c)).count() as f64 / cases.len().max(1) as f64
    };
    EvalReport {
        title_accuracy: share(|c| c.title_ok),
        byline_accuracy: share(|c| c.byline_ok),
        f1: f1(precision, recall),
        precision,
        recall,
        cases,
        floor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shingles_follow_the_reference() {
        let s = shingles("a b c");
        assert_eq!(s.len(), 1);
        assert_eq!(s[&vec!["a", "b", "c"]], 1);
        assert!(shingles("  ,. ").is_empty());
        assert_eq!(shingles("naïve café_1 x² a b").len(), 2);
        let row = doc_scores("one two three four five", "two three four five six");
        assert_eq!(row, (1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0));
        assert_eq!(precision((0.0, 0.0, 0.0)), 1.0);
    }

    #[test]
    fn passages_match_after_white_space_collapses() {
        let case = SnippetCase {
            file: "a.html".into(),
            with: vec!["one  two\nthree".into(), "absent passage".into()],
            without: vec!["Cookie\u{a0}notice".into(), "Menu".into()],
        };
        let text = "Intro.\n\none two   three four\n\nCookie notice";
        let counts = snippet_counts(&case, text);
        assert_eq!(
            counts,
            SnippetCounts {
                tp: 1,
                fp: 1,
                fn_: 1,
                tn: 1
            }
        );
        let cases = vec![("k".to_string(), case)];
        let report = snippet_score(&cases, &[("k".into(), text.into())], Some(0.5));
        assert_eq!(report.f1, 0.5);
        assert_eq!(report.accuracy, 0.5);
        assert!(report.passes());
        assert_eq!(report.missed_pages().count(), 0);
        let empty = snippet_score(&cases, &[], None);
        assert_eq!(empty.missed_pages().count(), 1);
        assert_eq!(empty.f1, 0.0);
    }
}
