//! A route's limits, ready for the request path, and the check itself.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::HeaderMap;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

use super::gcra::{Gcra, Step};
use super::memory::MemoryStore;
use super::{LimitKey, LimitStoreKind, OnLimitStoreError, RateLimitRule};
use crate::metrics::Outcome;
use crate::policy::Mode;
use crate::request::decide::Decision;
use crate::request::refusal::Refusal;
use crate::token::VerifiedToken;

/// Why a store could not answer. Holds no URL and no key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreFailure {
    /// No answer within `redis_timeout`.
    #[error("rate limit store timed out")]
    Timeout,
    /// No connection, an error reply, or a reply of the wrong shape.
    #[error("rate limit store unavailable")]
    Unavailable,
}

/// The answer of [`LimitStore::step`]: at once (memory) or after I/O.
pub enum LimitStoreCheck<'a> {
    /// Answered synchronously.
    Ready(Result<Step, StoreFailure>),
    /// Answered by I/O.
    Pending(Pin<Box<dyn Future<Output = Result<Step, StoreFailure>> + Send + 'a>>),
}

/// Somewhere to keep GCRA budgets.
pub trait LimitStore: Send + Sync + 'static {
    /// One arrival of `key` under the limit `scope` (route and limit name;
    /// a store shared by several limits keeps them apart by it) at `now`
    /// (µs since the Unix epoch; a store may use its own clock instead).
    fn step(&self, scope: &str, key: &[u8], gcra: &Gcra, now_us: u64) -> LimitStoreCheck<'_>;
}

impl LimitStore for MemoryStore {
    fn step(&self, _scope: &str, key: &[u8], gcra: &Gcra, now_us: u64) -> LimitStoreCheck<'_> {
        LimitStoreCheck::Ready(Ok(MemoryStore::step(self, key, gcra, now_us)))
    }
}

/// The series of rate limiting, registered once per registry:
/// `attestgate_rate_limited_total{route,limit}` (requests over a limit:
/// refused, or let through by a monitoring limit),
/// `attestgate_rate_limit_store_errors_total{route,limit}` and
/// `attestgate_rate_limit_no_key_total{route,limit}` (requests without the
/// limit's key, not limited by it).
#[derive(Clone)]
pub struct RateLimitMetrics {
    limited: IntCounterVec,
    store_errors: IntCounterVec,
    no_key: IntCounterVec,
}

impl RateLimitMetrics {
    /// Creates the series and registers them into `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<RateLimitMetrics> {
        let m = Self::unregistered()?;
        registry.register(Box::new(m.limited.clone()))?;
        registry.register(Box::new(m.store_errors.clone()))?;
        registry.register(Box::new(m.no_key.clone()))?;
        Ok(m)
    }

    /// Series registered nowhere (no metrics wanted).
    pub fn unregistered() -> prometheus::Result<RateLimitMetrics> {
        let labels = &["route", "limit"];
        Ok(RateLimitMetrics {
            limited: IntCounterVec::new(
                Opts::new(
                    "attestgate_rate_limited_total",
                    "Requests over a rate limit (refused, or let through by a monitoring limit)",
                ),
                labels,
            )?,
            store_errors: IntCounterVec::new(
                Opts::new(
                    "attestgate_rate_limit_store_errors_total",
                    "Rate limit checks the store could not answer (on_store_error decided)",
                ),
                labels,
            )?,
            no_key: IntCounterVec::new(
                Opts::new(
                    "attestgate_rate_limit_no_key_total",
                    "Requests without a limit's key (no such claim or header), not limited by it",
                ),
                labels,
            )?,
        })
    }
}

struct Counters {
    limited: IntCounter,
    store_errors: IntCounter,
    no_key: IntCounter,
}

struct Limit {
    rule: RateLimitRule,
    gcra: Gcra,
    scope: String,
    mode: Mode,
    store: Arc<dyn LimitStore>,
    counters: Counters,
}

