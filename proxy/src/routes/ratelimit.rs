//! Each route's rate limits, built with the route: the metric series
//! (registered on first use) and the stores. The memory store of a limit
//! is one table for the whole process (every worker). A Redis store is
//! shared by every limit naming its URL, and made on first use: its
//! connection task needs a runtime that lives as long as the server (a
//! worker's), not the start-up one.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use attestgate::ratelimit::{
    Gcra, LimitStore, LimitStoreCheck, RateLimitMetrics, RateLimitRule, RateLimits,
    RedisLimitStore, StoreFailure,
};
use attestgate_config::RouteConfig;
use prometheus::Registry;

/// What every route's limits are built with: the metric series
/// (registered on first use) and the Redis stores by URL and timeout.
pub(crate) struct LimitEnv {
    registry: Registry,
    metrics: Option<RateLimitMetrics>,
    redis: HashMap<(String, Duration), Arc<LazyRedis>>,
}

impl LimitEnv {
    pub(crate) fn new(registry: &Registry) -> LimitEnv {
        LimitEnv {
            registry: registry.clone(),
            metrics: None,
            redis: HashMap::new(),
        }
    }

    /// The limits of a configured route (`None`: it has none).
    pub(crate) fn build(
        &mut self,
        cfg: &RouteConfig,
    ) -> Result<Option<Arc<RateLimits>>, prometheus::Error> {
        if cfg.rate_limits.is_empty() {
            return Ok(None);
        }
        let metrics = match &self.metrics {
            Some(m) => m.clone(),
            None => {
                let m = RateLimitMetrics::register(&self.registry)?;
                self.metrics = Some(m.clone());
                m
            }
        };
        let redis = &mut self.redis;
        let limits = RateLimits::new(
            &cfg.name,
            cfg.policy.mode,
            &cfg.rate_limits,
            &metrics,
            |rule: &RateLimitRule| {
                let url = rule.redis_url.clone()?;
                let store = redis
                    .entry((url.clone(), rule.redis_timeout))
                    .or_insert_with(|| {
                        Arc::new(LazyRedis {
                            url,
                            timeout: rule.redis_timeout,
                            store: OnceLock::new(),
                        })
                    })
                    .clone();
                Some(store as Arc<dyn LimitStore>)
            },
        );
        Ok(Some(Arc::new(limits)))
    }
}

/// A Redis store made on first use, within a server runtime.
struct LazyRedis {
    /// Never printed: it may hold a password.
    url: String,
    timeout: Duration,
    store: OnceLock<Option<RedisLimitStore>>,
}

impl LimitStore for LazyRedis {
    fn step(&self, scope: &str, key: &[u8], gcra: &Gcra, now_us: u64) -> LimitStoreCheck<'_> {
        let store = self.store.get_or_init(|| {
            RedisLimitStore::new(&self.url, self.timeout)
                .map_err(|e| tracing::warn!("rate limit store (redis): {e}"))
                .ok()
        });
        match store {
            Some(s) => s.step(scope, key, gcra, now_us),
            None => LimitStoreCheck::Ready(Err(StoreFailure::Unavailable)),
        }
    }
}
