//! The account each store (memory, and the directory) keeps of its entries, and the one
//! place that decides which entry goes when room is needed.
//!
//! Two segments share one byte budget. **Probation** takes every new entry at once, so
//! breaking news always gets in; **protected** holds entries read again after they were
//! stored. A flood of one-off requests therefore churns probation only: protected may use
//! at most what probation's share (a fifth of the budget) leaves, and probation may borrow
//! whatever protected does not use. When room is needed, expired entries go first, then
//! probation's oldest, then (only if probation is empty) protected's oldest; protected
//! entries past their share move back to probation as its newest. At most `max_variants`
//! probation entries share one path (keys that differ only in their query, see
//! [`variant_base`]), so a burst of `?x=N` requests costs one path's share, not the cache.
//!
//! Values are whatever the store keeps (a page, or a file's record); nothing here does
//! I/O, and callers drop or delete what it hands back as evicted.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::SystemTime;

use super::policy::variant_base;

/// Where an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Stored, not read since.
    Probation,
    /// Read again after it was stored.
    Protected,
}

struct Entry<V> {
    value: V,
    bytes: u64,
    /// When the entry stops being of any use.
    until: SystemTime,
    segment: Segment,
    /// Recency: a larger serial was stored or read later.
    serial: u64,
}

/// Entries keyed by cache key, within a byte budget.
pub(crate) struct Segments<V> {
    max_bytes: u64,
    max_variants: usize,
    entries: HashMap<String, Entry<V>>,
    /// Keys by serial, oldest first.
    probation: BTreeMap<u64, String>,
    protected: BTreeMap<u64, String>,
    /// Serials of the probation entries that are variants, by the path they vary.
    variants: HashMap<String, BTreeSet<u64>>,
    /// Keys by the end of their use, soonest first.
    expiry: BTreeSet<(SystemTime, String)>,
    probation_bytes: u64,
    protected_bytes: u64,
    next_serial: u64,
}

/// What a change pushed out: the keys and values the store must drop or delete.
pub(crate) type Evicted<V> = Vec<(String, V)>;

/// No Light page comes near this; it bounds what the directory's loader reads even when
/// `max_bytes` is huge.
const LARGEST_PAGE: u64 = 64 << 20;

/// The bytes of a budget that probation always has: what protected cannot take.
fn probation_share(max_bytes: u64) -> u64 {
    max_bytes / 5
}

/// The heaviest entry a budget of `max_bytes` admits: within probation's share, so that a
/// new entry never has to push out a protected one, and within [`LARGEST_PAGE`].
pub(crate) fn largest_entry(max_bytes: u64) -> u64 {
    probation_share(max_bytes).min(LARGEST_PAGE)
}

impl<V> Segments<V> {
    pub(crate) fn new(max_bytes: u64, max_variants: usize) -> Self {
        Self {
            max_bytes,
            max_variants,
            entries: HashMap::new(),
            probation: BTreeMap::new(),
            protected: BTreeMap::new(),
            variants: HashMap::new(),
            expiry: BTreeSet::new(),
            probation_bytes: 0,
            protected_bytes: 0,
            next_serial: 0,
        }
    }

