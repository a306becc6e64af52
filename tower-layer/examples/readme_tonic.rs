//! A tonic server behind the attestgate layer (the README's example).

use attestgate_tower::AttestLayer;
use tonic::transport::Server;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Your account secret, base64, as `approov secret -get base64` prints it.
    let secret = std::env::var("APPROOV_SECRET")?;
    let verifier = attestgate::Verifier::builder()
        .secret_base64(&secret)?
        .build()?;

    // The standard gRPC health service stands in for your own
    // (`.add_service(MyServer::new(my_service))`): every call needs a token.
    let (_reporter, health) = tonic_health::server::health_reporter();

    Server::builder()
        .layer(AttestLayer::new(verifier))
        .add_service(health)
        .serve("127.0.0.1:50051".parse()?)
        .await?;
    Ok(())
}
