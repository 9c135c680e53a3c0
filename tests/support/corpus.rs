//! The cross-site-scripting payloads shared beside the project (`../shared/corpus/xss`).
//! The corpus is not part of the repository, so a checkout without it skips with a note
//! rather than fails, unless `LIGHTMIRROR_REQUIRE_CORPUS=1` (as in CI) makes absence a
//! failure.

use std::path::PathBuf;

/// One payload: what DOMPurify's suite calls it, and the markup.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Payload {
    /// The test's title.
    pub title: String,
    /// The hostile markup.
    pub payload: String,
}

/// Every DOMPurify payload, or `None` (with a note on stderr) when the corpus is absent.
pub fn dompurify_payloads() -> Option<Vec<Payload>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/xss/dompurify-payloads.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            let why = format!("{} is unreadable: {e}", path.display());
            assert!(
                std::env::var("LIGHTMIRROR_REQUIRE_CORPUS").as_deref() != Ok("1"),
                "LIGHTMIRROR_REQUIRE_CORPUS=1 but {why}"
            );
            eprintln!("note: skipping the DOMPurify payloads, {why}");
            return None;
        }
    };
    let payloads: Vec<Payload> = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not a payload list: {e}", path.display()));
    assert!(!payloads.is_empty(), "{} lists no payloads", path.display());
    Some(payloads)
}
