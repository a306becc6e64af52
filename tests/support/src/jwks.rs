//! A JWKS endpoint whose answers the test scripts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::http::{Handler, SeenRequest, TestServer, response};

/// What the endpoint answers next.
#[derive(Clone, Debug)]
pub enum Answer {
    /// 200 with this JWKS document, an ETag derived from it, and an optional
    /// `Cache-Control: max-age`.
    Jwks { body: String, max_age: Option<u64> },
    /// This status with a small body.
    Status(u16),
    /// 200 with an HTML page.
    Html,
    /// 200 with `{}`.
    EmptyObject,
    /// 200 with `{"keys":[]}`.
    EmptySet,
    /// 200 with a JWKS cut off half way.
    Truncated,
    /// 200 with a 2 MiB body.
    Oversize,
    /// Accepts the request and never answers.
    Hang,
    /// 302 to another place.
    Redirect(String),
}

pub struct JwksServer {
    pub server: TestServer,
    answer: Arc<Mutex<Answer>>,
    fetches: Arc<AtomicUsize>,
    not_modified: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<SeenRequest>>>,
}

fn etag_of(body: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
    format!(
        "\"{}\"",
        d.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

impl JwksServer {
    pub async fn start(first: Answer) -> JwksServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        JwksServer::start_on(listener, first)
    }

    /// Starts on a listener the caller bound (e.g. on the port of an
    /// endpoint that was down, to show recovery without a restart).
    pub fn start_on(listener: tokio::net::TcpListener, first: Answer) -> JwksServer {
        JwksServer::start_with(listener, None, first)
    }

    /// Starts over TLS with this server configuration (see [`crate::pki`]).
    pub async fn start_tls(tls: Arc<rustls::ServerConfig>, first: Answer) -> JwksServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        JwksServer::start_with(listener, Some(tls), first)
    }

    /// Starts on a listener the caller bound, over TLS if `tls` is given.
    pub fn start_with(
        listener: tokio::net::TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        first: Answer,
    ) -> JwksServer {
        let answer = Arc::new(Mutex::new(first));
        let fetches = Arc::new(AtomicUsize::new(0));
        let not_modified = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (a, f, nm, rq) = (
            answer.clone(),
            fetches.clone(),
            not_modified.clone(),
            requests.clone(),
        );
        let handler: Handler = Arc::new(move |req: SeenRequest| {
            f.fetch_add(1, Ordering::SeqCst);
            rq.lock().unwrap().push(req.clone());
            let answer = a.lock().unwrap().clone();
            let nm = nm.clone();
            Box::pin(async move {
                match answer {
                    Answer::Jwks { body, max_age } => {
                        let etag = etag_of(&body);
                        let inm = req
                            .headers
                            .get("if-none-match")
                            .and_then(|v| v.to_str().ok());
                        let cc = max_age.map(|s| format!("max-age={s}"));
                        let mut headers = vec![
                            ("etag", etag.as_str()),
                            ("content-type", "application/json"),
                        ];
                        if let Some(cc) = &cc {
                            headers.push(("cache-control", cc.as_str()));
                        }
                        if inm == Some(etag.as_str()) {
                            nm.fetch_add(1, Ordering::SeqCst);
                            return response(304, &headers, "");
                        }
                        response(200, &headers, body)
                    }
                    Answer::Status(s) => response(s, &[("content-type", "text/plain")], "error"),
                    Answer::Html => response(
                        200,
                        &[("content-type", "text/html")],
                        "<html><body>Login</body></html>",
                    ),
                    Answer::EmptyObject => {
                        response(200, &[("content-type", "application/json")], "{}")
                    }
                    Answer::EmptySet => response(
                        200,
                        &[("content-type", "application/json")],
                        "{\"keys\":[]}",
                    ),
                    Answer::Truncated => response(
                        200,
                        &[("content-type", "application/json")],
                        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-2",
                    ),
                    Answer::Oversize => {
                        let mut body = String::from("{\"keys\":[],\"pad\":\"");
                        body.push_str(&"x".repeat(2 * 1024 * 1024));
                        body.push_str("\"}");
                        response(200, &[("content-type", "application/json")], body)
                    }
                    Answer::Hang => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        response(500, &[], "")
                    }
                    Answer::Redirect(to) => response(302, &[("location", to.as_str())], ""),
                }
            })
        });
        JwksServer {
            server: TestServer::start_with(listener, tls, handler),
            answer,
            fetches,
            not_modified,
            requests,
        }
    }

    /// Answers with this JWKS from now on.
    pub fn serve_keys(&self, jwks: &serde_json::Value) {
        self.set(Answer::Jwks {
            body: jwks.to_string(),
            max_age: None,
        });
    }

    pub fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    pub fn url(&self) -> String {
        self.server.url("/.well-known/jwks.json")
    }

    /// Requests received so far (including 304s).
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Requests answered 304 Not Modified.
    pub fn not_modified(&self) -> usize {
        self.not_modified.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<SeenRequest> {
        self.requests.lock().unwrap().clone()
    }
}
