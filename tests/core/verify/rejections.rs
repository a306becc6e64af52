//! One table, every rejection reason: each row is a request (or a bare
//! token) and the exact result the core must give. Rows that pass are in the
//! table too, so a verifier that refused everything would fail it.
//!
//! Every token row runs four ways: `verify_token_at` and `check_at` (token in
//! the header), each with the cache off and on. The clock is injected (`t0`),
//! so nothing here depends on when it runs.

use std::collections::BTreeSet;

use attestgate::mint::{self, SigningKey};
use attestgate::{Alg, Reason, Verifier, VerifierBuilder};
use attestgate_testkit::forge::{self, b64url, hmac_raw, hmac_text, segments};
use attestgate_testkit::tokens::TestKeys;
use serde_json::{Value, json};

/// Which verifier configuration a row runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Deploy {
    /// HS256 secret (no kid) + JWKS {es-1, rs-1, ed-1}; HS256, ES256, RS256,
    /// EdDSA allowed.
    Mixed,
    /// One HS256 secret, default allow-list (HS256 only).
    HsOnly,
    /// `Mixed` plus binding header `authorization`.
    Bound,
    /// A JWKS URL that has never answered: no key loaded.
    NoKeys,
}

enum Input {
    /// A bare token: through `verify_token_at`, and in the token header
    /// through `check_at` when it is a valid header value.
    Token(String),
    /// Request headers, through `check_at` only.
    Headers(http::HeaderMap),
}

struct Row {
    name: String,
    deploy: Deploy,
    input: Input,
    want: Result<(), Reason>,
}

struct Rig {
    keys: TestKeys,
    secret: Vec<u8>,
    t0: u64,
    rows: Vec<Row>,
}

const BOUND: &str = "Bearer user-1";

impl Rig {
    fn new() -> Rig {
        let keys = TestKeys::new();
        let secret = forge::secret_bytes(&keys.secret_b64);
        Rig {
            keys,
            secret,
            t0: attestgate_testkit::now(),
            rows: Vec::new(),
        }
    }

    fn builder(&self, deploy: Deploy) -> VerifierBuilder {
        let mixed = || {
            Verifier::builder()
                .secret_base64(&self.keys.secret_b64)
                .unwrap()
                .jwks_json(self.keys.jwks().to_string())
                .algorithms([Alg::HS256, Alg::ES256, Alg::RS256, Alg::EdDSA])
        };
        match deploy {
            Deploy::Mixed => mixed(),
            Deploy::HsOnly => Verifier::builder()
                .secret_base64(&self.keys.secret_b64)
                .unwrap(),
            Deploy::Bound => mixed().binding_headers(["authorization"]),
            // Port 9 (discard) on loopback: nothing is fetched at build time.
            Deploy::NoKeys => Verifier::builder().jwks_url("http://127.0.0.1:9/jwks.json"),
        }
    }

