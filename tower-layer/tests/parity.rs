//! Parity: one table of cases (attestgate_testkit::parity) through the core
//! (`Verifier::check`) and through the tower layer on a real axum server;
//! both must give the table's outcome, and so agree with each other. The
//! proxy will run the same table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use attestgate::Reason;
use attestgate_testkit::client::{Client, request};
use attestgate_testkit::parity::{self, Case, Expect, Fixture};
use attestgate_tower::{AttestLayer, Verified};
use axum::Router;
use axum::routing::get;
use common::{rejections, requests, serve_axum};
use prometheus::Registry;

/// What a front end decided, and the claims the service saw.
#[derive(Debug, PartialEq, Eq)]
struct Decision {
    expect: Expect,
    did: Option<String>,
}

fn core_decision(verifier: &attestgate::Verifier, case: &Case) -> Decision {
    match verifier.check(&case.header_map()) {
        Ok(token) => Decision {
            expect: Expect::Allowed,
            did: token.did().map(str::to_owned),
        },
        Err(reason) => Decision {
            expect: Expect::Rejected(reason),
            did: None,
        },
    }
}

/// Through the layer, observed from outside as the proxy's parity run will:
/// status, what the service answered, and which `reason` series moved.
async fn layer_decision(client: &Client, url: &str, registry: &Registry, case: &Case) -> Decision {
    let before = Reason::ALL.map(|r| rejections(registry, r));
    let reply = client
        .send(request("GET", url, &case.header_pairs(), ""))
        .await;
    let moved: Vec<Reason> = Reason::ALL
        .into_iter()
        .filter(|r| rejections(registry, *r) != before[r.index()])
        .collect();
    match reply.status {
        200 => {
            assert!(
                moved.is_empty(),
                "{}: passed but counted {moved:?}",
                case.name
            );
            Decision {
                expect: Expect::Allowed,
                did: Some(reply.text()),
            }
        }
        401 => {
            assert_eq!(&reply.body[..], b"{}", "{}", case.name);
            assert_eq!(moved.len(), 1, "{}: counted {moved:?}", case.name);
            Decision {
                expect: Expect::Rejected(moved[0]),
                did: None,
            }
        }
        other => panic!("{}: unexpected status {other}: {}", case.name, reply.text()),
    }
}

#[tokio::test]
async fn layer_and_core_decide_every_case_alike() {
    let fx = Fixture::new();
    let cases = fx.cases();
    // The table covers every reason but `no_keys` (a verifier without keys:
    // see the axum and tonic tests).
    let mut want: Vec<Reason> = Reason::ALL
        .into_iter()
        .filter(|r| !matches!(r, Reason::NoKeys | Reason::Signature | Reason::Replay))
        .collect();
    want.sort_by_key(|r| r.index());
    assert_eq!(parity::reasons_covered(&cases), want);

    let core = fx.verifier_builder().build().unwrap();
    let registry = Registry::new();
    let layer = AttestLayer::new(fx.verifier_builder().build().unwrap())
        .route_name("parity")
        .metrics(&registry)
        .unwrap();
    let app = Router::new()
        .route(
            "/p",
            // Anything let through answers 200, verified or not.
            get(|t: Option<Verified>| async move {
                t.and_then(|t| t.did().map(str::to_owned))
                    .unwrap_or_default()
            }),
        )
        .layer(layer);
    let addr = serve_axum(app).await;
    let url = format!("http://{addr}/p");
    let client = Client::new();

    // Twice: the second round runs on a warm verified-token cache.
    for round in 0..2 {
        for case in &cases {
            let expected = Decision {
                expect: case.expect,
                did: case.did.clone(),
            };
            let core = core_decision(&core, case);
            let layer = layer_decision(&client, &url, &registry, case).await;
            assert_eq!(core, expected, "round {round}, core, case {}", case.name);
            assert_eq!(layer, expected, "round {round}, layer, case {}", case.name);
        }
    }
    let allowed = cases.iter().filter(|c| c.expect == Expect::Allowed).count() as f64;
    assert_eq!(requests(&registry, "parity", "allowed"), 2.0 * allowed);
    assert_eq!(
        requests(&registry, "parity", "rejected"),
        2.0 * (cases.len() as f64 - allowed)
    );
}
