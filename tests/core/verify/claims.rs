//! Claims: `exp`/`nbf` at the leeway edges (injected clock), `iss`, `aud`,
//! maximum lifetime, and what a `VerifiedToken` gives back (and never
//! prints).

use std::time::Duration;

use attestgate::{Alg, Reason, VerifierBuilder};
use attestgate_testkit::forge::{self, segments};
use attestgate_testkit::tokens::HsFixture;
use serde_json::{Value, json};

type Fx = HsFixture;

/// Each check runs on a fresh verifier, with and without a cache, so that a
/// cached first answer cannot stand in for the second.
fn at(builder: &VerifierBuilder, token: &str, now: f64) -> [Result<(), Reason>; 2] {
    [0, 1000].map(|capacity| {
        builder
            .clone()
            .cache_capacity(capacity)
            .build()
            .unwrap()
            .verify_token_at(token, now)
            .map(drop)
    })
}

fn assert_at(
    builder: &VerifierBuilder,
    token: &str,
    now: f64,
    want: Result<(), Reason>,
    what: &str,
) {
    assert_eq!(at(builder, token, now), [want, want], "{what}");
}

#[test]
fn exp_is_valid_while_now_is_before_exp_plus_leeway() {
    let fx = Fx::new();
    let exp = fx.t0 + 100.0;
    let token = fx.token(json!({"exp": exp}));
    let ms = 0.001;
    for leeway in [0.0, 1.0, 30.0, 300.0] {
        let b = fx.builder().leeway(Duration::from_secs_f64(leeway));
        assert_at(&b, &token, fx.t0, Ok(()), "well before");
        assert_at(
            &b,
            &token,
            exp + leeway - ms,
            Ok(()),
            &format!("1 ms before exp + {leeway}"),
        );
        assert_at(
            &b,
            &token,
            exp + leeway,
            Err(Reason::Expired),
            &format!("at exp + {leeway}"),
        );
        assert_at(
            &b,
            &token,
            exp + leeway + ms,
            Err(Reason::Expired),
            &format!("1 ms after exp + {leeway}"),
        );
        assert_at(
            &b,
            &token,
            exp + leeway + 1e6,
            Err(Reason::Expired),
            "long after",
        );
    }
    // A fractional exp.
    let token = fx.token(json!({"exp": exp + 0.25}));
    let b = fx.builder();
    assert_at(&b, &token, exp + 0.24, Ok(()), "fractional exp, before");
    assert_at(
        &b,
        &token,
        exp + 0.25,
        Err(Reason::Expired),
        "fractional exp, at",
    );
}

#[test]
fn nbf_is_valid_from_nbf_minus_leeway() {
    let fx = Fx::new();
    let nbf = fx.t0 + 100.0;
    let token = fx.token(json!({"exp": nbf + 1000.0, "nbf": nbf}));
    let ms = 0.001;
    for leeway in [0.0, 1.0, 30.0] {
        let b = fx.builder().leeway(Duration::from_secs_f64(leeway));
        assert_at(
            &b,
            &token,
            nbf - leeway - ms,
            Err(Reason::NotYetValid),
            &format!("1 ms before nbf - {leeway}"),
        );
        assert_at(
            &b,
            &token,
            nbf - leeway,
            Ok(()),
            &format!("at nbf - {leeway}"),
        );
        assert_at(&b, &token, nbf, Ok(()), "at nbf");
        assert_at(
            &b,
            &token,
            fx.t0 - 1e6,
            Err(Reason::NotYetValid),
            "long before",
        );
    }
}

#[test]
fn expired_and_not_yet_valid_at_once_is_expired() {
    let fx = Fx::new();
    // nbf after exp: never valid.
    let token = fx.token(json!({"exp": fx.t0 + 10.0, "nbf": fx.t0 + 20.0}));
    let b = fx.builder();
    assert_at(&b, &token, fx.t0, Err(Reason::NotYetValid), "before both");
    assert_at(&b, &token, fx.t0 + 15.0, Err(Reason::Expired), "between");
    assert_at(&b, &token, fx.t0 + 25.0, Err(Reason::Expired), "after both");
}

