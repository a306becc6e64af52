//! Rate limits per attested device (`[[route.rate_limit]]`): a route's
//! limits, checked after the token decision, each a GCRA budget per key.
//!
//! - [`RateLimitRule`]: one limit as configured (plain data), with
//!   [`RateLimitRule::validate`] and the parsers of its config spellings
//!   ([`Rate::parse`], [`LimitKey::parse`]); the config crate only reads
//!   the file and calls these.
//! - [`RateLimits`]: a route's limits, built with their stores and metric
//!   handles; [`RateLimits::check`] turns a request (after its token
//!   decision) into nothing or the [`crate::Refusal`] to send: 429 `{}`
//!   with `Retry-After` and the IETF `RateLimit` / `RateLimit-Policy`
//!   fields (draft-ietf-httpapi-ratelimit-headers-11), or gRPC
//!   RESOURCE_EXHAUSTED.
//! - Stores: [`MemoryStore`] (this process, a fixed table) and, with the
//!   `redis` feature, [`RedisLimitStore`] (the fleet's, one atomic script
//!   per request).

mod answer;
mod check;
pub mod gcra;
mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::time::Duration;

use http::HeaderName;

use crate::policy::Mode;
use crate::verifier::builder::BuildProblem;

pub use answer::{RATELIMIT, RATELIMIT_POLICY};
pub use check::{LimitStore, LimitStoreCheck, RateLimitMetrics, RateLimits, StoreFailure};
pub use gcra::{Gcra, Step};
pub use memory::{MemoryStore, WAYS};
#[cfg(feature = "redis")]
pub use redis::{KEY_PREFIX, RedisLimitStore, RedisLimitStoreError, SCRIPT};

/// What a limit counts requests by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimitKey {
    /// `claim:NAME`: a claim of the **verified** token (`claim:did`: the
    /// device).
    Claim(String),
    /// `ip`: the client's address as the front end sees it (the TCP peer).
    Ip,
    /// `header:NAME`: a request header (set by a trusted hop in front).
    Header(HeaderName),
}

impl LimitKey {
    /// Parses `claim:NAME`, `ip` or `header:NAME`.
    pub fn parse(s: &str) -> Result<LimitKey, String> {
        if s == "ip" {
            return Ok(LimitKey::Ip);
        }
        if let Some(name) = s.strip_prefix("claim:") {
            if name.is_empty() || name.bytes().any(|b| b <= b' ' || b == b'"' || b >= 0x7f) {
                return Err(format!(
                    "{s:?}: name a claim after \"claim:\", e.g. \"claim:did\""
                ));
            }
            return Ok(LimitKey::Claim(name.to_owned()));
        }
        if let Some(name) = s.strip_prefix("header:") {
            return HeaderName::from_bytes(name.as_bytes())
                .map(LimitKey::Header)
                .map_err(|_| {
                    format!("{s:?}: name a header after \"header:\", e.g. \"header:X-Client-Id\"")
                });
        }
        Err(format!(
            "{s:?}: use \"claim:NAME\" (e.g. \"claim:did\"), \"ip\" or \"header:NAME\""
        ))
    }

    /// The config spelling.
    pub fn as_config(&self) -> String {
        match self {
            LimitKey::Claim(c) => format!("claim:{c}"),
            LimitKey::Ip => "ip".into(),
            LimitKey::Header(h) => format!("header:{h}"),
        }
    }
}

/// A sustained rate: `count` requests per `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests per period.
    pub count: u32,
    /// The period: one second, minute or hour.
    pub period: Duration,
}

impl Rate {
    /// Parses `"N/s"`, `"N/min"` or `"N/h"` (also `sec`, `second`,
    /// `minute`, `hour`).
    pub fn parse(s: &str) -> Result<Rate, String> {
        let fix = "write it as requests per period, e.g. \"120/min\", \"5/s\" or \"1000/h\"";
        let Some((n, unit)) = s.split_once('/') else {
            return Err(format!("{s:?}: {fix}"));
        };
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(format!("{s:?}: the period is s, min or h; {fix}")),
        };
        let count: u32 = n.trim().parse().map_err(|_| format!("{s:?}: {fix}"))?;
        if count == 0 {
            return Err(format!("{s:?}: a rate of zero refuses everything; {fix}"));
        }
        Ok(Rate { count, period })
    }

    /// The GCRA emission interval, µs (0 when faster than 1 per µs).
    pub fn interval_us(&self) -> u64 {
        self.period.as_micros() as u64 / u64::from(self.count)
    }
}

