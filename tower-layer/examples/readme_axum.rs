//! An axum service behind the attestgate layer (the README's example).

use attestgate_tower::{AttestLayer, Verified};
use axum::{Router, routing::get};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Your account secret, base64, as `approov secret -get base64` prints it.
    let secret = std::env::var("APPROOV_SECRET")?;
    let verifier = attestgate::Verifier::builder()
        .secret_base64(&secret)?
        .build()?;

    let app = Router::new()
        .route("/hello", get(hello))
        .layer(AttestLayer::new(verifier));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// Reached only with a valid token: the layer answers 401 before that.
async fn hello(Verified(token): Verified) -> String {
    format!("hello, device {}\n", token.did().unwrap_or("?"))
}
