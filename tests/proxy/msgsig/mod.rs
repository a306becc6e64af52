//! Approov message signing through the real proxy binary
//! (docs/MESSAGE_SIGNING.md):
//! Approov's four script cases signed with its test key pass; every
//! altered request is refused (`signature`) before the upstream sees a
//! byte; a signature sent twice is refused (`replay`); bodies over
//! `max_body_bytes` get 413 and reach nothing; monitor mode lets failures
//! through.
//!
//! Bodies: `body.rs`. The fleet (`fleet.rs`): three proxies on 127.0.0.1,
//! .2 and .3 sharing one real `redis-server`: a signature seen by one is
//! refused by the others; with Redis stopped, `on_redis_error` refuses or
//! allows.

mod body;
mod fleet;
mod protocols;

use std::path::Path;

use attestgate::msgsig::{self, RequestParts};
use attestgate_testkit::client::{Client, Reply, request};
use attestgate_testkit::msgsig::{ApproovVectors, InstallSigner};
use attestgate_testkit::proxy::{Proxy, Start};
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
