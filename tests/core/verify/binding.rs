//! Token binding: `pay` against the binding headers, in order, trimmed;
//! missing, repeated and absent-`pay` cases; `allow_missing_pay`; and the
//! same rules on a cache hit.

use attestgate::{Reason, Verifier, VerifierBuilder, pay_claim};
use attestgate_testkit::forge::header_map;
use attestgate_testkit::tokens::HsFixture;
use base64::Engine;
use serde_json::{Value, json};

type Fx = HsFixture;

/// Builders and tokens for binding cases.
trait Bind {
    fn binding_builder(&self, headers: &[&str]) -> VerifierBuilder;
    fn pay_token(&self, pay: Option<Value>) -> String;
    fn bound(&self, values: &[&str]) -> String;
}

impl Bind for Fx {
    fn binding_builder(&self, headers: &[&str]) -> VerifierBuilder {
        self.builder().binding_headers(headers)
    }

    fn pay_token(&self, pay: Option<Value>) -> String {
        let mut c = json!({"exp": self.t0 + 300.0, "did": "device-1"});
        if let Some(pay) = pay {
            c["pay"] = pay;
        }
        self.token(c)
    }

    fn bound(&self, values: &[&str]) -> String {
        self.pay_token(Some(pay_claim(values).into()))
    }
}

/// Runs one request against the verifier with the cache off and on; with
/// the cache on, the same request twice (the second is a hit).
fn check(builder: &VerifierBuilder, pairs: &[(&str, &str)], now: f64) -> Vec<Result<(), Reason>> {
    let headers = header_map(pairs);
    let mut out = Vec::new();
    for capacity in [0, 1000] {
        let v = builder.clone().cache_capacity(capacity).build().unwrap();
        out.push(v.check_at(&headers, now).map(drop));
        out.push(v.check_at(&headers, now).map(drop));
    }
    out
}

fn assert_check(
    builder: &VerifierBuilder,
    pairs: &[(&str, &str)],
    now: f64,
    want: Result<(), Reason>,
    what: &str,
) {
    assert_eq!(check(builder, pairs, now), vec![want; 4], "{what}");
}

#[test]
fn one_binding_header() {
    let fx = Fx::new();
    let b = fx.binding_builder(&["Authorization"]);
    let t = fx.bound(&["Bearer user-1"]);
    let rows: &[(&str, Vec<(&str, &str)>, Result<(), Reason>)] = &[
        (
            "match",
            vec![("approov-token", &t), ("authorization", "Bearer user-1")],
            Ok(()),
        ),
        (
            "surrounding white space is trimmed",
            vec![
                ("approov-token", &t),
                ("authorization", " \tBearer user-1 "),
            ],
            Ok(()),
        ),
        (
            "other value",
            vec![("approov-token", &t), ("authorization", "Bearer user-2")],
            Err(Reason::Binding),
        ),
        (
            "case differs",
            vec![("approov-token", &t), ("authorization", "bearer user-1")],
            Err(Reason::Binding),
        ),
        (
            "inner white space differs",
            vec![("approov-token", &t), ("authorization", "Bearer  user-1")],
            Err(Reason::Binding),
        ),
        ("missing", vec![("approov-token", &t)], Err(Reason::Binding)),
        (
            "empty",
            vec![("approov-token", &t), ("authorization", "")],
            Err(Reason::Binding),
        ),
        (
            "repeated, same value",
            vec![
                ("approov-token", &t),
                ("authorization", "Bearer user-1"),
                ("authorization", "Bearer user-1"),
            ],
            Err(Reason::Binding),
        ),
        (
            "repeated, first matching",
            vec![
                ("approov-token", &t),
                ("authorization", "Bearer user-1"),
                ("authorization", "x"),
            ],
            Err(Reason::Binding),
        ),
    ];
    for (name, pairs, want) in rows {
        assert_check(&b, pairs, fx.t0, *want, name);
    }
    // An empty header value binds to sha256("") when the token says so.
    let empty = fx.bound(&[""]);
    assert_check(
        &b,
        &[("approov-token", &empty), ("authorization", "")],
        fx.t0,
        Ok(()),
        "empty bound value",
    );
}

