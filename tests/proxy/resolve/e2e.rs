//! `[[route]] resolve_interval` through the real binary (docs/DECISIONS.md,
//! "Upstream re-resolution"): the
//! upstream is a name that `[server] hosts_file` resolves (a file the test
//! rewrites while the proxy serves); requests spread over every address,
//! a changed answer is picked up within the interval, and an address that
//! refuses connections is skipped until the next resolve.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use attestgate_testkit::peers::raw_http;
use attestgate_testkit::proxy::{Proxy, Start};
use attestgate_testkit::{TempDir, eventually_async};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How often the proxy resolves the upstream's name.
const INTERVAL: Duration = Duration::from_millis(200);

/// A minimal HTTP/1.1 upstream that answers every request with its own
/// address, so the test sees where each request went.
fn serve_who(listener: TcpListener) -> tokio::task::JoinHandle<()> {
    let me = listener.local_addr().unwrap().ip().to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let me = me.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let body = format!("who={me}");
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    })
}

/// Listeners on 127.0.0.2 and 127.0.0.3 with the same port.
async fn pair() -> (TcpListener, TcpListener) {
    for _ in 0..50 {
        let a = TcpListener::bind("127.0.0.2:0").await.unwrap();
        let port = a.local_addr().unwrap().port();
        if let Ok(b) = TcpListener::bind(("127.0.0.3", port)).await {
            return (a, b);
        }
    }
    panic!("no port free on both 127.0.0.2 and 127.0.0.3");
}

fn tally(addr: &str, n: usize) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for _ in 0..n {
        let (status, body) = raw_http(
            addr,
            b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        );
        let key = if status == 200 {
            String::from_utf8_lossy(&body).into_owned()
        } else {
            format!("status={status}")
        };
        *out.entry(key).or_insert(0) += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_follow_the_names_addresses_while_serving() {
    let dir = TempDir::new("resolve-e2e");
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "127.0.0.2 api.internal\n127.0.0.3 api.internal\n").unwrap();
    let (a, b) = pair().await;
    let port = a.local_addr().unwrap().port();
    let _a = serve_who(a);
    let b_task = serve_who(b);
    let config = format!(
        "[[route]]\nname = \"api\"\ntoken = \"off\"\nupstream = \"http://api.internal:{port}\"\nresolve_interval = \"{}ms\"\n",
        INTERVAL.as_millis()
    );
    let proxy = Proxy::start(
        Path::new(env!("CARGO_BIN_EXE_attestgate")),
        Start {
            config: &config,
            server_extra: &format!("hosts_file = \"{}\"", hosts.display()),
            ..Start::default()
        },
    )
    .await;
    let addr = proxy.addr.to_string();
    let t = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || tally(&addr, 20)
    });
    let spread = t.await.unwrap();
    assert_eq!(spread.get("who=127.0.0.2"), Some(&10), "{spread:?}");
    assert_eq!(spread.get("who=127.0.0.3"), Some(&10), "{spread:?}");

    // The name moves to one address: picked up at the next resolve, and
    // from then on every request goes there.
    std::fs::write(&hosts, "127.0.0.3 api.internal\n").unwrap();
    let only_b = eventually_async(Duration::from_secs(10), || {
        let addr = addr.clone();
        async move {
            let t = tokio::task::spawn_blocking(move || tally(&addr, 4));
            t.await.unwrap().get("who=127.0.0.3") == Some(&4)
        }
    })
    .await;
    assert!(only_b, "the new answer was never picked up");
    let a2 = addr.clone();
    let moved = tokio::task::spawn_blocking(move || tally(&a2, 10))
        .await
        .unwrap();
    assert_eq!(moved.get("who=127.0.0.3"), Some(&10), "{moved:?}");

    // Both again, and 127.0.0.3 stops listening. Until the next resolve
    // the answer is still 127.0.0.3 alone (every request a 502: no
    // retries); once 127.0.0.2 answers, the new answer is in use, and from
    // then on 127.0.0.3 is skipped after its first refused connection,
    // until the next resolve.
    std::fs::write(&hosts, "127.0.0.2 api.internal\n127.0.0.3 api.internal\n").unwrap();
    b_task.abort();
    let _ = b_task.await;
    let both_again = eventually_async(Duration::from_secs(10), || {
        let addr = addr.clone();
        async move {
            let t = tokio::task::spawn_blocking(move || tally(&addr, 1));
            t.await.unwrap().contains_key("who=127.0.0.2")
        }
    })
    .await;
    assert!(
        both_again,
        "the answer with both addresses was never picked up"
    );
    let a3 = addr.clone();
    let started = std::time::Instant::now();
    let after = tokio::task::spawn_blocking(move || tally(&a3, 12))
        .await
        .unwrap();
    // Each resolve (every 200ms) may try it once more.
    let resolves = (started.elapsed().as_millis() / INTERVAL.as_millis()) as usize + 1;
    let failed = after.get("status=502").copied().unwrap_or(0);
    assert!(failed <= resolves, "{after:?} over {resolves} resolve(s)");
    assert_eq!(
        after.get("who=127.0.0.2").copied().unwrap_or(0) + failed,
        12,
        "{after:?}"
    );
}
