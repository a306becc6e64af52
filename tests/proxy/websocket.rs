//! WebSocket through the proxy: a real tokio-tungstenite client → the real
//! `attestgate` binary → a real tokio-tungstenite echo server. The upgrade
//! request is checked like any request; once the 101 is relayed, frames go
//! both ways.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use attestgate_testkit::proxy::{Proxy, Start};
use attestgate_testkit::tokens::TestKeys;
use attestgate_testkit::ws::{WELCOME, WsMessage, WsUpstream, connect};
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
        let series = format!("attestgate_rejections_total{{reason=\"{reason}\"}}");
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
