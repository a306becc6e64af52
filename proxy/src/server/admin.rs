//! The admin listener: `/healthz`, `/readyz`, `/metrics`.
//!
//! `/healthz` is 200 while the process serves: every configured listener
//! listening and every worker running (see [`crate::conns::listening`]);
//! while draining it stays 200 (liveness: never restart a draining
//! process). `/readyz` is 200 once keys are loaded and while the process
//! serves, and 503 before that and from SIGTERM on (see [`super::drain`]).

use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora_core::apps::http_app::ServeHttp;
use pingora_core::protocols::http::ServerSession;
use prometheus::{Encoder, Registry, TextEncoder};

/// Serves the admin endpoints.
pub(crate) struct Admin {
    /// Where every series is registered.
    pub(crate) registry: Registry,
    /// The verifier whose keys decide readiness (`None`: nothing to wait for).
    pub(crate) verifier: Option<attestgate::Verifier>,
    /// Set on SIGTERM: `/readyz` answers 503 from then on (drain).
    pub(crate) draining: super::drain::Draining,
    /// Whether every listener is listening.
    pub(crate) listening: std::sync::Arc<crate::conns::listening::Listening>,
    /// The proxy's workers (are they running?).
    pub(crate) pool: std::sync::Arc<crate::conns::Pool>,
}

fn text(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    let len = r.body().len();
    r.headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    r
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let plain = "text/plain; charset=utf-8";
        let path = session.req_header().uri.path();
        let draining = self.draining.is_draining();
        if matches!(path, "/healthz" | "/readyz")
            && let Err(why) = self.listening.health(&self.pool, draining)
        {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                plain,
                format!("not serving: {why}\n").into_bytes(),
            );
        }
        match path {
            "/healthz" => text(StatusCode::OK, plain, b"ok\n".to_vec()),
            "/readyz" if draining => text(
                StatusCode::SERVICE_UNAVAILABLE,
                plain,
                b"draining\n".to_vec(),
            ),
            "/readyz" => {
                if self
                    .verifier
                    .as_ref()
                    .is_none_or(attestgate::Verifier::is_ready)
                {
                    text(StatusCode::OK, plain, b"ready\n".to_vec())
                } else {
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        plain,
                        b"no keys loaded yet\n".to_vec(),
                    )
                }
            }
            "/metrics" => {
                let encoder = TextEncoder::new();
                let mut body = Vec::with_capacity(8 * 1024);
                match encoder.encode(&self.registry.gather(), &mut body) {
                    Ok(()) => text(StatusCode::OK, encoder.format_type(), body),
                    Err(e) => text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        plain,
                        format!("{e}\n").into_bytes(),
                    ),
                }
            }
            _ => text(
                StatusCode::NOT_FOUND,
                plain,
                b"not found; try /healthz, /readyz or /metrics\n".to_vec(),
            ),
        }
    }
}