    /// Approov-like claims valid at `t0`, merged with `extra` (a `null`
    /// member removes the claim).
    fn claims(&self, extra: Value) -> Value {
        let mut c = json!({
            "exp": self.t0 + 300,
            "ip": "203.0.113.7",
            "did": "ZmFrZS1kZXZpY2UtaWQtZm9yLXRlc3Rz",
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() && k.starts_with('-') {
                c.as_object_mut().unwrap().remove(&k[1..]);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    fn hs(&self, extra: Value) -> String {
        mint::mint(&self.keys.hs, None, &self.claims(extra)).unwrap()
    }

    fn es(&self, extra: Value) -> String {
        mint::mint(&self.keys.es, Some("es-1"), &self.claims(extra)).unwrap()
    }

    /// HS256 over raw header and payload JSON text, keyed with the secret.
    fn hs_raw(&self, header: &str, payload: &str) -> String {
        hmac_raw(&self.secret, header.as_bytes(), payload.as_bytes())
    }

    /// HS256 with the standard header over raw payload bytes.
    fn hs_payload(&self, payload: &[u8]) -> String {
        hmac_raw(&self.secret, br#"{"alg":"HS256","typ":"JWT"}"#, payload)
    }

    fn add(
        &mut self,
        name: impl Into<String>,
        deploy: Deploy,
        input: Input,
        want: Result<(), Reason>,
    ) {
        self.rows.push(Row {
            name: name.into(),
            deploy,
            input,
            want,
        });
    }

    fn token(&mut self, name: impl Into<String>, token: String, want: Result<(), Reason>) {
        self.add(name, Deploy::Mixed, Input::Token(token), want);
    }

    fn token_on(
        &mut self,
        name: impl Into<String>,
        deploy: Deploy,
        token: String,
        want: Result<(), Reason>,
    ) {
        // `verify_token_at` checks no binding: bound rows give headers.
        assert_ne!(deploy, Deploy::Bound);
        self.add(name, deploy, Input::Token(token), want);
    }

    fn headers(
        &mut self,
        name: impl Into<String>,
        deploy: Deploy,
        pairs: &[(&str, &str)],
        want: Result<(), Reason>,
    ) {
        self.add(name, deploy, Input::Headers(forge::header_map(pairs)), want);
    }

    /// Runs every row four ways; returns the failures, one line each.
    fn run(&self) -> Vec<String> {
        let now = self.t0 as f64;
        let mut failures = Vec::new();
        for deploy in [Deploy::Mixed, Deploy::HsOnly, Deploy::Bound, Deploy::NoKeys] {
            for capacity in [0, 1000] {
                let v = self
                    .builder(deploy)
                    .cache_capacity(capacity)
                    .build()
                    .unwrap();
                for row in self.rows.iter().filter(|r| r.deploy == deploy) {
                    let mut got = Vec::new();
                    match &row.input {
                        Input::Token(t) => {
                            got.push(("verify_token_at", v.verify_token_at(t, now).map(drop)));
                            if let Ok(value) = http::HeaderValue::from_str(t) {
                                let mut h = http::HeaderMap::new();
                                h.insert("approov-token", value);
                                got.push(("check_at", v.check_at(&h, now).map(drop)));
                            }
                        }
                        Input::Headers(h) => got.push(("check_at", v.check_at(h, now).map(drop))),
                    }
                    for (how, result) in got {
                        if result != row.want {
                            failures.push(format!(
                                "{:?}/cache {capacity}/{how}: {:?}: got {result:?}, want {:?}",
                                deploy, row.name, row.want
                            ));
                        }
                    }
                }
            }
        }
        failures
    }
}

/// Replaces the last character of a base64url segment by one that decodes
/// to the same bytes under a lenient decoder but sets unused low bits, so
/// only a canonical-encoding check can refuse it.
fn non_canonical(segment: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    assert_ne!(
        segment.len() % 4,
        0,
        "a full last quantum has no unused bits"
    );
    let last = *segment.as_bytes().last().unwrap();
    let idx = ALPHABET.iter().position(|c| *c == last).unwrap();
    let replaced = ALPHABET[idx | 1];
    assert_ne!(replaced, last);
    format!("{}{}", &segment[..segment.len() - 1], replaced as char)
}

fn padded(segment: &str) -> String {
    let pad = (4 - segment.len() % 4) % 4;
    assert!(pad > 0, "segment needs no padding");
    format!("{segment}{}", "=".repeat(pad))
}

fn build_table() -> Rig {
    use Deploy::*;
    let mut r = Rig::new();
    let t0 = r.t0;
    let good_hs = r.hs(json!({}));
    let (h64, p64, s64) = segments(&good_hs);
    let good_es = r.es(json!({}));
    let (eh64, ep64, es64) = segments(&good_es);
    let es_sig = forge::unb64url(&es64);
    let good_rs = mint::mint(&r.keys.rs, Some("rs-1"), &r.claims(json!({}))).unwrap();
    let good_ed = mint::mint(&r.keys.ed, Some("ed-1"), &r.claims(json!({}))).unwrap();

    // ---------------------------------------------------------- passing rows
    r.token("hs256", good_hs.clone(), Ok(()));
    r.token_on(
        "hs256 on the HS-only deployment",
        HsOnly,
        good_hs.clone(),
        Ok(()),
    );
    r.token("es256", good_es.clone(), Ok(()));
    r.token("rs256", good_rs.clone(), Ok(()));
    r.token("eddsa", good_ed.clone(), Ok(()));
    r.token(
        "es256 without kid (every key may be tried)",
        mint::mint(&r.keys.es, None, &r.claims(json!({}))).unwrap(),
        Ok(()),
    );
    r.token(
        "typ absent",
        r.hs_raw(r#"{"alg":"HS256"}"#, &r.claims(json!({})).to_string()),
        Ok(()),
    );
    r.token(
        "typ in lower case",
        r.hs_raw(
            r#"{"alg":"HS256","typ":"jwt"}"#,
            &r.claims(json!({})).to_string(),
        ),
        Ok(()),
    );
    r.token(
        "unknown header members are ignored",
        r.hs_raw(
            r#"{"alg":"HS256","typ":"JWT","x5u":"https://evil.example/k","x-custom":{"a":[1,2]}}"#,
            &r.claims(json!({})).to_string(),
        ),
        Ok(()),
    );
    r.token(
        "exp as a float",
        r.hs(json!({"exp": t0 as f64 + 0.5})),
        Ok(()),
    );
    r.token(
        "unknown claims of any type",
        r.hs(json!({"x": [1, {"y": null}], "z": false, "cnf": {"jkt": "abc"}})),
        Ok(()),
    );
    r.token("exp one second ahead", r.hs(json!({"exp": t0 + 1})), Ok(()));
    r.token("nbf now", r.hs(json!({"nbf": t0})), Ok(()));
    r.token(
        "100 nested arrays in an unknown claim",
        r.hs(json!({"deep": serde_json::from_str::<Value>(&format!("{}{}", "[".repeat(100), "]".repeat(100))).unwrap()})),
        Ok(()),
    );
    let bound_ok = r.hs(json!({"pay": attestgate::pay_claim(&[BOUND])}));
    r.headers(
        "bound token",
        Bound,
        &[("approov-token", &bound_ok), ("authorization", BOUND)],
        Ok(()),
    );

    // ---------------------------------------------------------- step 1: extraction
    r.headers(
        "no token header",
        Mixed,
        &[("authorization", "x")],
        Err(Reason::Missing),
    );
    r.headers(
        "empty token header",
        Mixed,
        &[("approov-token", "")],
        Err(Reason::Missing),
    );
    for word in [
        "NO_NETWORK",
        "MITM_DETECTED",
        "POOR_NETWORK",
        "UNKNOWN_URL",
        "NO_APPROOV_SERVICE",
    ] {
        r.headers(
            format!("SDK status {word}"),
            Mixed,
            &[("approov-token", word)],
            Err(Reason::SdkStatus),
        );
    }
    r.headers(
        "token header repeated (same token twice)",
        Mixed,
        &[("approov-token", &good_hs), ("approov-token", &good_hs)],
        Err(Reason::Malformed),
    );
    r.headers(
        "two tokens joined by a comma",
        Mixed,
        &[("approov-token", &format!("{good_hs}, {good_es}"))],
        Err(Reason::Malformed),
    );
    r.headers(
        "two tokens joined by a bare comma",
        Mixed,
        &[("approov-token", &format!("{good_hs},{good_hs}"))],
        Err(Reason::Malformed),
    );
    r.headers(
        "token preceded by a space inside the value",
        Mixed,
        &[("approov-token", &format!("x {good_hs}"))],
        Err(Reason::Malformed),
    );
    let mut obs = http::HeaderMap::new();
    obs.insert(
        "approov-token",
        http::HeaderValue::from_bytes(format!("{good_hs}\u{e9}").as_bytes()).unwrap(),
    );
    r.add(
        "non-ASCII byte in the header",
        Mixed,
        Input::Headers(obs),
        Err(Reason::Malformed),
    );
    let big = r.hs(json!({"pad": "x".repeat(8 * 1024)}));
    assert!(big.len() > attestgate::DEFAULT_MAX_TOKEN_BYTES);
    r.token(
        "oversize token (valid signature)",
        big,
        Err(Reason::Malformed),
    );

    // ---------------------------------------------------------- structure
    r.token(
        "two segments",
        format!("{h64}.{p64}"),
        Err(Reason::Malformed),
    );
    r.token(
        "four segments",
        format!("{good_hs}.{s64}"),
        Err(Reason::Malformed),
    );
    r.token(
        "four segments, empty last",
        format!("{good_hs}."),
        Err(Reason::Malformed),
    );
    r.token("one segment", h64.clone(), Err(Reason::Malformed));
    r.token("only dots", "..".into(), Err(Reason::Malformed));
    r.token(
        "empty header segment",
        format!(".{p64}.{s64}"),
        Err(Reason::Malformed),
    );
    r.token(
        "empty payload segment",
        hmac_text(&r.secret, &h64, ""),
        Err(Reason::Malformed),
    );
    r.token(
        "JWE-shaped (five segments)",
        format!("{h64}.{p64}.{s64}.{s64}.{s64}"),
        Err(Reason::Malformed),
    );
    // Padding and non-canonical encodings, each re-signed over the exact
    // text so that only the encoding rule can refuse it.
    let odd_header = r#"{"alg":"HS256","typ":"JWT"} "#; // 28 bytes: needs "=="
    let odd_payload = format!("{} ", r.claims(json!({})));
    let (oh64, op64) = (b64url(odd_header), b64url(&odd_payload));
    assert!(
        oh64.len() % 4 != 0 && op64.len() % 4 != 0,
        "pick lengths that need padding"
    );
    r.token(
        "control: unpadded odd-length segments",
        hmac_text(&r.secret, &oh64, &op64),
        Ok(()),
    );
    r.token(
        "padded header (re-signed)",
        hmac_text(&r.secret, &padded(&oh64), &op64),
        Err(Reason::Malformed),
    );
    r.token(
        "padded payload (re-signed)",
        hmac_text(&r.secret, &oh64, &padded(&op64)),
        Err(Reason::Malformed),
    );
    r.token(
        "padded signature",
        format!("{h64}.{p64}.{}", padded(&s64)),
        Err(Reason::Malformed),
    );
    r.token(
        "non-canonical header (re-signed)",
        hmac_text(&r.secret, &non_canonical(&oh64), &op64),
        Err(Reason::Malformed),
    );
    r.token(
        "non-canonical payload (re-signed)",
        hmac_text(&r.secret, &oh64, &non_canonical(&op64)),
        Err(Reason::Malformed),
    );
    r.token(
        "non-canonical signature",
        format!("{h64}.{p64}.{}", non_canonical(&s64)),
        Err(Reason::Malformed),
    );
    r.token(
        "non-canonical ES256 signature",
        format!("{eh64}.{ep64}.{}", non_canonical(&es64)),
        Err(Reason::Malformed),
    );
    // Standard alphabet (+ /) in a segment, re-signed.
    // ASCII JSON reaches '-' or '_' only through a '>' or '?' at a byte
    // offset of 2 mod 3; "???" puts one there whatever precedes it.
    let url_payload = b64url(r.claims(json!({"q": "???"})).to_string());
    assert!(url_payload.contains(['-', '_']));
    let std_payload = url_payload.replace('-', "+").replace('_', "/");
    r.token(
        "control: url-safe payload",
        hmac_text(&r.secret, &h64, &url_payload),
        Ok(()),
    );
    r.token(
        "standard-alphabet payload (re-signed)",
        hmac_text(&r.secret, &h64, &std_payload),
        Err(Reason::Malformed),
    );
    // A random 32-byte MAC misses both characters in 43 places with
    // probability (62/64)^43 ≈ 0.25, so a few tries find one.
    let std_sig = (0..1000)
        .map(|n| r.hs(json!({"n": n})))
        .find(|t| segments(t).2.contains(['-', '_']))
        .unwrap();
    r.token(
        "standard-alphabet signature",
        std_sig.replace('-', "+").replace('_', "/"),
        Err(Reason::Malformed),
    );
    r.token(
        "signature not base64",
        format!("{h64}.{p64}.!!!!"),
        Err(Reason::Malformed),
    );
    r.token(
        "space inside the signature",
        format!("{h64}.{p64}.{} ", s64),
        Err(Reason::Malformed),
    );
    r.token(
        "line break inside the payload",
        format!("{h64}.{}\n{}.{s64}", &p64[..10], &p64[10..]),
        Err(Reason::Malformed),
    );
    r.token(
        "payload not base64",
        hmac_text(&r.secret, &h64, "e30*"),
        Err(Reason::Malformed),
    );

    // ---------------------------------------------------------- header
    let claims_text = r.claims(json!({})).to_string();
    for (name, header) in [
        ("header not JSON", "hello"),
        ("header a JSON array", r#"["alg","HS256"]"#),
        ("header a JSON string", r#""HS256""#),
        ("header JSON then garbage", r#"{"alg":"HS256"}x"#),
        ("header JSON cut short", r#"{"alg":"HS256""#),
        ("two header objects", r#"{"alg":"HS256"}{"alg":"HS256"}"#),
        (
            "crit present",
            r#"{"alg":"HS256","typ":"JWT","crit":["exp"]}"#,
        ),
        ("crit empty", r#"{"alg":"HS256","crit":[]}"#),
        (
            "b64 unencoded payload (RFC 7797)",
            r#"{"alg":"HS256","b64":false,"crit":["b64"]}"#,
        ),
        (
            "JWE enc (a JWE header on a JWS)",
            r#"{"alg":"HS256","typ":"JWT","enc":"A256GCM"}"#,
        ),
        ("JWE enc escaped", r#"{"alg":"HS256","\u0065nc":"A256GCM"}"#),
        ("JWE enc null", r#"{"alg":"HS256","enc":null}"#),
        ("JWE zip", r#"{"alg":"HS256","zip":"DEF"}"#),
        (
            "JWE epk",
            r#"{"alg":"HS256","epk":{"kty":"EC","crv":"P-256"}}"#,
        ),
        ("JWE apu/apv", r#"{"alg":"HS256","apu":"QQ","apv":"Qg"}"#),
        ("JWE iv", r#"{"alg":"HS256","iv":"AAAAAAAAAAAAAAAA"}"#),
        (
            "JWE tag",
            r#"{"alg":"HS256","tag":"AAAAAAAAAAAAAAAAAAAAAA"}"#,
        ),
        ("JWE p2s/p2c", r#"{"alg":"HS256","p2s":"AAAA","p2c":4096}"#),
        ("b64 without crit", r#"{"alg":"HS256","b64":false}"#),
        ("typ JOSE", r#"{"alg":"HS256","typ":"JOSE"}"#),
        ("typ at+jwt", r#"{"alg":"HS256","typ":"at+jwt"}"#),
        ("typ not a string", r#"{"alg":"HS256","typ":1}"#),
        ("alg missing", r#"{"typ":"JWT"}"#),
        ("alg null", r#"{"alg":null}"#),
        ("alg a number", r#"{"alg":256}"#),
        ("alg an array", r#"{"alg":["HS256"]}"#),
        ("alg twice, same value", r#"{"alg":"HS256","alg":"HS256"}"#),
        ("alg twice, second none", r#"{"alg":"HS256","alg":"none"}"#),
        (
            "alg twice, one escaped",
            r#"{"alg":"HS256","\u0061lg":"none"}"#,
        ),
        ("kid a number", r#"{"alg":"HS256","kid":1}"#),
        ("kid twice", r#"{"alg":"HS256","kid":"a","kid":"b"}"#),
        ("empty header object", "{}"),
    ] {
        r.token(name, r.hs_raw(header, &claims_text), Err(Reason::Malformed));
    }
    r.token(
        "header not UTF-8",
        hmac_raw(
            &r.secret,
            b"{\"alg\":\"HS256\",\"x\":\"\xff\"}",
            claims_text.as_bytes(),
        ),
        Err(Reason::Malformed),
    );

    // ---------------------------------------------------------- algorithm
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
        let (nh64, np64) = (b64url(&header), b64url(&claims_text));
        r.token(
            format!("alg {alg}, empty signature"),
            format!("{nh64}.{np64}."),
            Err(Reason::Algorithm),
        );
        r.token(
            format!("alg {alg}, HMAC signature"),
            hmac_text(&r.secret, &nh64, &np64),
            Err(Reason::Algorithm),
        );
        r.token_on(
            format!("alg {alg} on HS-only"),
            HsOnly,
            format!("{nh64}.{np64}."),
            Err(Reason::Algorithm),
        );
    }
    for alg in ["", "hs256", "HS 256", "HS256 ", "ES256K", "RS1"] {
        r.token(
            format!("alg {alg:?}"),
            r.hs_raw(&format!(r#"{{"alg":"{alg}"}}"#), &claims_text),
            Err(Reason::Algorithm),
        );
    }
    for (alg, sign) in [
        ("HS512", forge::hmac_sha512 as fn(&[u8], &[u8]) -> Vec<u8>),
        ("HS384", |k: &[u8], m: &[u8]| {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA384, k);
            ring::hmac::sign(&key, m).as_ref().to_vec()
        }),
    ] {
        let input = format!(
            "{}.{}",
            b64url(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#)),
            b64url(&claims_text)
        );
        let token = format!("{input}.{}", b64url(sign(&r.secret, input.as_bytes())));
        r.token_on(
            format!("{alg} with the real secret on HS-only"),
            HsOnly,
            token.clone(),
            Err(Reason::Algorithm),
        );
        r.token(
            format!("{alg} with the real secret"),
            token,
            Err(Reason::Algorithm),
        );
    }
    r.token_on(
        "ES256 on HS-only",
        HsOnly,
        good_es.clone(),
        Err(Reason::Algorithm),
    );
    r.token_on(
        "RS256 on HS-only",
        HsOnly,
        good_rs.clone(),
        Err(Reason::Algorithm),
    );
    r.token_on(
        "EdDSA on HS-only",
        HsOnly,
        good_ed.clone(),
        Err(Reason::Algorithm),
    );
    let ps_key = SigningKey::from_pem(
        &std::fs::read_to_string(
            attestgate_testkit::repo_root().join("tests/fixtures/rsa2048.pem"),
        )
        .unwrap(),
        Alg::PS256,
    )
    .unwrap();
    r.token(
        "PS256 (not in the allow-list) with the listed RSA key",
        mint::mint(&ps_key, Some("rs-1"), &r.claims(json!({}))).unwrap(),
        Err(Reason::Algorithm),
    );
    r.token(
        "HS256 naming the ES256 key's kid",
        mint::mint(&r.keys.hs, Some("es-1"), &r.claims(json!({}))).unwrap(),
        Err(Reason::Algorithm),
    );
    r.token(
        "ES256 naming the RSA key's kid",
        mint::mint(&r.keys.es, Some("rs-1"), &r.claims(json!({}))).unwrap(),
        Err(Reason::Algorithm),
    );

    // ---------------------------------------------------------- unknown key
    r.token(
        "ES256 with an unknown kid",
        mint::mint(&r.keys.es, Some("es-2"), &r.claims(json!({}))).unwrap(),
        Err(Reason::UnknownKey),
    );
    r.token(
        "EdDSA with an unknown kid",
        mint::mint(&r.keys.ed, Some("nope"), &r.claims(json!({}))).unwrap(),
        Err(Reason::UnknownKey),
    );

    // ---------------------------------------------------------- signature
    let other = SigningKey::hs256_base64(&mint::new_secret_base64().unwrap()).unwrap();
    r.token(
        "HS256 signed with another secret",
        mint::mint(&other, None, &r.claims(json!({}))).unwrap(),
        Err(Reason::BadSignature),
    );
    let changed = b64url(r.claims(json!({"did": "another-device"})).to_string());
    r.token(
        "payload changed after signing (HS256)",
        format!("{h64}.{changed}.{s64}"),
        Err(Reason::BadSignature),
    );
    r.token(
        "payload changed after signing (ES256)",
        format!("{eh64}.{changed}.{es64}"),
        Err(Reason::BadSignature),
    );
    let (rh64, _, rs64) = segments(&good_rs);
    r.token(
        "payload changed after signing (RS256)",
        format!("{rh64}.{changed}.{rs64}"),
        Err(Reason::BadSignature),
    );
    let (dh64, _, ds64) = segments(&good_ed);
    r.token(
        "payload changed after signing (EdDSA)",
        format!("{dh64}.{changed}.{ds64}"),
        Err(Reason::BadSignature),
    );
    let later = b64url(r.claims(json!({"exp": t0 + 86_400})).to_string());
    r.token(
        "exp extended after signing",
        format!("{h64}.{later}.{s64}"),
        Err(Reason::BadSignature),
    );
    r.token(
        "header changed after signing (typ case)",
        format!("{}.{p64}.{s64}", b64url(r#"{"alg":"HS256","typ":"jwt"}"#)),
        Err(Reason::BadSignature),
    );
    let sig = forge::unb64url(&s64);
    r.token(
        "HS256 signature one byte short",
        format!("{h64}.{p64}.{}", b64url(&sig[..31])),
        Err(Reason::BadSignature),
    );
    r.token(
        "HS256 signature with a byte added",
        format!("{h64}.{p64}.{}", b64url([&sig[..], &[0]].concat())),
        Err(Reason::BadSignature),
    );
    r.token(
        "HS256 empty signature",
        format!("{h64}.{p64}."),
        Err(Reason::BadSignature),
    );
    r.token(
        "HS256 all-zero signature",
        format!("{h64}.{p64}.{}", b64url([0u8; 32])),
        Err(Reason::BadSignature),
    );
    let mut flipped = sig.clone();
    flipped[0] ^= 1;
    r.token(
        "HS256 signature, one bit flipped",
        format!("{h64}.{p64}.{}", b64url(&flipped)),
        Err(Reason::BadSignature),
    );
    for (name, bad) in [
        ("all-zero", vec![0u8; 64]),
        ("empty", vec![]),
        ("all-0xff", vec![0xff; 64]),
        ("63 bytes", es_sig[..63].to_vec()),
        ("65 bytes", [&es_sig[..], &[0]].concat()),
        ("r zero", [&[0u8; 32][..], &es_sig[32..]].concat()),
        ("s zero", [&es_sig[..32], &[0u8; 32][..]].concat()),
        ("r and s swapped", [&es_sig[32..], &es_sig[..32]].concat()),
        (
            "ASN.1 DER of the valid signature",
            forge::ecdsa_p1363_to_der(&es_sig),
        ),
        (
            "s = n (the group order)",
            [
                &es_sig[..32],
                &forge_hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")[..],
            ]
            .concat(),
        ),
    ] {
        r.token(
            format!("ES256 {name} signature"),
            format!("{eh64}.{ep64}.{}", b64url(bad)),
            Err(Reason::BadSignature),
        );
    }
    r.token(
        "EdDSA all-zero signature",
        format!("{dh64}.{p64}.{}", b64url([0u8; 64])),
        Err(Reason::BadSignature),
    );
    r.token(
        "RS256 all-zero signature",
        format!("{rh64}.{p64}.{}", b64url([0u8; 256])),
        Err(Reason::BadSignature),
    );
    r.token(
        "RS256 empty signature",
        format!("{rh64}.{p64}."),
        Err(Reason::BadSignature),
    );
    let attacker =
        SigningKey::from_pem(&mint::generate_pem(Alg::ES256).unwrap(), Alg::ES256).unwrap();
    let embedded = json!({"alg": "ES256", "typ": "JWT", "kid": "es-1", "jwk": attacker.public_jwk(None).unwrap()});
    r.token(
        "ES256 carrying its own key in a jwk header",
        mint::mint_with_header(&attacker, &embedded, &r.claims(json!({}))).unwrap(),
        Err(Reason::BadSignature),
    );
    r.token(
        "ES256 header, HMAC signature with the account secret",
        hmac_text(&r.secret, &eh64, &ep64),
        Err(Reason::BadSignature),
    );

    // ---------------------------------------------------------- claims
    for (name, extra) in [
        ("exp missing", json!({"-exp": null})),
        ("exp a string", json!({"exp": (t0 + 300).to_string()})),
        ("exp null", json!({"exp": null})),
        ("exp true", json!({"exp": true})),
        ("exp false", json!({"exp": false})),
        ("exp an array", json!({"exp": [t0 + 300]})),
        ("exp an object", json!({"exp": {"t": t0 + 300}})),
        ("nbf a string", json!({"nbf": "0"})),
        ("iat a bool", json!({"iat": true})),
        ("iss a number", json!({"iss": 1})),
        ("sub an array", json!({"sub": ["a"]})),
        ("aud a number", json!({"aud": 5})),
        ("aud an array with a number", json!({"aud": ["a", 1]})),
        ("ip a number", json!({"ip": 1})),
        ("did null", json!({"did": null})),
        ("pay a number", json!({"pay": 1})),
    ] {
        r.token(name, r.hs(extra), Err(Reason::Claims));
    }
    let exp = t0 + 300;
    for (name, payload) in [
        (
            "payload a JSON array",
            format!(r#"[{{"exp":{exp}}}]"#).into_bytes(),
        ),
        ("payload a JSON string", br#""exp""#.to_vec()),
        ("payload a JSON number", b"1".to_vec()),
        ("payload JSON null", b"null".to_vec()),
        ("payload not JSON", b"exp=1".to_vec()),
        (
            "payload JSON then garbage",
            format!(r#"{{"exp":{exp}}}x"#).into_bytes(),
        ),
        (
            "two payload objects",
            format!(r#"{{"exp":{exp}}}{{"exp":{exp}}}"#).into_bytes(),
        ),
        (
            "duplicate exp",
            format!(r#"{{"exp":{exp},"exp":{exp}}}"#).into_bytes(),
        ),
        (
            "duplicate exp, later one larger",
            format!(r#"{{"exp":{exp},"exp":{}}}"#, exp + 9999).into_bytes(),
        ),
        (
            "duplicate exp, one escaped",
            format!(r#"{{"exp":{exp},"\u0065xp":1}}"#).into_bytes(),
        ),
        (
            "duplicate unknown claim",
            format!(r#"{{"exp":{exp},"x":1,"x":2}}"#).into_bytes(),
        ),
        (
            "duplicate pay",
            format!(r#"{{"exp":{exp},"pay":"a","pay":"b"}}"#).into_bytes(),
        ),
        ("exp beyond f64", br#"{"exp":1e999}"#.to_vec()),
        (
            "invalid UTF-8 in a known claim",
            [
                format!("{{\"exp\":{exp},\"did\":\"").as_bytes(),
                b"\xc3\x28",
                b"\"}",
            ]
            .concat(),
        ),
        (
            "invalid UTF-8 in an unknown claim",
            [
                format!("{{\"exp\":{exp},\"x\":\"").as_bytes(),
                b"\xff\xfe",
                b"\"}",
            ]
            .concat(),
        ),
        (
            "invalid UTF-8 in a member name",
            [format!("{{\"exp\":{exp},\"").as_bytes(), b"\xff", b"\":1}"].concat(),
        ),
        (
            "lone surrogate escape",
            format!(r#"{{"exp":{exp},"did":"\ud800"}}"#).into_bytes(),
        ),
        (
            "2500 nested arrays",
            format!(
                r#"{{"exp":{exp},"x":{}{}}}"#,
                "[".repeat(2500),
                "]".repeat(2500)
            )
            .into_bytes(),
        ),
        ("payload an unclosed object", b"{".to_vec()),
    ] {
        r.token(name, r.hs_payload(&payload), Err(Reason::Malformed));
    }
    r.token(
        "payload an empty object",
        r.hs_payload(b"{}"),
        Err(Reason::Claims),
    );

    // ---------------------------------------------------------- time (at t0)
    r.token(
        "exp one second ago",
        r.hs(json!({"exp": t0 - 1})),
        Err(Reason::Expired),
    );
    r.token(
        "exp exactly now",
        r.hs(json!({"exp": t0})),
        Err(Reason::Expired),
    );
    r.token("exp 0", r.hs(json!({"exp": 0})), Err(Reason::Expired));
    r.token(
        "exp negative",
        r.hs(json!({"exp": -1})),
        Err(Reason::Expired),
    );
    r.token(
        "nbf one second ahead",
        r.hs(json!({"nbf": t0 + 1})),
        Err(Reason::NotYetValid),
    );
    r.token(
        "nbf far ahead",
        r.hs(json!({"nbf": t0 + 10_000})),
        Err(Reason::NotYetValid),
    );

    // ---------------------------------------------------------- binding
    r.headers(
        "bound token without pay",
        Bound,
        &[("approov-token", &good_hs), ("authorization", BOUND)],
        Err(Reason::Binding),
    );
    let other_pay = r.hs(json!({"pay": attestgate::pay_claim(&["Bearer user-2"])}));
    r.headers(
        "pay for another value",
        Bound,
        &[("approov-token", &other_pay), ("authorization", BOUND)],
        Err(Reason::Binding),
    );
    r.headers(
        "binding header missing",
        Bound,
        &[("approov-token", &bound_ok)],
        Err(Reason::Binding),
    );

    // ---------------------------------------------------------- no keys
    r.token_on(
        "any token, no key loaded",
        NoKeys,
        good_es.clone(),
        Err(Reason::NoKeys),
    );
    r.token_on(
        "garbage, no key loaded",
        NoKeys,
        "abc".into(),
        Err(Reason::NoKeys),
    );
    r.headers("no token, no key loaded", NoKeys, &[], Err(Reason::Missing));
    r
}

fn forge_hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn every_row_gets_its_exact_result() {
    let rig = build_table();
    let failures = rig.run();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rig.rows.len(),
        failures.join("\n")
    );
}

#[test]
fn the_table_covers_every_reason() {
    let rig = build_table();
    let covered: BTreeSet<&str> = rig
        .rows
        .iter()
        .filter_map(|r| r.want.err())
        .map(|r| r.as_str())
        .collect();
    // `signature` and `replay` are message-signing reasons: tests/core/msgsig.
    let all: BTreeSet<&str> = Reason::ALL
        .iter()
        .filter(|r| !matches!(r, Reason::Signature | Reason::Replay))
        .map(|r| r.as_str())
        .collect();
    assert_eq!(covered, all);
    let names: BTreeSet<&str> = rig.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.len(), rig.rows.len(), "row names are unique");
}

#[test]
fn token_size_limit_is_exact() {
    let rig = Rig::new();
    // Longer than the smallest limit a policy may set (256 bytes).
    let token = rig.hs(json!({ "pad": "x".repeat(300) }));
    let now = rig.t0 as f64;
    for capacity in [0, 100] {
        let at = |max: usize| {
            rig.builder(Deploy::Mixed)
                .max_token_bytes(max)
                .cache_capacity(capacity)
                .build()
                .unwrap()
        };
        let headers = forge::header_map(&[("approov-token", &token)]);
        let fits = at(token.len());
        assert!(fits.verify_token_at(&token, now).is_ok());
        assert!(fits.check_at(&headers, now).is_ok());
        let short = at(token.len() - 1);
        assert_eq!(
            short.verify_token_at(&token, now).err(),
            Some(Reason::Malformed)
        );
        assert_eq!(short.check_at(&headers, now).err(), Some(Reason::Malformed));
    }
}

#[test]
fn prefix_is_required_when_configured() {
    let rig = Rig::new();
    let token = rig.hs(json!({}));
    let now = rig.t0 as f64;
    let v = rig
        .builder(Deploy::Mixed)
        .prefix("Bearer ")
        .build()
        .unwrap();
    let check = |value: &str| {
        v.check_at(&forge::header_map(&[("approov-token", value)]), now)
            .map(drop)
    };
    assert_eq!(check(&format!("Bearer {token}")), Ok(()));
    assert_eq!(check(&format!("bearer {token}")), Ok(()));
    assert_eq!(check(&token), Err(Reason::Malformed));
    assert_eq!(check("Bearer NO_NETWORK"), Err(Reason::SdkStatus));
    assert_eq!(check(&format!("Basic {token}")), Err(Reason::Malformed));
}

#[test]
fn a_custom_header_name_is_the_only_one_read() {
    let rig = Rig::new();
    let token = rig.hs(json!({}));
    let now = rig.t0 as f64;
    let v = rig
        .builder(Deploy::Mixed)
        .header("X-Attest")
        .build()
        .unwrap();
    assert_eq!(
        v.check_at(&forge::header_map(&[("x-attest", &token)]), now)
            .map(drop),
        Ok(())
    );
    assert_eq!(
        v.check_at(&forge::header_map(&[("approov-token", &token)]), now)
            .map(drop),
        Err(Reason::Missing)
    );
}

/// Decision: a signature segment that is not strict base64url is
/// `malformed`, whatever its length.
#[test]
fn a_long_non_base64_signature_is_malformed() {
    let rig = Rig::new();
    let (h64, p64, _) = segments(&rig.hs(json!({})));
    let v = rig
        .builder(Deploy::Mixed)
        .cache_capacity(0)
        .build()
        .unwrap();
    let now = rig.t0 as f64;
    for len in [1366, 1367, 4000] {
        let token = format!("{h64}.{p64}.{}", "!".repeat(len));
        assert_eq!(
            v.verify_token_at(&token, now).err(),
            Some(Reason::Malformed),
            "{len}"
        );
    }
}

#[test]
fn a_long_but_valid_base64_signature_is_a_bad_signature() {
    let rig = Rig::new();
    let (h64, p64, _) = segments(&rig.hs(json!({})));
    let v = rig
        .builder(Deploy::Mixed)
        .cache_capacity(0)
        .build()
        .unwrap();
    let now = rig.t0 as f64;
    for bytes in [1024, 1025, 4000] {
        let token = format!("{h64}.{p64}.{}", b64url(vec![7u8; bytes]));
        assert_eq!(
            v.verify_token_at(&token, now).err(),
            Some(Reason::BadSignature),
            "{bytes}"
        );
    }
}
