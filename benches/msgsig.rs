//! The cost of Approov message signing per request.
//!
//! ```text
//! cargo bench -p attestgate --bench msgsig
//! ```
//!
//! The request is the one Approov's SDK signs for a POST: `@method`,
//! `@target-uri`, `approov-token` (Approov's ~600-byte test token) and
//! `content-digest` (sha-256, over a 1 KiB body).
//!
//! - `verify/full`: [`MessageSigning::verify`]: parse both headers, time
//!   window, coverage, signature base, ECDSA P-256 verify (ring), digest.
//! - `verify/base_only`: the signature base alone (`signature_base`), to
//!   show what is parsing and building versus ECDSA.
//! - `verify/ecdsa_floor`: ring's P-256 SHA-256 verify of the same base:
//!   the floor any verifier pays.
//! - `verify/ipk_parse`: `InstallKey::from_ipk` (once per token, cached).
//! - `replay/memory_first_use`: a fresh key into the memory store (full
//!   size, 16 shards) — the per-request replay cost.
//! - `replay/memory_seen`: the refusal of a key already held.
//! - `replay/redis_first_use`: `SET key 1 NX PX ttl` to a real
//!   `redis-server` on loopback (started by the bench; one round trip,
//!   plus a current-thread `block_on`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use attestgate::msgsig::replay::{MemoryStore, ReplayKey};
use attestgate::msgsig::{
    InstallKey, MessageSigning, MessageSigningPolicy, ReplayMode, RequestParts, content_digest,
    signature_base,
};
use attestgate_testkit::msgsig::{ApproovVectors, InstallSigner};
use criterion::{Criterion, criterion_group, criterion_main};
use http::HeaderMap;

fn parts(h: &HeaderMap) -> RequestParts<'_> {
    RequestParts {
        method: "POST",
        scheme: "https",
        authority: "api.example.com",
        path_and_query: "/v1/orders?currency=EUR&amount=100",
        headers: h,
    }
}

fn bench_verify(c: &mut Criterion) {
    let signer = InstallSigner::approov_test_key();
    let body = vec![b'x'; 1024];
    let mut h = HeaderMap::new();
    h.insert("approov-token", ApproovVectors::token().parse().unwrap());
    h.insert(
        "content-digest",
        content_digest("sha-256", &body).unwrap().parse().unwrap(),
    );
    let now = attestgate_testkit::now();
    let member = format!(
        "(\"@method\" \"@target-uri\" \"approov-token\" \"content-digest\");alg=\"ecdsa-p256-sha256\";created={now}"
    );
    let (input, sig) = signer.sign(&parts(&h), &member);
    h.insert("signature-input", input.parse().unwrap());
    h.insert("signature", sig.parse().unwrap());
    let key = Ok(InstallKey::from_ipk(&ApproovVectors::ipk()).unwrap());
    let signing = MessageSigning::new(
        MessageSigningPolicy {
            replay: ReplayMode::Off,
            max_age: std::time::Duration::from_secs(3600),
            ..MessageSigningPolicy::default()
        },
        None,
    )
    .unwrap();
    let t = now as f64;
    assert!(
        signing
            .verify(&parts(&h), Some(&body), Some(&key), t)
            .unwrap()
            .is_some()
    );

    let mut g = c.benchmark_group("verify");
    g.bench_function("full", |b| {
        b.iter(|| {
            signing
                .verify(black_box(&parts(&h)), Some(&body), Some(&key), t)
                .unwrap()
        })
    });
    g.bench_function("base_only", |b| {
        b.iter(|| signature_base(black_box(&parts(&h)), black_box(&input)).unwrap())
    });
    let base = signature_base(&parts(&h), &input).unwrap();
    let raw = signer.sign_raw(base.as_bytes());
    let point = *key.as_ref().unwrap().point();
    g.bench_function("ecdsa_floor", |b| {
        b.iter(|| {
            ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_FIXED,
                &point[..],
            )
            .verify(black_box(base.as_bytes()), &raw)
            .unwrap()
        })
    });
    let ipk = ApproovVectors::ipk();
    g.bench_function("ipk_parse", |b| {
        b.iter(|| InstallKey::from_ipk(black_box(&ipk)).unwrap())
    });
    g.finish();
}

fn bench_replay(c: &mut Criterion) {
    let store = MemoryStore::new(1 << 18);
    let mut g = c.benchmark_group("replay");
    let mut i: u64 = 0;
    g.bench_function("memory_first_use", |b| {
        b.iter(|| {
            i += 1;
            let mut sig = [0u8; 64];
            sig[..8].copy_from_slice(&i.to_le_bytes());
            let k = ReplayKey::of_signature(&sig);
            // windows of 65 s at 1 ms per key: the store stays full-ish
            let now = i as f64 * 0.001;
            assert!(store.check(black_box(&k), now + 65.0, now));
        })
    });
    let held = ReplayKey::of_signature(&[1u8; 64]);
    assert!(store.check(&held, f64::MAX, 0.0));
    g.bench_function("memory_seen", |b| {
        b.iter(|| assert!(!store.check(black_box(&held), f64::MAX, 1.0)))
    });
    let sig = [7u8; 64];
    g.bench_function("replay_key", |b| {
        b.iter(|| ReplayKey::of_signature(black_box(&sig)))
    });
    g.finish();
}

fn bench_redis(c: &mut Criterion) {
    use attestgate::msgsig::replay::{RedisStore, ReplayMetrics, ReplayStore};
    let redis = attestgate_testkit::redis::RedisServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = rt.block_on(async {
        RedisStore::new(
            &redis.url(),
            std::time::Duration::from_millis(500),
            ReplayMetrics::unregistered().unwrap(),
        )
        .unwrap()
    });
    let mut i: u64 = 0;
    let now = attestgate_testkit::now() as f64;
    let mut g = c.benchmark_group("replay");
    g.bench_function("redis_first_use", |b| {
        b.iter(|| {
            i += 1;
            let mut sig = [0u8; 64];
            sig[..8].copy_from_slice(&i.to_le_bytes());
            let k = ReplayKey::of_signature(&sig);
            assert_eq!(rt.block_on(store.first_use(&k, now + 65.0, now)), Ok(true));
        })
    });
    g.finish();
    drop(redis);
}

criterion_group!(benches, bench_verify, bench_replay, bench_redis);
criterion_main!(benches);
