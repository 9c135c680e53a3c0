//! The attacker of `bench/attack.sh`: three attacks on a running `lightmirror serve`, each
//! a subcommand, against the generated pages of `examples/sample_site.rs` behind it:
//!
//! ```text
//! attack --proxy 127.0.0.1:18090 --streamed-host 127.0.0.1:18090 \
//!        --detected-host localhost:18090 --pages 127.0.0.1:18092 flood|stall|memory
//! ```
//!
//! - `flood`: connections that never send a request (silent, half the HTTP/2 preface, the
//!   preface and SETTINGS) fill the proxy's connection slots and are reopened when closed,
//!   while a reader fetches pages on new connections;
//! - `stall`: an HTTP/2 connection with a zero window and HTTP/1 connections that never
//!   read ask for pages of the streamed site, while a reader fetches other pages of it;
//!   then whether the attacked pages reached the cache;
//! - `memory`: many readers of distinct large pages on both sites, and zero-window HTTP/2
//!   streams of uncacheable pages.
//!
//! Progress goes to stderr; figures go to stdout, one `name<TAB>value` line each, for the
//! script's table. Every loop is bounded in time and count; traffic stays on the addresses
//! given.

use std::fmt::{self, Display};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use futures_util::StreamExt;
use http::header::HOST;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until, timeout, timeout_at, Instant};

/// Attacks on a running Light proxy, with figures.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    attack: Attack,
}

/// Where the proxy and the generated pages are.
#[derive(Args, Clone)]
struct Target {
    /// The proxy's address.
    #[arg(long)]
    proxy: SocketAddr,
    /// Host (with port) of the proxy's site whose pages stream (`content` rules).
    #[arg(long)]
    streamed_host: String,
    /// Host (with port) of the proxy's site whose articles are detected.
    #[arg(long)]
    detected_host: String,
    /// Address of the generated pages (`sample_site`'s second address), for its counts.
    #[arg(long)]
    pages: SocketAddr,
    /// Part of every page name, so that each run asks for pages no earlier run cached.
    #[arg(long, default_value_t = std::process::id())]
    run: u32,
}

#[derive(Subcommand)]
enum Attack {
    /// Connections that never speak, held at the connection limit.
    Flood(FloodArgs),
    /// Readers that never read, on both protocols.
    Stall(StallArgs),
    /// Many large pages in flight at once.
    Memory(MemoryArgs),
}

#[derive(Args)]
struct FloodArgs {
    /// Connections held open, shared out in turn among the kinds.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// What the connections send before falling silent: `silent` (nothing), `half` (half
    /// the HTTP/2 preface), `settings` (the preface and a SETTINGS frame).
    #[arg(long, value_delimiter = ',', default_value = "silent,half,settings")]
    kinds: Vec<Silence>,
    /// How long the flood is held.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Requests by the reader, spread over the flood, each on a new connection.
    #[arg(long, default_value_t = 50)]
    probes: usize,
    /// Pause before a closed flood connection is reopened, in milliseconds.
    #[arg(long, default_value_t = 100)]
    reopen_ms: u64,
    /// The proxy's `header_read_timeout` in seconds, to tell connections closed to make
    /// room from those closed at their deadline.
    #[arg(long, default_value_t = 10.0)]
    header_read_timeout: f64,
}

#[derive(Args)]
struct StallArgs {
    /// Streams on the zero-window HTTP/2 connection, each for its own page.
    #[arg(long, default_value_t = 64)]
    h2_streams: usize,
    /// Size of those pages, in KiB.
    #[arg(long, default_value_t = 256)]
    h2_page_kib: usize,
    /// HTTP/1 connections that send a request and never read.
    #[arg(long, default_value_t = 4)]
    h1_connections: usize,
    /// Size of their pages, in KiB: large enough that the Light page outgrows what the
    /// kernel's buffers and `rewriter_memory` hold together.
    #[arg(long, default_value_t = 8192)]
    h1_page_kib: usize,
    /// The reader's requests for other pages of the site while the attack holds.
    #[arg(long, default_value_t = 48)]
    legit: usize,
    /// How many of those are in flight at once.
    #[arg(long, default_value_t = 8)]
    legit_concurrency: usize,
    /// Longest wait for the proxy to close the zero-window connection, in seconds.
    #[arg(long, default_value_t = 40)]
    hold_seconds: u64,
}

