//! Serves the bundled sample news site alone, so that a load test can run the Light proxy
//! in a process of its own and measure that process only (see `bench/load.sh`):
//!
//! ```text
//! cargo run --release --example sample_site -- 127.0.0.1:8081
//! ```

use std::error::Error;
use std::net::SocketAddr;

use lightmirror::demo::{self, ARTICLE_PATH, PERSIAN_ARTICLE_PATH, SLOW_PREFIX};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .as_deref()
        .unwrap_or("127.0.0.1:8081")
        .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let site = demo::start(listener).await?;
    println!("sample site:     {}", site.url("/"));
    println!("article:         {}", site.url(ARTICLE_PATH));
    println!("Persian article: {}", site.url(PERSIAN_ARTICLE_PATH));
    println!(
        "slow article:    {}",
        site.url(&format!("{SLOW_PREFIX}{ARTICLE_PATH}"))
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
