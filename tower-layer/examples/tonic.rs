//! A tonic gRPC service behind the attestgate tower layer.
//!
//! ```text
//! cargo run -p attestgate-tower --example tonic [-- 127.0.0.1:50051]
//! ```
//!
//! Uses the account secret in `APPROOV_SECRET` (base64), or a fresh demo
//! secret, mints a token valid for an hour, calls itself once with it and
//! once without it, and prints the `grpcurl` line to call it yourself.
//! The service is `attestgate.demo.Demo` of `examples/proto/demo.proto`.

use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

use attestgate::{VerifiedToken, Verifier, mint};
use attestgate_tower::AttestLayer;
use serde_json::json;
use tonic::codegen::tokio_stream;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

#[path = "proto/demo.rs"]
mod demo;

use demo::demo_client::DemoClient;
use demo::demo_server::{Demo, DemoServer};
use demo::{CountReply, CountRequest, HelloReply, HelloRequest};

struct DemoService;

#[tonic::async_trait]
impl Demo for DemoService {
    async fn hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        // Put there by the layer; absent only in monitor mode.
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
        let n = request.get_ref().count.min(100);
        let items: Vec<_> = (1..=n).map(|n| Ok(CountReply { n })).collect();
        Ok(Response::new(tokio_stream::iter(items)))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());

    let secret = match std::env::var("APPROOV_SECRET") {
        Ok(s) => s,
        Err(_) => mint::new_secret_base64()?,
    };
    let verifier = Verifier::builder().secret_base64(&secret)?.build()?;
    // With `.jwks_url(..)` or key files: `let _refresher = verifier.spawn_refresher();`

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .layer(AttestLayer::new(verifier))
            .add_service(DemoServer::new(DemoService))
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                let _ = tokio::signal::ctrl_c().await;
            }),
    );

    let exp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 3600;
    let key = mint::SigningKey::hs256_base64(&secret)?;
    let token = mint::mint(&key, None, &json!({ "exp": exp, "did": "example-device" }))?;

    let mut client = DemoClient::connect(format!("http://{addr}")).await?;
    let mut with_token = Request::new(HelloRequest {
        name: "example".into(),
    });
    with_token
        .metadata_mut()
        .insert("approov-token", token.parse()?);
    match client.hello(with_token).await {
        Ok(reply) => println!("Hello with a token:    {:?}", reply.into_inner()),
        Err(status) => println!("Hello with a token:    {:?}", status.code()),
    }
    match client
        .hello(HelloRequest {
            name: "example".into(),
        })
        .await
    {
        Ok(reply) => println!("Hello without a token: {:?}", reply.into_inner()),
        Err(status) => println!(
            "Hello without a token: {:?} ({})",
            status.code(),
            status.message()
        ),
    }

    println!("listening on {addr}; call it with:");
    println!(
        "  grpcurl -plaintext -import-path tower-layer/examples/proto -proto demo.proto \\\n    -H 'approov-token: {token}' \\\n    -d '{{\"name\":\"you\"}}' {addr} attestgate.demo.Demo/Hello"
    );
    server.await??;
    Ok(())
}
