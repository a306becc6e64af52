//! A synthetic static-ct-api log of N entries, made on request: the load
//! point of the CT watch (benches/ct-tail.sh) tails it to measure memory
//! over 10 million entries. Entries are small certificate-shaped blobs
//! for unwatched names, written by Cloudflare's static_ct_api
//! (`LogEntry::tile_leaf`); the checkpoint's root is computed at start
//! with tlog_tiles' hashes and signed by static_ct_api.
//!
//!     ct-synthetic-log N ORIGIN      prints its port, then serves
//!
//! Serves `checkpoint` and `tile/data/<N>[.p/<W>]` on 127.0.0.1 only.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use attestgate_ctlog::{LogEntry, LogKeys};
use bytes::Bytes;
use http_body_util::Full;
use rand::SeedableRng;
use tlog_tiles::{Hash, node_hash, record_hash};

const T0: u64 = 1_780_000_000_000;

fn entry(i: u64) -> LogEntry {
    let mut cert = format!(
        "synthetic certificate for host{i}.synthetic-{}.example.net ",
        i % 9973
    )
    .into_bytes();
    cert.resize(300, b'.');
    LogEntry {
        certificate: cert,
        chain_fingerprints: vec![[7u8; 32]],
        leaf_index: i,
        timestamp: T0 + i,
        ..Default::default()
    }
}

fn root(n: u64) -> Hash {
    let mut frontier: Vec<(u32, Hash)> = Vec::new();
    for i in 0..n {
        let mut h = record_hash(&entry(i).merkle_tree_leaf());
        let mut height = 0;
        while frontier.last().is_some_and(|(ht, _)| *ht == height) {
            let (_, left) = frontier.pop().unwrap();
            h = node_hash(left, h);
            height += 1;
        }
        frontier.push((height, h));
    }
    let mut it = frontier.into_iter().rev();
    let mut h = it.next().map(|(_, h)| h).unwrap_or(tlog_tiles::EMPTY_HASH);
    for (_, left) in it {
        h = node_hash(left, h);
    }
    h
}

fn tile_index(path: &str) -> Option<(u64, u64)> {
    let rest = path.strip_prefix("/tile/data/")?;
    let (digits, width) = match rest.split_once(".p/") {
        Some((d, w)) => (d, w.parse().ok()?),
        None => (rest, 256),
    };
    let mut n = 0u64;
    for part in digits.split('/') {
        n = n * 1000 + part.trim_start_matches('x').parse::<u64>().ok()?;
    }
    Some((n, width))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args[1].parse().unwrap();
    let origin = args[2].clone();
    let keys = LogKeys::new(11);
    eprintln!("computing the root of {n} entries...");
    let hash = root(n);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let checkpoint = Arc::new(
        static_ct_api::TreeWithTimestamp::new(n, hash, T0 + n)
            .sign(&origin, &keys.signing, &keys.witness, &mut rng)
            .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!(
        "{} {} {}",
        listener.local_addr().unwrap().port(),
        keys.spki_b64(),
        keys.log_id_b64()
    );
    loop {
        let (tcp, _) = listener.accept().await.unwrap();
        let checkpoint = checkpoint.clone();
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let checkpoint = checkpoint.clone();
                    async move {
                        let path = req.uri().path().to_owned();
                        let (status, body) = if path == "/checkpoint" {
                            (200, checkpoint.to_vec())
                        } else if let Some((t, w)) = tile_index(&path) {
                            let mut data = Vec::with_capacity(w as usize * 400);
                            for i in t * 256..t * 256 + w {
                                data.extend(entry(i).tile_leaf());
                            }
                            (200, data)
                        } else {
                            (404, Vec::new())
                        };
                        hyper::Response::builder()
                            .status(status)
                            .body(Full::new(Bytes::from(body)))
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                .await;
        });
    }
}
