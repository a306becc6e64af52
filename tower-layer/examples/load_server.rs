//! An axum service for load tests (benches/load.sh): `GET /` answers `ok`,
//! plain or behind the attestgate layer.
//!
//! ```text
//! load_server ADDR plain
//! load_server ADDR hs256 SECRET_BASE64
//! load_server ADDR hs256-outer SECRET_BASE64
//! load_server ADDR es256 JWKS_FILE
//! ```
//! `hs256` and `es256` add the layer with `Router::layer`, as the README
//! does; `hs256-outer` wraps the whole `Router` in it instead (one service
//! around the router: no per-route boxing by axum), to tell the layer's own
//! cost from that of axum's route wrapping (docs/PERFORMANCE.md).
//! Runs on one worker thread, like the other servers in the load test.

use axum::Router;
use axum::routing::get;
use tower_layer::Layer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: load_server ADDR (plain | hs256 SECRET_BASE64 | hs256-outer SECRET_BASE64 | es256 JWKS_FILE)";
    let addr = args.get(1).ok_or(usage)?.clone();
    let app = Router::new().route("/", get(|| async { "ok" }));
    if let (Some("hs256-outer"), Some(secret)) = (args.get(2).map(String::as_str), args.get(3)) {
        let verifier = attestgate::Verifier::builder()
            .secret_base64(secret)?
            .build()?;
        // `with_state` turns the handlers into routes once, as
        // `Router::into_make_service` does for the other modes.
        let svc = attestgate_tower::AttestLayer::new(verifier).layer(app.with_state::<()>(()));
        return serve(
            &addr,
            axum::ServiceExt::<axum::extract::Request>::into_make_service(svc),
        );
    }
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
    serve(&addr, app.into_make_service())
}

/// Serves `make` on `addr`, on one worker thread.
fn serve<M, S>(addr: &str, make: M) -> Result<(), Box<dyn std::error::Error>>
where
    M: for<'a> tower_service::Service<
            axum::serve::IncomingStream<'a, tokio::net::TcpListener>,
            Error = std::convert::Infallible,
            Response = S,
        > + Send
        + 'static,
    for<'a> <M as tower_service::Service<axum::serve::IncomingStream<'a, tokio::net::TcpListener>>>::Future:
        Send,
    S: tower_service::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        eprintln!("load_server listening on {addr}");
        axum::serve(listener, make).await
    })?;
    Ok(())
}
