//! gRPC through the proxy, end to end: a real tonic client → the real
//! `attestgate` binary → a real tonic server (the test kit's
//! `GrpcUpstream`, which records the metadata of every call it gets).
//! Every case runs over the h2c listener and over the TLS listener (ALPN
//! h2); the upstream is h2c (`protocol = "auto"` sends gRPC as HTTP/2 with
//! prior knowledge), and TLS with ALPN h2 in its own test.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use attestgate::Reason;
use attestgate_testkit::grpc::demo::demo_client::DemoClient;
use attestgate_testkit::grpc::demo::{CountRequest, HelloRequest};
use attestgate_testkit::grpc::relay::RelayClient;
use attestgate_testkit::grpc::{GrpcUpstream, SeenCall, h2c_channel, tls_channel, with_metadata};
use attestgate_testkit::parity::{Expect, Fixture};
use attestgate_testkit::proxy::{Proxy, Start};
use attestgate_testkit::tls;
use attestgate_testkit::tokens::TestKeys;
use serde_json::json;
use tokio::sync::mpsc;
use tonic::Code;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::tokio_stream::{self, StreamExt};
use tonic::transport::Channel;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_attestgate"))
}

/// What the refusals are on the wire: one HEADERS frame that ends the
/// stream (`:status 200`, `grpc-status`, `grpc-message`), no DATA frame,
/// no trailers block. Pingora's plain `write_response_header` sends an
/// empty DATA frame after the headers instead, which grpc-go and
/// grpc-core read as a response without trailers.
#[tokio::test(flavor = "multi_thread")]
async fn refusals_are_trailers_only_on_the_wire() {
    use attestgate_testkit::h2::raw_call;
    let keys = TestKeys::new();
    let up = GrpcUpstream::start().await;
    let config = format!(
        "{}[[route]]\nname = \"grpc\"\npath_prefix = \"/attestgate.demo.Demo/\"\nupstream = \"{}\"\n",
        secret_toml(&keys),
        up.url()
    );
    let (proxy, _tls) = start(&config, "").await;
    let frame = b"\0\0\0\0\x03\x0a\x01x";
    let token = keys.hs256(300, json!({}));
    let grpc = ("content-type", "application/grpc");
    let te = ("te", "trailers");
    // (path, headers, grpc-status, content type back)
    let cases: [(&str, Vec<(&str, &str)>, &str, &str); 5] = [
        (
            "/attestgate.demo.Demo/Hello",
            vec![grpc, te],
            "16",
            "application/grpc",
        ),
        (
            "/attestgate.demo.Demo/Hello",
            vec![grpc, te, ("approov-token", "x.y.z")],
            "16",
            "application/grpc",
        ),
        (
            "/attestgate.demo.Demo/Hello",
            vec![("content-type", "application/grpc-web+proto")],
            "16",
            "application/grpc-web+proto",
        ),
        (
            "/other.Service/Call",
            vec![grpc, te, ("approov-token", &token)],
            "12",
            "application/grpc",
        ),
        (
            "/attestgate.demo.Demo/%2e%2e/x",
            vec![grpc, te, ("approov-token", &token)],
            "13",
            "application/grpc",
        ),
    ];
    for (path, headers, code, ct) in cases {
        let a = raw_call(proxy.addr, path, &headers, frame).await;
        let what = format!("{path} {headers:?}");
        assert_eq!(a.status, 200, "{what}");
        assert_eq!(a.headers.get("grpc-status").unwrap(), code, "{what}");
        assert!(a.headers.get("grpc-message").is_some(), "{what}");
        assert_eq!(a.headers.get("content-type").unwrap(), ct, "{what}");
        assert!(
            a.data_frames.is_empty(),
            "{what}: DATA frames {:?}",
            a.data_frames
        );
        assert!(a.trailers.is_none(), "{what}: {:?}", a.trailers);
    }
    // A passing call, for contrast: a message, then trailers.
    let a = raw_call(
        proxy.addr,
        "/attestgate.demo.Demo/Hello",
        &[grpc, te, ("approov-token", &token)],
        frame,
    )
    .await;
    assert!(!a.data_frames.is_empty());
    assert_eq!(a.trailers.unwrap().get("grpc-status").unwrap(), "0");
    assert_eq!(up.seen.count(), 1);
}

