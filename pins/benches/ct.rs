//! CT ingestion on one core: entries per second read from local data
//! tiles — gzip inflated, cut into entries, each leaf hashed into the
//! frontier, and either pre-filtered (only entries holding a watched name
//! are parsed as X.509) or all parsed and matched (no pre-filter).
//!
//! The tiles are made of real-shaped certificates (rcgen, P-256,
//! ~600-byte DER, a SAN each, one precertificate in four) logged by
//! Cloudflare's static_ct_api, 256 entries a tile; none is for a watched
//! name, as nearly all of a real log is not.
//!
//! `cargo bench -p attestgate-pins --bench ct`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use attestgate_ctlog::scenario::{cert, intermediate, p256, root};
use attestgate_ctlog::{Submit, entries};
use attestgate_pins::ct::http::inflate;
use attestgate_pins::ct::matcher::{Matcher, Watched};
use attestgate_pins::ct::merkle::Frontier;
use attestgate_pins::ct::source::Batch;
use attestgate_pins::ct::watch::scan::scan;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TILE: usize = 256;

fn tile() -> Vec<u8> {
    let r = root("Bench Root");
    let ca = intermediate("Bench CA", &r, p256());
    let key = p256();
    let subs: Vec<Submit> = (0..TILE)
        .map(|i| {
            let name = format!("host-{i}.customer-{}.example.net", i * 7919);
            let precert = i % 4 == 0;
            Submit::Chain {
                chain: vec![
                    cert(&[&name], &key, &ca, 1000 + i as u64, precert),
                    ca.der(),
                ],
                precert,
            }
        })
        .collect();
    let logged = entries(&[r.der()], &subs, 1_780_000_000_000);
    let mut data = Vec::new();
    for (e, _) in &logged {
        data.extend(e.tile_leaf());
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &data).unwrap();
    gz.finish().unwrap()
}

fn benches(c: &mut Criterion) {
    let gz = tile();
    let matcher = Matcher::new(vec![
        Watched {
            name: "api.example.com".into(),
            include_subdomains: false,
        },
        Watched {
            name: "cdn.example.com".into(),
            include_subdomains: true,
        },
        Watched {
            name: "login.example.org".into(),
            include_subdomains: true,
        },
    ])
    .unwrap();
    let mut g = c.benchmark_group("ct ingest (one data tile, 256 entries)");
    g.throughput(Throughput::Elements(TILE as u64));
    for (name, prefilter) in [("with pre-filter", true), ("without pre-filter", false)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let bytes = inflate(&gz, 1 << 26).unwrap();
                let batch = Batch::Tile {
                    bytes,
                    first: 0,
                    count: TILE,
                    skip_to: 0,
                };
                let items = batch.items().unwrap();
                let mut f = Frontier::empty();
                let found = scan(&items, &mut f, &matcher, prefilter).unwrap();
                assert!(found.is_empty());
                f.root()
            })
        });
    }
    g.finish();
    // the real navigli2025h2 tile slice: ten real Let's Encrypt-era entries
    let real = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/ct/navigli2025h2-data-003.p10.gz"),
    )
    .unwrap();
    let mut g = c.benchmark_group("ct ingest (real navigli2025h2 tile, 10 entries)");
    g.throughput(Throughput::Elements(10));
    for (name, prefilter) in [("with pre-filter", true), ("without pre-filter", false)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let bytes = inflate(&real, 1 << 26).unwrap();
                let batch = Batch::Tile {
                    bytes,
                    first: 768,
                    count: 10,
                    skip_to: 768,
                };
                let items = batch.items().unwrap();
                let mut f = Frontier::from_parts(768, vec![[0; 32], [0; 32]]).unwrap();
                scan(&items, &mut f, &matcher, prefilter).unwrap();
                f.root()
            })
        });
    }
    g.finish();
}

criterion_group!(ct, benches);
criterion_main!(ct);
