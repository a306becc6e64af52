//! The service in process, through `tower::ServiceExt::oneshot`: what the
//! inner service receives and what the outer layers get back, beyond what a
//! client can see over the network.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use attestgate::{Reason, VerifiedToken};
use attestgate_testkit::tokens::TestKeys;
use attestgate_tower::{AttestLayer, Rejection};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use serde_json::json;
use tower::{Layer, ServiceExt, service_fn};

/// What the inner service saw in its request extensions.
#[derive(Debug, Default, Clone)]
struct Seen {
    token: Option<VerifiedToken>,
    rejection: Option<Rejection>,
}

fn inner(
    seen: Arc<Mutex<Option<Seen>>>,
) -> impl tower::Service<Request<()>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send>
+ Clone {
    service_fn(move |req: Request<()>| {
        let seen = seen.clone();
        async move {
            *seen.lock().unwrap() = Some(Seen {
                token: req.extensions().get::<VerifiedToken>().cloned(),
                rejection: req.extensions().get::<Rejection>().copied(),
            });
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"inner"))))
        }
    })
}

fn req(token: Option<&str>) -> Request<()> {
    let mut b = Request::builder().uri("/x");
    if let Some(t) = token {
        b = b.header("approov-token", t);
    }
    b.body(()).unwrap()
}

#[tokio::test]
async fn refusal_carries_the_rejection_in_response_extensions() {
    let keys = TestKeys::new();
    let verifier = attestgate::Verifier::builder()
        .secret_base64(&keys.secret_b64)
        .unwrap()
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(None));
    let svc = AttestLayer::new(verifier).layer(inner(seen.clone()));

    let res = svc
        .oneshot(req(Some(&keys.hs256(-1, json!({})))))
        .await
        .unwrap();

    assert_eq!(res.status(), 401);
    let rejection = res.extensions().get::<Rejection>().copied().unwrap();
    assert_eq!(rejection.reason, Reason::Expired);
    assert_eq!(rejection.status, 401);
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "{}");
    assert!(
        seen.lock().unwrap().is_none(),
        "the inner service was called"
    );
}

#[tokio::test]
async fn a_pass_gives_the_inner_service_the_token_and_no_rejection() {
    let keys = TestKeys::new();
    let verifier = attestgate::Verifier::builder()
        .secret_base64(&keys.secret_b64)
        .unwrap()
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(None));
    let svc = AttestLayer::new(verifier).layer(inner(seen.clone()));

    let res = svc
        .oneshot(req(Some(&keys.hs256(60, json!({"did": "d-1"})))))
        .await
        .unwrap();

    assert_eq!(res.status(), 200);
    assert!(res.extensions().get::<Rejection>().is_none());
    let seen = seen.lock().unwrap().clone().unwrap();
    assert_eq!(seen.token.unwrap().did(), Some("d-1"));
    assert!(seen.rejection.is_none());
}

#[tokio::test]
async fn monitor_mode_drops_a_token_an_earlier_layer_put_there() {
    let keys = TestKeys::new();
    let verifier = attestgate::Verifier::builder()
        .secret_base64(&keys.secret_b64)
        .unwrap()
        .build()
        .unwrap();
    // A genuine VerifiedToken, left in the extensions by some earlier
    // middleware (say a second AttestLayer on another header).
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "approov-token",
        keys.hs256(60, json!({"did": "earlier"})).parse().unwrap(),
    );
    let stale = verifier.check(&headers).unwrap();
    let seen = Arc::new(Mutex::new(None));
    let svc = AttestLayer::new(verifier)
        .monitor(true)
        .layer(inner(seen.clone()));

    let mut request = req(None);
    request.extensions_mut().insert(stale);
    let res = svc.oneshot(request).await.unwrap();

    assert_eq!(res.status(), 200);
    let seen = seen.lock().unwrap().clone().unwrap();
    assert!(
        seen.token.is_none(),
        "a failing request must not carry a VerifiedToken"
    );
    assert_eq!(seen.rejection.map(|r| r.reason), Some(Reason::Missing));
}

/// A clone of a configured layer builds services that act on its
/// settings: monitor mode lets a request without a token through, counted
/// under the layer's route name. Its Debug print names the route and never
/// the secret.
#[tokio::test]
async fn a_cloned_layer_acts_on_its_route_and_mode_and_debug_shows_no_secret() {
    let keys = TestKeys::new();
    let verifier = attestgate::Verifier::builder()
        .secret_base64(&keys.secret_b64)
        .unwrap()
        .build()
        .unwrap();
    let registry = prometheus::Registry::new();
    let layer = AttestLayer::new(verifier)
        .route_name("r")
        .monitor(true)
        .metrics(&registry)
        .unwrap();
    let seen = Arc::new(Mutex::new(None));
    let res = layer
        .clone()
        .layer(inner(seen.clone()))
        .oneshot(req(None))
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "monitor mode lets it through");
    let seen = seen.lock().unwrap().clone().unwrap();
    assert_eq!(seen.rejection.map(|r| r.reason), Some(Reason::Missing));
    let metrics = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "attestgate_requests_total{outcome=\"monitored\",route=\"r\"} 1"),
        "{metrics}"
    );
    let text = format!("{layer:?}");
    assert!(text.contains("\"r\""), "{text}");
    assert!(!text.contains(&keys.secret_b64), "{text}");
}
