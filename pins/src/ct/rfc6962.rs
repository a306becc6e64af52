//! An RFC 6962 log: `ct/v1/get-sth` (§4.3), `ct/v1/get-entries` (§4.6,
//! `end` inclusive; a log may answer fewer), and
//! `ct/v1/get-entry-and-proof` (§4.8) for the frontier when a watch starts
//! at the end of a log.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::batch::{Batch, HeadError, SignedHead};
use super::http::{FetchError, Http};
use super::key::{LogKey, tree_head_input};
use super::merkle::{Frontier, Hash, leaf_hash};

/// The largest `get-sth` answer read.
pub const MAX_STH: usize = 16 * 1024;
/// The largest `get-entries` answer read (a real 256-entry answer is
/// ~1.5 MiB).
pub const MAX_ENTRIES: usize = 64 * 1024 * 1024;
/// The largest `get-entry-and-proof` answer read.
pub const MAX_PROOF: usize = 1024 * 1024;

#[derive(Deserialize)]
struct Sth {
    tree_size: u64,
    timestamp: u64,
    sha256_root_hash: String,
    tree_head_signature: String,
}

#[derive(Deserialize)]
struct Entries {
    entries: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    leaf_input: String,
    extra_data: String,
}

#[derive(Deserialize)]
struct EntryAndProof {
    leaf_input: String,
    audit_path: Vec<String>,
}

fn b64(what: &str, s: &str) -> Result<Vec<u8>, FetchError> {
    STANDARD
        .decode(s)
        .map_err(|_| FetchError::parse(what, "not base64"))
}

fn hash(what: &str, s: &str) -> Result<Hash, FetchError> {
    b64(what, s)?
        .try_into()
        .map_err(|_| FetchError::parse(what, "not a 32-byte hash"))
}

pub(super) async fn head(http: &Http, base: &str, key: &LogKey) -> Result<SignedHead, HeadError> {
    let raw = http.get(&format!("{base}ct/v1/get-sth"), MAX_STH).await?;
    let sth: Sth = serde_json::from_slice(&raw)
        .map_err(|e| FetchError::parse("get-sth", format!("not an STH: {e}")))?;
    let root = hash("get-sth", &sth.sha256_root_hash)?;
    let sig = b64("get-sth", &sth.tree_head_signature)?;
    match key.verify(&tree_head_input(sth.timestamp, sth.tree_size, &root), &sig) {
        Ok(()) => Ok(SignedHead {
            size: sth.tree_size,
            root,
            timestamp_ms: sth.timestamp,
            raw,
        }),
        Err(message) => Err(HeadError::BadSignature { message, raw }),
    }
}

/// Entries `start..=last`; the log may answer fewer, never none or more.
pub(super) async fn batch(
    http: &Http,
    base: &str,
    start: u64,
    last: u64,
) -> Result<Batch, FetchError> {
    let url = format!("{base}ct/v1/get-entries?start={start}&end={last}");
    let raw = http.get(&url, MAX_ENTRIES).await?;
    let parsed: Entries = serde_json::from_slice(&raw)
        .map_err(|e| FetchError::parse("get-entries", format!("not a get-entries answer: {e}")))?;
    let wanted = (last - start + 1) as usize;
    if parsed.entries.is_empty() || parsed.entries.len() > wanted {
        return Err(FetchError::parse(
            "get-entries",
            format!("{} entries for a request of {wanted}", parsed.entries.len()),
        ));
    }
    let mut items = Vec::with_capacity(parsed.entries.len());
    for e in &parsed.entries {
        items.push((
            b64("get-entries", &e.leaf_input)?,
            b64("get-entries", &e.extra_data)?,
        ));
    }
    Ok(Batch::Items {
        first: start,
        items,
    })
}

/// The frontier at `size`, from the inclusion proof of the last leaf.
pub(super) async fn frontier(http: &Http, base: &str, size: u64) -> Result<Frontier, FetchError> {
    if size == 0 {
        return Ok(Frontier::empty());
    }
    let url = format!(
        "{base}ct/v1/get-entry-and-proof?leaf_index={}&tree_size={size}",
        size - 1
    );
    let raw = http.get(&url, MAX_PROOF).await?;
    let p: EntryAndProof = serde_json::from_slice(&raw)
        .map_err(|e| FetchError::parse("get-entry-and-proof", format!("not a proof: {e}")))?;
    if p.audit_path.len() > 64 {
        return Err(FetchError::parse(
            "get-entry-and-proof",
            "a path over 64 nodes",
        ));
    }
    let leaf = leaf_hash(&b64("get-entry-and-proof", &p.leaf_input)?);
    let path = p
        .audit_path
        .iter()
        .map(|n| hash("get-entry-and-proof", n))
        .collect::<Result<Vec<_>, _>>()?;
    Frontier::from_last_leaf_proof(size, leaf, &path).ok_or_else(|| {
        FetchError::parse("get-entry-and-proof", "the audit path has the wrong length")
    })
}
