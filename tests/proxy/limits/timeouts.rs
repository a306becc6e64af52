//! HTTP/1 and TLS clients that hold a connection without finishing a
//! request, each closed at its deadline; clients that stop reading, closed
//! by `send_timeout`, releasing the upstream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use attestgate_testkit::http::{TestServer, response};
use attestgate_testkit::proxy::{Proxy, Start};
use attestgate_testkit::tls;
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{
    HEADER, KEEPALIVE, Legit, Row, SEND, bin, check_rows, closed_at, limits, metric_reaches,
};

const REQUEST: &[u8] = b"GET /x HTTP/1.1\r\nHost: api.example\r\n\r\n";

/// A proxy with the short limits on a plain and a TLS listener; routes
/// `/big` (32 MiB answers) and everything else (an echo).
pub(crate) async fn proxy_with(
    up: &RecordingUpstream,
    big: &TestServer,
    extra: &str,
) -> (Proxy, std::net::SocketAddr) {
    let tls_port = attestgate_testkit::http::free_port();
    let server_extra = format!(
        "{}{extra}\n[[server.tls]]\nlisten = \"127.0.0.1:{tls_port}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        limits(),
        tls::path("localhost.pem").display(),
        tls::path("localhost.key").display()
    );
    let config = format!(
        "[[route]]\nname = \"big\"\npath_prefix = \"/big\"\nupstream = \"http://{}\"\ntoken = \"off\"\n\n[[route]]\nname = \"echo\"\npath_prefix = \"/\"\nupstream = \"{}\"\ntoken = \"off\"\n",
        big.addr,
        up.url()
    );
    let proxy = Proxy::start(
        bin(),
        Start {
            config: &config,
            server_extra: &server_extra,
            ..Start::default()
        },
    )
    .await;
    (proxy, format!("127.0.0.1:{tls_port}").parse().unwrap())
}

/// An upstream answering every request with `size` bytes.
pub(crate) async fn big_upstream(size: usize) -> TestServer {
    let body = bytes::Bytes::from(vec![b'x'; size]);
    TestServer::start(Arc::new(move |_| {
        let body = body.clone();
        Box::pin(
            async move { response(200, &[("content-type", "application/octet-stream")], body) },
        )
    }))
    .await
}

/// Reads one HTTP/1 response (head and `Content-Length` body).
async fn read_response<R: AsyncRead + Unpin>(r: &mut R) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = r.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed before the response: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
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
                return text;
            }
        }
    }
}