#[test]
fn several_binding_headers_in_order() {
    let fx = Fx::new();
    let b = fx.binding_builder(&["authorization", "x-device", "x-session"]);
    let t = fx.bound(&["Bearer u", "dev-7", "s-1"]);
    let ok = [
        ("approov-token", t.as_str()),
        ("authorization", "Bearer u"),
        ("x-device", "dev-7"),
        ("x-session", "s-1"),
    ];
    assert_check(&b, &ok, fx.t0, Ok(()), "all present");
    // Header order in the request does not matter; configured order does.
    let shuffled = [ok[3], ok[0], ok[2], ok[1]];
    assert_check(&b, &shuffled, fx.t0, Ok(()), "request order");
    let wrong_order = fx.bound(&["dev-7", "Bearer u", "s-1"]);
    let mut pairs = ok;
    pairs[0].1 = &wrong_order;
    assert_check(
        &b,
        &pairs,
        fx.t0,
        Err(Reason::Binding),
        "pay over another order",
    );
    // Concatenation without separators: moving bytes between values is
    // invisible to the hash (this is Approov's definition, documented here).
    let moved = [
        ("approov-token", t.as_str()),
        ("authorization", "Bearer udev"),
        ("x-device", "-7"),
        ("x-session", "s-1"),
    ];
    assert_check(&b, &moved, fx.t0, Ok(()), "same concatenation");
    for skip in 1..4 {
        let pairs: Vec<_> = ok
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, p)| *p)
            .collect();
        assert_check(
            &b,
            &pairs,
            fx.t0,
            Err(Reason::Binding),
            &format!("{} missing", ok[skip].0),
        );
        let mut repeated = ok.to_vec();
        repeated.push(ok[skip]);
        assert_check(
            &b,
            &repeated,
            fx.t0,
            Err(Reason::Binding),
            &format!("{} repeated", ok[skip].0),
        );
    }
    // A token bound to fewer headers.
    let partial = fx.bound(&["Bearer u", "dev-7"]);
    let mut pairs = ok;
    pairs[0].1 = &partial;
    assert_check(
        &b,
        &pairs,
        fx.t0,
        Err(Reason::Binding),
        "pay over a prefix of the values",
    );
}

#[test]
fn pay_absent_or_unusable() {
    let fx = Fx::new();
    let strict = fx.binding_builder(&["authorization"]);
    let lenient = fx
        .binding_builder(&["authorization"])
        .allow_missing_pay(true);
    let req = |t: &str| {
        vec![
            ("approov-token", t.to_owned()),
            ("authorization", "Bearer u".to_owned()),
        ]
    };
    let hash = ring::digest::digest(&ring::digest::SHA256, b"Bearer u");
    let b64 = |e: &base64::engine::GeneralPurpose| e.encode(hash.as_ref());
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let rows: Vec<(&str, String, Result<(), Reason>, Result<(), Reason>)> = vec![
        // (name, token, strict, allow_missing_pay)
        ("no pay", fx.pay_token(None), Err(Reason::Binding), Ok(())),
        ("pay matches", fx.bound(&["Bearer u"]), Ok(()), Ok(())),
        (
            "pay for another value",
            fx.bound(&["Bearer v"]),
            Err(Reason::Binding),
            Err(Reason::Binding),
        ),
        (
            "pay empty",
            fx.pay_token(Some(json!(""))),
            Err(Reason::Binding),
            Err(Reason::Binding),
        ),
        (
            "pay not base64",
            fx.pay_token(Some(json!("not base64!"))),
            Err(Reason::Binding),
            Err(Reason::Binding),
        ),
        (
            "pay 31 bytes",
            fx.pay_token(Some(json!(STANDARD.encode(&hash.as_ref()[..31])))),
            Err(Reason::Binding),
            Err(Reason::Binding),
        ),
        (
            "pay 33 bytes",
            fx.pay_token(Some(json!(STANDARD.encode([hash.as_ref(), &[0]].concat())))),
            Err(Reason::Binding),
            Err(Reason::Binding),
        ),
        (
            "pay hex of the hash",
            fx.pay_token(Some(json!(hex(hash.as_ref())))),
            Err(Reason::Binding),
            Err(Reason::Binding),
        ),
        // The hash is what counts, whatever base64 spelling carries it.
        (
            "pay standard, padded",
            fx.pay_token(Some(json!(b64(&STANDARD)))),
            Ok(()),
            Ok(()),
        ),
        (
            "pay standard, unpadded",
            fx.pay_token(Some(json!(b64(&STANDARD_NO_PAD)))),
            Ok(()),
            Ok(()),
        ),
        (
            "pay url-safe, padded",
            fx.pay_token(Some(json!(b64(&URL_SAFE)))),
            Ok(()),
            Ok(()),
        ),
        (
            "pay url-safe, unpadded",
            fx.pay_token(Some(json!(b64(&URL_SAFE_NO_PAD)))),
            Ok(()),
            Ok(()),
        ),
    ];
    for (name, token, want_strict, want_lenient) in rows {
        let pairs = req(&token);
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_check(
            &strict,
            &pairs,
            fx.t0,
            want_strict,
            &format!("{name}, strict"),
        );
        assert_check(
            &lenient,
            &pairs,
            fx.t0,
            want_lenient,
            &format!("{name}, allow_missing_pay"),
        );
    }
    // allow_missing_pay does not excuse a missing binding header when the
    // token has a pay claim.
    let t = fx.bound(&["Bearer u"]);
    assert_check(
        &lenient,
        &[("approov-token", &t)],
        fx.t0,
        Err(Reason::Binding),
        "header missing, pay present",
    );
    // ...and a token without pay needs no header at all.
    let t = fx.pay_token(None);
    assert_check(
        &lenient,
        &[("approov-token", &t)],
        fx.t0,
        Ok(()),
        "header missing, pay absent",
    );
}

