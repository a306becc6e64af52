//! `signed::inspect`, what a publisher (the proxy) checks before serving a
//! file: against every published vector, with and without the public key.
//! With it, every reason but the client-state ones (aud, seq, exp) is the
//! verifier's own; without it, only the shape reasons remain.

use std::path::{Path, PathBuf};

use attestgate_pins::signed::{PublicKey, Reject, inspect};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/pins/signed")
}

#[test]
fn inspect_keeps_the_verifiers_reasons_except_aud_seq_and_exp() {
    let d = dir();
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("vectors.json")).unwrap()).unwrap();
    let mut seen_expired = false;
    for v in doc["vectors"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let jws = std::fs::read_to_string(d.join(v["jws"].as_str().unwrap())).unwrap();
        let keys: Vec<PublicKey> = v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                PublicKey::from_file(&d.join(k["file"].as_str().unwrap()), k["kid"].as_str())
                    .unwrap()
            })
            .collect();
        let expect = v["expect"].as_str().unwrap();
        let with = inspect(&jws, Some(&keys));
        let without = inspect(&jws, None);
        match expect {
            "ok" | "audience" | "rollback" | "expired" => {
                let got = with.unwrap_or_else(|r| panic!("{name}: {r}"));
                assert_eq!(got.payload, without.clone().unwrap().payload, "{name}");
                seen_expired |= expect == "expired";
            }
            reason => {
                assert_eq!(with.unwrap_err().as_str(), reason, "{name}");
            }
        }
        if let Err(r) = without {
            assert!(
                matches!(
                    r,
                    Reject::Malformed | Reject::Typ | Reject::Algorithm | Reject::Claims
                ),
                "{name}: without keys only shape reasons, got {r}"
            );
            assert_ne!(expect, "ok", "{name}");
        }
    }
    assert!(seen_expired);
    // A forged signature is only seen with the key.
    let forged = std::fs::read_to_string(d.join("signature-tampered.jws")).unwrap();
    assert!(inspect(&forged, None).is_ok());
}
