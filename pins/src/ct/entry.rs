//! Log entries, read in place (no copy of a certificate): static-ct-api's
//! `TileLeaf` (c2sp.org/static-ct-api, "Log entries") and RFC 6962's
//! `MerkleTreeLeaf` with its `extra_data` (§3.4, §4.6). Both hold an RFC
//! 6962 `TimestampedEntry`, whose leaf hash is what the tree commits to.
//!
//! ```text
//! TimestampedEntry: uint64 timestamp; uint16 entry_type (0 x509, 1 precert);
//!                   [opaque issuer_key_hash[32]];  opaque cert_or_tbs<1..2^24-1>;
//!                   CtExtensions extensions<0..2^16-1>
//! TileLeaf:         TimestampedEntry; [ASN.1Cert pre_certificate]; Fingerprint chain<0..2^16-1>
//! ```
//!
//! Every length is checked against what is left; nothing is allocated
//! from a length before it is checked.

use super::merkle::{Hash, leaf_hash_parts};

/// What an entry logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A certificate.
    X509,
    /// A precertificate: the TBSCertificate the certificate will have, and
    /// the SHA-256 of its issuer's SubjectPublicKeyInfo.
    Precert {
        /// `PreCert.issuer_key_hash`.
        issuer_key_hash: [u8; 32],
    },
}

/// The issuers an entry names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chain<'a> {
    /// static-ct-api: SHA-256 fingerprints, each served at `issuer/<hex>`.
    Fingerprints(Vec<[u8; 32]>),
    /// RFC 6962: the certificates themselves.
    Certs(Vec<&'a [u8]>),
}

impl Chain<'_> {
    /// How many issuers it names.
    pub fn len(&self) -> usize {
        match self {
            Chain::Fingerprints(f) => f.len(),
            Chain::Certs(c) => c.len(),
        }
    }

    /// Whether it names none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One entry, borrowed from the tile or response it came in.
#[derive(Clone, Debug)]
pub struct Entry<'a> {
    /// Its index in the log.
    pub index: u64,
    /// The log's timestamp, milliseconds.
    pub timestamp_ms: u64,
    /// Certificate or precertificate.
    pub kind: EntryKind,
    /// The certificate (DER), or the precertificate's TBSCertificate.
    pub cert: &'a [u8],
    /// The precertificate as submitted (DER, with its poison extension).
    pub precert: Option<&'a [u8]>,
    /// Its issuers.
    pub chain: Chain<'a>,
    /// The Merkle leaf hash of its `MerkleTreeLeaf`.
    pub leaf_hash: Hash,
}

/// A malformed entry: what was wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("entry {index}: {what}")]
pub struct EntryError {
    /// The entry's index.
    pub index: u64,
    /// What was wrong.
    pub what: String,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn uint(&mut self, n: usize) -> Option<u64> {
        Some(
            self.take(n)?
                .iter()
                .fold(0u64, |a, b| (a << 8) | u64::from(*b)),
        )
    }
    fn vec(&mut self, len_bytes: usize) -> Option<&'a [u8]> {
        let n = usize::try_from(self.uint(len_bytes)?).ok()?;
        self.take(n)
    }
    fn done(&self) -> bool {
        self.pos == self.buf.len()
    }
}

/// The parts of a `TimestampedEntry`, and where it ends.
struct Stamped<'a> {
    timestamp_ms: u64,
    kind: EntryKind,
    cert: &'a [u8],
    extensions: &'a [u8],
}

fn timestamped<'a>(r: &mut Reader<'a>) -> Result<Stamped<'a>, String> {
    let short = || "truncated TimestampedEntry".to_owned();
    let timestamp_ms = r.uint(8).ok_or_else(short)?;
    let kind = match r.uint(2).ok_or_else(short)? {
        0 => EntryKind::X509,
        1 => {
            let mut issuer_key_hash = [0u8; 32];
            issuer_key_hash.copy_from_slice(r.take(32).ok_or_else(short)?);
            EntryKind::Precert { issuer_key_hash }
        }
        t => return Err(format!("unknown entry type {t}")),
    };
    let cert = r.vec(3).ok_or_else(short)?;
    if cert.is_empty() {
        return Err("an empty certificate".into());
    }
    let extensions = r.vec(2).ok_or_else(short)?;
    Ok(Stamped {
        timestamp_ms,
        kind,
        cert,
        extensions,
    })
}

