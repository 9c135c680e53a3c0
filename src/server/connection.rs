//! One client connection's time: the deadlines that stop a connection from holding one of
//! the `max_connections` slots without being served, and the registry that, when every
//! slot is taken, closes the longest-idle connection to make room for a new one.
//!
//! A connection with no request in flight is idle. It has `header_read_timeout` from its
//! accept to deliver its first request head, whatever it sends meanwhile (nothing, part of
//! the HTTP/2 preface, the preface and settings alone), and `idle_timeout` after each
//! response to start the next request. While requests are in flight, every response must
//! have its next frame (at most [`FRAME_BYTES`]) taken by the reader within `send_timeout`;
//! a reader that stops reading, or an HTTP/2 stream whose window stays shut, loses the
//! connection. Waiting on the upstream is not the reader's fault and is never counted.
//! The protocols themselves are hyper's; this module only watches and decides.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::respond::Body;
use crate::config::LimitsConfig;

/// The most a response hands the connection at once, so that a slow reader's progress is
/// seen frame by frame instead of once per page.
pub(crate) const FRAME_BYTES: usize = 16 << 10;

/// The deadlines of `[limits]` that apply to connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    /// From accept to the first request head.
    pub first_request: Duration,
    /// From the end of a response to the next request head.
    pub idle: Duration,
    /// For the reader to take each frame of a response.
    pub send: Duration,
}

impl Deadlines {
    pub(crate) fn from_limits(limits: &LimitsConfig) -> Self {
        Self {
            first_request: limits.header_read_timeout,
            idle: limits.idle_timeout,
            send: limits.send_timeout,
        }
    }
}

/// What a connection's watcher should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Carry on; look again at this instant (or when something changes).
    Keep(Option<Instant>),
    /// Idle past its time, or chosen to make room: close it gracefully.
    CloseIdle,
    /// A reader has not taken a frame within `send_timeout`: drop it.
    CloseStalled,
}

/// What is known of one connection, shared by its watcher, its requests and their bodies.
#[derive(Debug)]
pub(crate) struct Watch {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug)]
struct State {
    in_flight: usize,
    /// Since when no request has been in flight; meaningful while `in_flight == 0`.
    idle_since: Instant,
    /// Whether any request has arrived: the first has a shorter deadline than the next.
    served: bool,
    /// Response bodies that handed out a frame the reader has not taken yet, since when.
    waiting_on_reader: HashMap<u64, Instant>,
    next_request: u64,
    /// The registry chose this connection to make room.
    evicted: bool,
}

