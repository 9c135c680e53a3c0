//! The `lightmirror` binary, run as a user would: convert, check, serve with reload and
//! graceful shutdown.

#[path = "support/harness.rs"]
mod harness;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use harness::{Reply, Upstream};

fn lightmirror() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lightmirror"))
}

/// Runs a command that must succeed; its standard output.
fn stdout_of(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const PAGE: &str = r#"<html lang="en"><head><title>Ferry timetable changes</title>
<meta name="author" content="Ada Lovelace"><script>x()</script></head><body>
<nav><a href="/">Home</a></nav>
<div class="story"><h1>Ferry timetable changes</h1>
<p>The winter timetable starts on Monday, with fewer crossings at night and more in the morning rush.</p>
<p>Commuters welcomed the <a href="/news/ferry-survey">survey</a> that led to the change.</p>
<p class="note">Operators said the night service would return in spring if demand recovers.</p></div>
<div class="share">Share this</div></body></html>"#;

/// A page whose every URL is off the web: canonical, base, OpenGraph, links, frames,
/// images. The link texts name no scheme, so any scheme in the output is a URL.
const OFF_THE_WEB: &str = r#"<html><head><title>Ferry timetable changes</title>
<link rel="canonical" href="javascript:alert(1)"><base href="javascript:alert(2)//">
<meta property="og:url" content="data:text/html,<script>alert(3)</script>"></head><body>
<div class="story"><h1>Ferry timetable changes</h1>
<p>The winter timetable starts on Monday, with fewer crossings at night and more in the
morning rush, the <a href="javascript:alert(4)">operator</a> said.</p>
<p>Commuters welcomed the <a href="data:text/html,x">survey</a>, the <a href="vbscript:msgbox">one</a>
that led to the <a href="file:///etc/passwd">change</a>.</p>
<iframe src="javascript:alert(5)" title="Map"></iframe><img src="data:image/png;base64,AAAA" alt="Ferry">
</div></body></html>"#;

#[test]
fn convert_writes_no_url_off_the_web() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("page.html");
    std::fs::write(&file, OFF_THE_WEB).unwrap();
    let url = "https://www.example.com/news/ferry";
    for format in ["html", "json"] {
        let out = stdout_of(
            lightmirror()
                .args(["convert", "--url", url, "--format", format])
                .arg(&file),
        );
        assert!(out.contains("winter timetable"), "{format}: {out}");
        for scheme in ["javascript:", "data:", "vbscript:", "file:"] {
            assert!(!out.contains(scheme), "{format}: {scheme} in {out}");
        }
    }
    for bad in [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "data:text/html,x",
    ] {
        let out = lightmirror()
            .args(["convert", "--url", bad])
            .arg(&file)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad} was accepted as the page URL");
        assert!(out.stdout.is_empty(), "{bad}");
    }
}

#[test]
fn convert_prints_html_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("page.html");
    std::fs::write(&file, PAGE).unwrap();
    let url = "https://www.example.com/news/ferry";
    let html = stdout_of(lightmirror().args(["convert", "--url", url]).arg(&file));
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(
        html.contains("winter timetable") && !html.contains("x()"),
        "{html}"
    );

    let mut child = lightmirror()
        .args(["convert", "--url", url, "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(PAGE.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "title",
        "byline",
        "published",
        "lang",
        "dir",
        "site_name",
        "excerpt",
        "kind",
        "text",
        "html",
    ] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
    assert_eq!(json["title"], "Ferry timetable changes");
    assert_eq!(json["kind"], "article");
    let text = json["text"].as_str().unwrap();
    assert!(
        text.contains("The winter timetable starts on Monday"),
        "{text}"
    );
    assert!(
        json["html"]
            .as_str()
            .unwrap()
            .contains("href=\"/news/ferry-survey\""),
        "{json}"
    );

    let plain = lightmirror()
        .args(["convert", "--url", url, "--format", "text"])
        .arg(&file)
        .output()
        .unwrap();
    let plain = String::from_utf8(plain.stdout).unwrap();
    assert!(
        plain.contains("Operators said the night service") && !plain.contains('<'),
        "{plain}"
    );
}