#[test]
fn without_binding_headers_pay_is_not_checked() {
    let fx = Fx::new();
    let b = Verifier::builder().secret_base64(&fx.secret_b64).unwrap();
    for t in [
        fx.pay_token(None),
        fx.bound(&["x"]),
        fx.pay_token(Some(json!("garbage"))),
    ] {
        assert_check(
            &b,
            &[("approov-token", &t), ("authorization", "y")],
            fx.t0,
            Ok(()),
            "no binding configured",
        );
    }
}

#[test]
fn binding_is_checked_on_every_cache_hit() {
    let fx = Fx::new();
    let v = fx.binding_builder(&["authorization"]).build().unwrap();
    let t = fx.bound(&["Bearer u"]);
    let good = header_map(&[("approov-token", &t), ("authorization", "Bearer u")]);
    let bad = header_map(&[("approov-token", &t), ("authorization", "Bearer v")]);
    let missing = header_map(&[("approov-token", &t)]);
    assert!(v.check_at(&good, fx.t0).is_ok());
    assert_eq!(v.cached_tokens(), 1);
    for _ in 0..3 {
        assert_eq!(v.check_at(&bad, fx.t0).err(), Some(Reason::Binding));
        assert_eq!(v.check_at(&missing, fx.t0).err(), Some(Reason::Binding));
        assert!(v.check_at(&good, fx.t0).is_ok());
    }
    // Cached by verify_token (no binding at all), then checked with headers.
    let v = fx.binding_builder(&["authorization"]).build().unwrap();
    let unbound = fx.pay_token(None);
    assert!(
        v.verify_token_at(&unbound, fx.t0).is_ok(),
        "verify_token checks no binding"
    );
    assert_eq!(v.cached_tokens(), 1);
    assert_eq!(
        v.check_at(
            &header_map(&[("approov-token", &unbound), ("authorization", "Bearer u")]),
            fx.t0
        )
        .err(),
        Some(Reason::Binding)
    );
}

#[test]
fn check_binding_values_uses_the_configured_order() {
    let fx = Fx::new();
    let v = fx
        .binding_builder(&["authorization", "x-device"])
        .build()
        .unwrap();
    let t = v
        .verify_token_at(&fx.bound(&["Bearer u", "dev"]), fx.t0)
        .unwrap();
    assert_eq!(v.check_binding_values(&t, &[b"Bearer u", b"dev"]), Ok(()));
    assert_eq!(
        v.check_binding_values(&t, &[b"  Bearer u ", b"dev\t"]),
        Ok(())
    );
    assert_eq!(
        v.check_binding_values(&t, &[b"dev", b"Bearer u"]),
        Err(Reason::Binding)
    );
    assert_eq!(
        v.check_binding_values(&t, &[b"Bearer u"]),
        Err(Reason::Binding)
    );
    assert_eq!(v.check_binding_values(&t, &[]), Err(Reason::Binding));
    let unbound = v.verify_token_at(&fx.pay_token(None), fx.t0).unwrap();
    assert_eq!(
        v.check_binding_values(&unbound, &[b"Bearer u", b"dev"]),
        Err(Reason::Binding)
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
