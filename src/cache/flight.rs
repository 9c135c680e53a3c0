//! Request coalescing: when many readers ask for the same uncached page at once, one of
//! them (the leader) fetches and converts it and the others (followers) wait for that
//! result instead of each hitting the upstream. This module only hands out the roles and
//! passes the result along; fetching and storing are the caller's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use super::shared::FleetLock;
use super::StoredPage;

/// How a flight ended, as its followers learn it.
#[derive(Debug, Clone)]
pub enum Landing {
    /// The page, stored and shareable: serve it.
    Page(Arc<StoredPage>),
    /// The upstream answered, but with nothing that may be shared (`no-store`, a missing
    /// page, a page for this reader only): each follower fetches for itself.
    Unshared,
    /// The fetch failed or was abandoned: the upstream is failing right now.
    Failed,
}

/// What a flight's followers see: `None` until the leader is done, then its landing.
type Outcome = Option<Landing>;

/// The flights under way, by cache key.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    // A std mutex: it is held only for map operations, never across an await.
    under_way: Mutex<HashMap<String, watch::Receiver<Outcome>>>,
}

impl Flights {
    /// Makes the caller the leader for `key` when no flight is under way, else a follower
    /// of the one that is. Checking and registering happen under one lock, so exactly one
    /// of any number of concurrent callers leads.
    pub(crate) fn join(self: &Arc<Self>, key: &str) -> Flight {
        let mut under_way = self
            .under_way
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(outcome) = under_way.get(key) {
            return Flight::Follower(FlightFollower {
                outcome: outcome.clone(),
            });
        }
        let (sender, receiver) = watch::channel(None);
        under_way.insert(key.to_owned(), receiver);
        Flight::Leader(FlightLeader {
            registration: Some(Registration {
                flights: Arc::clone(self),
                key: key.to_owned(),
                sender,
            }),
            fleet: None,
        })
    }

    #[cfg(test)]
    pub(crate) fn under_way(&self) -> usize {
        self.under_way.lock().unwrap().len()
    }
}

/// A caller's role for a key, from [`PageCache::join`](super::PageCache::join).
#[derive(Debug)]
pub enum Flight {
    /// Fetch the page, store it if storable, then [`FlightLeader::finish`].
    Leader(FlightLeader),
    /// Another caller is fetching: [`FlightFollower::wait`] for its page.
    Follower(FlightFollower),
}

/// The caller that fetches for everyone waiting on the same key.
///
/// Dropping it without [`finish`](Self::finish) (an error, a panic, a cancelled request)
/// releases the followers with `None`, so none waits on a fetch nobody is doing.
#[derive(Debug)]
pub struct FlightLeader {
    /// `None` when the cache is off: there is nobody to tell.
    registration: Option<Registration>,
    /// The fleet's lock on the page, when this instance fetches it for the fleet: ended
    /// with the flight, so other instances learn the landing too.
    fleet: Option<FleetLock>,
}

#[derive(Debug)]
struct Registration {
    flights: Arc<Flights>,
    key: String,
    sender: watch::Sender<Outcome>,
}

impl FlightLeader {
    /// A leader that no follower can join, for when coalescing is off.
    pub(crate) fn alone() -> Self {
        Self {
            registration: None,
            fleet: None,
        }
    }

    /// Makes this flight the fleet's fetch of its page: `lock` ends when it lands.
    pub(crate) fn hold(&mut self, lock: FleetLock) {
        self.fleet = Some(lock);
    }

    /// Ends the flight and tells every follower how.
    pub fn finish(mut self, landing: Landing) {
        self.land(landing);
    }

    fn land(&mut self, landing: Landing) {
        if let Some(lock) = self.fleet.take() {
            lock.release(&landing);
        }
        let Some(registration) = self.registration.take() else {
            return;
        };
        // Unregister before publishing: a caller arriving from now on starts a new flight
        // (and will normally find the stored page first) instead of joining a finished one.
        // Only this leader's entry can be under the key, since nobody else leads while it
        // is registered.
        registration
            .flights
            .under_way
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&registration.key);
        // No receivers left is fine: every follower may have given up.
        let _ = registration.sender.send(Some(landing));
    }
}

impl Drop for FlightLeader {
    fn drop(&mut self) {
        self.land(Landing::Failed);
    }
}

/// A caller waiting for the leader's page.
#[derive(Debug)]
pub struct FlightFollower {
    outcome: watch::Receiver<Outcome>,
}

impl FlightFollower {
    /// Waits until the leader finishes or is dropped (which lands as
    /// [`Landing::Failed`]). The wait is as long as the leader's fetch, which the upstream
    /// limits bound; wrap it in a timeout to bound it further.
    pub async fn wait(mut self) -> Landing {
        match self.outcome.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or(Landing::Failed),
            // The sender only goes away after publishing, so this is unreachable in
            // practice; treating it as a failed flight keeps the follower moving.
            Err(_) => Landing::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::Duration;

    fn page() -> Arc<StoredPage> {
        Arc::new(StoredPage::new(
            200,
            Bytes::from_static(b"<p>news</p>"),
            None,
            Duration::from_secs(60),
            crate::cache::Quality {
                text_chars: 1,
                whole: true,
            },
        ))
    }

    #[tokio::test]
    async fn finished_flight_reaches_every_follower_and_unregisters() {
        let flights = Arc::new(Flights::default());
        let Flight::Leader(leader) = flights.join("k") else {
            panic!("first caller must lead");
        };
        let followers: Vec<_> = (0..3)
            .map(|_| match flights.join("k") {
                Flight::Follower(f) => tokio::spawn(f.wait()),
                Flight::Leader(_) => panic!("second leader"),
            })
            .collect();
        // Another key flies independently.
        assert!(matches!(flights.join("other"), Flight::Leader(_)));
        let sent = page();
        leader.finish(Landing::Page(Arc::clone(&sent)));
        for follower in followers {
            match follower.await.unwrap() {
                Landing::Page(page) => assert_eq!(*page, *sent),
                other => panic!("follower got {other:?}"),
            }
        }
        assert_eq!(flights.under_way(), 0);
        assert!(matches!(flights.join("k"), Flight::Leader(_)));
    }

    #[tokio::test]
    async fn an_unshared_landing_sends_followers_to_fetch_for_themselves() {
        let flights = Arc::new(Flights::default());
        let Flight::Leader(leader) = flights.join("k") else {
            panic!("first caller must lead");
        };
        let Flight::Follower(early) = flights.join("k") else {
            panic!("second caller must follow");
        };
        leader.finish(Landing::Unshared);
        assert!(matches!(early.wait().await, Landing::Unshared));
    }
}