#[test]
fn iat_in_the_future_is_not_checked() {
    // RFC 7519 does not make `iat` a validity bound, and neither do we
    // (only max_lifetime reads it).
    let fx = Fx::new();
    let token = fx.token(json!({"exp": fx.t0 + 100.0, "iat": fx.t0 + 50.0}));
    assert_at(&fx.builder(), &token, fx.t0, Ok(()), "iat ahead");
}

#[test]
fn issuer_must_match_exactly() {
    let fx = Fx::new();
    let b = fx.builder().issuer("https://approov.example");
    let exp = fx.t0 + 300.0;
    for (iss, want) in [
        (json!("https://approov.example"), Ok(())),
        (json!("https://approov.example/"), Err(Reason::Claims)),
        (json!("HTTPS://APPROOV.EXAMPLE"), Err(Reason::Claims)),
        (json!(""), Err(Reason::Claims)),
        (json!(["https://approov.example"]), Err(Reason::Claims)),
        (json!(null), Err(Reason::Claims)),
    ] {
        assert_at(
            &b,
            &fx.token(json!({"exp": exp, "iss": iss})),
            fx.t0,
            want,
            &format!("iss {iss}"),
        );
    }
    assert_at(
        &b,
        &fx.token(json!({"exp": exp})),
        fx.t0,
        Err(Reason::Claims),
        "iss missing",
    );
    // Not configured: any string iss passes.
    assert_at(
        &fx.builder(),
        &fx.token(json!({"exp": exp, "iss": "x"})),
        fx.t0,
        Ok(()),
        "no issuer rule",
    );
}

#[test]
fn audience_must_be_one_of_aud() {
    let fx = Fx::new();
    let b = fx.builder().audience("shapes-api");
    let exp = fx.t0 + 300.0;
    for (aud, want) in [
        (json!("shapes-api"), Ok(())),
        (json!(["other", "shapes-api"]), Ok(())),
        (json!(["shapes-api"]), Ok(())),
        (json!(["other"]), Err(Reason::Claims)),
        (json!([]), Err(Reason::Claims)),
        (json!("shapes-api2"), Err(Reason::Claims)),
        (json!("Shapes-Api"), Err(Reason::Claims)),
        (json!(["shapes-api", 1]), Err(Reason::Claims)),
        (json!({"aud": "shapes-api"}), Err(Reason::Claims)),
    ] {
        assert_at(
            &b,
            &fx.token(json!({"exp": exp, "aud": aud})),
            fx.t0,
            want,
            &format!("aud {aud}"),
        );
    }
    assert_at(
        &b,
        &fx.token(json!({"exp": exp})),
        fx.t0,
        Err(Reason::Claims),
        "aud missing",
    );
}

#[test]
fn max_lifetime_bounds_exp_minus_iat_and_exp_minus_now() {
    let fx = Fx::new();
    let t0 = fx.t0;
    let max = 3600.0;
    for leeway in [0.0, 10.0] {
        let b = fx
            .builder()
            .max_lifetime(Duration::from_secs_f64(max))
            .leeway(Duration::from_secs_f64(leeway));
        let cases = [
            ("iat + max", json!({"iat": t0, "exp": t0 + max}), Ok(())),
            (
                "iat + max + 1",
                json!({"iat": t0, "exp": t0 + max + 1.0}),
                Err(Reason::Claims),
            ),
            (
                "exp - iat over max, exp - now within",
                json!({"iat": t0 - 100.0, "exp": t0 + max}),
                Err(Reason::Claims),
            ),
            (
                "old iat, short time left",
                json!({"iat": t0 - 1000.0, "exp": t0 + 100.0}),
                Ok(()),
            ),
            ("no iat, now + max", json!({"exp": t0 + max}), Ok(())),
            (
                "no iat, now + max + leeway",
                json!({"exp": t0 + max + leeway}),
                Ok(()),
            ),
            (
                "no iat, now + max + leeway + 1",
                json!({"exp": t0 + max + leeway + 1.0}),
                Err(Reason::Claims),
            ),
            (
                "no iat, a year",
                json!({"exp": t0 + 365.0 * 86_400.0}),
                Err(Reason::Claims),
            ),
            // iat in the future cannot stretch the window either.
            (
                "future iat",
                json!({"iat": t0 + 7200.0, "exp": t0 + 7200.0 + max}),
                Err(Reason::Claims),
            ),
        ];
        for (name, claims, want) in cases {
            assert_at(
                &b,
                &fx.token(claims),
                t0,
                want,
                &format!("{name}, leeway {leeway}"),
            );
        }
    }
}