/// A route's limits, checked in order; a request must pass all of them.
pub struct RateLimits {
    route: String,
    limits: Vec<Limit>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: a rule holds the Redis URL.
        f.debug_struct("RateLimits")
            .field("route", &self.route)
            .field(
                "limits",
                &self.limits.iter().map(|l| &l.rule.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl RateLimits {
    /// The limits of route `route`, whose own mode is `route_mode` (a rule
    /// without `mode` takes it). `redis` gives the store of a Redis rule
    /// (`None`: the rule's checks all fail, `on_store_error` decides);
    /// memory rules get a table each. Rules must have passed
    /// [`super::validate_rules`].
    pub fn new(
        route: &str,
        route_mode: Mode,
        rules: &[RateLimitRule],
        metrics: &RateLimitMetrics,
        mut redis: impl FnMut(&RateLimitRule) -> Option<Arc<dyn LimitStore>>,
    ) -> RateLimits {
        let limits = rules
            .iter()
            .map(|rule| {
                let labels = [route, rule.name.as_str()];
                let store: Arc<dyn LimitStore> = match rule.store {
                    LimitStoreKind::Memory => Arc::new(MemoryStore::new(rule.memory_capacity)),
                    LimitStoreKind::Redis => redis(rule).unwrap_or_else(|| {
                        tracing::warn!(
                            route,
                            limit = %rule.name,
                            "rate limit store = \"redis\" without a Redis store: every check fails (on_store_error decides)"
                        );
                        Arc::new(NoStore)
                    }),
                };
                Limit {
                    gcra: rule.gcra(),
                    scope: format!("{route}\0{}", rule.name),
                    mode: rule.mode.unwrap_or(route_mode),
                    store,
                    counters: Counters {
                        limited: metrics.limited.with_label_values(&labels),
                        store_errors: metrics.store_errors.with_label_values(&labels),
                        no_key: metrics.no_key.with_label_values(&labels),
                    },
                    rule: rule.clone(),
                }
            })
            .collect();
        RateLimits {
            route: route.to_owned(),
            limits,
        }
    }

    /// Whether there is no limit.
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty()
    }

    /// Whether any limit's store answers by I/O (Redis).
    pub fn awaits_io(&self) -> bool {
        self.limits
            .iter()
            .any(|l| l.rule.store == LimitStoreKind::Redis)
    }

    /// The request after its token decision: `None` (forward it) or the
    /// answer to send. A token that failed (refused, or let through by
    /// monitor mode) spends no budget and is not checked.
    pub async fn check_decided(
        &self,
        decision: &Decision,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) -> Option<Refusal> {
        if matches!(decision.outcome(), Outcome::Rejected | Outcome::Monitored) {
            return None;
        }
        self.check(decision.token(), headers, client).await
    }

    /// The request whose token passed (`token`) or that needed none:
    /// `None` (forward it) or the answer to send.
    pub async fn check(
        &self,
        token: Option<&VerifiedToken>,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) -> Option<Refusal> {
        self.run(token, headers, client, crate::clock::now(), false)
            .await
    }

    /// [`RateLimits::check`] without waiting: for front ends that cannot
    /// await (the tower layer's synchronous path). A Redis limit's check
    /// counts as a store error.
    pub fn check_now(
        &self,
        token: Option<&VerifiedToken>,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) -> Option<Refusal> {
        self.check_now_at(token, headers, client, crate::clock::now())
    }

    /// [`RateLimits::check_now`] at `now` (seconds since the Unix epoch).
    pub fn check_now_at(
        &self,
        token: Option<&VerifiedToken>,
        headers: &HeaderMap,
        client: Option<IpAddr>,
        now: f64,
    ) -> Option<Refusal> {
        let fut = self.run(token, headers, client, now, true);
        let mut fut = std::pin::pin!(fut);
        match fut
            .as_mut()
            .poll(&mut Context::from_waker(std::task::Waker::noop()))
        {
            Poll::Ready(answer) => answer,
            // Not reached: with `sync` nothing is awaited.
            Poll::Pending => None,
        }
    }

    async fn run(
        &self,
        token: Option<&VerifiedToken>,
        headers: &HeaderMap,
        client: Option<IpAddr>,
        now: f64,
        sync: bool,
    ) -> Option<Refusal> {
        let now_us = (now * 1e6) as u64;
        let mut claims: Option<serde_json::Map<String, serde_json::Value>> = None;
        for limit in &self.limits {
            let owned: Vec<u8>;
            let v4: [u8; 4];
            let v6: [u8; 16];
            let key: &[u8] = match &limit.rule.key {
                // The address's own octets: no text formatted per request.
                LimitKey::Ip => match client {
                    Some(IpAddr::V4(ip)) => {
                        v4 = ip.octets();
                        &v4
                    }
                    Some(IpAddr::V6(ip)) => {
                        v6 = ip.octets();
                        &v6
                    }
                    None => &[][..],
                },
                LimitKey::Header(h) => {
                    let mut all = headers.get_all(h).iter();
                    match (all.next(), all.next()) {
                        // A repeated header is one key: all its values.
                        (Some(v), None) => v.as_bytes(),
                        (Some(_), Some(_)) => {
                            owned = headers
                                .get_all(h)
                                .iter()
                                .flat_map(|v| v.as_bytes().iter().copied().chain([0]))
                                .collect();
                            &owned
                        }
                        _ => &[][..],
                    }
                }
                LimitKey::Claim(name) => match token {
                    None => &[][..],
                    Some(t) if name == "did" => t.did().unwrap_or_default().as_bytes(),
                    Some(t) => {
                        let all = claims.get_or_insert_with(|| t.claims());
                        owned = match all.get(name) {
                            None | Some(serde_json::Value::Null) => Vec::new(),
                            Some(serde_json::Value::String(s)) => s.as_bytes().to_vec(),
                            Some(other) => other.to_string().into_bytes(),
                        };
                        &owned
                    }
                },
            };
            if key.is_empty() {
                limit.counters.no_key.inc();
                continue;
            }
            let answer = match limit.store.step(&limit.scope, key, &limit.gcra, now_us) {
                LimitStoreCheck::Ready(a) => a,
                LimitStoreCheck::Pending(_) if sync => Err(StoreFailure::Unavailable),
                LimitStoreCheck::Pending(f) => f.await,
            };
            match answer {
                Ok(Step::Allow { .. }) => {}
                Ok(Step::Deny { retry_after_us, .. }) => {
                    limit.counters.limited.inc();
                    let monitored = limit.mode == Mode::Monitor;
                    tracing::debug!(
                        target: "attestgate::reject",
                        route = %self.route,
                        limit = %limit.rule.name,
                        key = %limit.rule.key.as_config(),
                        monitored,
                        "over the rate limit"
                    );
                    if !monitored {
                        return Some(super::answer::limited(&limit.rule, retry_after_us, headers));
                    }
                }
                Err(e) => {
                    limit.counters.store_errors.inc();
                    tracing::debug!(
                        target: "attestgate::reject",
                        route = %self.route,
                        limit = %limit.rule.name,
                        error = %e,
                        on_store_error = ?limit.rule.on_store_error,
                        "rate limit store did not answer"
                    );
                    if limit.rule.on_store_error == OnLimitStoreError::Refuse
                        && limit.mode == Mode::Enforce
                    {
                        return Some(super::answer::store_down(headers));
                    }
                }
            }
        }
        None
    }
}

/// The store of a Redis rule that has none: never answers.
struct NoStore;

impl LimitStore for NoStore {
    fn step(&self, _: &str, _: &[u8], _: &Gcra, _: u64) -> LimitStoreCheck<'_> {
        LimitStoreCheck::Ready(Err(StoreFailure::Unavailable))
    }
}