#[derive(Args)]
struct MemoryArgs {
    /// Readers of the detected site, each fetching distinct pages one after another.
    #[arg(long, default_value_t = 200)]
    detected_readers: usize,
    /// Readers of the streamed site, the same way.
    #[arg(long, default_value_t = 200)]
    streamed_readers: usize,
    /// Size of their pages, in KiB.
    #[arg(long, default_value_t = 10240)]
    page_kib: usize,
    /// How long the load lasts.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// HTTP/2 connections with a zero window.
    #[arg(long, default_value_t = 2)]
    zero_window_connections: usize,
    /// Streams on each, for uncacheable pages of both sites in turn.
    #[arg(long, default_value_t = 100)]
    zero_window_streams: usize,
    /// Size of those pages, in KiB.
    #[arg(long, default_value_t = 1024)]
    zero_window_kib: usize,
}

/// The longest any one request may take before it counts as stuck.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let target = Arc::new(cli.target);
    let result = match cli.attack {
        Attack::Flood(args) => flood(target, args).await,
        Attack::Stall(args) => stall(target, args).await,
        Attack::Memory(args) => memory(target, args).await,
    };
    if let Err(e) = result {
        eprintln!("attack failed: {e}");
        std::process::exit(1);
    }
}

/// One figure for the script's table.
fn figure(name: &str, value: impl Display) {
    println!("{name}\t{value}");
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Durations summarised as the table shows them.
#[derive(Default)]
struct Spread(Vec<Duration>);

impl Spread {
    fn at(&self, quantile: f64) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort();
        let rank = ((sorted.len() as f64 * quantile).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }
}

impl Spread {
    /// Minimum, median and maximum, in seconds.
    fn in_seconds(&self) -> String {
        if self.0.is_empty() {
            return "none".to_owned();
        }
        format!(
            "min {}, p50 {}, max {}",
            seconds(self.at(0.0)),
            seconds(self.at(0.5)),
            seconds(self.at(1.0))
        )
    }
}

impl Display for Spread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return write!(f, "none");
        }
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            ms(self.at(0.5)),
            ms(self.at(0.99)),
            ms(self.at(1.0))
        )
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// One response as a reader saw it.
struct Got {
    status: StatusCode,
    bytes: usize,
    /// The body arrived whole (a streamed page cut off by the proxy does not).
    complete: bool,
    /// A streamed page the proxy closed early, with its notice that the rest could not be
    /// loaded, instead of the whole page.
    closed_early: bool,
}

impl Got {
    fn ok(&self) -> bool {
        self.status == StatusCode::OK && self.complete && !self.closed_early
    }
}

/// What the proxy writes near the end of a streamed page it had to close early.
const CLOSED_EARLY: &[u8] = b"The rest of this page could not be loaded.";

/// How much of a body's end is kept to look for [`CLOSED_EARLY`].
const TAIL_BYTES: usize = 8 << 10;

type Sender = SendRequest<Empty<Bytes>>;

/// A new HTTP/1 connection to `addr`.
async fn connect(addr: SocketAddr) -> io::Result<Sender> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// GET `path` from `host` on `sender`, reading the whole body.
async fn get(sender: &mut Sender, host: &str, path: &str) -> io::Result<Got> {
    sender.ready().await.map_err(io::Error::other)?;
    let request = Request::get(path)
        .header(HOST, host)
        .body(Empty::new())
        .map_err(io::Error::other)?;
    let response = sender
        .send_request(request)
        .await
        .map_err(io::Error::other)?;
    let status = response.status();
    let mut body = response.into_body();
    let mut bytes = 0;
    let mut tail = Vec::new();
    let mut complete = true;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                let data = frame.data_ref().map_or(&[][..], |d| &d[..]);
                bytes += data.len();
                tail.extend_from_slice(data);
                if tail.len() > 2 * TAIL_BYTES {
                    tail.drain(..tail.len() - TAIL_BYTES);
                }
            }
            Err(_) => {
                complete = false;
                break;
            }
        }
    }
    let closed_early = tail
        .windows(CLOSED_EARLY.len())
        .any(|window| window == CLOSED_EARLY);
    Ok(Got {
        status,
        bytes,
        complete,
        closed_early,
    })
}

