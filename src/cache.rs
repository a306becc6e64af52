//! The verified-token cache: a token whose signature and claims passed is
//! remembered, keyed by its exact bytes, until its `exp`, so the next request
//! with it skips the signature check (an ES256 check costs ~70 µs, a hit
//! ~0.2 µs).
//!
//! Rules: only tokens that passed are cached (a flood of bad tokens cannot
//! evict good ones, nor grow the cache); an entry never outlives `exp` (plus
//! leeway); an entry remembers the key-set generation it was verified under
//! and is ignored under any other, and the whole cache is cleared when a new
//! key set is swapped in. Expiry and binding are still checked on every hit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;

use crate::clock;
use crate::token::Inner;

/// One cached verification.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) generation: u64,
    pub(crate) token: Arc<Inner>,
}

struct UntilExp {
    leeway: f64,
}

impl Expiry<Box<str>, Entry> for UntilExp {
    fn expire_after_create(
        &self,
        _key: &Box<str>,
        value: &Entry,
        _created_at: Instant,
    ) -> Option<Duration> {
        let left = value.token.claims.exp + self.leeway - clock::now();
        Some(Duration::try_from_secs_f64(left.max(0.0)).unwrap_or(Duration::ZERO))
    }
}

pub(crate) struct TokenCache {
    map: moka::sync::Cache<Box<str>, Entry, foldhash::fast::RandomState>,
}

impl TokenCache {
    pub(crate) fn new(capacity: u64, leeway: f64) -> TokenCache {
        // foldhash: fast on ~200-byte keys, randomly seeded per process. Only
        // tokens with a valid signature are ever inserted, so an attacker
        // cannot choose keys to collide.
        let map = moka::sync::Cache::builder()
            .max_capacity(capacity)
            .expire_after(UntilExp { leeway })
            .build_with_hasher(foldhash::fast::RandomState::default());
        TokenCache { map }
    }

    pub(crate) fn get(&self, token: &str) -> Option<Entry> {
        self.map.get(token)
    }

    pub(crate) fn insert(&self, token: &str, entry: Entry) {
        self.map.insert(token.into(), entry);
    }

    pub(crate) fn clear(&self) {
        self.map.invalidate_all();
    }

    pub(crate) fn entry_count(&self) -> u64 {
        self.map.run_pending_tasks();
        self.map.entry_count()
    }
}
