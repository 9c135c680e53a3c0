//! Reading a TOML file into a checked configuration. Every unknown key and every invalid
//! value is collected, so an operator fixes a file in one pass instead of one error a run.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::schema::{CacheConfig, Config, SiteConfig};
use super::site::Site;

/// One thing wrong in a configuration: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted path of the key, such as `site[1].upstream`; empty for the file as a whole.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.key, self.reason)
        }
    }
}

/// A configuration that cannot be used, with every problem found in it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration.
    #[error("{}: {} problem(s):\n{}", origin, problems.len(), list(problems))]
    Invalid {
        /// The file name, or a description of the text's origin.
        origin: String,
        /// Everything wrong, in file order where known.
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads and checks a configuration file.
pub fn load_file(path: &Path) -> Result<(Config, Vec<Arc<Site>>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, &path.display().to_string())
}

/// Checks configuration text; `origin` names it in errors. Each site comes checked once
/// (URLs parsed, hosts normalised, path patterns compiled, selectors tried) and shared:
/// the server and every conversion read the one copy.
pub fn parse(text: &str, origin: &str) -> Result<(Config, Vec<Arc<Site>>), ConfigError> {
    let invalid = |problems| ConfigError::Invalid {
        origin: origin.to_owned(),
        problems,
    };
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        invalid(vec![Problem {
            key: String::new(),
            reason: e.to_string().trim().replace('\n', " "),
        }])
    })?;
    let mut problems = Vec::new();

    // Sections are deserialized one by one so that a bad value in one does not hide the
    // problems of the others.
    let mut config = Config {
        server: Default::default(),
        limits: Default::default(),
        cache: Default::default(),
        admin: Default::default(),
        sites: Vec::new(),
    };
    for (key, value) in table {
        match key.as_str() {
            "server" => section(&key, value, &mut problems).map(|v| config.server = v),
            "limits" => section(&key, value, &mut problems).map(|v| config.limits = v),
            "cache" => section(&key, value, &mut problems).map(|v| config.cache = v),
            "admin" => section(&key, value, &mut problems).map(|v| config.admin = v),
            "site" => match value {
                toml::Value::Array(items) => {
                    for (i, item) in items.into_iter().enumerate() {
                        let key = format!("site[{i}]");
                        if let Some(site) = section::<SiteConfig>(&key, item, &mut problems) {
                            config.sites.push(site);
                        }
                    }
                    Some(())
                }
                _ => {
                    problems.push(problem("site", "must be an array of tables ([[site]])"));
                    None
                }
            },
            _ => {
                problems.push(problem(&key, "unknown key"));
                None
            }
        };
    }
    if config.sites.is_empty() && !problems.iter().any(|p| p.key.starts_with("site")) {
        problems.push(problem("site", "no [[site]] is configured"));
    }
    check_global(&config, &mut problems);
    if config
        .admin
        .listen
        .is_some_and(|admin| admin == config.server.listen)
    {
        problems.push(problem(
            "admin.listen",
            "must differ from server.listen: readers must never reach the admin listener",
        ));
    }
    check_cache(&config.cache, &mut problems);
    let sites = check_sites(&config, &mut problems);
    if problems.is_empty() {
        Ok((config, sites.into_iter().map(Arc::new).collect()))
    } else {
        Err(invalid(problems))
    }
}

