//! Real logs' bytes (tests/fixtures/ct/README.md says where each comes
//! from): a data tile of Geomys' navigli2025h2 log and the log's own
//! level-0 hash tile for it (from Sunlight's test data), Sunlight's
//! skylight test checkpoint, and two signed tree heads of Google's
//! Argon2027h1 (a log the shipped list names).
//! The reader parses them, every leaf hash matches the log's hash tile,
//! and every signature verifies with the log's key (and no longer does
//! when a byte changes).

use attestgate_pins::ct::entry::{EntryKind, parse_tile};
use attestgate_pins::ct::http::inflate;
use attestgate_pins::ct::key::{LogKey, tree_head_input};
use attestgate_pins::ct::loglist;
use attestgate_pins::ct::note::{NoteError, open_checkpoint, rfc6962_key_id};
use attestgate_pins::ct::verdict::facts;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/ct")
            .join(name),
    )
    .unwrap()
}

fn key(b64: &str) -> LogKey {
    LogKey::from_spki(&STANDARD.decode(b64).unwrap()).unwrap()
}

#[test]
fn navigli_entries_hash_to_the_logs_own_hash_tile() {
    let tile = inflate(&fixture("navigli2025h2-data-003.p10.gz"), 1 << 24).unwrap();
    let sha: String = ring::digest::digest(&ring::digest::SHA256, &tile)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        sha,
        "9c696be7ee1df84ad841a6946bbe6305e4e491060630c528f7a49c4cb67e48e6"
    );
    let hashes = fixture("navigli2025h2-tile0-003.p10");
    assert_eq!(hashes.len(), 10 * 32);
    let entries = parse_tile(&tile, 768, 10).unwrap();
    assert_eq!(entries.len(), 10);
    let mut precerts = 0;
    for (e, h) in entries.iter().zip(hashes.chunks_exact(32)) {
        assert_eq!(&e.leaf_hash[..], h, "entry {}", e.index);
        let precert = match e.kind {
            EntryKind::Precert { .. } => {
                precerts += 1;
                e.precert
            }
            EntryKind::X509 => None,
        };
        let f = facts(e.cert, precert).unwrap();
        assert!(!f.dns_names.is_empty(), "entry {}", e.index);
        if let Some(p) = precert {
            // the logged TBS is the precertificate's without its poison
            let announced = attestgate_pins::precert::announced(p).unwrap();
            assert_eq!(
                attestgate_pins::precert::ct_tbs(e.cert).unwrap(),
                attestgate_pins::precert::ct_tbs(&announced.tbs).unwrap()
            );
        }
        assert!(!e.chain.is_empty(), "entry {}", e.index);
    }
    assert!(precerts > 0, "the slice holds precertificates");
    // one byte changed anywhere in an entry changes its leaf hash
    let mut bad = tile.clone();
    bad[100] ^= 1;
    let e = parse_tile(&bad, 768, 10).unwrap();
    assert_ne!(&e[0].leaf_hash[..], &hashes[..32]);
    // and the count must be right
    assert!(parse_tile(&tile, 768, 9).is_err());
    assert!(parse_tile(&tile, 768, 11).is_err());
}

#[test]
fn sunlights_checkpoint_verifies_with_the_key_of_its_log_list_entry() {
    let list = String::from_utf8(fixture("skylight-log.v3.json")).unwrap();
    let entry: serde_json::Value = serde_json::from_str(&list).unwrap();
    // one log's entry, wrapped as a list
    let wrapped =
        serde_json::json!({"operators": [{"name": "Sunlight test", "tiled_logs": [entry]}]})
            .to_string();
    let logs = loglist::parse(&wrapped, "skylight").unwrap();
    let log = &logs[0];
    let (origin, k) = match &log.protocol {
        loglist::Protocol::Tiled { origin, .. } => (origin.clone(), log.key.clone()),
        p => panic!("{p:?}"),
    };
    assert_eq!(origin, "rome2026h1.example.org");
    assert_eq!(rfc6962_key_id(&origin, &k), [0x91, 0x50, 0x75, 0x26]);
    let cp = fixture("skylight-checkpoint");
    let c = open_checkpoint(&cp, &origin, &k).unwrap();
    assert_eq!(c.size, 300);
    assert_eq!(c.timestamp_ms, 1_767_139_200_000);
    assert_eq!(
        STANDARD.encode(c.root),
        "lCkHUpkmVBEms2r2T1K6Og69+wUuuN3MIEW1/ezu2v0="
    );
    let mut forged = String::from_utf8(cp.clone())
        .unwrap()
        .replacen("\n300\n", "\n301\n", 1)
        .into_bytes();
    assert!(matches!(
        open_checkpoint(&forged, &origin, &k),
        Err(NoteError::Signature(_))
    ));
    forged = cp.clone();
    let at = forged.len() - 10;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    assert!(open_checkpoint(&forged, &origin, &k).is_err());
    assert!(matches!(
        open_checkpoint(&cp, "rome2026h2.example.org", &k),
        Err(NoteError::Signature(_))
    ));
}

#[test]
fn googles_signed_tree_heads_verify() {
    let k = key(
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEKHRm0H/zUaFA6Idz5cGvGO3tCPQyfGMgJmVBOPyKAP6mGM1IiNXi4CLomOUyYj0YN74p+eGVApFMsM4h/jzCsA==",
    );
    for f in ["argon2027h1-sth1.json", "argon2027h1-sth2.json"] {
        let sth: serde_json::Value = serde_json::from_slice(&fixture(f)).unwrap();
        let size = sth["tree_size"].as_u64().unwrap();
        let ts = sth["timestamp"].as_u64().unwrap();
        let root: [u8; 32] = STANDARD
            .decode(sth["sha256_root_hash"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let sig = STANDARD
            .decode(sth["tree_head_signature"].as_str().unwrap())
            .unwrap();
        k.verify(&tree_head_input(ts, size, &root), &sig).unwrap();
        assert!(
            k.verify(&tree_head_input(ts, size + 1, &root), &sig)
                .is_err(),
            "{f}"
        );
    }
    let shipped = loglist::parse(loglist::DEFAULT_LIST, "default").unwrap();
    assert!(
        shipped.iter().any(|l| l.key == k),
        "the shipped list names Argon2027h1 with this key"
    );
}
