//! The request that is checked is the request that is forwarded
//! (docs/DECISIONS.md, "The canonical request"),
//! tried as an attacker would, against real upstreams as oracles.
//!
//! Two routes to the same kind of upstream: `/api/` needs a token, `/` does
//! not. nginx is the oracle (`location /api/` and `location /`, each
//! answering which one matched, on one port per attestgate route), and so is
//! Python's `http.server` (a file server with a protected file). Every
//! hostile target is sent through attestgate without a token: it must be
//! refused, or land on the upstream location that matches the route
//! attestgate chose. A protected location answering a token-less request is
//! the bypass this file exists to catch. With a valid token, the same
//! targets must land where nginx agrees with attestgate's route, and the
//! target the upstream received must be canonical.

use std::path::Path;

use attestgate::target::{TargetRules, canonical_target};
use attestgate_testkit::TempDir;
use attestgate_testkit::peers::{Nginx, PyHttpServer, raw_http};
use attestgate_testkit::proxy::{Proxy, Start};
use attestgate_testkit::tokens::TestKeys;
use proptest::prelude::*;
use serde_json::json;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_attestgate"))
}

/// Port 0 answers for attestgate's `api` route, port 1 for its `open`
/// route; each says which nginx location matched and what target arrived.
const ORACLE: &str = r#"
  server {
    listen 127.0.0.1:{PORT0};
    location /api/ { return 200 "route=api location=api uri=$request_uri\n"; }
    location / { return 200 "route=api location=open uri=$request_uri\n"; }
  }
  server {
    listen 127.0.0.1:{PORT1};
    location /api/ { return 200 "route=open location=api uri=$request_uri\n"; }
    location / { return 200 "route=open location=open uri=$request_uri\n"; }
  }
"#;

