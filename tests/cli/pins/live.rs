//! `attestgate pins fetch`, `check` and `lint` against real rustls servers
//! on 127.0.0.1 and 127.0.0.2, one of them serving a different chain; and
//! the hostile servers (a stall, a 50-certificate chain).

use attestgate_testkit::TempDir;
use std::process::Output;
use std::time::{Duration, Instant};

use attestgate_testkit::pki::*;
use attestgate_testkit::tls::{serve_stall, serve_tls};
use serde_json::Value;

async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_attestgate"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited by signal")
}

/// Two edges of one name: 127.0.0.1 serves leaf A, 127.0.0.2 leaf B, both
/// under the same intermediate and root.
struct Edges {
    inter: Ca,
    key_a: rcgen::KeyPair,
    key_b: rcgen::KeyPair,
    a: std::net::SocketAddr,
    b: std::net::SocketAddr,
    dir: TempDir,
}

const NAME: &str = "api.pins.test";

async fn edges(days_a: i64) -> Edges {
    let root = root("pins test root");
    let inter = intermediate("pins test intermediate", &root);
    let (key_a, key_b) = (p256(), p256());
    let leaf_a = leaf(&[NAME], &key_a, &inter, days_a);
    let leaf_b = leaf(&[NAME], &key_b, &inter, 90);
    let a = serve_tls("127.0.0.1", vec![leaf_a, inter.der()], &key_a).await;
    let b = serve_tls("127.0.0.2", vec![leaf_b, inter.der()], &key_b).await;
    let dir = TempDir::new("live");
    std::fs::write(dir.join("ca.pem"), root.pem()).unwrap();
    Edges {
        inter,
        key_a,
        key_b,
        a,
        b,
        dir,
    }
}

