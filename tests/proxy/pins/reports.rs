//! Pin-failure reports through the real proxy (`[pins] report_path`):
//! TrustKit and HPKP (RFC 7469 §3) reports written from the published
//! formats, classified against `pins.toml`; oversize 413 (announced or
//! chunked), malformed 400, wrong method 405, a flood 429 per client
//! address; nothing of a report logged verbatim, no client address in the
//! summary.

use attestgate_testkit::TempDir;
use std::net::SocketAddr;
use std::time::Duration;

use super::kit::*;
use attestgate_testkit::pki::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REPORT: &str = "/.well-known/attestgate/pin-report";

/// One request from source address `from`, on its own connection: the status.
async fn post_from(from: &str, to: SocketAddr, head: &str, body: &[u8]) -> u16 {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let mut s = sock.connect(to).await.unwrap();
    let mut req =
        format!("POST {REPORT} HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n{head}\r\n")
            .into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

async fn post(to: SocketAddr, body: &[u8]) -> u16 {
    post_from(
        "127.0.0.1",
        to,
        &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ),
        body,
    )
    .await
}

fn trustkit(host: &str, chain: &[String], known: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "app-bundle-id": "com.example.app",
        "app-version": "1.0",
        "app-platform": "IOS",
        "app-platform-version": "17.0",
        "trustkit-version": "3.0.3",
        "hostname": host,
        "port": 443,
        "noted-hostname": host,
        "include-subdomains": false,
        "enforce-pinning": true,
        "validated-certificate-chain": chain,
        "known-pins": known.iter().map(|p| format!("pin-sha256=\"{p}\"")).collect::<Vec<_>>(),
        "validation-result": 1,
        "date-time": "2026-12-01T20:00:00Z"
    }))
    .unwrap()
}

fn hpkp(host: &str, served: &[String], known: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "date-time": "2026-12-01T20:00:00Z",
        "hostname": host,
        "port": 443,
        "effective-expiration-date": "2027-01-01T00:00:00Z",
        "include-subdomains": false,
        "noted-hostname": host,
        "served-certificate-chain": served,
        "validated-certificate-chain": served,
        "known-pins": known.iter().map(|p| format!("pin-sha256=\"{p}\"")).collect::<Vec<_>>()
    }))
    .unwrap()
}

