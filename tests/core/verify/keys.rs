//! Which key checks which token: `kid` routing, one family per key, the
//! bound on keys tried, algorithm confusion (a public key's bytes used as an
//! HMAC secret), and a JWKS with hostile keys beside good ones.

use attestgate::mint::{self, SigningKey};
use attestgate::{Alg, MAX_KEYS_TRIED, Reason, Verifier, VerifierBuilder};
use attestgate_testkit::forge::{self, b64url, hmac_raw, hmac_text, segments};
use attestgate_testkit::tokens::TestKeys;
use serde_json::{Value, json};

fn t0() -> u64 {
    attestgate_testkit::now()
}

fn claims(t0: u64) -> Value {
    json!({"exp": t0 + 300, "did": "ZmFrZS1kZXZpY2UtaWQtZm9yLXRlc3Rz"})
}

fn new_secret() -> String {
    mint::new_secret_base64().unwrap()
}

fn hs_key(secret: &str) -> SigningKey {
    SigningKey::hs256_base64(secret).unwrap()
}

fn es_key() -> SigningKey {
    SigningKey::from_pem(&mint::generate_pem(Alg::ES256).unwrap(), Alg::ES256).unwrap()
}

fn rsa_key(alg: Alg) -> SigningKey {
    let pem =
        std::fs::read_to_string(attestgate_testkit::repo_root().join("tests/fixtures/rsa2048.pem"))
            .unwrap();
    SigningKey::from_pem(&pem, alg).unwrap()
}

/// Both with and without the cache: the routing must not depend on it.
fn build_both(builder: VerifierBuilder) -> [Verifier; 2] {
    [
        builder.clone().cache_capacity(0).build().unwrap(),
        builder.cache_capacity(1000).build().unwrap(),
    ]
}

fn verify(v: &Verifier, token: &str, t0: u64) -> Result<Option<String>, Reason> {
    v.verify_token_at(token, t0 as f64)
        .map(|t| t.kid().map(str::to_owned))
}

#[test]
fn a_kid_names_its_keys_and_keys_without_kid_are_the_catch_all() {
    let t0 = t0();
    let (a, b, c, stranger) = (new_secret(), new_secret(), new_secret(), new_secret());
    let sign =
        |secret: &str, kid: Option<&str>| mint::mint(&hs_key(secret), kid, &claims(t0)).unwrap();
    let named_only = Verifier::builder()
        .secret_base64_with_kid(&a, Some("a"))
        .unwrap()
        .secret_base64_with_kid(&b, Some("b"))
        .unwrap();
    let with_catch_all = named_only.clone().secret_base64(&c).unwrap();

    for v in build_both(with_catch_all) {
        let cases: &[(&str, String, Result<Option<String>, Reason>)] = &[
            ("kid a, key a", sign(&a, Some("a")), Ok(Some("a".into()))),
            ("kid b, key b", sign(&b, Some("b")), Ok(Some("b".into()))),
            (
                "kid a, key b: only a is tried",
                sign(&b, Some("a")),
                Err(Reason::BadSignature),
            ),
            (
                "kid a, catch-all key: a known kid never falls back",
                sign(&c, Some("a")),
                Err(Reason::BadSignature),
            ),
            (
                "unknown kid, catch-all key",
                sign(&c, Some("zzz")),
                Ok(Some("zzz".into())),
            ),
            (
                "unknown kid, key a: only keys without kid are tried",
                sign(&a, Some("zzz")),
                Err(Reason::BadSignature),
            ),
            (
                "no kid, key b: every key may be tried",
                sign(&b, None),
                Ok(None),
            ),
            ("no kid, catch-all key", sign(&c, None), Ok(None)),
            (
                "no kid, unknown key",
                sign(&stranger, None),
                Err(Reason::BadSignature),
            ),
            (
                "unknown kid, unknown key",
                sign(&stranger, Some("zzz")),
                Err(Reason::BadSignature),
            ),
        ];
        for (name, token, want) in cases {
            assert_eq!(&verify(&v, token, t0), want, "{name}");
        }
    }
    for v in build_both(named_only) {
        assert_eq!(
            verify(&v, &sign(&a, Some("zzz")), t0),
            Err(Reason::UnknownKey),
            "no catch-all key"
        );
        assert_eq!(verify(&v, &sign(&a, None), t0), Ok(None));
    }
}

