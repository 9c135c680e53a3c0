//! What the server counts for its operator, in the Prometheus text format served by the
//! admin listener (`[admin] listen`): requests by site, status class and cache result;
//! upstream fetches, their errors by kind and their latency; conversion time by route;
//! the bytes readers got against the bytes the originals weighed; pages whose `content`
//! rules matched nothing; and, read at each
//! scrape, open connections, memory in flight, cache size and the configuration's
//! generation. One [`Metrics`] per server, kept across reloads.

use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of a request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    /// The site's name, or `none` for requests that named no site.
    pub site: String,
    /// `2xx`, `3xx`, `4xx` or `5xx`.
    pub status: &'static str,
    /// How the cache took part.
    pub cache: CacheResult,
}

/// An HTTP status's class: `2xx`, `3xx`, `4xx` or `5xx`.
pub(crate) fn status_class(status: http::StatusCode) -> &'static str {
    match status.as_u16() {
        ..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// How the cache took part in an answer.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(crate) enum CacheResult {
    /// A fresh copy.
    hit,
    /// Fetched for this reader.
    miss,
    /// Fetched by another reader of the same page.
    collapsed,
    /// A saved copy standing in for a failure.
    stale,
    /// Nothing cacheable: errors, `no-store` answers, requests for no site.
    uncacheable,
}

impl CacheResult {
    /// The label's value, as the access log writes it too.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::hit => "hit",
            Self::miss => "miss",
            Self::collapsed => "collapsed",
            Self::stale => "stale",
            Self::uncacheable => "uncacheable",
        }
    }
}

/// Labels of what concerns one site.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct SiteLabels {
    pub site: String,
}

/// Labels of an upstream failure.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ErrorLabels {
    pub site: String,
    /// `unreachable`, `timeout`, `too_large`, `forbidden`, `redirects`, `refused`,
    /// `server_error`, `moved`, `busy`, `challenge` (a bot wall or challenge instead of
    /// the page) or `rate_limited` (past the fleet's `upstream_rate`).
    pub kind: &'static str,
}

/// Labels of a conversion.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    /// `streamed` or `detected`.
    pub route: &'static str,
}

/// The server's counters, histograms and gauges.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub upstream_fetches: Family<SiteLabels, Counter>,
    pub upstream_errors: Family<ErrorLabels, Counter>,
    pub upstream_seconds: Family<SiteLabels, Histogram>,
    pub conversion_seconds: Family<RouteLabels, Histogram>,
    pub light_bytes: Family<SiteLabels, Counter>,
    pub original_bytes: Family<SiteLabels, Counter>,
    pub content_fallbacks: Family<SiteLabels, Counter>,
    pub low_confidence: Family<SiteLabels, Counter>,
    pub connections: Gauge,
    pub inflight_bytes: Gauge,
    pub cache_pages: Gauge,
    pub cache_bytes: Gauge,
    pub config_generation: Gauge,
    pub last_reload_ok: Gauge<i64, AtomicI64>,
    pub reloads: Counter<u64, AtomicU64>,
}

fn seconds_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::default();
        let upstream_fetches = Family::default();
        let upstream_errors = Family::default();
        let upstream_seconds =
            Family::<SiteLabels, Histogram>::new_with_constructor(seconds_histogram as fn() -> _);
        let conversion_seconds =
            Family::<RouteLabels, Histogram>::new_with_constructor(seconds_histogram as fn() -> _);
        let mut registry = Registry::with_prefix("lightmirror");
        registry.register(
            "requests",
            "Requests answered, by site, status class and cache result",
            requests.clone(),
        );
        registry.register(
            "upstream_fetches",
            "Upstream fetches started",
            upstream_fetches.clone(),
        );
        registry.register(
            "upstream_errors",
            "Upstream fetches that gave no page, by kind",
            upstream_errors.clone(),
        );
        registry.register(
            "upstream_seconds",
            "Time to the upstream's response head",
            upstream_seconds.clone(),
        );
        registry.register(
            "conversion_seconds",
            "Time to convert a page, from the upstream's response head to the last Light byte",
            conversion_seconds.clone(),
        );
        let metrics = Self {
            registry,
            requests,
            upstream_fetches,
            upstream_errors,
            upstream_seconds,
            conversion_seconds,
            light_bytes: Family::default(),
            original_bytes: Family::default(),
            content_fallbacks: Family::default(),
            low_confidence: Family::default(),
            connections: Gauge::default(),
            inflight_bytes: Gauge::default(),
            cache_pages: Gauge::default(),
            cache_bytes: Gauge::default(),
            config_generation: Gauge::default(),
            last_reload_ok: Gauge::default(),
            reloads: Counter::default(),
        };
        metrics.register_rest()
    }
}