/// gRPC-Web (HTTP/1.1, as browsers send it) is refused in the gRPC-Web
/// form: its own content type back, the status in the headers, no body.
#[tokio::test(flavor = "multi_thread")]
async fn grpc_web_refusals_use_the_grpc_web_form() {
    use attestgate_testkit::client::{Client, request};
    let keys = TestKeys::new();
    let up = GrpcUpstream::start().await;
    let (proxy, _tls) = start(
        &format!("{}{}", secret_toml(&keys), route(&up.url(), "")),
        "",
    )
    .await;
    let frame = b"\0\0\0\0\x03\x0a\x01x";
    for ct in [
        "application/grpc-web",
        "application/grpc-web+proto",
        "application/grpc-web-text",
    ] {
        let r = Client::new()
            .send(request(
                "POST",
                &proxy.url("/attestgate.demo.Demo/Hello"),
                &[("content-type", ct), ("x-grpc-web", "1")],
                std::str::from_utf8(frame).unwrap(),
            ))
            .await;
        assert_eq!(r.status, 200, "{ct}");
        assert_eq!(r.header("content-type"), Some(ct));
        assert_eq!(r.header("grpc-status"), Some("16"), "{ct}");
        assert_eq!(r.header("grpc-message"), Some("unauthenticated"), "{ct}");
        assert!(r.body.is_empty(), "{ct}");
    }
    assert_eq!(up.seen.count(), 0);
}

/// The proxy with an h2c listener (`proxy.addr`) and a TLS one (returned).
async fn start(config: &str, server_extra: &str) -> (Proxy, SocketAddr) {
    let tls_port = attestgate_testkit::http::free_port();
    let server_extra = format!(
        "upstream_ca_file = \"{}\"\n{server_extra}\n[[server.tls]]\nlisten = \"127.0.0.1:{tls_port}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        tls::path("ca.pem").display(),
        tls::path("localhost.pem").display(),
        tls::path("localhost.key").display()
    );
    let proxy = Proxy::start(
        bin(),
        Start {
            config,
            server_extra: &server_extra,
            ..Start::default()
        },
    )
    .await;
    (proxy, format!("127.0.0.1:{tls_port}").parse().unwrap())
}

fn secret_toml(keys: &TestKeys) -> String {
    format!(
        "[token]\n[[token.secret]]\nbase64 = {{ value = \"{}\" }}\n",
        keys.secret_b64
    )
}

fn route(upstream: &str, extra: &str) -> String {
    format!("[[route]]\nname = \"grpc\"\nupstream = \"{upstream}\"\n{extra}\n")
}

/// Both listeners: (name, one HTTP/2 connection to it).
async fn channels(proxy: &Proxy, tls: SocketAddr) -> Vec<(&'static str, Channel)> {
    vec![
        ("h2c", h2c_channel(proxy.addr).await),
        ("tls", tls_channel(tls).await),
    ]
}

fn hello(name: &str) -> HelloRequest {
    HelloRequest { name: name.into() }
}

