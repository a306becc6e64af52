//! Rate limits through the core's public API: what each key reads, what
//! spends budget and what does not, and hostile inputs (forged, expired
//! and monitored tokens, repeated, empty and huge headers, odd claims,
//! clocks going backwards).

use std::net::IpAddr;

use attestgate::mint;
use attestgate::ratelimit::{
    LimitKey, Rate, RateLimitMetrics, RateLimitRule, RateLimits, validate_rules,
};
use attestgate::{Mode, Outcome, Policy, RequestParts, Verifier};
use http::{HeaderMap, HeaderValue, Method, Uri};
use serde_json::json;

const NOW: f64 = 1_900_000_000.0;

fn limits(key: &str, burst: u32, mode: Mode) -> (RateLimits, RateLimitMetrics) {
    let metrics = RateLimitMetrics::unregistered().unwrap();
    let rule = RateLimitRule::new(
        "l",
        LimitKey::parse(key).unwrap(),
        Rate::parse("60/min").unwrap(),
        burst,
    );
    assert!(validate_rules(std::slice::from_ref(&rule), "r").is_empty());
    (
        RateLimits::new("route", mode, &[rule], &metrics, |_| None),
        metrics,
    )
}

/// How many of `n` requests at `NOW` pass.
fn passes(
    l: &RateLimits,
    n: usize,
    token: Option<&attestgate::VerifiedToken>,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
) -> usize {
    (0..n)
        .filter(|_| l.check_now_at(token, headers, ip, NOW).is_none())
        .count()
}

struct Tokens {
    verifier: Verifier,
    key: mint::SigningKey,
}

impl Tokens {
    fn new() -> Tokens {
        let secret = mint::new_secret_base64().unwrap();
        Tokens {
            verifier: Verifier::builder()
                .secret_base64(&secret)
                .unwrap()
                .build()
                .unwrap(),
            key: mint::SigningKey::hs256_base64(&secret).unwrap(),
        }
    }

    fn verified(&self, claims: serde_json::Value) -> attestgate::VerifiedToken {
        let t = mint::mint(&self.key, None, &claims).unwrap();
        let mut h = HeaderMap::new();
        h.insert("approov-token", HeaderValue::from_str(&t).unwrap());
        self.verifier.check(&h).unwrap()
    }
}

fn exp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600
}

#[test]
fn claim_keys_read_the_verified_token_only() {
    let t = Tokens::new();
    let (l, _) = limits("claim:did", 2, Mode::Enforce);
    let a = t.verified(json!({ "exp": exp(), "did": "dev-a" }));
    let b = t.verified(json!({ "exp": exp(), "did": "dev-b" }));
    assert_eq!(passes(&l, 5, Some(&a), &HeaderMap::new(), None), 2);
    assert_eq!(passes(&l, 5, Some(&b), &HeaderMap::new(), None), 2);
    // a header claiming to be the device is not the claim
    let mut h = HeaderMap::new();
    h.insert("did", HeaderValue::from_static("dev-c"));
    assert_eq!(passes(&l, 5, None, &h, None), 5);

    // other claims: strings as they are, anything else as compact JSON,
    // null or absent: no key
    let (n, _) = limits("claim:tier", 1, Mode::Enforce);
    let num = t.verified(json!({ "exp": exp(), "tier": 7 }));
    let obj = t.verified(json!({ "exp": exp(), "tier": { "a": 1 } }));
    let null = t.verified(json!({ "exp": exp(), "tier": null }));
    assert_eq!(passes(&n, 3, Some(&num), &HeaderMap::new(), None), 1);
    assert_eq!(passes(&n, 3, Some(&obj), &HeaderMap::new(), None), 1);
    assert_eq!(passes(&n, 3, Some(&null), &HeaderMap::new(), None), 3);
}

