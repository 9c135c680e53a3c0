//! From a reader's request to a site and an upstream URL. Only configured hosts are
//! served and only their upstream origin is ever named, so the proxy cannot be pointed
//! anywhere else: absolute-form and CONNECT requests are refused outright.

use http::{Method, Uri, Version};
use url::Url;

use crate::config::Site;

/// Why a request names no page the proxy may fetch.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    /// `CONNECT` asks for a tunnel; this is not that kind of proxy.
    #[error("CONNECT is not supported")]
    Connect,
    /// Only GET and HEAD read pages.
    #[error("method {0} is not allowed")]
    Method(String),
    /// An absolute-form target (`GET http://host/ HTTP/1.1`) is a forward-proxy request.
    #[error("absolute-form request targets are not accepted")]
    AbsoluteForm,
    /// The request carries no usable Host.
    #[error("the request has no Host header")]
    MissingHost,
    /// The Host is not one of a configured site's.
    #[error("no site is configured for host {0}")]
    UnknownHost(String),
    /// The site's rules do not allow this path.
    #[error("path {0} is not served for this site")]
    PathNotAllowed(String),
}

/// Checks method and request-target form. HTTP/2 requests always carry an authority, so
/// only an HTTP/1 request that names one is in absolute form.
pub fn check_request(method: &Method, uri: &Uri, version: Version) -> Result<(), RouteError> {
    if method == Method::CONNECT {
        return Err(RouteError::Connect);
    }
    if version < Version::HTTP_2 && uri.authority().is_some() {
        return Err(RouteError::AbsoluteForm);
    }
    if method != Method::GET && method != Method::HEAD {
        return Err(RouteError::Method(method.to_string()));
    }
    Ok(())
}

/// The site that answers to `host` (a Host header value, any case, optional port): an
/// entry with the port matches first, then one without.
pub fn site_for_host<'a>(sites: &'a [Site], host: &str) -> Result<&'a Site, RouteError> {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return Err(RouteError::MissingHost);
    }
    let bare = strip_port(&host);
    sites
        .iter()
        .find(|s| s.hosts.contains(&host))
        .or_else(|| sites.iter().find(|s| s.hosts.iter().any(|h| h == bare)))
        .ok_or(RouteError::UnknownHost(host))
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
}

/// The upstream URL for a request path and query. The path is set on a copy of the
/// upstream origin, never joined, so `//other.host/` stays a path on the upstream.
pub fn upstream_url(site: &Site, path: &str, query: Option<&str>) -> Result<Url, RouteError> {
    let mut url = site.upstream.clone();
    url.set_path(path);
    url.set_query(query.filter(|q| !q.is_empty()));
    if url.origin() != site.upstream.origin() || !site.path_allowed(url.path()) {
        return Err(RouteError::PathNotAllowed(path.to_owned()));
    }
    Ok(url)
}

/// A cache key: site name, normalised path and query.
pub fn cache_key(site: &Site, url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}\u{0}{}?{q}", site.name, url.path()),
        None => format!("{}\u{0}{}", site.name, url.path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    fn sites() -> Vec<Site> {
        let text = r#"
            [[site]]
            name = "a"
            upstream = "https://www.example.com"
            hosts = ["light.example.com", "abcdefgh.onion", "127.0.0.1:8080"]
            deny_paths = ["/account"]
            [[site]]
            name = "b"
            upstream = "http://other.example:8000"
            hosts = ["light.example.com:9000"]
        "#;
        parse(text, "t").unwrap().1
    }

    #[test]
    fn hosts_route_with_and_without_port() {
        let sites = sites();
        assert_eq!(
            site_for_host(&sites, "LIGHT.example.com").unwrap().name,
            "a"
        );
        assert_eq!(
            site_for_host(&sites, "light.example.com:443").unwrap().name,
            "a"
        );
        assert_eq!(
            site_for_host(&sites, "light.example.com:9000")
                .unwrap()
                .name,
            "b"
        );
        assert_eq!(site_for_host(&sites, "abcdefgh.onion.").unwrap().name, "a");
        assert_eq!(site_for_host(&sites, "127.0.0.1:8080").unwrap().name, "a");
        assert!(matches!(
            site_for_host(&sites, "127.0.0.1:8081"),
            Err(RouteError::UnknownHost(_))
        ));
        assert!(matches!(
            site_for_host(&sites, "evil.test"),
            Err(RouteError::UnknownHost(_))
        ));
    }

    #[test]
    fn paths_stay_on_the_upstream() {
        let sites = sites();
        let url = upstream_url(&sites[0], "//evil.test/x", Some("q=1")).unwrap();
        assert_eq!(url.as_str(), "https://www.example.com//evil.test/x?q=1");
        let url = upstream_url(&sites[0], "/a/../../b", None).unwrap();
        assert_eq!(url.as_str(), "https://www.example.com/b");
        assert!(upstream_url(&sites[0], "/account/settings", None).is_err());
        assert_eq!(
            upstream_url(&sites[1], "/", None).unwrap().as_str(),
            "http://other.example:8000/"
        );
    }

    #[test]
    fn only_get_and_head() {
        let uri: Uri = "/x".parse().unwrap();
        let v1 = Version::HTTP_11;
        assert!(check_request(&Method::GET, &uri, v1).is_ok());
        assert_eq!(
            check_request(&Method::POST, &uri, v1),
            Err(RouteError::Method("POST".into()))
        );
        let tunnel = "example.com:443".parse().unwrap();
        assert_eq!(
            check_request(&Method::CONNECT, &tunnel, v1),
            Err(RouteError::Connect)
        );
        let absolute = "http://internal.test/".parse().unwrap();
        assert_eq!(
            check_request(&Method::GET, &absolute, v1),
            Err(RouteError::AbsoluteForm)
        );
        assert!(check_request(&Method::GET, &absolute, Version::HTTP_2).is_ok());
    }
}
