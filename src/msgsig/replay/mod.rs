//! The replay cache: a signature seen once is refused until its window
//! ends. Two stores: [`MemoryStore`] (this process, bounded) and, with the
//! `redis` feature, `RedisStore` (shared by a fleet, `SET key 1 NX PX ttl`).
//!
//! The key is not the signature's bytes but SHA-256 of `r || low-s(s)`:
//! ECDSA signatures are malleable (`(r, n - s)` verifies wherever `(r, s)`
//! does), so keying the raw bytes would let anyone replay a captured request
//! once more with `s` flipped. Normalising `s` makes both one key.

mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::{KEY_PREFIX, RedisStore, RedisStoreError};

/// What the replay cache files a signature under.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayKey(pub(crate) [u8; 32]);

impl ReplayKey {
    /// The key of a raw 64-byte `r || s` ECDSA P-256 signature.
    pub fn of_signature(sig: &[u8; 64]) -> ReplayKey {
        let mut canonical = *sig;
        let s: &mut [u8; 32] = (&mut canonical[32..])
            .try_into()
            .unwrap_or_else(|_| unreachable!("64 - 32"));
        if gt(s, &HALF_N) {
            *s = sub(&N, s);
        }
        let d = ring::digest::digest(&ring::digest::SHA256, &canonical);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        ReplayKey(out)
    }

    /// The key as lower-case hex (the Redis key suffix).
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplayKey({}…)", &self.to_hex()[..12])
    }
}

/// The order of the P-256 group, big-endian.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];
/// `N >> 1`.
const HALF_N: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

fn gt(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a > b // big-endian arrays compare as numbers
}

/// `a - b` for `a >= b`, big-endian.
pub(crate) fn sub(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = 0;
        if d < 0 {
            d += 256;
            borrow = 1;
        }
        out[i] = d as u8;
    }
    out
}

/// The P-256 group order (for tests that build the `(r, n - s)` twin).
pub fn p256_order() -> [u8; 32] {
    N
}

/// Why a store could not answer. Holds no URL or key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The command did not answer within the configured timeout.
    #[error("replay store timed out")]
    Timeout,
    /// No connection, a refused command, or an unexpected reply.
    #[error("replay store unavailable")]
    Unavailable,
}

impl StoreError {
    /// The `kind` label of `attestgate_replay_store_errors_total`.
    pub const fn as_str(self) -> &'static str {
        match self {
            StoreError::Timeout => "timeout",
            StoreError::Unavailable => "error",
        }
    }
}

/// The answer of [`ReplayStore::first_use`]: ready at once (memory) or a
/// boxed future (Redis). `Ok(true)`: first use, now recorded;
/// `Ok(false)`: seen before within its window.
pub enum StoreCheck<'a> {
    /// Answered synchronously.
    Ready(Option<Result<bool, StoreError>>),
    /// Answered by I/O.
    Pending(Pin<Box<dyn Future<Output = Result<bool, StoreError>> + Send + 'a>>),
}

impl Future for StoreCheck<'_> {
    type Output = Result<bool, StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            StoreCheck::Ready(answer) => {
                Poll::Ready(answer.take().unwrap_or(Err(StoreError::Unavailable)))
            }
            StoreCheck::Pending(fut) => fut.as_mut().poll(cx),
        }
    }
}

/// Somewhere to remember signatures until their window ends.
pub trait ReplayStore: Send + Sync + 'static {
    /// Records `key` until `window_end` (Unix seconds) unless it is already
    /// there; `now` is the caller's clock (injected in tests).
    fn first_use(&self, key: &ReplayKey, window_end: f64, now: f64) -> StoreCheck<'_>;
}

/// `attestgate_replay_store_errors_total{kind}`: replay checks the store
/// could not answer (`timeout` | `error`), whatever `on_redis_error` then
/// decided.
#[derive(Clone)]
pub struct ReplayMetrics {
    timeout: IntCounter,
    error: IntCounter,
}

impl ReplayMetrics {
    /// Creates the series and registers it into `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<ReplayMetrics> {
        let vec = Self::vec()?;
        registry.register(Box::new(vec.clone()))?;
        Ok(Self::handles(&vec))
    }

    fn vec() -> prometheus::Result<IntCounterVec> {
        IntCounterVec::new(
            Opts::new(
                "attestgate_replay_store_errors_total",
                "Replay checks the replay store could not answer, by kind",
            ),
            &["kind"],
        )
    }

    /// Series not registered anywhere (tests, or no metrics wanted).
    pub fn unregistered() -> prometheus::Result<ReplayMetrics> {
        Ok(Self::handles(&Self::vec()?))
    }

    fn handles(vec: &IntCounterVec) -> ReplayMetrics {
        ReplayMetrics {
            timeout: vec.with_label_values(&["timeout"]),
            error: vec.with_label_values(&["error"]),
        }
    }

    /// Counts one store error.
    pub fn count(&self, e: StoreError) {
        match e {
            StoreError::Timeout => self.timeout.inc(),
            StoreError::Unavailable => self.error.inc(),
        }
    }

    /// Errors counted so far (all kinds).
    pub fn total(&self) -> u64 {
        self.timeout.get() + self.error.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_s_and_low_s_twins_share_a_key() {
        let mut sig = [0u8; 64];
        for (i, b) in sig.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(11);
        }
        sig[32] = 0x10; // s below n/2
        let s: [u8; 32] = sig[32..].try_into().unwrap();
        let mut twin = sig;
        twin[32..].copy_from_slice(&sub(&N, &s));
        assert!(twin[32] >= 0x80);
        assert_eq!(
            ReplayKey::of_signature(&sig),
            ReplayKey::of_signature(&twin)
        );
        let mut other = sig;
        other[0] ^= 1;
        assert_ne!(
            ReplayKey::of_signature(&sig),
            ReplayKey::of_signature(&other)
        );
        // n - (n - s) = s
        assert_eq!(sub(&N, &sub(&N, &s)), s);
        assert_eq!(sub(&HALF_N, &HALF_N), [0; 32]);
    }
}