/// What every passing call must look like at the upstream.
fn assert_forwarded(call: &SeenCall, method: &str, what: &str) {
    assert_eq!(call.method, method, "{what}");
    assert!(
        call.headers.get("approov-token").is_none(),
        "{what}: the token reached the upstream"
    );
    assert_eq!(call.one("x-app-meta").as_deref(), Some("kept"), "{what}");
    assert_eq!(call.one("te").as_deref(), Some("trailers"), "{what}");
    assert!(
        call.one("content-type")
            .is_some_and(|ct| ct.starts_with("application/grpc")),
        "{what}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn four_call_kinds_pass_with_metadata_intact_and_the_token_removed() {
    let keys = TestKeys::new();
    let up = GrpcUpstream::start().await;
    let (proxy, tls) = start(
        &format!("{}{}", secret_toml(&keys), route(&up.url(), "")),
        "",
    )
    .await;
    let token = keys.hs256(300, json!({}));
    let md = [("approov-token", token.as_str()), ("x-app-meta", "kept")];
    for (listener, channel) in channels(&proxy, tls).await {
        let mut demo = DemoClient::new(channel.clone());
        let mut relay = RelayClient::new(channel);
        let before = up.seen.count();

        // unary, with response metadata back
        let reply = demo
            .hello(with_metadata(hello("unary"), &md))
            .await
            .unwrap_or_else(|s| panic!("{listener}: {s:?}"));
        assert_eq!(
            reply.metadata().get("x-upstream-header").unwrap(),
            "sent",
            "{listener}"
        );
        assert_eq!(reply.into_inner().message, "hello, unary");

        // server streaming
        let mut stream = demo
            .count(with_metadata(CountRequest { count: 5 }, &md))
            .await
            .unwrap()
            .into_inner();
        let mut got = Vec::new();
        while let Some(item) = stream.next().await {
            got.push(item.unwrap().n);
        }
        assert_eq!(got, [1, 2, 3, 4, 5], "{listener}");

        // client streaming
        let names = tokio_stream::iter(["a", "bb", "ccc"].map(hello));
        let reply = relay
            .join(with_metadata(names, &md))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (reply.message.as_str(), reply.device.as_str()),
            ("a,bb,ccc", "6")
        );

        // bidi
        let names = tokio_stream::iter(["x", "y"].map(hello));
        let mut stream = relay
            .chat(with_metadata(names, &md))
            .await
            .unwrap()
            .into_inner();
        let mut got = Vec::new();
        while let Some(item) = stream.next().await {
            got.push(item.unwrap().message);
        }
        assert_eq!(got, ["hello, x", "hello, y"], "{listener}");

        // trailers: an upstream status with its own trailer metadata, after
        // a unary call and after three messages of a stream
        let status = demo
            .hello(with_metadata(hello("fail"), &md))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{listener}");
        assert_eq!(status.message(), "upstream says no");
        assert_eq!(status.metadata().get("x-upstream-trailer").unwrap(), "kept");
        let mut stream = demo
            .count(with_metadata(CountRequest { count: 5000 }, &md))
            .await
            .unwrap()
            .into_inner();
        let mut got = Vec::new();
        let end = loop {
            match stream.next().await {
                Some(Ok(r)) => got.push(r.n),
                Some(Err(s)) => break s,
                None => panic!("{listener}: the stream ended without its status"),
            }
        };
        assert_eq!(got, [1, 2, 3]);
        assert_eq!(end.code(), Code::DataLoss, "{listener}");
        assert_eq!(end.metadata().get("x-upstream-trailer").unwrap(), "kept");

        let calls = up.seen.calls();
        let calls = &calls[before..];
        let methods: Vec<_> = calls.iter().map(|c| c.method).collect();
        assert_eq!(
            methods,
            ["Hello", "Count", "Join", "Chat", "Hello", "Count"]
        );
        for c in calls {
            assert_forwarded(c, c.method, listener);
        }
    }
    assert_eq!(
        proxy
            .metric("attestgate_requests_total{outcome=\"allowed\",route=\"grpc\"}")
            .await,
        Some(12.0)
    );
}

fn reason_counts(text: &str) -> Vec<f64> {
    Reason::ALL
        .iter()
        .map(|r| {
            // every route's series of this reason, summed
            let series = format!("attestgate_rejections_total{{reason=\"{}\",", r.as_str());
            text.lines()
                .filter(|l| l.starts_with(&series))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        })
        .collect()
}

