//! A site's operator selectors, parsed once when the site is loaded, each by the engine
//! that runs it: lol_html's for the streaming Light pass (`content`, `remove`), scraper's
//! for detection's tree (`remove`, `title`, `byline`, `date`). Conversions share these
//! parses and never parse a site's selector again.

use super::schema::SiteConfig;

/// The parsed selectors of one site.
#[derive(Debug, Clone, Default)]
pub struct Selectors {
    /// `content`, for the streaming pass.
    pub(crate) content: Vec<lol_html::Selector>,
    /// `remove`, for the streaming pass.
    pub(crate) remove: Vec<lol_html::Selector>,
    /// `remove` as detection's tree reads it: those scraper cannot parse select nothing
    /// there, as the streaming engine is the one they are checked against.
    pub(crate) remove_tree: Vec<scraper::Selector>,
    /// `title`.
    pub(crate) title: Option<scraper::Selector>,
    /// `byline`.
    pub(crate) byline: Option<scraper::Selector>,
    /// `date`.
    pub(crate) date: Option<scraper::Selector>,
}

impl Selectors {
    /// Parses the selectors of `raw`, reporting each that does not parse to `push` with
    /// the key it came from.
    pub(crate) fn parse(raw: &SiteConfig, mut push: impl FnMut(&'static str, String)) -> Self {
        let mut stream = |field: &'static str, selectors: &[String]| {
            selectors
                .iter()
                .filter_map(|selector| match selector.parse::<lol_html::Selector>() {
                    Ok(parsed) => Some(parsed),
                    Err(e) => {
                        push(field, format!("selector \"{selector}\": {e}"));
                        None
                    }
                })
                .collect::<Vec<_>>()
        };
        let content = stream("content", &raw.content);
        let remove = stream("remove", &raw.remove);
        let mut tree = |field: &'static str, selector: &Option<String>| {
            let selector = selector.as_ref()?;
            scraper::Selector::parse(selector)
                .map_err(|e| push(field, format!("selector \"{selector}\": {e}")))
                .ok()
        };
        Self {
            title: tree("title", &raw.title),
            byline: tree("byline", &raw.byline),
            date: tree("date", &raw.date),
            remove_tree: raw
                .remove
                .iter()
                .filter_map(|s| scraper::Selector::parse(s).ok())
                .collect(),
            content,
            remove,
        }
    }
}
