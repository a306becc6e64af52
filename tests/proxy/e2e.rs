//! End-to-end: the real `attestgate` binary on loopback ports, in front of
//! real recording upstreams, driven by a real HTTP client (and raw TCP for
//! what clients cannot normally send).

use std::path::Path;
use std::time::{Duration, Instant};

use attestgate::mint;
use attestgate_testkit::client::{Client, request};
use attestgate_testkit::proxy::{Proxy, Start, raw_exchange};
use attestgate_testkit::tokens::{TestKeys, approov_claims, claims};
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};
use attestgate_testkit::{TempDir, eventually, holds_for};
use serde_json::json;

const REAL_KEY: &str = "sk_live_real_api_key_0d6f2b";
const PLACEHOLDER: &str = "shapes_api_key_placeholder";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_attestgate"))
}

fn secret_line(keys: &TestKeys) -> String {
    format!(
        "[[token.secret]]\nbase64 = {{ value = \"{}\" }}\n",
        keys.secret_b64
    )
}

async fn start(config: &str) -> Proxy {
    Proxy::start(
        bin(),
        Start {
            config,
            ..Start::default()
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_rejection_reason_gets_its_status_and_never_reaches_the_upstream() {
    let keys = TestKeys::new();
    let dir = TempDir::new("e2e-reasons");
    let jwks = dir.write_atomic("jwks.json", keys.jwks().to_string());
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let proxy = start(&format!(
        "[token]\nalgorithms = [\"HS256\", \"ES256\"]\nbinding_headers = [\"Authorization\"]\nissuer = \"approov\"\n{}[token.jwks]\nfile = \"{}\"\n\n[[route]]\nname = \"api\"\nupstream = \"{}\"\n",
        secret_line(&keys),
        jwks.display(),
        up.url()
    ))
    .await;
    let c = Client::new();
    let auth = "Bearer user-session-1";
    let good = |extra: serde_json::Value| {
        let mut c = approov_claims(300, Some(&[auth]));
        c["iss"] = "approov".into();
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let hs = |c: serde_json::Value| mint::mint(&keys.hs, None, &c).unwrap();
    let other = mint::SigningKey::hs256_base64(&mint::new_secret_base64().unwrap()).unwrap();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("malformed", Some("abc.def".into())),
        ("sdk_status", Some("NO_NETWORK".into())),
        (
            "algorithm",
            Some(
                mint::mint_with_header(
                    &keys.hs,
                    &json!({"alg": "HS512", "typ": "JWT"}),
                    &good(json!({})),
                )
                .unwrap(),
            ),
        ),
        (
            "unknown_key",
            Some(mint::mint(&keys.es, Some("no-such-kid"), &good(json!({}))).unwrap()),
        ),
        (
            "bad_signature",
            Some(mint::mint(&other, None, &good(json!({}))).unwrap()),
        ),
        (
            "expired",
            Some(hs(good(json!({"exp": attestgate_testkit::now() - 10})))),
        ),
        (
            "not_yet_valid",
            Some(hs(good(json!({"nbf": attestgate_testkit::now() + 600})))),
        ),
        ("claims", Some(hs(good(json!({"iss": "someone-else"}))))),
        (
            "binding",
            Some(hs(good(
                json!({"pay": attestgate::pay_claim(&["Bearer other-user"])}),
            ))),
        ),
    ];
    for (reason, token) in &cases {
        let mut headers = vec![("authorization", auth)];
        if let Some(t) = token {
            headers.push(("approov-token", t.as_str()));
        }
        let r = c.get(&proxy.url("/orders"), &headers).await;
        assert_eq!(r.status, 401, "{reason}");
        assert_eq!(r.text(), "{}", "{reason}");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    assert_eq!(up.count(), 0, "a rejected request reached the upstream");
    for (reason, _) in &cases {
        let series = format!("attestgate_rejections_total{{reason=\"{reason}\",route=\"api\"}}");
        assert_eq!(proxy.metric(&series).await, Some(1.0), "{series}");
    }
    // the same request with a good token passes, ES256 and HS256
    for token in [
        hs(good(json!({}))),
        mint::mint(&keys.es, Some("es-1"), &good(json!({}))).unwrap(),
    ] {
        let r = c
            .get(
                &proxy.url("/orders"),
                &[("authorization", auth), ("approov-token", &token)],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(up.count(), 2);
    assert_eq!(
        proxy
            .metric("attestgate_requests_total{outcome=\"rejected\",route=\"api\"}")
            .await,
        Some(10.0)
    );
    assert_eq!(
        proxy
            .metric("attestgate_requests_total{outcome=\"allowed\",route=\"api\"}")
            .await,
        Some(2.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_keys_answers_503_and_grpc_clients_get_grpc_codes() {
    let keys = TestKeys::new();
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let closed = attestgate_testkit::http::free_port();
    // Only a JWKS URL, and nothing listens there: no key ever loads.
    let cold = start(&format!(
        "[token]\nalgorithms = [\"ES256\"]\n[token.jwks]\nurl = \"http://127.0.0.1:{closed}/jwks.json\"\n\n[[route]]\nname = \"api\"\nupstream = \"{}\"\n",
        up.url()
    ))
    .await;
    let c = Client::new();
    let token = keys.es256(300, json!({}));
    let r = c.get(&cold.url("/x"), &[("approov-token", &token)]).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.text(), "{}");
    assert_eq!(c.get(&cold.admin_url("/readyz"), &[]).await.status, 503);
    assert_eq!(c.get(&cold.admin_url("/healthz"), &[]).await.status, 200);
    let r = c
        .get(
            &cold.url("/pkg.Svc/Call"),
            &[
                ("approov-token", &token),
                ("content-type", "application/grpc"),
            ],
        )
        .await;
    assert_eq!((r.status, r.header("grpc-status")), (200, Some("14")));

    let warm = start(&format!(
        "[token]\nreject_status = 403\n{}\n[[route]]\nname = \"api\"\nupstream = \"{}\"\n",
        secret_line(&keys),
        up.url()
    ))
    .await;
    assert_eq!(c.get(&warm.admin_url("/readyz"), &[]).await.status, 200);
    let r = c.get(&warm.url("/x"), &[]).await;
    assert_eq!(r.status, 403, "reject_status is configurable");
    let r = c
        .get(
            &warm.url("/pkg.Svc/Call"),
            &[("content-type", "application/grpc+proto")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("grpc-status"), Some("16"));
    assert_eq!(r.header("content-type"), Some("application/grpc"));
    assert!(
        !r.header("grpc-message")
            .unwrap_or_default()
            .contains("missing"),
        "the reason is never sent"
    );
    assert_eq!(up.count(), 0);
}

fn substitution_config(keys: &TestKeys, up: &RecordingUpstream) -> String {
    format!(
        r#"[token]
{secret}
[[route]]
name = "api"
path_prefix = "/api/"
upstream = "{up}"

[[route.substitute]]
header = "Api-Key"
placeholder = "{PLACEHOLDER}"
secret = {{ env = "TEST_REAL_KEY" }}

[[route.substitute]]
header = "Authorization"
prefix = "Bearer "
placeholder = "{PLACEHOLDER}"
secret = {{ env = "TEST_REAL_KEY" }}

[[route.substitute]]
query = "api_key"
placeholder = "{PLACEHOLDER}"
secret = {{ env = "TEST_REAL_KEY" }}

[[route]]
name = "watch"
path_prefix = "/watch/"
mode = "monitor"
upstream = "{up}"

[[route.substitute]]
header = "Api-Key"
placeholder = "{PLACEHOLDER}"
secret = {{ env = "TEST_REAL_KEY" }}

[[route]]
name = "keep"
path_prefix = "/keep/"
forward_token = true
upstream = "{up}"

[[route]]
name = "public"
path_prefix = "/public/"
token = "off"
upstream = "{up}"
"#,
        secret = secret_line(keys),
        up = up.url()
    )
}

async fn start_substitution(keys: &TestKeys, up: &RecordingUpstream, access_log: bool) -> Proxy {
    let config = substitution_config(keys, up);
    Proxy::start(
        bin(),
        Start {
            config: &config,
            server_extra: if access_log { "access_log = true" } else { "" },
            env: vec![("TEST_REAL_KEY".into(), REAL_KEY.into())],
            ..Start::default()
        },
    )
    .await
}

fn header_values(seen: &attestgate_testkit::http::SeenRequest, name: &str) -> Vec<String> {
    seen.headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn placeholders_are_replaced_only_on_passing_requests_and_only_where_configured() {
    let keys = TestKeys::new();
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let proxy = start_substitution(&keys, &up, false).await;
    let c = Client::new();
    let token = keys.hs256(300, json!({}));
    let bearer = format!("Bearer {PLACEHOLDER}");

    // header, prefixed header and query parameter
    let r = c
        .get(
            &proxy.url(&format!("/api/items?a=1&api_key={PLACEHOLDER}&b=2")),
            &[
                ("approov-token", &token),
                ("api-key", PLACEHOLDER),
                ("authorization", &bearer),
                ("x-other", PLACEHOLDER),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    let seen = up.last().unwrap();
    assert_eq!(header_values(&seen, "api-key"), vec![REAL_KEY]);
    assert_eq!(
        header_values(&seen, "authorization"),
        vec![format!("Bearer {REAL_KEY}")]
    );
    assert_eq!(
        seen.uri.query(),
        Some(format!("a=1&api_key={REAL_KEY}&b=2").as_str())
    );
    assert_eq!(
        header_values(&seen, "x-other"),
        vec![PLACEHOLDER],
        "only configured headers"
    );
    assert!(
        seen.headers.get("approov-token").is_none(),
        "the token is not forwarded"
    );
    assert_eq!(
        proxy
            .metric("attestgate_substitutions_total{route=\"api\"}")
            .await,
        Some(3.0)
    );

    // no match: partial values, wrong prefix
    let partial = format!("{PLACEHOLDER}x");
    let r = c
        .get(
            &proxy.url(&format!("/api/items?api_key={partial}")),
            &[
                ("approov-token", &token),
                ("api-key", &partial),
                ("authorization", PLACEHOLDER),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    let seen = up.last().unwrap();
    assert_eq!(header_values(&seen, "api-key"), vec![partial.clone()]);
    assert_eq!(header_values(&seen, "authorization"), vec![PLACEHOLDER]);
    assert_eq!(
        seen.uri.query(),
        Some(format!("api_key={partial}").as_str())
    );

    // a forged token: rejected, nothing arrives
    let before = up.count();
    let forged = mint::mint(
        &mint::SigningKey::hs256_base64(&mint::new_secret_base64().unwrap()).unwrap(),
        None,
        &claims(300, json!({})),
    )
    .unwrap();
    let r = c
        .get(
            &proxy.url("/api/items"),
            &[("approov-token", &forged), ("api-key", PLACEHOLDER)],
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(up.count(), before);

    // monitor mode: a failing request passes, without the secret
    let r = c
        .get(
            &proxy.url("/watch/x"),
            &[("approov-token", &forged), ("api-key", PLACEHOLDER)],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        header_values(&up.last().unwrap(), "api-key"),
        vec![PLACEHOLDER]
    );
    assert_eq!(
        proxy
            .metric("attestgate_requests_total{outcome=\"monitored\",route=\"watch\"}")
            .await,
        Some(1.0)
    );
    // ... and a passing one gets it
    let r = c
        .get(
            &proxy.url("/watch/x"),
            &[("approov-token", &token), ("api-key", PLACEHOLDER)],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        header_values(&up.last().unwrap(), "api-key"),
        vec![REAL_KEY]
    );

    // a token = "off" route: no check, no secret, token header still removed
    let r = c
        .get(
            &proxy.url("/public/x"),
            &[("approov-token", &token), ("api-key", PLACEHOLDER)],
        )
        .await;
    assert_eq!(r.status, 200);
    let seen = up.last().unwrap();
    assert_eq!(header_values(&seen, "api-key"), vec![PLACEHOLDER]);
    assert!(seen.headers.get("approov-token").is_none());

    // forward_token = true keeps it
    c.get(&proxy.url("/keep/x"), &[("approov-token", &token)])
        .await;
    assert_eq!(
        header_values(&up.last().unwrap(), "approov-token"),
        vec![token.clone()]
    );

    // a substituted header sent twice is refused
    let before = up.count();
    let r = c
        .send(request(
            "GET",
            &proxy.url("/api/items"),
            &[
                ("approov-token", &token),
                ("api-key", PLACEHOLDER),
                ("api-key", PLACEHOLDER),
            ],
            "",
        ))
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .get(
            &proxy.url(&format!("/api/items?api_key={PLACEHOLDER}&api_key=x")),
            &[("approov-token", &token)],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(up.count(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_echoing_upstream_does_not_hand_the_key_back() {
    let keys = TestKeys::new();
    let up = RecordingUpstream::start(Behaviour::EchoHeadersBack).await;
    let proxy = start_substitution(&keys, &up, false).await;
    let token = keys.hs256(300, json!({}));
    let r = Client::new()
        .get(
            &proxy.url("/api/x"),
            &[
                ("approov-token", &token),
                ("api-key", PLACEHOLDER),
                ("x-trace", "t1"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        header_values(&up.last().unwrap(), "api-key"),
        vec![REAL_KEY],
        "the upstream got it"
    );
    for (name, value) in &r.headers {
        assert!(
            !String::from_utf8_lossy(value.as_bytes()).contains(REAL_KEY),
            "{name} leaks the key"
        );
    }
    assert!(r.headers.get("api-key").is_none());
    assert_eq!(r.header("x-trace"), Some("t1"), "other echoed headers stay");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spoofed_host_cannot_send_a_request_anywhere_else() {
    let keys = TestKeys::new();
    let a = RecordingUpstream::start(Behaviour::Echo).await;
    let b = RecordingUpstream::start(Behaviour::Echo).await;
    let proxy = Proxy::start(
        bin(),
        Start {
            config: &format!(
                "[token]\n{}\n[[route]]\nname = \"a\"\nhost = \"a.example\"\nupstream = \"{}\"\n[[route.substitute]]\nheader = \"Api-Key\"\nplaceholder = \"{PLACEHOLDER}\"\nsecret = {{ env = \"TEST_REAL_KEY\" }}\n\n[[route]]\nname = \"b\"\nhost = \"b.example\"\nupstream = \"{}\"\n",
                secret_line(&keys),
                a.url(),
                b.url()
            ),
            env: vec![("TEST_REAL_KEY".into(), REAL_KEY.into())],
            ..Start::default()
        },
    )
    .await;
    let token = keys.hs256(300, json!({}));
    let b_addr = b.server.addr;
    let tries = [
        format!(
            "GET /x HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-Host: {b_addr}\r\nApproov-Token: {token}\r\nApi-Key: {PLACEHOLDER}\r\nConnection: close\r\n\r\n"
        ),
        format!(
            "GET http://{b_addr}/x HTTP/1.1\r\nHost: a.example\r\nApproov-Token: {token}\r\nApi-Key: {PLACEHOLDER}\r\nConnection: close\r\n\r\n"
        ),
        format!(
            "GET http://b.example/x HTTP/1.1\r\nHost: a.example\r\nApproov-Token: {token}\r\nApi-Key: {PLACEHOLDER}\r\nConnection: close\r\n\r\n"
        ),
        format!(
            "GET /x HTTP/1.1\r\nHost: a.example:8080\r\nX-Forwarded-Host: b.example\r\nX-Forwarded-For: 10.0.0.1\r\nApproov-Token: {token}\r\nApi-Key: {PLACEHOLDER}\r\nConnection: close\r\n\r\n"
        ),
    ];
    let mut passed = 0;
    for t in &tries {
        let out = raw_exchange(proxy.addr, t.as_bytes(), Duration::from_secs(5)).await;
        eprintln!("{}", out.lines().next().unwrap_or_default());
        // Pingora itself refuses some absolute-form targets (400); whatever
        // passes must have gone to a.
        if out.starts_with("HTTP/1.1 200") {
            passed += 1;
        } else {
            assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        }
    }
    assert!(passed >= 2, "the plain-Host requests pass");
    assert_eq!(a.count(), passed);
    assert_eq!(b.count(), 0, "nothing, and no secret, went to b");
    for seen in a.seen() {
        assert_eq!(
            seen.uri.to_string(),
            "/x",
            "the upstream sees an origin-form target"
        );
        assert_eq!(
            header_values(&seen, "host"),
            vec![a.server.addr.to_string()]
        );
        assert_eq!(header_values(&seen, "api-key"), vec![REAL_KEY]);
    }
    let xff = header_values(a.seen().last().unwrap(), "x-forwarded-for");
    assert_eq!(xff, vec!["10.0.0.1, 127.0.0.1"]);
    // a Host that names b's real address matches no route: 404, nothing sent
    let out = raw_exchange(
        proxy.addr,
        format!("GET /x HTTP/1.1\r\nHost: {b_addr}\r\nApproov-Token: {token}\r\nConnection: close\r\n\r\n").as_bytes(),
        Duration::from_secs(5),
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
    assert_eq!(b.count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_are_relayed_not_followed() {
    let keys = TestKeys::new();
    let elsewhere = RecordingUpstream::start(Behaviour::Echo).await;
    let up = RecordingUpstream::start(Behaviour::Redirect(elsewhere.server.url("/stolen"))).await;
    let proxy = start(&format!(
        "[token]\n{}\n[[route]]\nname = \"api\"\nupstream = \"{}\"\n",
        secret_line(&keys),
        up.url()
    ))
    .await;
    let r = Client::new()
        .get(
            &proxy.url("/x"),
            &[("approov-token", &keys.hs256(300, json!({})))],
        )
        .await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some(elsewhere.server.url("/stolen").as_str())
    );
    assert_eq!(up.count(), 1);
    assert_eq!(elsewhere.count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_failures_answer_502_and_504_within_their_timeouts() {
    let keys = TestKeys::new();
    let slow = RecordingUpstream::start(Behaviour::Delay(Duration::from_secs(5))).await;
    let closed = attestgate_testkit::http::free_port();
    let proxy = start(&format!(
        "[token]\n{}\n[[route]]\nname = \"down\"\npath_prefix = \"/down/\"\nupstream = \"http://127.0.0.42:{closed}\"\nconnect_timeout = \"500ms\"\n\n[[route]]\nname = \"slow\"\npath_prefix = \"/slow/\"\nupstream = \"{}\"\nread_timeout = \"300ms\"\n",
        secret_line(&keys),
        slow.url()
    ))
    .await;
    let c = Client::new();
    let token = keys.hs256(300, json!({}));
    let t = Instant::now();
    let r = c
        .get(&proxy.url("/down/x"), &[("approov-token", &token)])
        .await;
    assert_eq!(r.status, 502);
    assert_eq!(r.text(), "{\"error\":\"bad gateway\"}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let t = Instant::now();
    let r = c
        .send(request(
            "POST",
            &proxy.url("/slow/x"),
            &[("approov-token", &token)],
            "body",
        ))
        .await;
    let took = t.elapsed();
    assert_eq!(r.status, 504);
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(slow.count(), 1, "a POST is sent once, never retried");
    assert_eq!(
        proxy
            .metric("attestgate_upstream_errors_total{kind=\"connect\",route=\"down\"}")
            .await,
        Some(1.0)
    );
    assert_eq!(
        proxy
            .metric("attestgate_upstream_errors_total{kind=\"timeout\",route=\"slow\"}")
            .await,
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_is_never_sent_twice_when_the_upstream_drops_the_connection() {
    use tokio::io::AsyncReadExt;
    let keys = TestKeys::new();
    // An upstream that reads a request and hangs up without answering.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = conns.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            drop(s);
        }
    });
    let proxy = start(&format!(
        "[token]\n{}\n[[route]]\nname = \"api\"\nupstream = \"http://{addr}\"\n",
        secret_line(&keys)
    ))
    .await;
    let r = Client::new()
        .send(request(
            "POST",
            &proxy.url("/pay"),
            &[("approov-token", &keys.hs256(300, json!({})))],
            "amount=10",
        ))
        .await;
    assert_eq!(r.status, 502);
    let conns = || conns.load(std::sync::atomic::Ordering::SeqCst);
    // The one connection was accepted before the upstream hung up; no
    // second one (a retry) comes while we watch.
    assert_eq!(conns(), 1);
    assert!(
        holds_for(Duration::from_millis(200), || conns() == 1).await,
        "the POST was sent again: {} connections",
        conns()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_oversize_headers_dot_segments_and_unknown_routes() {
    let keys = TestKeys::new();
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let proxy = start(&format!(
        "[token]\n{}\n[[route]]\nname = \"api\"\npath_prefix = \"/api/\"\nupstream = \"{}\"\n[[route]]\nname = \"public\"\npath_prefix = \"/public/\"\ntoken = \"off\"\nupstream = \"{}\"\n",
        secret_line(&keys),
        up.url(),
        up.url()
    ))
    .await;
    let c = Client::new();
    let big = "x".repeat(70 * 1024);
    let r = c.get(&proxy.url("/public/a"), &[("x-big", &big)]).await;
    assert_eq!(r.status, 431);
    for path in [
        "/public/../api/secret",
        "/public/%2e%2e/api/secret",
        "/public/..%2fapi",
    ] {
        let out = raw_exchange(
            proxy.addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            Duration::from_secs(5),
        )
        .await;
        assert!(out.starts_with("HTTP/1.1 400"), "{path}: {out}");
    }
    assert_eq!(c.get(&proxy.url("/elsewhere"), &[]).await.status, 404);
    assert_eq!(up.count(), 0);
    assert_eq!(c.get(&proxy.url("/public/a"), &[]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_clients_keep_their_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let keys = TestKeys::new();
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let proxy = start(&format!(
        "[token]\n{}\n[[route]]\nname = \"api\"\nupstream = \"{}\"\n",
        secret_line(&keys),
        up.url()
    ))
    .await;
    // One connection, three refused requests (one with a body), one at a time.
    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let requests = [
        "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello".to_owned(),
        "GET /b HTTP/1.1\r\nHost: x\r\nApproov-Token: NO_NETWORK\r\n\r\n".to_owned(),
        format!(
            "GET /c HTTP/1.1\r\nHost: x\r\nApproov-Token: {}\r\n\r\n",
            keys.hs256(-60, json!({}))
        ),
    ];
    for req in &requests {
        s.write_all(req.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.ends_with(b"\r\n\r\n{}") {
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "the proxy closed the connection after a rejection");
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 401"), "{text}");
        assert!(
            !text.to_ascii_lowercase().contains("connection: close"),
            "{text}"
        );
    }
    assert_eq!(up.count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_export_every_series_of_the_contract() {
    let keys = TestKeys::new();
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let proxy = start_substitution(&keys, &up, false).await;
    let c = Client::new();
    c.get(
        &proxy.url("/api/x"),
        &[
            ("approov-token", &keys.hs256(300, json!({}))),
            ("api-key", PLACEHOLDER),
        ],
    )
    .await;
    c.get(&proxy.url("/api/x"), &[]).await;
    let text = proxy.metrics().await;
    for name in [
        "attestgate_requests_total",
        "attestgate_rejections_total",
        "attestgate_verify_seconds_bucket",
        "attestgate_verify_seconds_count",
        "attestgate_token_cache_total",
        "attestgate_keyset_refresh_total",
        "attestgate_keyset_keys",
        "attestgate_keyset_age_seconds",
        "attestgate_substitutions_total",
        "attestgate_upstream_errors_total",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "{name} missing from /metrics"
        );
    }
    assert_eq!(proxy.metric("attestgate_keyset_keys").await, Some(1.0));
    assert_eq!(
        proxy.metric("attestgate_verify_seconds_count").await,
        Some(2.0)
    );
    assert_eq!(
        proxy
            .metric("attestgate_token_cache_total{result=\"miss\"}")
            .await,
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_in_flight_requests_finish_then_exits_0() {
    let keys = TestKeys::new();
    let slow = RecordingUpstream::start(Behaviour::Delay(Duration::from_millis(1500))).await;
    let mut proxy = start(&format!(
        "[token]\n{}\n[[route]]\nname = \"api\"\nupstream = \"{}\"\n",
        secret_line(&keys),
        slow.url()
    ))
    .await;
    let url = proxy.url("/slow");
    let token = keys.hs256(300, json!({}));
    let in_flight =
        tokio::spawn(async move { Client::new().get(&url, &[("approov-token", &token)]).await });
    // SIGTERM once the request is at the upstream (which answers after 1.5 s).
    assert!(eventually(Duration::from_secs(10), || slow.count() == 1).await);
    proxy.signal("TERM");
    let r = in_flight.await.unwrap();
    assert_eq!(r.status, 200, "the in-flight request finished");
    let status = proxy
        .wait_exit(Duration::from_secs(15))
        .await
        .expect("exits after draining");
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_never_hold_a_secret_an_account_key_or_a_whole_token() {
    let keys = TestKeys::new();
    let up = RecordingUpstream::start(Behaviour::EchoHeadersBack).await;
    let proxy = Proxy::start(
        bin(),
        Start {
            config: &substitution_config(&keys, &up),
            server_extra: "access_log = true",
            env: vec![("TEST_REAL_KEY".into(), REAL_KEY.into())],
            rust_log: "debug",
            ..Start::default()
        },
    )
    .await;
    let c = Client::new();
    let good = keys.hs256(300, json!({}));
    let expired = keys.hs256(-30, json!({}));
    let mut tokens = vec![good.clone(), expired.clone()];
    for t in [&good, &expired] {
        c.get(
            &proxy.url("/api/x"),
            &[("approov-token", t), ("api-key", PLACEHOLDER)],
        )
        .await;
        c.get(
            &proxy.url("/watch/x"),
            &[("approov-token", t), ("api-key", PLACEHOLDER)],
        )
        .await;
    }
    let garbage = format!("{}.{}", good, "x");
    c.get(&proxy.url("/api/x"), &[("approov-token", &garbage)])
        .await;
    tokens.push(garbage);
    // Every request's access line is written before the logs are read.
    assert!(
        eventually(Duration::from_secs(10), || proxy
            .logs()
            .matches("attestgate::access")
            .count()
            >= 5)
        .await,
        "{}",
        proxy.logs()
    );
    let logs = proxy.logs();
    assert!(
        logs.contains("reason=\"expired\"") || logs.contains("\"expired\""),
        "{logs}"
    );
    assert!(logs.contains("attestgate::access"), "access log on");
    assert!(!logs.contains(REAL_KEY), "real API key in the logs");
    assert!(
        !logs.contains(&keys.secret_b64),
        "account secret in the logs"
    );
    for t in &tokens {
        assert!(!logs.contains(t.as_str()), "a whole token in the logs");
    }
    for t in [&good, &expired] {
        let sig = t.rsplit('.').next().unwrap();
        assert!(!logs.contains(sig), "a token signature in the logs");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cold_start_without_keys_recovers_when_the_jwks_endpoint_comes_back() {
    use attestgate_testkit::jwks::{Answer, JwksServer};
    let keys = TestKeys::new();
    let jwks = JwksServer::start(Answer::Status(503)).await;
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let proxy = start(&format!(
        "[token]\nalgorithms = [\"ES256\"]\n[token.jwks]\nurl = \"{}\"\nrefresh = \"1m\"\nmin_refetch = \"200ms\"\ntimeout = \"1s\"\n\n[[route]]\nname = \"api\"\nupstream = \"{}\"\n",
        jwks.url(),
        up.url()
    ))
    .await;
    let c = Client::new();
    let token = keys.es256(300, json!({}));
    assert_eq!(
        c.get(&proxy.url("/x"), &[("approov-token", &token)])
            .await
            .status,
        503
    );
    assert_eq!(c.get(&proxy.admin_url("/readyz"), &[]).await.status, 503);
    // the endpoint's 503 answers are counted as failed refreshes
    let error_series = "attestgate_keyset_refresh_total{result=\"error\",source=\"url\"}";
    let deadline = Instant::now() + Duration::from_secs(10);
    while proxy.metric(error_series).await < Some(1.0) {
        assert!(Instant::now() < deadline, "no failed fetch was counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    jwks.serve_keys(&keys.jwks());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = c.get(&proxy.url("/x"), &[("approov-token", &token)]).await;
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 503);
        assert!(Instant::now() < deadline, "no recovery without a restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(c.get(&proxy.admin_url("/readyz"), &[]).await.status, 200);
    assert_eq!(proxy.metric("attestgate_keyset_keys").await, Some(3.0));
    let ok_series = "attestgate_keyset_refresh_total{result=\"ok\",source=\"url\"}";
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy.metric(ok_series).await < Some(1.0) {
        assert!(Instant::now() < deadline, "the good fetch was not counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn https_upstreams_are_verified_and_https_listeners_serve() {
    https_upstreams_verified("auto").await;
}

/// The same over the lean HTTP/1 path: an `http1` route's TLS upstream is
/// reached by the lean loop's own connector, verified alike.
#[tokio::test(flavor = "multi_thread")]
async fn https_upstreams_are_verified_on_the_lean_path() {
    https_upstreams_verified("http1").await;
}

async fn https_upstreams_verified(protocol: &str) {
    use attestgate_testkit::tls::{self, https_get, start_https};
    let keys = TestKeys::new();
    let echo: attestgate_testkit::http::Handler = std::sync::Arc::new(|req| {
        Box::pin(async move {
            attestgate_testkit::http::response(
                200,
                &[("content-type", "application/json")],
                attestgate_testkit::upstream::echo_json(&req).to_string(),
            )
        })
    });
    let good = start_https("localhost", echo.clone()).await;
    let wrong_name = start_https("other", echo).await;
    let tls_port = attestgate_testkit::http::free_port();
    let server_extra = format!(
        "upstream_ca_file = \"{}\"\n[[server.tls]]\nlisten = \"127.0.0.1:{tls_port}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        tls::path("ca.pem").display(),
        tls::path("localhost.pem").display(),
        tls::path("localhost.key").display()
    );
    let config = format!(
        "[token]\n{}\n[[route]]\nname = \"good\"\npath_prefix = \"/good/\"\nupstream = \"https://localhost:{}\"\nprotocol = \"{protocol}\"\n\n[[route]]\nname = \"wrong-name\"\npath_prefix = \"/bad/\"\nupstream = \"https://localhost:{}\"\nprotocol = \"{protocol}\"\n",
        secret_line(&keys),
        good.port(),
        wrong_name.port()
    );
    let proxy = Proxy::start(
        bin(),
        Start {
            config: &config,
            server_extra: &server_extra,
            ..Start::default()
        },
    )
    .await;
    let token = keys.hs256(300, json!({}));
    let c = Client::new();
    let r = c
        .get(&proxy.url("/good/x"), &[("approov-token", &token)])
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let echo = r.json();
    assert_eq!(
        echo["headers"]["host"][0],
        format!("localhost:{}", good.port())
    );
    // a certificate for another name is refused: the request goes nowhere
    let r = c
        .get(&proxy.url("/bad/x"), &[("approov-token", &token)])
        .await;
    assert_eq!(r.status, 502);
    assert_eq!(
        proxy
            .metric("attestgate_upstream_errors_total{kind=\"other\",route=\"wrong-name\"}")
            .await,
        Some(1.0)
    );
    // the HTTPS listener
    let r = https_get(
        &format!("https://localhost:{tls_port}/good/y"),
        &[("approov-token", &token)],
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["headers"]["x-forwarded-proto"][0], "https");
    let r = https_get(&format!("https://localhost:{tls_port}/good/y"), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_substitution_secret_file_is_reloaded_while_serving() {
    let keys = TestKeys::new();
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let dir = TempDir::new("e2e-secret-file");
    let file = dir.write_atomic("api-key", "first-real-key\n");
    let proxy = start(&format!(
        "[token]\n{}[token.jwks]\nwatch_interval = \"50ms\"\nfile = \"{}\"\n\n[[route]]\nname = \"api\"\nupstream = \"{}\"\n[[route.substitute]]\nheader = \"Api-Key\"\nplaceholder = \"{PLACEHOLDER}\"\nsecret = {{ file = \"{}\" }}\n",
        secret_line(&keys),
        dir.write_atomic("jwks.json", keys.jwks().to_string()).display(),
        up.url(),
        file.display()
    ))
    .await;
    let c = Client::new();
    let token = keys.hs256(300, json!({}));
    let url = proxy.url("/x");
    let headers = [("approov-token", token.as_str()), ("api-key", PLACEHOLDER)];
    assert_eq!(c.get(&url, &headers).await.status, 200);
    assert_eq!(
        header_values(&up.last().unwrap(), "api-key"),
        vec!["first-real-key"]
    );
    dir.write_atomic("api-key", "second-real-key\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert_eq!(c.get(&url, &headers).await.status, 200);
        let got = header_values(&up.last().unwrap(), "api-key");
        if got == vec!["second-real-key"] {
            break;
        }
        assert_eq!(
            got,
            vec!["first-real-key"],
            "only ever the old or the new key"
        );
        assert!(Instant::now() < deadline, "the new key never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!proxy.logs().contains("second-real-key"));
}
