//! The metric series of the product contract (README, "Metrics"), registered into a
//! `prometheus::Registry` the caller owns. Label values come only from config
//! names and closed lists, never from request data, and every per-request
//! series is resolved to a handle once, so the request path does no label
//! lookup.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry,
};

use crate::reason::Reason;

/// Buckets of `attestgate_verify_seconds`: a cache hit is ~0.2 µs, an HS256
/// check ~1 µs, RSA ~35 µs, ECDSA/Ed25519 ~70 µs.
pub const VERIFY_BUCKETS: [f64; 12] = [
    0.000_000_5,
    0.000_001,
    0.000_002_5,
    0.000_005,
    0.000_01,
    0.000_025,
    0.000_05,
    0.000_1,
    0.000_25,
    0.000_5,
    0.001,
    0.01,
];

/// All series of the product contract. Cheap to clone (handles are shared).
#[derive(Clone)]
pub struct Metrics {
    requests: IntCounterVec,
    rejections: IntCounterVec,
    verify_seconds: Histogram,
    token_cache: IntCounterVec,
    keyset_refresh: IntCounterVec,
    keyset_keys: IntGauge,
    keyset_loaded_at: Arc<AtomicU64>,
    substitutions: IntCounterVec,
    upstream_errors: IntCounterVec,
    request_duration: HistogramVec,
}

/// Buckets of `attestgate_request_duration_seconds` (whole proxied
/// requests: from a refusal in microseconds to a slow upstream).
pub const REQUEST_BUCKETS: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
    5.0,
];

/// Gauge computed when scraped: seconds since the last successful key load.
struct KeysetAge {
    gauge: Gauge,
    loaded_at_ms: Arc<AtomicU64>,
}

impl Collector for KeysetAge {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let loaded = self.loaded_at_ms.load(Ordering::Relaxed);
        let now_ms = (crate::clock::now() * 1000.0) as u64;
        self.gauge
            .set(now_ms.saturating_sub(loaded) as f64 / 1000.0);
        self.gauge.collect()
    }
}

impl Metrics {
    /// Creates every series and registers it into `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Metrics> {
        let requests = IntCounterVec::new(
            Opts::new(
                "attestgate_requests_total",
                "Requests checked, by route and outcome",
            ),
            &["route", "outcome"],
        )?;
        let rejections = IntCounterVec::new(
            Opts::new(
                "attestgate_rejections_total",
                "Failed token checks, by route and reason",
            ),
            &["route", "reason"],
        )?;
        let verify_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "attestgate_verify_seconds",
                "Time of the token check, cached or not",
            )
            .buckets(VERIFY_BUCKETS.to_vec()),
        )?;
        let token_cache = IntCounterVec::new(
            Opts::new(
                "attestgate_token_cache_total",
                "Verified-token cache lookups",
            ),
            &["result"],
        )?;
        let keyset_refresh = IntCounterVec::new(
            Opts::new(
                "attestgate_keyset_refresh_total",
                "Key source loads, by source and result",
            ),
            &["source", "result"],
        )?;
        let keyset_keys =
            IntGauge::new("attestgate_keyset_keys", "Keys in the key set in service")?;
        let keyset_age = Gauge::new(
            "attestgate_keyset_age_seconds",
            "Seconds since the last successful key load (since start, before the first)",
        )?;
        let substitutions = IntCounterVec::new(
            Opts::new(
                "attestgate_substitutions_total",
                "Placeholders replaced by real secrets",
            ),
            &["route"],
        )?;
        let upstream_errors = IntCounterVec::new(
            Opts::new(
                "attestgate_upstream_errors_total",
                "Upstream failures, by route and kind",
            ),
            &["route", "kind"],
        )?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "attestgate_request_duration_seconds",
                "Whole requests through the proxy, by route",
            )
            .buckets(REQUEST_BUCKETS.to_vec()),
            &["route"],
        )?;
        // Every label value of the closed lists exists from the start (for
        // a route, from its first use), so a dashboard sees zeros rather
        // than missing series.
        for r in ["hit", "miss"] {
            token_cache.with_label_values(&[r]);
        }
        for s in ["file", "url"] {
            for r in ["ok", "error"] {
                keyset_refresh.with_label_values(&[s, r]);
            }
        }
        let loaded_at_ms = Arc::new(AtomicU64::new((crate::clock::now() * 1000.0) as u64));
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(rejections.clone()))?;
        registry.register(Box::new(verify_seconds.clone()))?;
        registry.register(Box::new(token_cache.clone()))?;
        registry.register(Box::new(keyset_refresh.clone()))?;
        registry.register(Box::new(keyset_keys.clone()))?;
        registry.register(Box::new(KeysetAge {
            gauge: keyset_age,
            loaded_at_ms: loaded_at_ms.clone(),
        }))?;
        registry.register(Box::new(substitutions.clone()))?;
        registry.register(Box::new(upstream_errors.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        Ok(Metrics {
            request_duration,
            requests,
            rejections,
            verify_seconds,
            token_cache,
            keyset_refresh,
            keyset_keys,
            keyset_loaded_at: loaded_at_ms,
            substitutions,
            upstream_errors,
        })
    }

    /// The pre-resolved handles of one route (`name` comes from config).
    pub fn route(&self, name: &str) -> RouteMetrics {
        RouteMetrics {
            allowed: self.requests.with_label_values(&[name, "allowed"]),
            rejected: self.requests.with_label_values(&[name, "rejected"]),
            monitored: self.requests.with_label_values(&[name, "monitored"]),
            anonymous: self.requests.with_label_values(&[name, "anonymous"]),
            duration: self.request_duration.with_label_values(&[name]),
            substitutions: self.substitutions.with_label_values(&[name]),
            upstream_connect: self.upstream_errors.with_label_values(&[name, "connect"]),
            upstream_timeout: self.upstream_errors.with_label_values(&[name, "timeout"]),
            upstream_other: self.upstream_errors.with_label_values(&[name, "other"]),
        }
    }

    /// The handles one policy (route) counts its decisions with.
    pub(crate) fn policy(&self, route: &str) -> PolicyMetrics {
        PolicyMetrics {
            outcomes: [
                Outcome::Allowed,
                Outcome::Rejected,
                Outcome::Monitored,
                Outcome::Anonymous,
            ]
            .map(|o| self.requests.with_label_values(&[route, o.as_str()])),
            rejections: Reason::ALL
                .map(|r| self.rejections.with_label_values(&[route, r.as_str()])),
        }
    }

    pub(crate) fn verifier(&self) -> VerifierMetrics {
        VerifierMetrics {
            verify_seconds: self.verify_seconds.clone(),
            cache_hit: self.token_cache.with_label_values(&["hit"]),
            cache_miss: self.token_cache.with_label_values(&["miss"]),
            refresh_file_ok: self.keyset_refresh.with_label_values(&["file", "ok"]),
            refresh_file_error: self.keyset_refresh.with_label_values(&["file", "error"]),
            refresh_url_ok: self.keyset_refresh.with_label_values(&["url", "ok"]),
            refresh_url_error: self.keyset_refresh.with_label_values(&["url", "error"]),
            keyset_keys: self.keyset_keys.clone(),
            keyset_loaded_at_ms: self.keyset_loaded_at.clone(),
        }
    }
}

