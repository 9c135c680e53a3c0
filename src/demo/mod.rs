//! The bundled sample news site that `lightmirror demo`, the integration tests and the
//! load benchmark run against, so that all of them work without the internet: "The Harbour
//! Ledger", a fictional newspaper whose pages weigh what real news pages weigh (scripts,
//! inline styles and state, trackers, ad slots, consent banners) around original text in
//! English and in Persian (served in windows-1256). This module owns the site's pages
//! (`pages.rs`, text in `site/`), their generated weight (`weight.rs`), serving them
//! (`http.rs`) and the demo's configuration ([`demo_config`], the same text as
//! `config/demo.toml`). Starting the Light proxy in front of it is the command's business.
//!
//! Paths served: `/` and the sections `/city/`, `/business/`, `/world/`, `/sport/`,
//! `/culture/` (listings); [`ARTICLE_PATH`] (the long English article),
//! [`PERSIAN_ARTICLE_PATH`] and a short page for every other listed story; each of them
//! again under [`SLOW_PREFIX`], sent slowly; `/t/pixel.gif`; `/embed/video/*`. Anything
//! else is 404.

mod http;
mod pages;
mod weight;

use std::net::SocketAddr;

pub use http::{start, SampleSite, SLOW_CHUNKS, SLOW_INTERVAL, SLOW_PREFIX};
pub use pages::{Page, Pages, ARTICLE_PATH, PERSIAN_ARTICLE_PATH, SECTIONS};

/// Why the sample site could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The listener's local address could not be read.
    #[error("sample site: cannot read the listening address: {0}")]
    Listener(#[source] std::io::Error),
}

/// The annotated demo configuration, with the sample site on 127.0.0.1:8081 and the proxy
/// on 127.0.0.1:8080.
const DEMO_TOML: &str = include_str!("../../config/demo.toml");

/// The demo's configuration: `config/demo.toml` with the proxy listening on
/// `light_listen` and the sample site's upstream at `sample_site_addr`. Its two sites show
/// the same sample site two ways: `http://127.0.0.1:<port>/` (and `[::1]`) streams through
/// the site's `content` rule, `http://localhost:<port>/` relies on article detection.
///
/// ```
/// let toml = lightmirror::demo::demo_config(
///     "127.0.0.1:40001".parse().unwrap(),
///     "127.0.0.1:40000".parse().unwrap(),
/// );
/// let (config, sites) = lightmirror::config::parse(&toml, "demo").unwrap();
/// assert_eq!(config.server.listen.port(), 40000);
/// assert_eq!(sites[0].upstream.as_str(), "http://127.0.0.1:40001/");
/// ```
pub fn demo_config(sample_site_addr: SocketAddr, light_listen: SocketAddr) -> String {
    let port = light_listen.port();
    DEMO_TOML
        .replace(
            "listen = \"127.0.0.1:8080\"",
            &format!("listen = \"{light_listen}\""),
        )
        .replace(":8080\"", &format!(":{port}\""))
        .replace("127.0.0.1:8081", &sample_site_addr.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse, PageKind};

    #[test]
    fn demo_and_example_configs_parse() {
        let (config, sites) = parse(DEMO_TOML, "config/demo.toml").unwrap();
        assert_eq!(config.server.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(sites.len(), 2);
        assert_eq!(sites[0].hosts, ["127.0.0.1:8080", "[::1]:8080"]);
        assert_eq!(sites[1].hosts, ["localhost:8080"]);
        assert!(sites.iter().all(|s| s.allow_private_upstream));
        assert!(!sites[0].content.is_empty() && sites[1].content.is_empty());
        assert_eq!(sites[0].kind_for("/"), Some(PageKind::Listing));
        assert_eq!(sites[0].kind_for("/city/"), Some(PageKind::Listing));
        assert_eq!(sites[0].kind_for(ARTICLE_PATH), Some(PageKind::Article));

        let example = include_str!("../../config/example.toml");
        let (_, sites) = parse(example, "config/example.toml").unwrap();
        assert!(sites.len() >= 3);
        assert!(sites
            .iter()
            .any(|s| s.hosts.iter().any(|h| h.ends_with(".onion"))));
    }

    #[test]
    fn demo_config_follows_the_addresses_given() {
        let toml = demo_config(
            "127.0.0.1:40001".parse().unwrap(),
            "0.0.0.0:40000".parse().unwrap(),
        );
        let (config, sites) = parse(&toml, "demo").unwrap();
        assert_eq!(config.server.listen, "0.0.0.0:40000".parse().unwrap());
        assert_eq!(sites[0].hosts, ["127.0.0.1:40000", "[::1]:40000"]);
        assert_eq!(sites[1].hosts, ["localhost:40000"]);
        for site in &sites {
            assert_eq!(site.upstream.as_str(), "http://127.0.0.1:40001/");
        }
        assert!(!toml.contains("8080") && !toml.contains("8081"), "{toml}");
    }
}
