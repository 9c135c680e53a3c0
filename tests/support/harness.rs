//! Real servers on loopback for integration tests: a scriptable upstream site (hyper) and
//! a lightmirror server in front of it, both on ephemeral ports.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use lightmirror::server::ServerHandle;

/// What the upstream answers on one path.
#[derive(Clone)]
pub enum Reply {
    /// Status, headers, and body chunks each sent after its delay.
    Chunks {
        status: u16,
        headers: Vec<(String, String)>,
        chunks: Vec<(Duration, Bytes)>,
    },
    /// 200 with `chunk` repeated forever.
    Endless { chunk: Bytes },
    /// Never answers.
    Stall,
    /// A 200 HTML page whose `first` part is sent at once and `rest` only once the gate is
    /// opened, so a test can prove output left before the upstream finished.
    Gated {
        first: Bytes,
        rest: Bytes,
        gate: Arc<tokio::sync::Notify>,
    },
}

impl Reply {
    /// A 200 HTML page sent at once.
    pub fn html(body: impl Into<String>) -> Self {
        Self::with(
            200,
            &[("content-type", "text/html; charset=utf-8")],
            body.into(),
        )
    }

    /// Any status, headers and body sent at once.
    pub fn with(status: u16, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Self {
        Self::Chunks {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            chunks: vec![(Duration::ZERO, body.into())],
        }
    }
}

/// A scriptable upstream site on 127.0.0.1.
#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    routes: Arc<Mutex<HashMap<String, Reply>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    total: Arc<AtomicUsize>,
}

impl Upstream {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = Self {
            addr: listener.local_addr().unwrap(),
            routes: Arc::default(),
            hits: Arc::default(),
            total: Arc::default(),
        };
        let state = upstream.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(state.answer(req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        upstream
    }

    pub fn route(&self, path_and_query: &str, reply: Reply) -> &Self {
        self.routes
            .lock()
            .unwrap()
            .insert(path_and_query.to_owned(), reply);
        self
    }

    pub fn hits(&self, path_and_query: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .get(path_and_query)
            .copied()
            .unwrap_or(0)
    }

    pub fn total_hits(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn answer(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<http_body_util::combinators::BoxBody<Bytes, Infallible>> {
        let key = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        *self.hits.lock().unwrap().entry(key.clone()).or_default() += 1;
        self.total.fetch_add(1, Ordering::SeqCst);
        let reply = self.routes.lock().unwrap().get(&key).cloned();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
        let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx)).boxed();
        let mut response = hyper::Response::new(body);
        match reply {
            None => *response.status_mut() = hyper::StatusCode::NOT_FOUND,
            Some(Reply::Stall) => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Some(Reply::Endless { chunk }) => {
                response
                    .headers_mut()
                    .insert("content-type", "text/html".parse().unwrap());
                tokio::spawn(async move {
                    while tx.send(Ok(Frame::data(chunk.clone()))).await.is_ok() {}
                });
            }
            Some(Reply::Gated { first, rest, gate }) => {
                response
                    .headers_mut()
                    .insert("content-type", "text/html".parse().unwrap());
                tokio::spawn(async move {
                    if tx.send(Ok(Frame::data(first))).await.is_ok() {
                        gate.notified().await;
                        let _ = tx.send(Ok(Frame::data(rest))).await;
                    }
                });
            }
            Some(Reply::Chunks {
                status,
                headers,
                chunks,
            }) => {
                *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                for (k, v) in headers {
                    response.headers_mut().append(
                        hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                        v.parse().unwrap(),
                    );
                }
                tokio::spawn(async move {
                    for (delay, chunk) in chunks {
                        tokio::time::sleep(delay).await;
                        if tx.send(Ok(Frame::data(chunk))).await.is_err() {
                            return;
                        }
                    }
                });
            }
        }
        response
    }
}

/// A lightmirror server on 127.0.0.1 configured by `toml`, in which `{upstream}` is
/// replaced by the upstream's origin.
pub struct Light {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<()>,
}

impl Light {
    pub async fn start(toml: &str, upstream: &Upstream) -> Self {
        Self::start_at(toml, upstream.addr).await
    }

    /// Like `start`, for an upstream of the test's own at `upstream`.
    pub async fn start_at(toml: &str, upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let text = toml
            .replace("{upstream}", &format!("http://{upstream}"))
            .replace("{light}", &addr.to_string());
        let (config, sites) = lightmirror::config::parse(&text, "test.toml").unwrap();
        let handle = ServerHandle::new(config, sites).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serving = handle.clone();
        let task = tokio::spawn(async move {
            serving
                .serve(listener, async {
                    let _ = rx.await;
                })
                .await
        });
        Self {
            addr,
            handle,
            shutdown: Some(tx),
            task,
        }
    }

    /// A client that sends `Host: light.test` unless told otherwise.
    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        Self::client()
            .get(self.url(path))
            .header("host", "light.test")
            .send()
            .await
            .unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(15), self.task).await;
    }
}

/// A one-site configuration for `light.test` in front of the test upstream.
pub fn site_config(extra: &str) -> String {
    format!(
        r#"
[limits]
upstream_timeout = "2s"
max_upstream_bytes = 2000000

[[site]]
name = "ledger"
upstream = "{{upstream}}"
hosts = ["light.test"]
allow_private_upstream = true
{extra}
"#
    )
}
