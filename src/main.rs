//! The `lightmirror` command: parse flags, load configuration, start logging, run.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use url::Url;

use lightmirror::config::{self, Config, LimitsConfig, Site};
use lightmirror::convert::convert_document;
use lightmirror::extract;
use lightmirror::server::ServerHandle;

/// Serves fast, safe, text-first Light versions of news and article sites.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Light proxy.
    Serve {
        /// The deployment's TOML configuration.
        #[arg(long)]
        config: PathBuf,
    },
    /// Convert one saved page (FILE, or standard input) as if fetched from URL.
    Convert {
        /// The URL the page was fetched from.
        #[arg(long)]
        url: Url,
        /// What to print.
        #[arg(long, value_enum, default_value_t = Format::Html)]
        format: Format,
        /// A configuration whose site for URL's origin supplies the rules.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The saved page; standard input when absent.
        file: Option<PathBuf>,
    },
    /// Validate a configuration and list every problem in it.
    Check {
        /// The TOML configuration.
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// The whole Light page.
    Html,
    /// The article as plain text.
    Text,
    /// Metadata, text and Light body as a JSON object.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lightmirror: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve { config } => serve(config),
        Command::Convert {
            url,
            format,
            config,
            file,
        } => convert(&url, format, config, file),
        Command::Check { config } => {
            let (_, sites) = config::load_file(&config)?;
            println!(
                "{}: valid, {} site(s): {}",
                config.display(),
                sites.len(),
                names(&sites)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn names(sites: &[Site]) -> String {
    sites
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LIGHTMIRROR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
}

fn serve(path: PathBuf) -> Result<ExitCode> {
    let (config, sites) = config::load_file(&path)?;
    init_logging();
    let runtime = tokio::runtime::Runtime::new().context("start the async runtime")?;
    runtime.block_on(async move {
        let listen = config.server.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listen on {listen}"))?;
        tracing::info!(%listen, sites = %names(&sites), "serving");
        let handle = ServerHandle::new(config, sites)?;
        spawn_reloader(handle.clone(), path);
        handle.serve(listener, shutdown_signal()).await;
        Ok(ExitCode::SUCCESS)
    })
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

/// SIGHUP reloads the configuration; an invalid file is reported and the old one stays.
fn spawn_reloader(handle: ServerHandle, path: PathBuf) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match config::load_file(&path) {
                Ok((config, sites)) => match handle.reload(config, sites) {
                    Ok(()) => tracing::info!(path = %path.display(), "configuration reloaded"),
                    Err(e) => {
                        tracing::error!(error = %e, "reload failed; keeping the old configuration")
                    }
                },
                Err(e) => tracing::error!(error = %e, "invalid configuration; keeping the old one"),
            }
        }
    });
}

fn convert(
    url: &Url,
    format: Format,
    config: Option<PathBuf>,
    file: Option<PathBuf>,
) -> Result<ExitCode> {
    if !matches!(url.scheme(), "http" | "https") {
        bail!("--url must be an http or https URL");
    }
    let (limits, site) = match config {
        Some(path) => {
            let (config, sites): (Config, Vec<Site>) = config::load_file(&path)?;
            let site = sites
                .into_iter()
                .find(|s| s.is_upstream(url))
                .with_context(|| {
                    format!(
                        "no site in {} has the upstream {}",
                        path.display(),
                        url.origin().ascii_serialization()
                    )
                })?;
            (config.limits, site)
        }
        None => (LimitsConfig::default(), Site::ad_hoc(url)),
    };
    let mut bytes = Vec::new();
    match &file {
        Some(path) => {
            bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
        }
        None => {
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("read standard input")?;
        }
    }
    let (page, finished) = convert_document(&site, url, &limits, None, &bytes)?;
    match format {
        Format::Html => print!("{}", String::from_utf8_lossy(&page)),
        Format::Text => println!("{}", extract::to_text(&finished.body)),
        Format::Json => {
            let meta = &finished.meta;
            let json = serde_json::json!({
                "url": url.as_str(),
                "title": meta.title,
                "byline": meta.byline,
                "published": meta.published,
                "lang": meta.lang,
                "dir": meta.dir,
                "site_name": meta.site_name,
                "excerpt": meta.excerpt,
                "kind": finished.kind,
                "text": extract::to_text(&finished.body),
                "html": finished.body,
            });
            println!("{}", serde_json::to_string_pretty(&json)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
