//! The fleet's replay store: Redis, `SET attestgate:replay:<key> 1 NX PX
//! <ms to the window's end>`. `OK` means first use; a nil reply means
//! another request (on any instance) used it first.
//!
//! One multiplexed connection (`redis::aio::ConnectionManager`) carries
//! every command of the process, pipelined; it connects lazily (no Redis
//! needed at start-up) and reconnects in the background after a failure.
//! Each command has a deadline (`redis_timeout`); a timeout or an error is
//! counted in `attestgate_replay_store_errors_total` and answered as a
//! [`StoreError`], which `on_redis_error` turns into a refusal or a pass.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{ReplayKey, ReplayMetrics, ReplayStore, StoreCheck, StoreError};

/// Prefix of every key this store writes.
pub const KEY_PREFIX: &str = "attestgate:replay:";

/// Why a Redis store could not be built. Never holds the URL.
#[derive(Debug, thiserror::Error)]
pub enum RedisStoreError {
    /// The URL does not parse as a Redis URL.
    #[error("redis_url is not a usable redis:// URL")]
    Url,
    /// Called outside a Tokio runtime.
    #[error("the Redis replay store must be created within a Tokio runtime")]
    NoRuntime,
}

/// The Redis replay store. Cheap to share (`Arc`); build one per URL.
pub struct RedisStore {
    conn: ConnectionManager,
    timeout: Duration,
    metrics: ReplayMetrics,
    /// When the last warning was logged (ms since the Unix epoch): an
    /// outage warns once per [`WARN_EVERY_MS`], not once per request.
    last_warn_ms: AtomicU64,
}

/// At most one "Redis did not answer" warning per this many milliseconds.
const WARN_EVERY_MS: u64 = 10_000;

impl RedisStore {
    /// Prepares a store for `url`, connecting on first use. Must be called
    /// within a Tokio runtime that lives as long as the store (its
    /// connection tasks are spawned on the runtimes that use it): in the
    /// proxy, a server runtime, not a throw-away start-up one.
    pub fn new(
        url: &str,
        timeout: Duration,
        metrics: ReplayMetrics,
    ) -> Result<RedisStore, RedisStoreError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RedisStoreError::NoRuntime);
        }
        let client = redis::Client::open(url).map_err(|_| RedisStoreError::Url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|_| RedisStoreError::Url)?;
        Ok(RedisStore {
            conn,
            timeout,
            metrics,
            last_warn_ms: AtomicU64::new(0),
        })
    }

    async fn set_nx(&self, key: ReplayKey, ttl_ms: u64) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{KEY_PREFIX}{}", key.to_hex()))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms);
        let answer =
            tokio::time::timeout(self.timeout, cmd.query_async::<Option<String>>(&mut conn)).await;
        let result = match answer {
            Err(_) => Err(StoreError::Timeout),
            Ok(Err(e)) if e.is_timeout() => Err(StoreError::Timeout),
            Ok(Err(_)) => Err(StoreError::Unavailable),
            Ok(Ok(Some(ok))) if ok == "OK" => Ok(true),
            Ok(Ok(Some(_))) => Err(StoreError::Unavailable),
            Ok(Ok(None)) => Ok(false),
        };
        if let Err(e) = result {
            self.metrics.count(e);
            let now_ms = (crate::clock::now() * 1000.0) as u64;
            let last = self.last_warn_ms.load(Ordering::Relaxed);
            if now_ms.saturating_sub(last) >= WARN_EVERY_MS
                && self
                    .last_warn_ms
                    .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                tracing::warn!(
                    kind = e.as_str(),
                    "replay store (redis) did not answer (counted in attestgate_replay_store_errors_total; warned at most every 10 s)"
                );
            }
        }
        result
    }
}

impl ReplayStore for RedisStore {
    fn first_use(&self, key: &ReplayKey, window_end: f64, now: f64) -> StoreCheck<'_> {
        // At least 1 ms: PX 0 is an error, and a window that closes now
        // still deserves its entry until the leeway has passed.
        let ttl_ms = ((window_end - now) * 1000.0).ceil().max(1.0) as u64;
        StoreCheck::Pending(Box::pin(self.set_nx(*key, ttl_ms)))
    }
}
