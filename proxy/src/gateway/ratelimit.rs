//! Rate limits in the proxy: the core decides
//! ([`attestgate::ratelimit::RateLimits`]); this only builds each route's
//! limits with their stores, and writes the core's answer with the
//! refusal machinery every other refusal uses (HTTP/1, HTTP/2, gRPC).
//!
//! Called from `request_filter` after the token decision and the
//! signature step. The memory store of a limit is one table for the whole
//! process (every worker). A Redis store is shared by every limit naming
//! its URL, and made on first use: its connection task needs a runtime
//! that lives as long as the server (a worker's), not the start-up one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use attestgate::Decision;
use attestgate::ratelimit::{
    Gcra, LimitStore, LimitStoreCheck, RateLimitMetrics, RateLimitRule, RateLimits,
    RedisLimitStore, StoreFailure,
};
use attestgate_config::RouteConfig;
use pingora_error::Result;
use pingora_proxy::Session;
use prometheus::Registry;

use crate::routes::Route;

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

/// After the token decision: answers a request over a limit (or with the
/// store down and `on_store_error = "refuse"`) and says so.
pub(crate) async fn refused(
    session: &mut Session,
    route: &Route,
    decision: &Decision,
    client: Option<IpAddr>,
) -> Result<bool> {
    let Some(limits) = &route.rate_limits else {
        return Ok(false);
    };
    let refusal = limits
        .check_decided(decision, &session.req_header().headers, client)
        .await;
    match refusal {
        Some(r) => {
            crate::respond::refusal(session, &r).await?;
            Ok(true)
        }
        None => Ok(false),
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
