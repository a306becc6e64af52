//! The pin monitor in the real proxy: TLS servers on 127.0.0.1 and
//! 127.0.0.2 serve the pinned domain; one is switched to an unpinned key
//! while the proxy runs with a 200 ms `monitor_interval`. Within about one
//! interval the metrics and the log show the mismatch for that address
//! only, one warning per change; switched back, both recover.

use attestgate_testkit::TempDir;
use std::time::Duration;

use super::kit::*;
use attestgate_testkit::pki::*;
use attestgate_testkit::tls::{serve_swappable, serve_tls};

const WATCHED: &[&str] = &[
    "attestgate_pin_match",
    "attestgate_pin_check_total",
    "attestgate_cert_expiry_seconds",
];

#[tokio::test(flavor = "multi_thread")]
async fn a_swapped_certificate_shows_as_a_mismatch_for_its_address_only_and_recovers() {
    let dir = TempDir::new("monitor");
    let root = root("monitor root");
    let inter = intermediate("monitor intermediate", &root);
    std::fs::write(dir.join("ca.pem"), root.pem()).unwrap();
    let (key_a, key_b, key_c) = (p256(), p256(), p256());
    let chain = |key: &rcgen::KeyPair, days| vec![leaf(&[NAME], key, &inter, days), inter.der()];
    let (a, _swap_a) = serve_swappable("127.0.0.1", chain(&key_a, 90), &key_a).await;
    let (b, swap_b) = serve_swappable("127.0.0.2", chain(&key_b, 60), &key_b).await;
    // Leaf pins only: key C, under the same intermediate, is not pinned.
    let pins = pins_toml(
        &dir,
        "pins.toml",
        &[&key_pin(&key_a), &key_pin(&key_b)],
        &[a, b],
    );
    let proxy = start(
        &format!(
            "config = \"{}\"\nmonitor_interval = \"200ms\"\n",
            pins.display()
        ),
        "",
    )
    .await;
    let series = |addr: std::net::SocketAddr| {
        format!("attestgate_pin_match{{address=\"{addr}\",domain=\"{NAME}\"}}")
    };
    let (sa, sb) = (series(a), series(b));
    let p = &proxy;
    let both = |va: f64, vb: f64| {
        let (sa, sb) = (sa.clone(), sb.clone());
        move || {
            let (sa, sb) = (sa.clone(), sb.clone());
            async move { p.metric(&sa).await == Some(va) && p.metric(&sb).await == Some(vb) }
        }
    };
    until(
        Duration::from_secs(15),
        "both addresses match",
        both(1.0, 1.0),
    )
    .await;
    let expiry = |addr: std::net::SocketAddr| {
        format!("attestgate_cert_expiry_seconds{{address=\"{addr}\",domain=\"{NAME}\"}}")
    };
    let days = |v: f64| v / 86_400.0;
    let (ea, eb) = (
        days(proxy.metric(&expiry(a)).await.unwrap()),
        days(proxy.metric(&expiry(b)).await.unwrap()),
    );
    assert!(
        (89.0..=90.0).contains(&ea) && (59.0..=60.0).contains(&eb),
        "{ea} {eb}"
    );
    let before = metric_lines(&proxy, WATCHED).await;
    let warnings_before = proxy.logs().matches("pin monitor: ").count();

    swap_b.set(chain(&key_c, 90), &key_c);
    let took = until(
        Duration::from_secs(10),
        "b mismatches, a still matches",
        both(1.0, 0.0),
    )
    .await;
    let during = metric_lines(&proxy, WATCHED).await;
    eprintln!("mismatch seen {took:?} after the swap (monitor_interval 200ms)");
    // A few more rounds: still one warning for the change, not one per check.
    let mismatches = format!("attestgate_pin_check_total{{domain=\"{NAME}\",result=\"mismatch\"}}");
    until(
        Duration::from_secs(10),
        "three rounds that mismatch",
        || {
            let m = mismatches.clone();
            async move { p.metric(&m).await.unwrap_or(0.0) >= 3.0 }
        },
    )
    .await;
    assert_eq!(proxy.metric(&sa).await, Some(1.0));
    let logs = proxy.logs();
    let warned: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("pin monitor: "))
        .collect();
    assert_eq!(warned.len(), 1, "one warning per change:\n{logs}");
    assert!(
        warned[0].contains(&b.to_string()) && warned[0].contains("mismatch"),
        "{}",
        warned[0]
    );
    assert!(warned[0].contains(&format!("address={b}")), "{}", warned[0]);
    assert!(
        !warned[0].contains(&format!("address={a}")),
        "{}",
        warned[0]
    );
    assert!(warned[0].contains("no pin in the chain"), "{}", warned[0]);
    assert_eq!(logs.matches("pin monitor: ").count(), warnings_before + 1);

    swap_b.set(chain(&key_b, 60), &key_b);
    until(Duration::from_secs(10), "b recovers", both(1.0, 1.0)).await;
    let after = metric_lines(&proxy, WATCHED).await;
    let recovered = format!("{NAME} at {b} is now match");
    until(Duration::from_secs(10), "the recovery is logged", || {
        let logs = proxy.logs();
        let seen = logs
            .lines()
            .any(|l| l.contains("INFO") && l.contains(&recovered));
        async move { seen }
    })
    .await;
    let logs = proxy.logs();
    assert_eq!(
        logs.matches("pin monitor: ").count(),
        warnings_before + 2,
        "{logs}"
    );
    assert!(
        logs.lines()
            .any(|l| l.contains("INFO") && l.contains(&format!("{NAME} at {b} is now match"))),
        "{logs}"
    );
    eprintln!(
        "--- before the swap\n{before}\n--- after the swap to an unpinned key\n{during}\n--- after the swap back\n{after}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_address_is_an_error_not_a_mismatch() {
    let dir = TempDir::new("monitor-down");
    let root = root("down root");
    std::fs::write(dir.join("ca.pem"), root.pem()).unwrap();
    let key = p256();
    let a = serve_tls(
        "127.0.0.1",
        vec![leaf(&[NAME], &key, &root, 30), root.der()],
        &key,
    )
    .await;
    let dead = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    let down = dead.local_addr().unwrap();
    drop(dead);
    let pins = pins_toml(&dir, "pins.toml", &[&key_pin(&key)], &[a, down]);
    let proxy = start(
        &format!(
            "config = \"{}\"\nmonitor_interval = \"200ms\"\n",
            pins.display()
        ),
        "",
    )
    .await;
    let p = &proxy;
    let errors = format!("attestgate_pin_check_total{{domain=\"{NAME}\",result=\"error\"}}");
    until(
        Duration::from_secs(15),
        "the dead address counts as error",
        || {
            let e = errors.clone();
            async move { p.metric(&e).await.is_some_and(|v| v >= 2.0) }
        },
    )
    .await;
    let m = |addr: std::net::SocketAddr| {
        format!("attestgate_pin_match{{address=\"{addr}\",domain=\"{NAME}\"}}")
    };
    assert_eq!(proxy.metric(&m(a)).await, Some(1.0));
    assert_eq!(proxy.metric(&m(down)).await, Some(0.0));
    assert!(
        proxy
            .metric(&format!(
                "attestgate_pin_check_total{{domain=\"{NAME}\",result=\"mismatch\"}}"
            ))
            .await
            .is_none()
    );
    let logs = proxy.logs();
    assert_eq!(
        logs.lines()
            .filter(|l| l.contains("WARN") && l.contains("pin monitor: "))
            .count(),
        1,
        "{logs}"
    );
}