/// Sends `bytes` one at a time, every 150ms, until the peer fails a write.
async fn trickle<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) {
    for b in bytes.iter().cycle() {
        if w.write_all(&[*b]).await.is_err() || w.flush().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// A header line that never ends.
const ENDLESS: &[u8] = b"GET /x HTTP/1.1\r\nHost: api.example\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// The kinds of client, over a stream `S` that `open` makes.
async fn client<S, F, Fut>(kind: &'static str, protocol: &'static str, open: F) -> Row
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    let limit = Duration::from_secs(10);
    let t0 = Instant::now();
    let s = open().await;
    let (mut r, mut w) = tokio::io::split(s);
    let (limit_name, configured, from) = match kind {
        "silent" => ("request_header_timeout", HEADER, t0),
        "partial head" => {
            w.write_all(b"GET /x HTTP/1.1\r\nHost: api.example\r\n")
                .await
                .unwrap();
            ("request_header_timeout", HEADER, t0)
        }
        "trickling head" => {
            tokio::spawn(async move { trickle(&mut w, ENDLESS).await });
            ("request_header_timeout", HEADER, t0)
        }
        "idle keep-alive" => {
            w.write_all(REQUEST).await.unwrap();
            let resp = read_response(&mut r).await;
            assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
            ("keepalive_timeout", KEEPALIVE, Instant::now())
        }
        "kept alive, next head trickled" => {
            w.write_all(REQUEST).await.unwrap();
            read_response(&mut r).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let from = Instant::now();
            tokio::spawn(async move { trickle(&mut w, ENDLESS).await });
            ("request_header_timeout from its first byte", HEADER, from)
        }
        other => panic!("{other}"),
    };
    let closed = closed_at(&mut r, limit)
        .await
        .unwrap_or_else(|| panic!("{kind} over {protocol}: still open after {limit:?}"));
    Row {
        client: kind,
        protocol,
        limit: limit_name,
        configured,
        observed: closed - from,
    }
}

const KINDS: [&str; 5] = [
    "silent",
    "partial head",
    "trickling head",
    "idle keep-alive",
    "kept alive, next head trickled",
];

#[tokio::test(flavor = "multi_thread")]
async fn every_idle_or_slow_client_is_closed_at_its_deadline_while_others_are_served() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let big = big_upstream(32 << 20).await;
    let (proxy, tls) = proxy_with(&up, &big, "").await;
    let legit = Legit::start(&proxy, Some(tls));
    let addr = proxy.addr;
    let mut tasks = Vec::new();
    for kind in KINDS {
        tasks.push(tokio::spawn(client(kind, "HTTP/1.1", move || async move {
            TcpStream::connect(addr).await.unwrap()
        })));
        tasks.push(tokio::spawn(client(
            kind,
            "TLS, HTTP/1.1",
            move || async move { attestgate_testkit::tls::connect(tls, &[b"http/1.1"]).await },
        )));
    }
    // Before or during the TLS handshake.
    tasks.push(tokio::spawn(client(
        "silent",
        "TLS port, no ClientHello",
        move || async move { TcpStream::connect(tls).await.unwrap() },
    )));
    tasks.push(tokio::spawn(client(
        "silent",
        "TLS port, half a ClientHello",
        move || async move {
            let mut s = TcpStream::connect(tls).await.unwrap();
            s.write_all(&[0x16, 0x03, 0x01, 0x02]).await.unwrap();
            s
        },
    )));
    let mut rows = Vec::new();
    for t in tasks {
        rows.push(t.await.unwrap());
    }
    let served = legit.stop().await;
    check_rows(
        "HTTP/1 and TLS clients (configured vs observed close)",
        &rows,
    );
    eprintln!("legitimate requests served meanwhile: {served}, failed: 0");
    for reason in ["header", "keepalive"] {
        assert!(
            proxy
                .metric(&format!(
                    "attestgate_connections_closed_total{{reason=\"{reason}\"}}"
                ))
                .await
                .unwrap()
                >= 2.0,
            "{reason}"
        );
    }
    // The legitimate ones were never cut.
    assert_eq!(
        proxy
            .metric("attestgate_connections_closed_total{reason=\"send\"}")
            .await,
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_is_closed_by_send_timeout_and_the_upstream_released() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let big = big_upstream(32 << 20).await;
    let (proxy, tls) = proxy_with(&up, &big, "").await;
    let legit = Legit::start(&proxy, None);
    let get_big = b"GET /big HTTP/1.1\r\nHost: api.example\r\n\r\n";
    let mut rows = Vec::new();
    for (n, protocol) in [(1.0, "HTTP/1.1"), (2.0, "TLS, HTTP/1.1")] {
        let t0 = Instant::now();
        // Held (and never read) until the end of the round.
        let _held: Box<dyn std::any::Any + Send> = if n == 1.0 {
            let mut s = TcpStream::connect(proxy.addr).await.unwrap();
            s.write_all(get_big).await.unwrap();
            Box::new(s)
        } else {
            let mut s = attestgate_testkit::tls::connect(tls, &[b"http/1.1"]).await;
            s.write_all(get_big).await.unwrap();
            Box::new(s)
        };
        let closed = metric_reaches(
            &proxy,
            "attestgate_connections_closed_total{reason=\"send\"}",
            n,
            Duration::from_secs(10),
        )
        .await
        .unwrap_or_else(|| panic!("{protocol}: the non-reading client was not closed"));
        rows.push(Row {
            client: "not reading a 32 MiB answer",
            protocol,
            limit: "send_timeout",
            configured: SEND,
            observed: closed - t0,
        });
        assert!(
            attestgate_testkit::eventually(Duration::from_secs(3), || big.open_connections() == 0)
                .await,
            "{protocol}: the upstream connection was not released"
        );
    }
    legit.stop().await;
    check_rows("Clients that stop reading", &rows);
    let deadline = Instant::now() + Duration::from_secs(3);
    while proxy.metric("attestgate_connections_open").await != Some(0.0) {
        assert!(Instant::now() < deadline, "connections still open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn max_connection_age_closes_busy_connections_gracefully() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let big = big_upstream(1024).await;
    let (proxy, tls) = proxy_with(&up, &big, "max_connection_age = \"2s\"\n").await;
    let age = Duration::from_secs(2);
    // HTTP/1: a request every 200ms on one connection; a response after
    // the age says `Connection: close`, and the connection ends after it.
    let h1 = tokio::spawn({
        let addr = proxy.addr;
        async move {
            let t0 = Instant::now();
            let mut s = TcpStream::connect(addr).await.unwrap();
            let mut answered = 0;
            loop {
                s.write_all(REQUEST).await.unwrap();
                let resp = read_response(&mut s).await;
                assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
                answered += 1;
                if resp.to_ascii_lowercase().contains("connection: close") {
                    let closed = closed_at(&mut s, Duration::from_secs(5)).await.unwrap();
                    return (closed - t0, answered);
                }
                assert!(t0.elapsed() < Duration::from_secs(8), "never closed");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    // HTTP/2 over TLS: a stream every 200ms; after the age a GOAWAY, the
    // streams already sent are answered, and the connection ends cleanly.
    let h2 = tokio::spawn(async move {
        let t0 = Instant::now();
        let io = attestgate_testkit::tls::connect(tls, &[b"h2"]).await;
        let (client, conn) = h2::client::handshake(io).await.unwrap();
        let mut conn = tokio::spawn(conn);
        let mut answered = 0;
        loop {
            let req = http::Request::get("http://api.example/x").body(()).unwrap();
            let sent = match client.clone().ready().await {
                Ok(mut c) => c.send_request(req, true),
                Err(e) => Err(e),
            };
            match sent {
                Ok((resp, _)) => match resp.await {
                    Ok(resp) => {
                        assert_eq!(resp.status(), 200);
                        answered += 1;
                    }
                    // Sent as the GOAWAY crossed it: not processed, safe to
                    // retry (RFC 9113 §6.8).
                    Err(e) if e.is_go_away() || e.reason() == Some(h2::Reason::REFUSED_STREAM) => {}
                    Err(e) => panic!("a stream failed: {e:?}"),
                },
                // The GOAWAY arrived: no new stream.
                Err(e) => assert!(e.is_go_away() || e.is_io() || e.is_library(), "{e:?}"),
            }
            if conn.is_finished() {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(8), "never closed");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let ended = (&mut conn).await.unwrap();
        assert!(ended.is_ok(), "closed without a GOAWAY: {ended:?}");
        (t0.elapsed(), answered)
    });
    let (h1_closed, h1_answered) = h1.await.unwrap();
    let (h2_closed, h2_answered) = h2.await.unwrap();
    check_rows(
        "max_connection_age",
        &[
            Row {
                client: "a request every 200ms",
                protocol: "HTTP/1.1",
                limit: "max_connection_age (Connection: close)",
                configured: age,
                observed: h1_closed,
            },
            Row {
                client: "a stream every 200ms",
                protocol: "TLS, h2",
                limit: "max_connection_age (GOAWAY)",
                configured: age,
                observed: h2_closed,
            },
        ],
    );
    assert!(
        h1_answered >= 8 && h2_answered >= 8,
        "{h1_answered} {h2_answered}"
    );
    assert_eq!(
        proxy
            .metric("attestgate_connections_closed_total{reason=\"max_age\"}")
            .await,
        Some(2.0)
    );
}