/// A route's request outcome, for `attestgate_requests_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The token passed.
    Allowed,
    /// The token failed and the request was refused.
    Rejected,
    /// The token failed, but the route is in monitor mode and let it through.
    Monitored,
    /// No token, and none needed (`token = "optional"`, or a method
    /// without token): let through without secrets.
    Anonymous,
}

impl Outcome {
    /// The `outcome` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Rejected => "rejected",
            Outcome::Monitored => "monitored",
            Outcome::Anonymous => "anonymous",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One policy's decision counters: its route's outcomes and rejections.
#[derive(Clone, Debug)]
pub(crate) struct PolicyMetrics {
    outcomes: [IntCounter; 4],
    rejections: [IntCounter; Reason::ALL.len()],
}

impl PolicyMetrics {
    pub(crate) fn outcome(&self, outcome: Outcome) {
        self.outcomes[outcome.index()].inc();
    }

    pub(crate) fn rejected(&self, reason: Reason) {
        self.rejections[reason.index()].inc();
    }
}

/// Kind of upstream failure, for `attestgate_upstream_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    /// The connection could not be made.
    Connect,
    /// Connect or read timed out.
    Timeout,
    /// Anything else.
    Other,
}

/// One route's pre-resolved counters.
#[derive(Clone)]
pub struct RouteMetrics {
    allowed: IntCounter,
    rejected: IntCounter,
    monitored: IntCounter,
    anonymous: IntCounter,
    duration: Histogram,
    substitutions: IntCounter,
    upstream_connect: IntCounter,
    upstream_timeout: IntCounter,
    upstream_other: IntCounter,
}

impl RouteMetrics {
    /// Counts a request's outcome.
    pub fn outcome(&self, outcome: Outcome) {
        match outcome {
            Outcome::Allowed => self.allowed.inc(),
            Outcome::Rejected => self.rejected.inc(),
            Outcome::Monitored => self.monitored.inc(),
            Outcome::Anonymous => self.anonymous.inc(),
        }
    }

    /// Records a whole request's duration.
    pub fn request_seconds(&self, seconds: f64) {
        self.duration.observe(seconds);
    }

    /// Counts `n` substitutions.
    pub fn substituted(&self, n: u64) {
        self.substitutions.inc_by(n);
    }

    /// Counts an upstream failure.
    pub fn upstream_error(&self, kind: UpstreamErrorKind) {
        match kind {
            UpstreamErrorKind::Connect => self.upstream_connect.inc(),
            UpstreamErrorKind::Timeout => self.upstream_timeout.inc(),
            UpstreamErrorKind::Other => self.upstream_other.inc(),
        }
    }
}

/// The verifier's own handles.
pub(crate) struct VerifierMetrics {
    pub(crate) verify_seconds: Histogram,
    pub(crate) cache_hit: IntCounter,
    pub(crate) cache_miss: IntCounter,
    pub(crate) refresh_file_ok: IntCounter,
    pub(crate) refresh_file_error: IntCounter,
    pub(crate) refresh_url_ok: IntCounter,
    pub(crate) refresh_url_error: IntCounter,
    pub(crate) keyset_keys: IntGauge,
    pub(crate) keyset_loaded_at_ms: Arc<AtomicU64>,
}

impl VerifierMetrics {
    pub(crate) fn keys_loaded(&self, count: usize, at_unix: f64) {
        self.keyset_keys
            .set(i64::try_from(count).unwrap_or(i64::MAX));
        self.keyset_loaded_at_ms
            .store((at_unix * 1000.0) as u64, Ordering::Relaxed);
    }
}