#[test]
fn verified_token_accessors() {
    let fx = Fx::new();
    let pay = attestgate::pay_claim(&["Bearer user-1"]);
    let claims = json!({
        "exp": fx.t0 + 300.0,
        "nbf": fx.t0 - 10.0,
        "iat": fx.t0 - 10.0,
        "ip": "203.0.113.7",
        "did": "ZmFrZS1kZXZpY2UtaWQtZm9yLXRlc3Rz",
        "pay": pay,
        "iss": "https://approov.example",
        "sub": "user-1",
        "aud": ["a", "b"],
        "arc": "ABCD",
        "nested": {"k": [1, 2]},
    });
    let token = fx.token(claims.clone());
    let v = fx
        .builder()
        .binding_headers(["authorization"])
        .build()
        .unwrap();
    let t = v
        .check_at(
            &forge::header_map(&[
                ("approov-token", &token),
                ("authorization", "Bearer user-1"),
            ]),
            fx.t0,
        )
        .unwrap();
    assert_eq!(t.exp(), fx.t0 + 300.0);
    assert_eq!(t.nbf(), Some(fx.t0 - 10.0));
    assert_eq!(t.iat(), Some(fx.t0 - 10.0));
    assert_eq!(t.ip(), Some("203.0.113.7"));
    assert_eq!(t.did(), Some("ZmFrZS1kZXZpY2UtaWQtZm9yLXRlc3Rz"));
    assert_eq!(t.pay(), Some(pay.as_str()));
    assert_eq!(t.iss(), Some("https://approov.example"));
    assert_eq!(t.sub(), Some("user-1"));
    assert_eq!(t.aud(), ["a".to_owned(), "b".to_owned()]);
    assert_eq!(t.alg(), Alg::HS256);
    assert_eq!(t.kid(), None);
    assert_eq!(t.claim("arc"), Some(json!("ABCD")));
    assert_eq!(t.claim("nested"), Some(json!({"k": [1, 2]})));
    assert_eq!(t.claim("nope"), None);
    assert_eq!(Value::Object(t.claims()), claims);
    assert_eq!(
        Value::Object(t.extra()),
        json!({"arc": "ABCD", "nested": {"k": [1, 2]}})
    );
    // The claims JSON is exactly what was signed.
    let (_, p64, _) = segments(&token);
    assert_eq!(t.claims_json().as_bytes(), forge::unb64url(&p64));

    // A single-string aud; absent claims; escapes decoded.
    let t = v
        .verify_token_at(
            &fx.token(json!({"exp": fx.t0 + 300.0, "aud": "one", "did": "a\"b\\u00e9\u{e9}"})),
            fx.t0,
        )
        .unwrap();
    assert_eq!(t.aud(), ["one".to_owned()]);
    assert_eq!(t.did(), Some("a\"b\\u00e9\u{e9}"));
    assert_eq!(
        (t.ip(), t.pay(), t.iss(), t.sub(), t.nbf(), t.iat()),
        (None, None, None, None, None, None)
    );
    assert!(t.extra().is_empty());
    let t = v
        .verify_token_at(&fx.token(json!({"exp": fx.t0 + 300.0})), fx.t0)
        .unwrap();
    assert!(t.aud().is_empty());
}

#[test]
fn verified_token_debug_never_contains_the_token() {
    let fx = Fx::new();
    let token = fx.token(json!({
        "exp": fx.t0 + 300.0,
        "did": "device-1",
        "pay": attestgate::pay_claim(&["x"]),
        "ip": "203.0.113.7",
    }));
    let v = fx.builder().build().unwrap();
    for t in [
        v.verify_token_at(&token, fx.t0).unwrap(),
        v.verify_token_at(&token, fx.t0).unwrap(),
    ] {
        let (h64, p64, s64) = segments(&token);
        for text in [format!("{t:?}"), format!("{t:#?}")] {
            assert!(text.contains("device-1"), "{text}");
            for part in [&token, &h64, &p64, &s64] {
                assert!(!text.contains(part.as_str()), "{text}");
            }
            // Nor any 20-character piece of it.
            for piece in token.as_bytes().windows(20) {
                assert!(
                    !text.contains(std::str::from_utf8(piece).unwrap()),
                    "{text}"
                );
            }
        }
    }
}
