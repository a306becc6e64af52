//! The layer in front of a real tonic server on 127.0.0.1, called with a
//! real tonic client (HTTP/2).

use super::common;

#[path = "../examples/proto/demo.rs"]
mod demo;

use std::net::SocketAddr;

use attestgate::{Mode, Reason, VerifiedToken, Verifier};
use attestgate_testkit::parity::{Expect, Fixture};
use attestgate_testkit::tokens::TestKeys;
use attestgate_tower::AttestLayer;
use common::{Calls, requests};
use demo::demo_client::DemoClient;
use demo::demo_server::{Demo, DemoServer};
use demo::{CountReply, CountRequest, HelloReply, HelloRequest};
use prometheus::Registry;
use serde_json::json;
use tonic::codegen::tokio_stream::{self, StreamExt};
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Channel, server::TcpIncoming};
use tonic::{Code, Request, Response, Status};

#[derive(Clone, Default)]
struct DemoService {
    hello_calls: Calls,
    count_calls: Calls,
}

#[tonic::async_trait]
impl Demo for DemoService {
    async fn hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        self.hello_calls.hit();
        let device = request
            .extensions()
            .get::<VerifiedToken>()
            .and_then(|t| t.did())
            .unwrap_or_default()
            .to_owned();
        Ok(Response::new(HelloReply {
            message: format!("hello, {}", request.get_ref().name),
            device,
        }))
    }

    type CountStream = tokio_stream::Iter<std::vec::IntoIter<Result<CountReply, Status>>>;

    async fn count(
        &self,
        request: Request<CountRequest>,
    ) -> Result<Response<Self::CountStream>, Status> {
        self.count_calls.hit();
        let items: Vec<_> = (1..=request.get_ref().count)
            .map(|n| Ok(CountReply { n }))
            .collect();
        Ok(Response::new(tokio_stream::iter(items)))
    }
}

async fn serve(layer: AttestLayer, svc: DemoService) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(layer)
            .add_service(DemoServer::new(svc))
            .serve_with_incoming(TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    addr
}

async fn client(addr: SocketAddr) -> DemoClient<Channel> {
    DemoClient::connect(format!("http://{addr}")).await.unwrap()
}

