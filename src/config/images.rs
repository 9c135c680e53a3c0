//! A site's image rules, checked: whether placeholders link to Light images, the hosts
//! besides the upstream's own that images may be fetched from, and how Light images are
//! made. This is the one place that says which image URLs the proxy fetches: the Light
//! pass asks it before writing a link, and the image route before fetching.

use url::Url;

use super::schema::{ImageMode, SiteConfig};

/// Narrowest and widest `image_width` accepted.
const WIDTHS: std::ops::RangeInclusive<u32> = 16..=2048;

/// The `images`, `image_hosts`, `image_width` and `image_greyscale` of a checked site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRules {
    /// Whether placeholders link to Light images.
    pub mode: ImageMode,
    /// Lower-case `host[:port]` names images may come from besides the upstream.
    pub hosts: Vec<String>,
    /// Widest Light image, in pixels.
    pub width: u32,
    /// Whether Light images are greyscale.
    pub greyscale: bool,
}

impl ImageRules {
    /// Checks the raw settings, pushing a `(field, reason)` for each problem.
    pub(super) fn check(
        raw: &SiteConfig,
        normalise_host: impl Fn(&str) -> Option<String>,
        push: &mut impl FnMut(&str, String),
    ) -> Self {
        let mut hosts = Vec::new();
        for host in &raw.image_hosts {
            match normalise_host(host) {
                Some(h) => hosts.push(h),
                None => push("image_hosts", format!("\"{host}\" is not a host name")),
            }
        }
        if !WIDTHS.contains(&raw.image_width) {
            push(
                "image_width",
                format!(
                    "{} is not between {} and {} pixels",
                    raw.image_width,
                    WIDTHS.start(),
                    WIDTHS.end()
                ),
            );
        }
        Self {
            mode: raw.images,
            hosts,
            width: raw.image_width,
            greyscale: raw.image_greyscale,
        }
    }

    /// Whether an image at `url` may be fetched: an http or https URL on the upstream's
    /// own origin or on one of `image_hosts`, without credentials. The upstream's path
    /// rules are the site's to add ([`Site::image_allowed`](super::Site::image_allowed)).
    pub(crate) fn host_allowed(&self, url: &Url, upstream: &Url) -> bool {
        if !matches!(url.scheme(), "http" | "https")
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return false;
        }
        if url.origin() == upstream.origin() {
            return true;
        }
        let Some(host) = url.host_str() else {
            return false;
        };
        let named = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        self.hosts.contains(&named)
    }
}

#[cfg(test)]
mod tests {
    fn site(extra: &str) -> std::sync::Arc<crate::config::Site> {
        let text = format!(
            "[[site]]\nname = \"i\"\nupstream = \"https://news.example\"\n\
             hosts = [\"light.example\"]\n{extra}\n"
        );
        crate::config::parse(&text, "t").unwrap().1.remove(0)
    }

    #[test]
    fn images_come_from_the_upstream_origin_and_the_named_hosts_only() {
        let s = site("image_hosts = [\"IMG.cdn.example\", \"pics.example:8443\"]");
        for (url, allowed) in [
            ("https://news.example/a.jpg", true),
            ("http://news.example/a.jpg", false),
            ("https://news.example:8443/a.jpg", false),
            ("https://www.news.example/a.jpg", false),
            ("https://img.cdn.example/x/a.jpg?w=800", true),
            ("http://img.cdn.example/a.jpg", true),
            ("https://img.cdn.example:444/a.jpg", false),
            ("https://pics.example:8443/a.png", true),
            ("https://pics.example/a.png", false),
            ("https://user@img.cdn.example/a.jpg", false),
            ("https://evil.example/a.jpg", false),
            ("ftp://img.cdn.example/a.jpg", false),
        ] {
            let url = url::Url::parse(url).unwrap();
            assert_eq!(s.image_allowed(&url).is_some(), allowed, "{url}");
        }
    }

    #[test]
    fn upstream_images_meet_the_path_rules() {
        let s = site("deny_paths = [\"/private/\"]");
        let denied = url::Url::parse("https://news.example/x/../private/a.jpg").unwrap();
        assert!(s.image_allowed(&denied).is_none());
        let escaped = url::Url::parse("https://news.example/%70rivate/a.jpg").unwrap();
        assert!(s.image_allowed(&escaped).is_none());
    }

    #[test]
    fn bad_image_settings_are_reported_together() {
        let text = "[[site]]\nname = \"i\"\nupstream = \"https://news.example\"\n\
                    hosts = [\"light.example\"]\nimages = \"lazy\"\nimage_width = 4\n\
                    image_hosts = [\"a b\"]\n";
        let err = crate::config::parse(text, "t").unwrap_err().to_string();
        assert!(err.contains("images"), "{err}");
        let text = text.replace("images = \"lazy\"\n", "");
        let err = crate::config::parse(&text, "t").unwrap_err().to_string();
        assert!(
            err.contains("site[0].image_width") && err.contains("site[0].image_hosts"),
            "{err}"
        );
    }
}
