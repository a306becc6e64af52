//! HTTP/2 (h2c with prior knowledge, and h2 over TLS by ALPN) with the
//! `h2` crate as the client: idle connections get a GOAWAY at their
//! deadline (the client's connection then ends cleanly, which it does only
//! after a GOAWAY); a client that keeps its window at zero holds memory
//! and upstream connections only until the write deadline.

use std::time::{Duration, Instant};

use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::timeouts::{big_upstream, proxy_with};
use super::{H2_IDLE, HEADER, Legit, Row, SEND, check_rows, closed_at};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the client does before it waits for the server to close.
#[derive(Clone, Copy)]
enum Kind {
    /// The preface and SETTINGS (the handshake), then nothing.
    PrefaceOnly,
    /// One request, answered in full, then nothing.
    IdleAfterStream,
}

/// Runs one `h2` client over `io` and times the close; the connection must
/// end cleanly (a GOAWAY came first).
async fn h2_client<S>(io: S, kind: Kind, protocol: &'static str, t0: Instant) -> Row
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (client, conn) = h2::client::handshake(io).await.unwrap();
    let conn = tokio::spawn(conn);
    let (name, limit, configured, from) = match kind {
        Kind::PrefaceOnly => (
            "preface, no stream",
            "request_header_timeout, GOAWAY",
            HEADER,
            t0,
        ),
        Kind::IdleAfterStream => {
            let mut client = client.clone().ready().await.unwrap();
            let req = http::Request::get("http://api.example/x").body(()).unwrap();
            let (resp, _) = client.send_request(req, true).unwrap();
            let resp = resp.await.unwrap();
            assert_eq!(resp.status(), 200);
            let mut body = resp.into_body();
            while let Some(chunk) = body.data().await {
                let chunk = chunk.unwrap();
                let _ = body.flow_control().release_capacity(chunk.len());
            }
            (
                "idle after a stream",
                "h2_idle_timeout, GOAWAY",
                H2_IDLE,
                Instant::now(),
            )
        }
    };
    let ended = tokio::time::timeout(Duration::from_secs(10), conn)
        .await
        .unwrap_or_else(|_| panic!("{name} over {protocol}: still open"))
        .unwrap();
    let closed = Instant::now();
    assert!(
        ended.is_ok(),
        "{name} over {protocol}: closed without a GOAWAY: {ended:?}"
    );
    drop(client);
    Row {
        client: name,
        protocol,
        limit,
        configured,
        observed: closed - from,
    }
}

