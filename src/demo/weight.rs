//! What makes the sample site heavy: the inline utility stylesheet in the head, and the
//! script bundle and client-side state blob at the end of the body, as real news pages
//! carry them around a few kilobytes of story. All of it is generated from a fixed seed,
//! so every run serves the same bytes and sizes and benchmarks compare like with like.
//! None of it is meant to run: the bundle only queues modules for a loader the site never
//! ships.

use std::fmt::Write;

use serde_json::{json, Map, Value};

/// How large the script bundle grows, in bytes: roughly what a news site's framework,
/// ad stack and analytics weigh once minified.
const BUNDLE_BYTES: usize = 180_000;

/// Feature flags in the state blob; sites carry hundreds of experiments at once.
const FLAGS: usize = 450;

/// A small linear congruential generator: deterministic, dependency-free, and plenty for
/// choosing words.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[self.below(words.len())]
    }
}

const COMPONENTS: &[&str] = &[
    "storyCard",
    "adSlot",
    "paywallMeter",
    "consentBanner",
    "shareBar",
    "newsletterBox",
    "commentThread",
    "mostRead",
    "liveTicker",
    "videoPlayer",
    "imageLazy",
    "byline",
    "relatedRail",
    "searchBox",
    "navDrawer",
    "stickyAd",
    "scrollDepth",
    "readProgress",
    "authorCard",
    "topicFollow",
];

const VERBS: &[&str] = &[
    "track", "render", "hydrate", "observe", "measure", "refresh", "collapse", "expand", "request",
    "defer", "resolve", "attach", "detach", "sync", "mount", "flush",
];

const EVENTS: &[&str] = &[
    "impression",
    "viewable",
    "click",
    "scroll_25",
    "scroll_50",
    "scroll_75",
    "scroll_100",
    "engaged_time",
    "share",
    "subscribe_start",
    "paywall_shown",
    "consent_update",
    "video_start",
    "video_quartile",
];

/// The inline stylesheet: the hand-written component styles followed by a utility-class
/// framework, every spacing, colour and width class at every breakpoint, as CSS
/// frameworks ship them when nobody purges the unused ones.
pub fn stylesheet(components: &str) -> String {
    let mut css = String::with_capacity(64 << 10);
    css.push_str(components);
    let spacing = [
        ("m", &["margin"][..]),
        ("mt", &["margin-top"]),
        ("mr", &["margin-right"]),
        ("mb", &["margin-bottom"]),
        ("ml", &["margin-left"]),
        ("mx", &["margin-left", "margin-right"]),
        ("my", &["margin-top", "margin-bottom"]),
        ("p", &["padding"]),
        ("pt", &["padding-top"]),
        ("pr", &["padding-right"]),
        ("pb", &["padding-bottom"]),
        ("pl", &["padding-left"]),
        ("px", &["padding-left", "padding-right"]),
        ("py", &["padding-top", "padding-bottom"]),
    ];
    let palette = [
        ("slate", "#64748b"),
        ("red", "#dc2626"),
        ("orange", "#ea580c"),
        ("amber", "#d97706"),
        ("green", "#16a34a"),
        ("teal", "#0d9488"),
        ("sky", "#0284c7"),
        ("blue", "#2563eb"),
        ("indigo", "#4f46e5"),
        ("violet", "#7c3aed"),
        ("pink", "#db2777"),
        ("harbour", "#0b2a4a"),
    ];
    for (prefix, open, close) in [
        ("", "", ""),
        ("sm\\:", "@media (min-width:40em){", "}"),
        ("md\\:", "@media (min-width:48em){", "}"),
        ("lg\\:", "@media (min-width:64em){", "}"),
    ] {
        css.push_str(open);
        for (class, properties) in spacing {
            for step in 0..=12u32 {
                let _ = write!(css, ".{prefix}{class}-{step}{{");
                for property in properties {
                    let _ = write!(css, "{property}:{}rem;", f64::from(step) * 0.25);
                }
                css.push('}');
            }
        }
        for twelfths in 1..=12u32 {
            let _ = write!(
                css,
                ".{prefix}w-{twelfths}\\/12{{width:{:.6}%}}",
                f64::from(twelfths) * 100.0 / 12.0
            );
        }
        css.push_str(close);
    }
    for (name, hex) in palette {
        for shade in [50, 100, 200, 300, 400, 500, 600, 700, 800, 900] {
            let alpha = f64::from(shade) / 1000.0 + 0.05;
            let _ = write!(
                css,
                ".text-{name}-{shade}{{color:{hex};opacity:{alpha:.2}}}\
                 .bg-{name}-{shade}{{background-color:{hex}{:02x}}}\
                 .border-{name}-{shade}{{border-color:{hex}}}",
                (alpha * 255.0) as u8
            );
        }
    }
    css
}