/// Hostile request targets: every form the bypass report names, and more.
fn hostile_targets() -> Vec<Vec<u8>> {
    let mut t: Vec<Vec<u8>> = [
        "/api/secret",
        "//api/secret",
        "///api/secret",
        "/%61pi/secret",
        "/a%70i/secret",
        "/%61%70%69/secret",
        "/%41pi/secret",
        "/API/secret",
        "/Api/secret",
        "/api%2Fsecret",
        "/api%2fsecret",
        "/%2fapi/secret",
        "/%2Fapi%2Fsecret",
        "/%2f%2fapi/secret",
        "api/secret",
        "x/../api/secret",
        "x:/api/secret",
        "/x/../api/secret",
        "/x/%2e%2e/api/secret",
        "/x/%2E%2E/api/secret",
        "/x/.%2e/api/secret",
        "/x/%2e./api/secret",
        "/./api/secret",
        "/%2e/api/secret",
        "/x/..%2fapi/secret",
        "/x%2f..%2fapi/secret",
        "/%2e%2e%2fapi/secret",
        "/x/%252e%252e/api/secret",
        "/%252e%252e/api/secret",
        "/%2561pi/secret",
        "/%%32%65%%32%65/api/secret",
        "/%u002e%u002e/api/secret",
        "/x/%c0%ae%c0%ae/api/secret",
        "/x/%c0%af../api/secret",
        "/x/%e0%80%ae%e0%80%ae/api/secret",
        "/%ef%bc%8e%ef%bc%8e/api/secret",
        "/api%ef%bc%8fsecret",
        "/x/..;/api/secret",
        "/api;/secret",
        "/api;jsessionid=1/secret",
        "/;/api/secret",
        "/x;/../api/secret",
        "/api/secret;jsessionid=abc",
        "/api%3b/secret",
        "/x\\..\\api\\secret",
        "/x/..\\api/secret",
        "/x%5c..%5capi/secret",
        "/\\api/secret",
        "/api/secret#frag",
        "/x#/../api/secret",
        "/x?/../api/secret",
        "/x?/api/secret",
        "/?/api/secret",
        "/%3fapi/secret",
        "/api%3f/secret",
        "/api%00/secret",
        "/api%0a/secret",
        "/api%0d%0a/secret",
        "/api%09/secret",
        "/api%20/secret",
        "/%20/api/secret",
        "/api%2e/secret",
        "/api./secret",
        "/x/../../api/secret",
        "/x/..../api/secret",
        "/.../api/secret",
        "/api/./secret",
        "/api/secret/.",
        "/api/secret/..",
        "/api/secret/../../api/secret",
        "/a/b/c/../../../api/secret",
        "/api/%2e%2e/api/secret",
        "/%2e%2e/api/secret",
        "/..%2fapi/secret",
        "/..%5capi/secret",
        "/api/secret?x=../../",
        "/api/secret?%2e%2e",
        "http://oracle/api/secret",
        "HTTP://oracle//api/secret",
        "http://oracle/x/../api/secret",
        "http://oracle/%61pi/secret",
        "https://oracle/api/secret",
        "http://other.example/api/secret",
        "http://oracle:9/api/secret",
        "http://user@oracle/api/secret",
        "http://oracle",
        "http://oracle?x=/api/secret",
        "*",
        "%2fapi/secret",
        "\\api/secret",
        "/api/secret%",
        "/api/secret%2",
        "/api/%zzsecret",
        "/%",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    t.push(b"/api\tsecret".to_vec());
    t.push(b"/x/\xc3\xa9/../api/secret".to_vec());
    t.push(b"/api/\xffsecret".to_vec());
    t.push(b"/x/\xc0\xae\xc0\xae/api/secret".to_vec());
    t.push(format!("/{}../api/secret", "a/".repeat(1500)).into_bytes());
    t.push(format!("/{}/../../api/secret", "x".repeat(4000)).into_bytes());
    t
}

struct Setup {
    _nginx: Nginx,
    proxy: Proxy,
    token: String,
}

/// The proxy on its HTTP/1 path `http1_path` (`lean`, `proxy`).
fn start_proxy(
    rt: &tokio::runtime::Runtime,
    api: &str,
    open: &str,
    keys: &TestKeys,
    http1_path: &str,
) -> Proxy {
    let config = format!(
        "[token]\n[[token.secret]]\nbase64 = {{ value = \"{}\" }}\n\n[[route]]\nname = \"api\"\npath_prefix = \"/api/\"\nupstream = \"{api}\"\n\n[[route]]\nname = \"open\"\npath_prefix = \"/\"\ntoken = \"off\"\nupstream = \"{open}\"\n",
        keys.secret_b64
    );
    rt.block_on(Proxy::start(
        bin(),
        Start {
            config: &config,
            server_extra: &format!("http1_path = \"{http1_path}\"\n"),
            ..Start::default()
        },
    ))
}

fn setup(rt: &tokio::runtime::Runtime, http1_path: &str) -> Setup {
    let keys = TestKeys::new();
    let nginx = Nginx::start(ORACLE, 2);
    let proxy = start_proxy(rt, &nginx.url(0), &nginx.url(1), &keys, http1_path);
    let token = keys.hs256(600, json!({}));
    Setup {
        _nginx: nginx,
        proxy,
        token,
    }
}

fn request(target: &[u8], token: Option<&str>) -> Vec<u8> {
    let mut r = b"GET ".to_vec();
    r.extend_from_slice(target);
    r.extend_from_slice(b" HTTP/1.1\r\nHost: oracle\r\nConnection: close\r\n");
    if let Some(t) = token {
        r.extend_from_slice(format!("Approov-Token: {t}\r\n").as_bytes());
    }
    r.extend_from_slice(b"\r\n");
    r
}

/// What nginx said: (attestgate route, nginx location, target received).
fn oracle_answer(body: &[u8]) -> (String, String, String) {
    let text = String::from_utf8_lossy(body);
    let field = |k: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .unwrap_or_default()
            .to_owned()
    };
    (field("route="), field("location="), field("uri="))
}

