//! The fleet's store: Redis, one round trip per request. [`SCRIPT`] reads
//! the key's TAT, applies GCRA on Redis's own clock (`TIME`: every
//! instance shares one timeline, whatever its clock) and writes the new
//! TAT with a TTL of the time to refill, atomically (a script runs alone).
//! Sent as `EVALSHA`; a server that has not seen it (`NOSCRIPT`: new,
//! restarted, flushed) gets `EVAL`, which also caches it.
//!
//! Keys are `attestgate:rl:` + 32 hex digits of SHA-256 over route, limit
//! and key value: Redis holds no device id and no header value.
//!
//! One multiplexed connection (`redis::aio::ConnectionManager`) per store,
//! connecting lazily and reconnecting in the background; each command has
//! the rule's `redis_timeout`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::check::{LimitStore, LimitStoreCheck, StoreFailure};
use super::gcra::{Gcra, Step};

/// Prefix of every key the store writes.
pub const KEY_PREFIX: &str = "attestgate:rl:";

/// The GCRA step, in Lua. `KEYS[1]`: the key; `ARGV`: interval µs, burst.
/// Returns `{1, remaining}` (let through, TAT advanced) or
/// `{0, retry_after_us}` (refused, nothing written).
pub const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new = tat + interval
local debt = new - now
if debt > tolerance then
  return {0, debt - tolerance}
end
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', math.ceil(debt / 1000))
return {1, math.floor((tolerance - debt) / interval)}
";

/// Why a store could not be built. Never holds the URL.
#[derive(Debug, thiserror::Error)]
pub enum RedisLimitStoreError {
    /// Not a usable Redis URL.
    #[error("redis_url is not a usable redis:// URL")]
    Url,
    /// Called outside a Tokio runtime.
    #[error("the Redis rate limit store must be created within a Tokio runtime")]
    NoRuntime,
}

/// The Redis store. Share one per URL (`Arc`).
pub struct RedisLimitStore {
    conn: ConnectionManager,
    timeout: Duration,
    sha: String,
    last_warn_ms: AtomicU64,
}

impl RedisLimitStore {
    /// A store for `url`, connecting on first use. Must be called within a
    /// Tokio runtime that outlives the store.
    pub fn new(url: &str, timeout: Duration) -> Result<RedisLimitStore, RedisLimitStoreError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RedisLimitStoreError::NoRuntime);
        }
        let client = redis::Client::open(url).map_err(|_| RedisLimitStoreError::Url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|_| RedisLimitStoreError::Url)?;
        let digest =
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, SCRIPT.as_bytes());
        Ok(RedisLimitStore {
            conn,
            timeout,
            sha: hex(digest.as_ref()),
            last_warn_ms: AtomicU64::new(0),
        })
    }

    /// The Redis key of `key` under `scope`.
    pub fn redis_key(scope: &str, key: &[u8]) -> String {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(scope.as_bytes());
        ctx.update(&[0]);
        ctx.update(key);
        format!("{KEY_PREFIX}{}", hex(&ctx.finish().as_ref()[..16]))
    }

    async fn run(&self, key: String, gcra: Gcra) -> Result<Step, StoreFailure> {
        let mut conn = self.conn.clone();
        let invoke = |verb: &str, script: &str| {
            let mut c = redis::cmd(verb);
            c.arg(script)
                .arg(1)
                .arg(&key)
                .arg(gcra.interval_us)
                .arg(gcra.burst);
            c
        };
        let work = async {
            match invoke("EVALSHA", &self.sha)
                .query_async::<(i64, i64)>(&mut conn)
                .await
            {
                Err(e) if e.code() == Some("NOSCRIPT") => {
                    invoke("EVAL", SCRIPT)
                        .query_async::<(i64, i64)>(&mut conn)
                        .await
                }
                other => other,
            }
        };
        let result = match tokio::time::timeout(self.timeout, work).await {
            Err(_) => Err(StoreFailure::Timeout),
            Ok(Err(e)) if e.is_timeout() => Err(StoreFailure::Timeout),
            Ok(Err(_)) => Err(StoreFailure::Unavailable),
            Ok(Ok((1, remaining))) => Ok(Step::Allow {
                tat: 0,
                remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
                reset_us: 0,
            }),
            Ok(Ok((0, retry))) => Ok(Step::Deny {
                retry_after_us: u64::try_from(retry.max(1)).unwrap_or(1),
                reset_us: 0,
            }),
            Ok(Ok(_)) => Err(StoreFailure::Unavailable),
        };
        if let Err(e) = result {
            self.warn(e);
        }
        result
    }

    /// At most one warning per 10 s for an outage (each failure is counted).
    fn warn(&self, e: StoreFailure) {
        let now_ms = (crate::clock::now() * 1000.0) as u64;
        let last = self.last_warn_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) >= 10_000
            && self
                .last_warn_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                error = %e,
                "rate limit store (redis) did not answer (counted in attestgate_rate_limit_store_errors_total; warned at most every 10 s)"
            );
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl LimitStore for RedisLimitStore {
    fn step(&self, scope: &str, key: &[u8], gcra: &Gcra, _now_us: u64) -> LimitStoreCheck<'_> {
        LimitStoreCheck::Pending(Box::pin(self.run(Self::redis_key(scope, key), *gcra)))
    }
}
