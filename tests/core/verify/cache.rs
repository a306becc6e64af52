//! The verified-token cache: a hit gives the same verification back, but
//! time and binding are checked on every hit; only passing tokens are
//! cached; capacity 0 turns it off.

use attestgate::mint::{self, SigningKey};
use attestgate::{Metrics, Reason, Verifier, VerifierBuilder};
use attestgate_testkit::forge::{header_map, segments};
use attestgate_testkit::tokens::HsFixture;
use serde_json::json;

type Fx = HsFixture;

/// An Approov-shaped token valid for `ttl` seconds from the fixture's now.
trait Approov {
    fn approov(&self, ttl: f64) -> String;
}

impl Approov for Fx {
    fn approov(&self, ttl: f64) -> String {
        self.token(json!({"exp": self.t0 + ttl, "ip": "203.0.113.7", "did": "device-1"}))
    }
}

/// A verifier with metrics attached, and a way to read them back.
struct Observed {
    v: Verifier,
    registry: prometheus::Registry,
}

impl Observed {
    fn new(builder: VerifierBuilder) -> Observed {
        let registry = prometheus::Registry::new();
        let metrics = Metrics::register(&registry).unwrap();
        let v = builder.build().unwrap();
        assert!(v.attach_metrics(&metrics));
        Observed { v, registry }
    }

    /// The value of `name{label="value"}` in the Prometheus text.
    fn series(&self, name: &str, label: &str, value: &str) -> u64 {
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap();
        // `reason` comes first of the labels (`route` follows it), the
        // others are alone.
        let prefix = format!("{name}{{{label}=\"{value}\"");
        let line = text
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"));
        line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64
    }

    fn hits(&self) -> u64 {
        self.series("attestgate_token_cache_total", "result", "hit")
    }

    fn misses(&self) -> u64 {
        self.series("attestgate_token_cache_total", "result", "miss")
    }

    fn rejections(&self, reason: Reason) -> u64 {
        self.series("attestgate_rejections_total", "reason", reason.as_str())
    }
}

#[test]
fn a_hit_returns_the_same_verification() {
    let fx = Fx::new();
    let o = Observed::new(fx.builder());
    let token = fx.approov(300.0);
    let first = o.v.verify_token_at(&token, fx.t0).unwrap();
    assert_eq!((o.hits(), o.misses()), (0, 1));
    assert_eq!(o.v.cached_tokens(), 1);
    let second = o.v.verify_token_at(&token, fx.t0 + 1.0).unwrap();
    let third =
        o.v.check_at(&header_map(&[("approov-token", &token)]), fx.t0 + 2.0)
            .unwrap();
    assert_eq!((o.hits(), o.misses()), (2, 1));
    for t in [&second, &third] {
        assert_eq!(t.claims(), first.claims());
        assert_eq!(
            (t.exp(), t.did(), t.ip(), t.alg(), t.kid()),
            (
                first.exp(),
                first.did(),
                first.ip(),
                first.alg(),
                first.kid()
            )
        );
        // The very same verification, not a re-parse.
        assert!(std::ptr::eq(t.claims_json(), first.claims_json()));
    }
    assert_eq!(o.v.cached_tokens(), 1);
}

#[test]
fn capacity_zero_turns_the_cache_off() {
    let fx = Fx::new();
    let o = Observed::new(fx.builder().cache_capacity(0));
    let token = fx.approov(300.0);
    let a = o.v.verify_token_at(&token, fx.t0).unwrap();
    let b = o.v.verify_token_at(&token, fx.t0).unwrap();
    let c =
        o.v.check_at(&header_map(&[("approov-token", &token)]), fx.t0)
            .unwrap();
    assert_eq!(a.claims(), b.claims());
    assert_eq!(a.claims(), c.claims());
    assert!(
        !std::ptr::eq(a.claims_json(), b.claims_json()),
        "verified twice"
    );
    assert_eq!(o.v.cached_tokens(), 0);
    assert_eq!((o.hits(), o.misses()), (0, 0));
    // Time is checked the same way without a cache.
    assert_eq!(
        o.v.verify_token_at(&token, fx.t0 + 300.0).err(),
        Some(Reason::Expired)
    );
}

