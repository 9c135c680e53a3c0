//! The process-wide ceiling on memory held by requests in flight (`[limits]
//! max_inflight_bytes`): upstream bodies being read and converted, and Light bytes not yet
//! taken by their readers. Every such byte is charged to a [`Charge`] that gives it back
//! when dropped, so the ceiling holds however many readers, sites or connections there
//! are. Admission of a new miss may wait briefly for room; growth never waits, because a
//! request that holds memory while waiting for more is how budgets deadlock. Detection,
//! a few pages at a time, may overdraw it (see [`Charge::overdraw`]): the ceiling is the
//! budget plus what those few detections take. The budget only counts; what to answer
//! when it is spent is the server's.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// What a new miss reserves before its first upstream byte: enough for the request's own
/// bookkeeping and a typical compressed chunk, so admission means something under a flood.
pub(crate) const ADMISSION_BYTES: usize = 64 << 10;

/// While a detected page arrives, it is held as received and as decoded text.
pub(crate) const GATHERING_BYTES_PER_BYTE: usize = 2;

/// Detection itself (the tree, the article, the Light page, its text and compressed
/// forms) peaks at about eight times the page on top: `lightmirror convert` of a 10 MiB
/// page peaks at 118 MiB over its idle size, the page read whole included.
pub(crate) const DETECTING_BYTES_PER_BYTE: usize = 8;

/// A streamed page's Light output is kept twice until the end: for the cache and as the
/// article's text.
pub(crate) const STREAMED_BYTES_PER_BYTE: usize = 2;

/// How many detections run at once. Detection is CPU work, so more than a couple per core
/// gains nothing; this also bounds how far detections may overdraw the budget.
pub(crate) fn detections_at_once() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get() * 2)
}

/// What converting a page of `body_bytes` is charged at most.
pub(crate) const fn bytes_to_convert(body_bytes: usize) -> usize {
    ADMISSION_BYTES.saturating_add(
        body_bytes.saturating_mul(GATHERING_BYTES_PER_BYTE + DETECTING_BYTES_PER_BYTE),
    )
}

/// The budget is spent: there is no room for this request now.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[error("the memory for requests in flight ({limit} bytes) is in use")]
pub(crate) struct Exhausted {
    /// The configured ceiling.
    pub limit: usize,
}

/// The shared ceiling. Cloning is cheap; every clone is the same budget.
#[derive(Debug, Clone)]
pub(crate) struct MemoryBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    limit: usize,
    used: AtomicUsize,
    freed: Notify,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                limit,
                used: AtomicUsize::new(0),
                freed: Notify::new(),
            }),
        }
    }

    /// Bytes charged right now.
    pub(crate) fn used(&self) -> usize {
        self.inner.used.load(Ordering::Acquire)
    }

    /// Reserves `bytes` for a new request, waiting up to `wait` for others to give memory
    /// back.
    pub(crate) async fn admit(&self, bytes: usize, wait: Duration) -> Result<Charge, Exhausted> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Register interest before trying, so a release between the try and the wait
            // is not missed.
            let freed = self.inner.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Ok(charge) = self.try_charge(bytes) {
                return Ok(charge);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(self.exhausted());
            }
        }
    }

    /// Reserves `bytes` at once or not at all.
    pub(crate) fn try_charge(&self, bytes: usize) -> Result<Charge, Exhausted> {
        self.take(bytes)?;
        Ok(Charge {
            budget: self.clone(),
            bytes,
        })
    }

    fn take(&self, bytes: usize) -> Result<(), Exhausted> {
        let inner = &self.inner;
        let mut used = inner.used.load(Ordering::Acquire);
        loop {
            let next = used
                .checked_add(bytes)
                .filter(|&n| n <= inner.limit)
                .ok_or_else(|| self.exhausted())?;
            match inner
                .used
                .compare_exchange_weak(used, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(now) => used = now,
            }
        }
    }

    fn give_back(&self, bytes: usize) {
        if bytes > 0 {
            self.inner.used.fetch_sub(bytes, Ordering::AcqRel);
            self.inner.freed.notify_waiters();
        }
    }

    fn exhausted(&self) -> Exhausted {
        Exhausted {
            limit: self.inner.limit,
        }
    }
}

/// Bytes one request holds against the budget; given back when dropped.
#[derive(Debug)]
pub(crate) struct Charge {
    budget: MemoryBudget,
    bytes: usize,
}

impl Charge {
    /// Charges `bytes` more, at once or not at all.
    pub(crate) fn grow(&mut self, bytes: usize) -> Result<(), Exhausted> {
        self.budget.take(bytes)?;
        self.bytes += bytes;
        Ok(())
    }

    /// Charges `bytes` more even past the limit: for detections, which run a few at a
    /// time (see [`detections_at_once`]) and must not wait for memory while holding their
    /// page, as that is how budgets deadlock. While the budget is over its limit, new
    /// admissions and growth are refused, which is what brings it back.
    pub(crate) fn overdraw(&mut self, bytes: usize) {
        self.budget.inner.used.fetch_add(bytes, Ordering::AcqRel);
        self.bytes += bytes;
    }

    /// Gives back up to `bytes` of this charge.
    pub(crate) fn shrink(&mut self, bytes: usize) {
        let bytes = bytes.min(self.bytes);
        self.bytes -= bytes;
        self.budget.give_back(bytes);
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Splits `bytes` (at most what is held) off into a charge of its own, for memory that
    /// moves elsewhere (a response body handed to the connection).
    pub(crate) fn split(&mut self, bytes: usize) -> Charge {
        let bytes = bytes.min(self.bytes);
        self.bytes -= bytes;
        Charge {
            budget: self.budget.clone(),
            bytes,
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn charges_never_exceed_the_limit_and_come_back_on_drop() {
        let budget = MemoryBudget::new(1000);
        let mut a = budget.try_charge(600).unwrap();
        assert_eq!(budget.try_charge(500).unwrap_err().limit, 1000);
        assert!(a.grow(500).is_err(), "growth past the limit must fail");
        a.grow(400).unwrap();
        assert_eq!(budget.used(), 1000);
        a.shrink(300);
        assert_eq!(budget.used(), 700);
        let moved = a.split(200);
        assert_eq!((a.bytes(), moved.bytes()), (500, 200));
        drop(a);
        assert_eq!(budget.used(), 200);
        drop(moved);
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test]
    async fn admission_waits_for_room_then_gives_up() {
        let budget = MemoryBudget::new(100);
        let held = budget.try_charge(100).unwrap();
        let waiting = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.admit(50, Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        let admitted = waiting.await.unwrap().expect("room was given back");
        assert_eq!(admitted.bytes(), 50);

        let _rest = budget.try_charge(50).unwrap();
        let refused = budget.admit(10, Duration::from_millis(30)).await;
        assert!(refused.is_err());
    }
}
