//! What the proxy will do often with the pins crate: read a certificate's
//! pin, verify a signed pin config (each fetch of it, in an app or a test
//! of a port), parse and classify a pin-failure report.
//!
//! `cargo bench -p attestgate-pins --bench pins`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use attestgate_pins::fetch::load_roots;
use attestgate_pins::signed::{self, PublicKey, Rules};
use attestgate_pins::{Pin, report, spki};
use criterion::{Criterion, criterion_group, criterion_main};

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/pins")
}

fn benches(c: &mut Criterion) {
    let leaf = std::fs::read(fixtures().join("leaf.pem")).unwrap();
    c.bench_function("pin of a PEM certificate", |b| {
        b.iter(|| spki::from_bytes(&leaf).unwrap())
    });

    let d = fixtures().join("signed");
    let jws = std::fs::read_to_string(d.join("ok-es256.jws")).unwrap();
    let eddsa = std::fs::read_to_string(d.join("ok-eddsa.jws")).unwrap();
    let keys = [
        PublicKey::from_file(&d.join("test-es256.pub.pem"), Some("pins-2026")).unwrap(),
        PublicKey::from_file(&d.join("test-eddsa.pub.pem"), Some("pins-2027")).unwrap(),
    ];
    let rules = Rules {
        keys: &keys,
        audience: "com.example.app",
        min_seq: 0,
        now: 1_800_000_000,
        allowed_kids: None,
    };
    c.bench_function("verify signed config ES256", |b| {
        b.iter(|| signed::verify(&jws, &rules).unwrap())
    });
    c.bench_function("verify signed config EdDSA", |b| {
        b.iter(|| signed::verify(&eddsa, &rules).unwrap())
    });

    let ca = std::fs::read_to_string(fixtures().join("ca.pem")).unwrap();
    let leaf_pem = String::from_utf8(leaf).unwrap();
    let body = serde_json::to_vec(&serde_json::json!({
        "app-bundle-id": "com.example.app", "trustkit-version": "3.0.3", "hostname": "api.example.com",
        "port": 443, "noted-hostname": "api.example.com", "validated-certificate-chain": [leaf_pem, ca],
        "known-pins": ["pin-sha256=\"7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=\""]
    }))
    .unwrap();
    let roots = load_roots(Some(&fixtures().join("ca.pem"))).unwrap();
    let ours = [Pin([0; 32])];
    c.bench_function("parse + classify a TrustKit report", |b| {
        b.iter(|| {
            let r = report::parse(&body).unwrap();
            report::classify(&r, &ours, &roots, 1_800_000_000)
        })
    });
}

criterion_group!(pins, benches);
criterion_main!(pins);
