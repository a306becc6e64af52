//! Parity: one table of cases (attestgate_testkit::parity) through the core
//! (`Verifier::check`), the tower layer (a real axum server) and the proxy
//! (the real binary in front of a recording upstream). All three must give
//! the table's outcome for every case, so they agree with each other, and
//! a refused request gets the core's answer, whole, from both front ends.
//! A request let through carries the token's claims to the service, and
//! both front ends count every request alike. The rate limits have their
//! own table (`ratelimit`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ratelimit;

use std::path::Path;

use attestgate::{Metrics, Reason};
use attestgate_testkit::client::{Client, Reply, request};
use attestgate_testkit::parity::{self, Case, Expect, Fixture};
use attestgate_testkit::proxy::{Proxy, Start};
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};
use attestgate_tower::{AttestLayer, Verified};
use axum::Router;
use axum::routing::get;
use prometheus::Registry;

fn reason_counts_from_text(text: &str) -> [f64; Reason::ALL.len()] {
    Reason::ALL.map(|r| {
        // every route's series of this reason, summed
        let series = format!("attestgate_rejections_total{{reason=\"{}\",", r.as_str());
        text.lines()
            .filter(|l| l.starts_with(&series))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    })
}

fn registry_text(registry: &Registry) -> String {
    let mut out = Vec::new();
    prometheus::Encoder::encode(
        &prometheus::TextEncoder::new(),
        &registry.gather(),
        &mut out,
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

/// A decision seen from outside: 200 means passed; 401 means refused, and
/// the reason is the one `attestgate_rejections_total` series that moved.
fn decide(
    name: &str,
    reply: &Reply,
    before: [f64; Reason::ALL.len()],
    after: [f64; Reason::ALL.len()],
) -> Expect {
    let moved: Vec<Reason> = Reason::ALL
        .into_iter()
        .filter(|r| after[r.index()] != before[r.index()])
        .collect();
    match reply.status {
        200 => {
            assert!(moved.is_empty(), "{name}: passed but counted {moved:?}");
            Expect::Allowed
        }
        401 => {
            assert_eq!(&reply.body[..], b"{}", "{name}");
            assert_eq!(moved.len(), 1, "{name}: counted {moved:?}");
            Expect::Rejected(moved[0])
        }
        other => panic!("{name}: unexpected status {other}: {}", reply.text()),
    }
}

/// The headers of an answer that matter for parity (framing and dates
/// differ by server and do not).
const COMPARED: [&str; 4] = [
    "content-type",
    "cache-control",
    "grpc-status",
    "grpc-message",
];

/// An answer as compared: status, the headers that matter, body.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

fn answer_of(reply: &Reply) -> Answer {
    let headers = COMPARED
        .iter()
        .filter_map(|h| Some((h.to_string(), reply.header(h)?.to_owned())))
        .collect();
    (reply.status, headers, reply.body.to_vec())
}

/// What the core says a refused request must get, in full.
fn core_answer(verifier: &attestgate::Verifier, headers: &http::HeaderMap) -> Option<Answer> {
    let uri = http::Uri::from_static("/p");
    let decision = verifier.decide(attestgate::RequestParts {
        method: &http::Method::GET,
        uri: &uri,
        headers,
        client: None,
        body: attestgate::target::BodyHint::FromHeaders,
    });
    let refusal = decision.refusal()?;
    let mut headers: Vec<(String, String)> = refusal
        .headers()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    headers.sort_by_key(|(k, _)| COMPARED.iter().position(|c| c == k));
    Some((
        refusal.status().as_u16(),
        headers,
        refusal.body().as_bytes().to_vec(),
    ))
}

/// The core's decision, and the device id a passing token gives.
fn core_decision(verifier: &attestgate::Verifier, case: &Case) -> (Expect, Option<String>) {
    match verifier.check(&case.header_map()) {
        Ok(token) => (Expect::Allowed, token.did().map(str::to_owned)),
        Err(reason) => (Expect::Rejected(reason), None),
    }
}

/// `attestgate_requests_total{route="parity", outcome}` in a text
/// exposition.
fn requests_from_text(text: &str, outcome: &str) -> f64 {
    let label = format!("outcome=\"{outcome}\"");
    text.lines()
        .filter(|l| l.starts_with("attestgate_requests_total{"))
        .filter(|l| l.contains(&label) && l.contains("route=\"parity\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_layer_and_core_decide_every_case_alike() {
    let fx = Fixture::new();
    let cases = fx.cases();
    // The table covers every reason but `no_keys` (a verifier without keys:
    // tests/proxy/e2e.rs and the tower layer's axum and tonic tests) and
    // message signing's two (tests/core/msgsig, tests/proxy/msgsig).
    let mut want: Vec<Reason> = Reason::ALL
        .into_iter()
        .filter(|r| !matches!(r, Reason::NoKeys | Reason::Signature | Reason::Replay))
        .collect();
    want.sort_by_key(|r| r.index());
    assert_eq!(parity::reasons_covered(&cases), want);

    // core
    let core_v = fx.verifier_builder().build().unwrap();

    // tower layer on axum
    let registry = Registry::new();
    let metrics = Metrics::register(&registry).unwrap();
    let layer = AttestLayer::new(fx.verifier_builder().build().unwrap())
        .route_name("parity")
        .with_metrics(&metrics);
    let app = Router::new()
        .route(
            "/p",
            // Anything let through answers 200 with the device id it saw.
            get(|t: Option<Verified>| async move {
                t.and_then(|t| t.did().map(str::to_owned))
                    .unwrap_or_default()
            }),
        )
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let layer_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    // proxy
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let config = format!(
        "{}\n[[route]]\nname = \"parity\"\nupstream = \"{}\"\n",
        fx.token_toml(),
        up.url()
    );
    let proxy = Proxy::start(
        Path::new(env!("CARGO_BIN_EXE_attestgate")),
        Start {
            config: &config,
            ..Start::default()
        },
    )
    .await;

    let client = Client::new();
    let layer_url = format!("http://{layer_addr}/p");
    let proxy_url = proxy.url("/p");
    // Twice: the second round runs on warm verified-token caches.
    for round in 0..2 {
        for case in &cases {
            let (core, core_did) = core_decision(&core_v, case);

            let before = reason_counts_from_text(&registry_text(&registry));
            let layer_reply = client
                .send(request("GET", &layer_url, &case.header_pairs(), ""))
                .await;
            let layer = decide(
                case.name,
                &layer_reply,
                before,
                reason_counts_from_text(&registry_text(&registry)),
            );

            let upstream_before = up.count();
            let before = reason_counts_from_text(&proxy.metrics().await);
            let reply = client
                .send(request("GET", &proxy_url, &case.header_pairs(), ""))
                .await;
            let proxy_says = decide(
                case.name,
                &reply,
                before,
                reason_counts_from_text(&proxy.metrics().await),
            );
            let reached = up.count() - upstream_before;
            assert_eq!(
                reached,
                usize::from(proxy_says == Expect::Allowed),
                "{}",
                case.name
            );

            assert_eq!(core, case.expect, "round {round}, core, {}", case.name);
            assert_eq!(core_did, case.did, "round {round}, core, {}", case.name);
            if layer == Expect::Allowed {
                let seen = Some(layer_reply.text()).filter(|d| !d.is_empty());
                assert_eq!(seen, case.did, "round {round}, layer, {}", case.name);
            }
            // Refused: both front ends send the core's answer, whole.
            if let Some(want) = core_answer(&core_v, &case.header_map()) {
                assert_eq!(answer_of(&layer_reply), want, "layer answer, {}", case.name);
                assert_eq!(answer_of(&reply), want, "proxy answer, {}", case.name);
                // And the same request as a gRPC call gets the gRPC form.
                let mut pairs = case.header_pairs();
                pairs.push(("content-type", "application/grpc"));
                let mut grpc_headers = case.header_map();
                grpc_headers.insert(
                    "content-type",
                    http::HeaderValue::from_static("application/grpc"),
                );
                let want = core_answer(&core_v, &grpc_headers).unwrap();
                assert_eq!(want.0, 200);
                for url in [&layer_url, &proxy_url] {
                    let r = client.send(request("POST", url, &pairs, "")).await;
                    assert_eq!(answer_of(&r), want, "gRPC answer from {url}, {}", case.name);
                }
            }
            assert_eq!(layer, case.expect, "round {round}, layer, {}", case.name);
            assert_eq!(
                proxy_says, case.expect,
                "round {round}, proxy, {}",
                case.name
            );
        }
    }
    // Both front ends counted every request alike: each case twice, and
    // each refused one twice more as a gRPC call.
    let allowed = cases.iter().filter(|c| c.expect == Expect::Allowed).count() as f64;
    let refused = cases.len() as f64 - allowed;
    let layer_text = registry_text(&registry);
    let proxy_text = proxy.metrics().await;
    for (outcome, want) in [("allowed", 2.0 * allowed), ("rejected", 4.0 * refused)] {
        assert_eq!(
            requests_from_text(&layer_text, outcome),
            want,
            "layer, {outcome}"
        );
        assert_eq!(
            requests_from_text(&proxy_text, outcome),
            want,
            "proxy, {outcome}"
        );
    }
}