pub(super) fn problem(key: &str, reason: impl Into<String>) -> Problem {
    Problem {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// Deserializes one table, recording its unknown keys and every bad value in it. When the
/// table as a whole does not deserialize, each key is tried alone, so that one bad value
/// does not hide another; the table is then read without its bad keys (their defaults
/// standing in), so that the checks made on the whole configuration (duplicate hosts,
/// the admin listener's address) still see the rest of it.
fn section<T: for<'de> Deserialize<'de>>(
    key: &str,
    value: toml::Value,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let mut unknown = Vec::new();
    let result = serde_ignored::deserialize(value.clone(), |path| {
        unknown.push(problem(&format!("{key}.{path}"), "unknown key"))
    });
    problems.append(&mut unknown);
    let whole = match result {
        Ok(parsed) => return Some(parsed),
        Err(e) => e,
    };
    let toml::Value::Table(table) = value else {
        problems.push(problem(key, one_line(&whole, None)));
        return None;
    };
    let mut good = toml::Table::new();
    let mut bad = 0;
    for (name, value) in table {
        let alone = toml::Table::from_iter([(name.clone(), value.clone())]);
        match T::deserialize(toml::Value::Table(alone)) {
            Ok(_) => {
                good.insert(name, value);
            }
            Err(e) => {
                bad += 1;
                problems.push(problem(&format!("{key}.{name}"), one_line(&e, Some(&name))));
            }
        }
    }
    if bad == 0 {
        problems.push(problem(key, one_line(&whole, None)));
        return None;
    }
    T::deserialize(toml::Value::Table(good)).ok()
}

/// A deserializer's message on one line, without the ``in `name` `` it ends with when the
/// problem's key already names the field.
fn one_line(e: &toml::de::Error, name: Option<&str>) -> String {
    let text = e.to_string().trim().replace('\n', " ");
    match name.and_then(|name| text.strip_suffix(&format!(" in `{name}`"))) {
        Some(shorter) => shorter.to_owned(),
        None => text,
    }
}

fn check_global(config: &Config, problems: &mut Vec<Problem>) {
    let limits = &config.limits;
    let positive = [
        ("limits.max_upstream_bytes", limits.max_upstream_bytes),
        ("limits.rewriter_memory", limits.rewriter_memory),
        ("limits.upstream_concurrency", limits.upstream_concurrency),
        ("limits.max_connections", limits.max_connections),
        (
            "limits.max_request_header_bytes",
            limits.max_request_header_bytes,
        ),
        ("limits.max_nesting", limits.max_nesting),
        ("limits.max_inflight_bytes", limits.max_inflight_bytes),
    ];
    for (key, value) in positive {
        if value == 0 {
            problems.push(problem(key, "must be greater than 0"));
        }
    }
    if limits.max_request_header_bytes < 1024 {
        problems.push(problem(
            "limits.max_request_header_bytes",
            "must be at least 1024",
        ));
    }
    if limits.rewriter_memory < 64 << 10 {
        problems.push(problem(
            "limits.rewriter_memory",
            "must be at least 65536 bytes",
        ));
    }
    let largest_conversion = crate::budget::bytes_to_convert(limits.max_upstream_bytes);
    if limits.max_inflight_bytes < largest_conversion {
        problems.push(problem(
            "limits.max_inflight_bytes",
            format!(
                "must be at least {largest_conversion} bytes, what converting a page of \
                 limits.max_upstream_bytes takes"
            ),
        ));
    }
    for (key, value) in [
        ("limits.upstream_timeout", limits.upstream_timeout),
        ("limits.connect_timeout", limits.connect_timeout),
        ("limits.header_read_timeout", limits.header_read_timeout),
        ("limits.idle_timeout", limits.idle_timeout),
        ("limits.send_timeout", limits.send_timeout),
    ] {
        if value.is_zero() {
            problems.push(problem(key, "must be longer than 0s"));
        }
    }
}

fn check_cache(cache: &CacheConfig, problems: &mut Vec<Problem>) {
    if cache.max_variants == 0 {
        problems.push(problem("cache.max_variants", "must be greater than 0"));
    }
    if let Some(url) = &cache.shared {
        if let Err(e) = redis::Client::open(url.as_str()) {
            problems.push(problem(
                "cache.shared",
                format!(
                    "\"{url}\" is not a store address such as \"redis://127.0.0.1:6379/0\": {e}"
                ),
            ));
        }
    }
    if cache.shared_prefix.is_empty() {
        problems.push(problem("cache.shared_prefix", "must not be empty"));
    }
    if cache.shared_timeout.is_zero() {
        problems.push(problem("cache.shared_timeout", "must be longer than 0s"));
    }
    let Some(dir) = &cache.dir else {
        return;
    };
    match cache.key_path() {
        None => problems.push(problem(
            "cache.key_file",
            format!(
                "must be set: cache.dir \"{}\" names no directory to put a key file beside",
                dir.display()
            ),
        )),
        Some(key) if lexically(&key).starts_with(lexically(dir)) => problems.push(problem(
            "cache.key_file",
            format!(
                "\"{}\" is inside cache.dir \"{}\"; the key must live outside the directory whose pages it authenticates",
                key.display(),
                dir.display()
            ),
        )),
        Some(_) => {}
    }
}

/// A path without its `.` components, so `./cache/k` compares as `cache/k`. Symbolic
/// links are the cache's to resolve when it opens the key; configuration never touches
/// the disk.
fn lexically(path: &Path) -> PathBuf {
    path.components()
        .filter(|part| !matches!(part, std::path::Component::CurDir))
        .collect()
}

fn check_sites(config: &Config, problems: &mut Vec<Problem>) -> Vec<Site> {
    let mut sites = Vec::new();
    let mut owner: HashMap<String, String> = HashMap::new();
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, raw) in config.sites.iter().enumerate() {
        let key = format!("site[{i}]");
        if let Some(previous) = names.insert(&raw.name, i) {
            problems.push(problem(
                &format!("{key}.name"),
                format!("\"{}\" is already the name of site[{previous}]", raw.name),
            ));
        }
        // A site with problems of its own still claims its hosts, so a host it shares
        // with another site is reported in the same pass.
        let checked = Site::check(raw, &key, problems);
        let hosts: Vec<String> = match &checked {
            Some(site) => site.hosts.clone(),
            None => raw
                .hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect(),
        };
        if let Some(site) = &checked {
            if site.upstream_rate.is_some() && config.cache.shared.is_none() {
                problems.push(problem(
                    &format!("{key}.upstream_rate"),
                    "needs [cache] shared: the fleet's count is kept in the shared store",
                ));
            }
        }
        for host in hosts {
            if let Some(other) = owner.insert(host.clone(), raw.name.clone()) {
                problems.push(problem(
                    &format!("{key}.hosts"),
                    format!("host \"{host}\" is already served by site \"{other}\""),
                ));
            }
        }
        sites.extend(checked);
    }
    Site::introduce(&mut sites);
    sites
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [server]
        listen = "127.0.0.1:9000"
        [[site]]
        name = "ledger"
        upstream = "https://www.example.com"
        hosts = ["light.example.com", "Mirror.Example.org:8443"]
        content = ["article .story-body"]
        remove = [".share"]
        cache_ttl = "2m"
        [[site.kind]]
        path = "/tag/**"
        kind = "listing"
    "#;

    #[test]
    fn good_file_loads_with_defaults_filled() {
        let (config, sites) = parse(GOOD, "good.toml").unwrap();
        assert_eq!(config.server.listen.port(), 9000);
        assert_eq!(config.limits.max_redirects, 5);
        assert_eq!(
            sites[0].hosts,
            ["light.example.com", "mirror.example.org:8443"]
        );
        assert_eq!(sites[0].label, "ledger Light");
        assert_eq!(sites[0].cache_ttl.unwrap().as_secs(), 120);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = r#"
            colour = "blue"
            [server]
            listen = "nowhere"
            [limits]
            max_redirect = 3
            [[site]]
            name = "a"
            upstream = "ftp://example.com"
            hosts = []
            contnet = ["x"]
            remove = ["[[["]
            [[site]]
            name = "a"
            upstream = "https://example.org/path?q"
            hosts = ["x.test"]
        "#;
        let Err(ConfigError::Invalid { origin, problems }) = parse(text, "bad.toml") else {
            panic!("bad config accepted");
        };
        assert_eq!(origin, "bad.toml");
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        for expected in [
            "colour",
            "server.listen",
            "limits.max_redirect",
            "site[0].contnet",
            "site[0].upstream",
            "site[0].hosts",
            "site[0].remove",
            "site[1].name",
            "site[1].upstream",
        ] {
            assert!(keys.contains(&expected), "{expected} missing from {keys:?}");
        }
    }

    #[test]
    fn a_bad_value_hides_no_other_key_of_its_table() {
        let text = r#"
            [server]
            listen = "nowhere"
            shutdown_grace = "soon"
            log_query = "yes"
            [limits]
            upstream_timeout = 5
            [[site]]
            name = "a"
            upstream = "ftp://a.example"
            hosts = ["light.test"]
            cache_ttl = "forever"
            [[site]]
            name = "b"
            upstream = "https://b.example"
            hosts = ["LIGHT.test"]
        "#;
        let err = parse(text, "t").unwrap_err().to_string();
        for expected in [
            "server.listen: \"nowhere\" is not a socket address: write an IP address and a port, such as \"127.0.0.1:8080\"",
            "server.shutdown_grace: \"soon\" is not a duration: write a number and a unit, such as \"500ms\", \"30s\"",
            "server.log_query: ",
            "limits.upstream_timeout: must be a quoted duration",
            "site[0].cache_ttl: \"forever\" is not a duration",
            "site[0].upstream: scheme \"ftp\" is not http or https",
            // The site with problems of its own still takes part in the duplicate check.
            "site[1].hosts: host \"light.test\" is already served by site \"a\"",
        ] {
            assert!(err.contains(expected), "{expected}\n{err}");
        }
        assert!(!err.contains("\n  - server:"), "{err}");
        assert!(!err.contains(" in `"), "{err}");
    }

    #[test]
    fn missing_required_keys_are_named() {
        let err = parse("[[site]]\nlabel = \"x\"\n", "t")
            .unwrap_err()
            .to_string();
        for expected in [
            "site[0].name:",
            "site[0].upstream: is missing",
            "site[0].hosts:",
        ] {
            assert!(err.contains(expected), "{expected}\n{err}");
        }
    }

    #[test]
    fn a_host_served_twice_is_rejected() {
        let text = r#"
            [[site]]
            name = "a"
            upstream = "https://a.example"
            hosts = ["light.test"]
            [[site]]
            name = "b"
            upstream = "https://b.example"
            hosts = ["LIGHT.test"]
        "#;
        let err = parse(text, "t").unwrap_err().to_string();
        assert!(err.contains("already served by site \"a\""), "{err}");
    }

    #[test]
    fn the_cache_key_lives_beside_the_directory_never_inside() {
        let with = |cache: &str| parse(&format!("[cache]\n{cache}\n{GOOD}"), "t");
        let (config, _) = with(r#"dir = "/var/cache/lightmirror/""#).unwrap();
        assert_eq!(
            config.cache.key_path(),
            Some(PathBuf::from("/var/cache/lightmirror.key"))
        );
        assert_eq!(config.cache.max_variants, 16);
        let (config, _) = with("dir = \"pages\"\nkey_file = \"/etc/lm.key\"").unwrap();
        assert_eq!(config.cache.key_path(), Some(PathBuf::from("/etc/lm.key")));
        for (cache, expected) in [
            (
                "dir = \"/var/c\"\nkey_file = \"/var/c/k\"",
                "cache.key_file: \"/var/c/k\" is inside cache.dir",
            ),
            (
                "dir = \"c\"\nkey_file = \"./c/sub/k\"",
                "is inside cache.dir",
            ),
            ("dir = \"/\"", "cache.key_file: must be set"),
            (
                "max_variants = 0",
                "cache.max_variants: must be greater than 0",
            ),
        ] {
            let err = with(cache).unwrap_err().to_string();
            assert!(err.contains(expected), "{cache}: {err}");
        }
    }

    #[test]
    fn the_shared_store_is_checked_with_its_sites() {
        let rated = GOOD.replace(
            "cache_ttl = \"2m\"",
            "cache_ttl = \"2m\"\nupstream_rate = \"20/s\"",
        );
        let with = |cache: &str| parse(&format!("[cache]\n{cache}\n{rated}"), "t");
        let (config, sites) = with("shared = \"redis://127.0.0.1:6379/0\"").unwrap();
        assert_eq!(
            config.cache.shared_timeout,
            std::time::Duration::from_millis(100)
        );
        assert_eq!(config.cache.shared_prefix, "lightmirror:");
        assert_eq!(sites[0].upstream_rate.map(|r| r.fetches), Some(20));
        let err = with("shared = \"http://x\"\nshared_prefix = \"\"\nshared_timeout = \"0s\"")
            .unwrap_err()
            .to_string();
        for expected in [
            "cache.shared:",
            "cache.shared_prefix:",
            "cache.shared_timeout:",
        ] {
            assert!(err.contains(expected), "{expected}: {err}");
        }
        let err = with("").unwrap_err().to_string();
        assert!(
            err.contains("site[0].upstream_rate: needs [cache] shared"),
            "{err}"
        );
        let err = with("shared = \"redis://h\"")
            .map(|_| ())
            .and_then(|()| {
                parse(
                    &format!(
                        "[cache]\nshared = \"redis://h\"\n{}",
                        rated.replace("20/s", "lots")
                    ),
                    "t",
                )
                .map(|_| ())
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("site[0].upstream_rate:"), "{err}");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = parse("[server\nlisten = 1", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.toml: 1 problem"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }
}
