//! Certificate Transparency test logs written by another implementation
//! than the watch's reader: Cloudflare's `static_ct_api` (the submission
//! check a log runs, `validate_chain`; the `TileLeaf` and `MerkleTreeLeaf`
//! encodings; checkpoints signed as static-ct-api says, with a witness
//! cosignature and grease lines), `tlog_tiles` (stored hashes, hash tiles,
//! tree hashes, inclusion proofs) and `signed_note`, on RustCrypto's P-256.
//!
//! - [`write_static`] lays a static-ct-api log out on disk for nginx
//!   ([`nginx_conf`]): `checkpoint`, `tile/<L>/…`, `tile/data/…`
//!   (gzip'd, as Sunlight serves them), `issuer/<hex>`.
//! - [`write_rfc6962`] writes an RFC 6962 log's answers (`sth.json`,
//!   `entries.json`, `proofs/<i>-<n>.json`) for `rfc6962_server.py`, a
//!   small server that serves those precomputed bytes (`get-entries`
//!   slices the list, as a log clamps a range).
//!
//! Both honour fault flags the tests drop beside the log: `fail429`
//! (429 with `Retry-After: 1`), `fail500`, `slow` (answers crawl).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

pub mod peers;
pub mod scenario;
pub mod tree;

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePublicKey;
use rand::SeedableRng;
use sha2::{Digest, Sha256};
use static_ct_api::{CertPool, TreeWithTimestamp};

pub use static_ct_api::LogEntry;
pub use tree::Tree;

/// A log's keys, made from a seed (a test log is the same every run).
pub struct LogKeys {
    pub signing: SigningKey,
    pub witness: ed25519_dalek::SigningKey,
}