fn with_headers<T>(msg: T, headers: &[(&'static str, String)]) -> Request<T> {
    let mut req = Request::new(msg);
    for (k, v) in headers {
        req.metadata_mut().append(
            MetadataKey::from_static(k),
            MetadataValue::try_from(v.as_str()).unwrap(),
        );
    }
    req
}

fn hello() -> HelloRequest {
    HelloRequest {
        name: "test".into(),
    }
}

#[tokio::test]
async fn unary_call_passes_with_claims_visible() {
    let keys = TestKeys::new();
    let svc = DemoService::default();
    let verifier = Verifier::builder()
        .secret_base64(&keys.secret_b64)
        .unwrap()
        .build()
        .unwrap();
    let addr = serve(AttestLayer::new(verifier), svc.clone()).await;
    let token = keys.hs256(300, json!({"did": "grpc-device"}));

    let reply = client(addr)
        .await
        .hello(with_headers(hello(), &[("approov-token", token)]))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(reply.device, "grpc-device");
    assert_eq!(reply.message, "hello, test");
    assert_eq!(svc.hello_calls.get(), 1);
}

/// Every case of the parity table over gRPC: passes see their claims, every
/// rejection is UNAUTHENTICATED without the reason, the handler never runs.
#[tokio::test]
async fn each_rejection_reason_is_unauthenticated() {
    let fx = Fixture::new();
    let svc = DemoService::default();
    let registry = Registry::new();
    let layer = AttestLayer::new(fx.verifier_builder().build().unwrap())
        .route_name("grpc")
        .metrics(&registry)
        .unwrap();
    let addr = serve(layer, svc.clone()).await;
    let mut client = client(addr).await;

    for case in fx.cases() {
        let before = svc.hello_calls.get();
        let counted_before = Reason::ALL.map(|r| common::rejections(&registry, r));
        let result = client.hello(with_headers(hello(), &case.headers)).await;
        match case.expect {
            Expect::Allowed => {
                let reply = result
                    .unwrap_or_else(|s| panic!("{}: {s:?}", case.name))
                    .into_inner();
                assert_eq!(Some(reply.device), case.did, "{}", case.name);
                assert_eq!(svc.hello_calls.get(), before + 1, "{}", case.name);
            }
            Expect::Rejected(reason) => {
                let status = result.expect_err(case.name);
                assert_eq!(status.code(), Code::Unauthenticated, "{}", case.name);
                assert!(
                    !status.message().contains(reason.as_str()),
                    "{}: {status:?}",
                    case.name
                );
                assert_eq!(
                    svc.hello_calls.get(),
                    before,
                    "{}: the handler ran",
                    case.name
                );
                // Exactly this reason was counted.
                for r in Reason::ALL {
                    let want = counted_before[r.index()] + if r == reason { 1.0 } else { 0.0 };
                    assert_eq!(common::rejections(&registry, r), want, "{}: {r}", case.name);
                }
            }
        }
    }
    let allowed = fx
        .cases()
        .iter()
        .filter(|c| c.expect == Expect::Allowed)
        .count() as f64;
    assert_eq!(requests(&registry, "grpc", "allowed"), allowed);
    assert_eq!(
        requests(&registry, "grpc", "rejected"),
        fx.cases().len() as f64 - allowed
    );
}

#[tokio::test]
async fn no_keys_is_unavailable() {
    let port = attestgate_testkit::http::free_port();
    let verifier = Verifier::builder()
        .jwks_url(format!("http://127.0.0.1:{port}/jwks.json"))
        .build()
        .unwrap();
    let svc = DemoService::default();
    let addr = serve(AttestLayer::new(verifier), svc.clone()).await;
    let token = TestKeys::new().es256(300, json!({}));

    let status = client(addr)
        .await
        .hello(with_headers(hello(), &[("approov-token", token)]))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::Unavailable);
    assert!(!status.message().contains("no_keys"));
    assert_eq!(svc.hello_calls.get(), 0);
}

#[tokio::test]
async fn server_streaming_call_is_rejected_before_the_handler_runs() {
    let keys = TestKeys::new();
    let svc = DemoService::default();
    let verifier = Verifier::builder()
        .secret_base64(&keys.secret_b64)
        .unwrap()
        .build()
        .unwrap();
    let addr = serve(AttestLayer::new(verifier), svc.clone()).await;
    let mut client = client(addr).await;

    for headers in [vec![], vec![("approov-token", keys.hs256(-30, json!({})))]] {
        let status = client
            .count(with_headers(CountRequest { count: 3 }, &headers))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    assert_eq!(svc.count_calls.get(), 0);

    // With a token the stream runs.
    let token = keys.hs256(300, json!({}));
    let mut stream = client
        .count(with_headers(
            CountRequest { count: 3 },
            &[("approov-token", token)],
        ))
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(item) = stream.next().await {
        got.push(item.unwrap().n);
    }
    assert_eq!(got, [1, 2, 3]);
    assert_eq!(svc.count_calls.get(), 1);
}

#[tokio::test]
async fn monitor_mode_lets_grpc_calls_through_without_a_token() {
    let keys = TestKeys::new();
    let svc = DemoService::default();
    let verifier = Verifier::builder()
        .secret_base64(&keys.secret_b64)
        .unwrap()
        .mode(Mode::Monitor)
        .build()
        .unwrap();
    let registry = Registry::new();
    let layer = AttestLayer::new(verifier).metrics(&registry).unwrap();
    let addr = serve(layer, svc.clone()).await;

    let reply = client(addr)
        .await
        .hello(hello())
        .await
        .unwrap()
        .into_inner();

    assert_eq!(
        reply.device, "",
        "a monitored call carries no verified token"
    );
    assert_eq!(svc.hello_calls.get(), 1);
    assert_eq!(
        requests(&registry, attestgate_tower::DEFAULT_ROUTE, "monitored"),
        1.0
    );
    assert_eq!(common::rejections(&registry, Reason::Missing), 1.0);
}
