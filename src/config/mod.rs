//! Deployment configuration: the TOML schema with its defaults (`schema`), and loading
//! with validation that reports every problem in a file at once (`load`). The rest of the
//! program sees only the checked [`Site`] and [`Config`] values, never raw TOML.

mod forms;
mod images;
mod join;
mod load;
mod reload;
mod schema;
mod selectors;
mod site;

pub use images::ImageRules;
pub use join::JoinRules;
pub use load::{load_file, parse, ConfigError, Problem};
pub use reload::restart_only_changes;
pub use schema::{
    CacheConfig, Config, ImageMode, KindRule, LimitsConfig, LogFormat, PageKind, QueryConfig,
    QueryMode, RobotsRule, SectionConfig, ServerConfig, SiteConfig,
};
pub use site::{PathGlob, SearchForm, Section, Site, UpstreamRate};
