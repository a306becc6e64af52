//! The in-process replay store: a sharded hash table of seen keys and their
//! window ends, bounded like the token cache.
//!
//! Each shard keeps its keys in insertion order too; an insert first drops
//! expired keys from the front, and when the shard is full the oldest key
//! goes (its window is the nearest to closing: windows are all about
//! `max_age` long). Evicting an open window re-opens that signature to a
//! replay, so size `replay_capacity` above the signed request rate times
//! `max_age`; a key costs ~80 bytes.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::Mutex;

use hashbrown::HashTable;

use super::{ReplayKey, ReplayStore, StoreCheck};

const SHARDS: usize = 16;

struct Shard {
    /// Seen keys and their window ends.
    table: HashTable<(ReplayKey, f64)>,
    /// Insertion order. May hold records replaced since (re-used after
    /// their window): removal checks the window end too.
    order: VecDeque<(ReplayKey, f64)>,
}

/// The in-process replay store.
pub struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    hasher: foldhash::fast::RandomState,
}

impl MemoryStore {
    /// A store holding at most `capacity` keys (at least one per shard).
    pub fn new(capacity: u64) -> MemoryStore {
        let shards = if capacity < 1024 { 1 } else { SHARDS };
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX);
        MemoryStore {
            per_shard: (capacity / shards).max(1),
            shards: (0..shards)
                .map(|_| {
                    Mutex::new(Shard {
                        table: HashTable::new(),
                        order: VecDeque::new(),
                    })
                })
                .collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// Keys held now (expired ones included until swept).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).table.len())
            .sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records `key` until `window_end` unless held and still open:
    /// `true` on first use.
    pub fn check(&self, key: &ReplayKey, window_end: f64, now: f64) -> bool {
        let hash = self.hasher.hash_one(key.0);
        let shard = &self.shards[(hash >> 32) as usize % self.shards.len()];
        let mut guard = shard.lock().unwrap_or_else(|p| p.into_inner());
        let Shard { table, order } = &mut *guard;
        let rehash = |e: &(ReplayKey, f64)| self.hasher.hash_one(e.0.0);
        if let Some(entry) = table.find_mut(hash, |e| e.0 == *key) {
            if now < entry.1 {
                return false;
            }
            entry.1 = window_end;
            order.push_back((*key, window_end));
            return true;
        }
        // Sweep what has expired at the front, then make room.
        while let Some(&(old, end)) = order.front() {
            let full = table.len() >= self.per_shard;
            if !(end <= now || full) {
                break;
            }
            order.pop_front();
            let h = self.hasher.hash_one(old.0);
            if let Ok(found) = table.find_entry(h, |e| e.0 == old && e.1 == end) {
                found.remove();
            }
        }
        table.insert_unique(hash, (*key, window_end), rehash);
        order.push_back((*key, window_end));
        true
    }
}

impl ReplayStore for MemoryStore {
    fn first_use(&self, key: &ReplayKey, window_end: f64, now: f64) -> StoreCheck<'_> {
        StoreCheck::Ready(Some(Ok(self.check(key, window_end, now))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> ReplayKey {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&i.to_be_bytes());
        ReplayKey(k)
    }

    #[test]
    fn refuses_within_the_window_and_accepts_after() {
        let store = MemoryStore::new(100);
        assert!(store.check(&key(1), 160.0, 100.0));
        assert!(!store.check(&key(1), 160.0, 100.0));
        assert!(!store.check(&key(1), 160.0, 159.999));
        assert!(store.check(&key(2), 160.0, 159.999));
        // the window has ended: a new use is accepted and opens a new window
        assert!(store.check(&key(1), 260.0, 160.0));
        assert!(!store.check(&key(1), 260.0, 200.0));
    }

    #[test]
    fn stays_bounded_and_sweeps_expired_keys() {
        for capacity in [10u64, 5000] {
            let store = MemoryStore::new(capacity);
            for i in 0..20_000 {
                assert!(store.check(&key(i), 1e9, 0.0));
                assert!(store.len() as u64 <= capacity.max(16), "{capacity}");
            }
            // every held key expires at 1e9; a later insert sweeps them
            let before = store.len();
            for i in 0..100 {
                assert!(store.check(&key(1_000_000 + i), 2e9, 1e9));
            }
            assert!(store.len() < before || before <= 100, "{capacity}");
        }
    }

    #[test]
    fn a_replaced_record_does_not_evict_its_successor() {
        let store = MemoryStore::new(2);
        assert!(store.check(&key(1), 10.0, 0.0));
        // re-used after its window: two order records for key 1
        assert!(store.check(&key(1), 30.0, 20.0));
        assert!(store.check(&key(2), 30.0, 21.0));
        // the stale record of key 1 (end 10) is swept, the live one stays
        assert!(!store.check(&key(1), 30.0, 22.0));
    }
}