#[test]
fn convert_applies_the_rules_of_the_configured_site() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sites.toml");
    std::fs::write(
        &config,
        r#"
[[site]]
name = "ledger"
upstream = "https://www.example.com"
hosts = ["light.example.com"]
content = [".story"]
remove = [".story .note"]
"#,
    )
    .unwrap();
    let page = dir.path().join("page.html");
    std::fs::write(&page, PAGE).unwrap();
    let text = stdout_of(
        lightmirror()
            .args([
                "convert",
                "--url",
                "https://www.example.com/news/ferry",
                "--format",
                "text",
                "--config",
            ])
            .arg(&config)
            .arg(&page),
    );
    assert!(text.contains("winter timetable"), "{text}");
    assert!(
        !text.contains("night service would return"),
        "remove rule ignored: {text}"
    );
    assert!(
        !text.contains("Share this") && !text.contains("Home"),
        "content rule ignored: {text}"
    );

    let other = lightmirror()
        .args([
            "convert",
            "--url",
            "https://elsewhere.example/x",
            "--config",
        ])
        .arg(&config)
        .arg(&page)
        .output()
        .unwrap();
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("no site in"));
}

#[test]
fn check_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        r#"
[server]
listen = "not an address"
[[site]]
name = "x"
upstream = "gopher://example.com"
hosts = ["ok.test"]
colour = "red"
"#,
    )
    .unwrap();
    let out = lightmirror()
        .args(["check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("bad.toml"), "{err}");
    assert!(
        err.contains("server.listen: \"not an address\" is not a socket address"),
        "{err}"
    );
    assert!(err.contains("site[0].upstream"), "{err}");
    assert!(err.contains("site[0].colour: unknown key"), "{err}");

    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[[site]]\nname = \"x\"\nupstream = \"https://example.com\"\nhosts = [\"x.test\"]\n",
    )
    .unwrap();
    let out = lightmirror()
        .args(["check", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_reports_every_bad_value_and_an_unwritable_cache_dir() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        r#"
[server]
listen = "nowhere"
shutdown_grace = "soon"
[[site]]
name = "a"
upstream = "https://a.example"
hosts = ["light.test"]
remove = ["[[["]
cache_ttl = "forever"
[[site]]
name = "b"
upstream = "https://b.example"
hosts = ["light.test"]
"#,
    )
    .unwrap();
    let out = lightmirror()
        .args(["check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    for expected in [
        "5 problem(s)",
        "server.listen: \"nowhere\" is not a socket address",
        "server.shutdown_grace: \"soon\" is not a duration: write a number and a unit",
        "site[0].cache_ttl: \"forever\" is not a duration",
        "site[0].remove: selector \"[[[\":",
        "site[1].hosts: host \"light.test\" is already served by site \"a\"",
    ] {
        assert!(err.contains(expected), "{expected}\n{err}");
    }
    // Each problem is one line.
    assert_eq!(
        err.lines().filter(|l| l.starts_with("  - ")).count(),
        5,
        "{err}"
    );

    let site = "[[site]]\nname = \"x\"\nupstream = \"https://example.com\"\nhosts = [\"x.test\"]\n";
    let unwritable = dir.path().join("unwritable.toml");
    let key = dir.path().join("k.key");
    std::fs::write(
        &unwritable,
        format!("[cache]\ndir = \"/proc/lightmirror/pages\"\nkey_file = {key:?}\n{site}"),
    )
    .unwrap();
    let out = lightmirror()
        .args(["check", "--config"])
        .arg(&unwritable)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(
        said.contains("cache.dir \"/proc/lightmirror/pages\" is not writable"),
        "{said}"
    );

    let writable = dir.path().join("writable.toml");
    let pages = dir.path().join("pages");
    std::fs::write(
        &writable,
        format!("[cache]\ndir = {pages:?}\nkey_file = {key:?}\n{site}"),
    )
    .unwrap();
    let out = lightmirror()
        .args(["check", "--config"])
        .arg(&writable)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!pages.exists(), "check created the cache directory");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve_config(port: u16, upstream: &Upstream, hosts: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nshutdown_grace = \"5s\"\n[[site]]\nname = \"ledger\"\nupstream = \"http://{}\"\nhosts = [{hosts}]\nallow_private_upstream = true\n",
        upstream.addr
    )
}

async fn status_for(port: u16, host: &str) -> Option<u16> {
    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/a"))
        .header("host", host)
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16())
}

