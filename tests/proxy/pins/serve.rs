//! The signed pin config served by the real proxy (`[pins] signed`): its
//! headers, 304, hot reload while serving, a half-written, invalid or
//! rolled-back file keeping the last good one, an expired one still served
//! but counted; the proxy's own HTTPS listener checked against it; and
//! check-config reporting every `[pins]` problem.

use attestgate_testkit::TempDir;
use std::time::Duration;

use super::kit::*;
use attestgate_testkit::client::{Client, request};
use attestgate_testkit::pki::*;

const PATH: &str = "/.well-known/attestgate/pins";

#[tokio::test(flavor = "multi_thread")]
async fn serves_the_file_as_is_with_its_headers_304_and_hot_reloads_keeping_the_last_good_one() {
    let dir = TempDir::new("serve");
    let root = root("serve root");
    std::fs::write(dir.join("ca.pem"), root.pem()).unwrap();
    let key = signing_key(&dir, "pins-1");
    let pins = pins_toml(
        &dir,
        "pins.toml",
        &[&key_pin(&p256()), &key_pin(&p256())],
        &[],
    );
    let first = sign(&pins, &key, 5, &["--refresh", "2h"]);
    let signed = dir.join("pins.jws");
    std::fs::write(&signed, &first).unwrap();
    // A token-checked route next to it: the pins path needs no token.
    let proxy = start(
        &format!(
            "signed = \"{}\"\nwatch_interval = \"50ms\"\n",
            signed.display()
        ),
        "",
    )
    .await;
    let c = Client::new();
    let r = c.get(&proxy.url(PATH), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body.as_ref(), first.as_bytes(), "served byte for byte");
    assert_eq!(r.header("content-type"), Some("application/jose"));
    assert_eq!(
        r.header("cache-control").unwrap(),
        format!("max-age={}", payload(&first)["refresh"])
    );
    assert_eq!(payload(&first)["refresh"], 7200);
    let etag = r.header("etag").unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10,
        "{etag}"
    );

    for inm in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".into(),
    ] {
        let r = c.get(&proxy.url(PATH), &[("if-none-match", &inm)]).await;
        assert_eq!(r.status, 304, "{inm}");
        assert!(r.body.is_empty());
        assert_eq!(r.header("etag"), Some(etag.as_str()));
    }
    let r = c
        .get(&proxy.url(PATH), &[("if-none-match", "\"stale\"")])
        .await;
    assert_eq!(r.status, 200);
    let head = c.send(request("HEAD", &proxy.url(PATH), &[], "")).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length").unwrap(),
        first.len().to_string()
    );
    for m in ["POST", "PUT", "DELETE"] {
        let r = c.send(request(m, &proxy.url(PATH), &[], "x")).await;
        assert_eq!(r.status, 405, "{m}");
    }
    // Never a token outcome: the route's counters did not move.
    let m = proxy.metrics().await;
    assert!(
        !m.lines()
            .any(|l| l.starts_with("attestgate_requests_total") && !l.ends_with(" 0")),
        "{m}"
    );
    let exp = payload(&first)["exp"].as_i64().unwrap();
    let left = proxy
        .metric("attestgate_pin_config_expiry_seconds")
        .await
        .unwrap() as i64;
    let now = attestgate_pins::clock::now_unix();
    assert!(
        (exp - now - left).abs() <= 5,
        "gauge {left}, exp - now {}",
        exp - now
    );

    // Hot reload while serving: a new config (atomic rename) is served
    // within a few polls; the old ETag no longer matches.
    let second = sign(&pins, &key, 6, &[]);
    replace(&signed, &second);
    let url = proxy.url(PATH);
    until(Duration::from_secs(10), "the new config is served", || {
        let (c, url, second) = (c.clone(), url.clone(), second.clone());
        async move { c.get(&url, &[]).await.body.as_ref() == second.as_bytes() }
    })
    .await;
    let r = c.get(&url, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, 200);
    let etag2 = r.header("etag").unwrap().to_owned();
    assert_ne!(etag, etag2);

    // A half-written file (in place, left so), garbage, a rollback to a
    // lower seq, and a tampered payload: each keeps the last good one.
    let third = sign(&pins, &key, 7, &[]);
    let mut parts: Vec<String> = second.trim().split('.').map(str::to_owned).collect();
    parts[1] = parts[1].chars().rev().collect();
    let bad: [(&str, String); 5] = [
        ("half-written", third[..third.len() / 2].to_owned()),
        ("garbage", "not a jws at all\n".into()),
        ("empty", String::new()),
        ("rollback", first.clone()),
        ("tampered payload", parts.join(".")),
    ];
    // Each is read (and refused) before the check.
    let p = &proxy;
    let refused = || async move {
        let mut n = 0.0;
        for result in ["invalid", "rollback", "unreadable"] {
            let series = format!("attestgate_pin_config_reloads_total{{result=\"{result}\"}}");
            n += p.metric(&series).await.unwrap_or(0.0);
        }
        n
    };
    for (what, text) in &bad {
        let before = refused().await;
        std::fs::write(&signed, text).unwrap();
        until(Duration::from_secs(10), what, || async {
            refused().await > before
        })
        .await;
        let r = c.get(&url, &[]).await;
        assert_eq!(r.status, 200, "{what}");
        assert_eq!(
            r.body.as_ref(),
            second.as_bytes(),
            "{what}: the last good one stays"
        );
    }
    let invalid = proxy
        .metric("attestgate_pin_config_reloads_total{result=\"invalid\"}")
        .await
        .unwrap();
    let rollback = proxy
        .metric("attestgate_pin_config_reloads_total{result=\"rollback\"}")
        .await
        .unwrap();
    assert!(
        invalid >= 3.0 && rollback == 1.0,
        "invalid {invalid}, rollback {rollback}"
    );
    // The write finished: now it is taken.
    std::fs::write(&signed, &third).unwrap();
    until(
        Duration::from_secs(10),
        "the finished write is served",
        || {
            let (c, url, third) = (c.clone(), url.clone(), third.clone());
            async move { c.get(&url, &[]).await.body.as_ref() == third.as_bytes() }
        },
    )
    .await;

    // Expired (signed 20 days ago for 14): still served, logged once, counted.
    let then = (attestgate_pins::clock::now_unix() - 20 * 86_400).to_string();
    let expired = sign(&pins, &key, 8, &["--now", &then, "--ttl", "14d"]);
    std::fs::write(&signed, &expired).unwrap();
    until(
        Duration::from_secs(10),
        "the expired config is served",
        || {
            let (c, url, expired) = (c.clone(), url.clone(), expired.clone());
            async move { c.get(&url, &[]).await.body.as_ref() == expired.as_bytes() }
        },
    )
    .await;
    for _ in 0..3 {
        assert_eq!(c.get(&url, &[]).await.status, 200);
    }
    until(
        Duration::from_secs(10),
        "four expired answers counted",
        || async {
            p.metric("attestgate_pin_config_expired_served_total")
                .await
                .unwrap_or(0.0)
                >= 4.0
        },
    )
    .await;
    let gauge = proxy
        .metric("attestgate_pin_config_expiry_seconds")
        .await
        .unwrap();
    assert!(gauge < -5.0 * 86_400.0, "{gauge}");
    let logs = proxy.logs();
    assert_eq!(
        logs.matches("the signed pin config has expired").count(),
        1,
        "logged once:\n{logs}"
    );
    assert!(logs.contains("not a signed pin config"), "{logs}");
    assert!(logs.contains("lower seq"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signature_check_with_public_key_refuses_a_config_signed_by_another_key() {
    let dir = TempDir::new("serve-key");
    std::fs::write(dir.join("ca.pem"), root("k root").pem()).unwrap();
    let key = signing_key(&dir, "pins-1");
    let other = signing_key(&dir, "other");
    let pins = pins_toml(&dir, "pins.toml", &[&key_pin(&p256())], &[]);
    let good = sign(&pins, &key, 1, &[]);
    let signed = dir.join("pins.jws");
    std::fs::write(&signed, &good).unwrap();
    let proxy = start(
        &format!(
            "signed = \"{}\"\npublic_key = \"{}\"\nwatch_interval = \"50ms\"\n",
            signed.display(),
            dir.join("pins-1.pub.pem").display()
        ),
        "",
    )
    .await;
    let forged = sign(&pins, &other, 2, &[]);
    std::fs::write(&signed, &forged).unwrap();
    let c = Client::new();
    until(
        Duration::from_secs(10),
        "the forged config is refused",
        || {
            let seen = proxy.logs().contains("bad_signature");
            async move { seen }
        },
    )
    .await;
    assert_eq!(
        c.get(&proxy.url(PATH), &[]).await.body.as_ref(),
        good.as_bytes()
    );
    let next = sign(&pins, &key, 3, &[]);
    std::fs::write(&signed, &next).unwrap();
    let url = proxy.url(PATH);
    until(
        Duration::from_secs(10),
        "the well-signed config is served",
        || {
            let (c, url, next) = (c.clone(), url.clone(), next.clone());
            async move { c.get(&url, &[]).await.body.as_ref() == next.as_bytes() }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_own_https_listener_serving_an_unpinned_certificate_is_reported_then_fixed_by_a_reload()
{
    let dir = TempDir::new("listener");
    let root = root("listener root");
    std::fs::write(dir.join("ca.pem"), root.pem()).unwrap();
    let leaf_key = p256();
    let leaf = leaf(&[NAME], &leaf_key, &root, 90);
    std::fs::write(dir.join("tls.pem"), chain_pem(&[leaf, root.der()])).unwrap();
    std::fs::write(dir.join("tls.key"), leaf_key.serialize_pem()).unwrap();
    let key = signing_key(&dir, "pins-1");
    // The signed config pins two other keys: the listener is not pinned.
    let unpinned = pins_toml(
        &dir,
        "other.toml",
        &[&key_pin(&p256()), &key_pin(&p256())],
        &[],
    );
    let signed = dir.join("pins.jws");
    std::fs::write(&signed, sign(&unpinned, &key, 1, &[])).unwrap();
    let tls_addr = format!("127.0.0.1:{}", attestgate_testkit::http::free_port());
    let proxy = start(
        &format!(
            "signed = \"{}\"\nwatch_interval = \"50ms\"\n",
            signed.display()
        ),
        &format!(
            "[[server.tls]]\nlisten = \"{tls_addr}\"\ncert = \"{}\"\nkey = \"{}\"\n",
            dir.join("tls.pem").display(),
            dir.join("tls.key").display()
        ),
    )
    .await;
    let series = format!("attestgate_listener_pinned{{listener=\"{tls_addr}\"}}");
    assert_eq!(
        proxy.metric(&series).await,
        Some(0.0),
        "{}",
        proxy.metrics().await
    );
    assert!(proxy.logs().contains("WOULD REFUSE"), "{}", proxy.logs());
    // Served on the HTTPS listener too.
    let text = https_get(&tls_addr, &root, PATH).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains(std::fs::read_to_string(&signed).unwrap().trim()),
        "{text}"
    );
    // Ship the listener's pin (here the root's, as a CA pin) and reload.
    let pinned = pins_toml(&dir, "pinned.toml", &[&root.pin], &[]);
    std::fs::write(&signed, sign(&pinned, &key, 2, &[])).unwrap();
    let (p, s) = (&proxy, series.clone());
    until(
        Duration::from_secs(10),
        "the listener is pinned after the reload",
        || {
            let s = s.clone();
            async move { p.metric(&s).await == Some(1.0) }
        },
    )
    .await;
}

/// One HTTP/1.1 GET over TLS to `addr` (SNI [`NAME`], trusting `root`).
async fn https_get(addr: &str, root: &Ca, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.der()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from(NAME).unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn check_config_reports_every_pins_problem_with_its_key_path() {
    let dir = TempDir::new("check");
    std::fs::write(
        dir.join("broken.toml"),
        "[[domain]]\nname = \"\"\npins = []\n",
    )
    .unwrap();
    std::fs::write(dir.join("bad.jws"), "eyJ.not.a-config").unwrap();
    let cases: [(&str, &[&str]); 4] = [
        (
            "config = \"broken.toml\"\nsigned = \"bad.jws\"\n",
            &["pins.config: ", "pins.signed: not a signed pin config"],
        ),
        (
            "config = \"missing.toml\"\nsigned = \"missing.jws\"\npublic_key = \"missing.pem\"\n",
            &[
                "pins.config: cannot read",
                "pins.signed: cannot read",
                "pins.public_key: cannot read",
            ],
        ),
        (
            "path = \"pins\"\nreport_path = \"/a/../b\"\nmonitor_interval = \"soon\"\n",
            &[
                "pins.path: ",
                "pins.report_path: ",
                "pins.monitor_interval: ",
            ],
        ),
        (
            "path = \"/x\"\nreport_path = \"/x\"\nmax_report_bytes = 100000\nreport_rate = 0\nnope = 1\n",
            &["nope"],
        ),
    ];
    for (pins, expect) in cases {
        let path = dir.join("attestgate.toml");
        std::fs::write(
            &path,
            format!(
                "[[route]]\nname = \"a\"\nupstream = \"demo\"\ntoken = \"off\"\n\n[pins]\n{pins}"
            ),
        )
        .unwrap();
        let out = run(&["check-config", "--config", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{pins}\n{err}");
        for e in expect {
            assert!(err.contains(e), "{e:?} missing for\n{pins}\n{err}");
        }
    }
    let path = dir.join("attestgate.toml");
    std::fs::write(
        &path,
        "[[route]]\nname = \"a\"\nupstream = \"demo\"\ntoken = \"off\"\n\n[pins]\npath = \"/x\"\nreport_path = \"/x\"\nmax_report_bytes = 100000\nreport_rate = 0\n",
    )
    .unwrap();
    let out = run(&["check-config", "--config", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    for e in [
        "pins.report_path: ",
        "pins.max_report_bytes: ",
        "pins.report_rate: ",
    ] {
        assert!(err.contains(e), "{e:?} missing:\n{err}");
    }
}
