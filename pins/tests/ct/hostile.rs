//! What a hostile log or certificate can hand the reader: any bytes as a
//! tile, an entry, a certificate, a precertificate, a checkpoint or a log
//! list, and the real tile and checkpoint with bits flipped. Nothing
//! panics; every answer is a value or an error.

use attestgate_pins::check::platform::{PinSet, judge, judge_precert};
use attestgate_pins::ct::entry::{parse_rfc6962, parse_tile};
use attestgate_pins::ct::http::inflate;
use attestgate_pins::ct::key::LogKey;
use attestgate_pins::ct::loglist;
use attestgate_pins::ct::matcher::{Matcher, Watched, dns_names};
use attestgate_pins::ct::merkle::Frontier;
use attestgate_pins::ct::note::open_checkpoint;
use attestgate_pins::ct::source::Batch;
use attestgate_pins::ct::verdict::facts;
use attestgate_pins::ct::watch::scan::scan;
use base64::Engine;
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/ct")
            .join(name),
    )
    .unwrap()
}

fn matcher() -> Matcher {
    Matcher::new(vec![Watched {
        name: "example.com".into(),
        include_subdomains: true,
    }])
    .unwrap()
}

fn set() -> PinSet {
    PinSet {
        name: "example.com".into(),
        include_subdomains: true,
        expires: None,
        pins: Vec::new(),
    }
}

fn everything(bytes: &[u8]) {
    let _ = parse_tile(bytes, 0, 3);
    let _ = parse_rfc6962(0, bytes, bytes);
    let _ = facts(bytes, None);
    let _ = facts(bytes, Some(bytes));
    let _ = dns_names(bytes, true);
    let _ = attestgate_pins::precert::announced(bytes);
    let _ = attestgate_pins::precert::ct_tbs(bytes);
    let _ = inflate(bytes, 1 << 20);
    let _ = loglist::parse(&String::from_utf8_lossy(bytes), "x");
    let roots = attestgate_pins::fetch::load_roots(None).unwrap();
    let _ = judge(
        &[bytes.to_vec()],
        &set(),
        "a.example.com",
        &[1_800_000_000],
        &roots,
        &[],
    );
    let _ = judge_precert(
        &[bytes.to_vec(), bytes.to_vec()],
        &set(),
        "a.example.com",
        &[1_800_000_000],
        &roots,
        &[],
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        everything(&bytes);
    }
}

#[test]
fn the_real_tile_with_any_bit_flipped() {
    let tile = inflate(&fixture("navigli2025h2-data-003.p10.gz"), 1 << 24).unwrap();
    let m = matcher();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..400 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut t = tile.clone();
        let at = (rng as usize) % t.len();
        t[at] ^= 1 << (rng % 8);
        let batch = Batch::Tile {
            bytes: t,
            first: 768,
            count: 10,
            skip_to: 768,
        };
        if let Ok(items) = batch.items() {
            let mut f = Frontier::from_parts(768, vec![[0; 32], [0; 32]]).unwrap();
            let _ = scan(&items, &mut f, &m, false);
            for i in &items {
                if let attestgate_pins::ct::source::Item::Entry(e) = i {
                    everything(e.cert);
                    if let Some(p) = e.precert {
                        everything(p);
                    }
                }
            }
        }
    }
}

#[test]
fn the_real_checkpoint_with_any_byte_changed() {
    let key = LogKey::from_spki(
        &base64::engine::general_purpose::STANDARD
            .decode("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEPIcer7RB32jt4bTEbhgUKLKvOctFD+I2hoDItFxUBlJiGFvftBuRk3fO7e1T7gC2ekyfL7XoO2oN/ObcZyc4EA==")
            .unwrap(),
    )
    .unwrap();
    let cp = fixture("skylight-checkpoint");
    assert!(open_checkpoint(&cp, "rome2026h1.example.org", &key).is_ok());
    for at in 0..cp.len() {
        for v in [0u8, b'\n', b'A', 0xff] {
            let mut c = cp.clone();
            if c[at] == v {
                continue;
            }
            c[at] = v;
            // a changed byte never verifies, except in the base64 padding
            // of a signature it does not belong to
            if let Ok(got) = open_checkpoint(&c, "rome2026h1.example.org", &key) {
                assert_eq!(got.size, 300, "byte {at}");
            }
        }
    }
}
