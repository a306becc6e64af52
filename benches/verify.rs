//! The core verifier's cost per token, and the floor it is measured against.
//!
//! ```text
//! cargo bench -p attestgate --bench verify
//! ```
//!
//! The token is Approov-shaped: header `{"alg":"HS256","typ":"JWT"}`, claims
//! `exp`, `ip`, `did` (32 base64 characters) and `pay` (base64 of a
//! SHA-256), 256 bytes in all. The asymmetric tokens carry the same claims
//! and a `kid`.
//!
//! - `accept/*_uncached`: a passing token, cache off (`cache_capacity(0)`),
//!   through `verify_token` (no header) and, for HS256, through `check`
//!   (token header and one binding header).
//! - `accept/cache_hit_*`: the same HS256 token, cache warm: bare
//!   (`verify_token`), through `check` with the binding header hashed, and
//!   through `check` with no binding configured.
//! - `reject/*`: malformed, bad signature, unknown kid, expired (cache off).
//! - `floor/hs256_*`: what any HS256 check must do, measured in the same run:
//!   split the token, base64url-decode signature and payload, ring's
//!   `hmac::verify` over the signing input, and parse the claims with
//!   serde_json into a plain `#[derive(Deserialize)]` struct of owned
//!   fields (`floor/hs256_struct`) or into a `serde_json::Value`
//!   (`floor/hs256_value`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use attestgate::mint;
use attestgate::{Alg, Reason, Verifier};
use attestgate_testkit::tokens::TestKeys;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};

const BOUND: &str = "Bearer 6f1e0c2a-user";

fn now() -> u64 {
    attestgate_testkit::now()
}

fn approov_claims(exp: u64) -> Value {
    json!({
        "exp": exp,
        "ip": "203.0.113.7",
        "did": "ZmFrZS1kZXZpY2UtaWQtZm9yLXRlc3Rz",
        "pay": attestgate::pay_claim(&[BOUND]),
    })
}

/// The floor's claims: a plain derive, owned fields.
#[derive(Deserialize)]
#[allow(dead_code)]
struct FloorClaims {
    exp: u64,
    ip: String,
    did: String,
    pay: String,
}

fn floor_split(token: &str) -> (&[u8], &str, &str) {
    let (input, s64) = token.rsplit_once('.').unwrap();
    let (_, p64) = input.split_once('.').unwrap();
    (input.as_bytes(), p64, s64)
}

fn floor_struct(key: &ring::hmac::Key, token: &str) -> FloorClaims {
    let (input, p64, s64) = floor_split(token);
    let sig = URL_SAFE_NO_PAD.decode(s64).unwrap();
    ring::hmac::verify(key, input, &sig).unwrap();
    let payload = URL_SAFE_NO_PAD.decode(p64).unwrap();
    serde_json::from_slice(&payload).unwrap()
}

fn floor_value(key: &ring::hmac::Key, token: &str) -> Value {
    let (input, p64, s64) = floor_split(token);
    let sig = URL_SAFE_NO_PAD.decode(s64).unwrap();
    ring::hmac::verify(key, input, &sig).unwrap();
    let payload = URL_SAFE_NO_PAD.decode(p64).unwrap();
    serde_json::from_slice(&payload).unwrap()
}

fn headers(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("approov-token", HeaderValue::from_str(token).unwrap());
    h.insert("authorization", HeaderValue::from_static(BOUND));
    h
}