async fn wait_until_serving(port: u16) {
    for _ in 0..100 {
        if status_for(port, "light.test").await.is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server did not start");
}

fn signal(child: &std::process::Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn sighup_reloads_and_an_invalid_config_keeps_the_old_one() {
    let upstream = Upstream::start().await;
    upstream.route("/a", Reply::html(PAGE));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serve.toml");
    let port = free_port();
    std::fs::write(&path, serve_config(port, &upstream, "\"light.test\"")).unwrap();
    let mut child = lightmirror()
        .args(["serve", "--config"])
        .arg(&path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_serving(port).await;
    assert_eq!(status_for(port, "mirror.test").await, Some(404));

    std::fs::write(
        &path,
        serve_config(port, &upstream, "\"light.test\", \"mirror.test\""),
    )
    .unwrap();
    signal(&child, "HUP");
    let mut reloaded = false;
    for _ in 0..50 {
        if status_for(port, "mirror.test").await == Some(200) {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reloaded, "SIGHUP did not load the new host");

    std::fs::write(&path, "[[site]]\nname = 1\n").unwrap();
    signal(&child, "HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        status_for(port, "mirror.test").await,
        Some(200),
        "invalid config replaced the old one"
    );

    signal(&child, "TERM");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit after SIGTERM: {status}");
}

#[tokio::test]
async fn a_reload_names_the_settings_that_wait_for_a_restart() {
    let upstream = Upstream::start().await;
    upstream.route("/a", Reply::html(PAGE));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serve.toml");
    let port = free_port();
    std::fs::write(&path, serve_config(port, &upstream, "\"light.test\"")).unwrap();
    let child = lightmirror()
        .args(["serve", "--config"])
        .arg(&path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until_serving(port).await;

    // One setting read at start changes, one a reload applies, and one a reload applies
    // that shows when it has taken effect.
    let changed = serve_config(port, &upstream, "\"light.test\", \"mirror.test\"")
        .replace("shutdown_grace = \"5s\"", "shutdown_grace = \"6s\"")
        + "[cache]\nttl = \"2m\"\n";
    std::fs::write(&path, changed).unwrap();
    signal(&child, "HUP");
    let mut reloaded = false;
    for _ in 0..50 {
        if status_for(port, "mirror.test").await == Some(200) {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reloaded, "SIGHUP did not load the new host");

    signal(&child, "TERM");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let warning = log
        .lines()
        .find(|line| line.contains("keep their start-up values until a restart"))
        .unwrap_or_else(|| panic!("no warning for a setting that needs a restart: {log}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("server.shutdown_grace"), "{warning}");
    for applied in ["cache.ttl", "server.listen", "site"] {
        assert!(!warning.contains(applied), "{applied} is named: {warning}");
    }
}

#[tokio::test]
async fn sigterm_lets_requests_in_flight_finish() {
    let upstream = Upstream::start().await;
    upstream.route(
        "/a",
        Reply::Chunks {
            status: 200,
            headers: vec![("content-type".into(), "text/html".into())],
            chunks: vec![(Duration::from_millis(800), PAGE.into())],
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serve.toml");
    let port = free_port();
    std::fs::write(&path, serve_config(port, &upstream, "\"light.test\"")).unwrap();
    let mut child = lightmirror()
        .args(["serve", "--config"])
        .arg(&path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let in_flight = tokio::spawn(status_for(port, "light.test"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&child, "TERM");
    assert_eq!(
        in_flight.await.unwrap(),
        Some(200),
        "the request in flight was cut"
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "still listening after shutdown"
    );
}

#[test]
fn check_samples_show_what_the_rules_extract() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("ferry.html");
    let long = PAGE.replace(
        "<p>The winter timetable",
        &format!(
            "<p>{}</p><p>The winter timetable",
            "Crossings will be busier on weekday mornings. ".repeat(8)
        ),
    );
    std::fs::write(&page, long).unwrap();
    let config = dir.path().join("sites.toml");
    let write = |content: &str| {
        std::fs::write(
            &config,
            format!("[[site]]\nname = \"ledger\"\nupstream = \"https://www.example.com\"\nhosts = [\"l.test\"]\ncontent = [\"{content}\"]\n"),
        )
        .unwrap()
    };
    let sample = format!("https://www.example.com/news/ferry={}", page.display());
    write(".story");
    let out = lightmirror()
        .args(["check", "--config"])
        .arg(&config)
        .args(["--sample", &sample])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("title:     Ferry timetable changes"),
        "{stdout}"
    );
    assert!(!stdout.contains("WARNING"), "{stdout}");

    write(".story-body-after-redesign");
    let out = lightmirror()
        .args(["check", "--config"])
        .arg(&config)
        .args(["--sample", &sample])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!out.status.success(), "a broken rule passed: {stdout}");
    assert!(
        stdout.contains("WARNING:   the content selectors matched nothing"),
        "{stdout}"
    );
    // The page still reads: detection found the article.
    assert!(
        stdout.contains("content rules matched nothing: detection"),
        "{stdout}"
    );
}

#[tokio::test]
async fn check_sample_fetches_the_test_urls_live() {
    let upstream = Upstream::start().await;
    let long = PAGE.replace(
        "<p>The winter timetable",
        &format!(
            "<p>{}</p><p>The winter timetable",
            "Crossings will be busier on weekday mornings. ".repeat(8)
        ),
    );
    upstream.route("/news/ferry", Reply::html(long));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sites.toml");
    std::fs::write(
        &config,
        format!(
            "[[site]]\nname = \"ledger\"\nupstream = \"{}\"\nhosts = [\"l.test\"]\n\
             allow_private_upstream = true\ncontent = [\".story\"]\n\
             test_urls = [\"{}\", \"{}\"]\n",
            upstream.url(""),
            upstream.url("/news/ferry"),
            upstream.url("/news/gone"),
        ),
    )
    .unwrap();
    let run = |args: &'static [&'static str]| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            lightmirror()
                .args(["check", "--config"])
                .arg(&config)
                .args(args)
                .output()
                .unwrap()
        })
    };
    let out = run(&["--sample"]).await.unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("/news/ferry (site ledger, content rules)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("title:     Ferry timetable changes"),
        "{stdout}"
    );
    // The missing page is reported, and makes the check fail.
    assert!(
        stdout.contains("/news/gone (site ledger)\n  FAILED:    the upstream answered 404"),
        "{stdout}"
    );
    assert!(!out.status.success(), "{stdout}");
    assert_eq!(upstream.hits("/news/ferry"), 1);

    let out = run(&["--sample", "--offline"]).await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("give them as --sample URL=FILE"), "{err}");
    assert_eq!(upstream.hits("/news/ferry"), 1, "--offline fetched");
}

#[test]
fn eval_scores_a_corpus_and_enforces_the_floor() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("ferry");
    std::fs::create_dir(&case).unwrap();
    let body = "<p>The winter timetable starts on Monday, with fewer crossings at night and more in the morning rush.</p>\
                <p>Commuters welcomed the survey that led to the change.</p>\
                <p class=\"note\">Operators said the night service would return in spring if demand recovers.</p>";
    std::fs::write(case.join("source.html"), PAGE).unwrap();
    std::fs::write(case.join("expected.html"), format!("<div>{body}</div>")).unwrap();
    std::fs::write(
        case.join("expected-metadata.json"),
        r#"{"title": "Ferry timetable changes", "byline": "Ada Lovelace"}"#,
    )
    .unwrap();
    let run = |floor: &str| {
        lightmirror()
            .args(["eval", "--corpus"])
            .arg(dir.path())
            .args(["--floor", floor])
            .output()
            .unwrap()
    };
    let out = run("0.5");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("ferry"), "{stdout}");
    assert!(stdout.contains("overall: F1 "), "{stdout}");
    assert!(!run("1.01").status.success(), "an unreachable floor passed");
}

#[test]
fn demo_runs_offline_and_reports_the_saving() {
    use std::io::BufRead;
    let mut child = lightmirror()
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        let done = line.starts_with("Serving until Ctrl-C");
        lines.push(line);
        if done {
            break;
        }
    }
    signal(&child, "TERM");
    let status = child.wait().unwrap();
    let text = lines.join("\n");
    assert!(status.success(), "{text}");
    assert!(text.contains("Light site, article detection:"), "{text}");
    let sizes = |label: &str| -> Vec<usize> {
        lines
            .iter()
            .filter(|l| l.starts_with("    ") && l.trim_start().starts_with(label))
            .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
            .collect()
    };
    let (original, light) = (sizes("original"), sizes("Light "));
    assert_eq!(original.len(), 3, "{text}");
    for (o, l) in original.iter().zip(&light) {
        assert!(
            l * 10 < *o,
            "a Light page is not a tenth of its original: {text}"
        );
    }
}

#[tokio::test]
async fn access_logs_are_json_lines_without_queries_or_addresses() {
    let upstream = Upstream::start().await;
    upstream.route("/a?q=secret+words", Reply::html(PAGE));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serve.toml");
    let port = free_port();
    let text = serve_config(port, &upstream, "\"light.test\"")
        .replace("[server]\n", "[server]\nlog_format = \"json\"\n");
    std::fs::write(&path, text).unwrap();
    let mut child = lightmirror()
        .args(["serve", "--config"])
        .arg(&path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until_serving(port).await;
    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/a?q=secret+words"))
        .header("host", "light.test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    signal(&child, "TERM");
    let stderr = child.stderr.take().unwrap();
    let output = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut { stderr }, &mut text).unwrap();
        let _ = child.wait();
        text
    })
    .await
    .unwrap();
    assert!(
        !output.contains("secret"),
        "a query reached the log:\n{output}"
    );
    assert!(!output.contains("127.0.0.1:") || !output.contains("\"client\""));
    let line = output
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["fields"]["path"] == "/a" && line["fields"]["status"] == 200)
        .unwrap_or_else(|| panic!("no JSON access line for /a:\n{output}"));
    let fields = &line["fields"];
    assert_eq!(fields["site"], "ledger");
    assert_eq!(fields["host"], "light.test");
    assert_eq!(fields["method"], "GET");
    assert_eq!(fields["cache"], "miss");
    assert!(
        fields["upstream_ms"].is_string() && fields["total_ms"].is_u64(),
        "{fields}"
    );
    assert!(fields.get("client").is_none(), "{fields}");
}

