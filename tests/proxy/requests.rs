//! The canonical request beyond the target (docs/DECISIONS.md): one `Host`, stripped rewrite headers,
//! responses that never echo a substituted secret in any encoding (header or
//! reason phrase), and refusals that answer at once. The real binary, real
//! upstreams, raw TCP where a client library would not send the request.

use std::path::Path;
use std::time::{Duration, Instant};

use attestgate_testkit::peers::raw_http;
use attestgate_testkit::proxy::{Proxy, Start};
use attestgate_testkit::tokens::TestKeys;
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_attestgate"))
}

async fn start(config: &str, server_extra: &str, env: Vec<(String, String)>) -> Proxy {
    Proxy::start(
        bin(),
        Start {
            config,
            server_extra,
            env,
            ..Start::default()
        },
    )
    .await
}

fn routes(keys: &TestKeys, up: &str) -> String {
    format!(
        "[token]\n[[token.secret]]\nbase64 = {{ value = \"{}\" }}\n\n[[route]]\nname = \"secure\"\nhost = \"secure.example\"\npath_prefix = \"/\"\ntoken = \"off\"\nupstream = \"{up}\"\n\n[[route]]\nname = \"default\"\npath_prefix = \"/\"\nupstream = \"{up}\"\n",
        keys.secret_b64
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn one_valid_host_is_required_and_normalised_before_routing() {
    let keys = TestKeys::new();
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let proxy = start(&routes(&keys, &up.url()), "", Vec::new()).await;
    let addr = proxy.addr.to_string();
    let ask = |head: &str| {
        raw_http(
            &addr,
            format!("{head}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .0
    };
    // The `secure` route needs no token: reaching it proves the host matched.
    for host in [
        "secure.example",
        "secure.example.",
        "SECURE.Example",
        "secure.example:8080",
        "secure.example.:443",
    ] {
        assert_eq!(
            ask(&format!("GET /x HTTP/1.1\r\nHost: {host}")),
            200,
            "{host}"
        );
    }
    assert_eq!(ask("GET /x HTTP/1.0\r\nHost: secure.example"), 200);
    assert_eq!(
        ask("GET http://secure.example/x HTTP/1.1\r\nHost: secure.example"),
        200
    );
    // Other hosts fall to the default route, which wants a token.
    assert_eq!(ask("GET /x HTTP/1.1\r\nHost: other.example"), 401);
    assert_eq!(ask("GET /x HTTP/1.1\r\nHost: secure.example.evil"), 401);
    let before = up.count();
    for head in [
        "GET /x HTTP/1.1\r\nHost: secure.example:abc",
        "GET /x HTTP/1.1\r\nHost: secure.example:",
        "GET /x HTTP/1.1\r\nHost: secure.example..",
        "GET /x HTTP/1.1\r\nHost: secure.example:99999",
        "GET /x HTTP/1.1\r\nHost: user@secure.example",
        "GET /x HTTP/1.1\r\nHost: secure.example/x",
        "GET /x HTTP/1.1\r\nHost: secure example",
        "GET /x HTTP/1.1\r\nHost: ",
        "GET /x HTTP/1.1\r\nHost: secure.example\r\nHost: secure.example",
        "GET /x HTTP/1.1\r\nHost: secure.example\r\nHost: other.example",
        "GET /x HTTP/1.1\r\nX-No-Host: 1",
        "GET /x HTTP/1.0\r\nX-No-Host: 1",
        "GET http://other.example/x HTTP/1.1\r\nHost: secure.example",
        "GET http://secure.example/x HTTP/1.1\r\nHost: other.example",
        "GET http://secure.example:81/x HTTP/1.1\r\nHost: secure.example:82",
    ] {
        assert_eq!(ask(head), 400, "{head:?}");
    }
    assert_eq!(up.count(), before, "a refused request reached the upstream");
    // Absolute-form is forwarded in origin-form.
    assert_eq!(
        ask("GET http://secure.example//a/%62?q=1 HTTP/1.1\r\nHost: secure.example"),
        200
    );
    let seen = up.seen();
    let last = seen.last().unwrap();
    assert_eq!(last.uri.to_string(), "/a/b?q=1");
}

#[tokio::test(flavor = "multi_thread")]
async fn rewrite_headers_and_configured_ones_are_stripped() {
    let keys = TestKeys::new();
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let proxy = start(
        &routes(&keys, &up.url()),
        "strip_request_headers = [\"X-Internal-Admin\", \"x-debug\"]",
        Vec::new(),
    )
    .await;
    let (status, _) = raw_http(
        &proxy.addr.to_string(),
        b"GET /public HTTP/1.1\r\nHost: secure.example\r\nX-Original-URL: /admin\r\nx-rewrite-url: /admin\r\nX-Internal-Admin: 1\r\nX-Debug: 1\r\nX-Kept: yes\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);
    let seen = up.seen();
    let h = &seen.last().unwrap().headers;
    for gone in [
        "x-original-url",
        "x-rewrite-url",
        "x-internal-admin",
        "x-debug",
    ] {
        assert!(!h.contains_key(gone), "{gone} was forwarded");
    }
    assert_eq!(h.get("x-kept").unwrap(), "yes");
}

/// Independent encoders (not the proxy's): what clients and frameworks
/// produce for a value.
fn pct(value: &str, keep: &str, lower: bool, plus: bool) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || keep.as_bytes().contains(&b) {
            out.push(b as char);
        } else if plus && b == b' ' {
            out.push('+');
        } else if lower {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const SECRET: &str = "sk_live/real key+1=x&y~z";

fn encodings() -> Vec<(&'static str, String)> {
    let quote = pct(SECRET, "_.-~/", false, false);
    vec![
        ("x-raw", SECRET.to_owned()),
        ("x-quote", quote.clone()),
        ("x-quote-lower", pct(SECRET, "_.-~/", true, false)),
        ("x-quote-plus", pct(SECRET, "_.-~", false, true)),
        (
            "x-encodeuri",
            pct(SECRET, "_.-~!*'();/?:@&=+$,#", false, false),
        ),
        (
            "x-encodeuricomponent",
            pct(SECRET, "_.-~!*'()", false, false),
        ),
        ("x-all-lower", pct(SECRET, "", true, false)),
        ("x-double", quote.replace('%', "%25")),
        ("x-json", SECRET.replace('/', "\\/")),
        ("x-in-url", format!("https://cb.example/cb?key={quote}&x=1")),
        (
            "set-cookie",
            format!("k={}; Path=/", pct(SECRET, "_.-~", false, false)),
        ),
    ]
}

/// A raw HTTP/1.1 upstream that answers every request with the substituted
/// secret it received echoed in every encoding, and in the reason phrase.
async fn echoing_upstream() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&buf);
                let got = text
                    .lines()
                    .find_map(|l| l.strip_prefix("api-key: "))
                    .unwrap_or("none")
                    .to_owned();
                assert_eq!(got, SECRET, "the upstream did not get the secret");
                let mut resp = format!("HTTP/1.1 200 {got}\r\n");
                for (name, value) in encodings() {
                    resp.push_str(&format!("{name}: {value}\r\n"));
                }
                resp.push_str("x-safe: fine\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn response_headers_and_reason_never_echo_a_substituted_secret() {
    let keys = TestKeys::new();
    let (url, _task) = echoing_upstream().await;
    let config = format!(
        "[token]\n[[token.secret]]\nbase64 = {{ value = \"{}\" }}\n\n[[route]]\nname = \"api\"\nupstream = \"{url}\"\n[[route.substitute]]\nheader = \"Api-Key\"\nplaceholder = \"ph\"\nsecret = {{ env = \"TEST_SECRET\" }}\n",
        keys.secret_b64
    );
    let proxy = start(&config, "", vec![("TEST_SECRET".into(), SECRET.into())]).await;
    let token = keys.hs256(300, json!({}));
    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(
        format!("GET /x HTTP/1.1\r\nHost: a\r\nApproov-Token: {token}\r\nApi-Key: ph\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    let lower = text.to_ascii_lowercase();
    for (name, value) in encodings() {
        assert!(
            !lower.contains(&format!("\n{name}:")),
            "{name} reached the client:\n{text}"
        );
        assert!(!text.contains(&value), "{value} reached the client");
    }
    assert!(lower.contains("\nx-safe: fine"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reason_phrase_is_always_the_standard_one() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut chunk = [0u8; 4096];
            let _ = s.read(&mut chunk).await;
            let _ = s
                .write_all(b"HTTP/1.1 404 user alice@example.com not found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await;
        }
    });
    let proxy = start(
        &format!("[[route]]\nname = \"open\"\ntoken = \"off\"\nupstream = \"{url}\"\n"),
        "",
        Vec::new(),
    )
    .await;
    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
}

/// Reads one response head from `s` (until the blank line), with a bound.
async fn read_head(s: &mut tokio::net::TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("no answer within 5 s: the proxy waited for the body")
            .unwrap();
        assert!(n > 0, "closed without an answer");
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_answer_at_once_without_waiting_for_an_announced_body() {
    let keys = TestKeys::new();
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let proxy = start(&routes(&keys, &up.url()), "", Vec::new()).await;
    for head in [
        "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n",
        "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n",
        "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nApproov-Token: NO_NETWORK\r\n\r\n",
        // refused by the target rules before routing, with a body announced
        "POST /a/../x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n",
    ] {
        let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
        let t = Instant::now();
        s.write_all(head.as_bytes()).await.unwrap();
        let answer = read_head(&mut s).await;
        eprintln!(
            "answered in {:?}: {}",
            t.elapsed(),
            answer.lines().next().unwrap_or("")
        );
        assert!(answer.starts_with("HTTP/1.1 40"), "{answer}");
    }
    // Expect: 100-continue on a refused request: the final answer, never
    // `100`, and the connection closes so no body follows.
    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(
        b"PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let answer = read_head(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(!answer.contains(" 100 "), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert_eq!(up.count(), 0, "a refused request reached the upstream");
    // A passing Expect request still gets its 100 (from the upstream) and
    // its answer.
    let token = keys.hs256(300, json!({}));
    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(format!("PUT /x HTTP/1.1\r\nHost: a\r\nApproov-Token: {token}\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let first = read_head(&mut s).await;
    if first.starts_with("HTTP/1.1 100") {
        s.write_all(b"hello").await.unwrap();
        let answer = read_head(&mut s).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    } else {
        panic!("a passing Expect request got {first}");
    }
}
