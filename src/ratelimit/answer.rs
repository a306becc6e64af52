//! The answer to a request over a limit, for both front ends.
//!
//! HTTP: 429, `{}`, `Retry-After` (whole seconds, at least 1) and the
//! fields of draft-ietf-httpapi-ratelimit-headers-11 (May 2026):
//!
//! ```text
//! RateLimit-Policy: "per-device";q=120;w=60
//! RateLimit: "per-device";r=0;t=1
//! ```
//!
//! `q`/`w` are the configured sustained rate (quota per window, seconds);
//! `r` is what is left now (0: refused) and `t` the seconds until a
//! request would pass, the same as `Retry-After`. The policy name is the
//! limit's name (letters, digits, `-_.`: a valid structured-field string).
//! gRPC: trailers-only `grpc-status: 8` (RESOURCE_EXHAUSTED) with the same
//! fields beside it.

use http::StatusCode;
use http::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use super::RateLimitRule;
use crate::request::refusal::{GRPC_RESOURCE_EXHAUSTED, GRPC_UNAVAILABLE, Refusal};

/// `RateLimit-Policy`.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Whole seconds, rounded up, at least 1.
fn seconds_up(us: u64) -> u64 {
    us.div_ceil(1_000_000).max(1)
}

fn value(s: String) -> HeaderValue {
    // Built from a validated name and numbers only.
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("\"limit\""))
}

/// The refusal of a request over `rule`, which would pass in
/// `retry_after_us`.
pub(crate) fn limited(rule: &RateLimitRule, retry_after_us: u64, request: &HeaderMap) -> Refusal {
    let wait = seconds_up(retry_after_us);
    let window = rule.rate.period.as_secs().max(1);
    let extra = vec![
        (RETRY_AFTER, HeaderValue::from(wait)),
        (
            RATELIMIT_POLICY,
            value(format!(
                "\"{}\";q={};w={window}",
                rule.name, rule.rate.count
            )),
        ),
        (RATELIMIT, value(format!("\"{}\";r=0;t={wait}", rule.name))),
    ];
    Refusal::other(
        StatusCode::TOO_MANY_REQUESTS,
        GRPC_RESOURCE_EXHAUSTED,
        request,
        extra,
    )
}

/// The refusal when the store cannot answer and `on_store_error =
/// "refuse"`: 503 `{}` (gRPC UNAVAILABLE), `Retry-After: 1`.
pub(crate) fn store_down(request: &HeaderMap) -> Refusal {
    Refusal::other(
        StatusCode::SERVICE_UNAVAILABLE,
        GRPC_UNAVAILABLE,
        request,
        vec![(RETRY_AFTER, HeaderValue::from(1u64))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::{LimitKey, Rate};

    #[test]
    fn answers_name_the_policy_and_the_wait() {
        let rule = RateLimitRule::new(
            "per-device",
            LimitKey::Claim("did".into()),
            Rate::parse("120/min").unwrap(),
            30,
        );
        let r = limited(&rule, 1_200_001, &HeaderMap::new());
        assert_eq!(
            (r.status().as_u16(), r.body(), r.grpc_status()),
            (429, "{}", None)
        );
        let h: Vec<(String, String)> = r
            .headers()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        let get = |n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("retry-after"), Some("2"));
        assert_eq!(get("ratelimit-policy"), Some("\"per-device\";q=120;w=60"));
        assert_eq!(get("ratelimit"), Some("\"per-device\";r=0;t=2"));
        assert_eq!(get("content-type"), Some("application/json"));
        let mut grpc = HeaderMap::new();
        grpc.insert("content-type", HeaderValue::from_static("application/grpc"));
        let g = limited(&rule, 1, &grpc);
        assert_eq!(
            (g.status().as_u16(), g.grpc_status(), g.body()),
            (200, Some(8), "")
        );
        let s = store_down(&grpc);
        assert_eq!(s.grpc_status(), Some(14));
        assert_eq!(store_down(&HeaderMap::new()).status().as_u16(), 503);
    }
}