/// Every case of the parity table as a gRPC client sees it, on both
/// listeners: passes arrive, refusals are UNAUTHENTICATED with the generic
/// message (never the reason), counted under exactly their reason, and
/// never reach the upstream.
#[tokio::test(flavor = "multi_thread")]
async fn every_refusal_reason_is_unauthenticated_to_the_client() {
    let fx = Fixture::new();
    let up = GrpcUpstream::start().await;
    let (proxy, tls) = start(
        &format!("{}\n{}", fx.token_toml(), route(&up.url(), "")),
        "",
    )
    .await;
    let cases = fx.cases();
    // Every token reason but no_keys (its own test below) is in the table;
    // signature and replay belong to message signing.
    let covered = attestgate_testkit::parity::reasons_covered(&cases);
    assert_eq!(covered.len(), Reason::ALL.len() - 3, "{covered:?}");
    for r in [Reason::NoKeys, Reason::Signature, Reason::Replay] {
        assert!(!covered.contains(&r));
    }
    for (listener, channel) in channels(&proxy, tls).await {
        let mut demo = DemoClient::new(channel);
        for case in &cases {
            let what = format!("{listener} {}", case.name);
            let pairs = case.header_pairs();
            let before_up = up.seen.count();
            let before = reason_counts(&proxy.metrics().await);
            let result = demo.hello(with_metadata(hello("case"), &pairs)).await;
            let after = reason_counts(&proxy.metrics().await);
            match case.expect {
                Expect::Allowed => {
                    let reply = result.unwrap_or_else(|s| panic!("{what}: {s:?}"));
                    assert_eq!(reply.into_inner().message, "hello, case");
                    assert_eq!(up.seen.count(), before_up + 1, "{what}");
                    let call = up.seen.calls().pop().unwrap();
                    assert!(call.headers.get("approov-token").is_none(), "{what}");
                    assert_eq!(before, after, "{what}");
                }
                Expect::Rejected(reason) => {
                    let status = result.expect_err(&what);
                    assert_eq!(status.code(), Code::Unauthenticated, "{what}: {status:?}");
                    assert_eq!(status.message(), "unauthenticated", "{what}");
                    assert!(status.details().is_empty(), "{what}");
                    assert_eq!(up.seen.count(), before_up, "{what}: reached the upstream");
                    for r in Reason::ALL {
                        let moved = after[r.index()] - before[r.index()];
                        assert_eq!(moved, f64::from(u8::from(r == reason)), "{what}: {r}");
                    }
                }
            }
        }
    }
}

/// Per-route settings hold for gRPC as for HTTP: in monitor mode a
/// failing call passes (counted `monitored`); `forward_token = true` keeps
/// the token for the upstream.
#[tokio::test(flavor = "multi_thread")]
async fn monitor_mode_and_forward_token_apply_to_grpc() {
    let keys = TestKeys::new();
    let up = GrpcUpstream::start().await;
    let config = format!(
        "{}{}",
        secret_toml(&keys),
        route(&up.url(), "mode = \"monitor\"\nforward_token = true")
    );
    let (proxy, tls) = start(&config, "").await;
    for (listener, channel) in channels(&proxy, tls).await {
        let reply = DemoClient::new(channel)
            .hello(with_metadata(
                hello("m"),
                &[("approov-token", "bad.token.here")],
            ))
            .await
            .unwrap_or_else(|s| panic!("{listener}: {s:?}"));
        assert_eq!(reply.into_inner().message, "hello, m");
        let call = up.seen.calls().pop().unwrap();
        assert_eq!(
            call.one("approov-token").as_deref(),
            Some("bad.token.here"),
            "{listener}"
        );
    }
    assert_eq!(
        proxy
            .metric("attestgate_requests_total{outcome=\"monitored\",route=\"grpc\"}")
            .await,
        Some(2.0)
    );
}

