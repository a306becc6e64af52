//! The layer in front of a real axum `Router` on 127.0.0.1, called over
//! HTTP with a real client.

use super::common;

use attestgate::{Mode, Reason, Verifier};
use attestgate_testkit::client::{Client, request};
use attestgate_testkit::parity::{self, Expect, Fixture};
use attestgate_testkit::tokens::{TestKeys, approov_claims};
use attestgate_tower::{AttestLayer, DefaultRejection, RejectContext, Rejection, Verified};
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use common::{Calls, SeenRejections, rejections, requests, serve_axum};
use prometheus::Registry;
use serde_json::{Value, json};

/// Answers with the claims the handler sees.
async fn hello(
    State(calls): State<Calls>,
    Verified(token): Verified,
    headers: HeaderMap,
) -> Json<Value> {
    calls.hit();
    Json(json!({
        "did": token.did(),
        "sub": token.sub(),
        "plan": token.claim("plan"),
        "alg": token.alg().as_str(),
        "token_header": headers.get("approov-token").map(|v| v.to_str().unwrap().to_owned()),
    }))
}

/// For monitor mode: the token if verified, else the monitored reason.
async fn any(
    State(calls): State<Calls>,
    token: Option<Verified>,
    rejection: Option<Extension<Rejection>>,
) -> Json<Value> {
    calls.hit();
    Json(json!({
        "did": token.as_ref().and_then(|t| t.did()),
        "monitored": rejection.map(|Extension(r)| r.reason.as_str()),
    }))
}

fn app(layer: AttestLayer, calls: &Calls) -> Router {
    Router::new()
        .route("/hello", get(hello))
        .route("/any", get(any))
        .layer(layer)
        .with_state(calls.clone())
}

fn hs_verifier(keys: &TestKeys) -> attestgate::VerifierBuilder {
    Verifier::builder().secret_base64(&keys.secret_b64).unwrap()
}

#[tokio::test]
async fn passes_with_claims_visible_and_the_token_header_left_as_is() {
    let keys = TestKeys::new();
    let calls = Calls::default();
    let addr = serve_axum(app(
        AttestLayer::new(hs_verifier(&keys).build().unwrap()),
        &calls,
    ))
    .await;
    let token = keys.hs256(
        300,
        json!({"did": "device-42", "sub": "user-7", "plan": "gold"}),
    );

    let reply = Client::new()
        .get(
            &format!("http://{addr}/hello"),
            &[("approov-token", &token)],
        )
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["did"], "device-42");
    assert_eq!(body["sub"], "user-7");
    assert_eq!(body["plan"], "gold");
    assert_eq!(body["alg"], "HS256");
    assert_eq!(body["token_header"], token.as_str());
    assert_eq!(calls.get(), 1);
}

#[tokio::test]
async fn es256_tokens_pass_too() {
    let keys = TestKeys::new();
    let verifier = Verifier::builder()
        .jwks_json(keys.jwks().to_string())
        .build()
        .unwrap();
    let calls = Calls::default();
    let addr = serve_axum(app(AttestLayer::new(verifier), &calls)).await;
    let token = keys.es256(300, json!({"did": "device-es"}));

    let reply = Client::new()
        .get(
            &format!("http://{addr}/hello"),
            &[("approov-token", &token)],
        )
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["did"], "device-es");
    assert_eq!(reply.json()["alg"], "ES256");
}

/// Every reason of the parity table: 401, `{}`, JSON, the handler never
/// runs (`/any` would answer 200 to anything let through), the reason only
/// in the response extensions.
#[tokio::test]
async fn each_rejection_reason_gets_401_and_an_empty_object() {
    let fx = Fixture::new();
    let calls = Calls::default();
    let seen = SeenRejections::default();
    let layer = AttestLayer::new(fx.verifier_builder().build().unwrap());
    let addr = serve_axum(seen.wrap(app(layer, &calls))).await;
    let client = Client::new();
    let cases = fx.cases();
    // all but no_keys, and the message-signing reasons (signature, replay)
    assert_eq!(parity::reasons_covered(&cases).len(), Reason::ALL.len() - 3);

    for case in cases {
        let Expect::Rejected(reason) = case.expect else {
            continue;
        };
        let before = calls.get();
        let reply = client
            .send(request(
                "GET",
                &format!("http://{addr}/any"),
                &case.header_pairs(),
                "",
            ))
            .await;
        assert_eq!(reply.status, 401, "{}", case.name);
        assert_eq!(
            reply.header("content-type"),
            Some("application/json"),
            "{}",
            case.name
        );
        assert_eq!(&reply.body[..], b"{}", "{}", case.name);
        for (name, value) in &reply.headers {
            assert!(
                !value.to_str().unwrap_or("").contains(reason.as_str()),
                "{}: reason leaked in header {name}",
                case.name
            );
        }
        assert_eq!(calls.get(), before, "{}: the handler ran", case.name);
        assert_eq!(seen.take(), vec![reason], "{}", case.name);
    }
}