/// static-ct-api's `leaf_index` extension (type 0, five bytes).
fn leaf_index(extensions: &[u8]) -> Option<u64> {
    let mut r = Reader {
        buf: extensions,
        pos: 0,
    };
    while !r.done() {
        let t = r.uint(1)?;
        let data = r.vec(2)?;
        if t == 0 {
            return (data.len() == 5)
                .then(|| data.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b)));
        }
    }
    None
}

/// Reads the entries of a data tile whose first entry is `first`; exactly
/// `count` entries, nothing after. Each entry's `leaf_index` extension
/// must be its index.
pub fn parse_tile(tile: &[u8], first: u64, count: usize) -> Result<Vec<Entry<'_>>, EntryError> {
    let mut r = Reader { buf: tile, pos: 0 };
    let mut out = Vec::with_capacity(count.min(256));
    for i in 0..count as u64 {
        let index = first + i;
        let fail = |what: String| EntryError { index, what };
        let start = r.pos;
        let s = timestamped(&mut r).map_err(fail)?;
        let stamped = &tile[start..r.pos];
        let precert = match s.kind {
            EntryKind::Precert { .. } => Some(
                r.vec(3)
                    .ok_or_else(|| fail("truncated pre_certificate".into()))?,
            ),
            EntryKind::X509 => None,
        };
        let fps = r
            .vec(2)
            .ok_or_else(|| fail("truncated certificate_chain".into()))?;
        if fps.len() % 32 != 0 {
            return Err(fail(
                "a fingerprint list that is not whole fingerprints".into(),
            ));
        }
        match leaf_index(s.extensions) {
            Some(n) if n == index => {}
            Some(n) => return Err(fail(format!("its leaf_index extension says {n}"))),
            None => return Err(fail("no leaf_index extension".into())),
        }
        let chain = Chain::Fingerprints(
            fps.chunks_exact(32)
                .map(|c| {
                    let mut f = [0u8; 32];
                    f.copy_from_slice(c);
                    f
                })
                .collect(),
        );
        out.push(Entry {
            index,
            timestamp_ms: s.timestamp_ms,
            kind: s.kind,
            cert: s.cert,
            precert,
            chain,
            leaf_hash: leaf_hash_parts(&[&[0, 0], stamped]),
        });
    }
    if !r.done() {
        return Err(EntryError {
            index: first + count as u64,
            what: format!(
                "{} bytes after the last entry of the tile",
                tile.len() - r.pos
            ),
        });
    }
    Ok(out)
}

/// Reads one RFC 6962 `get-entries` item: `leaf_input` (a
/// `MerkleTreeLeaf`) and `extra_data`.
pub fn parse_rfc6962<'a>(
    index: u64,
    leaf_input: &'a [u8],
    extra_data: &'a [u8],
) -> Result<Entry<'a>, EntryError> {
    let fail = |what: String| EntryError { index, what };
    let leaf_hash = leaf_hash_parts(&[leaf_input]);
    let mut r = Reader {
        buf: leaf_input,
        pos: 0,
    };
    match (r.uint(1), r.uint(1)) {
        (Some(0), Some(0)) => {}
        _ => return Err(fail("not a v1 timestamped_entry MerkleTreeLeaf".into())),
    }
    let s = timestamped(&mut r).map_err(fail)?;
    if !r.done() {
        return Err(fail("bytes after the MerkleTreeLeaf".into()));
    }
    let mut x = Reader {
        buf: extra_data,
        pos: 0,
    };
    let precert = match s.kind {
        EntryKind::Precert { .. } => Some(
            x.vec(3)
                .ok_or_else(|| fail("extra_data: truncated pre_certificate".into()))?,
        ),
        EntryKind::X509 => None,
    };
    let list = x
        .vec(3)
        .ok_or_else(|| fail("extra_data: truncated chain".into()))?;
    if !x.done() {
        return Err(fail("extra_data: bytes after the chain".into()));
    }
    let mut l = Reader { buf: list, pos: 0 };
    let mut certs = Vec::new();
    while !l.done() {
        let c = l
            .vec(3)
            .ok_or_else(|| fail("extra_data: truncated chain certificate".into()))?;
        certs.push(c);
    }
    Ok(Entry {
        index,
        timestamp_ms: s.timestamp_ms,
        kind: s.kind,
        cert: s.cert,
        precert,
        chain: Chain::Certs(certs),
        leaf_hash,
    })
}

