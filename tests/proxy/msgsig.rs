//! Approov message signing through the real proxy binary (DESIGN §12):
//! Approov's four script cases signed with its test key pass; every
//! altered request is refused (`signature`) before the upstream sees a
//! byte; a signature sent twice is refused (`replay`); bodies over
//! `max_body_bytes` get 413 and reach nothing; monitor mode lets failures
//! through.
//!
//! The fleet: three proxies on 127.0.0.1, .2 and .3 sharing one real
//! `redis-server`: a signature seen by one is refused by the others; with
//! Redis stopped, `on_redis_error` refuses or allows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use attestgate::msgsig::{self, RequestParts};
use attestgate_testkit::client::{Client, Reply, request};
use attestgate_testkit::msgsig::{ApproovVectors, InstallSigner};
use attestgate_testkit::proxy::{Proxy, Start};
use attestgate_testkit::redis::RedisServer;
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};
use base64::Engine;
use http::HeaderMap;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_attestgate"))
}

const BODY: &[u8] = b"My test message body";
const FULL: &str = r#"("@method" "@target-uri" "approov-token")"#;
const FULL_DIGEST: &str = r#"("@method" "@target-uri" "approov-token" "content-digest")"#;

fn now() -> i64 {
    attestgate_testkit::now() as i64
}

fn sha256_b64(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(ring::digest::digest(&ring::digest::SHA256, body))
}

/// A request as the SDK would send it: the headers to add to it.
struct Signed {
    method: String,
    path: String,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

struct Req<'a> {
    method: &'a str,
    authority: &'a str,
    path: &'a str,
    body: &'a [u8],
    /// `Content-Digest` to send (and sign when covered).
    digest: Option<String>,
    components: &'a str,
    created: i64,
    signer: &'a InstallSigner,
}

fn sign(r: Req<'_>) -> Signed {
    let token = ApproovVectors::token();
    let mut h = HeaderMap::new();
    h.insert("approov-token", token.parse().unwrap());
    if let Some(d) = &r.digest {
        h.insert("content-digest", d.parse().unwrap());
    }
    let parts = RequestParts {
        method: r.method,
        scheme: "http",
        authority: r.authority,
        path_and_query: r.path,
        headers: &h,
    };
    let member = format!(
        "{};alg=\"{}\";created={}",
        r.components,
        msgsig::ALG,
        r.created
    );
    let (input, sig) = r.signer.sign(&parts, &member);
    let mut headers = vec![
        ("approov-token".to_owned(), token),
        ("signature-input".to_owned(), input),
        ("signature".to_owned(), sig),
    ];
    if let Some(d) = r.digest {
        headers.push(("content-digest".to_owned(), d));
    }
    Signed {
        method: r.method.to_owned(),
        path: r.path.to_owned(),
        body: r.body.to_vec(),
        headers,
    }
}

fn get(authority: &str, path: &str, components: &str, signer: &InstallSigner) -> Signed {
    sign(Req {
        method: "GET",
        authority,
        path,
        body: b"",
        digest: None,
        components,
        created: now(),
        signer,
    })
}

fn post(authority: &str, path: &str, body: &[u8], signer: &InstallSigner) -> Signed {
    sign(Req {
        method: "POST",
        authority,
        path,
        body,
        digest: Some(format!("sha-256=:{}:", sha256_b64(body))),
        components: FULL_DIGEST,
        created: now(),
        signer,
    })
}

async fn send(c: &Client, base: &str, s: &Signed, host: Option<&str>) -> Reply {
    let mut headers: Vec<(&str, &str)> = s
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Some(h) = host {
        headers.push(("host", h));
    }
    c.send(request(
        &s.method,
        &format!("{base}{}", s.path),
        &headers,
        s.body.clone(),
    ))
    .await
}

fn config(up: &str, signing: &str) -> String {
    format!(
        r#"[token]
[[token.secret]]
base64 = {{ value = "{secret}" }}

[[route]]
name = "script"
path_prefix = "/script"
upstream = "{up}"
[route.policy.message_signing]
min_components = ["@method", "approov-token"]

[[route]]
name = "watch"
path_prefix = "/watch"
upstream = "{up}"
mode = "monitor"
[route.policy.message_signing]

[[route]]
name = "api"
path_prefix = "/"
upstream = "{up}"
[route.policy.message_signing]
max_body_bytes = 262144
{signing}
"#,
        secret = ApproovVectors::secret()
    )
}

async fn start(up: &RecordingUpstream, signing: &str) -> Proxy {
    Proxy::start(
        bin(),
        Start {
            config: &config(&up.url(), signing),
            ..Start::default()
        },
    )
    .await
}