/// Where a limit keeps its budgets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LimitStoreKind {
    /// This process: a fixed table of `memory_capacity` keys.
    #[default]
    Memory,
    /// Redis at `redis_url`: one budget per key for the whole fleet.
    Redis,
}

/// What a check does when its store cannot answer (Redis down or slow).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnLimitStoreError {
    /// Let the request through (availability before limits).
    #[default]
    Allow,
    /// Refuse it: 503 `{}` (gRPC UNAVAILABLE) with `Retry-After: 1`.
    Refuse,
}

/// Largest `burst`.
pub const MAX_BURST: u32 = 1_000_000;
/// Largest `memory_capacity` (keys; 25 bytes each).
pub const MAX_MEMORY_CAPACITY: u64 = 1 << 27;
/// Default `memory_capacity`: 100,000 keys, about 2.5 MB.
pub const DEFAULT_MEMORY_CAPACITY: u64 = 100_000;
/// Default `redis_timeout`.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(100);

/// One `[[route.rate_limit]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimitRule {
    /// The `limit` metric label and the `RateLimit-Policy` name.
    pub name: String,
    /// What requests are counted by.
    pub key: LimitKey,
    /// The sustained rate.
    pub rate: Rate,
    /// Requests a fresh key may make at once.
    pub burst: u32,
    /// Memory or Redis.
    pub store: LimitStoreKind,
    /// `redis://` or `rediss://` URL (store = "redis"). Never logged.
    pub redis_url: Option<String>,
    /// Deadline of one Redis round trip.
    pub redis_timeout: Duration,
    /// What an unanswered store check does.
    pub on_store_error: OnLimitStoreError,
    /// Keys the memory store holds at most.
    pub memory_capacity: u64,
    /// Enforce or monitor (counted, not refused); `None`: the route's mode.
    pub mode: Option<Mode>,
}

impl RateLimitRule {
    /// A memory-store rule with the defaults.
    pub fn new(name: &str, key: LimitKey, rate: Rate, burst: u32) -> RateLimitRule {
        RateLimitRule {
            name: name.to_owned(),
            key,
            rate,
            burst,
            store: LimitStoreKind::Memory,
            redis_url: None,
            redis_timeout: DEFAULT_REDIS_TIMEOUT,
            on_store_error: OnLimitStoreError::Allow,
            memory_capacity: DEFAULT_MEMORY_CAPACITY,
            mode: None,
        }
    }

    /// The rule's GCRA parameters.
    pub fn gcra(&self) -> Gcra {
        Gcra {
            interval_us: self.rate.interval_us().max(1),
            burst: self.burst.max(1),
        }
    }

    /// Every problem with this rule, paths relative to the rule's table.
    pub fn validate(&self) -> Vec<BuildProblem> {
        let mut out = Vec::new();
        let mut problem = |path: &str, message: String| {
            out.push(BuildProblem {
                path: path.into(),
                message,
            })
        };
        if self.name.is_empty()
            || self.name.len() > 64
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            problem(
                "name",
                format!(
                    "{:?}: 1 to 64 letters, digits, '-', '_' or '.' (it is the `limit` metric label)",
                    self.name
                ),
            );
        }
        if self.rate.interval_us() == 0 {
            problem(
                "rate",
                "faster than one request per microsecond; use at most 1000000/s".into(),
            );
        }
        if self.burst == 0 || self.burst > MAX_BURST {
            problem(
                "burst",
                format!(
                    "{}: give 1 to {MAX_BURST} (requests a device may make at once)",
                    self.burst
                ),
            );
        }
        match (self.store, &self.redis_url) {
            (LimitStoreKind::Redis, None) => problem(
                "redis_url",
                "missing; store = \"redis\" needs redis_url = \"redis://host:6379\"".into(),
            ),
            (LimitStoreKind::Redis, Some(u))
                if !(u.starts_with("redis://") || u.starts_with("rediss://")) =>
            {
                problem(
                    "redis_url",
                    "must start with redis:// or rediss:// (value not repeated)".into(),
                )
            }
            (LimitStoreKind::Memory, Some(_)) => problem(
                "redis_url",
                "only with store = \"redis\"; remove it or set store = \"redis\"".into(),
            ),
            _ => {}
        }
        if self.redis_timeout.is_zero() || self.redis_timeout > Duration::from_secs(10) {
            problem(
                "redis_timeout",
                "give a deadline above zero and at most 10s, e.g. \"100ms\"".into(),
            );
        }
        if self.memory_capacity == 0 || self.memory_capacity > MAX_MEMORY_CAPACITY {
            problem(
                "memory_capacity",
                format!(
                    "{}: give 1 to {MAX_MEMORY_CAPACITY} keys (25 bytes each, allocated at start)",
                    self.memory_capacity
                ),
            );
        }
        out
    }
}

