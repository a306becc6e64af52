//! An upstream that records what reaches it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::http::{Handler, Response, SeenRequest, TestServer, response};

/// How the upstream answers.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// 200 with a JSON echo of method, path, query and headers.
    Echo,
    /// Echo, and also copy every request header into the response headers
    /// (an upstream that leaks what it was sent).
    EchoHeadersBack,
    /// 302 to this location.
    Redirect(String),
    /// Wait this long, then echo.
    Delay(Duration),
}

pub struct RecordingUpstream {
    pub server: TestServer,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    count: Arc<AtomicUsize>,
    behaviour: Arc<Mutex<Behaviour>>,
}

/// The JSON echo of a request.
pub fn echo_json(req: &SeenRequest) -> serde_json::Value {
    let mut headers = serde_json::Map::new();
    for (k, v) in &req.headers {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        match headers.get_mut(k.as_str()) {
            Some(serde_json::Value::Array(a)) => a.push(v.into()),
            _ => {
                headers.insert(
                    k.as_str().to_owned(),
                    serde_json::Value::Array(vec![v.into()]),
                );
            }
        }
    }
    serde_json::json!({
        "method": req.method.as_str(),
        "path": req.uri.path(),
        "query": req.uri.query().unwrap_or(""),
        "headers": headers,
        "body": String::from_utf8_lossy(&req.body),
    })
}

fn echo(req: &SeenRequest, copy_headers: bool) -> Response {
    let body = echo_json(req).to_string();
    let mut r = response(200, &[("content-type", "application/json")], body);
    if copy_headers {
        for (k, v) in &req.headers {
            if k != "content-length" && k != "host" && k != "connection" {
                r.headers_mut().append(k.clone(), v.clone());
            }
        }
    }
    r
}

impl RecordingUpstream {
    pub async fn start(behaviour: Behaviour) -> RecordingUpstream {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let behaviour = Arc::new(Mutex::new(behaviour));
        let (s, c, b) = (seen.clone(), count.clone(), behaviour.clone());
        let handler: Handler = Arc::new(move |req: SeenRequest| {
            c.fetch_add(1, Ordering::SeqCst);
            s.lock().unwrap().push(req.clone());
            let behaviour = b.lock().unwrap().clone();
            Box::pin(async move {
                match behaviour {
                    Behaviour::Echo => echo(&req, false),
                    Behaviour::EchoHeadersBack => echo(&req, true),
                    Behaviour::Redirect(to) => response(302, &[("location", to.as_str())], "moved"),
                    Behaviour::Delay(d) => {
                        tokio::time::sleep(d).await;
                        echo(&req, false)
                    }
                }
            })
        });
        RecordingUpstream {
            server: TestServer::start(handler).await,
            seen,
            count,
            behaviour,
        }
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// The requests that arrived, oldest first.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }

    pub fn last(&self) -> Option<SeenRequest> {
        self.seen.lock().unwrap().last().cloned()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }
}
