//! The replay stores of message signing, one per `redis_url` for the whole
//! server (every route naming the URL shares it, and so does every
//! instance of the fleet through Redis itself).
//!
//! A `RedisStore` spawns its connection tasks on the Tokio runtime it is
//! created in, which must outlive it. Routes are built before Pingora's
//! runtimes exist, so the store is created on its first use: inside a
//! server worker's runtime, which lives as long as the server.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use attestgate::Policy;
use attestgate::msgsig::ReplayMode;
use attestgate::msgsig::replay::{
    RedisStore, ReplayKey, ReplayMetrics, ReplayStore, StoreCheck, StoreError,
};
use prometheus::Registry;

/// Every Redis store of the server, by URL.
pub(crate) struct Stores {
    registry: Registry,
    metrics: Option<ReplayMetrics>,
    redis: HashMap<String, Arc<LazyRedis>>,
}

impl Stores {
    /// Stores whose error counter (`attestgate_replay_store_errors_total`)
    /// goes into `registry` (registered when the first one is made).
    pub(crate) fn new(registry: &Registry) -> Stores {
        Stores {
            registry: registry.clone(),
            metrics: None,
            redis: HashMap::new(),
        }
    }

    /// The store a route's policy needs: the shared one of its
    /// `redis_url`, or `None` (memory: the route's own; off: none).
    pub(crate) fn for_policy(
        &mut self,
        policy: &Policy,
    ) -> Result<Option<Arc<dyn ReplayStore>>, prometheus::Error> {
        let Some(ms) = &policy.message_signing else {
            return Ok(None);
        };
        let (ReplayMode::Redis, Some(url)) = (ms.replay, &ms.redis_url) else {
            return Ok(None);
        };
        let metrics = match &self.metrics {
            Some(m) => m.clone(),
            None => {
                let m = ReplayMetrics::register(&self.registry)?;
                self.metrics = Some(m.clone());
                m
            }
        };
        let store = self
            .redis
            .entry(url.clone())
            .or_insert_with(|| {
                Arc::new(LazyRedis {
                    url: url.clone(),
                    timeout: ms.redis_timeout,
                    metrics,
                    store: OnceLock::new(),
                })
            })
            .clone();
        Ok(Some(store))
    }
}

/// A `RedisStore` made on first use (within a server runtime).
struct LazyRedis {
    /// Never printed: it may hold a password.
    url: String,
    timeout: std::time::Duration,
    metrics: ReplayMetrics,
    store: OnceLock<Option<RedisStore>>,
}

impl ReplayStore for LazyRedis {
    fn first_use(&self, key: &ReplayKey, window_end: f64, now: f64) -> StoreCheck<'_> {
        let store = self.store.get_or_init(|| {
            RedisStore::new(&self.url, self.timeout, self.metrics.clone())
                .map_err(|e| tracing::warn!("replay store (redis): {e}"))
                .ok()
        });
        match store {
            Some(s) => s.first_use(key, window_end, now),
            None => {
                self.metrics.count(StoreError::Unavailable);
                StoreCheck::Ready(Some(Err(StoreError::Unavailable)))
            }
        }
    }
}
