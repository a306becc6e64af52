//! An axum service behind the attestgate tower layer.
//!
//! ```text
//! cargo run -p attestgate-tower --example axum [-- 127.0.0.1:3000]
//! ```
//!
//! Uses the account secret in `APPROOV_SECRET` (base64), or a fresh demo
//! secret, mints a token valid for an hour and prints the `curl` lines that
//! call the service with it and without it. `RUST_LOG=attestgate=debug`
//! shows each rejection's reason in the log (never in the response).

use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

use attestgate::{Verifier, mint};
use attestgate_tower::{AttestLayer, Verified};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use prometheus::{Encoder, Registry, TextEncoder};
use serde_json::{Value, json};

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
    // Keys given as secrets are loaded now; with `.jwks_url(..)` or key
    // files the refresher keeps them current (here it has nothing to do and
    // returns at once). It stops when this handle is dropped.
    let _refresher = verifier.spawn_refresher();

    let registry = Registry::new();
    let app = Router::new()
        .route("/hello", get(hello))
        .layer(
            AttestLayer::new(verifier)
                .route_name("hello")
                .metrics(&registry)?,
        )
        // Added after `.layer`: not behind the token check.
        .route("/metrics", get(metrics))
        .with_state(registry);

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let addr = listener.local_addr()?;
    let exp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 3600;
    let key = mint::SigningKey::hs256_base64(&secret)?;
    let token = mint::mint(&key, None, &json!({ "exp": exp, "did": "example-device" }))?;
    println!("listening on http://{addr}");
    println!(
        "  with a token (valid 1 h):  curl -i -H 'Approov-Token: {token}' http://{addr}/hello"
    );
    println!("  without (401, body {{}}):   curl -i http://{addr}/hello");
    println!("  metrics:                   curl http://{addr}/metrics");

    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// Reached only with a verified token; answers with some of its claims.
async fn hello(Verified(token): Verified) -> Json<Value> {
    Json(json!({
        "hello": token.did().unwrap_or("unknown device"),
        "expires": token.exp(),
    }))
}

async fn metrics(State(registry): State<Registry>) -> String {
    let mut out = Vec::new();
    if TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .is_err()
    {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}
