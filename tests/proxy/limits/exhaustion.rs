//! The proxy under a descriptor limit of 256, and 300 silent connections:
//! more than it could hold. The cap (half the limit, less 64: 64) leaves
//! descriptors for upstream connections and the admin; at the cap the
//! oldest connections that never sent a request are shed. Legitimate
//! requests keep succeeding, on new connections and on a kept-alive one.

use std::time::{Duration, Instant};

use attestgate_testkit::proxy::{Proxy, Start};
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Legit, bin};

async fn metric(proxy: &Proxy, series: &str) -> f64 {
    proxy
        .metric(series)
        .await
        .unwrap_or_else(|| panic!("no {series}"))
}

/// One request on a kept-alive connection: its status line.
async fn again(s: &mut TcpStream) -> String {
    s.write_all(b"GET /kept HTTP/1.1\r\nHost: api.example\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .map_or(0, |r| r.unwrap_or(0));
        if n == 0 {
            return format!("closed after {:?}", String::from_utf8_lossy(&got));
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return text.lines().next().unwrap_or("").to_owned();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn more_silent_connections_than_descriptors_deny_no_one() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let config = format!(
        "[[route]]\nname = \"echo\"\npath_prefix = \"/\"\nupstream = \"{}\"\ntoken = \"off\"\n",
        up.url()
    );
    let proxy = Proxy::start(
        bin(),
        Start {
            config: &config,
            // Long deadlines: what saves the others here is the cap.
            server_extra: "request_header_timeout = \"60s\"\nkeepalive_timeout = \"60s\"\n",
            nofile: Some((256, 256)),
            ..Start::default()
        },
    )
    .await;
    assert_eq!(metric(&proxy, "attestgate_descriptors_limit").await, 256.0);
    assert_eq!(metric(&proxy, "attestgate_connections_max").await, 64.0);
    let base_fds = proxy.open_fds();
    let mut kept = TcpStream::connect(proxy.addr).await.unwrap();
    assert!(again(&mut kept).await.starts_with("HTTP/1.1 200"));
    let legit = Legit::start(&proxy, None);

    let t0 = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(TcpStream::connect(proxy.addr).await.unwrap());
    }
    let mut kept_ok = 0;
    let mut peak_open = 0.0f64;
    let mut peak_fds = 0;
    while t0.elapsed() < Duration::from_secs(3) {
        let status = again(&mut kept).await;
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "kept-alive client: {status}"
        );
        kept_ok += 1;
        peak_open = peak_open.max(metric(&proxy, "attestgate_connections_open").await);
        peak_fds = peak_fds.max(proxy.open_fds());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let shed = metric(
        &proxy,
        "attestgate_connections_closed_total{reason=\"shed\"}",
    )
    .await;
    let refused = metric(&proxy, "attestgate_connections_refused_total").await;
    let served = legit.stop().await;
    // The flood ends.
    drop(silent);
    drop(kept);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let open = metric(&proxy, "attestgate_connections_open").await;
        let fds = proxy.open_fds();
        // Idle upstream connections the legitimate requests left in the
        // pool are the only descriptors beyond the start.
        if open == 0.0 && fds <= base_fds + up.server.open_connections() + 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not back to the baseline: {open} connections, {fds} descriptors (baseline {base_fds})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = proxy.logs();
    eprintln!(
        "\ndescriptor flood: limit 256, max_connections 64, 300 silent connections\n\
         | figure | value |\n|---|---|\n\
         | proxy descriptors before | {base_fds} |\n\
         | peak descriptors during the flood | {peak_fds} |\n\
         | peak attestgate_connections_open | {peak_open} |\n\
         | attestgate_connections_closed_total{{reason=\"shed\"}} | {shed} |\n\
         | attestgate_connections_refused_total | {refused} |\n\
         | legitimate requests on new connections (all 200) | {served} |\n\
         | requests on the kept-alive connection (all 200) | {kept_ok} |\n\
         | descriptors after | {} |",
        proxy.open_fds()
    );
    // The cap, plus room for shed connections still closing (a quarter).
    assert!(
        peak_open <= 84.0,
        "open connections beyond the ceiling: {peak_open}"
    );
    assert!(peak_fds < 200, "descriptors near the limit: {peak_fds}");
    assert!(shed > 0.0, "no idle connection was shed");
    assert!(
        shed + refused >= 300.0 - 84.0,
        "300 silent connections, shed {shed}, refused {refused}"
    );
    assert!(
        !logs.contains("Too many open files") && !logs.contains("os error 24"),
        "the process ran out of descriptors:\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_soft_descriptor_limit_is_raised_to_the_hard_one_and_the_cap_follows() {
    let proxy = Proxy::start(
        bin(),
        Start {
            config: "[[route]]\nname = \"a\"\nupstream = \"demo\"\ntoken = \"off\"\n",
            nofile: Some((200, 4096)),
            ..Start::default()
        },
    )
    .await;
    let logs = proxy.logs();
    assert!(
        logs.contains("descriptor limit: soft 200 raised to the hard limit 4096"),
        "{logs}"
    );
    assert!(
        logs.contains("max_connections 1984 (half the descriptor limit less 64"),
        "{logs}"
    );
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", proxy.child.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        line.split_whitespace().skip(3).take(2).collect::<Vec<_>>(),
        ["4096", "4096"],
        "{line}"
    );
    assert_eq!(metric(&proxy, "attestgate_descriptors_limit").await, 4096.0);
    assert_eq!(metric(&proxy, "attestgate_connections_max").await, 1984.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn at_the_cap_with_every_connection_busy_a_new_one_is_closed_at_once() {
    let up = RecordingUpstream::start(Behaviour::Delay(Duration::from_millis(1500))).await;
    let config = format!(
        "[[route]]\nname = \"slow\"\npath_prefix = \"/\"\nupstream = \"{}\"\ntoken = \"off\"\n",
        up.url()
    );
    let proxy = Proxy::start(
        bin(),
        Start {
            config: &config,
            server_extra: "max_connections = 4\n",
            ..Start::default()
        },
    )
    .await;
    assert_eq!(metric(&proxy, "attestgate_connections_max").await, 4.0);
    // Four requests in progress: the cap, and none idle.
    let mut busy = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        s.write_all(b"GET /slow HTTP/1.1\r\nHost: api.example\r\n\r\n")
            .await
            .unwrap();
        busy.push(s);
    }
    let t = Instant::now();
    while up.count() < 4 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{} upstream requests",
            up.count()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let t = Instant::now();
    let mut fifth = TcpStream::connect(proxy.addr).await.unwrap();
    let _ = fifth
        .write_all(b"GET /fifth HTTP/1.1\r\nHost: api.example\r\n\r\n")
        .await;
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(1), fifth.read(&mut buf))
        .await
        .expect("the fifth connection is closed at once")
        .unwrap_or(0);
    assert_eq!(n, 0, "{:?}", String::from_utf8_lossy(&buf[..n]));
    eprintln!("refused after {:?}", t.elapsed());
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(
        metric(&proxy, "attestgate_connections_refused_total").await,
        1.0
    );
    // The admin is not behind the cap.
    assert_eq!(
        attestgate_testkit::client::Client::new()
            .get(&proxy.admin_url("/readyz"), &[])
            .await
            .status,
        200
    );
    // The four are answered, and were never cut.
    for mut s in busy.drain(..) {
        assert!(again_read(&mut s).await.starts_with("HTTP/1.1 200"));
        drop(s);
    }
    // With room again, a new connection is served.
    let mut sixth = TcpStream::connect(proxy.addr).await.unwrap();
    assert!(again(&mut sixth).await.starts_with("HTTP/1.1 200"));
}

/// The status line of the response already requested on `s`.
async fn again_read(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .map_or(0, |r| r.unwrap_or(0));
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}