/// A `MerkleTreeLeaf` (RFC 6962, no extensions) for `cert`; the test logs
/// and the benchmarks write entries with it.
pub fn merkle_tree_leaf(timestamp_ms: u64, kind: EntryKind, cert: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0];
    v.extend_from_slice(&timestamp_ms.to_be_bytes());
    match kind {
        EntryKind::X509 => v.extend_from_slice(&[0, 0]),
        EntryKind::Precert { issuer_key_hash } => {
            v.extend_from_slice(&[0, 1]);
            v.extend_from_slice(&issuer_key_hash);
        }
    }
    let n = cert.len() as u32;
    v.extend_from_slice(&n.to_be_bytes()[1..]);
    v.extend_from_slice(cert);
    v.extend_from_slice(&[0, 0]);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ct::merkle::leaf_hash;

    fn tile_leaf(index: u64, cert: &[u8], fps: usize) -> Vec<u8> {
        let mut v = 1_700_000_000_000u64.to_be_bytes().to_vec();
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&(cert.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(cert);
        v.extend_from_slice(&[0, 8, 0, 0, 5]);
        v.extend_from_slice(&index.to_be_bytes()[3..]);
        v.extend_from_slice(&((fps * 32) as u16).to_be_bytes());
        v.extend(std::iter::repeat_n(9u8, fps * 32));
        v
    }

    #[test]
    fn tile_entries_and_their_leaf_hashes() {
        let mut tile = tile_leaf(5, b"cert-a", 1);
        tile.extend(tile_leaf(6, b"cert-bb", 2));
        let e = parse_tile(&tile, 5, 2).unwrap();
        assert_eq!(e[1].cert, b"cert-bb");
        assert_eq!(e[1].chain.len(), 2);
        // the leaf hash covers the TimestampedEntry with the leaf_index extension
        let mut mtl = vec![0, 0];
        mtl.extend_from_slice(&tile_leaf(5, b"cert-a", 1)[..8 + 2 + 3 + 6 + 2 + 8]);
        assert_eq!(e[0].leaf_hash, leaf_hash(&mtl));
        // wrong index, short, trailing bytes, a cut anywhere
        assert!(
            parse_tile(&tile, 4, 2)
                .unwrap_err()
                .what
                .contains("leaf_index")
        );
        assert!(parse_tile(&tile, 5, 3).is_err());
        assert!(parse_tile(&tile, 5, 1).unwrap_err().what.contains("after"));
        for cut in 0..tile.len() {
            assert!(parse_tile(&tile[..cut], 5, 2).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn rfc6962_entries() {
        let leaf = merkle_tree_leaf(1, EntryKind::X509, b"leaf");
        let mut extra = vec![0, 0, 7, 0, 0, 4];
        extra.extend_from_slice(b"root");
        let e = parse_rfc6962(3, &leaf, &extra).unwrap();
        assert_eq!(e.chain, Chain::Certs(vec![&b"root"[..]]));
        assert_eq!(e.leaf_hash, leaf_hash(&leaf));
        assert!(parse_rfc6962(3, &leaf, &extra[..5]).is_err());
        let mut bad = leaf.clone();
        bad[0] = 1;
        assert!(parse_rfc6962(3, &bad, &extra).is_err());
        let pre = merkle_tree_leaf(
            1,
            EntryKind::Precert {
                issuer_key_hash: [1; 32],
            },
            b"tbs",
        );
        assert!(
            parse_rfc6962(3, &pre, &extra).is_err(),
            "a precert needs its pre_certificate"
        );
    }
}