#[tokio::test]
async fn no_keys_answers_503() {
    // Only a JWKS URL, on a port nobody listens on, and no refresher: no key
    // has ever loaded.
    let port = attestgate_testkit::http::free_port();
    let verifier = Verifier::builder()
        .jwks_url(format!("http://127.0.0.1:{port}/jwks.json"))
        .build()
        .unwrap();
    assert!(!verifier.is_ready());
    let calls = Calls::default();
    let seen = SeenRejections::default();
    let addr = serve_axum(seen.wrap(app(AttestLayer::new(verifier), &calls))).await;
    let token = TestKeys::new().es256(300, json!({}));

    let reply = Client::new()
        .get(
            &format!("http://{addr}/hello"),
            &[("approov-token", &token)],
        )
        .await;

    assert_eq!(reply.status, 503);
    assert_eq!(&reply.body[..], b"{}");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(seen.take(), vec![Reason::NoKeys]);
    assert_eq!(calls.get(), 0);
}

#[tokio::test]
async fn reject_status_is_the_configured_one() {
    let keys = TestKeys::new();
    let verifier = hs_verifier(&keys).reject_status(403).build().unwrap();
    let calls = Calls::default();
    let addr = serve_axum(app(AttestLayer::new(verifier), &calls)).await;

    let reply = Client::new()
        .get(
            &format!("http://{addr}/hello"),
            &[("approov-token", &keys.hs256(-10, json!({})))],
        )
        .await;

    assert_eq!(reply.status, 403);
    assert_eq!(&reply.body[..], b"{}");
}

#[tokio::test]
async fn binding_headers_are_checked() {
    let keys = TestKeys::new();
    let verifier = hs_verifier(&keys)
        .binding_headers(["Authorization"])
        .build()
        .unwrap();
    let calls = Calls::default();
    let seen = SeenRejections::default();
    let addr = serve_axum(seen.wrap(app(AttestLayer::new(verifier), &calls))).await;
    let client = Client::new();
    let url = format!("http://{addr}/any");
    let token = keys.hs256(300, approov_claims(300, Some(&["Bearer alice"])));

    let ok = client
        .get(
            &url,
            &[("approov-token", &token), ("authorization", "Bearer alice")],
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text());

    for headers in [
        vec![
            ("approov-token", token.as_str()),
            ("authorization", "Bearer mallory"),
        ],
        vec![("approov-token", token.as_str())],
    ] {
        let reply = client.get(&url, &headers).await;
        assert_eq!(reply.status, 401);
        assert_eq!(seen.take(), vec![Reason::Binding]);
    }
    // A token without `pay` is refused while binding is on.
    let unbound = keys.hs256(300, json!({"did": "d"}));
    let reply = client
        .get(
            &url,
            &[
                ("approov-token", &unbound),
                ("authorization", "Bearer alice"),
            ],
        )
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(seen.take(), vec![Reason::Binding]);
    assert_eq!(calls.get(), 1);
}

#[tokio::test]
async fn monitor_mode_lets_failing_requests_through_without_a_token() {
    let keys = TestKeys::new();
    for layer in [
        AttestLayer::new(hs_verifier(&keys).mode(Mode::Monitor).build().unwrap()),
        AttestLayer::new(hs_verifier(&keys).build().unwrap()).monitor(true),
    ] {
        let registry = Registry::new();
        let layer = layer.route_name("mon").metrics(&registry).unwrap();
        let calls = Calls::default();
        let addr = serve_axum(app(layer, &calls)).await;
        let client = Client::new();

        let bad = client
            .get(
                &format!("http://{addr}/any"),
                &[("approov-token", &keys.hs256(-5, json!({"did": "d1"})))],
            )
            .await;
        assert_eq!(bad.status, 200);
        assert_eq!(bad.json(), json!({"did": null, "monitored": "expired"}));

        let good = client
            .get(
                &format!("http://{addr}/any"),
                &[("approov-token", &keys.hs256(300, json!({"did": "d2"})))],
            )
            .await;
        assert_eq!(good.json(), json!({"did": "d2", "monitored": null}));

        // A handler that insists on `Verified` refuses the monitored request
        // itself, like the layer would have, without the reason.
        let strict = client.get(&format!("http://{addr}/hello"), &[]).await;
        assert_eq!(strict.status, 401);
        assert_eq!(&strict.body[..], b"{}");

        assert_eq!(calls.get(), 2);
        assert_eq!(requests(&registry, "mon", "monitored"), 2.0);
        assert_eq!(requests(&registry, "mon", "allowed"), 1.0);
        assert_eq!(requests(&registry, "mon", "rejected"), 0.0);
        assert_eq!(rejections(&registry, Reason::Expired), 1.0);
        assert_eq!(rejections(&registry, Reason::Missing), 1.0);
    }
}

