//! Properties over generated input: random bytes never pass and never
//! panic; a valid token changed in any way never passes (cache on or off);
//! and for generated headers and claims signed with the real key, the
//! verifier agrees with a small model of the rules.

use std::sync::LazyLock;

use attestgate::mint;
use attestgate::{Alg, Reason, Verifier};
use attestgate_testkit::forge::{self, hmac_raw};
use attestgate_testkit::tokens::TestKeys;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

struct Setup {
    secret: Vec<u8>,
    t0: f64,
    /// One valid token per algorithm (HS256, ES256, RS256, EdDSA).
    tokens: Vec<String>,
    uncached: Verifier,
    /// Holds every token of `tokens` in its cache.
    cached: Verifier,
}

static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let keys = TestKeys::new();
    let t0 = attestgate_testkit::now() as f64;
    let claims = json!({
        "exp": t0 + 3600.0,
        "ip": "203.0.113.7",
        "did": "ZmFrZS1kZXZpY2UtaWQtZm9yLXRlc3Rz",
        "pay": attestgate::pay_claim(&["Bearer user-1"]),
    });
    // Payloads differ, so that splicing segments of two tokens never
    // rebuilds a valid one.
    let with = |n: u8| {
        let mut c = claims.clone();
        c["n"] = n.into();
        c
    };
    let tokens = vec![
        mint::mint(&keys.hs, None, &with(0)).unwrap(),
        mint::mint(&keys.es, Some("es-1"), &with(1)).unwrap(),
        mint::mint(&keys.rs, Some("rs-1"), &with(2)).unwrap(),
        mint::mint(&keys.ed, Some("ed-1"), &with(3)).unwrap(),
    ];
    let builder = Verifier::builder()
        .secret_base64(&keys.secret_b64)
        .unwrap()
        .jwks_json(keys.jwks().to_string())
        .algorithms([Alg::HS256, Alg::ES256, Alg::RS256, Alg::EdDSA]);
    let uncached = builder.clone().cache_capacity(0).build().unwrap();
    let cached = builder.build().unwrap();
    for t in &tokens {
        assert!(uncached.verify_token_at(t, t0).is_ok());
        assert!(cached.verify_token_at(t, t0).is_ok());
    }
    Setup {
        secret: forge::secret_bytes(&keys.secret_b64),
        t0,
        tokens,
        uncached,
        cached,
    }
});

/// Runs `token` through both verifiers, bare and in the token header.
fn all_results(token: &[u8]) -> Vec<Result<(), Reason>> {
    let s = &*SETUP;
    let mut out = Vec::new();
    let text = String::from_utf8_lossy(token);
    for v in [&s.uncached, &s.cached] {
        out.push(v.verify_token_at(&text, s.t0).map(drop));
        if let Ok(value) = http::HeaderValue::from_bytes(token) {
            let mut h = http::HeaderMap::new();
            h.insert("approov-token", value);
            out.push(v.check_at(&h, s.t0).map(drop));
        }
    }
    out
}

#[derive(Clone, Debug)]
enum Mutation {
    FlipBit(usize, u8),
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    Append(Vec<u8>),
    SwapSegments(usize, usize),
    DuplicateSegment(usize),
    /// Put segment `i` of another algorithm's token in place of ours.
    Splice(usize, usize),
}