/// A raw client that sends the preface and then a frame header one byte
/// at a time, never a whole frame (the attack itself; it reads what the
/// server sends and answers nothing).
async fn partial_frame<S>(mut io: S, protocol: &'static str, t0: Instant) -> Row
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    io.write_all(PREFACE).await.unwrap();
    let (mut r, mut w) = tokio::io::split(io);
    tokio::spawn(async move {
        // A SETTINGS frame header announcing 6 bytes, then its payload,
        // slowly; the last byte never comes.
        for b in [0u8, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0] {
            if w.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        std::future::pending::<()>().await;
    });
    let closed = closed_at(&mut r, Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("partial frame over {protocol}: still open"));
    Row {
        client: "preface, then a frame trickled",
        protocol,
        limit: "request_header_timeout + send_timeout (GOAWAY unanswered)",
        configured: HEADER + SEND,
        observed: closed - t0,
    }
}

/// The preface itself, one byte at a time.
async fn trickled_preface(protocol: &'static str, addr: std::net::SocketAddr) -> Row {
    let t0 = Instant::now();
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut r, mut w) = tokio::io::split(s);
    tokio::spawn(async move {
        for b in &PREFACE[..PREFACE.len() - 1] {
            if w.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        std::future::pending::<()>().await;
    });
    let closed = closed_at(&mut r, Duration::from_secs(10)).await.unwrap();
    Row {
        client: "preface trickled",
        protocol,
        limit: "request_header_timeout",
        configured: HEADER,
        observed: closed - t0,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_and_stalled_http2_connections_get_a_goaway_at_their_deadline() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let big = big_upstream(1 << 20).await;
    let (proxy, tls) = proxy_with(&up, &big, "").await;
    let legit = Legit::start(&proxy, Some(tls));
    let addr = proxy.addr;
    let mut tasks = Vec::new();
    for kind in [Kind::PrefaceOnly, Kind::IdleAfterStream] {
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            h2_client(TcpStream::connect(addr).await.unwrap(), kind, "h2c", t0).await
        }));
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let s = attestgate_testkit::tls::connect(tls, &[b"h2"]).await;
            assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
            h2_client(s, kind, "TLS, h2", t0).await
        }));
    }
    tasks.push(tokio::spawn(async move {
        let t0 = Instant::now();
        partial_frame(TcpStream::connect(addr).await.unwrap(), "h2c", t0).await
    }));
    tasks.push(tokio::spawn(async move {
        let t0 = Instant::now();
        partial_frame(
            attestgate_testkit::tls::connect(tls, &[b"h2"]).await,
            "TLS, h2",
            t0,
        )
        .await
    }));
    tasks.push(tokio::spawn(trickled_preface("h2c", addr)));
    let mut rows = Vec::new();
    for t in tasks {
        rows.push(t.await.unwrap());
    }
    legit.stop().await;
    check_rows("HTTP/2 clients (configured vs observed close)", &rows);
    assert!(
        proxy
            .metric("attestgate_connections_closed_total{reason=\"h2_idle\"}")
            .await
            .unwrap()
            >= 2.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_zero_window_client_holds_memory_and_upstreams_only_until_the_write_deadline() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let big = big_upstream(1 << 20).await;
    let (proxy, _tls) = proxy_with(&up, &big, "").await;
    // Warm up (on the echo route: every connection `big` counts is one of
    // the zero-window client's streams).
    for _ in 0..20 {
        let c = attestgate_testkit::h2::H2Conn::h2c(proxy.addr).await;
        c.send("GET", "/warm", &[], "").await.unwrap();
    }
    let base_rss = proxy.rss_kib();
    let pooled = big.open_connections();
    assert_eq!(pooled, 0);
    let tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let (client, conn) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, Bytes>(tcp)
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let mut client = client;
    let mut responses = Vec::new();
    for i in 0..100 {
        client = client.ready().await.unwrap();
        let req = http::Request::get(format!("http://api.example/big/{i}"))
            .body(())
            .unwrap();
        let (resp, _) = client.send_request(req, true).unwrap();
        responses.push(resp);
    }
    // Every stream's upstream answers; nothing can be sent to the client.
    assert!(
        attestgate_testkit::eventually(Duration::from_secs(5), || {
            big.open_connections() >= pooled + 100
        })
        .await,
        "upstream connections: {} ({pooled} pooled before)",
        big.open_connections()
    );
    let held = big.open_connections() - pooled;
    assert_eq!(held, 100, "one upstream connection per stream, no more");
    let stalled = Instant::now();
    let mut peak = 0;
    while big.open_connections() > pooled && stalled.elapsed() < Duration::from_secs(10) {
        peak = peak.max(proxy.rss_kib());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let released = stalled.elapsed();
    assert!(
        big.open_connections() <= pooled,
        "upstreams still held after 10s: {}",
        big.open_connections()
    );
    eprintln!(
        "\nzero-window client, 100 streams of 1 MiB: RSS before {} MiB, peak {} MiB (+{} MiB); \
         100 upstream connections released {:.2}s after the stall (send_timeout {:.1}s)",
        base_rss / 1024,
        peak / 1024,
        peak.saturating_sub(base_rss) / 1024,
        released.as_secs_f64(),
        SEND.as_secs_f64()
    );
    check_rows(
        "HTTP/2 zero window",
        &[Row {
            client: "window 0, 100 streams of 1 MiB",
            protocol: "h2c",
            limit: "send_timeout (per stream)",
            configured: SEND,
            observed: released,
        }],
    );
    // Bounded: Pingora reads ahead at most a few 64 KiB chunks per
    // stream (its pipe to the client holds four, one batch is being
    // written, one is read from the upstream): about 0.55 MiB a stream,
    // here 100 streams; the upstream is back-pressured beyond that.
    assert!(
        peak.saturating_sub(base_rss) < 80 * 1024,
        "held {} MiB for one client",
        peak.saturating_sub(base_rss) / 1024
    );
    // Every stream was reset, none got its body.
    for resp in responses {
        if let Ok(resp) = resp.await {
            let mut body = resp.into_body();
            assert!(body.data().await.is_none_or(|d| d.is_err()));
        }
    }
    drop(client);
    let _ = tokio::time::timeout(Duration::from_secs(10), conn).await;
}