#[test]
fn kid_routing_in_a_jwks() {
    let t0 = t0();
    let keys = TestKeys::new();
    let (es2, es_anon) = (es_key(), es_key());
    let jwks = json!({"keys": [
        keys.es.public_jwk(Some("es-1")).unwrap(),
        es2.public_jwk(Some("es-2")).unwrap(),
        es_anon.public_jwk(None).unwrap(),
    ]});
    for v in build_both(Verifier::builder().jwks_json(jwks.to_string())) {
        let mint_es = |k: &SigningKey, kid: Option<&str>| mint::mint(k, kid, &claims(t0)).unwrap();
        assert_eq!(
            verify(&v, &mint_es(&keys.es, Some("es-1")), t0),
            Ok(Some("es-1".into()))
        );
        assert_eq!(
            verify(&v, &mint_es(&es2, Some("es-2")), t0),
            Ok(Some("es-2".into()))
        );
        assert_eq!(
            verify(&v, &mint_es(&es2, Some("es-1")), t0),
            Err(Reason::BadSignature)
        );
        assert_eq!(
            verify(&v, &mint_es(&es_anon, Some("rotated")), t0),
            Ok(Some("rotated".into()))
        );
        assert_eq!(
            verify(&v, &mint_es(&es2, Some("rotated")), t0),
            Err(Reason::BadSignature)
        );
        assert_eq!(verify(&v, &mint_es(&es2, None), t0), Ok(None));
    }
}

#[test]
fn a_key_verifies_its_own_family_only() {
    let t0 = t0();
    let keys = TestKeys::new();
    let secret = forge::secret_bytes(&keys.secret_b64);
    let all = [Alg::HS256, Alg::ES256, Alg::RS256, Alg::EdDSA];
    let c = claims(t0);

    // Secrets only, asymmetric algorithms allowed: the HMAC secret is never
    // tried for them, so a token is `unknown_key`, not `bad_signature`,
    // even when its "signature" is an HMAC made with the real secret.
    for v in build_both(
        Verifier::builder()
            .secret_base64(&keys.secret_b64)
            .unwrap()
            .algorithms(all),
    ) {
        for (name, token) in [
            ("ES256", mint::mint(&keys.es, None, &c).unwrap()),
            ("RS256", mint::mint(&keys.rs, None, &c).unwrap()),
            ("EdDSA", mint::mint(&keys.ed, None, &c).unwrap()),
        ] {
            assert_eq!(verify(&v, &token, t0), Err(Reason::UnknownKey), "{name}");
            let (h64, p64, _) = segments(&token);
            assert_eq!(
                verify(&v, &hmac_text(&secret, &h64, &p64), t0),
                Err(Reason::UnknownKey),
                "{name} header, HMAC with the secret"
            );
        }
        assert_eq!(
            verify(&v, &mint::mint(&keys.hs, None, &c).unwrap(), t0),
            Ok(None)
        );
    }

    // A secret with a kid: a token naming it with an asymmetric alg.
    for v in build_both(
        Verifier::builder()
            .secret_base64_with_kid(&keys.secret_b64, Some("s1"))
            .unwrap()
            .jwks_json(keys.jwks().to_string())
            .algorithms(all),
    ) {
        assert_eq!(
            verify(&v, &mint::mint(&keys.es, Some("s1"), &c).unwrap(), t0),
            Err(Reason::Algorithm)
        );
        assert_eq!(
            verify(&v, &mint::mint(&keys.hs, Some("es-1"), &c).unwrap(), t0),
            Err(Reason::Algorithm)
        );
        assert_eq!(
            verify(&v, &mint::mint(&keys.ed, Some("rs-1"), &c).unwrap(), t0),
            Err(Reason::Algorithm)
        );
        assert_eq!(
            verify(&v, &mint::mint(&keys.hs, Some("s1"), &c).unwrap(), t0),
            Ok(Some("s1".into()))
        );
    }

    // JWKS only with HS256 allowed: no key of the family at all.
    for v in build_both(
        Verifier::builder()
            .jwks_json(keys.jwks().to_string())
            .algorithms(all),
    ) {
        assert_eq!(
            verify(&v, &mint::mint(&keys.hs, None, &c).unwrap(), t0),
            Err(Reason::UnknownKey)
        );
        assert_eq!(
            verify(&v, &mint::mint(&keys.es, None, &c).unwrap(), t0),
            Ok(None)
        );
    }
}