fn pins_toml(
    e: &Edges,
    pins: &[(&str, &str)],
    with_ca: bool,
    addresses: &[std::net::SocketAddr],
) -> std::path::PathBuf {
    let list: Vec<String> = pins
        .iter()
        .map(|(p, l)| format!("  {{ sha256 = \"{p}\", label = \"{l}\" }},"))
        .collect();
    let addrs: Vec<String> = addresses.iter().map(|a| format!("\"{a}\"")).collect();
    let text = format!(
        "[[domain]]\nname = \"{NAME}\"\naddresses = [{}]\n{}timeout = \"3s\"\npins = [\n{}\n]\n",
        addrs.join(", "),
        if with_ca {
            "ca_file = \"ca.pem\"\n"
        } else {
            ""
        },
        list.join("\n")
    );
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = e.dir.join(format!("pins-{n}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_lists_every_address_and_flags_the_different_chain() {
    let e = edges(90).await;
    let ca = e.dir.join("ca.pem");
    let out = run(args(&[
        "pins",
        "fetch",
        NAME,
        "--address",
        &e.a.to_string(),
        "--address",
        &e.b.to_string(),
        "--ca-file",
        ca.to_str().unwrap(),
        "--json",
    ]))
    .await;
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["differs"], true);
    let addrs = report["addresses"].as_array().unwrap();
    assert_eq!(addrs.len(), 2);
    for (entry, (addr, key)) in addrs.iter().zip([(e.a, &e.key_a), (e.b, &e.key_b)]) {
        assert_eq!(entry["address"], addr.to_string());
        let chain = &entry["chain"];
        assert!(
            chain["invalid"].is_null(),
            "validates against ca_file: {chain}"
        );
        assert_eq!(chain["served"], 2);
        let certs = chain["certs"].as_array().unwrap();
        assert_eq!(certs[0]["pin"], key_pin(key));
        assert_eq!(certs[0]["position"], 0);
        assert_eq!(certs[0]["subject"], format!("CN={NAME}"));
        assert_eq!(certs[0]["issuer"], "CN=pins test intermediate");
        assert!(certs[0]["not_after_text"].as_str().unwrap().ends_with('Z'));
        assert_eq!(certs[1]["pin"], e.inter.pin);
        assert_eq!(certs[1]["is_ca"], true);
    }
    assert_eq!(addrs[0]["chain_group"], 0);
    assert_eq!(addrs[1]["chain_group"], 1);

    // Text, and without the CA: still every chain, each marked invalid.
    let out = run(args(&[
        "pins",
        "fetch",
        &format!("{NAME}:{}", e.a.port()),
        "--address",
        &e.a.to_string(),
        "--address",
        &e.b.to_string(),
    ]))
    .await;
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    assert!(text.contains("their chains DIFFER"), "{text}");
    assert_eq!(text.matches("does NOT validate").count(), 2, "{text}");
    assert!(
        text.contains(&key_pin(&e.key_a)) && text.contains(&key_pin(&e.key_b)),
        "{text}"
    );
    assert!(text.contains(&e.inter.pin));
}

#[tokio::test(flavor = "multi_thread")]
async fn check_passes_and_fails_where_it_should() {
    let e = edges(90).await;
    let (pa, pb, pi) = (key_pin(&e.key_a), key_pin(&e.key_b), e.inter.pin.clone());
    let backup = key_pin(&p256());

    // Leaf A + backup: 127.0.0.2 serves leaf B, which holds no pin.
    let f = pins_toml(
        &e,
        &[(&pa, "leaf a"), (&backup, "backup")],
        true,
        &[e.a, e.b],
    );
    let out = run(args(&[
        "pins",
        "check",
        "--config",
        f.to_str().unwrap(),
        "--json",
    ]))
    .await;
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let addrs = &v["domains"][0]["addresses"];
    assert_eq!(addrs[0]["result"], "match");
    assert_eq!(addrs[1]["result"], "mismatch");
    let findings: Vec<&str> = addrs[1]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["finding"].as_str().unwrap())
        .collect();
    assert!(
        findings.contains(&"no_pin") && findings.contains(&"differs"),
        "{findings:?}"
    );
    assert!(addrs[0]["expiry_seconds"].as_i64().unwrap() > 80 * 86_400);

    // The intermediate's key is in both chains: pass, differing chains noted.
    let f = pins_toml(
        &e,
        &[(&pi, "intermediate"), (&backup, "backup")],
        true,
        &[e.a, e.b],
    );
    let out = run(args(&["pins", "check", "--config", f.to_str().unwrap()])).await;
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}");
    assert!(text.contains("serves a different chain than"), "{text}");

    // Both leaves pinned, but no ca_file: the chains do not validate.
    let f = pins_toml(&e, &[(&pa, "a"), (&pb, "b")], false, &[e.a, e.b]);
    let out = run(args(&["pins", "check", "--config", f.to_str().unwrap()])).await;
    assert_eq!(code(&out), 1);
    assert_eq!(
        stdout(&out).matches("the chain does not validate").count(),
        2,
        "{}",
        stdout(&out)
    );

    // An address that is closed: error, exit 1.
    let closed = std::net::TcpListener::bind("127.0.0.3:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let f = pins_toml(&e, &[(&pa, "a"), (&pb, "b")], true, &[e.a, closed]);
    let out = run(args(&[
        "pins",
        "check",
        "--config",
        f.to_str().unwrap(),
        "--json",
    ]))
    .await;
    assert_eq!(code(&out), 1);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["domains"][0]["addresses"][1]["result"], "error");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_warns_of_expiry_within_30_days_without_failing() {
    let e = edges(10).await;
    let f = pins_toml(
        &e,
        &[(&key_pin(&e.key_a), "a"), (&key_pin(&e.key_b), "b")],
        true,
        &[e.a],
    );
    let out = run(args(&["pins", "check", "--config", f.to_str().unwrap()])).await;
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}");
    assert!(
        text.contains("warning: certificate 0 expires in 9 days")
            || text.contains("warning: certificate 0 expires in 10 days"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lint_backup_rule_uses_the_live_chains() {
    let e = edges(90).await;
    let (pa, pb) = (key_pin(&e.key_a), key_pin(&e.key_b));
    // Both pins are served now: no backup.
    let f = pins_toml(&e, &[(&pa, "a"), (&pb, "b")], true, &[e.a, e.b]);
    let out = run(args(&["pins", "lint", "--config", f.to_str().unwrap()])).await;
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains(": backup: every pin is in a chain served now"),
        "{}",
        stdout(&out)
    );
    // Offline, the rule is skipped and said so.
    let out = run(args(&[
        "pins",
        "lint",
        "--config",
        f.to_str().unwrap(),
        "--offline",
    ]))
    .await;
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("backup rule"));
    // A pin nobody serves: the backup rule holds.
    let backup = key_pin(&p256());
    let f = pins_toml(
        &e,
        &[(&pa, "a"), (&pb, "b"), (&backup, "backup")],
        true,
        &[e.a, e.b],
    );
    let out = run(args(&["pins", "lint", "--config", f.to_str().unwrap()])).await;
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    // A backup CA pin but no backup leaf pin: fine for Android, not for
    // iOS, which needs a leaf match on its own.
    let f = pins_toml(&e, &[(&pa, "a"), (&backup, "backup CA")], true, &[e.a]);
    let text = std::fs::read_to_string(&f).unwrap().replace(
        "label = \"backup CA\"",
        "label = \"backup CA\", kind = \"ca\"",
    );
    std::fs::write(&f, text).unwrap();
    let out = run(args(&["pins", "lint", "--config", f.to_str().unwrap()])).await;
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(
        text.contains(": ios_backup: every leaf pin is in service"),
        "{text}"
    );
    assert!(!text.contains(": backup:"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_answers_is_bounded_by_the_timeout() {
    let stall = serve_stall("127.0.0.1").await;
    let started = Instant::now();
    let out = run(args(&[
        "pins",
        "fetch",
        "stall.test",
        "--address",
        &stall.to_string(),
        "--timeout",
        "1s",
        "--json",
    ]))
    .await;
    let took = started.elapsed();
    assert_eq!(code(&out), 1);
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let err = v["addresses"][0]["error"].as_str().unwrap();
    assert!(err.contains("no TLS handshake within 1s"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fifty_certificate_chain_is_cut_and_refused_clearly() {
    let root = root("deep root");
    let mut cas = vec![intermediate("deep 1", &root)];
    for i in 2..50 {
        let next = intermediate(&format!("deep {i}"), cas.last().unwrap());
        cas.push(next);
    }
    let key = p256();
    let mut chain = vec![leaf(&["deep.test"], &key, cas.last().unwrap(), 30)];
    chain.extend(cas.iter().rev().map(Ca::der));
    assert_eq!(chain.len(), 50);
    let addr = serve_tls("127.0.0.1", chain, &key).await;
    let out = run(args(&[
        "pins",
        "fetch",
        "deep.test",
        "--address",
        &addr.to_string(),
        "--json",
    ]))
    .await;
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let c = &v["addresses"][0]["chain"];
    assert_eq!(c["served"], 50);
    assert_eq!(c["certs"].as_array().unwrap().len(), 16);
    assert_eq!(c["certs"][0]["pin"], key_pin(&key));
    assert!(
        c["invalid"].as_str().unwrap().contains("50 certificates"),
        "{c}"
    );
}

#[test]
fn unusable_arguments_exit_2() {
    let bin = env!("CARGO_BIN_EXE_attestgate");
    for a in [
        &["pins", "fetch", "host:notaport"][..],
        &["pins", "fetch", "h", "--address", "nowhere"],
        &["pins", "fetch", "h", "--timeout", "forever"],
        &["pins", "check", "--config", "/nonexistent/pins.toml"],
        &[
            "pins",
            "render",
            "--config",
            "/nonexistent/pins.toml",
            "--format",
            "json",
        ],
    ] {
        let out = std::process::Command::new(bin).args(a).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{a:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stderr.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_addresses_every_resolved_address_is_tried() {
    let e = edges(90).await;
    let port = e.a.port();
    let out = run(args(&[
        "pins",
        "fetch",
        &format!("localhost:{port}"),
        "--servername",
        NAME,
        "--json",
    ]))
    .await;
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["servername"], NAME);
    let got: Vec<String> = v["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["address"].as_str().unwrap().to_owned())
        .collect();
    // What the system resolver says, independently.
    let mut want: Vec<String> = Vec::new();
    for a in std::net::ToSocketAddrs::to_socket_addrs(&("localhost", port)).unwrap() {
        if !want.contains(&a.to_string()) {
            want.push(a.to_string());
        }
    }
    assert_eq!(got, want);
    let v4 = v["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["address"] == e.a.to_string())
        .unwrap();
    assert_eq!(v4["chain"]["certs"][0]["pin"], key_pin(&e.key_a));
    // Exit 0 only when every address answered (::1, when it resolves, does not).
    assert_eq!(code(&out), if want.len() == 1 { 0 } else { 1 });
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_is_not_tls_is_an_error_not_a_hang() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            use tokio::io::AsyncWriteExt;
            let _ = tcp
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let out = run(args(&[
        "pins",
        "fetch",
        "plain.test",
        "--address",
        &addr.to_string(),
        "--timeout",
        "5s",
        "--json",
    ]))
    .await;
    assert_eq!(code(&out), 1);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let err = v["addresses"][0]["error"].as_str().unwrap();
    assert!(err.starts_with("TLS handshake:"), "{err}");
}
