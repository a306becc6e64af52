//! The in-process store: a fixed table, allocated whole when the limit is
//! built, so memory is flat whatever keys arrive.
//!
//! Set-associative: a key's hash picks a bucket of [`WAYS`] slots, each
//! `(128-bit key hash, TAT)`. A new key takes an empty slot, or one whose
//! TAT has passed (a refilled key is the same as an absent one), else it
//! evicts the slot with the earliest TAT: the key with the least debt, so
//! a flood of one-request keys evicts its own kind while a device that has
//! spent its burst is the last to go. Evicting a debt makes the limit more
//! lenient for that key, never stricter for anyone (docs/DECISIONS.md,
//! "Rate limits per attested device").
//!
//! Keys are stored as two independent keyed hashes (random per process):
//! a long header value costs what a short one does, and no value is kept.

use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::gcra::{Gcra, Step};

/// Slots per bucket.
pub const WAYS: usize = 8;

#[derive(Clone, Copy, Default)]
struct Slot {
    key: [u64; 2],
    /// 0: empty (a real TAT is a time after 1970).
    tat: u64,
}

type Bucket = Mutex<[Slot; WAYS]>;

/// The bounded in-process GCRA table of one limit.
pub struct MemoryStore {
    buckets: Box<[Bucket]>,
    hash_a: foldhash::quality::RandomState,
    hash_b: foldhash::quality::RandomState,
    /// Keys evicted while still in debt.
    evicted: AtomicU64,
}

impl MemoryStore {
    /// A table of at least `capacity` keys (rounded up to whole buckets).
    pub fn new(capacity: u64) -> MemoryStore {
        let buckets = usize::try_from(capacity.div_ceil(WAYS as u64))
            .unwrap_or(usize::MAX)
            .max(1);
        MemoryStore {
            buckets: (0..buckets)
                .map(|_| Mutex::new([Slot::default(); WAYS]))
                .collect(),
            hash_a: foldhash::quality::RandomState::default(),
            hash_b: foldhash::quality::RandomState::default(),
            evicted: AtomicU64::new(0),
        }
    }

    /// Keys the table holds at most.
    pub fn capacity(&self) -> usize {
        self.buckets.len() * WAYS
    }

    /// Bytes of the table (fixed at creation).
    pub fn table_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.buckets)
    }

    /// Slots in use (refilled keys included until reused).
    pub fn len(&self) -> usize {
        self.buckets
            .iter()
            .map(|b| lock(b).iter().filter(|s| s.tat != 0).count())
            .sum()
    }

    /// Whether no slot is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys evicted while still in debt (each then got a fresh burst).
    pub fn evicted_in_debt(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// One arrival of `key` at `now` (µs since the Unix epoch).
    pub fn step(&self, key: &[u8], gcra: &Gcra, now: u64) -> Step {
        let k = [self.hash_a.hash_one(key), self.hash_b.hash_one(key)];
        let index = (k[0] % self.buckets.len() as u64) as usize;
        let mut bucket = lock(&self.buckets[index]);
        if let Some(slot) = bucket.iter_mut().find(|s| s.tat != 0 && s.key == k) {
            let step = gcra.step(Some(slot.tat), now);
            if let Step::Allow { tat, .. } = step {
                slot.tat = tat;
            }
            return step;
        }
        let step = gcra.step(None, now);
        if let Step::Allow { tat, .. } = step {
            // The slot with the earliest TAT: empty (0), refilled (≤ now),
            // or else the least debt.
            let victim = bucket
                .iter_mut()
                .min_by_key(|s| s.tat)
                .unwrap_or_else(|| unreachable!("WAYS > 0"));
            if victim.tat > now {
                self.evicted.fetch_add(1, Ordering::Relaxed);
            }
            *victim = Slot { key: k, tat };
        }
        step
    }
}

fn lock(b: &Bucket) -> std::sync::MutexGuard<'_, [Slot; WAYS]> {
    b.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Gcra = Gcra {
        interval_us: 1_000_000,
        burst: 2,
    };

    #[test]
    fn keys_are_independent_and_kept() {
        let s = MemoryStore::new(64);
        let now = 1_000_000_000;
        for key in [&b"a"[..], b"b"] {
            assert!(matches!(s.step(key, &G, now), Step::Allow { .. }));
            assert!(matches!(s.step(key, &G, now), Step::Allow { .. }));
            assert!(matches!(s.step(key, &G, now), Step::Deny { .. }));
        }
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn a_flood_of_new_keys_keeps_the_table_whole_and_the_debtors() {
        let s = MemoryStore::new(1024);
        let cap = s.capacity();
        let bytes = s.table_bytes();
        let now = 1_000_000_000;
        // a device spends its burst: the most debt in its bucket
        s.step(b"device", &G, now);
        s.step(b"device", &G, now);
        for i in 0u64..200_000 {
            s.step(&i.to_le_bytes(), &G, now);
        }
        assert!(s.len() <= cap);
        assert_eq!(s.table_bytes(), bytes);
        assert!(s.evicted_in_debt() > 0);
        assert!(
            matches!(s.step(b"device", &G, now), Step::Deny { .. }),
            "the debtor was evicted by one-request keys"
        );
    }
}
