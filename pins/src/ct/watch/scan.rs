//! The hot path: every entry of a batch is added to the frontier, and only
//! the few whose bytes hold a watched name are parsed as X.509 and matched.
//! Synchronous and allocation-light, so a backlog of a day is read in
//! minutes (the benchmark measures it: `pins/benches/ct.rs`).

use crate::ct::entry::{Chain, EntryKind};
use crate::ct::matcher::{Hit, Matcher};
use crate::ct::merkle::{Frontier, Hash};
use crate::ct::source::Item;
use crate::ct::verdict::{Facts, facts};

/// An entry of a watched name, to be judged.
#[derive(Debug)]
pub struct Candidate {
    /// Its index.
    pub index: u64,
    /// Its leaf hash.
    pub leaf_hash: Hash,
    /// What it is, or why it cannot be read.
    pub read: Read,
}

/// A candidate, read.
#[derive(Debug)]
pub enum Read {
    /// A certificate or precertificate with hits.
    Cert {
        /// Its facts.
        facts: Box<Facts>,
        /// The watched names it holds.
        hits: Vec<Hit>,
        /// The certificate (or precertificate) DER.
        first: Vec<u8>,
        /// Issuers sent with the entry (RFC 6962).
        issuers: Vec<Vec<u8>>,
        /// Issuers named by fingerprint (static-ct-api).
        fingerprints: Vec<[u8; 32]>,
        /// `PreCert.issuer_key_hash`, for a precertificate.
        issuer_key_hash: Option<[u8; 32]>,
    },
    /// It holds a watched name but does not parse.
    Malformed {
        /// The domains whose names its bytes hold.
        domains: Vec<usize>,
        /// A key for "reported once": SHA-256 of its bytes.
        key: [u8; 32],
        /// Why.
        why: String,
    },
}

/// Adds each item to `frontier` (which must be at the item's index) and
/// returns the candidates. `prefilter` off parses every certificate (the
/// benchmark's baseline). `Err` when an item is not the next index.
pub fn scan(
    items: &[Item<'_>],
    frontier: &mut Frontier,
    matcher: &Matcher,
    prefilter: bool,
) -> Result<Vec<Candidate>, String> {
    let mut out = Vec::new();
    for item in items {
        let (index, leaf_hash) = match item {
            Item::Entry(e) => (e.index, e.leaf_hash),
            Item::Malformed {
                index, leaf_hash, ..
            } => (*index, *leaf_hash),
        };
        if index != frontier.size() {
            return Err(format!(
                "the log sent entry {index} where {} was due",
                frontier.size()
            ));
        }
        frontier.push(leaf_hash);
        if let Some(read) = read(item, matcher, prefilter) {
            out.push(Candidate {
                index,
                leaf_hash,
                read,
            });
        }
    }
    Ok(out)
}

fn sha256(b: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 32];
    k.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, b).as_ref());
    k
}

fn read(item: &Item<'_>, matcher: &Matcher, prefilter: bool) -> Option<Read> {
    let e = match item {
        Item::Entry(e) => e,
        Item::Malformed {
            bytes,
            extra,
            error,
            ..
        } => {
            let mut domains = matcher.prefilter_domains(bytes);
            domains.extend(matcher.prefilter_domains(extra));
            domains.sort_unstable();
            domains.dedup();
            return (!domains.is_empty()).then(|| Read::Malformed {
                domains,
                key: sha256(bytes),
                why: error.what.clone(),
            });
        }
    };
    if prefilter && !matcher.prefilter(e.cert) {
        return None;
    }
    let precert = match e.kind {
        EntryKind::Precert { .. } => match e.precert {
            Some(p) => Some(p),
            None => {
                return malformed(
                    matcher,
                    e.cert,
                    "a precertificate entry without its precertificate",
                );
            }
        },
        EntryKind::X509 => None,
    };
    let f = match facts(e.cert, precert) {
        Ok(f) => f,
        Err(why) => return malformed(matcher, e.cert, &why),
    };
    let hits = matcher.hits(&f.dns_names);
    if hits.is_empty() {
        return None;
    }
    let (issuers, fingerprints) = match &e.chain {
        Chain::Certs(c) => (
            c.iter()
                .take(crate::fetch::MAX_CHAIN - 1)
                .map(|c| c.to_vec())
                .collect(),
            Vec::new(),
        ),
        Chain::Fingerprints(f) => (Vec::new(), f.iter().take(8).copied().collect()),
    };
    Some(Read::Cert {
        facts: Box::new(f),
        hits,
        first: precert.unwrap_or(e.cert).to_vec(),
        issuers,
        fingerprints,
        issuer_key_hash: match e.kind {
            EntryKind::Precert { issuer_key_hash } => Some(issuer_key_hash),
            EntryKind::X509 => None,
        },
    })
}

fn malformed(matcher: &Matcher, bytes: &[u8], why: &str) -> Option<Read> {
    let domains = matcher.prefilter_domains(bytes);
    (!domains.is_empty()).then(|| Read::Malformed {
        domains,
        key: sha256(bytes),
        why: why.to_owned(),
    })
}
