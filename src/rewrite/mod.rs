//! The streaming Light pass (lol_html): turns upstream HTML, chunk by chunk, into the body
//! of a Light page. It applies the site's `remove` and `content` rules, the allowlist of
//! `policy.rs`, link rewriting (`links.rs`) and media placeholders (`media.rs`), and keeps
//! its tags balanced (`balance.rs`); `shield.rs` hides from lol_html the end tags a browser
//! ignores. Every byte of body a reader receives has passed through here; the page shell
//! is `page.rs`'s.

mod balance;
mod head;
mod light;
pub mod links;
mod media;
pub mod policy;
mod shield;

pub(crate) use head::HeadCollector;
pub(crate) use light::squeezed;
pub use light::{LightOptions, LightRewriter};
pub use media::{ImageLinks, MediaWords};

/// Why the Light pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    /// The page needed more memory than the per-request limit allows.
    #[error("the page needs more rewriter memory than the limit allows")]
    MemoryLimit,
    /// The markup puts the parser in a state where browsers may read it differently, so no
    /// safe rewrite exists (for example `<select><xmp>`).
    #[error("ambiguous markup: {0}")]
    Ambiguous(String),
    /// A site rule or handler failed.
    #[error("rewrite failed: {0}")]
    Handler(String),
}

impl From<lol_html::errors::RewritingError> for RewriteError {
    fn from(e: lol_html::errors::RewritingError) -> Self {
        use lol_html::errors::RewritingError as E;
        match e {
            E::MemoryLimitExceeded(_) => Self::MemoryLimit,
            E::ParsingAmbiguity(a) => Self::Ambiguous(a.to_string()),
            E::ContentHandlerError(h) => Self::Handler(h.to_string()),
        }
    }
}

/// Runs the Light pass over a whole fragment held in memory (the article found by
/// detection, or a test page).
pub fn sanitize(html: &str, options: &LightOptions<'_>) -> Result<String, RewriteError> {
    let mut rewriter = LightRewriter::new(options)?;
    rewriter.write(html.as_bytes())?;
    let out = rewriter.end()?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}
