//! The signed pin config: the published test vectors under
//! tests/fixtures/pins/signed/ each give their documented result; sign and
//! verify round-trip; the client refuses rollback, rotates signing keys
//! through `next_kids`, replaces the config whole and keeps the last good
//! one on any failure.
//!
//! The vectors were made once from the checked-in TEST keys by
//! `scripts/gen-fixtures pins-vectors` (ES256 signatures are randomised, so
//! the checked-in files are the reference, not a rerun).

use std::path::{Path, PathBuf};

use attestgate_pins::signed::{self, Client, PublicKey, Reject, Rules, SignOptions, SigningKey};
use serde_json::{Value, json};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/pins/signed")
}

/// Fixed times of the vectors: issued 2025-12-01, expiring 2100-01-01.
const IAT: i64 = 1_764_547_200;
const EXP: i64 = 4_102_444_800;
const NOW: i64 = 1_800_000_000;

fn key(name: &str, kid: &str) -> SigningKey {
    SigningKey::from_file(&dir().join(format!("{name}.key")), kid).unwrap()
}

fn public(name: &str, kid: &str) -> PublicKey {
    PublicKey::from_file(&dir().join(format!("{name}.pub.pem")), Some(kid)).unwrap()
}

fn reason(r: Result<signed::Verified, Reject>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.as_str().into(),
    }
}

#[test]
fn every_published_vector_gives_its_result() {
    let vectors: Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("vectors.json")).unwrap())
            .unwrap();
    let list = vectors["vectors"].as_array().unwrap();
    assert!(list.len() >= 15, "{}", list.len());
    let mut seen_reasons = std::collections::BTreeSet::new();
    for v in list {
        let name = v["name"].as_str().unwrap();
        let jws = std::fs::read_to_string(dir().join(v["jws"].as_str().unwrap())).unwrap();
        let keys: Vec<PublicKey> = v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                PublicKey::from_file(&dir().join(k["file"].as_str().unwrap()), k["kid"].as_str())
                    .unwrap()
            })
            .collect();
        let rules = Rules {
            keys: &keys,
            audience: v["audience"].as_str().unwrap(),
            min_seq: v["min_seq"].as_u64().unwrap(),
            now: v["now"].as_i64().unwrap(),
            allowed_kids: None,
        };
        let got = reason(signed::verify(&jws, &rules));
        assert_eq!(
            got,
            v["expect"].as_str().unwrap(),
            "vector {name}: {}",
            v["why"]
        );
        seen_reasons.insert(got);
    }
    // Every reason a stateless verifier can give is covered by a vector.
    for r in [
        "ok",
        "malformed",
        "typ",
        "algorithm",
        "unknown_key",
        "bad_signature",
        "claims",
        "audience",
        "rollback",
        "expired",
    ] {
        assert!(seen_reasons.contains(r), "no vector for {r}");
    }
}

#[test]
fn the_published_config_is_the_payload_of_the_vector() {
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("config.json")).unwrap()).unwrap();
    let jws = std::fs::read_to_string(dir().join("config.es256.jws")).unwrap();
    let keys = [public("test-es256", "pins-2026")];
    let rules = Rules {
        keys: &keys,
        audience: "com.example.app",
        min_seq: 0,
        now: NOW,
        allowed_kids: None,
    };
    assert_eq!(signed::verify(&jws, &rules).unwrap().payload_json, config);
}

#[test]
fn sign_then_verify_round_trips_for_both_algorithms() {
    let file = attestgate_pins::PinsFile::load(&dir().join("../pins.toml")).unwrap();
    for (name, kid) in [("test-es256", "pins-2026"), ("test-eddsa", "pins-2027")] {
        let k = key(name, kid);
        assert!(!format!("{k:?}").contains("PRIVATE"));
        let options = SignOptions {
            audience: "com.example.app".into(),
            seq: 7,
            iat: NOW,
            ttl: 3600,
            refresh: 600,
            next_kids: vec![],
        };
        let jws = signed::sign(&signed::payload_of(&file, &options), &k).unwrap();
        let keys = [k.public()];
        let rules = Rules {
            keys: &keys,
            audience: "com.example.app",
            min_seq: 7,
            now: NOW + 3599,
            allowed_kids: None,
        };
        let v = signed::verify(&jws, &rules).unwrap();
        assert_eq!(v.kid.as_deref(), Some(kid));
        assert_eq!(v.payload.domains.len(), 2);
        assert_eq!(v.payload.domains[0].pins.len(), 2);
        assert!(v.payload.holds_pin(
            "api.example.com",
            &[attestgate_pins::Pin::parse(&v.payload.domains[0].pins[1]).unwrap()]
        ));
        assert!(v.payload.domain_for("a.b.cdn.example.com").is_some());
        assert!(v.payload.domain_for("x.api.example.com").is_none());
        // The public key as the app embeds it reads back to the same key.
        assert_eq!(
            PublicKey::from_bytes(k.public().to_pem().as_bytes(), Some(kid)).unwrap(),
            k.public()
        );
        let late = Rules {
            now: NOW + 3600,
            ..rules.clone()
        };
        assert_eq!(signed::verify(&jws, &late), Err(Reject::Expired));
    }
}

