//! HTTP/2 clients (hyper, HTTP/2 only) on the h2c listener and on the TLS
//! listener with ALPN h2: each request on a multiplexed connection gets the
//! same checks as over HTTP/1, and one stream's refusal resets nothing.

use std::path::Path;

use attestgate_testkit::h2::H2Conn;
use attestgate_testkit::proxy::{Proxy, Start};
use attestgate_testkit::tls;
use attestgate_testkit::tokens::TestKeys;
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};
use serde_json::json;

const REAL_KEY: &str = "sk_live_h2_key_77";

#[tokio::test(flavor = "multi_thread")]
async fn each_stream_is_checked_on_its_own() {
    let keys = TestKeys::new();
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let tls_port = attestgate_testkit::http::free_port();
    let server_extra = format!(
        "[[server.tls]]\nlisten = \"127.0.0.1:{tls_port}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        tls::path("localhost.pem").display(),
        tls::path("localhost.key").display()
    );
    let config = format!(
        "[token]\n[[token.secret]]\nbase64 = {{ value = \"{}\" }}\n\n[[route]]\nname = \"api\"\nupstream = \"{}\"\n[[route.substitute]]\nheader = \"api-key\"\nplaceholder = \"ph\"\nsecret = {{ value = \"{REAL_KEY}\" }}\n",
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
    let token = keys.hs256(300, json!({}));
    let tls_addr = format!("127.0.0.1:{tls_port}").parse().unwrap();
    for (listener, conn) in [
        ("h2c", H2Conn::h2c(proxy.addr).await),
        ("tls", H2Conn::tls(tls_addr).await),
    ] {
        let before = up.count();
        // 40 concurrent streams on one connection: even ones with a token,
        // odd ones without (or with a bad one), all at once.
        let mut tasks = Vec::new();
        for i in 0..40usize {
            let conn = conn.clone();
            let token = token.clone();
            tasks.push(tokio::spawn(async move {
                let path = format!("/s/{i}");
                let headers: Vec<(&str, &str)> = match i % 4 {
                    0 | 2 => vec![("approov-token", &token), ("api-key", "ph")],
                    1 => vec![("api-key", "ph")],
                    _ => vec![("approov-token", "not.a.token"), ("api-key", "ph")],
                };
                let method = if i % 3 == 0 { "POST" } else { "GET" };
                let body = if method == "POST" { "payload" } else { "" };
                (i, conn.send(method, &path, &headers, body).await)
            }));
        }
        for t in tasks {
            let (i, r) = t.await.unwrap();
            let r = r.unwrap_or_else(|e| panic!("{listener} stream {i}: {e}"));
            if i % 2 == 0 {
                assert_eq!(r.status, 200, "{listener} {i}: {}", r.text());
                let echo = r.json();
                assert_eq!(echo["path"], format!("/s/{i}"));
                assert!(
                    echo["headers"].get("approov-token").is_none(),
                    "{listener} {i}"
                );
                assert_eq!(echo["headers"]["api-key"][0], REAL_KEY, "{listener} {i}");
                if i % 3 == 0 {
                    assert_eq!(echo["body"], "payload", "{listener} {i}");
                }
            } else {
                assert_eq!(r.status, 401, "{listener} {i}");
                assert_eq!(&r.body[..], b"{}", "{listener} {i}");
                assert!(!r.text().contains(REAL_KEY));
            }
        }
        assert!(conn.is_open(), "{listener}: the connection closed");
        assert_eq!(
            up.count() - before,
            20,
            "{listener}: only the passing streams arrive"
        );
        // and the connection still serves
        let r = conn
            .send("GET", "/after", &[("approov-token", &token)], "")
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{listener}");
    }
    // Nothing that was refused reached the upstream with a secret.
    for seen in up.seen() {
        assert!(seen.headers.get("approov-token").is_none());
    }
}

/// What version reaches the upstream, by route `protocol` and request kind,
/// whatever the client spoke: an upstream (hyper's auto server) that takes
/// both HTTP/1.1 and h2c records the version it got.
#[tokio::test(flavor = "multi_thread")]
async fn the_route_protocol_sets_the_upstream_version() {
    use attestgate_testkit::client::{Client, request};
    use http::Version;
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let mut config = String::new();
    for protocol in ["auto", "h2", "http1"] {
        config += &format!(
            "[[route]]\nname = \"{protocol}\"\npath_prefix = \"/{protocol}/\"\ntoken = \"off\"\nupstream = \"{}\"\nprotocol = \"{protocol}\"\n",
            up.url()
        );
    }
    let proxy = Proxy::start(
        Path::new(env!("CARGO_BIN_EXE_attestgate")),
        Start {
            config: &config,
            ..Start::default()
        },
    )
    .await;
    let h2 = H2Conn::h2c(proxy.addr).await;
    let http1 = Client::new();
    let grpc = [("content-type", "application/grpc")];
    let json_ct = [("content-type", "application/json")];
    // (path, content type, version the upstream must see)
    let table: [(&str, &[(&str, &str)], Version); 6] = [
        ("/auto/x", &json_ct, Version::HTTP_11),
        ("/auto/x", &grpc, Version::HTTP_2),
        ("/h2/x", &json_ct, Version::HTTP_2),
        ("/h2/x", &grpc, Version::HTTP_2),
        ("/http1/x", &json_ct, Version::HTTP_11),
        ("/http1/x", &grpc, Version::HTTP_11),
    ];
    for (path, headers, want) in table {
        for client in ["http1", "h2c"] {
            let before = up.count();
            let status = match client {
                "http1" => {
                    http1
                        .send(request("POST", &proxy.url(path), headers, "body"))
                        .await
                        .status
                }
                _ => h2.send("POST", path, headers, "body").await.unwrap().status,
            };
            assert_eq!(status, 200, "{client} {path} {headers:?}");
            assert_eq!(up.count(), before + 1);
            let seen = up.seen().pop().unwrap();
            assert_eq!(seen.version, want, "{client} {path} {headers:?}");
            assert_eq!(&seen.body[..], b"body", "{client} {path} {headers:?}");
        }
    }
}

/// On HTTP/2 the host is `:authority` (clients send no `Host`): it selects
/// routes as `Host` does, and a `Host` header that disagrees with it is
/// refused, on both listeners.
#[tokio::test(flavor = "multi_thread")]
async fn authority_selects_the_route_and_a_disagreeing_host_is_refused() {
    let by_name = RecordingUpstream::start(Behaviour::Echo).await;
    let other = RecordingUpstream::start(Behaviour::Echo).await;
    let tls_port = attestgate_testkit::http::free_port();
    let server_extra = format!(
        "[[server.tls]]\nlisten = \"127.0.0.1:{tls_port}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        tls::path("localhost.pem").display(),
        tls::path("localhost.key").display()
    );
    let config = format!(
        "[[route]]\nname = \"named\"\nhost = \"localhost\"\ntoken = \"off\"\nupstream = \"{}\"\n\n[[route]]\nname = \"rest\"\ntoken = \"off\"\nupstream = \"{}\"\n",
        by_name.url(),
        other.url()
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
    let tls = H2Conn::tls(format!("127.0.0.1:{tls_port}").parse().unwrap()).await; // :authority localhost:PORT
    let h2c = H2Conn::h2c(proxy.addr).await; // :authority 127.0.0.1:PORT
    assert_eq!(tls.send("GET", "/a", &[], "").await.unwrap().status, 200);
    assert_eq!((by_name.count(), other.count()), (1, 0));
    assert_eq!(h2c.send("GET", "/a", &[], "").await.unwrap().status, 200);
    assert_eq!((by_name.count(), other.count()), (1, 1));
    for (conn, host) in [
        (&tls, "other.example"),
        (&h2c, "localhost"),
        (&tls, "localhost:1"),
    ] {
        let r = conn.send("GET", "/a", &[("host", host)], "").await.unwrap();
        assert_eq!(r.status, 400, "{host}");
    }
    assert_eq!((by_name.count(), other.count()), (1, 1));
}
