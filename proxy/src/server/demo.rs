//! `upstream = "demo"`: a built-in echo service that answers with the method,
//! path, query and headers it received (and the body), as JSON, so a newcomer
//! sees exactly what an API behind attestgate would get: the real key instead
//! of the placeholder, and no token.
//!
//! It listens on a Unix socket private to the process, so it needs no port
//! and nothing outside the proxy can reach it.

use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora_core::apps::http_app::ServeHttp;
use pingora_core::protocols::http::ServerSession;

/// The echo service.
pub(crate) struct Echo;

/// Largest request body echoed back.
const MAX_BODY: usize = 64 * 1024;

#[async_trait]
impl ServeHttp for Echo {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = session.read_request_body().await {
            if body.len() < MAX_BODY {
                let room = MAX_BODY - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
        }
        let req = session.req_header();
        let mut headers = serde_json::Map::new();
        for (name, value) in req.headers.iter() {
            let value =
                serde_json::Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned());
            match headers.get_mut(name.as_str()) {
                Some(serde_json::Value::Array(values)) => values.push(value),
                _ => {
                    headers.insert(
                        name.as_str().to_owned(),
                        serde_json::Value::Array(vec![value]),
                    );
                }
            }
        }
        let echo = serde_json::json!({
            "echo": "attestgate demo upstream: this is what the API behind the proxy received",
            "method": req.method.as_str(),
            "path": req.uri.path(),
            "query": req.uri.query().unwrap_or(""),
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
        });
        let mut text = serde_json::to_vec_pretty(&echo).unwrap_or_default();
        text.push(b'\n');
        let len = text.len();
        let mut r = Response::new(text);
        *r.status_mut() = StatusCode::OK;
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        r.headers_mut()
            .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
        r
    }
}
