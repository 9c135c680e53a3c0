//! lightmirror serves fast, safe, text-first Light versions of configured news and
//! article sites. The pipeline runs in stages, one module each: `config` (what to serve),
//! `route` (which site and upstream URL a request means), `upstream` (fetching within
//! limits), `decode` (bytes to UTF-8), `rewrite` (the streaming Light pass and its
//! allowlist), `extract` (finding the article when no rule says where it is), `page` (the
//! Light page shell), `convert` (the stages joined), `cache`, `fleet` (the store a fleet of
//! instances shares) and `server`; `demo` is the
//! bundled sample news site that the demo, the tests and the benchmarks run against.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub(crate) mod budget;
pub mod cache;
pub(crate) mod charref;
pub(crate) mod compress;
pub mod config;
pub mod convert;
pub mod decode;
pub mod demo;
pub(crate) mod error;
pub mod eval;
pub mod extract;
pub(crate) mod feed;
pub(crate) mod fleet;
pub mod image;
pub mod lang;
pub mod log_format;
pub mod log_writer;
pub(crate) mod metrics;
pub mod page;
pub mod rewrite;
pub mod route;
pub mod server;
pub mod snippet;
pub mod upstream;
