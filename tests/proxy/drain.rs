//! Drain for load balancers, with the real binary: after SIGTERM `/readyz`
//! answers 503 at once, new connections are still served for
//! `drain_delay`, then the listeners close, the request in flight
//! finishes, and the process exits 0.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use attestgate_testkit::client::Client;
use attestgate_testkit::eventually_async;
use attestgate_testkit::proxy::{Proxy, Start, raw_exchange};
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_attestgate"))
}

/// One request on a fresh connection; the status, or `None` if the
/// connection was refused.
async fn fresh_get(addr: SocketAddr, path: &str) -> Option<u16> {
    let probe = tokio::net::TcpStream::connect(addr).await.ok()?;
    drop(probe);
    let text = raw_exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\r\n").as_bytes(),
        Duration::from_secs(10),
    )
    .await;
    text.split(' ').nth(1).and_then(|s| s.parse().ok())
}

/// `attestgate health --url URL`: its exit code.
async fn health(url: &str) -> Option<i32> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin())
            .args(["health", "--timeout", "2s", "--url", &url])
            .output()
            .unwrap()
            .status
            .code()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_health_command_fails_on_errors_and_refuses_bad_urls() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/healthz", dead.local_addr().unwrap());
    drop(dead);
    assert_eq!(health(&dead_url).await, Some(1), "connection refused");
    // A server that accepts and never answers: the timeout ends it.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/healthz", silent.local_addr().unwrap());
    let t = Instant::now();
    assert_eq!(health(&silent_url).await, Some(1));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    drop(silent);
    for bad in [
        "https://127.0.0.1:9091/healthz",
        "127.0.0.1:9091",
        "http://",
        "nonsense",
    ] {
        assert_eq!(health(bad).await, Some(2), "{bad}");
    }
}

async fn status(c: &Client, url: &str) -> u16 {
    c.get(url, &[]).await.status
}

#[tokio::test(flavor = "multi_thread")]
async fn after_sigterm_readyz_is_503_at_once_the_listeners_serve_for_drain_delay_then_close() {
    let fast = RecordingUpstream::start(Behaviour::Echo).await;
    let slow = RecordingUpstream::start(Behaviour::Delay(Duration::from_millis(2500))).await;
    let config = format!(
        "[[route]]\nname = \"slow\"\npath_prefix = \"/slow\"\nupstream = \"{}\"\ntoken = \"off\"\nread_timeout = \"10s\"\n\n[[route]]\nname = \"fast\"\npath_prefix = \"/\"\nupstream = \"{}\"\ntoken = \"off\"\n",
        slow.url(),
        fast.url()
    );
    let mut proxy = Proxy::start(
        bin(),
        Start {
            config: &config,
            server_extra: "drain_delay = \"2s\"\ngrace_period = \"10s\"",
            ..Start::default()
        },
    )
    .await;
    let c = Client::new();
    assert_eq!(status(&c, &proxy.admin_url("/readyz")).await, 200);
    assert_eq!(fresh_get(proxy.addr, "/before").await, Some(200));

    let t0 = Instant::now();
    proxy.signal("TERM");
    // Readiness goes at once.
    let mut flipped = None;
    while t0.elapsed() < Duration::from_secs(1) {
        if status(&c, &proxy.admin_url("/readyz")).await == 503 {
            flipped = Some(t0.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let flipped = flipped.expect("/readyz still 200 a second after SIGTERM");
    assert!(flipped < Duration::from_millis(500), "{flipped:?}");
    assert_eq!(
        status(&c, &proxy.admin_url("/healthz")).await,
        200,
        "still alive"
    );

    // New connections are served throughout the delay.
    let mut served = 0;
    for at in [300u64, 800, 1300] {
        tokio::time::sleep_until((t0 + Duration::from_millis(at)).into()).await;
        assert_eq!(
            fresh_get(proxy.addr, &format!("/during-{at}")).await,
            Some(200),
            "a new connection {at} ms after SIGTERM"
        );
        served += 1;
    }
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "the delay was not over yet"
    );
    assert_eq!(fast.count(), 1 + served);

    // A slow request accepted near the end of the delay outlives it.
    tokio::time::sleep_until((t0 + Duration::from_millis(1500)).into()).await;
    let addr = proxy.addr;
    let in_flight = tokio::spawn(async move { fresh_get(addr, "/slow/x").await });

    // After the delay the listener is closed while that request drains.
    tokio::time::sleep_until((t0 + Duration::from_millis(2300)).into()).await;
    let mut refused_at = None;
    while t0.elapsed() < Duration::from_millis(3800) {
        if tokio::net::TcpStream::connect(proxy.addr).await.is_err() {
            refused_at = Some(t0.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused_at = refused_at.expect("the listener still accepted after drain_delay");
    assert!(refused_at >= Duration::from_secs(2), "{refused_at:?}");
    assert!(
        proxy.child.try_wait().unwrap().is_none(),
        "refused while the process still drains"
    );
    assert_eq!(
        in_flight.await.unwrap(),
        Some(200),
        "the in-flight request finished"
    );
    let exit = proxy
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("exits after draining");
    assert!(exit.success(), "{exit}");
    assert!(
        t0.elapsed() >= Duration::from_millis(3900),
        "{:?}",
        t0.elapsed()
    );
    let logs = proxy.logs();
    assert!(logs.contains("drain delay over"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_during_the_drain_delay_stops_at_once() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let mut proxy = Proxy::start(
        bin(),
        Start {
            config: &format!(
                "[[route]]\nname = \"a\"\nupstream = \"{}\"\ntoken = \"off\"\n",
                up.url()
            ),
            server_extra: "drain_delay = \"60s\"",
            ..Start::default()
        },
    )
    .await;
    let c = Client::new();
    // `attestgate health` (the image's HEALTHCHECK) sees what a probe sees.
    assert_eq!(health(&proxy.admin_url("/healthz")).await, Some(0));
    assert_eq!(health(&proxy.admin_url("/readyz")).await, Some(0));
    proxy.signal("TERM");
    let readyz = proxy.admin_url("/readyz");
    assert!(
        eventually_async(Duration::from_secs(10), || async {
            status(&c, &readyz).await == 503
        })
        .await,
        "/readyz never 503 after SIGTERM"
    );
    assert_eq!(
        health(&proxy.admin_url("/readyz")).await,
        Some(1),
        "503 fails the check"
    );
    assert_eq!(
        health(&proxy.admin_url("/healthz")).await,
        Some(0),
        "alive while draining"
    );
    assert_eq!(fresh_get(proxy.addr, "/x").await, Some(200));
    let t = Instant::now();
    proxy.signal("INT");
    let exit = proxy.wait_exit(Duration::from_secs(10)).await;
    assert!(
        exit.is_some(),
        "SIGINT did not end the 60 s drain delay:\n{}",
        proxy.logs()
    );
    assert!(t.elapsed() < Duration::from_secs(10));
}
