//! The `lightmirror` command: parse flags, load configuration, start logging, run.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use url::Url;

use lightmirror::config::{self, Config, LimitsConfig, LogFormat, Site};
use lightmirror::convert::convert_document;
use lightmirror::demo;
use lightmirror::eval::{self, EvalArgs};
use lightmirror::server::ServerHandle;
use lightmirror::snippet::Snippet;
use lightmirror::upstream::{Fetcher, Outcome};
use lightmirror::{log_format, log_writer};

#[cfg(all(unix, not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    /// Validate a configuration and list every problem in it; with samples, show what
    /// each site's rules extract from saved pages.
    Check {
        /// The TOML configuration.
        #[arg(long)]
        config: PathBuf,
        /// A saved page as URL=FILE, converted with the rules of the site whose upstream
        /// the URL is on. Repeatable. Given with no URL=FILE, each site's `test_urls` are
        /// fetched live instead.
        #[arg(long = "sample", value_name = "URL=FILE", num_args = 0..)]
        samples: Option<Vec<String>>,
        /// Never fetch: `--sample` then needs URL=FILE pairs.
        #[arg(long)]
        offline: bool,
    },
    /// Start a bundled sample news site on loopback and the Light proxy in front of it;
    /// no internet needed.
    Demo,
    /// Print the "Switch to Light" banner for a publisher to place in the full site, and
    /// (on standard error) the CSP sources that allow its inline script and style.
    Snippet {
        /// Root URL of the Light site, as readers reach it (http or https, no query).
        #[arg(long)]
        light_url: Url,
        /// The name in the link ("Switch to NAME"); "the Light version" in --lang.
        #[arg(long)]
        label: Option<String>,
        /// Language of the banner's words (en, fa, ar, ru, uk, zh, es, fr, tr, ur).
        #[arg(long)]
        lang: Option<String>,
        /// Seconds the full page may take before the banner shows.
        #[arg(long, default_value_t = 8)]
        after: u32,
    },
    /// Purge cached pages through a running server's admin listener and print how many
    /// went: the whole site, one page with its query variants (--path), or every page
    /// under a prefix (--prefix).
    Purge {
        /// The admin listener, as `[admin] listen` gives it (host:port).
        #[arg(long, value_name = "ADDR")]
        admin: String,
        /// The site's name, as in `[[site]] name`.
        #[arg(long)]
        site: String,
        /// One page's path; every query variant of it goes too.
        #[arg(long, conflicts_with = "prefix")]
        path: Option<String>,
        /// A path prefix; every page under it goes.
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Score article extraction on a corpus laid out as `<case>/source.html`,
    /// `expected.html` and `expected-metadata.json`, or as `cases.json` (passages each
    /// page's article contains and boilerplate it leaves out) beside `pages/`.
    Eval {
        /// The corpus directory.
        #[arg(long)]
        corpus: PathBuf,
        /// Exit non-zero when the overall F1 is below this.
        #[arg(long)]
        floor: Option<f64>,
        /// Write the extracted texts here as `{case: {"articleBody": text}}`.
        #[arg(long, value_name = "FILE")]
        dump: Option<PathBuf>,
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
        Command::Check {
            config,
            samples,
            offline,
        } => check(&config, samples, offline),
        Command::Demo => demo(),
        Command::Snippet {
            light_url,
            label,
            lang,
            after,
        } => {
            let snippet = Snippet::new(&light_url, label.as_deref(), after, lang.as_deref())?;
            print!("{}", snippet.html());
            eprintln!(
                "Content-Security-Policy sources for the banner: {}",
                snippet.csp_sources()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Purge {
            admin,
            site,
            path,
            prefix,
        } => {
            let removed = purge(&admin, &site, path, prefix)?;
            println!("{removed}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval {
            corpus,
            floor,
            dump,
        } => {
            let report = eval::run(&EvalArgs {
                corpus,
                floor,
                dump,
            })?;
            println!("{report}");
            Ok(if report.passes() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn names(sites: &[Arc<Site>]) -> String {
    sites
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Starts logging to standard error through a writer thread ([`log_writer`]), so that a
/// request's log line costs a copy into a shared buffer instead of a `write` system call or
/// a wake-up of the writer. Lines still buffered are written when the returned guard is
/// dropped, at the end of the command.
fn init_logging(format: LogFormat) -> Result<log_writer::LogGuard> {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("LIGHTMIRROR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = log_writer::start(std::io::stderr()).context("start the log writer")?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_timer(log_format::Timestamps)
        .with_writer(writer);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder
            .fmt_fields(log_format::PlainFields)
            .with_ansi(std::io::stderr().is_terminal())
            .init(),
    }
    Ok(guard)
}

fn serve(path: PathBuf) -> Result<ExitCode> {
    let (config, sites) = config::load_file(&path)?;
    let _log = init_logging(config.server.log_format)?;
    let runtime = tokio::runtime::Runtime::new().context("start the async runtime")?;
    runtime.block_on(async move {
        let listen = config.server.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listen on {listen}"))?;
        tracing::info!(%listen, sites = %names(&sites), "serving");
        let admin = match config.admin.listen {
            Some(admin) => Some(
                tokio::net::TcpListener::bind(admin)
                    .await
                    .with_context(|| format!("admin listener on {admin}"))?,
            ),
            None => None,
        };
        let handle = ServerHandle::new(config, sites)?;
        if let Some(admin) = admin {
            tracing::info!(admin = %admin.local_addr()?, "admin listener");
            let handle = handle.clone();
            tokio::spawn(async move { handle.serve_admin(admin).await });
        }
        spawn_reloader(handle.clone(), path);
        handle.serve(listener, shutdown_signal()).await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Asks the admin listener at `admin` for a purge; the number of pages removed.
fn purge(admin: &str, site: &str, path: Option<String>, prefix: Option<String>) -> Result<u64> {
    let url = if admin.contains("://") {
        format!("{}/purge", admin.trim_end_matches('/'))
    } else {
        format!("http://{admin}/purge")
    };
    let mut form = vec![("site", site.to_owned())];
    form.extend(path.map(|path| ("path", path)));
    form.extend(prefix.map(|prefix| ("prefix", prefix)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        let response = client
            .post(&url)
            .form(&form)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .with_context(|| format!("POST {url}"))?;
        if !status.is_success() {
            bail!("{url} answered {status}: {}", body.trim());
        }
        let answer: serde_json::Value =
            serde_json::from_str(&body).with_context(|| format!("{url} answered {body:?}"))?;
        answer["removed"]
            .as_u64()
            .with_context(|| format!("{url} answered {body:?}"))
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
                Err(e) => {
                    handle.reload_refused();
                    tracing::error!(error = %e, "invalid configuration; keeping the old one")
                }
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
            let (config, sites): (Config, Vec<Arc<Site>>) = config::load_file(&path)?;
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
        None => (LimitsConfig::default(), Arc::new(Site::ad_hoc(url))),
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
        Format::Html => emit(&page)?,
        Format::Text => emit(format!("{}\n", finished.text).as_bytes())?,
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
                "confidence": (finished.confidence * 100.0).round() / 100.0,
                "text": finished.text,
                "html": finished.body,
            });
            emit(format!("{}\n", serde_json::to_string_pretty(&json)?).as_bytes())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a converted page to standard output. A reader that has closed the pipe
/// (`lightmirror convert ... | head`) has what it wanted: the program ends quietly.
fn emit(bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        written => written.context("write standard output"),
    }
}

/// Whether this user could keep pages in `dir`: a file can be made there, or, when `dir`
/// does not exist yet, in the nearest directory above it, where the server would create
/// it. Nothing is left behind.
fn writable(dir: &std::path::Path) -> std::io::Result<()> {
    let existing = dir
        .ancestors()
        .find(|d| d.as_os_str().is_empty() || d.is_dir())
        .map(|d| {
            if d.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                d
            }
        })
        .unwrap_or(dir);
    let probe = existing.join(format!(".lightmirror-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

/// Validates a configuration, then shows what each sample page yields under its site's
/// rules, flagging what usually means a redesign broke them. `samples` are saved pages;
/// `Some` empty list means each site's `test_urls`, fetched live unless `offline`.
fn check(path: &std::path::Path, samples: Option<Vec<String>>, offline: bool) -> Result<ExitCode> {
    let (config, sites) = config::load_file(path)?;
    if let Some(dir) = &config.cache.dir {
        if let Err(why) = writable(dir) {
            println!(
                "{}: cache.dir \"{}\" is not writable by this user ({why}); the server would \
                 keep its cache in memory only",
                path.display(),
                dir.display()
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    println!(
        "{}: valid, {} site(s): {}",
        path.display(),
        sites.len(),
        names(&sites)
    );
    let mut broken = false;
    match samples {
        None => {}
        Some(samples) if samples.is_empty() => {
            if offline {
                bail!(
                    "--sample without URL=FILE fetches each site's test_urls, which --offline \
                     forbids: save the pages and give them as --sample URL=FILE"
                );
            }
            broken = check_test_urls(&config, &sites)?;
        }
        Some(samples) => {
            for sample in &samples {
                let (url, file) = sample
                    .split_once('=')
                    .with_context(|| format!("--sample {sample}: expected URL=FILE"))?;
                let url = Url::parse(url).with_context(|| format!("--sample {sample}: bad URL"))?;
                let site = sites
                    .iter()
                    .find(|s| s.is_upstream(&url))
                    .with_context(|| {
                        format!(
                            "--sample {sample}: no site has the upstream {}",
                            url.origin().ascii_serialization()
                        )
                    })?;
                let bytes = std::fs::read(file).with_context(|| format!("read {file}"))?;
                broken |= report_sample(&config, site, &url, None, &bytes)?;
            }
        }
    }
    Ok(if broken {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Fetches every site's `test_urls` as the server would (same limits and address checks)
/// and reports each; whether any looked broken or could not be fetched.
fn check_test_urls(config: &config::Config, sites: &[Arc<Site>]) -> Result<bool> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let fetcher = Fetcher::new(&config.limits)?;
    let mut broken = false;
    let mut any = false;
    for site in sites {
        for url in &site.test_urls {
            any = true;
            match runtime.block_on(fetch_whole(&fetcher, site, url)) {
                Ok((content_type, bytes)) => {
                    broken |= report_sample(config, site, url, content_type.as_deref(), &bytes)?;
                }
                Err(why) => {
                    broken = true;
                    println!("\n{url} (site {})\n  FAILED:    {why}", site.name);
                }
            }
        }
    }
    if !any {
        println!("no site lists test_urls: nothing to sample");
    }
    Ok(broken)
}

/// The body and `Content-Type` of the page at `url`, read whole within the limits.
async fn fetch_whole(
    fetcher: &Fetcher,
    site: &Site,
    url: &Url,
) -> Result<(Option<String>, Vec<u8>)> {
    let mut response = match fetcher.fetch(site, url.clone()).await? {
        Outcome::Page(response) => response,
        Outcome::Elsewhere(target) => bail!("redirected off the site, to {target}"),
        Outcome::Unlinkable(scheme) => bail!("redirected to a {scheme}: URL"),
    };
    if !response.status.is_success() {
        bail!("the upstream answered {}", response.status);
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        bytes.extend_from_slice(&chunk);
    }
    Ok((response.content_type.clone(), bytes))
}

/// Prints what `site`'s rules make of the page at `url`; whether it looks broken.
fn report_sample(
    config: &config::Config,
    site: &Arc<Site>,
    url: &Url,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<bool> {
    let (page, found) = convert_document(site, url, &config.limits, content_type, bytes)?;
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
    let words = found.text.split_whitespace().count();
    let mode = match (site.content.is_empty(), found.content_fallback) {
        (true, _) => "detection",
        (false, false) => "content rules",
        (false, true) => "content rules matched nothing: detection",
    };
    println!("\n{url} (site {}, {mode})", site.name);
    println!("  kind:      {:?}", found.kind);
    println!("  title:     {}", show(&found.meta.title));
    println!("  byline:    {}", show(&found.meta.byline));
    println!("  published: {}", show(&found.meta.published));
    println!(
        "  language:  {} {}",
        show(&found.meta.lang),
        show(&found.meta.dir)
    );
    println!(
        "  text:      {words} words; Light page {} bytes from {} bytes",
        page.len(),
        bytes.len()
    );
    let opening: String = found.text.chars().take(160).collect();
    println!("  opens:     {}", opening.replace('\n', " "));
    let mut broken = false;
    let mut warn = |message: &str| {
        broken = true;
        println!("  WARNING:   {message}");
    };
    if found.content_fallback {
        warn("the content selectors matched nothing: has the site's layout changed?");
    }
    if words < 50 && found.kind == config::PageKind::Article {
        warn("fewer than 50 words of article text: do the content selectors still match?");
    }
    if found.meta.title.is_none() {
        warn("no title found");
    }
    if site.byline.is_some() && found.meta.byline.is_none() {
        warn("the byline selector matched nothing");
    }
    if site.date.is_some() && found.meta.published.is_none() {
        warn("the date selector matched nothing");
    }
    Ok(broken)
}

/// Binds the demo's usual port, or any free one when it is taken.
async fn bind_loopback(port: u16) -> Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => Ok(listener),
        Err(_) => tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("listen on a loopback port"),
    }
}

fn demo() -> Result<ExitCode> {
    let _log = init_logging(LogFormat::Text)?;
    let runtime = tokio::runtime::Runtime::new().context("start the async runtime")?;
    runtime.block_on(async {
        let sample = demo::start(bind_loopback(8081).await?).await?;
        let listener = bind_loopback(8080).await?;
        let light = listener.local_addr()?;
        let (config, sites) = config::parse(
            &demo::demo_config(sample.addr(), light),
            "demo configuration",
        )?;
        let handle = ServerHandle::new(config, sites)?;
        let serving = handle.clone();
        let server = tokio::spawn(async move { serving.serve(listener, shutdown_signal()).await });

        let port = light.port();
        println!(
            "Sample news site (the heavy original):  {}",
            sample.url("/")
        );
        println!("Light site, streamed by content rules:  http://127.0.0.1:{port}/");
        println!("Light site, article detection:          http://localhost:{port}/");
        println!();
        println!("One page each way (bytes on the wire, uncompressed / gzip):");
        for path in [demo::ARTICLE_PATH, demo::PERSIAN_ARTICLE_PATH, "/"] {
            let original = sample.url(path);
            let light_url = format!("http://127.0.0.1:{port}{path}");
            let (raw, gz) = sizes(&original).await?;
            let (light_raw, light_gz) = sizes(&light_url).await?;
            println!("  {original}\n      original {raw:>9} / {gz:>7}");
            println!("  {light_url}\n      Light    {light_raw:>9} / {light_gz:>7}");
        }
        println!();
        println!("Serving until Ctrl-C.");
        server.await.context("the server task failed")?;
        Ok(ExitCode::SUCCESS)
    })
}

/// A page's size as sent plainly and as sent with gzip.
async fn sizes(url: &str) -> Result<(usize, usize)> {
    let client = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .no_proxy()
        .build()?;
    let mut lengths = [0; 2];
    for (length, coding) in lengths.iter_mut().zip(["identity", "gzip"]) {
        let response = client
            .get(url)
            .header("accept-encoding", coding)
            .send()
            .await?;
        *length = response.error_for_status()?.bytes().await?.len();
    }
    Ok((lengths[0], lengths[1]))
}