/// The classic confusion attack: the attacker takes a published public key,
/// uses its bytes (PEM, DER, JWK text, raw) as an HMAC secret and sends an
/// HS256 token. Every spelling must be refused, in every deployment.
#[test]
fn hs256_keyed_with_a_public_key_is_refused() {
    let t0 = t0();
    let keys = TestKeys::new();
    let jwks = keys.jwks();
    let all = [Alg::HS256, Alg::ES256, Alg::RS256, Alg::EdDSA];
    let deployments: [(&str, VerifierBuilder, Reason, Reason); 3] = [
        // (name, builder, reason without kid, reason with the key's kid)
        (
            "JWKS only, default algorithms",
            Verifier::builder().jwks_json(jwks.to_string()),
            Reason::Algorithm,
            Reason::Algorithm,
        ),
        (
            "JWKS only, HS256 allowed",
            Verifier::builder()
                .jwks_json(jwks.to_string())
                .algorithms(all),
            Reason::UnknownKey,
            Reason::Algorithm,
        ),
        (
            "secret and JWKS",
            Verifier::builder()
                .secret_base64(&keys.secret_b64)
                .unwrap()
                .jwks_json(jwks.to_string())
                .algorithms(all),
            Reason::BadSignature,
            Reason::Algorithm,
        ),
    ];
    let mut tried = 0;
    for (deployment, builder, no_kid, with_kid) in deployments {
        for v in build_both(builder) {
            for jwk in jwks["keys"].as_array().unwrap() {
                let kid = jwk["kid"].as_str().unwrap();
                for (spelling, material) in forge::public_key_spellings(jwk) {
                    for (header, want) in [
                        (json!({"alg": "HS256", "typ": "JWT"}), no_kid),
                        (json!({"alg": "HS256", "typ": "JWT", "kid": kid}), with_kid),
                    ] {
                        let token = hmac_raw(
                            &material,
                            header.to_string().as_bytes(),
                            claims(t0).to_string().as_bytes(),
                        );
                        assert_eq!(
                            verify(&v, &token, t0),
                            Err(want),
                            "{deployment}: {kid} as {spelling}, header {header}"
                        );
                        tried += 1;
                    }
                }
            }
        }
    }
    assert!(tried >= 3 * 2 * 3 * 8, "{tried}");
}