fn config(kid_key: &SigningKey, seq: u64, next: &[&str], pin_byte: u8) -> String {
    let payload = json!({
        "iss": "attestgate", "aud": "com.example.app", "seq": seq, "iat": IAT, "exp": EXP, "refresh": 86400,
        "next_kids": next,
        "domains": [{"name": "api.example.com", "include_subdomains": false,
                     "pins": [base64_pin(pin_byte)]}]
    });
    signed::sign(&serde_json::from_value(payload).unwrap(), kid_key).unwrap()
}

fn base64_pin(b: u8) -> String {
    attestgate_pins::Pin([b; 32]).to_base64()
}

#[test]
fn the_client_refuses_rollback_rotates_keys_and_keeps_the_last_good_config() {
    let (k26, k27) = (
        key("test-es256", "pins-2026"),
        key("test-eddsa", "pins-2027"),
    );
    let mut client = Client::new(
        vec![
            public("test-es256", "pins-2026"),
            public("test-eddsa", "pins-2027"),
        ],
        "com.example.app",
        0,
    );
    assert!(client.current().is_none());
    // seq 42 by the 2026 key, announcing the 2027 key.
    client
        .offer(&config(&k26, 42, &["pins-2027"], 1), NOW)
        .unwrap();
    assert_eq!(client.min_seq(), 42);
    // The same config again (seq equal) is fine; an older one is rollback.
    client
        .offer(&config(&k26, 42, &["pins-2027"], 1), NOW)
        .unwrap();
    assert_eq!(
        client
            .offer(&config(&k26, 41, &["pins-2027"], 9), NOW)
            .err(),
        Some(Reject::Rollback)
    );
    assert_eq!(
        client.current().unwrap().payload.domains[0].pins,
        vec![base64_pin(1)]
    );
    // The next key signs seq 43 and announces nothing: accepted, replaces
    // the pins whole (pin 1 gone, not merged).
    client.offer(&config(&k27, 43, &[], 2), NOW).unwrap();
    assert_eq!(
        client.current().unwrap().payload.domains[0].pins,
        vec![base64_pin(2)]
    );
    assert_eq!(client.current().unwrap().kid.as_deref(), Some("pins-2027"));
    // The 2026 key is retired now, even with a higher seq.
    assert_eq!(
        client.offer(&config(&k26, 44, &[], 3), NOW).err(),
        Some(Reject::RetiredKey)
    );
    // Every failure keeps the last good config.
    for bad in [
        "",
        "a.b",
        "x.y.z",
        &config(&k27, 44, &[], 4).replace('.', ""),
    ] {
        assert!(client.offer(bad, NOW).is_err());
    }
    assert_eq!(
        client.offer(&config(&k27, 45, &[], 5), EXP).err(),
        Some(Reject::Expired)
    );
    let current = client.current().unwrap();
    assert_eq!(
        (
            current.payload.seq,
            current.payload.domains[0].pins[0].clone()
        ),
        (43, base64_pin(2))
    );
    assert!(client.current_valid(EXP).is_none());
}

#[test]
fn a_client_holding_only_the_next_key_accepts_configs_it_signs() {
    let k27 = key("test-eddsa", "pins-2027");
    let k26 = key("test-es256", "pins-2026");
    let mut client = Client::new(
        vec![public("test-eddsa", "pins-2027")],
        "com.example.app",
        10,
    );
    assert_eq!(
        client
            .offer(&config(&k26, 42, &["pins-2027"], 1), NOW)
            .err(),
        Some(Reject::UnknownKey)
    );
    assert_eq!(
        client.offer(&config(&k27, 9, &[], 1), NOW).err(),
        Some(Reject::Rollback)
    );
    client.offer(&config(&k27, 42, &[], 1), NOW).unwrap();
}