/// No key has ever loaded (the JWKS URL answers nothing): UNAVAILABLE.
#[tokio::test(flavor = "multi_thread")]
async fn no_keys_is_unavailable_to_the_client() {
    let up = GrpcUpstream::start().await;
    let port = attestgate_testkit::http::free_port();
    let config = format!(
        "[token]\nalgorithms = [\"ES256\"]\n[token.jwks]\nurl = \"http://127.0.0.1:{port}/jwks.json\"\ntimeout = \"200ms\"\n\n{}",
        route(&up.url(), "")
    );
    let (proxy, tls) = start(&config, "").await;
    let token = TestKeys::new().es256(300, json!({}));
    for (listener, channel) in channels(&proxy, tls).await {
        let status = DemoClient::new(channel)
            .hello(with_metadata(hello("x"), &[("approov-token", &token)]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{listener}: {status:?}");
        assert_eq!(status.message(), "service unavailable", "{listener}");
    }
    assert_eq!(up.seen.count(), 0);
}

/// A 4 MiB message each way, as a ping-pong on one bidi stream: the next
/// message is sent only after the answer to the last one came back, so a
/// proxy that buffered a whole request body (or response) before
/// forwarding it would never answer.
#[tokio::test(flavor = "multi_thread")]
async fn large_messages_stream_both_ways_without_being_buffered_whole() {
    let keys = TestKeys::new();
    let up = GrpcUpstream::start().await;
    let (proxy, tls) = start(
        &format!("{}{}", secret_toml(&keys), route(&up.url(), "")),
        "",
    )
    .await;
    let token = keys.hs256(300, json!({}));
    let big = |c: char| c.to_string().repeat(4 * 1024 * 1024);
    for (listener, channel) in channels(&proxy, tls).await {
        let (tx, rx) = mpsc::channel(1);
        let mut relay = RelayClient::new(channel);
        tx.send(hello(&big('a'))).await.unwrap();
        let mut replies = relay
            .chat(with_metadata(
                ReceiverStream::new(rx),
                &[("approov-token", &token)],
            ))
            .await
            .unwrap_or_else(|s| panic!("{listener}: {s:?}"))
            .into_inner();
        for next in ['b', 'c'] {
            let reply = tokio::time::timeout(Duration::from_secs(20), replies.next())
                .await
                .unwrap_or_else(|_| panic!("{listener}: no answer while the stream is open"))
                .unwrap()
                .unwrap();
            assert_eq!(reply.message.len(), 4 * 1024 * 1024 + "hello, ".len());
            tx.send(hello(&big(next))).await.unwrap();
        }
        let last = replies.next().await.unwrap().unwrap();
        assert!(last.message.ends_with("ccc"), "{listener}");
        drop(tx);
        assert!(replies.next().await.is_none(), "{listener}");
    }
}

/// A deadline shorter than the upstream's answer: the client gets
/// DEADLINE_EXCEEDED (or CANCELLED) when its deadline passes; without a
/// deadline, the route's read_timeout ends the call.
#[tokio::test(flavor = "multi_thread")]
async fn deadlines_are_kept_and_read_timeout_bounds_a_slow_upstream() {
    let keys = TestKeys::new();
    let up = GrpcUpstream::start().await;
    let (proxy, tls) = start(
        &format!(
            "{}{}",
            secret_toml(&keys),
            route(&up.url(), "read_timeout = \"1s\"")
        ),
        "",
    )
    .await;
    let token = keys.hs256(300, json!({}));
    for (listener, channel) in channels(&proxy, tls).await {
        let mut demo = DemoClient::new(channel);
        let mut req = with_metadata(hello("sleep:6000"), &[("approov-token", &token)]);
        req.set_timeout(Duration::from_millis(300));
        let started = Instant::now();
        let status = demo.hello(req).await.unwrap_err();
        assert!(
            matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
            "{listener}: {status:?}"
        );
        // well before the upstream's 6 s (slack for a loaded CI machine)
        assert!(started.elapsed() < Duration::from_secs(3), "{listener}");
        let seen = up.seen.calls().pop().unwrap();
        assert!(
            seen.one("grpc-timeout").is_some_and(|t| !t.is_empty()),
            "{listener}"
        );

        let started = Instant::now();
        let status = demo
            .hello(with_metadata(
                hello("sleep:6000"),
                &[("approov-token", &token)],
            ))
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(4),
            "{listener}: {took:?} {status:?}"
        );
        // The proxy's own deadline (read_timeout) passed: a gRPC status,
        // not a JSON 504 the client would read as a broken frame.
        assert_eq!(
            status.code(),
            Code::DeadlineExceeded,
            "{listener}: {status:?}"
        );
        assert_eq!(status.message(), "gateway timeout", "{listener}");
        // The connection is still good for the next call.
        let ok = demo
            .hello(with_metadata(hello("after"), &[("approov-token", &token)]))
            .await
            .unwrap_or_else(|s| panic!("{listener}: {s:?}"));
        assert_eq!(ok.into_inner().message, "hello, after");
    }
}

/// Two streams on one connection: a bidi call with a token stays open
/// while a call without one is refused on the same connection; the refusal
/// resets nothing, and the open stream goes on.
#[tokio::test(flavor = "multi_thread")]
async fn one_streams_refusal_does_not_reset_the_other() {
    let keys = TestKeys::new();
    let up = GrpcUpstream::start().await;
    let (proxy, tls) = start(
        &format!("{}{}", secret_toml(&keys), route(&up.url(), "")),
        "",
    )
    .await;
    let token = keys.hs256(300, json!({}));
    for (listener, channel) in channels(&proxy, tls).await {
        let (tx, rx) = mpsc::channel(4);
        let mut relay = RelayClient::new(channel.clone());
        let mut demo = DemoClient::new(channel);
        tx.send(hello("one")).await.unwrap();
        let mut open = relay
            .chat(with_metadata(
                ReceiverStream::new(rx),
                &[("approov-token", &token)],
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(open.next().await.unwrap().unwrap().message, "hello, one");

        for _ in 0..3 {
            let status = demo.hello(hello("no token")).await.unwrap_err();
            assert_eq!(
                status.code(),
                Code::Unauthenticated,
                "{listener}: {status:?}"
            );
            // a refused client-streaming call too, its request stream still open
            let (_keep, never) = mpsc::channel::<HelloRequest>(1);
            let status = relay
                .join(tonic::Request::new(ReceiverStream::new(never)))
                .await
                .unwrap_err();
            assert_eq!(
                status.code(),
                Code::Unauthenticated,
                "{listener}: {status:?}"
            );
        }

        tx.send(hello("two")).await.unwrap();
        assert_eq!(
            open.next().await.unwrap().unwrap().message,
            "hello, two",
            "{listener}"
        );
        let ok = demo
            .hello(with_metadata(hello("three"), &[("approov-token", &token)]))
            .await
            .unwrap();
        assert_eq!(ok.into_inner().message, "hello, three");
        drop(tx);
        assert!(open.next().await.is_none());
    }
}

/// Refused calls that carry big request bodies (20 MiB in all, more than
/// a connection's flow-control window) on the same connection as a
/// passing stream: the proxy must give the window back for what it
/// discards, or the passing stream stalls.
#[tokio::test(flavor = "multi_thread")]
async fn refused_big_bodies_do_not_stall_the_connection() {
    let keys = TestKeys::new();
    let up = GrpcUpstream::start().await;
    let (proxy, tls) = start(
        &format!("{}{}", secret_toml(&keys), route(&up.url(), "")),
        "",
    )
    .await;
    let token = keys.hs256(300, json!({}));
    let big = || hello(&"z".repeat(4 * 1024 * 1024));
    for (listener, channel) in channels(&proxy, tls).await {
        let mut relay = RelayClient::new(channel.clone());
        let (tx, rx) = mpsc::channel(1);
        tx.send(hello("open")).await.unwrap();
        let mut open = relay
            .chat(with_metadata(
                ReceiverStream::new(rx),
                &[("approov-token", &token)],
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(open.next().await.unwrap().unwrap().message, "hello, open");
        for round in 0..5 {
            let status = tokio::time::timeout(
                Duration::from_secs(20),
                relay.join(tonic::Request::new(tokio_stream::iter([big()]))),
            )
            .await
            .unwrap_or_else(|_| panic!("{listener} {round}: refusal stalled"))
            .unwrap_err();
            assert_eq!(
                status.code(),
                Code::Unauthenticated,
                "{listener} {round}: {status:?}"
            );
        }
        tx.send(big()).await.unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(20), open.next())
            .await
            .unwrap_or_else(|_| panic!("{listener}: the open stream stalled"))
            .unwrap()
            .unwrap();
        assert_eq!(reply.message.len(), 4 * 1024 * 1024 + "hello, ".len());
        drop(tx);
        assert!(open.next().await.is_none());
    }
}

/// What the proxy itself answers before any token check (no route,
/// oversize headers) a gRPC client reads as a gRPC status too.
#[tokio::test(flavor = "multi_thread")]
async fn proxy_answers_before_the_check_are_grpc_statuses() {
    let keys = TestKeys::new();
    let up = GrpcUpstream::start().await;
    let config = format!(
        "{}[[route]]\nname = \"only-count\"\npath_prefix = \"/attestgate.demo.Demo/Count\"\nupstream = \"{}\"\n",
        secret_toml(&keys),
        up.url()
    );
    let (proxy, tls) = start(&config, "max_header_bytes = 4096").await;
    let token = keys.hs256(300, json!({}));
    for (listener, channel) in channels(&proxy, tls).await {
        let mut demo = DemoClient::new(channel);
        let status = demo
            .hello(with_metadata(hello("x"), &[("approov-token", &token)]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented, "{listener}: {status:?}");
        let fat = "f".repeat(5000);
        let status = demo
            .count(with_metadata(
                CountRequest { count: 1 },
                &[("approov-token", &token), ("x-fat", &fat)],
            ))
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::ResourceExhausted,
            "{listener}: {status:?}"
        );
        // and the connection still serves
        let mut stream = demo
            .count(with_metadata(
                CountRequest { count: 2 },
                &[("approov-token", &token)],
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stream.next().await.unwrap().unwrap().n, 1, "{listener}");
    }
    assert_eq!(up.seen.count(), 2);
}

/// An upstream that speaks gRPC over TLS only (ALPN h2): `auto` offers h2
/// and verifies its certificate; `http1` cannot reach it, which shows the
/// protocol really is chosen by the route.
#[tokio::test(flavor = "multi_thread")]
async fn tls_upstream_with_alpn_h2() {
    let keys = TestKeys::new();
    let up = GrpcUpstream::start_tls().await;
    let config = format!(
        "{}{}[[route]]\nname = \"h1\"\npath_prefix = \"/attestgate.demo.Demo/Count\"\nupstream = \"{}\"\nprotocol = \"http1\"\n",
        secret_toml(&keys),
        route(&up.tls_url(), ""),
        up.tls_url()
    );
    let (proxy, tls) = start(&config, "").await;
    let token = keys.hs256(300, json!({}));
    let md = [("approov-token", token.as_str()), ("x-app-meta", "kept")];
    for (listener, channel) in channels(&proxy, tls).await {
        let mut demo = DemoClient::new(channel.clone());
        let reply = demo
            .hello(with_metadata(hello("tls"), &md))
            .await
            .unwrap_or_else(|s| panic!("{listener}: {s:?}"));
        assert_eq!(reply.into_inner().message, "hello, tls");
        let call = up.seen.calls().pop().unwrap();
        assert_forwarded(&call, "Hello", listener);

        let mut relay = RelayClient::new(channel);
        let mut stream = relay
            .chat(with_metadata(tokio_stream::iter([hello("p")]), &md))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stream.next().await.unwrap().unwrap().message, "hello, p");
        assert!(stream.next().await.is_none());

        let before = up.seen.count();
        let status = demo
            .count(with_metadata(CountRequest { count: 1 }, &md))
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{listener}: {status:?}");
        assert_eq!(status.message(), "bad gateway", "{listener}");
        assert_eq!(
            up.seen.count(),
            before,
            "{listener}: http1 reached the gRPC server"
        );
    }
}