async fn rejections(p: &Proxy, route: &str, reason: &str) -> f64 {
    p.metric(&format!(
        "attestgate_rejections_total{{reason=\"{reason}\",route=\"{route}\"}}"
    ))
    .await
    .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approovs_four_script_cases_pass_and_the_upstream_gets_the_body() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let p = start(&up, "").await;
    let (c, key, base) = (Client::new(), InstallSigner::approov_test_key(), p.url(""));
    let a = p.addr.to_string();
    let d = sha256_b64(BODY);
    let q = "?param1=value1&param2=value2";
    let cases = [
        (
            "GET",
            "/script/token",
            r#"("@method" "approov-token")"#,
            None,
        ),
        ("GET", "/token", FULL, None),
        (
            "POST",
            "/token",
            FULL_DIGEST,
            Some(format!("sha-256=\"{d}\"")),
        ),
        (
            "POST",
            "/token",
            FULL_DIGEST,
            Some(format!("sha-256=:{d}:")),
        ),
    ];
    for (i, (method, path, components, digest)) in cases.into_iter().enumerate() {
        let body: &[u8] = if method == "POST" { BODY } else { b"" };
        let s = sign(Req {
            method,
            authority: &a,
            path: &format!("{path}{q}"),
            body,
            digest,
            components,
            created: now(),
            signer: &key,
        });
        let r = send(&c, &base, &s, None).await;
        assert_eq!(r.status, 200, "case {}: {}", i + 1, r.text());
        let seen = up.last().unwrap();
        assert_eq!(&seen.body[..], body, "case {}", i + 1);
        assert_eq!(seen.method.as_str(), method);
    }
    assert_eq!(up.count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_altered_request_is_refused_before_the_upstream() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let p = start(&up, "").await;
    let (c, key, base) = (Client::new(), InstallSigner::approov_test_key(), p.url(""));
    let a = p.addr.to_string();
    let mut cases: Vec<(&str, Signed)> = Vec::new();

    let mut s = get(&a, "/x?q=1", FULL, &key);
    s.method = "DELETE".into();
    cases.push(("method", s));
    let mut s = get(&a, "/x?q=1", FULL, &key);
    s.path = "/x?q=2".into();
    cases.push(("one query byte", s));
    let mut s = get(&a, "/x?q=1", FULL, &key);
    s.path = "/y?q=1".into();
    cases.push(("path", s));
    let mut s = post(&a, "/x", BODY, &key);
    s.body[0] ^= 1;
    cases.push(("one body byte", s));
    let mut s = post(&a, "/x", BODY, &key);
    s.body.push(b'!');
    cases.push(("a byte more", s));
    // A digest of another body, signed: the signature holds, the body
    // does not match.
    let mut s = sign(Req {
        method: "POST",
        authority: &a,
        path: "/x",
        body: BODY,
        digest: Some(format!("sha-256=:{}:", sha256_b64(b"other"))),
        components: FULL_DIGEST,
        created: now(),
        signer: &key,
    });
    s.body = BODY.to_vec();
    cases.push(("digest mismatch", s));
    cases.push((
        "body without content-digest",
        sign(Req {
            method: "POST",
            authority: &a,
            path: "/x",
            body: BODY,
            digest: None,
            components: FULL,
            created: now(),
            signer: &key,
        }),
    ));
    let mut s = post(&a, "/x", BODY, &key);
    s.headers.retain(|(k, _)| k != "content-digest");
    cases.push(("content-digest removed", s));
    for (why, created) in [("expired", now() - 120), ("in the future", now() + 60)] {
        cases.push((
            why,
            sign(Req {
                method: "GET",
                authority: &a,
                path: "/x",
                body: b"",
                digest: None,
                components: FULL,
                created,
                signer: &key,
            }),
        ));
    }
    cases.push((
        "missing component @target-uri",
        get(&a, "/x", r#"("@method" "approov-token")"#, &key),
    ));
    cases.push(("wrong key", get(&a, "/x", FULL, &InstallSigner::generate())));
    cases.push(("other authority", get("127.0.0.9:1", "/x", FULL, &key)));
    let mut s = get(&a, "/x", FULL, &key);
    let (input, sig) = (s.headers[1].1.clone(), s.headers[2].1.clone());
    s.headers[1].1 = format!("{input}, {input}");
    s.headers[2].1 = format!("{sig}, {sig}");
    cases.push(("a second install label", s));
    let mut s = get(&a, "/x", FULL, &key);
    s.headers[1].1 = "install=(\"@method\";alg=".into();
    cases.push(("malformed Signature-Input", s));
    let mut s = get(&a, "/x", FULL, &key);
    s.headers.truncate(1);
    cases.push(("unsigned", s));
    let mut s = get(&a, "/x", FULL, &key);
    s.headers.remove(2);
    cases.push(("Signature-Input without Signature", s));
    let mut s = get(&a, "/x", FULL, &key);
    s.headers[2].1 = "install=:AAAA:".into();
    cases.push(("short signature", s));

    for (why, s) in &cases {
        let r = send(&c, &base, s, None).await;
        assert_eq!(r.status, 401, "{why}: {}", r.text());
        assert_eq!(r.text(), "{}", "{why}");
    }
    assert_eq!(up.count(), 0, "the upstream saw a refused request");
    assert_eq!(rejections(&p, "api", "signature").await, cases.len() as f64);
    let logs = p.logs();
    assert!(logs.contains("message signature check failed"), "{logs}");
    assert!(!logs.contains(&ApproovVectors::token()), "the token leaked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_signature_twice_is_a_replay() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let p = start(&up, "").await;
    let (c, key, base) = (Client::new(), InstallSigner::approov_test_key(), p.url(""));
    let a = p.addr.to_string();
    let s = post(&a, "/x", BODY, &key);
    assert_eq!(send(&c, &base, &s, None).await.status, 200);
    let again = send(&c, &base, &s, None).await;
    assert_eq!(again.status, 401, "{}", again.text());
    assert_eq!(up.count(), 1);
    assert_eq!(rejections(&p, "api", "replay").await, 1.0);
    // A new signature of the same request is no replay.
    assert_eq!(
        send(&c, &base, &post(&a, "/x", BODY, &key), None)
            .await
            .status,
        200
    );
    assert_eq!(
        p.metric("attestgate_requests_total{outcome=\"allowed\",route=\"api\"}")
            .await,
        Some(2.0),
        "each request counted once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_max_body_bytes_get_413_and_reach_nothing() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let p = start(&up, "").await;
    let (c, key, base) = (Client::new(), InstallSigner::approov_test_key(), p.url(""));
    let a = p.addr.to_string();
    // Within the limit and over Pingora's 64 KiB retry buffer: the whole
    // body arrives, byte for byte.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let r = send(&c, &base, &post(&a, "/x", &big, &key), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.last().unwrap().body.len(), big.len());
    assert_eq!(&up.last().unwrap().body[..], &big[..]);
    let before = up.count();
    let huge = vec![b'x'; 262_145];
    let r = send(&c, &base, &post(&a, "/x", &huge, &key), None).await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.text(), "{}");
    assert_eq!(
        up.count(),
        before,
        "the upstream received an oversized body"
    );
    // An unsigned big body on the signed route: refused (signature
    // required) without reading it, still nothing upstream.
    let mut s = post(&a, "/x", &huge, &key);
    s.headers.truncate(1);
    assert_eq!(send(&c, &base, &s, None).await.status, 401);
    assert_eq!(up.count(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_mode_lets_a_bad_signature_through_and_counts_it() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let p = start(&up, "").await;
    let (c, base) = (Client::new(), p.url(""));
    let a = p.addr.to_string();
    let s = get(&a, "/watch/x", FULL, &InstallSigner::generate());
    assert_eq!(send(&c, &base, &s, None).await.status, 200);
    assert_eq!(up.count(), 1);
    assert_eq!(rejections(&p, "watch", "signature").await, 1.0);
    assert_eq!(
        p.metric("attestgate_requests_total{outcome=\"monitored\",route=\"watch\"}")
            .await,
        Some(1.0)
    );
}

const HOSTS: [&str; 3] = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
/// What a load balancer in front of the fleet is called: the client signs
/// this authority whichever instance gets the request.
const LB: &str = "api.example.com";

fn fleet_config(up: &str, redis: &str) -> String {
    format!(
        r#"[token]
[[token.secret]]
base64 = {{ value = "{secret}" }}

[[route]]
name = "strict"
path_prefix = "/strict"
upstream = "{up}"
[route.policy.message_signing]
replay = "redis"
redis_url = "{redis}"
redis_timeout = "300ms"

[[route]]
name = "lenient"
path_prefix = "/lenient"
upstream = "{up}"
[route.policy.message_signing]
replay = "redis"
redis_url = "{redis}"
redis_timeout = "300ms"
on_redis_error = "allow"
"#,
        secret = ApproovVectors::secret()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fleet_sharing_redis_refuses_a_replay_on_every_instance() {
    let mut redis = RedisServer::start();
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let config = fleet_config(&up.url(), &redis.url());
    let mut fleet = Vec::new();
    for host in HOSTS {
        fleet.push(
            Proxy::start_on_host(
                bin(),
                host,
                Start {
                    config: &config,
                    ..Start::default()
                },
            )
            .await,
        );
    }
    let (c, key) = (Client::new(), InstallSigner::approov_test_key());
    // Each instance sees a fresh signature first, then the ones the others
    // saw.
    let signed: Vec<Signed> = (0..3).map(|_| post(LB, "/strict/x", BODY, &key)).collect();
    for (i, p) in fleet.iter().enumerate() {
        let r = send(&c, &p.url(""), &signed[i], Some(LB)).await;
        assert_eq!(r.status, 200, "{}: {}", p.addr, r.text());
    }
    let mut replays = 0;
    for (i, p) in fleet.iter().enumerate() {
        for (j, s) in signed.iter().enumerate() {
            if i == j {
                continue;
            }
            let r = send(&c, &p.url(""), s, Some(LB)).await;
            assert_eq!(
                r.status, 401,
                "{} accepted a replay from instance {j}",
                p.addr
            );
            replays += 1;
        }
    }
    assert_eq!(up.count(), 3, "only first uses reached the upstream");
    let mut counted = 0.0;
    for p in &fleet {
        counted += rejections(p, "strict", "replay").await;
    }
    assert_eq!(counted, replays as f64);
    eprintln!("fleet: 3 first uses passed, {replays} cross-instance replays refused");

    // Redis goes away mid-test: the strict route refuses, the lenient one
    // lets fresh signatures through; both count the store errors.
    redis.stop();
    for p in &fleet {
        let s = get(LB, "/strict/y", FULL, &key);
        let r = send(&c, &p.url(""), &s, Some(LB)).await;
        assert_eq!(r.status, 401, "{}: refuse without redis", p.addr);
        let s = get(LB, "/lenient/y", FULL, &key);
        let r = send(&c, &p.url(""), &s, Some(LB)).await;
        assert_eq!(r.status, 200, "{}: allow without redis", p.addr);
        let errors = p
            .metric("attestgate_replay_store_errors_total{kind=\"error\"}")
            .await
            .unwrap_or(0.0)
            + p.metric("attestgate_replay_store_errors_total{kind=\"timeout\"}")
                .await
                .unwrap_or(0.0);
        assert!(errors >= 2.0, "{}: {errors} store errors counted", p.addr);
    }
    assert_eq!(up.count(), 6);

    // Redis back on the same port: replay protection resumes.
    let _redis = RedisServer::start_on(redis.port());
    let s = get(LB, "/strict/z", FULL, &key);
    let mut ok = false;
    for _ in 0..50 {
        if send(&c, &fleet[0].url(""), &s, Some(LB)).await.status == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "no recovery after redis came back");
    let r = send(&c, &fleet[1].url(""), &s, Some(LB)).await;
    assert_eq!(r.status, 401, "replay after recovery");
}

/// A signed POST sent chunked (no `Content-Length`), with `Connection:
/// close`: the raw answer.
async fn chunked(p: &Proxy, body: &[u8], key: &InstallSigner) -> String {
    let a = p.addr.to_string();
    let s = post(&a, "/x", body, key);
    let mut raw = format!(
        "POST /x HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
    );
    for (k, v) in &s.headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    raw.push_str("\r\n");
    let mut bytes = raw.into_bytes();
    for chunk in body.chunks(10_000) {
        bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        bytes.extend_from_slice(chunk);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    attestgate_testkit::proxy::raw_exchange(p.addr, &bytes, Duration::from_secs(5)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_signed_body_passes_up_to_64_kib_and_gets_413_beyond() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let p = start(&up, "").await;
    let key = InstallSigner::approov_test_key();
    let small: Vec<u8> = (0..30_000u32).map(|i| (i % 253) as u8).collect();
    let answer = chunked(&p, &small, &key).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(&up.last().unwrap().body[..], &small[..]);
    let before = up.count();
    let big = vec![b'y'; 70_000];
    let answer = chunked(&p, &big, &key).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(up.count(), before, "the upstream saw an oversized body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_expecting_100_continue_gets_it_before_sending_the_body() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let p = start(&up, "").await;
    let a = p.addr.to_string();
    let s = post(&a, "/x", BODY, &InstallSigner::approov_test_key());
    let mut head = format!(
        "POST /x HTTP/1.1\r\nHost: {a}\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n",
        BODY.len()
    );
    for (k, v) in &s.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut conn = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(2), conn.read(&mut buf))
        .await
        .expect("no 100 Continue: the client would wait")
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 100"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    conn.write_all(BODY).await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.contains("HTTP/1.1 200"), "{rest}");
    assert!(!rest.contains("HTTP/1.1 100"), "a second 100: {rest}");
    let seen = up.last().unwrap();
    assert_eq!(&seen.body[..], BODY);
    assert!(seen.headers.get("expect").is_none());
}