#[test]
fn failing_and_monitored_tokens_spend_nothing() {
    let t = Tokens::new();
    let (l, _) = limits("claim:did", 1, Mode::Enforce);
    let forger = Tokens::new();
    let uri = Uri::from_static("/p");
    let decide = |v: &Verifier, token: &str| {
        let mut h = HeaderMap::new();
        h.insert("approov-token", HeaderValue::from_str(token).unwrap());
        let d = v.decide(RequestParts {
            method: &Method::GET,
            uri: &uri,
            headers: &h,
            client: None,
            body: attestgate::target::BodyHint::Empty,
        });
        (d, h)
    };
    let forged = mint::mint(&forger.key, None, &json!({ "exp": exp(), "did": "victim" })).unwrap();
    let expired = mint::mint(&t.key, None, &json!({ "exp": 1000, "did": "victim" })).unwrap();
    let monitor = t.verifier.with_policy(Policy {
        mode: Mode::Monitor,
        ..t.verifier.policy().clone()
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for (v, token, outcome) in [
        (&t.verifier, &forged, Outcome::Rejected),
        (&t.verifier, &expired, Outcome::Rejected),
        (&monitor, &forged, Outcome::Monitored),
        (&monitor, &expired, Outcome::Monitored),
    ] {
        for _ in 0..5 {
            let (d, h) = decide(v, token);
            assert_eq!(d.outcome(), outcome);
            assert!(rt.block_on(l.check_decided(&d, &h, None)).is_none());
        }
    }
    // the victim's budget is whole
    let good = mint::mint(&t.key, None, &json!({ "exp": exp(), "did": "victim" })).unwrap();
    let (d, h) = decide(&t.verifier, &good);
    assert!(rt.block_on(l.check_decided(&d, &h, None)).is_none());
    let (d, h) = decide(&t.verifier, &good);
    let refusal = rt
        .block_on(l.check_decided(&d, &h, None))
        .expect("over the limit");
    assert_eq!(refusal.status().as_u16(), 429);
}

#[test]
fn header_and_ip_keys() {
    let (l, _) = limits("header:x-client", 1, Mode::Enforce);
    let one = |v: &[&str]| {
        let mut h = HeaderMap::new();
        for x in v {
            h.append("x-client", HeaderValue::from_str(x).unwrap());
        }
        h
    };
    assert_eq!(passes(&l, 3, None, &one(&["a"]), None), 1);
    // repeated: one key of all the values, not the first one's
    assert_eq!(passes(&l, 3, None, &one(&["a", "b"]), None), 1);
    assert_eq!(passes(&l, 3, None, &one(&["b", "a"]), None), 1);
    // absent or empty: no key, not limited
    assert_eq!(passes(&l, 3, None, &HeaderMap::new(), None), 3);
    assert_eq!(passes(&l, 3, None, &one(&[""]), None), 3);
    // a huge value is one key like any other
    let huge = "x".repeat(8000);
    assert_eq!(passes(&l, 3, None, &one(&[&huge]), None), 1);

    let (ip, _) = limits("ip", 2, Mode::Enforce);
    let v4: IpAddr = "203.0.113.7".parse().unwrap();
    let v6: IpAddr = "2001:db8::7".parse().unwrap();
    assert_eq!(passes(&ip, 5, None, &HeaderMap::new(), Some(v4)), 2);
    assert_eq!(passes(&ip, 5, None, &HeaderMap::new(), Some(v6)), 2);
    // no address known: not limited
    assert_eq!(passes(&ip, 5, None, &HeaderMap::new(), None), 5);
    // a forwarded-for header is not the address
    let mut h = HeaderMap::new();
    h.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.1"));
    assert_eq!(passes(&ip, 5, None, &h, Some(v4)), 0);
}

#[test]
fn monitor_mode_counts_and_lets_through() {
    let registry = prometheus::Registry::new();
    let metrics = RateLimitMetrics::register(&registry).unwrap();
    let rule = RateLimitRule::new("m", LimitKey::Ip, Rate::parse("1/h").unwrap(), 1);
    let l = RateLimits::new(
        "route",
        Mode::Monitor,
        std::slice::from_ref(&rule),
        &metrics,
        |_| None,
    );
    let ip: IpAddr = "192.0.2.1".parse().unwrap();
    assert_eq!(passes(&l, 4, None, &HeaderMap::new(), Some(ip)), 4);
    // a rule's own mode wins over the route's
    let enforce = RateLimitRule {
        name: "e".into(),
        mode: Some(Mode::Enforce),
        ..rule
    };
    let e = RateLimits::new("route", Mode::Monitor, &[enforce], &metrics, |_| None);
    assert_eq!(passes(&e, 4, None, &HeaderMap::new(), Some(ip)), 1);
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    assert!(
        text.contains("attestgate_rate_limited_total{limit=\"m\",route=\"route\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("attestgate_rate_limited_total{limit=\"e\",route=\"route\"} 3"),
        "{text}"
    );
}

#[test]
fn a_redis_rule_without_a_store_follows_on_store_error() {
    let metrics = RateLimitMetrics::unregistered().unwrap();
    let mut rule = RateLimitRule::new("r", LimitKey::Ip, Rate::parse("1/h").unwrap(), 1);
    rule.store = attestgate::ratelimit::LimitStoreKind::Redis;
    rule.redis_url = Some("redis://127.0.0.1:1".into());
    let ip: IpAddr = "192.0.2.1".parse().unwrap();
    let allow = RateLimits::new("route", Mode::Enforce, &[rule.clone()], &metrics, |_| None);
    assert_eq!(passes(&allow, 3, None, &HeaderMap::new(), Some(ip)), 3);
    rule.on_store_error = attestgate::ratelimit::OnLimitStoreError::Refuse;
    let refuse = RateLimits::new("route", Mode::Enforce, &[rule], &metrics, |_| None);
    let r = refuse
        .check_now_at(None, &HeaderMap::new(), Some(ip), NOW)
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
}

#[test]
fn clocks_going_backwards_give_no_extra_burst() {
    let (l, _) = limits("ip", 2, Mode::Enforce);
    let ip: IpAddr = "192.0.2.9".parse().unwrap();
    let h = HeaderMap::new();
    assert!(l.check_now_at(None, &h, Some(ip), NOW).is_none());
    assert!(l.check_now_at(None, &h, Some(ip), NOW).is_none());
    for back in [1.0, 60.0, 1e6, NOW] {
        assert!(
            l.check_now_at(None, &h, Some(ip), NOW - back).is_some(),
            "{back}"
        );
    }
    // far future and odd clocks do not panic
    for t in [f64::MAX, f64::INFINITY, f64::NAN, -1.0, 0.0] {
        let _ = l.check_now_at(None, &h, Some(ip), t);
    }
}