impl LogKeys {
    pub fn new(seed: u8) -> LogKeys {
        let mut s = [seed; 32];
        s[0] = 1;
        LogKeys {
            signing: SigningKey::from_bytes(&s.into()).unwrap(),
            witness: ed25519_dalek::SigningKey::from_bytes(&[seed ^ 0x5a; 32]),
        }
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki(&self) -> Vec<u8> {
        self.signing
            .verifying_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes()
            .to_vec()
    }

    pub fn spki_b64(&self) -> String {
        STANDARD.encode(self.spki())
    }

    pub fn log_id_b64(&self) -> String {
        STANDARD.encode(Sha256::digest(self.spki()))
    }
}

/// One submission, or a raw entry a buggy or hostile log writes.
#[derive(Clone, Debug)]
pub enum Submit {
    /// `add-chain` (`precert` false) or `add-pre-chain`: the chain as a
    /// CA submits it (leaf first), checked by the log.
    Chain { chain: Vec<Vec<u8>>, precert: bool },
    /// An entry whose certificate is these bytes, accepted unchecked.
    Raw(Vec<u8>),
}

/// The entries a log holds after these submissions, with their issuers
/// (root included).
pub fn entries(
    roots: &[Vec<u8>],
    submissions: &[Submit],
    timestamp_ms: u64,
) -> Vec<(LogEntry, Vec<Vec<u8>>)> {
    let pool = CertPool::new(
        roots
            .iter()
            .map(|r| {
                use der::Decode;
                x509_cert::Certificate::from_der(r).unwrap()
            })
            .collect(),
    )
    .unwrap();
    submissions
        .iter()
        .enumerate()
        .map(|(i, s)| match s {
            Submit::Chain { chain, precert } => {
                let v = static_ct_api::validate_chain(chain, &pool, None, None, *precert, true)
                    .unwrap_or_else(|e| panic!("submission {i} refused by the log: {e}"));
                let entry = LogEntry {
                    certificate: v.certificate,
                    is_precert: v.is_precert,
                    issuer_key_hash: v.issuer_key_hash,
                    chain_fingerprints: v
                        .issuers
                        .iter()
                        .map(|c| Sha256::digest(c).into())
                        .collect(),
                    pre_certificate: v.pre_certificate,
                    leaf_index: i as u64,
                    timestamp: timestamp_ms + i as u64,
                };
                (entry, v.issuers)
            }
            Submit::Raw(bytes) => (
                LogEntry {
                    certificate: bytes.clone(),
                    leaf_index: i as u64,
                    timestamp: timestamp_ms + i as u64,
                    ..Default::default()
                },
                Vec::new(),
            ),
        })
        .collect()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b).unwrap();
    gz.finish().unwrap()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Lays a static-ct-api log of `entries` (the first `size` of them
/// published) out under `dir`; returns the signed checkpoint.
pub fn write_static(
    dir: &Path,
    origin: &str,
    keys: &LogKeys,
    entries: &[(LogEntry, Vec<Vec<u8>>)],
    size: usize,
    time_ms: u64,
) -> Vec<u8> {
    let leaves: Vec<Vec<u8>> = entries[..size]
        .iter()
        .map(|(e, _)| e.merkle_tree_leaf())
        .collect();
    let tree = Tree::new(&leaves);
    write_data_tiles(dir, entries, size);
    for tile in tlog_tiles::Tile::new_tiles(8, 0, size as u64) {
        let bytes = tile.read_data(&tree).unwrap();
        write(&dir.join(static_ct_api::tile_path(&tile)), &bytes);
    }
    for (_, issuers) in &entries[..size] {
        for c in issuers {
            let hex: String = Sha256::digest(c)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            write(&dir.join("issuer").join(hex), c);
        }
    }
    let hash = tlog_tiles::tree_hash(size as u64, &tree).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(size as u64);
    let cp = TreeWithTimestamp::new(size as u64, hash, time_ms)
        .sign(origin, &keys.signing, &keys.witness, &mut rng)
        .unwrap();
    write(&dir.join("checkpoint"), &cp);
    cp
}

/// Writes only the data tiles of the first `size` entries (a log whose
/// tiles and checkpoint disagree keeps its old checkpoint).
pub fn write_data_tiles(dir: &Path, entries: &[(LogEntry, Vec<Vec<u8>>)], size: usize) {
    for chunk_start in (0..size).step_by(256) {
        let end = (chunk_start + 256).min(size);
        let mut data = Vec::new();
        for (e, _) in &entries[chunk_start..end] {
            data.extend(e.tile_leaf());
        }
        let tile = tlog_tiles::Tile::new(
            8,
            0,
            (chunk_start / 256) as u64,
            (end - chunk_start) as u32,
            true,
        );
        write(&dir.join(static_ct_api::tile_path(&tile)), &gzip(&data));
    }
}

/// nginx's `server` block serving the static log under `root` on
/// `{PORT0}`, with the fault flags.
pub fn nginx_conf(root: &Path) -> String {
    format!(
        "server {{\n  listen 127.0.0.1:{{PORT0}};\n  root {};\n  location / {{\n    if (-f $document_root/fail429) {{ add_header Retry-After 1 always; return 429; }}\n    if (-f $document_root/fail500) {{ return 500; }}\n    if (-f $document_root/slow) {{ set $limit_rate 64; }}\n    try_files $uri =404;\n  }}\n  location /tile/data/ {{\n    if (-f $document_root/fail429) {{ add_header Retry-After 1 always; return 429; }}\n    gzip off;\n    add_header Content-Encoding gzip;\n    try_files $uri =404;\n  }}\n}}\n",
        root.display()
    )
}

/// An RFC 6962 `MerkleTreeLeaf` (no extensions, as RFC 6962 logs write).
fn rfc6962_leaf(e: &LogEntry) -> Vec<u8> {
    let mut v = vec![0u8, 0];
    v.extend_from_slice(&e.timestamp.to_be_bytes());
    if e.is_precert {
        v.extend_from_slice(&[0, 1]);
        v.extend_from_slice(&e.issuer_key_hash);
    } else {
        v.extend_from_slice(&[0, 0]);
    }
    v.extend_from_slice(&(e.certificate.len() as u32).to_be_bytes()[1..]);
    v.extend_from_slice(&e.certificate);
    v.extend_from_slice(&[0, 0]);
    v
}

fn u24_list(items: &[Vec<u8>]) -> Vec<u8> {
    let mut inner = Vec::new();
    for c in items {
        inner.extend_from_slice(&(c.len() as u32).to_be_bytes()[1..]);
        inner.extend_from_slice(c);
    }
    let mut v = (inner.len() as u32).to_be_bytes()[1..].to_vec();
    v.extend(inner);
    v
}

/// Writes an RFC 6962 log's answers under `dir` for the first `size`
/// entries: `sth.json`, `entries.json`, and the last leaf's proof.
pub fn write_rfc6962(
    dir: &Path,
    keys: &LogKeys,
    entries: &[(LogEntry, Vec<Vec<u8>>)],
    size: usize,
    time_ms: u64,
) {
    let leaves: Vec<Vec<u8>> = entries[..size]
        .iter()
        .map(|(e, _)| rfc6962_leaf(e))
        .collect();
    let tree = Tree::new(&leaves);
    let items: Vec<serde_json::Value> = entries[..size]
        .iter()
        .zip(&leaves)
        .map(|((e, issuers), leaf)| {
            let extra = if e.is_precert {
                let mut x = (e.pre_certificate.len() as u32).to_be_bytes()[1..].to_vec();
                x.extend_from_slice(&e.pre_certificate);
                x.extend(u24_list(issuers));
                x
            } else {
                u24_list(issuers)
            };
            serde_json::json!({"leaf_input": STANDARD.encode(leaf), "extra_data": STANDARD.encode(extra)})
        })
        .collect();
    write(
        &dir.join("entries.json"),
        serde_json::to_string(&items).unwrap().as_bytes(),
    );
    let root = tlog_tiles::tree_hash(size as u64, &tree).unwrap();
    let mut input = vec![0u8, 1];
    input.extend_from_slice(&time_ms.to_be_bytes());
    input.extend_from_slice(&(size as u64).to_be_bytes());
    input.extend_from_slice(&root.0);
    let sig = static_ct_api::sign(&keys.signing, &input);
    let sth = serde_json::json!({
        "tree_size": size, "timestamp": time_ms,
        "sha256_root_hash": STANDARD.encode(root.0),
        "tree_head_signature": STANDARD.encode(sig),
    });
    write(&dir.join("sth.json"), sth.to_string().as_bytes());
    if size > 0 {
        let proof = tlog_tiles::prove_record(size as u64, size as u64 - 1, &tree).unwrap();
        let p = serde_json::json!({
            "leaf_input": STANDARD.encode(&leaves[size - 1]),
            "extra_data": "",
            "audit_path": proof.iter().map(|h| STANDARD.encode(h.0)).collect::<Vec<_>>(),
        });
        write(
            &dir.join("proofs").join(format!("{}-{size}.json", size - 1)),
            p.to_string().as_bytes(),
        );
    }
}

/// The RFC 6962 server's script.
pub const RFC6962_SERVER: &str = include_str!("../rfc6962_server.py");
