//! Bodies on a signing route: over `max_body_bytes` → 413 and nothing
//! upstream; over Pingora's retry buffer, whole; chunked up to 64 KiB;
//! `Expect: 100-continue`.

use std::time::Duration;

use attestgate_testkit::client::Client;
use attestgate_testkit::msgsig::InstallSigner;
use attestgate_testkit::proxy::Proxy;
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};

use super::*;

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