#[tokio::test]
async fn monitor_false_overrides_a_monitor_verifier() {
    let keys = TestKeys::new();
    let layer =
        AttestLayer::new(hs_verifier(&keys).mode(Mode::Monitor).build().unwrap()).monitor(false);
    let calls = Calls::default();
    let addr = serve_axum(app(layer, &calls)).await;
    let reply = Client::new().get(&format!("http://{addr}/any"), &[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(calls.get(), 0);
}

#[tokio::test]
async fn metrics_count_outcomes_reasons_cache_and_keys() {
    let keys = TestKeys::new();
    let registry = Registry::new();
    let verifier = hs_verifier(&keys).build().unwrap();
    // route_name before or after metrics: the label follows the name.
    let layer = AttestLayer::new(verifier.clone())
        .metrics(&registry)
        .unwrap()
        .route_name("hello");
    let calls = Calls::default();
    let addr = serve_axum(app(layer, &calls)).await;
    let client = Client::new();
    let url = format!("http://{addr}/hello");
    let token = keys.hs256(300, json!({"did": "d"}));

    for _ in 0..3 {
        assert_eq!(
            client.get(&url, &[("approov-token", &token)]).await.status,
            200
        );
    }
    assert_eq!(client.get(&url, &[]).await.status, 401);
    assert_eq!(
        client
            .get(&url, &[("approov-token", "NO_NETWORK")])
            .await
            .status,
        401
    );
    assert_eq!(
        client
            .get(&url, &[("approov-token", &keys.hs256(-1, json!({})))])
            .await
            .status,
        401
    );

    assert_eq!(requests(&registry, "hello", "allowed"), 3.0);
    assert_eq!(requests(&registry, "hello", "rejected"), 3.0);
    assert_eq!(requests(&registry, "hello", "monitored"), 0.0);
    assert_eq!(requests(&registry, "default", "allowed"), 0.0);
    assert_eq!(rejections(&registry, Reason::Missing), 1.0);
    assert_eq!(rejections(&registry, Reason::SdkStatus), 1.0);
    assert_eq!(rejections(&registry, Reason::Expired), 1.0);
    assert_eq!(rejections(&registry, Reason::BadSignature), 0.0);
    let m = |name, labels: &[(&str, &str)]| common::metric(&registry, name, labels);
    assert_eq!(
        m("attestgate_token_cache_total", &[("result", "miss")]),
        2.0
    );
    assert_eq!(m("attestgate_token_cache_total", &[("result", "hit")]), 2.0);
    assert_eq!(m("attestgate_verify_seconds", &[]), 6.0);
    assert_eq!(m("attestgate_keyset_keys", &[]), 1.0);
    assert_eq!(calls.get(), 3);

    // Registering twice into one registry fails; sharing the series works.
    assert!(
        AttestLayer::new(verifier.clone())
            .metrics(&registry)
            .is_err()
    );
    // A second layer on the same verifier, given other series: the verifier
    // keeps the first ones, and the layer counts under its own route name.
    let metrics = attestgate::Metrics::register(&Registry::new()).unwrap();
    let other = AttestLayer::new(verifier)
        .route_name("other")
        .with_metrics(&metrics);
    let addr = serve_axum(app(other, &calls)).await;
    let url = format!("http://{addr}/hello");
    assert_eq!(
        client.get(&url, &[("approov-token", &token)]).await.status,
        200
    );
    assert_eq!(requests(&registry, "other", "allowed"), 1.0);
    assert_eq!(requests(&registry, "hello", "allowed"), 3.0);
}

#[tokio::test]
async fn verified_without_the_layer_is_a_clear_500() {
    let calls = Calls::default();
    let app = Router::new()
        .route("/hello", get(hello))
        .with_state(calls.clone());
    let addr = serve_axum(app).await;
    let reply = Client::new()
        .get(&format!("http://{addr}/hello"), &[])
        .await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.text(), "attestgate layer missing");
    assert_eq!(calls.get(), 0);
}

#[tokio::test]
async fn a_closure_replaces_the_rejection_and_the_reason_still_reaches_extensions() {
    let keys = TestKeys::new();
    let layer = AttestLayer::new(hs_verifier(&keys).build().unwrap()).rejection(
        |ctx: &RejectContext<'_>| {
            if ctx.is_grpc() {
                return DefaultRejection::grpc(ctx);
            }
            let mut r = axum::response::Response::new(axum::body::Body::from("go away"));
            *r.status_mut() = axum::http::StatusCode::IM_A_TEAPOT;
            r
        },
    );
    let calls = Calls::default();
    let seen = SeenRejections::default();
    let app = Router::new()
        .route("/hello", get(hello))
        .layer(layer)
        .with_state(calls.clone());
    let addr = serve_axum(seen.wrap(app)).await;

    let reply = Client::new()
        .get(&format!("http://{addr}/hello"), &[])
        .await;

    assert_eq!(reply.status, 418);
    assert_eq!(reply.text(), "go away");
    assert_eq!(seen.take(), vec![Reason::Missing]);
    assert_eq!(calls.get(), 0);
}