#[test]
fn convert_into_a_closed_pipe_ends_quietly() {
    let page = format!(
        "<html><head><title>Long</title></head><body><article>{}</article></body></html>",
        "<p>A long story told for a reader who stops after the first lines.</p>".repeat(5000)
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("page.html");
    std::fs::write(&path, page).unwrap();
    let mut child = lightmirror()
        .args(["convert", "--url", "https://news.example/long"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the page is written, as `| head` does once satisfied.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn snippet_prints_its_banner_in_the_language_asked_and_the_hashes_that_allow_it() {
    let output = lightmirror()
        .args([
            "snippet",
            "--light-url",
            "https://light.example/",
            "--lang",
            "ar",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let html = String::from_utf8(output.stdout).unwrap();
    assert!(html.contains(">انتقل إلى النسخة الخفيفة</a>"), "{html}");
    let sources = String::from_utf8(output.stderr).unwrap();
    assert!(
        sources.contains("script-src 'sha256-") && sources.contains("style-src 'sha256-"),
        "{sources}"
    );
    let refused = lightmirror()
        .args([
            "snippet",
            "--light-url",
            "https://light.example/?from=banner",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let why = String::from_utf8(refused.stderr).unwrap();
    assert!(why.contains("without a query or fragment"), "{why}");
}