impl Watch {
    fn new(now: Instant) -> Self {
        Self {
            state: Mutex::new(State {
                in_flight: 0,
                idle_since: now,
                served: false,
                waiting_on_reader: HashMap::new(),
                next_request: 0,
                evicted: false,
            }),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks a request as in flight until the returned guard (moved into its response
    /// body) is dropped.
    pub(crate) fn start_request(self: &Arc<Self>) -> InFlight {
        let mut state = self.state();
        state.in_flight += 1;
        state.served = true;
        state.next_request += 1;
        InFlight {
            watch: Arc::clone(self),
            id: state.next_request,
        }
    }

    /// Decides about the connection at `now`.
    pub(crate) fn judge(&self, now: Instant, deadlines: &Deadlines) -> Verdict {
        let mut state = self.state();
        if state.in_flight == 0 {
            let allowed = if state.served {
                deadlines.idle
            } else {
                deadlines.first_request
            };
            let deadline = state.idle_since + allowed;
            return if state.evicted || now >= deadline {
                Verdict::CloseIdle
            } else {
                Verdict::Keep(Some(deadline))
            };
        }
        // It became busy after the registry chose it; busy connections are not evicted.
        state.evicted = false;
        match state.waiting_on_reader.values().min() {
            Some(&since) if now >= since + deadlines.send => Verdict::CloseStalled,
            Some(&since) => Verdict::Keep(Some(since + deadlines.send)),
            None => Verdict::Keep(None),
        }
    }

    /// Resolves when something may have moved a deadline earlier.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    fn idle_since(&self) -> Option<Instant> {
        let state = self.state();
        (state.in_flight == 0 && !state.evicted).then_some(state.idle_since)
    }

    fn evict(&self) {
        self.state().evicted = true;
        self.changed.notify_one();
    }
}

/// One request in flight on a connection; dropping it (with the response body that owns
/// it) makes the connection idle again once no other request is in flight.
#[derive(Debug)]
pub(crate) struct InFlight {
    watch: Arc<Watch>,
    id: u64,
}

impl InFlight {
    fn waiting_on_reader(&self, waiting: bool) {
        let mut state = self.watch.state();
        if waiting {
            let first = state.waiting_on_reader.is_empty();
            state
                .waiting_on_reader
                .entry(self.id)
                .or_insert_with(Instant::now);
            if first {
                drop(state);
                self.watch.changed.notify_one();
            }
        } else {
            state.waiting_on_reader.remove(&self.id);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.watch.state();
        state.waiting_on_reader.remove(&self.id);
        state.in_flight -= 1;
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
            drop(state);
            self.watch.changed.notify_one();
        }
    }
}

/// A response body that reports to its connection's watch whether the reader is keeping
/// up, and hands out at most [`FRAME_BYTES`] at a time.
pub(crate) struct Tracked {
    inner: Body,
    /// Data of the last frame from `inner` not handed out yet.
    rest: Bytes,
    request: InFlight,
}

impl Tracked {
    /// Wraps `inner`. Until hyper first asks for a frame, the response waits on the reader
    /// (an HTTP/2 stream opened with a zero window is never asked).
    pub(crate) fn new(inner: Body, request: InFlight) -> Self {
        request.waiting_on_reader(!inner.is_end_stream());
        Self {
            inner,
            rest: Bytes::new(),
            request,
        }
    }

    fn hand_out(&mut self, mut data: Bytes) -> Frame<Bytes> {
        if data.len() > FRAME_BYTES {
            self.rest = data.split_off(FRAME_BYTES);
        }
        self.request.waiting_on_reader(true);
        Frame::data(data)
    }
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        // Being asked again means the reader took the last frame.
        this.request.waiting_on_reader(false);
        if !this.rest.is_empty() {
            let rest = std::mem::take(&mut this.rest);
            return Poll::Ready(Some(Ok(this.hand_out(rest))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => Poll::Ready(Some(Ok(this.hand_out(data)))),
                Err(other) => {
                    this.request.waiting_on_reader(true);
                    Poll::Ready(Some(Ok(other)))
                }
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let rest = self.rest.len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + rest);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + rest);
        }
        hint
    }
}

/// The open connections, for making room at the connection limit.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    live: Mutex<HashMap<u64, Arc<Watch>>>,
    next: AtomicU64,
    /// Open connections, as the metrics show them.
    open: Gauge,
}

impl Registry {
    pub(crate) fn new(open: Gauge) -> Self {
        Self {
            open,
            ..Self::default()
        }
    }

    /// Registers a connection accepted now; it leaves the registry when the returned
    /// guard is dropped.
    pub(crate) fn open(self: &Arc<Self>) -> Registered {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let watch = Arc::new(Watch::new(Instant::now()));
        self.live().insert(id, Arc::clone(&watch));
        self.open.inc();
        Registered {
            registry: Arc::clone(self),
            id,
            watch,
        }
    }

    fn live(&self) -> MutexGuard<'_, HashMap<u64, Arc<Watch>>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connections open now.
    pub(crate) fn len(&self) -> usize {
        self.live().len()
    }

    /// Asks the connection idle the longest to close; `false` when none is idle.
    pub(crate) fn evict_longest_idle(&self) -> bool {
        let live = self.live();
        let oldest = live
            .values()
            .filter_map(|watch| watch.idle_since().map(|since| (since, watch)))
            .min_by_key(|(since, _)| *since);
        match oldest {
            Some((_, watch)) => {
                watch.evict();
                true
            }
            None => false,
        }
    }
}

