//! The verified-token cache: a token whose signature and claims passed is
//! remembered, keyed by its exact bytes, until its `exp`, so the next request
//! with it skips the signature check (an ES256 check costs ~50-70 µs, a hit
//! ~0.1 µs).
//!
//! Rules: only tokens that passed are cached (a flood of bad tokens cannot
//! evict good ones, nor grow the cache); an entry is never used past `exp`
//! (plus leeway) and expired entries are swept; an entry remembers the
//! key-set generation it was verified under and is ignored under any other,
//! and the whole cache is cleared when a new key set is swapped in; the
//! number of entries never exceeds the capacity. Expiry and binding are still
//! checked on every hit, by the verifier.
//!
//! It is a small sharded hash table rather than moka: measured here, moka
//! cost ~750 bytes of bookkeeping per entry (100k tokens: +117 MiB RSS) and
//! ~160 ns per hit; this table holds an entry in the token plus ~130 bytes
//! and answers a hit in well under 100 ns. Eviction when full is by
//! expiry first, then oldest first: tokens live minutes, so the oldest is
//! the nearest to expiry anyway, and only valid tokens ever enter.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use hashbrown::HashTable;

use crate::clock;
use crate::token::Inner;

/// Shards of a large cache (writes lock one shard only).
const SHARDS: usize = 16;
/// Below this capacity, one shard (so the bound is exact and small caches
/// behave plainly).
const SHARD_MIN_CAPACITY: u64 = 1024;
/// Each shard's table is sized for its share of the capacity up front, up
/// to this many entries (1M over 16 shards): growing a table rehashes every
/// entry it holds (a cache miss each), and under a stream of new tokens
/// those resizes were the fresh-token point's p99 tail (docs/PERFORMANCE.md).
/// Only the tables' control bytes are written up front (1 byte a slot);
/// the slots themselves stay untouched, non-resident memory until used.
const SHARD_PRESIZE_MAX: usize = 1 << 16;

struct Shard {
    table: HashTable<Arc<Inner>>,
    /// Entries in insertion order, for eviction (oldest first). May hold
    /// entries already replaced or removed from `table`: they are skipped.
    order: VecDeque<Arc<Inner>>,
    /// Earliest time (Unix seconds) of the next sweep of expired entries.
    next_sweep: f64,
}

pub(crate) struct TokenCache {
    shards: Box<[RwLock<Shard>]>,
    /// Entries in all shards; never above `capacity`.
    len: AtomicUsize,
    capacity: usize,
    hasher: foldhash::fast::RandomState,
    leeway: f64,
}

fn read(lock: &RwLock<Shard>) -> RwLockReadGuard<'_, Shard> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write(lock: &RwLock<Shard>) -> RwLockWriteGuard<'_, Shard> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

impl TokenCache {
    pub(crate) fn new(capacity: u64, leeway: f64) -> TokenCache {
        let shards = if capacity < SHARD_MIN_CAPACITY {
            1
        } else {
            SHARDS
        };
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX).max(1);
        // A shard's share, with an eighth more for uneven spreading.
        let share = (capacity / shards + capacity / shards / 8 + 1).min(SHARD_PRESIZE_MAX);
        TokenCache {
            len: AtomicUsize::new(0),
            capacity,
            shards: (0..shards)
                .map(|_| {
                    RwLock::new(Shard {
                        table: HashTable::with_capacity(share),
                        order: VecDeque::with_capacity(share),
                        next_sweep: 0.0,
                    })
                })
                .collect(),
            // Randomly seeded per process. Only tokens with a valid
            // signature are ever inserted, so nobody can choose keys that
            // collide.
            hasher: foldhash::fast::RandomState::default(),
            leeway,
        }
    }

    /// The hash the cache files `token` under: of its last 64 bytes, which
    /// hold the signature (random to anyone without the key), so hashing
    /// stays cheap however long the claims are. Lookups still compare the
    /// whole token.
    pub(crate) fn hash(&self, token: &[u8]) -> u64 {
        let b = token;
        self.hasher.hash_one(&b[b.len().saturating_sub(64)..])
    }

    fn shard(&self, hash: u64) -> &RwLock<Shard> {
        // Middle bits: hashbrown uses the low bits for the slot and the top
        // seven for its tag.
        &self.shards[(hash >> 32) as usize & (self.shards.len() - 1)]
    }

    /// The cached verification of exactly `token`, if any.
    pub(crate) fn get(&self, hash: u64, token: &[u8]) -> Option<Arc<Inner>> {
        read(self.shard(hash))
            .table
            .find(hash, |e| e.token.as_bytes() == token)
            .cloned()
    }

    /// Caches a verification (replacing one of the same token). A token
    /// already past its `exp` on the wall clock is not kept.
    pub(crate) fn insert(&self, entry: Arc<Inner>) {
        let now = clock::now();
        if now >= entry.exp + self.leeway {
            return;
        }
        let hash = self.hash(entry.token.as_bytes());
        let mut guard = write(self.shard(hash));
        let shard = &mut *guard;
        if let Some(slot) = shard.table.find_mut(hash, |e| e.token == entry.token) {
            *slot = entry.clone();
            shard.order.push_back(entry);
            return;
        }
        if self.len.load(Ordering::Relaxed) >= self.capacity {
            // Full: first drop what has expired (at most once a second per
            // shard), then, if still full, the oldest entry of this shard.
            if now >= shard.next_sweep {
                let leeway = self.leeway;
                let before = shard.table.len();
                shard.table.retain(|e| now < e.exp + leeway);
                shard.order.retain(|e| now < e.exp + leeway);
                self.len
                    .fetch_sub(before - shard.table.len(), Ordering::Relaxed);
                shard.next_sweep = now + 1.0;
            }
            if self.len.load(Ordering::Relaxed) >= self.capacity {
                while let Some(oldest) = shard.order.pop_front() {
                    let oldest_hash = self.hash(oldest.token.as_bytes());
                    if let Ok(found) = shard
                        .table
                        .find_entry(oldest_hash, |e| Arc::ptr_eq(e, &oldest))
                    {
                        found.remove();
                        self.len.fetch_sub(1, Ordering::Relaxed);
                        break;
                    }
                    // replaced since: skip
                }
                if self.len.load(Ordering::Relaxed) >= self.capacity {
                    // Every entry lives in other shards: do not grow.
                    return;
                }
            }
        }
        shard
            .table
            .insert_unique(hash, entry.clone(), |e| self.hash(e.token.as_bytes()));
        shard.order.push_back(entry);
        self.len.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops every entry.
    pub(crate) fn clear(&self) {
        for s in self.shards.iter() {
            let mut shard = write(s);
            self.len.fetch_sub(shard.table.len(), Ordering::Relaxed);
            // Keep the allocations (see SHARD_PRESIZE_MAX).
            shard.table.clear();
            shard.order.clear();
        }
    }

    /// Entries held now.
    pub(crate) fn len(&self) -> u64 {
        self.shards.iter().map(|s| read(s).table.len() as u64).sum()
    }
}