/// Bytes a mutation inserts: the token alphabet and its near misses.
fn token_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => proptest::sample::select(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".to_vec()),
        1 => proptest::sample::select(b".=+/ ,\t\"{}".to_vec()),
        1 => any::<u8>(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let pos = any::<prop::sample::Index>().prop_map(|i| i.index(usize::MAX));
    prop_oneof![
        4 => (pos.clone(), 0u8..8).prop_map(|(p, b)| Mutation::FlipBit(p, b)),
        4 => (pos.clone(), token_byte()).prop_map(|(p, c)| Mutation::Replace(p, c)),
        2 => (pos.clone(), token_byte()).prop_map(|(p, c)| Mutation::Insert(p, c)),
        2 => pos.clone().prop_map(Mutation::Delete),
        1 => pos.clone().prop_map(Mutation::Truncate),
        1 => proptest::collection::vec(token_byte(), 1..8).prop_map(Mutation::Append),
        1 => (0usize..3, 0usize..3).prop_map(|(a, b)| Mutation::SwapSegments(a, b)),
        1 => (0usize..3).prop_map(Mutation::DuplicateSegment),
        1 => (0usize..3, 0usize..4).prop_map(|(seg, other)| Mutation::Splice(seg, other)),
    ]
}

fn apply(token: &mut Vec<u8>, m: &Mutation, others: &[String]) {
    let len = token.len();
    let at = |p: usize, n: usize| if n == 0 { 0 } else { p % n };
    match m {
        Mutation::FlipBit(p, b) if len > 0 => token[at(*p, len)] ^= 1 << b,
        Mutation::Replace(p, c) if len > 0 => token[at(*p, len)] = *c,
        Mutation::Insert(p, c) => token.insert(at(*p, len + 1), *c),
        Mutation::Delete(p) if len > 0 => {
            token.remove(at(*p, len));
        }
        Mutation::Truncate(p) => token.truncate(at(*p, len + 1)),
        Mutation::Append(bytes) => token.extend_from_slice(bytes),
        Mutation::SwapSegments(a, b) => {
            let mut parts: Vec<Vec<u8>> = token.split(|c| *c == b'.').map(<[u8]>::to_vec).collect();
            let n = parts.len();
            if n > 1 {
                parts.swap(a % n, b % n);
            }
            *token = parts.join(&b'.');
        }
        Mutation::DuplicateSegment(a) => {
            let mut parts: Vec<Vec<u8>> = token.split(|c| *c == b'.').map(<[u8]>::to_vec).collect();
            let i = a % parts.len();
            let dup = parts[i].clone();
            parts.insert(i, dup);
            *token = parts.join(&b'.');
        }
        Mutation::Splice(seg, other) => {
            let mut parts: Vec<Vec<u8>> = token.split(|c| *c == b'.').map(<[u8]>::to_vec).collect();
            let donor: Vec<&[u8]> = others[other % others.len()]
                .as_bytes()
                .split(|c| *c == b'.')
                .collect();
            let i = seg % parts.len();
            parts[i] = donor[seg % donor.len()].to_vec();
            *token = parts.join(&b'.');
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_pass(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        for r in all_results(&bytes) {
            prop_assert!(r.is_err());
        }
    }

    #[test]
    fn random_token_shaped_text_never_passes(
        text in "[A-Za-z0-9_-]{0,80}(\\.[A-Za-z0-9_=-]{0,120}){0,4}",
    ) {
        for r in all_results(text.as_bytes()) {
            prop_assert!(r.is_err());
        }
    }

    #[test]
    fn a_changed_token_never_passes(
        which in 0usize..4,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let s = &*SETUP;
        let original = s.tokens[which].as_bytes();
        let mut token = original.to_vec();
        for m in &mutations {
            apply(&mut token, m, &s.tokens);
        }
        // A mutation that gives the same bytes back is no mutation (nor one
        // that rebuilds another of the valid tokens).
        prop_assume!(token != original);
        prop_assume!(!s.tokens.iter().any(|t| t.as_bytes() == token));
        for r in all_results(&token) {
            prop_assert!(r.is_err(), "{:?} passed", String::from_utf8_lossy(&token));
        }
    }
}

// ------------------------------------------------------------ a model of the rules

fn json_value() -> impl Strategy<Value = Value> {
    let t0 = SETUP.t0 as i64;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (t0 - 100..t0 + 100).prop_map(|n| json!(n)),
        (-1e12f64..1e12).prop_map(|f| json!(f)),
        (t0 as f64 - 100.0..t0 as f64 + 100.0).prop_map(|f| json!(f)),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-zA-Z0-9 é\"\\\\]{0,12}".prop_map(Value::String),
        Just(json!("HS256")),
        Just(json!("ES256")),
        Just(json!("none")),
        Just(json!("JWT")),
        Just(json!("jwt")),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec("[a-z]{1,3}", 0..4).prop_map(|v| json!(v)),
            proptest::collection::btree_map("[a-z]{1,3}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object(names: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::btree_map(
        proptest::sample::select(names),
        json_value(),
        0..names.len(),
    )
    .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// What the rules say about a header.
fn expected_header(h: &Map<String, Value>) -> Result<(), Reason> {
    if h.contains_key("crit") {
        return Err(Reason::Malformed);
    }
    match h.get("typ") {
        None => {}
        Some(Value::String(t)) if t.eq_ignore_ascii_case("jwt") => {}
        Some(_) => return Err(Reason::Malformed),
    }
    if h.get("kid").is_some_and(|k| !k.is_string()) {
        return Err(Reason::Malformed);
    }
    match h.get("alg") {
        Some(Value::String(a)) if a == "HS256" => Ok(()),
        // Another allowed algorithm: an HMAC never verifies as one. Without
        // kid the JWKS key is tried; a kid names nothing, and the catch-all
        // (the secret) is of another family.
        Some(Value::String(a)) if ["ES256", "RS256", "EdDSA"].contains(&a.as_str()) => {
            if h.contains_key("kid") {
                Err(Reason::UnknownKey)
            } else {
                Err(Reason::BadSignature)
            }
        }
        Some(Value::String(_)) => Err(Reason::Algorithm),
        _ => Err(Reason::Malformed),
    }
}

/// What the rules say about claims at `now` (leeway 0, no iss/aud/lifetime).
fn expected_claims(c: &Map<String, Value>, now: f64) -> Result<(), Reason> {
    let wrong = |name: &str, v: &Value| match name {
        "exp" | "nbf" | "iat" => !v.is_number(),
        "iss" | "sub" | "ip" | "did" | "pay" => !v.is_string(),
        "aud" => !(v.is_string() || v.as_array().is_some_and(|a| a.iter().all(Value::is_string))),
        _ => false,
    };
    if c.iter().any(|(k, v)| wrong(k, v)) {
        return Err(Reason::Claims);
    }
    let Some(exp) = c.get("exp").and_then(Value::as_f64) else {
        return Err(Reason::Claims);
    };
    if now >= exp {
        return Err(Reason::Expired);
    }
    if c.get("nbf")
        .and_then(Value::as_f64)
        .is_some_and(|nbf| now < nbf)
    {
        return Err(Reason::NotYetValid);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Headers signed with the real secret: the verifier agrees with
    /// `expected_header` (a `kid` that names nothing falls back to the
    /// secret, which has none).
    #[test]
    fn headers_follow_the_rules(header in object(&["alg", "typ", "kid", "crit", "x5u", "jwk"])) {
        let s = &*SETUP;
        let claims = json!({"exp": s.t0 + 60.0});
        let token = hmac_raw(&s.secret, Value::Object(header.clone()).to_string().as_bytes(), claims.to_string().as_bytes());
        let want = expected_header(&header);
        for v in [&s.uncached, &s.cached] {
            prop_assert_eq!(v.verify_token_at(&token, s.t0).map(drop), want, "header {}", Value::Object(header.clone()));
        }
    }

    /// Claims signed with the real secret: the verifier agrees with
    /// `expected_claims`, and a pass gives the claims back unchanged.
    #[test]
    fn claims_follow_the_rules(claims in object(&["exp", "nbf", "iat", "iss", "sub", "aud", "ip", "did", "pay", "x"])) {
        let s = &*SETUP;
        let text = Value::Object(claims.clone()).to_string();
        let token = hmac_raw(&s.secret, br#"{"alg":"HS256","typ":"JWT"}"#, text.as_bytes());
        let want = expected_claims(&claims, s.t0);
        for v in [&s.uncached, &s.cached] {
            let got = v.verify_token_at(&token, s.t0);
            prop_assert_eq!(got.as_ref().map(drop).map_err(|r| *r), want, "claims {}", text);
            if let Ok(t) = got {
                prop_assert_eq!(t.claims_json(), text.as_str());
                prop_assert_eq!(&t.claims(), &claims);
                prop_assert_eq!(Some(t.exp()), claims["exp"].as_f64());
            }
        }
    }

    /// Any payload bytes signed with the real secret: no panic, and a pass
    /// only for a JSON object with a numeric `exp` ahead of now.
    #[test]
    fn signed_arbitrary_payloads(payload in proptest::collection::vec(any::<u8>(), 0..300)) {
        let s = &*SETUP;
        let token = hmac_raw(&s.secret, br#"{"alg":"HS256"}"#, &payload);
        for v in [&s.uncached, &s.cached] {
            if v.verify_token_at(&token, s.t0).is_ok() {
                let obj: Map<String, Value> = serde_json::from_slice(&payload).unwrap();
                prop_assert!(obj["exp"].as_f64().unwrap() > s.t0);
            }
        }
    }
}
