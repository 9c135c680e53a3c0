//! What a reload can change. Sites, their rules, cache lifetimes and upstream limits take
//! effect at once; the settings listed in [`restart_only_changes`] are read when the
//! server starts (its sockets, the connection loop, the memory budget, the cache's
//! store), so a reload that changes them is applied without them and says so.

use super::schema::Config;

/// The keys whose new values a reload from `old` to `new` cannot apply, by name.
///
/// ```
/// let text = "[[site]]\nname = \"a\"\nupstream = \"https://a.example\"\nhosts = [\"l.test\"]\n";
/// let (old, _) = lightmirror::config::parse(text, "t").unwrap();
/// let (new, _) = lightmirror::config::parse(&format!("[server]\nlisten = \"127.0.0.1:9\"\n{text}"), "t").unwrap();
/// assert_eq!(lightmirror::config::restart_only_changes(&old, &new), ["server.listen"]);
/// ```
pub fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let (s, n) = (&old.server, &new.server);
    let (l, m) = (&old.limits, &new.limits);
    let (c, d) = (&old.cache, &new.cache);
    [
        ("server.listen", s.listen != n.listen),
        (
            "server.shutdown_grace",
            s.shutdown_grace != n.shutdown_grace,
        ),
        ("server.log_format", s.log_format != n.log_format),
        ("admin.listen", old.admin.listen != new.admin.listen),
        (
            "limits.max_connections",
            l.max_connections != m.max_connections,
        ),
        (
            "limits.max_inflight_bytes",
            l.max_inflight_bytes != m.max_inflight_bytes,
        ),
        (
            "limits.header_read_timeout",
            l.header_read_timeout != m.header_read_timeout,
        ),
        ("limits.idle_timeout", l.idle_timeout != m.idle_timeout),
        ("limits.send_timeout", l.send_timeout != m.send_timeout),
        (
            "limits.max_request_header_bytes",
            l.max_request_header_bytes != m.max_request_header_bytes,
        ),
        ("cache.max_bytes", c.max_bytes != d.max_bytes),
        ("cache.max_variants", c.max_variants != d.max_variants),
        ("cache.dir", c.dir != d.dir),
        ("cache.key_file", c.key_file != d.key_file),
    ]
    .into_iter()
    .filter_map(|(key, changed)| changed.then_some(key))
    .collect()
}