/// Sends `target` through attestgate, without and with a token, and
/// returns a description of any rule broken.
fn check_target(s: &Setup, target: &[u8]) -> Result<(), String> {
    let addr = s.proxy.addr.to_string();
    let show = String::from_utf8_lossy(target).into_owned();
    for token in [None, Some(s.token.as_str())] {
        let (status, body) = raw_http(&addr, &request(target, token));
        match status {
            400 | 404 => continue,
            401 if token.is_none() => continue,
            200 => {}
            other => {
                return Err(format!(
                    "{show:?} (token: {}): unexpected status {other}",
                    token.is_some()
                ));
            }
        }
        let (route, location, uri) = oracle_answer(&body);
        if token.is_none() && location == "api" {
            return Err(format!(
                "BYPASS: {show:?} reached nginx location /api/ without a token (route {route}, uri {uri})"
            ));
        }
        if route != location {
            return Err(format!(
                "{show:?}: attestgate chose route {route:?} but nginx matched location {location:?} for {uri:?}"
            ));
        }
        match canonical_target(false, uri.as_bytes(), TargetRules::default()) {
            Ok(c) if c.as_str() == uri => {}
            other => {
                return Err(format!(
                    "{show:?}: the upstream received {uri:?}, which is not canonical ({other:?})"
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn hostile_targets_are_refused_or_routed_as_nginx_routes_them() {
    hostile_targets_on("lean");
}

/// The same oracle through Pingora's proxy (`http1_path = "proxy"`): the
/// two request loops route alike.
#[test]
fn hostile_targets_are_routed_alike_through_pingoras_proxy() {
    hostile_targets_on("proxy");
}

fn hostile_targets_on(http1_path: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = setup(&rt, http1_path);
    let targets = hostile_targets();
    assert!(targets.len() >= 100, "{}", targets.len());
    let failures: Vec<String> = targets
        .iter()
        .filter_map(|t| check_target(&s, t).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The control rows behave: the plain protected path needs a token, the
    // open path does not.
    let addr = s.proxy.addr.to_string();
    assert_eq!(raw_http(&addr, &request(b"/api/secret", None)).0, 401);
    let (status, body) = raw_http(&addr, &request(b"/api/secret", Some(&s.token)));
    assert_eq!(status, 200);
    assert_eq!(oracle_answer(&body).1, "api");
    let (status, body) = raw_http(&addr, &request(b"//api//secret", Some(&s.token)));
    assert_eq!(
        (status, oracle_answer(&body).2),
        (200, "/api/secret".to_owned())
    );
    assert_eq!(raw_http(&addr, &request(b"/%61pi/secret", None)).0, 401);
}

/// Pieces random targets are made of: separators, dots and their
/// encodings, the route's name in several spellings, and delimiters.
const PIECES: &[&str] = &[
    "/", "/", "/", "//", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c", "\\", "api", "API", "%61pi",
    "a%70i", "x", "secret", ";", "%3b", "?", "#", "%", "%25", "%00", "%c0%ae", "+", "~", "%7e",
    "a", "%41", ":", "@", "%20", "&", "=",
];

fn random_target() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 1..12).prop_map(|v| v.concat())
}

#[test]
fn random_targets_are_refused_or_routed_as_nginx_routes_them() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = setup(&rt, "lean");
    let cases = if std::env::var_os("CI").is_some() {
        300
    } else {
        600
    };
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&random_target(), |t| {
            check_target(&s, t.as_bytes()).map_err(TestCaseError::fail)
        })
        .unwrap();
}

#[test]
fn hostile_targets_never_reach_a_protected_file_on_python_http_server() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let keys = TestKeys::new();
    let root = TempDir::new("pyroot");
    std::fs::create_dir_all(root.join("api")).unwrap();
    std::fs::write(root.join("api/secret"), "PROTECTED-CONTENT\n").unwrap();
    std::fs::write(root.join("index.html"), "public\n").unwrap();
    let py = PyHttpServer::start(root.path());
    // The oracle works: straight to the file server, every form below that
    // Python resolves to the file serves it.
    let direct = format!("127.0.0.1:{}", py.port);
    let (status, body) = raw_http(&direct, &request(b"/%2fapi/secret", None));
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("PROTECTED"));
    let proxy = start_proxy(&rt, &py.url(), &py.url(), &keys, "lean");
    let addr = proxy.addr.to_string();
    let mut leaked = Vec::new();
    for t in hostile_targets() {
        let (status, body) = raw_http(&addr, &request(&t, None));
        if String::from_utf8_lossy(&body).contains("PROTECTED") {
            leaked.push(format!("{:?} → {status}", String::from_utf8_lossy(&t)));
        }
    }
    assert!(
        leaked.is_empty(),
        "protected file served without a token:\n{}",
        leaked.join("\n")
    );
    let token = keys.hs256(600, json!({}));
    let (status, body) = raw_http(&addr, &request(b"/api/secret", Some(&token)));
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("PROTECTED"));
}
