//! Exempt methods are exempt from the token, not from the rules: every
//! method of `methods_without_token` × upgrade, method-override headers
//! (every name, `_` spellings, the `_method` parameter), bodies (length,
//! chunked, HTTP/2 DATA without a length), over HTTP/1.1 and HTTP/2,
//! through the real proxy and through the tower layer on axum (the same
//! rules from the same file: the core decides for both).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use attestgate_config::Config;
use attestgate_testkit::TempDir;
use attestgate_testkit::h2::H2Conn;
use attestgate_testkit::proxy::{Proxy, Start};
use attestgate_testkit::tokens::TestKeys;
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};
use attestgate_tower::AttestLayer;
use axum::Router;
use bytes::Bytes;
use serde_json::json;

fn routes(keys: &TestKeys, up: &str) -> String {
    format!(
        r#"[token]
[[token.secret]]
base64 = {{ value = "{}" }}

[[route]]
name = "cors"
path_prefix = "/cors"
upstream = "{up}"
methods_without_token = ["OPTIONS", "HEAD", "GET"]

[[route]]
name = "opt"
path_prefix = "/opt"
upstream = "{up}"
token = "optional"
"#,
        keys.secret_b64
    )
}

/// The status of a raw HTTP/1.1 exchange (read up to the status line:
/// an upgraded or kept-alive connection is not waited for).
async fn status(addr: SocketAddr, bytes: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        while !got.windows(2).any(|w| w == b"\r\n") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    std::str::from_utf8(got.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// One row: the request's extra head lines and body, and the status the
/// proxy and the layer must give.
struct Row {
    name: &'static str,
    target: &'static str,
    lines: String,
    body: &'static str,
    proxy: u16,
    layer: u16,
}

fn rows(method: &str, token: &str) -> Vec<Row> {
    let get = method == "GET";
    let up = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let tok = format!("Approov-Token: {token}\r\n");
    let row = |name, target, lines: &str, body, proxy, layer| Row {
        name,
        target,
        lines: lines.to_owned(),
        body,
        proxy,
        layer,
    };
    let mut out = vec![
        row("plain", "/cors/x", "", "", 200, 200),
        row(
            "content-length 0",
            "/cors/x",
            "Content-Length: 0\r\n",
            "",
            200,
            200,
        ),
        // An upgrade needs GET (proxy: 400 before routing) and a token.
        row(
            "websocket upgrade",
            "/cors/x",
            up,
            "",
            if get { 401 } else { 400 },
            401,
        ),
        row(
            "h2c upgrade",
            "/cors/x",
            "Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n",
            "",
            400,
            401,
        ),
        row(
            "x-http-method-override",
            "/cors/x",
            "X-HTTP-Method-Override: POST\r\n",
            "",
            401,
            401,
        ),
        row(
            "x-http-method",
            "/cors/x",
            "X-HTTP-Method: DELETE\r\n",
            "",
            401,
            401,
        ),
        row(
            "x-method-override",
            "/cors/x",
            "X-Method-Override: PUT\r\n",
            "",
            401,
            401,
        ),
        row(
            "override upper case",
            "/cors/x",
            "X-HTTP-METHOD-OVERRIDE: POST\r\n",
            "",
            401,
            401,
        ),
        // The proxy drops `_` names by default (it never reaches the
        // upstream, checked below); the layer sees it and refuses.
        row(
            "override with _",
            "/cors/x",
            "X_HTTP_Method_Override: POST\r\n",
            "",
            200,
            401,
        ),
        row(
            "_method parameter",
            "/cors/x?_method=DELETE",
            "",
            "",
            401,
            401,
        ),
        row(
            "encoded _method parameter",
            "/cors/x?a=1&%5Fmethod=PUT",
            "",
            "",
            401,
            401,
        ),
        row(
            "body with length",
            "/cors/x",
            "Content-Length: 4\r\n",
            "abcd",
            401,
            401,
        ),
        row(
            "chunked body",
            "/cors/x",
            "Transfer-Encoding: chunked\r\n",
            "4\r\nabcd\r\n0\r\n\r\n",
            401,
            401,
        ),
        row(
            "override with a token",
            "/cors/x",
            &(tok.clone() + "X-HTTP-Method-Override: POST\r\n"),
            "",
            200,
            200,
        ),
        row(
            "body with a token",
            "/cors/x",
            &(tok.clone() + "Content-Length: 4\r\n"),
            "abcd",
            200,
            200,
        ),
    ];
    if get {
        out.push(row(
            "websocket upgrade with a token",
            "/cors/x",
            &(tok.clone() + up),
            "",
            200,
            200,
        ));
        out.push(row("optional route, plain", "/opt/x", "", "", 200, 200));
        out.push(row(
            "optional route, upgrade without a token",
            "/opt/x",
            up,
            "",
            401,
            401,
        ));
        out.push(row(
            "optional route, upgrade with a token",
            "/opt/x",
            &(tok + up),
            "",
            200,
            200,
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn exempt_methods_open_nothing() {
    let keys = TestKeys::new();
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let proxy = Proxy::start(
        Path::new(env!("CARGO_BIN_EXE_attestgate")),
        Start {
            config: &routes(&keys, &up.url()),
            ..Start::default()
        },
    )
    .await;
    // The layer: the same file, one router per route.
    let dir = TempDir::new("exempt-layer");
    let path = dir.join("attestgate.toml");
    std::fs::write(&path, routes(&keys, "http://127.0.0.1:9")).unwrap();
    let config = Config::load(&path).unwrap();
    let base = config.token.as_ref().unwrap().build_verifier().unwrap();
    let handled = Arc::new(AtomicUsize::new(0));
    let mut app = Router::new();
    for r in &config.routes {
        let h = handled.clone();
        let ok = move || {
            let h = h.clone();
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                "ok"
            }
        };
        let router = Router::new()
            .fallback(ok)
            .layer(AttestLayer::new(base.with_policy(r.policy.clone())));
        app = app.nest(&r.path_prefix, router);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let layer_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let token = keys.hs256(300, json!({}));
    let mut checked = 0;
    let mut failures = Vec::new();
    for method in ["OPTIONS", "HEAD", "GET"] {
        for r in rows(method, &token) {
            let bytes = format!(
                "{method} {} HTTP/1.1\r\nHost: localhost\r\n{}Connection: close\r\n\r\n{}",
                r.target, r.lines, r.body
            );
            let (before_up, before_app) = (up.count(), handled.load(Ordering::SeqCst));
            let p = status(proxy.addr, bytes.as_bytes()).await;
            let l = status(layer_addr, bytes.as_bytes()).await;
            let reached_up = up.count() - before_up;
            let reached_app = handled.load(Ordering::SeqCst) - before_app;
            let what = format!("{method} {}", r.name);
            if (p, l) != (r.proxy, r.layer) {
                failures.push(format!(
                    "{what}: proxy {p} (want {}), layer {l} (want {})",
                    r.proxy, r.layer
                ));
            }
            if reached_up != usize::from(r.proxy == 200)
                || reached_app != usize::from(r.layer == 200)
            {
                failures.push(format!(
                    "{what}: reached upstream {reached_up}, handler {reached_app}"
                ));
            }
            if r.proxy == 200 && reached_up == 1 {
                let seen = up.last().unwrap();
                let token_free = !r.lines.contains("Approov-Token");
                let overrides = seen
                    .headers
                    .keys()
                    .any(|k| k.as_str().replace('_', "-").contains("method"));
                if token_free
                    && (overrides
                        || seen.uri.query().is_some_and(|q| q.contains("method"))
                        || !seen.body.is_empty())
                {
                    failures.push(format!(
                        "{what}: a token-free request carried an override or a body upstream"
                    ));
                }
            }
            checked += 1;
        }
    }

    // HTTP/2 (h2c): the same rules; bodies without a length too.
    let conn = H2Conn::h2c(proxy.addr).await;
    for method in ["OPTIONS", "HEAD", "GET"] {
        for (name, target, headers, body, want) in [
            ("plain", "/cors/x", vec![], "", 200),
            (
                "override",
                "/cors/x",
                vec![("x-http-method-override", "POST")],
                "",
                401,
            ),
            (
                "x-method-override",
                "/cors/x",
                vec![("x-method-override", "PUT")],
                "",
                401,
            ),
            ("_method", "/cors/x?_method=DELETE", vec![], "", 401),
            ("body", "/cors/x", vec![], "abcd", 401),
            (
                "override with a token",
                "/cors/x",
                vec![
                    ("x-http-method-override", "POST"),
                    ("approov-token", token.as_str()),
                ],
                "",
                200,
            ),
        ] {
            let before = up.count();
            // A refusal may reset the stream once answered (the body it
            // announced is not read): hyper reports the reset.
            let got = conn
                .send(method, target, &headers, body)
                .await
                .map_or(0, |r| r.status);
            let got = if got == 0 && want == 401 { 401 } else { got };
            let what = format!("h2 {method} {name}");
            if got != want || up.count() - before != usize::from(want == 200) {
                failures.push(format!("{what}: {got} (want {want})"));
            }
            checked += 1;
        }
        // DATA without content-length, with the h2 crate.
        let tcp = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
        let (client, c) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(async move {
            let _ = c.await;
        });
        let mut client = client.ready().await.unwrap();
        let req = http::Request::builder()
            .method(method)
            .uri(format!("http://{}/cors/x", proxy.addr))
            .body(())
            .unwrap();
        let before = up.count();
        let (resp, mut send) = client.send_request(req, false).unwrap();
        send.send_data(Bytes::from_static(b"smuggled"), true)
            .unwrap();
        let got = resp.await.map_or(0, |r| r.status().as_u16());
        if got != 401 || up.count() != before {
            failures.push(format!("h2 {method} body without length: {got}"));
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(checked, 3 * 15 + 4 + 3 * 7);
}