    /// The entry under `key` if it is still of use at `now`.
    pub(crate) fn get(&self, key: &str, now: SystemTime) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|entry| entry.until > now)
            .map(|entry| &entry.value)
    }

    /// Keeps `value` under `key`, replacing any earlier entry, in `segment` or in the
    /// protected one if the key still of use was there (a protected page updated in place
    /// stays protected). An entry heavier than [`largest_entry`] is not kept, and the one
    /// it would have replaced goes with it.
    pub(crate) fn insert(
        &mut self,
        key: &str,
        value: V,
        bytes: u64,
        until: SystemTime,
        segment: Segment,
        now: SystemTime,
    ) -> Evicted<V> {
        let was_protected = self
            .entries
            .get(key)
            .is_some_and(|entry| entry.until > now && entry.segment == Segment::Protected);
        let segment = if was_protected {
            Segment::Protected
        } else {
            segment
        };
        // The replaced entry is simply gone, not evicted: the store overwrites it in place.
        self.unlink(key);
        if bytes > largest_entry(self.max_bytes) {
            return Vec::new();
        }
        let serial = self.next_serial();
        self.link(
            key.to_owned(),
            Entry {
                value,
                bytes,
                until,
                segment,
                serial,
            },
        );
        let mut evicted = match segment {
            Segment::Probation => self.cap_variants(key),
            Segment::Protected => Vec::new(),
        };
        evicted.extend(self.trim(now));
        evicted
    }

    /// A read of `key`: a probation entry moves to protected (the answer says whether it
    /// did), a protected one becomes its segment's newest.
    pub(crate) fn touch(&mut self, key: &str, now: SystemTime) -> (bool, Evicted<V>) {
        let serial = self.next_serial();
        let Some(entry) = self.entries.get_mut(key).filter(|entry| entry.until > now) else {
            return (false, Vec::new());
        };
        let promoted = entry.segment == Segment::Probation;
        match entry.segment {
            Segment::Protected => {
                let old = std::mem::replace(&mut entry.serial, serial);
                if let Some(key) = self.protected.remove(&old) {
                    self.protected.insert(serial, key);
                }
            }
            Segment::Probation => {
                if let Some((key, mut entry)) = self.unlink(key) {
                    entry.segment = Segment::Protected;
                    entry.serial = serial;
                    self.link(key, entry);
                }
            }
        }
        (promoted, self.trim(now))
    }

    /// Forgets `key`, handing its value back.
    pub(crate) fn remove(&mut self, key: &str) -> Option<V> {
        self.unlink(key).map(|(_, entry)| entry.value)
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes held, both segments.
    pub(crate) fn bytes(&self) -> u64 {
        self.probation_bytes + self.protected_bytes
    }

    /// The segment `key` is in, if it is held.
    #[cfg(test)]
    pub(crate) fn segment(&self, key: &str) -> Option<Segment> {
        self.held(key).map(|(_, segment)| segment)
    }

    /// The value under `key` and its segment, if it is held, of use or not.
    pub(crate) fn held(&self, key: &str) -> Option<(&V, Segment)> {
        self.entries
            .get(key)
            .map(|entry| (&entry.value, entry.segment))
    }

    /// The keys held, in no order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    fn next_serial(&mut self) -> u64 {
        self.next_serial += 1;
        self.next_serial
    }

    /// Drops the oldest probation variants of `key`'s path beyond `max_variants`. `key` is
    /// the newest of them, so it is never the one dropped.
    fn cap_variants(&mut self, key: &str) -> Evicted<V> {
        let mut evicted = Vec::new();
        let Some(base) = variant_base(key) else {
            return evicted;
        };
        while let Some(oldest) = self
            .variants
            .get(base)
            .filter(|serials| serials.len() > self.max_variants)
            .and_then(|serials| serials.first())
        {
            let victim = self.probation[oldest].clone();
            evicted.extend(self.evict(&victim));
        }
        evicted
    }

    /// Restores the budget: expired entries out, protected entries past their share back
    /// to probation, then the oldest out until everything fits.
    fn trim(&mut self, now: SystemTime) -> Evicted<V> {
        let mut evicted = Vec::new();
        while let Some((until, key)) = self.expiry.first() {
            if *until > now {
                break;
            }
            let key = key.clone();
            evicted.extend(self.evict(&key));
        }
        let protected_share = self.max_bytes - probation_share(self.max_bytes);
        while self.protected_bytes > protected_share {
            let Some(key) = self.protected.values().next().cloned() else {
                break;
            };
            let serial = self.next_serial();
            if let Some((key, mut entry)) = self.unlink(&key) {
                entry.segment = Segment::Probation;
                entry.serial = serial;
                self.link(key, entry);
            }
        }
        while self.bytes() > self.max_bytes {
            let oldest = self
                .probation
                .values()
                .next()
                .or(self.protected.values().next());
            let Some(key) = oldest.cloned() else {
                break;
            };
            evicted.extend(self.evict(&key));
        }
        evicted
    }

    fn evict(&mut self, key: &str) -> Option<(String, V)> {
        self.unlink(key).map(|(key, entry)| (key, entry.value))
    }

    fn link(&mut self, key: String, entry: Entry<V>) {
        match entry.segment {
            Segment::Probation => {
                self.probation_bytes += entry.bytes;
                self.probation.insert(entry.serial, key.clone());
                if let Some(base) = variant_base(&key) {
                    self.variants
                        .entry(base.to_owned())
                        .or_default()
                        .insert(entry.serial);
                }
            }
            Segment::Protected => {
                self.protected_bytes += entry.bytes;
                self.protected.insert(entry.serial, key.clone());
            }
        }
        self.expiry.insert((entry.until, key.clone()));
        self.entries.insert(key, entry);
    }

    fn unlink(&mut self, key: &str) -> Option<(String, Entry<V>)> {
        let (key, entry) = self.entries.remove_entry(key)?;
        match entry.segment {
            Segment::Probation => {
                self.probation_bytes -= entry.bytes;
                self.probation.remove(&entry.serial);
                if let Some(base) = variant_base(&key) {
                    if let Some(serials) = self.variants.get_mut(base) {
                        serials.remove(&entry.serial);
                        if serials.is_empty() {
                            self.variants.remove(base);
                        }
                    }
                }
            }
            Segment::Protected => {
                self.protected_bytes -= entry.bytes;
                self.protected.remove(&entry.serial);
            }
        }
        self.expiry.remove(&(entry.until, key.clone()));
        Some((key, entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const DAY: Duration = Duration::from_secs(86_400);

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    /// A budget of 100 entries of 10 bytes: probation's share is 20 of them.
    fn segments() -> Segments<u32> {
        Segments::new(1000, 4)
    }

    fn put(segments: &mut Segments<u32>, key: &str) -> Vec<String> {
        let evicted = segments.insert(key, 0, 10, now() + DAY, Segment::Probation, now());
        evicted.into_iter().map(|(key, _)| key).collect()
    }

    #[test]
    fn new_entries_wait_in_probation_and_a_read_protects_them() {
        let mut s = segments();
        put(&mut s, "a");
        assert_eq!(s.segment("a"), Some(Segment::Probation));
        assert_eq!(s.touch("a", now()), (true, Vec::new()));
        assert_eq!(s.segment("a"), Some(Segment::Protected));
        assert_eq!(s.touch("a", now()), (false, Vec::new()));
        // Stored again, a protected entry stays protected.
        put(&mut s, "a");
        assert_eq!(s.segment("a"), Some(Segment::Protected));
        assert_eq!((s.len(), s.bytes()), (1, 10));
    }

    #[test]
    fn a_flood_of_new_keys_never_pushes_out_protected_entries() {
        let mut s = segments();
        for i in 0..70 {
            put(&mut s, &format!("read{i}"));
            s.touch(&format!("read{i}"), now());
        }
        let mut out = Vec::new();
        for i in 0..10_000 {
            out.extend(put(&mut s, &format!("once{i}")));
        }
        assert!(out.iter().all(|key| key.starts_with("once")));
        assert!((0..70).all(|i| s.get(&format!("read{i}"), now()).is_some()));
        // Probation kept what protected leaves of the budget, newest first.
        assert_eq!(s.len(), 100);
        assert!(s.get("once9999", now()).is_some() && s.get("once9969", now()).is_none());
        assert!(s.bytes() <= 1000);
    }

    #[test]
    fn protected_beyond_its_share_moves_back_to_probation() {
        let mut s = segments();
        for i in 0..81 {
            put(&mut s, &format!("k{i}"));
            s.touch(&format!("k{i}"), now());
        }
        // 80 entries is protected's share (800 of 1000 bytes): the least recent moved back.
        assert_eq!(s.segment("k0"), Some(Segment::Probation));
        assert_eq!(s.segment("k1"), Some(Segment::Protected));
        assert_eq!(s.segment("k80"), Some(Segment::Protected));
        assert_eq!(s.len(), 81);
    }

    #[test]
    fn a_burst_of_variants_costs_one_path_its_share() {
        let mut s = segments();
        put(&mut s, "site\0/other");
        put(&mut s, "site\0/news");
        put(&mut s, "site\0/news?read=1");
        s.touch("site\0/news?read=1", now());
        let mut out = Vec::new();
        for i in 0..1000 {
            out.extend(put(&mut s, &format!("site\0/news?x={i}")));
        }
        assert_eq!(out.len(), 996);
        assert!(out.iter().all(|key| key.starts_with("site\0/news?x=")));
        // The path itself, the protected variant and another path are all still there,
        // with the four newest variants.
        for kept in ["site\0/other", "site\0/news", "site\0/news?read=1"] {
            assert!(s.get(kept, now()).is_some(), "{kept}");
        }
        assert!((996..1000).all(|i| s.get(&format!("site\0/news?x={i}"), now()).is_some()));
        assert_eq!(s.len(), 7);
    }

    #[test]
    fn expired_entries_go_first_and_are_never_returned() {
        let mut s = segments();
        s.insert("short", 1, 10, now() + DAY, Segment::Probation, now());
        s.insert("long", 2, 10, now() + DAY * 2, Segment::Probation, now());
        assert_eq!(s.get("short", now() + DAY), None);
        assert_eq!(s.get("long", now() + DAY), Some(&2));
        // Nothing reads an expired entry back to life.
        assert_eq!(s.touch("short", now() + DAY), (false, Vec::new()));
        let later = now() + DAY;
        let out = s.insert("new", 3, 10, later + DAY, Segment::Probation, later);
        assert_eq!(out, vec![("short".to_owned(), 1)]);
        assert_eq!((s.len(), s.bytes()), (2, 20));
    }

    #[test]
    fn an_entry_heavier_than_probation_share_is_not_kept() {
        let mut s = segments();
        s.insert("k", 1, 200, now() + DAY, Segment::Probation, now());
        assert_eq!(s.get("k", now()), Some(&1));
        let out = s.insert("k", 2, 201, now() + DAY, Segment::Probation, now());
        assert!(out.is_empty());
        assert_eq!(s.get("k", now()), None);
        assert_eq!((s.len(), s.bytes()), (0, 0));
    }

    #[test]
    fn the_largest_entry_is_a_fifth_of_the_budget_up_to_64_mib() {
        assert_eq!(largest_entry(1000), 200);
        assert_eq!(largest_entry(64 << 20), (64 << 20) / 5);
        assert_eq!(largest_entry(1 << 40), 64 << 20);
        // A large budget still leaves protected four fifths, not all but one page: 10 GiB
        // of 64 MiB pages read again hold 128 protected, 32 more wait in probation.
        let mut s: Segments<u32> = Segments::new(10 << 30, 4);
        for i in 0..200 {
            let key = format!("k{i}");
            s.insert(&key, 0, 64 << 20, now() + DAY, Segment::Probation, now());
            s.touch(&key, now());
        }
        let protected = (0..200)
            .filter(|i| s.segment(&format!("k{i}")) == Some(Segment::Protected))
            .count();
        assert_eq!((protected, s.len()), (128, 160));
    }

    #[test]
    fn entries_loaded_as_protected_stay_protected() {
        let mut s = segments();
        s.insert("loaded", 1, 10, now() + DAY, Segment::Protected, now());
        assert_eq!(s.segment("loaded"), Some(Segment::Protected));
        s.insert("loaded", 2, 10, now() + DAY, Segment::Probation, now());
        assert_eq!(s.segment("loaded"), Some(Segment::Protected));
        // A probation entry written again as protected is promoted.
        put(&mut s, "late");
        s.insert("late", 3, 10, now() + DAY, Segment::Protected, now());
        assert_eq!(s.segment("late"), Some(Segment::Protected));
        assert_eq!(s.remove("loaded"), Some(2));
        assert_eq!(s.remove("late"), Some(3));
        assert_eq!((s.len(), s.bytes()), (0, 0));
    }
}