#[test]
fn an_expired_cached_token_is_expired() {
    let fx = Fx::new();
    for leeway in [0u64, 30] {
        let o = Observed::new(fx.builder().leeway(std::time::Duration::from_secs(leeway)));
        let token = fx.approov(100.0);
        let exp = fx.t0 + 100.0;
        let leeway = leeway as f64;
        assert!(o.v.verify_token_at(&token, fx.t0).is_ok());
        assert!(o.v.verify_token_at(&token, exp + leeway - 0.001).is_ok());
        assert_eq!(
            o.v.verify_token_at(&token, exp + leeway).err(),
            Some(Reason::Expired)
        );
        assert_eq!(
            o.v.check_at(
                &header_map(&[("approov-token", &token)]),
                exp + leeway + 3600.0
            )
            .err(),
            Some(Reason::Expired)
        );
        assert_eq!(o.hits(), 3, "answered from the cache");
        // Rejections are counted per request (`check`), not for bare
        // `verify_token` calls.
        assert_eq!(o.rejections(Reason::Expired), 1);
        // Still cached (exp is ahead in real time), still valid earlier.
        assert!(o.v.verify_token_at(&token, fx.t0).is_ok());
    }
}

#[test]
fn nbf_is_checked_on_a_hit() {
    let fx = Fx::new();
    let o = Observed::new(fx.builder());
    let nbf = fx.t0 + 50.0;
    let token = fx.token(json!({"exp": fx.t0 + 300.0, "nbf": nbf}));
    assert_eq!(
        o.v.verify_token_at(&token, fx.t0).err(),
        Some(Reason::NotYetValid)
    );
    assert_eq!(o.v.cached_tokens(), 0, "a token that failed is not cached");
    assert!(o.v.verify_token_at(&token, nbf).is_ok());
    assert_eq!(o.v.cached_tokens(), 1);
    assert_eq!(
        o.v.verify_token_at(&token, nbf - 1.0).err(),
        Some(Reason::NotYetValid)
    );
    assert_eq!(o.hits(), 1);
}

#[test]
fn only_passing_tokens_are_cached() {
    let fx = Fx::new();
    let o = Observed::new(fx.builder());
    let good = fx.approov(300.0);
    let (h64, p64, s64) = segments(&good);
    let other = SigningKey::hs256_base64(&mint::new_secret_base64().unwrap()).unwrap();
    let bad: Vec<String> = vec![
        format!("{h64}.{p64}.{}", &s64[..s64.len() - 2]),
        format!("{h64}.{p64}"),
        mint::mint(&other, None, &json!({"exp": fx.t0 + 300.0})).unwrap(),
        fx.token(json!({"exp": fx.t0 - 1.0})),
        fx.token(json!({"exp": "soon"})),
        "NO_NETWORK".into(),
    ];
    for _ in 0..3 {
        for t in &bad {
            assert!(o.v.verify_token_at(t, fx.t0).is_err(), "{t}");
        }
    }
    assert_eq!(o.v.cached_tokens(), 0);
    assert_eq!(o.hits(), 0);
    assert_eq!(o.misses(), 3 * bad.len() as u64);
    // A cached token with one character changed is not a hit.
    assert!(o.v.verify_token_at(&good, fx.t0).is_ok());
    let mut changed = good.clone().into_bytes();
    let i = h64.len() + 5;
    changed[i] = if changed[i] == b'A' { b'B' } else { b'A' };
    let changed = String::from_utf8(changed).unwrap();
    assert_eq!(
        o.v.verify_token_at(&changed, fx.t0).err(),
        Some(Reason::BadSignature)
    );
    assert_eq!(o.hits(), 0);
    assert_eq!(o.v.cached_tokens(), 1);
}

#[test]
fn an_entry_never_outlives_exp_in_real_time() {
    // Verified at an injected earlier time, the token's exp is already past
    // on the wall clock: the cache must not keep it.
    let fx = Fx::new();
    let o = Observed::new(fx.builder());
    let token = fx.token(json!({"exp": fx.t0 - 100.0}));
    assert!(o.v.verify_token_at(&token, fx.t0 - 200.0).is_ok());
    assert!(o.v.verify_token_at(&token, fx.t0 - 200.0).is_ok());
    // (moka may count the dead entry until its next housekeeping, but never
    // returns it.)
    assert_eq!((o.hits(), o.misses()), (0, 2));
}

#[test]
fn capacity_is_a_bound() {
    let fx = Fx::new();
    let o = Observed::new(fx.builder().cache_capacity(8));
    for i in 0..200 {
        let t = fx.token(json!({"exp": fx.t0 + 300.0, "n": i}));
        assert!(o.v.verify_token_at(&t, fx.t0).is_ok());
    }
    assert!(o.v.cached_tokens() <= 8, "{}", o.v.cached_tokens());
}

#[test]
fn verifier_clones_share_one_cache() {
    let fx = Fx::new();
    let o = Observed::new(fx.builder());
    let token = fx.approov(300.0);
    let clone = o.v.clone();
    assert!(clone.verify_token_at(&token, fx.t0).is_ok());
    assert!(o.v.verify_token_at(&token, fx.t0).is_ok());
    assert_eq!(o.hits(), 1);
}
