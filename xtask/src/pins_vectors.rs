//! The signed pin config's test vectors: one reference config signed by
//! the TEST key pins-2026 (ES256), and a vector for each way a config must
//! be refused, each with the keys, audience, last accepted seq and instant
//! to verify it with, and the expected answer.

use std::path::Path;

use attestgate_pins::signed::{self, SigningKey};
use serde_json::{Value, json};

/// Fixed times of the vectors: issued 2025-12-01, expiring 2100-01-01.
const IAT: i64 = 1_764_547_200;
const EXP: i64 = 4_102_444_800;
const NOW: i64 = 1_800_000_000;

pub(crate) fn run(d: &Path) {
    let key =
        |name: &str, kid: &str| SigningKey::from_file(&d.join(format!("{name}.key")), kid).unwrap();
    use base64::Engine;
    for (name, alg) in [
        ("test-es256", signed::SigAlg::Es256),
        ("test-eddsa", signed::SigAlg::EdDsa),
        ("other-es256", signed::SigAlg::Es256),
    ] {
        if !d.join(format!("{name}.key")).exists() {
            let (private, public) = signed::generate(alg).unwrap();
            std::fs::write(d.join(format!("{name}.key")), private).unwrap();
            std::fs::write(d.join(format!("{name}.pub.pem")), public).unwrap();
        }
    }
    let (k26, k27, other) = (
        key("test-es256", "pins-2026"),
        key("test-eddsa", "pins-2027"),
        key("other-es256", "pins-2026"),
    );
    let payload = json!({
        "iss": "attestgate", "aud": "com.example.app", "seq": 42, "iat": IAT, "exp": EXP, "refresh": 86400,
        "next_kids": ["pins-2027"],
        "domains": [{"name": "api.example.com", "include_subdomains": false,
                     "pins": ["7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=", "fwza0LRMXouZHRC8Ei+4PyuIdPdCf3UKg0/04cDM1oE="]}]
    });
    std::fs::write(
        d.join("config.json"),
        serde_json::to_string_pretty(&payload).unwrap() + "\n",
    )
    .unwrap();
    let p = serde_json::to_vec(&payload).unwrap();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = payload.clone();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let h26 = br#"{"alg":"ES256","typ":"attestgate-pins+jwt","kid":"pins-2026"}"#.to_vec();
    let h27 = br#"{"alg":"EdDSA","typ":"attestgate-pins+jwt","kid":"pins-2027"}"#.to_vec();
    let ok = signed::sign_parts(&h26, &p, &k26).unwrap();
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let parts: Vec<&str> = ok.split('.').collect();
    let mut flipped_sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[2])
        .unwrap();
    flipped_sig[10] ^= 1;
    let both = json!([{"kid": "pins-2026", "file": "test-es256.pub.pem"}, {"kid": "pins-2027", "file": "test-eddsa.pub.pem"}]);
    let v26 = json!([{"kid": "pins-2026", "file": "test-es256.pub.pem"}]);
    let list: Vec<(&str, String, Value, &str, u64, i64, &str, &str)> = vec![
        (
            "ok-es256",
            ok.clone(),
            both.clone(),
            "com.example.app",
            42,
            NOW,
            "ok",
            "the reference config, signed by the ES256 key pins-2026",
        ),
        (
            "ok-eddsa",
            signed::sign_parts(&h27, &p, &k27).unwrap(),
            both.clone(),
            "com.example.app",
            0,
            NOW,
            "ok",
            "the same payload signed by the next key pins-2027 (EdDSA): an app holding both keys accepts either",
        ),
        (
            "ok-audience-list",
            signed::sign_parts(
                &h26,
                &with(&|v: &mut Value| {
                    v["aud"] = json!(["com.other.app", "com.example.app"]);
                }),
                &k26,
            )
            .unwrap(),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "ok",
            "aud may be a list naming the app",
        ),
        (
            "payload-tampered",
            format!(
                "{}.{}.{}",
                parts[0],
                b64(&with(&|v: &mut Value| {
                    v["domains"][0]["pins"][1] =
                        json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
                })),
                parts[2]
            ),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "bad_signature",
            "a pin replaced after signing",
        ),
        (
            "signature-tampered",
            format!("{}.{}.{}", parts[0], parts[1], b64(&flipped_sig)),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "bad_signature",
            "one bit of the signature flipped",
        ),
        (
            "wrong-key",
            signed::sign_parts(&h26, &p, &other).unwrap(),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "bad_signature",
            "signed by another P-256 key claiming kid pins-2026",
        ),
        (
            "typ-jwt",
            signed::sign_parts(
                br#"{"alg":"ES256","typ":"JWT","kid":"pins-2026"}"#,
                &p,
                &k26,
            )
            .unwrap(),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "typ",
            "typ JWT: a token of another kind must never pass as a pin config",
        ),
        (
            "typ-missing",
            signed::sign_parts(br#"{"alg":"ES256","kid":"pins-2026"}"#, &p, &k26).unwrap(),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "typ",
            "no typ",
        ),
        (
            "alg-none",
            format!(
                "{}.{}.",
                b64(br#"{"alg":"none","typ":"attestgate-pins+jwt","kid":"pins-2026"}"#),
                parts[1]
            ),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "algorithm",
            "alg none, no signature",
        ),
        (
            "alg-hs256",
            format!(
                "{}.{}.{}",
                b64(br#"{"alg":"HS256","typ":"attestgate-pins+jwt","kid":"pins-2026"}"#),
                parts[1],
                parts[2]
            ),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "algorithm",
            "HS256: a public key must never be used as an HMAC secret",
        ),
        (
            "alg-mismatch",
            signed::sign_parts(
                br#"{"alg":"EdDSA","typ":"attestgate-pins+jwt","kid":"pins-2026"}"#,
                &p,
                &k27,
            )
            .unwrap(),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "algorithm",
            "EdDSA header for kid pins-2026, which is an ES256 key",
        ),
        (
            "unknown-kid",
            signed::sign_parts(
                br#"{"alg":"ES256","typ":"attestgate-pins+jwt","kid":"pins-1999"}"#,
                &p,
                &k26,
            )
            .unwrap(),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "unknown_key",
            "kid names no embedded key",
        ),
        (
            "no-kid",
            signed::sign_parts(br#"{"alg":"ES256","typ":"attestgate-pins+jwt"}"#, &p, &k26)
                .unwrap(),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "unknown_key",
            "no kid, and every embedded key has one",
        ),
        (
            "wrong-audience",
            ok.clone(),
            v26.clone(),
            "com.other.app",
            0,
            NOW,
            "audience",
            "a config for another app",
        ),
        (
            "rollback",
            ok.clone(),
            v26.clone(),
            "com.example.app",
            43,
            NOW,
            "rollback",
            "seq 42 when the app already accepted 43",
        ),
        (
            "expired",
            signed::sign_parts(
                &h26,
                &with(&|v: &mut Value| {
                    v["exp"] = json!(IAT + 3600);
                }),
                &k26,
            )
            .unwrap(),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "expired",
            "exp one hour after iat, long past at now",
        ),
        (
            "expires-now",
            ok.clone(),
            v26.clone(),
            "com.example.app",
            0,
            EXP,
            "expired",
            "now equals exp: exp must be in the future",
        ),
        (
            "crit",
            signed::sign_parts(
                br#"{"alg":"ES256","typ":"attestgate-pins+jwt","kid":"pins-2026","crit":["exp"]}"#,
                &p,
                &k26,
            )
            .unwrap(),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "malformed",
            "crit: no extension is understood",
        ),
        (
            "duplicate-header-alg",
            signed::sign_parts(
                br#"{"alg":"ES256","alg":"EdDSA","typ":"attestgate-pins+jwt","kid":"pins-2026"}"#,
                &p,
                &k26,
            )
            .unwrap(),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "malformed",
            "a header member given twice",
        ),
        (
            "two-parts",
            format!("{}.{}", parts[0], parts[1]),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "malformed",
            "not three parts",
        ),
        (
            "padded-base64",
            format!("{}.{}=.{}", parts[0], parts[1], parts[2]),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "malformed",
            "base64url with padding (or any non-base64url character)",
        ),
        (
            "duplicate-payload-seq",
            signed::sign_parts(
                &h26,
                &{
                    let mut s = String::from_utf8(p.clone()).unwrap();
                    s.insert_str(1, "\"seq\":99,");
                    s.into_bytes()
                },
                &k26,
            )
            .unwrap(),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "claims",
            "seq given twice in the signed payload: two parsers could read two configs",
        ),
        (
            "bad-pin",
            signed::sign_parts(
                &h26,
                &with(&|v: &mut Value| {
                    v["domains"][0]["pins"][0] = json!("not-a-pin");
                }),
                &k26,
            )
            .unwrap(),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "claims",
            "a pin that is not base64 of 32 bytes",
        ),
        (
            "empty-pins",
            signed::sign_parts(
                &h26,
                &with(&|v: &mut Value| {
                    v["domains"][0]["pins"] = json!([]);
                }),
                &k26,
            )
            .unwrap(),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "claims",
            "a domain with no pins: ambiguous (unpinned? broken?), so refused; leave the domain out instead",
        ),
        (
            "missing-exp",
            signed::sign_parts(
                &h26,
                &with(&|v: &mut Value| {
                    v.as_object_mut().unwrap().remove("exp");
                }),
                &k26,
            )
            .unwrap(),
            v26.clone(),
            "com.example.app",
            0,
            NOW,
            "claims",
            "exp is required",
        ),
    ];
    let mut out = Vec::new();
    for (name, jws, keys, audience, min_seq, now, expect, why) in list {
        let file = format!("{name}.jws");
        std::fs::write(d.join(&file), format!("{jws}\n")).unwrap();
        out.push(json!({"name": name, "jws": file, "keys": keys, "audience": audience, "min_seq": min_seq, "now": now, "expect": expect, "why": why}));
    }
    std::fs::copy(d.join("ok-es256.jws"), d.join("config.es256.jws")).unwrap();
    let doc = json!({
        "about": "Test vectors for the attestgate signed pin config (docs/PINNING.md). Verify each JWS with the listed public keys (kid => SPKI PEM), for audience, with min_seq the last accepted seq, as of now (Unix seconds); expect is \"ok\" or the reason it must be refused. TEST keys only.",
        "vectors": out,
    });
    std::fs::write(
        d.join("vectors.json"),
        serde_json::to_string_pretty(&doc).unwrap() + "\n",
    )
    .unwrap();
}
