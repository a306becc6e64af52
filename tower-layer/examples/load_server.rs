//! An axum service for load tests (benches/load.sh): `GET /` answers `ok`,
//! plain or behind the attestgate layer.
//!
//! ```text
//! load_server ADDR plain
//! load_server ADDR hs256 SECRET_BASE64
//! load_server ADDR es256 JWKS_FILE
//! ```
//! Runs on one worker thread, like the other servers in the load test.

use axum::Router;
use axum::routing::get;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: load_server ADDR (plain | hs256 SECRET_BASE64 | es256 JWKS_FILE)";
    let addr = args.get(1).ok_or(usage)?.clone();
    let app = Router::new().route("/", get(|| async { "ok" }));
    let app = match (args.get(2).map(String::as_str), args.get(3)) {
        (Some("plain"), _) => app,
        (Some("hs256"), Some(secret)) => {
            let verifier = attestgate::Verifier::builder()
                .secret_base64(secret)?
                .build()?;
            app.layer(attestgate_tower::AttestLayer::new(verifier))
        }
        (Some("es256"), Some(jwks)) => {
            let verifier = attestgate::Verifier::builder()
                .jwks_file(jwks)
                .algorithms([attestgate::Alg::ES256])
                .build()?;
            app.layer(attestgate_tower::AttestLayer::new(verifier))
        }
        _ => return Err(usage.into()),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        eprintln!("load_server listening on {addr}");
        axum::serve(listener, app).await
    })?;
    Ok(())
}