impl Metrics {
    fn register_rest(mut self) -> Self {
        let registry = &mut self.registry;
        registry.register(
            "light_bytes",
            "Bytes of Light pages converted, before compression",
            self.light_bytes.clone(),
        );
        registry.register(
            "original_bytes",
            "Bytes of the original pages those Light pages were made from",
            self.original_bytes.clone(),
        );
        registry.register(
            "content_fallbacks",
            "Pages whose site's content rules matched nothing, so detection found the article",
            self.content_fallbacks.clone(),
        );
        registry.register(
            "low_confidence",
            "Pages converted by detection with a confidence so low that they say the article may be incomplete",
            self.low_confidence.clone(),
        );
        registry.register(
            "connections",
            "Client connections open",
            self.connections.clone(),
        );
        registry.register(
            "inflight_bytes",
            "Memory charged to requests in flight",
            self.inflight_bytes.clone(),
        );
        registry.register(
            "cache_pages",
            "Light pages held in memory",
            self.cache_pages.clone(),
        );
        registry.register(
            "cache_bytes",
            "Bytes of Light pages held in memory",
            self.cache_bytes.clone(),
        );
        registry.register(
            "config_generation",
            "Configurations loaded since start, the first one included",
            self.config_generation.clone(),
        );
        registry.register(
            "last_reload_ok",
            "1 when the last reload was applied, 0 when it was refused",
            self.last_reload_ok.clone(),
        );
        registry.register("reloads", "Reloads attempted", self.reloads.clone());
        self.config_generation.set(1);
        self.last_reload_ok.set(1);
        self
    }

    /// One upstream fetch's time to its response head.
    pub(crate) fn upstream_took(&self, site: &str, took: Duration) {
        self.upstream_seconds
            .get_or_create(&SiteLabels {
                site: site.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// One upstream failure.
    pub(crate) fn upstream_failed(&self, site: &str, kind: &'static str) {
        self.upstream_errors
            .get_or_create(&ErrorLabels {
                site: site.to_owned(),
                kind,
            })
            .inc();
    }

    /// One page whose `content` rules matched nothing, converted by detection instead.
    pub(crate) fn content_fell_back(&self, site: &str) {
        self.content_fallbacks
            .get_or_create(&SiteLabels {
                site: site.to_owned(),
            })
            .inc();
    }

    /// One page converted by detection with a confidence under the notice's threshold.
    pub(crate) fn low_confidence(&self, site: &str) {
        self.low_confidence
            .get_or_create(&SiteLabels {
                site: site.to_owned(),
            })
            .inc();
    }

    /// One finished conversion.
    pub(crate) fn converted(
        &self,
        site: &str,
        route: &'static str,
        took: Duration,
        light: usize,
        original: usize,
    ) {
        self.conversion_seconds
            .get_or_create(&RouteLabels { route })
            .observe(took.as_secs_f64());
        let site = SiteLabels {
            site: site.to_owned(),
        };
        self.light_bytes.get_or_create(&site).inc_by(light as u64);
        self.original_bytes
            .get_or_create(&site)
            .inc_by(original as u64);
    }

    /// The text exposition of everything registered.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_names_a_cache_result_as_the_metrics_label_does() {
        for result in [
            CacheResult::hit,
            CacheResult::miss,
            CacheResult::collapsed,
            CacheResult::stale,
            CacheResult::uncacheable,
        ] {
            let metrics = Metrics::default();
            let labels = RequestLabels {
                site: "ledger".into(),
                status: status_class(http::StatusCode::OK),
                cache: result,
            };
            metrics.requests.get_or_create(&labels).inc();
            let label = format!("cache=\"{}\"", result.name());
            assert!(metrics.encode().contains(&label), "{label} not exposed");
        }
    }

    #[test]
    fn the_exposition_names_every_family_with_its_labels() {
        let metrics = Metrics::default();
        metrics
            .requests
            .get_or_create(&RequestLabels {
                site: "ledger".into(),
                status: status_class(http::StatusCode::OK),
                cache: CacheResult::hit,
            })
            .inc();
        metrics.upstream_took("ledger", Duration::from_millis(20));
        metrics.converted("ledger", "detected", Duration::from_millis(2), 10, 300);
        let text = metrics.encode();
        for line in [
            "lightmirror_requests_total{site=\"ledger\",status=\"2xx\",cache=\"hit\"} 1",
            "lightmirror_upstream_seconds_count{site=\"ledger\"} 1",
            "lightmirror_conversion_seconds_count{route=\"detected\"} 1",
            "lightmirror_original_bytes_total{site=\"ledger\"} 300",
            "lightmirror_config_generation 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
