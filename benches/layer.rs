//! The tower layer's cost per request: a `tower::service_fn` called bare and
//! behind `AttestLayer`, HS256 and ES256, verified-token cache on (warm), with
//! and without metrics attached; plus the refusal path and ES256 without the
//! cache, for scale.
//!
//! ```text
//! cargo bench -p attestgate-tower --bench layer
//! ```
//!
//! The futures involved are ready at once, so each call is polled once with
//! a no-op waker: no runtime in the measurement. Building the request (a
//! header map with the token) is outside the timed part.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use attestgate::Verifier;
use attestgate_testkit::tokens::{TestKeys, approov_claims};
use attestgate_tower::AttestLayer;
use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use tower::{Layer, Service, service_fn};

type Req = Request<()>;
type Res = Response<Full<Bytes>>;

async fn handler(req: Req) -> Result<Res, Infallible> {
    black_box(&req);
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

/// One request through `svc`, to completion; panics if anything is not
/// ready at once.
fn call_once<S>(svc: &mut S, req: Req) -> Res
where
    S: Service<Req, Response = Res, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    let fut = pin!(svc.call(req));
    match fut.poll(&mut cx) {
        Poll::Ready(Ok(res)) => res,
        _ => panic!("the service was not ready at once"),
    }
}

fn request(token: Option<&str>) -> Req {
    let mut req = Request::builder().uri("/hello").body(()).unwrap();
    if let Some(t) = token {
        req.headers_mut()
            .insert("approov-token", HeaderValue::from_str(t).unwrap());
    }
    req
}

fn bench_one<S>(c: &mut Criterion, name: &str, mut svc: S, token: Option<&str>, want: u16)
where
    S: Service<Req, Response = Res, Error = Infallible>,
{
    // Warm the cache, and check the setup does what the name says.
    assert_eq!(call_once(&mut svc, request(token)).status(), want, "{name}");
    c.bench_function(name, |b| {
        b.iter_batched(
            || request(token),
            |req| call_once(&mut svc, req),
            BatchSize::SmallInput,
        )
    });
}

fn layer_benches(c: &mut Criterion) {
    let keys = TestKeys::new();
    let hs = keys.hs256(3600, approov_claims(3600, None));
    let es = keys.es256(3600, approov_claims(3600, None));
    let hs_verifier = || {
        Verifier::builder()
            .secret_base64(&keys.secret_b64)
            .unwrap()
            .build()
            .unwrap()
    };
    let es_verifier = |cache: u64| {
        Verifier::builder()
            .jwks_json(keys.jwks().to_string())
            .cache_capacity(cache)
            .build()
            .unwrap()
    };
    let with_metrics = |v: Verifier| {
        AttestLayer::new(v)
            .route_name("bench")
            .metrics(&prometheus::Registry::new())
            .unwrap()
    };

    bench_one(c, "layer/bare", service_fn(handler), Some(&hs), 200);
    bench_one(
        c,
        "layer/hs256",
        AttestLayer::new(hs_verifier()).layer(service_fn(handler)),
        Some(&hs),
        200,
    );
    bench_one(
        c,
        "layer/es256",
        AttestLayer::new(es_verifier(100_000)).layer(service_fn(handler)),
        Some(&es),
        200,
    );
    bench_one(
        c,
        "layer/hs256_metrics",
        with_metrics(hs_verifier()).layer(service_fn(handler)),
        Some(&hs),
        200,
    );
    bench_one(
        c,
        "layer/es256_metrics",
        with_metrics(es_verifier(100_000)).layer(service_fn(handler)),
        Some(&es),
        200,
    );
    bench_one(
        c,
        "layer/rejected_missing",
        AttestLayer::new(hs_verifier()).layer(service_fn(handler)),
        None,
        401,
    );
    bench_one(
        c,
        "layer/es256_no_cache",
        AttestLayer::new(es_verifier(0)).layer(service_fn(handler)),
        Some(&es),
        200,
    );
}

criterion_group!(benches, layer_benches);
criterion_main!(benches);