/// A connection's place in the registry.
#[derive(Debug)]
pub(crate) struct Registered {
    registry: Arc<Registry>,
    id: u64,
    /// The connection's watch.
    pub watch: Arc<Watch>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.live().remove(&self.id);
        self.registry.open.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    const DEADLINES: Deadlines = Deadlines {
        first_request: Duration::from_secs(10),
        idle: Duration::from_secs(30),
        send: Duration::from_secs(5),
    };

    fn body(bytes: usize) -> Body {
        Full::new(Bytes::from(vec![b'x'; bytes]))
            .map_err(|never| match never {})
            .boxed()
    }

    #[tokio::test]
    async fn a_silent_connection_has_until_the_first_request_deadline() {
        let start = Instant::now();
        let watch = Watch::new(start);
        assert_eq!(
            watch.judge(start, &DEADLINES),
            Verdict::Keep(Some(start + DEADLINES.first_request))
        );
        assert_eq!(
            watch.judge(start + DEADLINES.first_request, &DEADLINES),
            Verdict::CloseIdle
        );
    }

    #[tokio::test]
    async fn between_requests_the_idle_deadline_applies() {
        let watch = Arc::new(Watch::new(Instant::now()));
        let request = watch.start_request();
        assert_eq!(watch.judge(Instant::now(), &DEADLINES), Verdict::Keep(None));
        drop(request);
        let now = Instant::now();
        match watch.judge(now, &DEADLINES) {
            Verdict::Keep(Some(deadline)) => assert!(deadline > now + DEADLINES.first_request),
            other => panic!("idle connection judged {other:?}"),
        }
        assert_eq!(
            watch.judge(now + DEADLINES.idle + Duration::from_millis(1), &DEADLINES),
            Verdict::CloseIdle
        );
    }

    #[tokio::test]
    async fn a_reader_that_takes_no_frame_is_stalled() {
        let watch = Arc::new(Watch::new(Instant::now()));
        let tracked = Tracked::new(body(100), watch.start_request());
        let now = Instant::now();
        assert!(matches!(
            watch.judge(now, &DEADLINES),
            Verdict::Keep(Some(_))
        ));
        assert_eq!(
            watch.judge(now + DEADLINES.send + Duration::from_millis(1), &DEADLINES),
            Verdict::CloseStalled
        );
        drop(tracked);
        assert!(matches!(
            watch.judge(Instant::now(), &DEADLINES),
            Verdict::Keep(Some(_))
        ));
    }

    #[tokio::test]
    async fn large_bodies_go_out_in_frames_and_each_take_counts_as_progress() {
        let watch = Arc::new(Watch::new(Instant::now()));
        let mut tracked = Tracked::new(body(FRAME_BYTES * 2 + 10), watch.start_request());
        assert_eq!(
            tracked.size_hint().exact(),
            Some(FRAME_BYTES as u64 * 2 + 10)
        );
        let mut sizes = Vec::new();
        while let Some(frame) = tracked.frame().await {
            sizes.push(frame.unwrap().into_data().unwrap().len());
        }
        assert_eq!(sizes, [FRAME_BYTES, FRAME_BYTES, 10]);
        // The last frame was taken: the reader is up to date.
        assert_eq!(watch.judge(Instant::now(), &DEADLINES), Verdict::Keep(None));
    }

    #[tokio::test]
    async fn the_registry_evicts_the_longest_idle_and_never_a_busy_one() {
        let registry = Arc::new(Registry::default());
        let busy = registry.open();
        let _request = busy.watch.start_request();
        assert!(
            !registry.evict_longest_idle(),
            "a busy connection was evicted"
        );
        let older = registry.open();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let newer = registry.open();
        assert!(registry.evict_longest_idle());
        let now = Instant::now();
        assert_eq!(older.watch.judge(now, &DEADLINES), Verdict::CloseIdle);
        assert!(matches!(
            newer.watch.judge(now, &DEADLINES),
            Verdict::Keep(Some(_))
        ));
        assert_eq!(registry.len(), 3);
        drop(older);
        assert_eq!(registry.len(), 2);
    }
}
