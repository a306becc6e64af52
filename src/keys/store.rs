//! The key store: the one [`KeySet`] snapshot in service, behind one
//! `ArcSwap`, with what must change with it (the generation counter, the
//! verified-token cache, the key-set gauges).
//!
//! The request path only loads the snapshot; the refresher (the one writer)
//! swaps a whole new set in with [`KeyStore::install`]. This module knows
//! nothing of where keys come from (that is [`crate::keys::refresh`]) nor of how a
//! token is checked (that is the verifier).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;

use crate::clock;
use crate::keys::{Key, KeySet};
use crate::metrics::{Metrics, VerifierMetrics};
use crate::token::cache::TokenCache;

/// The keys in service and what follows them.
pub(crate) struct KeyStore {
    pub(crate) keys: ArcSwap<KeySet>,
    pub(crate) cache: Option<TokenCache>,
    pub(crate) metrics: OnceLock<VerifierMetrics>,
    /// The series these handles came from, for the per-policy ones.
    pub(crate) registry: OnceLock<Metrics>,
    next_generation: AtomicU64,
    /// The generation of the set in `keys`, published after each swap: a
    /// cache hit compares its entry's generation with this, without loading
    /// the set (an `ArcSwap` load cost ~110 instructions and two atomic
    /// operations a request; docs/PERFORMANCE.md). Read just before a swap
    /// is published, it is the old set's, exactly as a load of `keys` just
    /// before the swap would be. 0: no set yet (no entry has generation 0).
    in_service: AtomicU64,
}

impl KeyStore {
    /// A store serving `keys` (generation 1), or an empty set (generation 0)
    /// when there are none yet.
    pub(crate) fn new(keys: Vec<Key>, cache: Option<TokenCache>) -> KeyStore {
        let (initial, next) = if keys.is_empty() {
            (KeySet::empty(), 1)
        } else {
            (KeySet::new(1, keys), 2)
        };
        let in_service = initial.generation();
        KeyStore {
            keys: ArcSwap::from_pointee(initial),
            cache,
            metrics: OnceLock::new(),
            registry: OnceLock::new(),
            next_generation: AtomicU64::new(next),
            in_service: AtomicU64::new(in_service),
        }
    }

    /// Swaps in a new key set built from `keys`, as one step: new generation,
    /// cache cleared. Refuses an empty list (the last good set stays).
    pub(crate) fn install(&self, keys: Vec<Key>) -> bool {
        if keys.is_empty() {
            return false;
        }
        let generation = self.next_generation.fetch_add(1, Ordering::AcqRel);
        let count = keys.len();
        self.keys.store(Arc::new(KeySet::new(generation, keys)));
        self.in_service.store(generation, Ordering::Release);
        // Entries of older generations are already ignored; clearing frees
        // their memory.
        if let Some(cache) = &self.cache {
            cache.clear();
        }
        if let Some(m) = self.metrics.get() {
            m.keys_loaded(count, clock::now());
        }
        true
    }

    /// The generation of the key set in service (0: none yet).
    pub(crate) fn generation(&self) -> u64 {
        self.in_service.load(Ordering::Acquire)
    }

    /// A success that changed nothing still proves the keys current (resets
    /// the key-set age).
    pub(crate) fn confirmed(&self) {
        if let Some(m) = self.metrics.get() {
            m.keys_loaded(self.keys.load().len(), clock::now());
        }
    }
}
