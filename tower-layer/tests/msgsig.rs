//! Approov message signing through the layer, in process: a signed
//! bodyless request passes once and is a replay the second time; a wrong
//! key, an altered query, a missing signature and a signed request with a
//! body (which `call()` cannot buffer) are refused before the inner
//! service runs; monitor mode lets them through.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use attestgate::msgsig::{self, MessageSigningPolicy, RequestParts};
use attestgate::{Mode, Policy, Verifier};
use attestgate_testkit::msgsig::{ApproovVectors, InstallSigner};
use attestgate_tower::AttestLayer;
use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::Full;
use tower::{Layer, ServiceExt, service_fn};

const AUTHORITY: &str = "api.example.com";

fn verifier(mode: Mode) -> Verifier {
    let v = Verifier::builder()
        .secret_base64(&ApproovVectors::secret())
        .unwrap()
        .build()
        .unwrap();
    v.with_policy(Policy {
        mode,
        message_signing: Some(MessageSigningPolicy::default()),
        ..v.policy().clone()
    })
}

/// A request to `path` signed by `signer` over `signed_path`.
fn signed(signer: &InstallSigner, path: &str, signed_path: &str, body: &str) -> Request<()> {
    let token = ApproovVectors::token();
    let mut h = HeaderMap::new();
    h.insert("approov-token", token.parse().unwrap());
    let parts = RequestParts {
        method: "GET",
        scheme: "http",
        authority: AUTHORITY,
        path_and_query: signed_path,
        headers: &h,
    };
    let created = attestgate_testkit::now();
    let member = format!(
        "(\"@method\" \"@target-uri\" \"approov-token\");alg=\"{}\";created={created}",
        msgsig::ALG
    );
    let (input, sig) = signer.sign(&parts, &member);
    let mut b = Request::builder()
        .uri(path)
        .header("host", AUTHORITY)
        .header("approov-token", token)
        .header("signature-input", input)
        .header("signature", sig);
    if !body.is_empty() {
        b = b.header("content-length", body.len().to_string());
    }
    b.body(()).unwrap()
}

async fn status(v: &Verifier, calls: &Arc<AtomicUsize>, req: Request<()>) -> u16 {
    let calls = calls.clone();
    let svc = AttestLayer::new(v.clone()).layer(service_fn(move |_req: Request<()>| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok")))) }
    }));
    svc.oneshot(req).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn signed_requests_through_the_layer() {
    let v = verifier(Mode::Enforce);
    let calls = Arc::new(AtomicUsize::new(0));
    let key = InstallSigner::approov_test_key();
    let good = || signed(&key, "/x?a=1", "/x?a=1", "");
    let first = good();
    let again = Request::builder()
        .uri("/x?a=1")
        .body(())
        .map(|mut r| {
            *r.headers_mut() = first.headers().clone();
            r
        })
        .unwrap();
    assert_eq!(status(&v, &calls, first).await, 200);
    assert_eq!(status(&v, &calls, again).await, 401, "replay");
    assert_eq!(status(&v, &calls, good()).await, 200, "a new signature");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let refused = [
        signed(&InstallSigner::generate(), "/x?a=1", "/x?a=1", ""),
        signed(&key, "/x?a=2", "/x?a=1", ""),
        signed(&key, "/x?a=1", "/x?a=1", "body"),
        Request::builder()
            .uri("/x")
            .header("approov-token", ApproovVectors::token())
            .body(())
            .unwrap(),
    ];
    for r in refused {
        assert_eq!(status(&v, &calls, r).await, 401);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the inner service ran");

    let monitor = verifier(Mode::Monitor);
    let r = signed(&InstallSigner::generate(), "/x", "/x", "");
    assert_eq!(status(&monitor, &calls, r).await, 200);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}
