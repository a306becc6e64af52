//! Per-route policy and claims for the upstream (docs/DECISIONS.md, "One
//! decision in the core; per-route policy"), from one config
//! file, through the proxy binary and through the tower layer (the same
//! policies, built by the config crate, on axum routers): both front ends
//! must give each case the same status. Approov's own published test
//! tokens (tests/fixtures/approov/) run through a `/token` and a
//! `/token_binding` route, as Approov's quickstart script does.

use std::net::SocketAddr;
use std::path::Path;

use attestgate_config::Config;
use attestgate_testkit::client::Client;
use attestgate_testkit::proxy::{Proxy, Start};
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};
use attestgate_testkit::{TempDir, repo_root};
use attestgate_tower::AttestLayer;
use axum::Router;
use serde_json::Value;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_attestgate"))
}

fn fixture() -> Value {
    let text =
        std::fs::read_to_string(repo_root().join("tests/fixtures/approov/quickstart-tokens.json"))
            .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn token(name: &str) -> String {
    fixture()["tokens"][name].as_str().unwrap().to_owned()
}

/// The routes (after `[server]`/`[admin]`), with `{UP}` for the upstream.
fn routes(up: &str) -> String {
    let secret = fixture()["secret_base64"].as_str().unwrap().to_owned();
    format!(
        r#"[token]
[[token.secret]]
base64 = {{ value = "{secret}" }}

[[route]]
name = "token"
path_prefix = "/token"
upstream = "{up}"
[route.forward_claims]
"X-Approov-Did" = "did"
"X-Approov-Aud" = "aud"
"X-Approov-Exp" = "exp"

[[route]]
name = "token_binding"
path_prefix = "/token_binding"
upstream = "{up}"
[route.policy]
binding_headers = ["Authorization", "X-Device-Id"]

[[route]]
name = "login"
path_prefix = "/login"
upstream = "{up}"
token = "optional"
methods_without_token = ["OPTIONS"]
[route.forward_claims]
"X-Approov-Did" = "did"

[[route]]
name = "ws"
path_prefix = "/ws"
upstream = "{up}"
[route.policy]
query_param = "approov-token"
issuer = "ApproovAccountID.approov.io"

[[route]]
name = "public"
path_prefix = "/"
token = "off"
upstream = "{up}"
"#
    )
}

/// One case: method, target, headers, and the status both front ends give.
struct Case {
    name: &'static str,
    method: &'static str,
    target: String,
    headers: Vec<(&'static str, String)>,
    status: u16,
}

fn case(
    name: &'static str,
    method: &'static str,
    target: &str,
    headers: &[(&'static str, String)],
    status: u16,
) -> Case {
    Case {
        name,
        method,
        target: target.to_owned(),
        headers: headers.to_vec(),
        status,
    }
}

fn cases() -> Vec<Case> {
    let t = |n: &str| ("approov-token", token(n));
    let auth = ("authorization", "Bearer myauth_token".to_owned());
    let device = ("x-device-id", "my-device-id".to_owned());
    let good = token("GOOD_FULL_TOKEN");
    vec![
        // Approov's quickstart script, case by case.
        case(
            "good full token",
            "GET",
            "/token",
            &[t("GOOD_FULL_TOKEN")],
            200,
        ),
        case(
            "good minimal token",
            "GET",
            "/token",
            &[t("GOOD_MIN_TOKEN")],
            200,
        ),
        case(
            "good token with binding",
            "GET",
            "/token_binding",
            &[
                auth.clone(),
                device.clone(),
                t("GOOD_FULL_TOKEN_WITH_BINDING"),
            ],
            200,
        ),
        case(
            "bad signature",
            "GET",
            "/token",
            &[auth.clone(), device.clone(), t("BAD_TOKEN_BAD_SIG")],
            401,
        ),
        case(
            "invalid encoding (JWE header)",
            "GET",
            "/token",
            &[t("BAD_TOKEN_INVALID_ENCODING")],
            401,
        ),
        case(
            "no expiry",
            "GET",
            "/token",
            &[t("BAD_TOKEN_NO_EXPIRY")],
            401,
        ),
        case("expired", "GET", "/token", &[t("BAD_TOKEN_EXPIRED")], 401),
        case(
            "missing binding (no pay)",
            "GET",
            "/token_binding",
            &[auth.clone(), device.clone(), t("GOOD_FULL_TOKEN")],
            401,
        ),
        case(
            "missing authorization",
            "GET",
            "/token_binding",
            &[device.clone(), t("GOOD_FULL_TOKEN_WITH_BINDING")],
            401,
        ),
        case(
            "wrong binding",
            "GET",
            "/token_binding",
            &[auth.clone(), device.clone(), t("BAD_TOKEN_WRONG_BINDING")],
            401,
        ),
        // Two routes, two bindings: the bound token also passes where no
        // binding is asked for.
        case(
            "bound token on the unbound route",
            "GET",
            "/token",
            &[t("GOOD_FULL_TOKEN_WITH_BINDING")],
            200,
        ),
        case("no token", "GET", "/token", &[], 401),
        // optional
        case("optional, no token", "GET", "/login", &[], 200),
        case(
            "optional, good token",
            "GET",
            "/login",
            &[t("GOOD_FULL_TOKEN")],
            200,
        ),
        case(
            "optional, bad token",
            "GET",
            "/login",
            &[t("BAD_TOKEN_BAD_SIG")],
            401,
        ),
        case(
            "optional, expired token",
            "POST",
            "/login",
            &[t("BAD_TOKEN_EXPIRED")],
            401,
        ),
        case(
            "optional, sdk status",
            "GET",
            "/login",
            &[("approov-token", "NO_NETWORK".into())],
            401,
        ),
        // preflight
        case(
            "OPTIONS without token on login",
            "OPTIONS",
            "/login",
            &[],
            200,
        ),
        case(
            "OPTIONS with a bad token on login",
            "OPTIONS",
            "/login",
            &[t("BAD_TOKEN_BAD_SIG")],
            200,
        ),
        case(
            "OPTIONS without token elsewhere",
            "OPTIONS",
            "/token",
            &[],
            401,
        ),
        // a query-parameter token
        case(
            "query token",
            "GET",
            &format!("/ws?approov-token={good}&room=1"),
            &[],
            200,
        ),
        case(
            "query token, percent-encoded",
            "GET",
            &format!("/ws?room=1&approov%2Dtoken={}", good.replace('.', "%2E")),
            &[],
            200,
        ),
        case(
            "query and header",
            "GET",
            &format!("/ws?approov-token={good}"),
            &[t("GOOD_FULL_TOKEN")],
            401,
        ),
        case(
            "query token twice",
            "GET",
            &format!("/ws?approov-token={good}&approov-token={good}"),
            &[],
            401,
        ),
        case(
            "query token bad",
            "GET",
            &format!("/ws?approov-token={}", token("BAD_TOKEN_BAD_SIG")),
            &[],
            401,
        ),
        case(
            "query token, wrong issuer",
            "GET",
            &format!("/ws?approov-token={}", token("GOOD_MIN_TOKEN")),
            &[],
            401,
        ),
        case(
            "header token on the query route",
            "GET",
            "/ws",
            &[t("GOOD_FULL_TOKEN")],
            200,
        ),
        case(
            "query token where none is configured",
            "GET",
            &format!("/token?approov-token={good}"),
            &[],
            401,
        ),
        case("public", "GET", "/anything", &[], 200),
    ]
}

async fn proxy_for(up: &str) -> Proxy {
    Proxy::start(
        bin(),
        Start {
            config: &routes(up),
            ..Start::default()
        },
    )
    .await
}

async fn send(c: &Client, addr: SocketAddr, k: &Case, extra: &[(&str, &str)]) -> u16 {
    let mut headers: Vec<(&str, &str)> = k.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    headers.extend_from_slice(extra);
    let req = attestgate_testkit::client::request(
        k.method,
        &format!("http://{addr}{}", k.target),
        &headers,
        "",
    );
    c.send(req).await.status
}

#[tokio::test(flavor = "multi_thread")]
async fn every_case_gets_the_same_status_through_the_proxy_and_the_layer() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let proxy = proxy_for(&up.url()).await;
    // The layer: the same file, loaded by the config crate; one router per
    // route, each with its route's policy on one shared verifier.
    let dir = TempDir::new("policy-layer");
    let path = dir.join("attestgate.toml");
    std::fs::write(&path, routes("http://127.0.0.1:9")).unwrap();
    let config = Config::load(&path).unwrap();
    let base = config.token.as_ref().unwrap().build_verifier().unwrap();
    let ok = || async { "ok" };
    let mut app = Router::new();
    for r in &config.routes {
        let layer = AttestLayer::new(base.with_policy(r.policy.clone()));
        let router = Router::new().fallback(ok).layer(layer);
        app = if r.path_prefix == "/" {
            app.fallback_service(router)
        } else {
            app.nest(&r.path_prefix, router)
        };
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let layer_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let c = Client::new();
    let mut failures = Vec::new();
    for k in cases() {
        let before = up.count();
        let through_proxy = send(&c, proxy.addr, &k, &[]).await;
        let through_layer = send(&c, layer_addr, &k, &[]).await;
        if (through_proxy, through_layer) != (k.status, k.status) {
            failures.push(format!(
                "{}: proxy {through_proxy}, layer {through_layer}, want {}",
                k.name, k.status
            ));
        }
        if k.status != 200 && up.count() != before {
            failures.push(format!(
                "{}: a refused request reached the upstream",
                k.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Outcomes and rejections by route.
    let m = |s: &str| {
        let proxy = &proxy;
        let s = s.to_owned();
        async move { proxy.metric(&s).await.unwrap_or(0.0) }
    };
    assert_eq!(
        m("attestgate_requests_total{outcome=\"anonymous\",route=\"login\"}").await,
        3.0
    );
    assert_eq!(
        m("attestgate_rejections_total{reason=\"binding\",route=\"token_binding\"}").await,
        3.0
    );
    assert_eq!(
        m("attestgate_rejections_total{reason=\"binding\",route=\"token\"}").await,
        0.0
    );
    assert_eq!(
        m("attestgate_rejections_total{reason=\"malformed\",route=\"ws\"}").await,
        2.0
    );
    assert!(m("attestgate_request_duration_seconds_count{route=\"token\"}").await >= 9.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn claims_reach_the_upstream_and_client_copies_never_do() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let proxy = proxy_for(&up.url()).await;
    let c = Client::new();
    let spoof = [("x-approov-did", "spoofed"), ("x-approov-aud", "spoofed")];
    let get = |target: &'static str, tok: Option<String>| {
        let c = &c;
        let proxy = &proxy;
        async move {
            let mut h: Vec<(&str, &str)> = spoof.to_vec();
            if let Some(t) = &tok {
                h.push(("approov-token", t));
            }
            c.get(&proxy.url(target), &h).await.status
        }
    };
    // a passing token: the claims, not the client's copies
    assert_eq!(get("/token", Some(token("GOOD_FULL_TOKEN"))).await, 200);
    let seen = up.seen();
    let h = &seen.last().unwrap().headers;
    assert_eq!(
        h.get_all("x-approov-did").iter().collect::<Vec<_>>(),
        ["ExampleApproovTokenDID=="]
    );
    // a non-string claim is sent as compact JSON
    assert_eq!(h.get("x-approov-aud").unwrap(), "approov.io");
    assert_eq!(h.get("x-approov-exp").unwrap(), "1999999999");
    assert!(!h.contains_key("approov-token"));
    // the minimal token has no aud: no header at all
    assert_eq!(get("/token", Some(token("GOOD_MIN_TOKEN"))).await, 200);
    let seen = up.seen();
    let h = &seen.last().unwrap().headers;
    assert!(!h.contains_key("x-approov-aud"));
    // a failing token: refused, nothing forwarded
    let before = up.count();
    assert_eq!(get("/token", Some(token("BAD_TOKEN_EXPIRED"))).await, 401);
    assert_eq!(up.count(), before);
    // a token-off route and an anonymous request: the client's copies are
    // removed all the same
    for (target, tok) in [
        ("/public", None),
        ("/login", None),
        ("/ws", Some(token("GOOD_FULL_TOKEN"))),
    ] {
        assert_eq!(get(target, tok).await, 200, "{target}");
        let seen = up.seen();
        let h = &seen.last().unwrap().headers;
        assert!(!h.contains_key("x-approov-did"), "{target}");
        assert!(!h.contains_key("x-approov-aud"), "{target}");
    }
    // the query token is removed before forwarding, the rest of the query kept
    let good = token("GOOD_FULL_TOKEN");
    assert_eq!(
        c.get(
            &proxy.url(&format!("/ws?a=1&approov-token={good}&b=2")),
            &[]
        )
        .await
        .status,
        200
    );
    let seen = up.seen();
    assert_eq!(seen.last().unwrap().uri.query(), Some("a=1&b=2"));
    assert_eq!(
        c.get(&proxy.url(&format!("/ws?approov-token={good}")), &[])
            .await
            .status,
        200
    );
    let seen = up.seen();
    assert_eq!(seen.last().unwrap().uri.to_string(), "/ws");
}

#[tokio::test(flavor = "multi_thread")]
async fn monitor_mode_per_route_forwards_nothing_for_a_failing_token() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let config = routes(&up.url()).replace(
        "name = \"token\"\npath_prefix = \"/token\"\n",
        "name = \"token\"\npath_prefix = \"/token\"\nmode = \"monitor\"\n",
    );
    let proxy = Proxy::start(
        bin(),
        Start {
            config: &config,
            ..Start::default()
        },
    )
    .await;
    let c = Client::new();
    let r = c
        .get(
            &proxy.url("/token"),
            &[
                ("approov-token", &token("BAD_TOKEN_EXPIRED")),
                ("x-approov-did", "spoofed"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    let seen = up.seen();
    let h = &seen.last().unwrap().headers;
    assert!(!h.contains_key("x-approov-did"));
    assert_eq!(
        proxy
            .metric("attestgate_requests_total{outcome=\"monitored\",route=\"token\"}")
            .await,
        Some(1.0)
    );
}
