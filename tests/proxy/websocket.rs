//! WebSocket through the proxy: a real tokio-tungstenite client → the real
//! `attestgate` binary → a real tokio-tungstenite echo server. The upgrade
//! request is checked like any request; once the 101 is relayed, frames go
//! both ways.

use std::path::Path;
use std::time::Duration;

use attestgate_testkit::proxy::{Proxy, Start};
use attestgate_testkit::tokens::TestKeys;
use attestgate_testkit::ws::{WELCOME, WsMessage, WsUpstream, connect, connect_tls};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Error as WsError;

async fn start(keys: &TestKeys, up: &WsUpstream, route_extra: &str) -> Proxy {
    let config = format!(
        "[token]\n[[token.secret]]\nbase64 = {{ value = \"{}\" }}\n\n[[route]]\nname = \"ws\"\nupstream = \"{}\"\n{route_extra}\n",
        keys.secret_b64,
        up.url()
    );
    Proxy::start(
        Path::new(env!("CARGO_BIN_EXE_attestgate")),
        Start {
            config: &config,
            ..Start::default()
        },
    )
    .await
}

async fn next_message<S>(ws: &mut S) -> WsMessage
where
    S: futures_util::Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("no frame within 10 s")
        .expect("stream ended")
        .expect("frame error")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_with_a_token_becomes_a_tunnel_and_the_token_stays_behind() {
    let keys = TestKeys::new();
    let up = WsUpstream::start().await;
    // auto and h2 both send an upgrade as HTTP/1.1 (HTTP/2 has no Upgrade)
    for protocol in ["auto", "h2", "http1"] {
        let proxy = start(&keys, &up, &format!("protocol = \"{protocol}\"")).await;
        let token = keys.hs256(300, json!({}));
        let before = up.handshakes().len();
        let mut ws = connect(
            proxy.addr,
            "/chat?room=1",
            &[("approov-token", &token), ("x-app", "kept")],
        )
        .await
        .unwrap_or_else(|e| panic!("{protocol}: {e:?}"));

        // the server speaks first, then echoes text and binary frames
        assert_eq!(next_message(&mut ws).await, WsMessage::text(WELCOME));
        for i in 0..20 {
            ws.send(WsMessage::text(format!("text {i}"))).await.unwrap();
            assert_eq!(
                next_message(&mut ws).await,
                WsMessage::text(format!("text {i}"))
            );
        }
        let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
        ws.send(WsMessage::binary(big.clone())).await.unwrap();
        assert_eq!(next_message(&mut ws).await, WsMessage::binary(big));
        ws.close(None).await.unwrap();

        let handshakes = up.handshakes();
        assert_eq!(handshakes.len(), before + 1, "{protocol}");
        let seen = handshakes.last().unwrap();
        assert!(
            seen.get("approov-token").is_none(),
            "{protocol}: the token reached the upstream"
        );
        assert_eq!(seen.get("x-app").unwrap(), "kept");
        assert!(
            seen.get("upgrade")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket")),
            "{protocol}: {seen:?}"
        );
        assert!(seen.get("sec-websocket-key").is_some());
        assert_eq!(
            proxy
                .metric("attestgate_requests_total{outcome=\"allowed\",route=\"ws\"}")
                .await,
            Some(1.0)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_upgrade_gets_the_normal_refusal_and_never_a_101() {
    let keys = TestKeys::new();
    let up = WsUpstream::start().await;
    let proxy = start(&keys, &up, "").await;
    let expired = keys.hs256(-60, json!({}));
    let cases: [(&str, Vec<(&str, &str)>); 4] = [
        ("missing", vec![]),
        ("malformed", vec![("approov-token", "abc.def")]),
        ("sdk_status", vec![("approov-token", "NO_NETWORK")]),
        ("expired", vec![("approov-token", &expired)]),
    ];
    for (reason, headers) in &cases {
        match connect(proxy.addr, "/chat", headers).await {
            Ok(_) => panic!("{reason}: upgraded"),
            Err(e) => match *e {
                WsError::Http(resp) => {
                    assert_eq!(resp.status(), 401, "{reason}");
                    assert_eq!(resp.body().as_deref(), Some(&b"{}"[..]), "{reason}");
                    assert_eq!(
                        resp.headers().get("content-type").unwrap(),
                        "application/json"
                    );
                    assert!(resp.headers().get("upgrade").is_none(), "{reason}");
                }
                other => panic!("{reason}: {other:?}"),
            },
        }
        let series = format!("attestgate_rejections_total{{reason=\"{reason}\",route=\"ws\"}}");
        assert_eq!(proxy.metric(&series).await, Some(1.0), "{reason}");
    }
    assert!(
        up.handshakes().is_empty(),
        "a refused upgrade reached the upstream"
    );
    // The raw answer: a 401, and no 101 anywhere before it.
    let raw = attestgate_testkit::proxy::raw_exchange(
        proxy.addr,
        format!(
            "GET /chat HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            proxy.addr
        )
        .as_bytes(),
        Duration::from_millis(500),
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 401 "), "{raw}");
    assert!(!raw.contains(" 101 "), "{raw}");
}

/// An upstream that says `101` to any upgrade and then echoes raw bytes:
/// what an h2c-upgrade-capable server looks like to the proxy. Returns
/// its address and how many requests it accepted.
async fn any_upgrade_upstream() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = s
                    .write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
                    .await;
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (addr, hits)
}

/// Only WebSocket upgrades are tunnelled. Any other upgrade (h2c above
/// all: "h2c smuggling" turns one checked request into a raw HTTP/2
/// connection to the upstream, where later requests skip routing and the
/// token check) is refused with 400 before it reaches the upstream.
#[tokio::test(flavor = "multi_thread")]
async fn only_websocket_upgrades_are_tunnelled() {
    let keys = TestKeys::new();
    let (addr, hits) = any_upgrade_upstream().await;
    let config = format!(
        "[token]\n[[token.secret]]\nbase64 = {{ value = \"{}\" }}\n\n[[route]]\nname = \"open\"\ntoken = \"off\"\nupstream = \"http://{addr}\"\n",
        keys.secret_b64
    );
    let proxy = Proxy::start(
        Path::new(env!("CARGO_BIN_EXE_attestgate")),
        Start {
            config: &config,
            ..Start::default()
        },
    )
    .await;
    let upgrade = |version: &str, upgrade: &str| {
        format!(
            "GET /x HTTP/{version}\r\nHost: {}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: {upgrade}\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
            proxy.addr
        )
    };
    for (version, value) in [
        ("1.1", "h2c"),
        ("1.1", "H2C"),
        ("1.1", "h2"),
        ("1.1", "websocket, h2c"),
        ("1.1", "h2c, websocket"),
        ("1.1", "TLS/1.2"),
        ("1.1", "foo"),
        ("1.1", ""),
        ("1.0", "websocket"),
        ("1.0", "h2c"),
    ] {
        let raw = attestgate_testkit::proxy::raw_exchange(
            proxy.addr,
            upgrade(version, value).as_bytes(),
            Duration::from_millis(300),
        )
        .await;
        assert!(
            raw.starts_with("HTTP/1.1 400 "),
            "{version} {value:?}: {raw}"
        );
        assert!(!raw.contains(" 101 "), "{version} {value:?}: {raw}");
    }
    // Two Upgrade headers, one of them websocket.
    let raw = attestgate_testkit::proxy::raw_exchange(
        proxy.addr,
        format!(
            "GET /x HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n\r\n",
            proxy.addr
        )
        .as_bytes(),
        Duration::from_millis(300),
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 400 "), "{raw}");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);

    // A websocket upgrade on the same route is tunnelled (the control).
    let raw = attestgate_testkit::proxy::raw_exchange(
        proxy.addr,
        format!(
            "GET /x HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            proxy.addr
        )
        .as_bytes(),
        Duration::from_millis(300),
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 101 "), "{raw}");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// wss: the same check and tunnel through the TLS listener.
#[tokio::test(flavor = "multi_thread")]
async fn wss_through_the_tls_listener() {
    use attestgate_testkit::tls;
    let keys = TestKeys::new();
    let up = WsUpstream::start().await;
    let tls_port = attestgate_testkit::http::free_port();
    let server_extra = format!(
        "[[server.tls]]\nlisten = \"127.0.0.1:{tls_port}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        tls::path("localhost.pem").display(),
        tls::path("localhost.key").display()
    );
    let config = format!(
        "[token]\n[[token.secret]]\nbase64 = {{ value = \"{}\" }}\n\n[[route]]\nname = \"ws\"\nupstream = \"{}\"\n",
        keys.secret_b64,
        up.url()
    );
    let proxy = Proxy::start(
        Path::new(env!("CARGO_BIN_EXE_attestgate")),
        Start {
            config: &config,
            server_extra: &server_extra,
            ..Start::default()
        },
    )
    .await;
    let addr = format!("127.0.0.1:{tls_port}").parse().unwrap();
    let token = keys.hs256(300, json!({}));
    let mut ws = connect_tls(addr, "/chat", &[("approov-token", &token)])
        .await
        .unwrap();
    assert_eq!(next_message(&mut ws).await, WsMessage::text(WELCOME));
    ws.send(WsMessage::text("over tls")).await.unwrap();
    assert_eq!(next_message(&mut ws).await, WsMessage::text("over tls"));
    ws.close(None).await.unwrap();
    let seen = up.handshakes();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].get("approov-token").is_none());
    assert_eq!(seen[0].get("x-forwarded-proto").unwrap(), "https");

    match connect_tls(addr, "/chat", &[])
        .await
        .map(|_| ())
        .unwrap_err()
        .as_ref()
    {
        WsError::Http(resp) => assert_eq!(resp.status(), 401),
        other => panic!("{other:?}"),
    }
    assert_eq!(up.handshakes().len(), 1);
    drop(proxy);
}
