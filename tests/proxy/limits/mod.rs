//! Bounded connections, with the real binary and real sockets
//! (docs/DECISIONS.md, "Bounded connections").
//!
//! - `timeouts.rs`: silent, partial-head, trickling and idle keep-alive
//!   clients over HTTP/1 and TLS, each closed at its configured deadline
//!   while a legitimate client is served throughout; clients that stop
//!   reading are closed by `send_timeout` and release the upstream.
//! - `h2.rs`: HTTP/2 (h2c and TLS): a preface with no stream, a trickled
//!   frame, an idle connection (GOAWAY each time), and a client whose
//!   window stays at zero: memory and upstream connections stay bounded
//!   and are released by the write deadline.
//! - `exhaustion.rs`: the proxy under a descriptor limit of 256 and more
//!   silent connections than that: legitimate requests keep succeeding,
//!   the metrics show the cap and the shedding, and everything returns to
//!   its baseline.
//! - `listeners.rs`: two listeners on one address are refused by
//!   `check-config` and `serve`; a worker that cannot listen ends the
//!   process; a listener lost while serving makes it unhealthy and stop;
//!   start-up names every listener.
//!
//! Short limits keep the suite fast: 1s for a request head, 2s keep-alive,
//! 2.5s HTTP/2 idle, 1.5s per stalled write. The sweeper looks every
//! tenth of the shortest (100ms), so a connection is closed between its
//! deadline and a little after it; [`SLACK`] leaves room for a loaded CI
//! machine.

mod exhaustion;
mod h2;
mod listeners;
mod timeouts;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use attestgate_testkit::proxy::{Proxy, raw_exchange};
use tokio::io::{AsyncRead, AsyncReadExt};

pub(crate) fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_attestgate"))
}

pub(crate) const HEADER: Duration = Duration::from_millis(1000);
pub(crate) const KEEPALIVE: Duration = Duration::from_millis(2000);
pub(crate) const H2_IDLE: Duration = Duration::from_millis(2500);
pub(crate) const SEND: Duration = Duration::from_millis(1500);
/// How late a close may come (the sweeper's tick is 100ms).
pub(crate) const SLACK: Duration = Duration::from_millis(900);
/// How early: never (the server's clock starts after the client's), less
/// the resolution of the measurement.
pub(crate) const EARLY: Duration = Duration::from_millis(100);

/// The `[server]` lines with the short limits.
pub(crate) fn limits() -> String {
    format!(
        "request_header_timeout = \"{}ms\"\nkeepalive_timeout = \"{}ms\"\nh2_idle_timeout = \"{}ms\"\nsend_timeout = \"{}ms\"\n",
        HEADER.as_millis(),
        KEEPALIVE.as_millis(),
        H2_IDLE.as_millis(),
        SEND.as_millis()
    )
}

/// One measured close.
pub(crate) struct Row {
    pub(crate) client: &'static str,
    pub(crate) protocol: &'static str,
    /// Which limit should close it.
    pub(crate) limit: &'static str,
    pub(crate) configured: Duration,
    pub(crate) observed: Duration,
}

/// Prints the rows as a table and checks each closed within its bound.
pub(crate) fn check_rows(title: &str, rows: &[Row]) {
    eprintln!(
        "\n{title}\n| client | protocol | limit | configured | observed |\n|---|---|---|---|---|"
    );
    for r in rows {
        eprintln!(
            "| {} | {} | {} | {:.2}s | {:.2}s |",
            r.client,
            r.protocol,
            r.limit,
            r.configured.as_secs_f64(),
            r.observed.as_secs_f64()
        );
    }
    for r in rows {
        assert!(
            r.observed + EARLY >= r.configured && r.observed <= r.configured + SLACK,
            "{} over {}: closed after {:?}, expected {:?} ({})",
            r.client,
            r.protocol,
            r.observed,
            r.configured,
            r.limit
        );
    }
}

/// Reads (and drops) until the peer closes or fails the connection, or
/// `limit` passes; the time it closed, or `None`.
pub(crate) async fn closed_at<R: AsyncRead + Unpin>(r: &mut R, limit: Duration) -> Option<Instant> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout_at(deadline, r.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(Instant::now()),
            Ok(Ok(_)) => {}
        }
    }
}

/// A client that keeps being served while the test's hostile clients are
/// connected: a request on a fresh connection every 50ms. `stop()` says
/// how many were served and lists every failure.
pub(crate) struct Legit {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<String>>,
    served: Arc<AtomicUsize>,
}

impl Legit {
    pub(crate) fn start(proxy: &Proxy, tls: Option<std::net::SocketAddr>) -> Legit {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        let addr = proxy.addr;
        let task = tokio::spawn(async move {
            let mut failures = Vec::new();
            loop {
                let plain = raw_exchange(
                    addr,
                    b"GET /legit HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\r\n",
                    Duration::from_secs(5),
                )
                .await;
                if plain.starts_with("HTTP/1.1 200") {
                    count.fetch_add(1, Ordering::Relaxed);
                } else {
                    failures.push(format!("plain: {:?}", plain.lines().next()));
                }
                if let Some(tls) = tls {
                    let url = format!("https://localhost:{}/legit", tls.port());
                    match attestgate_testkit::tls::https_get(&url, &[]).await {
                        Ok(r) if r.status == 200 => {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => failures.push(format!("tls: status {}", r.status)),
                        Err(e) => failures.push(format!("tls: {e}")),
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                    _ = stopped.changed() => return failures,
                }
            }
        });
        Legit { stop, task, served }
    }

    /// Stops it; panics if any request failed or none was served.
    pub(crate) async fn stop(self) -> usize {
        let _ = self.stop.send(true);
        let failures = self.task.await.unwrap();
        let served = self.served.load(Ordering::Relaxed);
        assert!(
            failures.is_empty(),
            "legitimate requests failed: {failures:?}"
        );
        assert!(served > 0, "no legitimate request was made");
        served
    }
}

/// Polls `/metrics` until `series` reaches `at_least`; when it did.
pub(crate) async fn metric_reaches(
    proxy: &Proxy,
    series: &str,
    at_least: f64,
    limit: Duration,
) -> Option<Instant> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if proxy.metric(series).await.unwrap_or(0.0) >= at_least {
            return Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}
