//! No input makes the parsers panic: arbitrary bytes, and the fixture
//! certificates, keys, CSRs, reports and signed configs truncated and with
//! bytes flipped, through every entry point that reads outside data.

use std::path::Path;

use attestgate_pins::signed::{self, PublicKey, Rules};
use attestgate_pins::{PinsFile, report, spki};
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures")
            .join(name),
    )
    .unwrap()
}

fn der_of(pem: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(pem.to_vec()).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body).unwrap()
}

fn seeds() -> Vec<Vec<u8>> {
    let pems = [
        "pins/leaf.pem",
        "pins/ca.pem",
        "pins/backup.csr",
        "pins/leaf.key",
        "rsa2048.pem",
        "ed25519.pem",
        "pins/signed/test-es256.pub.pem",
    ];
    let mut out: Vec<Vec<u8>> = pems.iter().map(|p| fixture(p)).collect();
    out.extend(pems.iter().map(|p| der_of(&fixture(p))));
    out
}

/// Every reader of outside bytes; each must return, never panic.
fn read_everything(bytes: &[u8]) {
    let _ = spki::from_bytes(bytes);
    let _ = report::parse(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = PinsFile::from_text(text, Path::new("."));
        let keys = [PublicKey::from_bytes(
            &fixture("pins/signed/test-es256.pub.pem"),
            Some("pins-2026"),
        )
        .unwrap()];
        let rules = Rules {
            keys: &keys,
            audience: "com.example.app",
            min_seq: 0,
            now: 1_800_000_000,
            allowed_kids: None,
        };
        let _ = signed::verify(text, &rules);
    }
    let _ = signed::SigningKey::from_bytes(bytes, "k");
    let _ = PublicKey::from_bytes(bytes, None);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        read_everything(&bytes);
    }

    #[test]
    fn damaged_fixtures(seed in 0usize..14, cut in any::<prop::sample::Index>(), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6)) {
        let mut bytes = seeds()[seed].clone();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= value;
        }
        let keep = cut.index(bytes.len() + 1);
        read_everything(&bytes);
        read_everything(&bytes[..keep]);
    }

    #[test]
    fn damaged_signed_configs(vector in 0usize..8, at in any::<prop::sample::Index>(), c in proptest::char::range('+', 'z')) {
        let names = ["ok-es256", "ok-eddsa", "crit", "bad-pin", "typ-jwt", "expired", "alg-none", "duplicate-payload-seq"];
        let jws = String::from_utf8(fixture(&format!("pins/signed/{}.jws", names[vector]))).unwrap();
        let mut chars: Vec<char> = jws.trim().chars().collect();
        let i = at.index(chars.len());
        chars[i] = c;
        let text: String = chars.into_iter().collect();
        read_everything(text.as_bytes());
    }
}