#[test]
fn a_jwks_with_hostile_keys_keeps_the_good_ones() {
    let t0 = t0();
    let keys = TestKeys::new();
    let good = keys.jwks();
    let c = claims(t0);
    let attacker = es_key();
    let attacker_hmac = forge::secret_bytes(&new_secret());
    let mut leaked = attacker.public_jwk(Some("leaked")).unwrap();
    leaked["d"] = json!(b64url([7u8; 32]));
    let mut off_curve = keys.es.public_jwk(Some("off-curve")).unwrap();
    off_curve["y"] = json!(b64url([1u8; 32]));
    let mut hostile = vec![
        json!({"kty": "oct", "kid": "oct", "k": b64url(&attacker_hmac)}),
        json!({"kty": "oct", "k": b64url(&attacker_hmac)}),
        leaked,
        off_curve,
        json!({"kty": "RSA", "kid": "small", "n": b64url([0xc5u8; 128]), "e": "AQAB"}),
        json!({"kty": "RSA", "kid": "huge", "n": b64url([0xc5u8; 1040]), "e": "AQAB"}),
        json!({"kty": "EC", "crv": "P-256", "kid": "hs-alg", "alg": "HS256", "x": good["keys"][0]["x"], "y": good["keys"][0]["y"]}),
        json!({"kty": "EC", "crv": "P-256", "kid": "none-alg", "alg": "none", "x": good["keys"][0]["x"], "y": good["keys"][0]["y"]}),
        json!({"kty": "EC", "crv": "P-256", "kid": "enc", "use": "enc", "x": good["keys"][0]["x"], "y": good["keys"][0]["y"]}),
        json!({"kty": "EC", "crv": "P-256", "kid": "x-number", "x": 5, "y": "AA"}),
        json!({"kty": "EC", "crv": "P-384", "kid": "p384", "x": "AA", "y": "AA"}),
        json!({"kty": "OKP", "crv": "X25519", "kid": "x25519", "x": b64url([9u8; 32])}),
        json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed-short", "x": b64url([9u8; 31])}),
        json!({"kty": "RSA", "kid": "e-one", "n": good["keys"][1]["n"], "e": "AQ"}),
        json!({"kty": 7}),
        json!({"kid": "no-kty"}),
        json!("a string"),
        json!(null),
        json!([1, 2]),
    ];
    let hostile_count = hostile.len();
    // Hostile keys first and last; a second "es-1" after the good one.
    hostile.extend(good["keys"].as_array().unwrap().iter().cloned());
    hostile.push(attacker.public_jwk(Some("es-1")).unwrap());
    let doc = json!({"keys": hostile, "extra": "ignored"});

    for v in build_both(Verifier::builder().jwks_json(doc.to_string()).algorithms([
        Alg::HS256,
        Alg::ES256,
        Alg::RS256,
        Alg::EdDSA,
    ])) {
        let kids: Vec<Option<String>> = v
            .keyset()
            .keys()
            .iter()
            .map(|k| k.kid().map(str::to_owned))
            .collect();
        assert_eq!(
            kids,
            vec![
                Some("es-1".into()),
                Some("rs-1".into()),
                Some("ed-1".into())
            ],
            "only the good keys, of {} entries",
            hostile_count + 4
        );
        // The good keys work.
        assert_eq!(
            verify(&v, &keys.es256(300, json!({})), t0),
            Ok(Some("es-1".into()))
        );
        assert_eq!(
            verify(&v, &keys.rs256(300, json!({})), t0),
            Ok(Some("rs-1".into()))
        );
        assert_eq!(
            verify(&v, &keys.eddsa(300, json!({})), t0),
            Ok(Some("ed-1".into()))
        );
        // Nothing signed by a hostile key does.
        let hs_attack = |kid: Option<&str>| {
            let mut header = json!({"alg": "HS256", "typ": "JWT"});
            if let Some(kid) = kid {
                header["kid"] = kid.into();
            }
            hmac_raw(
                &attacker_hmac,
                header.to_string().as_bytes(),
                c.to_string().as_bytes(),
            )
        };
        assert_eq!(
            verify(&v, &hs_attack(Some("oct")), t0),
            Err(Reason::UnknownKey),
            "oct key with kid"
        );
        assert_eq!(
            verify(&v, &hs_attack(None), t0),
            Err(Reason::UnknownKey),
            "oct key without kid"
        );
        let es_attack = |kid: Option<&str>| mint::mint(&attacker, kid, &c).unwrap();
        assert_eq!(
            verify(&v, &es_attack(Some("leaked")), t0),
            Err(Reason::UnknownKey),
            "key with d"
        );
        assert_eq!(
            verify(&v, &es_attack(Some("es-1")), t0),
            Err(Reason::BadSignature),
            "duplicate kid"
        );
        assert_eq!(
            verify(&v, &es_attack(None), t0),
            Err(Reason::BadSignature),
            "no kid"
        );
        assert_eq!(
            verify(&v, &es_attack(Some("hs-alg")), t0),
            Err(Reason::UnknownKey),
            "alg HS256 on an EC key"
        );
    }
}