/// GET on a new connection, timed from the connect; `Err` for a failure or a timeout.
async fn get_once(addr: SocketAddr, host: &str, path: &str) -> Result<(Got, Duration), String> {
    let started = Instant::now();
    let attempt = async {
        let mut sender = connect(addr).await?;
        get(&mut sender, host, path).await
    };
    match timeout(REQUEST_TIMEOUT, attempt).await {
        Ok(Ok(got)) => Ok((got, started.elapsed())),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {}", seconds(REQUEST_TIMEOUT))),
    }
}

/// How many times the generated pages were asked for `path` (by the proxy).
async fn upstream_hits(target: &Target, path: &str) -> Result<u64, String> {
    let host = target.pages.to_string();
    let mut sender = connect(target.pages).await.map_err(|e| e.to_string())?;
    let request = Request::get(format!("/_hits{path}"))
        .header(HOST, host)
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    String::from_utf8_lossy(&body)
        .trim()
        .parse()
        .map_err(|_| "the sample site sent no count".to_owned())
}

/// Reader latencies and failures, as the table shows them.
#[derive(Default)]
struct Readings {
    latencies: Spread,
    failures: Vec<String>,
}

impl Readings {
    fn record(&mut self, outcome: Result<(Got, Duration), String>) {
        match outcome {
            Ok((got, elapsed)) if got.ok() => self.latencies.0.push(elapsed),
            Ok((got, _)) => self.failures.push(format!(
                "{} after {} bytes{}",
                got.status,
                got.bytes,
                match (got.complete, got.closed_early) {
                    (false, _) => ", cut off",
                    (true, true) => ", closed early",
                    (true, false) => "",
                }
            )),
            Err(e) => self.failures.push(e),
        }
    }

    fn summary(&self) -> String {
        let total = self.latencies.0.len() + self.failures.len();
        let mut text = format!(
            "{} ({} of {total} failed)",
            self.latencies,
            self.failures.len()
        );
        if let Some(first) = self.failures.first() {
            text.push_str(&format!("; first failure: {first}"));
        }
        text
    }
}

// ---------------------------------------------------------------------------------------
// 1. Idle flood
// ---------------------------------------------------------------------------------------

/// What a flood connection sends before it falls silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Silence {
    #[value(name = "silent")]
    Nothing,
    #[value(name = "half")]
    HalfPreface,
    #[value(name = "settings")]
    PrefaceAndSettings,
}

impl Silence {
    fn bytes(self) -> &'static [u8] {
        const PREFACE_AND_SETTINGS: &[u8] =
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
        match self {
            Self::Nothing => b"",
            Self::HalfPreface => &PREFACE_AND_SETTINGS[..12],
            Self::PrefaceAndSettings => PREFACE_AND_SETTINGS,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Nothing => "silent",
            Self::HalfPreface => "half HTTP/2 preface",
            Self::PrefaceAndSettings => "HTTP/2 preface + SETTINGS",
        }
    }
}

/// What became of one kind of flood connection.
#[derive(Default)]
struct FloodKind {
    opened: usize,
    connect_failures: usize,
    /// From connect to the proxy's close, for each connection the proxy closed.
    lifetimes: Spread,
}

/// TCP's state for an established connection in /proc/net/tcp.
const ESTABLISHED: u8 = 1;

