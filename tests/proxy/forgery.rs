//! Claim-header forgery through the real proxy, to real upstreams that
//! read header names their own way (tests/support/src/apps.rs): Python's
//! wsgiref, Flask under gunicorn (`--header-map dangerous`), nginx with
//! `underscores_in_headers on`, and Node's `http`.
//!
//! Every spelling a client can give a claim header (case, `_` for `-`,
//! `.`, repeats, mixes, leading and trailing `_`, obs-fold and
//! whitespace tricks, HTTP/2 lower case) on routes that pass, fail
//! (monitor mode lets a failing token through), accept no token
//! (optional) and check nothing (off), with a valid, a failing and no
//! token, through a proxy with `underscore_headers = "drop"` (default)
//! and one with `"forward"`. The app must read exactly the verified
//! claim, or nothing: never a client-chosen value.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use attestgate_testkit::apps::{App, AppKind};
use attestgate_testkit::h2::H2Conn;
use attestgate_testkit::proxy::{Proxy, Start, raw_exchange};
use attestgate_testkit::tokens::TestKeys;
use serde_json::json;

const DID: &str = "device-A";
const IP: &str = "10.1.2.3";
const ROUTES: [&str; 4] = ["pass", "opt", "mon", "off"];

fn config(keys: &TestKeys, apps: &[App]) -> String {
    let mut c = format!(
        "[token]\n[[token.secret]]\nbase64 = {{ value = \"{}\" }}\n",
        keys.secret_b64
    );
    for app in apps {
        for route in ROUTES {
            let (token, mode) = match route {
                "pass" => ("required", "enforce"),
                "opt" => ("optional", "enforce"),
                "mon" => ("required", "monitor"),
                _ => ("off", "enforce"),
            };
            c += &format!(
                "\n[[route]]\nname = \"{n}-{route}\"\npath_prefix = \"/{n}/{route}\"\nupstream = \"{u}\"\ntoken = \"{token}\"\nmode = \"{mode}\"\n",
                n = app.kind.name(),
                u = app.url(),
            );
            if route != "off" {
                c += "[route.forward_claims]\n\"X-Approov-Did\" = \"did\"\n\"X-Approov-Ip\" = \"ip\"\n";
            }
        }
    }
    c
}

/// The forged header lines of one case, as written on the wire.
fn spellings() -> Vec<(&'static str, String)> {
    let f = "forged";
    let one = |name: &str| format!("{name}: {f}\r\n");
    let mut out: Vec<(&'static str, String)> = vec![
        ("exact", one("X-Approov-Did")),
        ("lower", one("x-approov-did")),
        ("upper", one("X-APPROOV-DID")),
        ("underscores", one("X_Approov_Did")),
        ("underscores lower", one("x_approov_did")),
        ("underscores upper", one("X_APPROOV_DID")),
        ("one underscore", one("X-Approov_Did")),
        ("other underscore", one("x_approov-did")),
        ("dots", one("X.Approov.Did")),
        ("mixed dot underscore", one("X.Approov_Did")),
        (
            "exact and underscores",
            one("X-Approov-Did") + &one("X_Approov_Did"),
        ),
        ("exact twice", one("X-Approov-Did") + &one("X-Approov-Did")),
        (
            "underscores twice",
            one("X_Approov_Did") + &one("x_approov_did"),
        ),
        (
            "leading and trailing _",
            one("_X_Approov_Did") + &one("X_Approov_Did_"),
        ),
        ("other claim underscores", one("X_APPROOV_IP")),
        (
            "other claim mixed",
            one("X-Approov-Ip") + &one("x-approov_ip"),
        ),
        (
            "every spelling at once",
            one("x-approov-did")
                + &one("X_APPROOV_DID")
                + &one("x.approov.did")
                + &one("X-Approov_Ip"),
        ),
    ];
    // Tricks with the line itself: Pingora must refuse them, or the app
    // must still read nothing forged.
    out.push((
        "obs-fold after a value",
        format!("X-Custom: a\r\n X_Approov_Did: {f}\r\n"),
    ));
    out.push((
        "obs-fold of the claim",
        format!("X-Approov-Did: x\r\n {f}\r\n"),
    ));
    out.push(("space before colon", format!("X-Approov-Did : {f}\r\n")));
    out.push(("tab before colon", format!("X_Approov_Did\t: {f}\r\n")));
    out.push((
        "claim in a value",
        format!("X-Custom: x\r\nX_Approov_Did: {f}\r\n"),
    ));
    out
}

fn raw_request(path: &str, token: Option<&str>, forged: &str) -> Vec<u8> {
    let mut r = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n");
    if let Some(t) = token {
        r += &format!("Approov-Token: {t}\r\n");
    }
    r += forged;
    r += "Connection: close\r\n\r\n";
    r.into_bytes()
}

/// Status and body of a raw HTTP/1.1 exchange.
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> (u16, Vec<u8>) {
    let text = raw_exchange(addr, bytes, Duration::from_secs(10)).await;
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    (status, body.into_bytes())
}

/// What the app must read as the claims: the verified ones when a token
/// passed on a claim route, else nothing.
fn expected(route: &str, token: &str) -> (Vec<String>, Vec<String>) {
    if token == "valid" && route != "off" {
        (vec![DID.to_owned()], vec![IP.to_owned()])
    } else {
        (vec![], vec![])
    }
}

/// The status a case must get.
fn status_for(route: &str, token: &str) -> u16 {
    match (route, token) {
        ("pass", "none" | "failing") | ("opt", "failing") => 401,
        _ => 200,
    }
}