#[test]
fn a_jwk_alg_narrows_its_key() {
    let t0 = t0();
    let rs = rsa_key(Alg::RS256);
    let ps = rsa_key(Alg::PS256);
    let c = claims(t0);
    let mut narrowed = rs.public_jwk(Some("narrow")).unwrap();
    narrowed["alg"] = "RS256".into();
    let mut open = rs.public_jwk(Some("open")).unwrap();
    open.as_object_mut().unwrap().remove("alg");
    let jwks = json!({"keys": [narrowed, open]});
    for v in build_both(Verifier::builder().jwks_json(jwks.to_string()).algorithms([
        Alg::RS256,
        Alg::PS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS384,
        Alg::PS512,
    ])) {
        assert_eq!(
            verify(&v, &mint::mint(&rs, Some("narrow"), &c).unwrap(), t0),
            Ok(Some("narrow".into()))
        );
        assert_eq!(
            verify(&v, &mint::mint(&ps, Some("narrow"), &c).unwrap(), t0),
            Err(Reason::Algorithm)
        );
        // Without `alg` the key takes every RSA algorithm allowed.
        for alg in [
            Alg::RS256,
            Alg::RS384,
            Alg::RS512,
            Alg::PS256,
            Alg::PS384,
            Alg::PS512,
        ] {
            let token = mint::mint(&rsa_key(alg), Some("open"), &c).unwrap();
            assert_eq!(verify(&v, &token, t0), Ok(Some("open".into())), "{alg}");
            // The signature of one algorithm never passes as another's.
            let (_, p64, s64) = segments(&token);
            for other in [
                Alg::RS256,
                Alg::RS384,
                Alg::RS512,
                Alg::PS256,
                Alg::PS384,
                Alg::PS512,
            ] {
                if other != alg {
                    let h64 = b64url(json!({"alg": other.as_str(), "kid": "open"}).to_string());
                    assert_eq!(
                        verify(&v, &format!("{h64}.{p64}.{s64}"), t0),
                        Err(Reason::BadSignature),
                        "{alg} signature as {other}"
                    );
                }
            }
        }
    }
}

/// A token without `kid` is tried against every HS256 secret (a check costs
/// ~0.3 µs, and rotation means several secrets without a kid), but against
/// at most `MAX_KEYS_TRIED` asymmetric keys (in configuration order): that
/// bounds what one forged token costs. A kid lifts the bound.
#[test]
fn keys_tried_for_a_token_without_kid_are_bounded() {
    let t0 = t0();
    let secrets: Vec<String> = (0..=MAX_KEYS_TRIED).map(|_| new_secret()).collect();
    let mut builder = Verifier::builder();
    for (i, s) in secrets.iter().enumerate() {
        let kid = (i == MAX_KEYS_TRIED).then_some("last");
        builder = builder.secret_base64_with_kid(s, kid).unwrap();
    }
    for v in build_both(builder) {
        for (i, s) in secrets.iter().enumerate() {
            let token = mint::mint(&hs_key(s), None, &claims(t0)).unwrap();
            assert_eq!(verify(&v, &token, t0), Ok(None), "secret {i} without kid");
        }
        let named =
            mint::mint(&hs_key(&secrets[MAX_KEYS_TRIED]), Some("last"), &claims(t0)).unwrap();
        assert_eq!(verify(&v, &named, t0), Ok(Some("last".into())));
    }

    // Asymmetric keys: bounded.
    let es: Vec<SigningKey> = (0..=MAX_KEYS_TRIED).map(|_| es_key()).collect();
    let jwks = json!({"keys": es.iter().map(|k| k.public_jwk(None).unwrap()).collect::<Vec<_>>()});
    for v in build_both(Verifier::builder().jwks_json(jwks.to_string())) {
        for (i, k) in es.iter().enumerate() {
            let want = if i < MAX_KEYS_TRIED {
                Ok(None)
            } else {
                Err(Reason::BadSignature)
            };
            assert_eq!(
                verify(&v, &mint::mint(k, None, &claims(t0)).unwrap(), t0),
                want,
                "ES key {i}"
            );
        }
    }
}

#[test]
fn debug_output_never_shows_key_material() {
    let keys = TestKeys::new();
    let secret = forge::secret_bytes(&keys.secret_b64);
    let v = Verifier::builder()
        .secret_base64(&keys.secret_b64)
        .unwrap()
        .jwks_json(keys.jwks().to_string())
        .build()
        .unwrap();
    let builder = Verifier::builder().secret_base64(&keys.secret_b64).unwrap();
    for text in [
        format!("{v:?}"),
        format!("{v:#?}"),
        format!("{:?}", v.keyset()),
        format!("{builder:?}"),
    ] {
        assert!(!text.contains(&keys.secret_b64), "{text}");
        assert!(!text.contains(&b64url(&secret)), "{text}");
        assert!(
            !text.contains(
                &format!("{:?}", &secret[..8])
                    .trim_end_matches(']')
                    .to_owned()
            ),
            "{text}"
        );
        let hex: String = secret[..8].iter().map(|b| format!("{b:02x}")).collect();
        assert!(!text.contains(&hex), "{text}");
    }
}
