//! What making a request canonical costs per request: the
//! target and the `Host`, as the proxy does once in `request_filter`.
//!
//! ```text
//! cargo bench -p attestgate --bench target
//! ```
//!
//! - `target/plain`: an API path with a query, nothing to change (the
//!   common case).
//! - `target/encoded`: `//`, encoded unreserved bytes and lower-case hex to
//!   rewrite.
//! - `target/absolute`: an absolute-form target reduced to origin-form.
//! - `target/long`: a 1 KiB path of many segments.
//! - `target/refused`: a dot segment found half-way.
//! - `host`: `Host: api.example.com:8443`.
//! - `floor/copy`: copying the same plain target into a new `String`, the
//!   least any rewrite costs.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use attestgate::target::{TargetRules, canonical_host, canonical_target};
use criterion::{Criterion, criterion_group, criterion_main};

const PLAIN: &[u8] = b"/v1/shapes/circle?colour=red&size=10";

fn bench(c: &mut Criterion) {
    let rules = TargetRules::default();
    let long = format!("/{}end?x=1", "segment-name/".repeat(80));
    let cases: [(&str, &[u8]); 5] = [
        ("target/plain", PLAIN),
        ("target/encoded", b"//v1/%73hapes//circle%2a?colour=red"),
        (
            "target/absolute",
            b"http://api.example.com/v1/shapes/circle?colour=red",
        ),
        ("target/long", long.as_bytes()),
        ("target/refused", b"/v1/shapes/../admin/users?x=1"),
    ];
    for (name, raw) in cases {
        c.bench_function(name, |b| {
            b.iter(|| canonical_target(false, black_box(raw), rules).ok())
        });
    }
    c.bench_function("host", |b| {
        b.iter(|| canonical_host(black_box(b"api.example.com:8443")).ok())
    });
    c.bench_function("floor/copy", |b| {
        b.iter(|| String::from_utf8_lossy(black_box(PLAIN)).into_owned())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