async fn run_matrix(
    proxy: &Proxy,
    apps: &[App],
    tokens: &[(&str, Option<String>)],
    mode: &str,
) -> usize {
    let mut checked = 0;
    for app in apps {
        for route in ROUTES {
            for (token_kind, token) in tokens {
                let path = format!("/{}/{route}/x", app.kind.name());
                let (want_did, want_ip) = expected(route, token_kind);
                for (case, forged) in spellings() {
                    let what = format!(
                        "{mode} {} {route} token={token_kind} {case}",
                        app.kind.name()
                    );
                    let (status, body) =
                        exchange(proxy.addr, &raw_request(&path, token.as_deref(), &forged)).await;
                    assert!(
                        !String::from_utf8_lossy(&body).contains("forged"),
                        "{what}: the app saw a forged value: {}",
                        String::from_utf8_lossy(&body)
                    );
                    if status == 400 {
                        // Pingora refused the line itself (obs-fold, space
                        // before the colon): nothing reached the app.
                        assert!(
                            case.contains("fold") || case.contains("colon"),
                            "{what}: 400"
                        );
                        continue;
                    }
                    assert_eq!(
                        status,
                        status_for(route, token_kind),
                        "{what}: {}",
                        String::from_utf8_lossy(&body)
                    );
                    if status == 200 {
                        assert_eq!(app.reads(&body, "x-approov-did"), want_did, "{what}");
                        assert_eq!(app.reads(&body, "x-approov-ip"), want_ip, "{what}");
                    }
                    checked += 1;
                }
                // HTTP/2 (h2c): names are lower case on the wire.
                let conn = H2Conn::h2c(proxy.addr).await;
                for forged in [
                    vec![("x_approov_did", "forged")],
                    vec![("x-approov-did", "forged")],
                    vec![("x.approov.did", "forged"), ("x_approov_ip", "forged")],
                    vec![
                        ("x-approov-did", "forged"),
                        ("x_approov_did", "forged"),
                        ("x-approov_did", "forged"),
                    ],
                ] {
                    let mut headers = forged.clone();
                    if let Some(t) = token {
                        headers.push(("approov-token", t.as_str()));
                    }
                    let what = format!(
                        "{mode} h2 {} {route} token={token_kind} {forged:?}",
                        app.kind.name()
                    );
                    let r = conn.send("GET", &path, &headers, "").await.unwrap();
                    assert!(!r.text().contains("forged"), "{what}: {}", r.text());
                    assert_eq!(
                        r.status,
                        status_for(route, token_kind),
                        "{what}: {}",
                        r.text()
                    );
                    if r.status == 200 {
                        assert_eq!(app.reads(&r.body, "x-approov-did"), want_did, "{what}");
                        assert_eq!(app.reads(&r.body, "x-approov-ip"), want_ip, "{what}");
                    }
                    checked += 1;
                }
            }
        }
    }
    checked
}

#[tokio::test(flavor = "multi_thread")]
async fn no_app_reads_a_client_chosen_claim_under_any_spelling() {
    let keys = TestKeys::new();
    let apps: Vec<App> = AppKind::ALL.iter().map(|k| App::start(*k)).collect();
    let config = config(&keys, &apps);
    let bin = Path::new(env!("CARGO_BIN_EXE_attestgate"));
    let drop = Proxy::start(
        bin,
        Start {
            config: &config,
            ..Start::default()
        },
    )
    .await;
    let forward = Proxy::start(
        bin,
        Start {
            config: &config,
            server_extra: "underscore_headers = \"forward\"",
            ..Start::default()
        },
    )
    .await;
    let tokens = [
        (
            "valid",
            Some(keys.hs256(300, json!({"did": DID, "ip": IP}))),
        ),
        (
            "failing",
            Some(keys.hs256(-60, json!({"did": "expired-device", "ip": IP}))),
        ),
        ("none", None),
    ];
    let mut checked = 0;
    for (proxy, mode) in [(&drop, "drop"), (&forward, "forward")] {
        checked += run_matrix(proxy, &apps, &tokens, mode).await;
    }
    assert!(checked > 1500, "{checked}");

    // An innocent `_` name: dropped by default (as nginx), forwarded with
    // "forward"; wsgiref shows it as HTTP_X_CUSTOM_ID either way.
    let wsgi = &apps[0];
    for (proxy, reaches) in [(&drop, false), (&forward, true)] {
        let (status, body) = exchange(
            proxy.addr,
            &raw_request("/wsgiref/off/x", None, "X_Custom_Id: hello\r\n"),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            wsgi.reads(&body, "x-custom-id") == ["hello"],
            reaches,
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    // Counted: every `_` name dropped by the default proxy; look-alikes
    // of protected names by both.
    assert!(metric(&drop, "attestgate_underscore_headers_dropped_total").await > 100.0);
    assert_eq!(
        metric(&forward, "attestgate_underscore_headers_dropped_total").await,
        0.0
    );
    assert!(metric(&drop, "attestgate_lookalike_headers_dropped_total").await > 100.0);
    assert!(metric(&forward, "attestgate_lookalike_headers_dropped_total").await > 100.0);
    for app in &apps {
        assert!(
            !app.log().contains("Traceback"),
            "{}: {}",
            app.kind.name(),
            app.log()
        );
    }
}

async fn metric(p: &Proxy, m: &str) -> f64 {
    p.metric(m).await.unwrap_or(0.0)
}