fn benches(c: &mut Criterion) {
    let keys = TestKeys::new();
    let exp = now() + 24 * 3600;
    let claims = approov_claims(exp);
    let hs = mint::mint(&keys.hs, None, &claims).unwrap();
    assert!((190..=260).contains(&hs.len()), "{} bytes", hs.len());
    let es = mint::mint(&keys.es, Some("es-1"), &claims).unwrap();
    let rs = mint::mint(&keys.rs, Some("rs-1"), &claims).unwrap();
    let ed = mint::mint(&keys.ed, Some("ed-1"), &claims).unwrap();

    let builder = Verifier::builder()
        .secret_base64(&keys.secret_b64)
        .unwrap()
        .jwks_json(keys.jwks().to_string())
        .algorithms([Alg::HS256, Alg::ES256, Alg::RS256, Alg::EdDSA])
        .binding_headers(["authorization"]);
    let uncached = builder.clone().cache_capacity(0).build().unwrap();
    let cached = builder.build().unwrap();
    let hs_only = Verifier::builder()
        .secret_base64(&keys.secret_b64)
        .unwrap()
        .binding_headers(["authorization"])
        .cache_capacity(0)
        .build()
        .unwrap();

    let hs_headers = headers(&hs);
    for t in [&hs, &es, &rs, &ed] {
        assert!(uncached.verify_token(t).is_ok());
        assert!(uncached.check(&headers(t)).is_ok());
    }

    let mut g = c.benchmark_group("accept");
    g.bench_function("hs256_uncached", |b| {
        b.iter(|| uncached.verify_token(black_box(&hs)).unwrap())
    });
    g.bench_function("hs256_uncached_hs_only_keyset", |b| {
        b.iter(|| hs_only.verify_token(black_box(&hs)).unwrap())
    });
    g.bench_function("hs256_uncached_check", |b| {
        b.iter(|| uncached.check(black_box(&hs_headers)).unwrap())
    });
    g.bench_function("es256_uncached", |b| {
        b.iter(|| uncached.verify_token(black_box(&es)).unwrap())
    });
    g.bench_function("rs256_uncached", |b| {
        b.iter(|| uncached.verify_token(black_box(&rs)).unwrap())
    });
    g.bench_function("eddsa_uncached", |b| {
        b.iter(|| uncached.verify_token(black_box(&ed)).unwrap())
    });
    assert!(cached.verify_token(&hs).is_ok());
    g.bench_function("cache_hit_verify_token", |b| {
        b.iter(|| cached.verify_token(black_box(&hs)).unwrap())
    });
    g.bench_function("cache_hit_check", |b| {
        b.iter(|| cached.check(black_box(&hs_headers)).unwrap())
    });
    let no_binding = Verifier::builder()
        .secret_base64(&keys.secret_b64)
        .unwrap()
        .build()
        .unwrap();
    assert!(no_binding.verify_token(&hs).is_ok());
    g.bench_function("cache_hit_check_no_binding", |b| {
        b.iter(|| no_binding.check(black_box(&hs_headers)).unwrap())
    });
    g.finish();

    let (h64, p64, s64) = {
        let p: Vec<&str> = hs.split('.').collect();
        (p[0], p[1], p[2])
    };
    let malformed = format!("{h64}.{p64}");
    let mut sig = URL_SAFE_NO_PAD.decode(s64).unwrap();
    sig[0] ^= 1;
    let bad_signature = format!("{h64}.{p64}.{}", URL_SAFE_NO_PAD.encode(&sig));
    let unknown_kid = mint::mint(&keys.es, Some("es-unknown"), &claims).unwrap();
    let expired = mint::mint(&keys.hs, None, &approov_claims(now() - 60)).unwrap();
    let expect = |t: &str, r: Reason| assert_eq!(uncached.verify_token(t).err(), Some(r));
    expect(&malformed, Reason::Malformed);
    expect(&bad_signature, Reason::BadSignature);
    expect(&unknown_kid, Reason::UnknownKey);
    expect(&expired, Reason::Expired);

    let mut g = c.benchmark_group("reject");
    for (name, token) in [
        ("malformed", &malformed),
        ("bad_signature", &bad_signature),
        ("unknown_kid", &unknown_kid),
        ("expired", &expired),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| uncached.verify_token(black_box(token)).unwrap_err())
        });
    }
    g.finish();

    let secret = base64::engine::general_purpose::STANDARD
        .decode(&keys.secret_b64)
        .unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
    assert_eq!(floor_struct(&key, &hs).exp, exp);
    assert_eq!(floor_value(&key, &hs)["exp"], json!(exp));
    let mut g = c.benchmark_group("floor");
    g.bench_function("hs256_struct", |b| {
        b.iter(|| floor_struct(&key, black_box(&hs)))
    });
    g.bench_function("hs256_value", |b| {
        b.iter(|| floor_value(&key, black_box(&hs)))
    });
    g.finish();
}

criterion_group!(verify, benches);
criterion_main!(verify);