/// This machine's TCP connections as the kernel lists them: local port, remote port and
/// state of each.
fn tcp_table() -> Vec<(u16, u16, u8)> {
    let port = |address: &str| {
        let hex = address.rsplit(':').next()?;
        u16::from_str_radix(hex, 16).ok()
    };
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    // Slot, local address, remote address, state.
                    let fields: Vec<&str> = line.split_whitespace().take(4).collect();
                    let state = u8::from_str_radix(fields.get(3)?, 16).ok()?;
                    Some((port(fields.get(1)?)?, port(fields.get(2)?)?, state))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Connections established to `port` on this machine, as the kernel counts them on the
/// accepting side: what the proxy really holds, which a client cannot tell from a
/// connection dropped in the accept queue.
fn established_at(port: u16) -> usize {
    tcp_table()
        .iter()
        .filter(|&&(local, _, state)| local == port && state == ESTABLISHED)
        .count()
}

async fn flood(target: Arc<Target>, args: FloodArgs) -> Result<(), String> {
    let start = Instant::now();
    let end = start + Duration::from_secs(args.seconds);
    let reopen = Duration::from_millis(args.reopen_ms);
    let silences = args.kinds.clone();
    if silences.is_empty() {
        return Err("no kind of flood connection".to_owned());
    }
    let kinds: Arc<Vec<Mutex<FloodKind>>> =
        Arc::new(silences.iter().map(|_| Mutex::default()).collect());
    // Each slot reopens at most once per `reopen`, and never after `end`.
    let max_opens = (args.seconds * 1000 / args.reopen_ms.max(1)) as usize + 1;
    // Opened a thousand a second: a burst would overflow the kernel's accept queue, and a
    // silent connection dropped there looks open to its client but holds nothing.
    let ramp = Duration::from_millis(1);
    let mut flood = JoinSet::new();
    for slot in 0..args.connections {
        let kind = slot % silences.len();
        let silence = silences[kind];
        let (proxy, kinds) = (target.proxy, Arc::clone(&kinds));
        let first = start + ramp * slot as u32;
        flood.spawn(async move {
            sleep_until(first).await;
            for _ in 0..max_opens {
                if Instant::now() >= end {
                    break;
                }
                let stream = timeout_at(end, TcpStream::connect(proxy)).await;
                let Ok(Ok(mut stream)) = stream else {
                    lock(&kinds[kind]).connect_failures += 1;
                    sleep_until((Instant::now() + reopen).min(end)).await;
                    continue;
                };
                let opened = Instant::now();
                lock(&kinds[kind]).opened += 1;
                let _ = stream.write_all(silence.bytes()).await;
                let closed = timeout_at(end, async {
                    let mut sink = [0u8; 4096];
                    while let Ok(1..) = stream.read(&mut sink).await {}
                })
                .await;
                if closed.is_err() {
                    break;
                }
                lock(&kinds[kind]).lifetimes.0.push(opened.elapsed());
                sleep_until((Instant::now() + reopen).min(end)).await;
            }
        });
    }
    let port = target.proxy.port();
    // Let the flood fill the slots before the reader starts.
    let fill_by = start + ramp * args.connections as u32 + Duration::from_secs(3);
    while established_at(port) < args.connections && Instant::now() < fill_by {
        sleep(Duration::from_millis(50)).await;
    }
    let filled = established_at(port);
    eprintln!(
        "   flood: the proxy holds {filled} connections after {}",
        seconds(start.elapsed())
    );
    // The reader's requests, spread over the rest of the flood, each on its own clock.
    let window = end
        .saturating_duration_since(Instant::now())
        .saturating_sub(Duration::from_secs(1));
    let every = window / args.probes.max(1) as u32;
    let mut probes = JoinSet::new();
    let held = Arc::new(Mutex::new(Vec::new()));
    for i in 0..args.probes {
        let (target, held) = (Arc::clone(&target), Arc::clone(&held));
        let at = Instant::now() + every * i as u32;
        probes.spawn(async move {
            sleep_until(at).await;
            lock(&held).push(established_at(port));
            let path = format!("/page/16/flood-{}-{i}", target.run);
            get_once(target.proxy, &target.streamed_host, &path).await
        });
    }
    let mut reader = Readings::default();
    while let Some(outcome) = probes.join_next().await {
        reader.record(outcome.map_err(|e| e.to_string())?);
    }
    while flood.join_next().await.is_some() {}
    let held = lock(&held).clone();
    figure(
        "flood: connections established to the proxy, held or queued (full / as the reader asked)",
        format!(
            "{filled} / {}-{}",
            held.iter().min().unwrap_or(&0),
            held.iter().max().unwrap_or(&0)
        ),
    );
    // Closed well before the first-request deadline: chosen to make room.
    let early = Duration::from_secs_f64(args.header_read_timeout * 0.95);
    for (kind, silence) in kinds.iter().zip(silences) {
        let kind = lock(kind);
        let made_room = kind.lifetimes.0.iter().filter(|&&d| d < early).count();
        figure(
            &format!("flood: {} connections closed by the proxy after", silence.name()),
            format!(
                "{} ({} of {} opened closed, {made_room} of them early to make room; {} connects failed)",
                kind.lifetimes.in_seconds(),
                kind.lifetimes.0.len(),
                kind.opened,
                kind.connect_failures
            ),
        );
    }
    figure(
        &format!("flood: reader, {} misses on new connections", args.probes),
        reader.summary(),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// 2. Readers that never read
// ---------------------------------------------------------------------------------------

/// An HTTP/2 connection whose streams have a zero window; the returned task ends, with
/// the time it lived, when the proxy closes the connection.
async fn zero_window(
    addr: SocketAddr,
) -> Result<
    (
        h2::client::SendRequest<Bytes>,
        tokio::task::JoinHandle<Duration>,
    ),
    String,
> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (client, connection) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, Bytes>(tcp)
        .await
        .map_err(|e| e.to_string())?;
    let opened = Instant::now();
    let lived = tokio::spawn(async move {
        let _ = connection.await;
        opened.elapsed()
    });
    Ok((client, lived))
}

/// Opens one stream per path on `client` and waits for each response head; the heads'
/// statuses, and the open streams, which are never read.
async fn open_streams(
    client: &h2::client::SendRequest<Bytes>,
    urls: &[String],
) -> (Vec<Result<StatusCode, String>>, Vec<h2::RecvStream>) {
    let mut pending = Vec::new();
    for url in urls {
        let sent = async {
            let mut client = client.clone().ready().await.map_err(|e| e.to_string())?;
            let request = Request::get(url.as_str())
                .body(())
                .map_err(|e| e.to_string())?;
            client
                .send_request(request, true)
                .map(|(response, _)| response)
                .map_err(|e| e.to_string())
        };
        pending.push(
            timeout(REQUEST_TIMEOUT, sent)
                .await
                .unwrap_or_else(|_| Err("the proxy took no more streams".to_owned())),
        );
    }
    let mut statuses = Vec::new();
    let mut streams = Vec::new();
    for response in pending {
        let status = match response {
            Ok(response) => match timeout(REQUEST_TIMEOUT, response).await {
                Ok(Ok(response)) => {
                    let status = response.status();
                    streams.push(response.into_body());
                    Ok(status)
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("no response head".to_owned()),
            },
            Err(e) => Err(e),
        };
        statuses.push(status);
    }
    (statuses, streams)
}

fn count_statuses(statuses: &[Result<StatusCode, String>]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for status in statuses {
        let name = match status {
            Ok(status) => status.as_u16().to_string(),
            Err(_) => "failed".to_owned(),
        };
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => *count += 1,
            None => counts.push((name, 1)),
        }
    }
    counts.sort();
    counts
        .iter()
        .map(|(name, count)| format!("{count}x {name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn stall(target: Arc<Target>, args: StallArgs) -> Result<(), String> {
    let run = target.run;
    let host = &target.streamed_host;
    let h2_paths: Vec<String> = (0..args.h2_streams)
        .map(|i| format!("/page/{}/stall-h2-{run}-{i}", args.h2_page_kib))
        .collect();
    let h1_paths: Vec<String> = (0..args.h1_connections)
        .map(|i| format!("/page/{}/stall-h1-{run}-{i}", args.h1_page_kib))
        .collect();

    // HTTP/1 readers that take nothing: a small receive buffer, a request, silence.
    let mut h1 = Vec::new();
    for path in &h1_paths {
        let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
        socket
            .set_recv_buffer_size(4096)
            .map_err(|e| e.to_string())?;
        let mut stream = socket
            .connect(target.proxy)
            .await
            .map_err(|e| e.to_string())?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        h1.push(stream);
    }
    // When the proxy closes its side of each: the client cannot tell without reading,
    // but the kernel's table shows the proxy's socket leave the established state.
    let hold = Duration::from_secs(args.hold_seconds);
    let proxy_port = target.proxy.port();
    let ports = h1
        .iter()
        .map(|stream| stream.local_addr().map(|a| a.port()))
        .collect::<io::Result<Vec<u16>>>()
        .map_err(|e| e.to_string())?;
    let sent = Instant::now();
    let h1_closed = tokio::spawn(async move {
        let mut closed: Vec<Option<Duration>> = vec![None; ports.len()];
        while sent.elapsed() < hold && closed.iter().any(Option::is_none) {
            let table = tcp_table();
            for (closed, port) in closed.iter_mut().zip(&ports) {
                let state = table
                    .iter()
                    .find(|&&(local, remote, _)| local == proxy_port && remote == *port)
                    .map(|&(_, _, state)| state);
                if closed.is_none() && state != Some(ESTABLISHED) {
                    *closed = Some(sent.elapsed());
                }
            }
            sleep(Duration::from_millis(100)).await;
        }
        closed
    });
    // The zero-window HTTP/2 connection.
    let (client, lived) = zero_window(target.proxy).await?;
    let urls: Vec<String> = h2_paths
        .iter()
        .map(|p| format!("http://{host}{p}"))
        .collect();
    let (statuses, _streams) = open_streams(&client, &urls).await;
    eprintln!(
        "   stall: {} zero-window streams answered ({}), {} HTTP/1 readers not reading",
        statuses.len(),
        count_statuses(&statuses),
        h1.len()
    );
    figure(
        &format!(
            "stall: zero-window HTTP/2 streams ({} KiB pages), response heads",
            args.h2_page_kib
        ),
        count_statuses(&statuses),
    );

    // The reader, on other uncached pages of the same site.
    let mut reader = Readings::default();
    let outcomes = futures_util::stream::iter(0..args.legit)
        .map(|i| {
            let target = Arc::clone(&target);
            async move {
                let path = format!("/page/64/stall-legit-{}-{i}", target.run);
                get_once(target.proxy, &target.streamed_host, &path).await
            }
        })
        .buffer_unordered(args.legit_concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    for outcome in outcomes {
        reader.record(outcome);
    }
    figure(
        &format!(
            "stall: reader, {} other misses of the site ({} at once) during the attack",
            args.legit, args.legit_concurrency
        ),
        reader.summary(),
    );

    // Did the attacked pages reach the cache? A normal GET of each, then the upstream's
    // count for it: 1 means the attack's fetch stored it and this GET was a hit.
    let mut cached = [0usize; 2];
    for (i, paths) in [&h2_paths, &h1_paths].into_iter().enumerate() {
        for path in paths {
            let got = get_once(target.proxy, host, path).await;
            let hits = upstream_hits(&target, path).await;
            if matches!(&got, Ok((got, _)) if got.ok()) && hits == Ok(1) {
                cached[i] += 1;
            }
        }
    }
    figure(
        "stall: attacked pages answered from the cache afterwards (HTTP/2, HTTP/1)",
        format!(
            "{} of {}, {} of {}",
            cached[0],
            h2_paths.len(),
            cached[1],
            h1_paths.len()
        ),
    );

    // How long the proxy kept the zero-window connection, and what the HTTP/1 readers got.
    match timeout(hold, lived).await {
        Ok(Ok(lived)) => figure(
            "stall: zero-window HTTP/2 connection closed by the proxy after",
            seconds(lived),
        ),
        _ => figure(
            "stall: zero-window HTTP/2 connection closed by the proxy after",
            format!("still open after {}", seconds(hold)),
        ),
    }
    drop(client);
    let closed = h1_closed.await.map_err(|e| e.to_string())?;
    let still_open = closed.iter().filter(|c| c.is_none()).count();
    figure(
        "stall: HTTP/1 non-readers closed by the proxy after",
        format!(
            "{}{}",
            Spread(closed.into_iter().flatten().collect()).in_seconds(),
            if still_open > 0 {
                format!(", {still_open} still open after {}", seconds(hold))
            } else {
                String::new()
            }
        ),
    );
    // Read at last: a body that ends before its last chunk was cut off by the proxy.
    let (mut cut, mut whole, mut open, mut received) = (0, 0, 0, 0);
    for mut stream in h1 {
        let mut bytes = Vec::new();
        let drained = timeout(Duration::from_secs(5), stream.read_to_end(&mut bytes)).await;
        received += bytes.len();
        if bytes.ends_with(b"\r\n0\r\n\r\n") {
            whole += 1;
        } else if drained.is_ok() {
            cut += 1;
        } else {
            open += 1;
        }
    }
    figure(
        &format!(
            "stall: HTTP/1 non-readers ({} KiB pages), when read at last",
            args.h1_page_kib
        ),
        format!(
            "{cut} cut off, {whole} whole, {open} still open; {} KiB received on average",
            received / args.h1_connections.max(1) / 1024
        ),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// 3. Memory
// ---------------------------------------------------------------------------------------

/// What the readers of one site got.
#[derive(Default)]
struct Tally {
    whole: usize,
    bytes: usize,
    /// Statuses other than a whole 200, by status.
    failed: Vec<(u16, usize)>,
    cut: usize,
    closed_early: usize,
    errors: usize,
    unfinished: usize,
}

impl Tally {
    fn failed(&mut self, status: StatusCode) {
        let status = status.as_u16();
        match self.failed.iter_mut().find(|(s, _)| *s == status) {
            Some((_, count)) => *count += 1,
            None => self.failed.push((status, 1)),
        }
    }
}

impl Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} MiB read, {} whole pages",
            self.bytes >> 20,
            self.whole
        )?;
        let mut failed = self.failed.clone();
        failed.sort();
        for (status, count) in failed {
            write!(f, ", {count}x {status}")?;
        }
        write!(
            f,
            ", {} cut off, {} closed early with a notice, {} errors, {} unfinished at the end",
            self.cut, self.closed_early, self.errors, self.unfinished
        )
    }
}

/// A reader fetching distinct pages of `host` one after another until `end`.
async fn reader(
    target: Arc<Target>,
    host: String,
    paths: impl Iterator<Item = String>,
    end: Instant,
    tally: Arc<Mutex<Tally>>,
) {
    let mut sender: Option<Sender> = None;
    for path in paths {
        if Instant::now() >= end {
            return;
        }
        let attempt = async {
            let sender = match &mut sender {
                Some(sender) => sender,
                None => sender.insert(connect(target.proxy).await?),
            };
            get(sender, &host, &path).await
        };
        let outcome = timeout_at(end, attempt).await;
        let pause = {
            let mut tally = lock(&tally);
            match outcome {
                Err(_) => {
                    tally.unfinished += 1;
                    return;
                }
                Ok(Ok(got)) => {
                    tally.bytes += got.bytes;
                    if got.ok() {
                        tally.whole += 1;
                    } else if !got.complete {
                        tally.cut += 1;
                    } else if got.closed_early {
                        tally.closed_early += 1;
                    } else {
                        tally.failed(got.status);
                    }
                    if !got.complete {
                        sender = None;
                    }
                    // Not the five seconds Retry-After asks for: an attacker does not wait.
                    (got.status == StatusCode::SERVICE_UNAVAILABLE)
                        .then_some(Duration::from_millis(250))
                }
                Ok(Err(_)) => {
                    tally.errors += 1;
                    sender = None;
                    Some(Duration::from_millis(100))
                }
            }
        };
        if let Some(pause) = pause {
            sleep(pause).await;
        }
    }
}

async fn memory(target: Arc<Target>, args: MemoryArgs) -> Result<(), String> {
    let run = target.run;
    // A cached page for the reader who only wants a small page meanwhile.
    let probe_path = format!("/page/16/memory-probe-{run}");
    get_once(target.proxy, &target.streamed_host, &probe_path).await?;

    let end = Instant::now() + Duration::from_secs(args.seconds);
    let sites = [
        (
            "detected",
            target.detected_host.clone(),
            args.detected_readers,
        ),
        (
            "streamed",
            target.streamed_host.clone(),
            args.streamed_readers,
        ),
    ];
    let tallies: Vec<Arc<Mutex<Tally>>> = sites.iter().map(|_| Arc::default()).collect();
    let mut load = JoinSet::new();
    for ((name, host, readers), tally) in sites.iter().zip(&tallies) {
        for r in 0..*readers {
            let (name, kib) = (*name, args.page_kib);
            // At most one page per 10 ms of the load per reader: a bound, never reached.
            let paths = (0..args.seconds as usize * 100)
                .map(move |i| format!("/page/{kib}/memory-{name}-{run}-{r}-{i}"));
            load.spawn(reader(
                Arc::clone(&target),
                host.clone(),
                paths,
                end,
                Arc::clone(tally),
            ));
        }
    }
    // Zero-window streams of uncacheable pages, alternating between the sites, reopened
    // when the proxy closes their connection.
    let zero_window_statuses = Arc::new(Mutex::new(Vec::new()));
    for c in 0..args.zero_window_connections {
        let (target, statuses) = (Arc::clone(&target), Arc::clone(&zero_window_statuses));
        let (streams, kib) = (args.zero_window_streams, args.zero_window_kib);
        load.spawn(async move {
            for round in 0..10 {
                if Instant::now() >= end {
                    return;
                }
                let Ok((client, lived)) = zero_window(target.proxy).await else {
                    sleep(Duration::from_millis(200)).await;
                    continue;
                };
                let urls: Vec<String> = (0..streams)
                    .map(|i| {
                        let host = if i % 2 == 0 {
                            &target.detected_host
                        } else {
                            &target.streamed_host
                        };
                        format!("http://{host}/nostore/{kib}/memory-zero-{run}-{c}-{round}-{i}")
                    })
                    .collect();
                let opened = timeout_at(end, open_streams(&client, &urls)).await;
                let Ok((got, _streams)) = opened else {
                    return;
                };
                lock(&statuses).extend(got);
                // Hold the streams unread until the proxy closes the connection.
                if timeout_at(end, lived).await.is_err() {
                    return;
                }
            }
        });
    }
    // Meanwhile, a reader of a small cached page, every quarter second.
    let mut probe = Readings::default();
    let mut probes = JoinSet::new();
    let mut next = Instant::now();
    for _ in 0..args.seconds * 4 {
        if next >= end {
            break;
        }
        sleep_until(next).await;
        let (target, path) = (Arc::clone(&target), probe_path.clone());
        probes.spawn(async move { get_once(target.proxy, &target.streamed_host, &path).await });
        next += Duration::from_millis(250);
    }
    while let Some(outcome) = probes.join_next().await {
        probe.record(outcome.map_err(|e| e.to_string())?);
    }
    while load.join_next().await.is_some() {}

    for ((name, _, readers), tally) in sites.iter().zip(&tallies) {
        if *readers > 0 {
            figure(
                &format!(
                    "memory: {readers} readers of distinct {} KiB pages, {name} site, {} s",
                    args.page_kib, args.seconds
                ),
                lock(tally).to_string(),
            );
        }
    }
    figure(
        &format!(
            "memory: zero-window HTTP/2 streams of uncacheable {} KiB pages, response heads",
            args.zero_window_kib
        ),
        count_statuses(&lock(&zero_window_statuses)),
    );
    figure(
        "memory: reader of a small cached page meanwhile, 4 per second",
        probe.summary(),
    );
    Ok(())
}