/// Problems of a route's whole list: each rule's (under
/// `at[i]`), and names used twice.
pub fn validate_rules(rules: &[RateLimitRule], at: &str) -> Vec<BuildProblem> {
    let mut out = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        for p in r.validate() {
            out.push(BuildProblem {
                path: format!("{at}[{i}].{}", p.path),
                message: p.message,
            });
        }
        if rules[..i].iter().any(|o| o.name == r.name) {
            out.push(BuildProblem {
                path: format!("{at}[{i}].name"),
                message: format!(
                    "{:?} is used twice in this route; names must differ",
                    r.name
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_parse_or_say_how_to_fix() {
        assert_eq!(
            Rate::parse("120/min"),
            Ok(Rate {
                count: 120,
                period: Duration::from_secs(60)
            })
        );
        assert_eq!(Rate::parse("5/s").map(|r| r.interval_us()), Ok(200_000));
        assert_eq!(
            Rate::parse("1/h").map(|r| r.interval_us()),
            Ok(3_600_000_000)
        );
        for bad in [
            "",
            "120",
            "0/s",
            "-1/s",
            "1/day",
            "x/min",
            "1/",
            "99999999999/s",
        ] {
            let e = Rate::parse(bad).unwrap_err();
            assert!(e.contains("e.g."), "{bad}: {e}");
        }
        assert_eq!(
            LimitKey::parse("claim:did"),
            Ok(LimitKey::Claim("did".into()))
        );
        assert_eq!(LimitKey::parse("ip"), Ok(LimitKey::Ip));
        assert_eq!(
            LimitKey::parse("header:X-Client-Id"),
            Ok(LimitKey::Header(HeaderName::from_static("x-client-id")))
        );
        for bad in [
            "",
            "did",
            "claim:",
            "header:",
            "header:a b",
            "IP",
            "claim:a b",
        ] {
            assert!(LimitKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rules_are_checked_with_their_paths() {
        let rate = Rate::parse("10/s").unwrap();
        let ok = RateLimitRule::new("per-device", LimitKey::Ip, rate, 5);
        assert!(validate_rules(std::slice::from_ref(&ok), "r").is_empty());
        let bad = RateLimitRule {
            name: "a b".into(),
            burst: 0,
            store: LimitStoreKind::Redis,
            memory_capacity: 0,
            redis_timeout: Duration::ZERO,
            rate: Rate {
                count: 2_000_000,
                period: Duration::from_secs(1),
            },
            ..ok.clone()
        };
        let paths: Vec<String> = validate_rules(&[ok.clone(), bad, ok], "route[0].rate_limit")
            .into_iter()
            .map(|p| p.path)
            .collect();
        assert_eq!(
            paths,
            [
                "route[0].rate_limit[1].name",
                "route[0].rate_limit[1].rate",
                "route[0].rate_limit[1].burst",
                "route[0].rate_limit[1].redis_url",
                "route[0].rate_limit[1].redis_timeout",
                "route[0].rate_limit[1].memory_capacity",
                "route[0].rate_limit[2].name",
            ]
        );
    }
}