/// The sum of `attestgate_pin_reports_total` over its domains.
async fn all_reports(proxy: &attestgate_testkit::proxy::Proxy) -> f64 {
    proxy
        .metrics()
        .await
        .lines()
        .filter(|l| l.starts_with("attestgate_pin_reports_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_are_classified_counted_capped_checked_and_rate_limited_and_never_logged_verbatim()
{
    let dir = TempDir::new("reports");
    let ours = root("reports root");
    let inter = intermediate("reports intermediate", &ours);
    std::fs::write(dir.join("ca.pem"), ours.pem()).unwrap();
    let (pinned, rotated) = (p256(), p256());
    let pem = |c: &rustls_pki_types::CertificateDer<'_>| pem_of(c, "CERTIFICATE");
    let good = [pem(&leaf(&[NAME], &pinned, &inter, 90)), pem(&inter.der())];
    // A key we never shipped, under our CA: a rotation we missed, or a MitM
    // with our CA.
    let unknown = [pem(&leaf(&[NAME], &rotated, &inter, 90)), pem(&inter.der())];
    // An interception proxy's own root.
    let mitm_root = root("interceptor root");
    let mitm_key = p256();
    let mitm = [
        pem(&leaf(&[NAME], &mitm_key, &mitm_root, 30)),
        pem(&mitm_root.der()),
    ];
    // The monitor probes a closed loopback port (never DNS).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let pins = pins_toml(&dir, "pins.toml", &[&key_pin(&pinned)], &[closed_addr]);
    let proxy = start(
        &format!(
            "config = \"{}\"\nmonitor_interval = \"1h\"\nreport_rate = 20\n",
            pins.display()
        ),
        "",
    )
    .await;
    let to = proxy.addr;
    let known = key_pin(&pinned);

    let sent = [
        trustkit(NAME, &good, &[&known]),
        hpkp(NAME, &unknown, &[&known]),
        hpkp(NAME, &mitm, &[&known]),
        trustkit("elsewhere.example", &unknown, &[&known]),
    ];
    for r in &sent {
        assert_eq!(post(to, r).await, 204);
    }
    let m = |s: String| {
        let p = &proxy;
        async move { p.metric(&s).await }
    };
    assert_eq!(
        m(format!("attestgate_pin_reports_total{{domain=\"{NAME}\"}}")).await,
        Some(3.0)
    );
    assert_eq!(
        m("attestgate_pin_reports_total{domain=\"other\"}".into()).await,
        Some(1.0)
    );
    for (class, n) in [
        ("known_pin", 1.0),
        ("unknown_key_trusted_ca", 1.0),
        ("untrusted", 2.0),
    ] {
        assert_eq!(
            m(format!(
                "attestgate_pin_report_class_total{{class=\"{class}\"}}"
            ))
            .await,
            Some(n),
            "{class}\n{}",
            proxy.metrics().await
        );
    }

    // Oversize: announced, and chunked without a length.
    let mut big = trustkit(NAME, &good, &[&known]);
    big.truncate(big.len() - 1);
    big.extend_from_slice(format!(",\"pad\":\"{}\"}}", "x".repeat(17 * 1024)).as_bytes());
    assert_eq!(post(to, &big).await, 413);
    let mut chunked = format!("{:x}\r\n", big.len()).into_bytes();
    chunked.extend_from_slice(&big);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    assert_eq!(
        post_from("127.0.0.1", to, "Transfer-Encoding: chunked\r\n", &chunked).await,
        413
    );
    // Malformed: not JSON, wrong shapes, a bad certificate, a bad pin.
    let not_a_cert =
        vec!["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_owned()];
    let malformed: Vec<Vec<u8>> = vec![
        b"{".to_vec(),
        b"[]".to_vec(),
        b"null".to_vec(),
        br#"{"hostname": "api.pins.test"}"#.to_vec(),
        br#"{"hostname": 7, "trustkit-version": "3"}"#.to_vec(),
        trustkit(NAME, &[], &[&known]),
        trustkit("bad host!", &good, &[&known]),
        trustkit(NAME, &not_a_cert, &[&known]),
        hpkp(NAME, &good, &["not base64"]),
    ];
    for b in &malformed {
        assert_eq!(post(to, b).await, 400, "{}", String::from_utf8_lossy(b));
    }
    // Twenty per minute per client: 4 + 1 + 1 + 9 so far; five more pass.
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(post(to, &sent[0]).await);
    }
    assert_eq!(statuses, [204, 204, 204, 204, 204, 429, 429, 429]);
    // Another client address has its own count.
    let body = &sent[0];
    let head = format!("Content-Length: {}\r\n", body.len());
    assert_eq!(post_from("127.0.0.2", to, &head, body).await, 204);
    assert_eq!(post_from("127.0.0.1", to, &head, body).await, 429);
    let c = attestgate_testkit::client::Client::new();
    let r = c.get(&proxy.url(REPORT), &[]).await;
    assert_eq!(r.status, 405);

    for (reason, n) in [
        ("too_large", 2.0),
        ("malformed", 9.0),
        ("rate_limited", 4.0),
        ("method", 1.0),
    ] {
        assert_eq!(
            m(format!(
                "attestgate_pin_reports_refused_total{{reason=\"{reason}\"}}"
            ))
            .await,
            Some(n),
            "{reason}"
        );
    }
    // Nothing lost: every accepted report (204) is counted once.
    let accepted = all_reports(&proxy).await;
    assert_eq!(accepted, 4.0 + 5.0 + 1.0, "{}", proxy.metrics().await);
    // Never a token outcome.
    let all = proxy.metrics().await;
    assert!(
        !all.lines()
            .any(|l| l.starts_with("attestgate_requests_total") && !l.ends_with(" 0")),
        "{all}"
    );
    // Logs: a summary per report, no client address, nothing verbatim.
    let logs = proxy.logs();
    let summaries: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("pin-failure report"))
        .collect();
    assert!(
        summaries.iter().filter(|l| l.contains("class=")).count() >= 10,
        "{logs}"
    );
    for l in &summaries {
        assert!(!l.contains("127.0.0."), "client address logged: {l}");
    }
    for secretish in [
        "BEGIN CERTIFICATE",
        &good[0][28..90],
        &unknown[0][28..90],
        "elsewhere.example",
        "com.example.app",
        "xxxxxxxx",
        &known,
    ] {
        assert!(!logs.contains(secretish), "{secretish:?} logged:\n{logs}");
    }
}