/// The script bundle: a chunk of modules pushed onto a loader queue, shaped like the
/// output of a JavaScript bundler. Valid JavaScript that defines functions and calls none.
pub(crate) fn bundle() -> String {
    let mut rng = Lcg(0x4c45_4447_4552);
    let mut js = String::with_capacity(BUNDLE_BYTES + 1024);
    js.push_str("/*! ledger-web 24.11.3 | (c) Harbour Ledger Media | bundled */\n");
    js.push_str("(self.webpackChunkledger_web=self.webpackChunkledger_web||[]).push([[179],{");
    let mut id = 1000;
    while js.len() < BUNDLE_BYTES {
        id += 1 + rng.below(97);
        let component = rng.pick(COMPONENTS);
        let verb = rng.pick(VERBS);
        let event = rng.pick(EVENTS);
        let dep_a = 100 + rng.below(9000);
        let dep_b = 100 + rng.below(9000);
        let threshold = rng.below(100);
        let delay = 50 * (1 + rng.below(40));
        let _ = write!(
            js,
            "{id}:function(e,t,n){{\"use strict\";n.d(t,{{Z:function(){{return s}}}});\
             var o=n({dep_a}),i=n.n(o),r=n({dep_b});\
             function a(e){{return e&&e.dataset?e.dataset.{component}Id||null:null}}\
             function s(e,t){{var n=a(e);if(!n)return!1;var o=(t&&t.ratio)||0;\
             return o*100>={threshold}?(r.Z.push({{event:\"{event}\",component:\"{component}\",id:n,\
             ts:Date.now()}}),i()(function(){{e.classList.add(\"is-{verb}ed\")}},{delay}),!0):\
             (e.setAttribute(\"data-{verb}-pending\",\"\"+o),!1)}}}},"
        );
    }
    js.push_str("}]);");
    js
}

/// Feature flags and experiments, as the state blob lists them for the client.
pub fn flags() -> Value {
    let mut rng = Lcg(0x0066_6c61_6773);
    let mut flags = Map::new();
    for n in 0..FLAGS {
        let name = format!(
            "{}_{}_{}_{n}",
            rng.pick(COMPONENTS),
            rng.pick(VERBS),
            rng.pick(EVENTS)
        );
        let variant = ["control", "treatment_a", "treatment_b", "holdout"][rng.below(4)];
        flags.insert(
            name,
            json!({
                "enabled": rng.below(3) > 0,
                "variant": variant,
                "rollout": rng.below(101),
                "sticky": rng.below(2) == 0,
            }),
        );
    }
    Value::Object(flags)
}

/// Advertising configuration: every slot, size and targeting key the ad stack is told.
pub(crate) fn ad_config(section: &str) -> Value {
    let mut rng = Lcg(0x0061_6473);
    let bidders: Vec<Value> = (0..24)
        .map(|n| {
            json!({
                "bidder": format!("partner{n:02}"),
                "params": {"placementId": 10_000_000 + rng.below(9_000_000), "siteId": 400 + n},
                "timeoutMs": 800 + 50 * rng.below(10),
            })
        })
        .collect();
    json!({
        "network": 2291,
        "section": section,
        "slots": ["top", "inline1", "inline2", "rail1", "rail2", "sticky"],
        "lazyLoad": {"fetchMarginPercent": 500, "renderMarginPercent": 200},
        "bidders": bidders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_weight_is_deterministic_and_sized() {
        assert_eq!(bundle(), bundle());
        assert!(bundle().len() >= BUNDLE_BYTES);
        assert_eq!(flags(), flags());
        assert!(stylesheet("").len() > 40_000);
    }
}
