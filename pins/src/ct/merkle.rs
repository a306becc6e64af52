//! RFC 6962 Merkle trees, as far as a monitor needs them: the leaf and
//! node hashes, and the frontier (the roots of the perfect subtrees that
//! make up the tree so far: at most 64 hashes) that every leaf read is
//! added to, so the root of everything read can be compared with a
//! signed root without keeping a single entry.

use ring::digest::{Context, SHA256, digest};

/// A SHA-256 tree hash.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    leaf_hash_parts(&[leaf])
}

/// The leaf hash of a leaf given in pieces (no copy).
pub fn leaf_hash_parts(parts: &[&[u8]]) -> Hash {
    let mut c = Context::new(&SHA256);
    c.update(&[0]);
    for p in parts {
        c.update(p);
    }
    to_hash(c.finish().as_ref())
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut c = Context::new(&SHA256);
    c.update(&[1]);
    c.update(left);
    c.update(right);
    to_hash(c.finish().as_ref())
}

fn to_hash(bytes: &[u8]) -> Hash {
    let mut h = [0u8; 32];
    h.copy_from_slice(bytes);
    h
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    to_hash(digest(&SHA256, b"").as_ref())
}

/// The root of a perfect subtree whose bottom row is `row` (a power of
/// two long, at least one).
pub fn perfect_root(row: &[Hash]) -> Hash {
    let mut level: Vec<Hash> = row.to_vec();
    while level.len() > 1 {
        level = level.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
    }
    level.first().copied().unwrap_or_else(empty_root)
}

/// The roots of the perfect subtrees covering leaves `[0, size)`, largest
/// (leftmost) first: one per bit set in `size`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

impl Default for Frontier {
    fn default() -> Self {
        Frontier::empty()
    }
}

impl Frontier {
    /// The empty tree.
    pub fn empty() -> Frontier {
        Frontier {
            size: 0,
            nodes: Vec::new(),
        }
    }

    /// A frontier from its parts; `None` when there is not one node per bit
    /// set in `size`.
    pub fn from_parts(size: u64, nodes: Vec<Hash>) -> Option<Frontier> {
        (nodes.len() == size.count_ones() as usize).then_some(Frontier { size, nodes })
    }

    /// The number of leaves it covers.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, largest first.
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// Adds the next leaf (its leaf hash).
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut s = self.size;
        while s & 1 == 1 {
            match self.nodes.pop() {
                Some(left) => h = node_hash(&left, &h),
                None => break, // cannot happen: one node per set bit
            }
            s >>= 1;
        }
        self.nodes.push(h);
        self.size += 1;
    }

    /// The tree's root (RFC 6962 MTH).
    pub fn root(&self) -> Hash {
        let mut it = self.nodes.iter().rev();
        let Some(mut h) = it.next().copied() else {
            return empty_root();
        };
        for left in it {
            h = node_hash(left, &h);
        }
        h
    }

    /// The frontier of a tree of `size` leaves from the inclusion proof of
    /// its last leaf (`leaf`, the hash of leaf `size - 1`) — what an RFC
    /// 6962 log's `get-entry-and-proof` answers. Every sibling on that
    /// path is a left one: the first few build the smallest subtree (the
    /// one holding the leaf), the rest are the larger subtrees. `None` when
    /// the path has the wrong length.
    pub fn from_last_leaf_proof(size: u64, leaf: Hash, path: &[Hash]) -> Option<Frontier> {
        if size == 0 {
            return None;
        }
        let low = size.trailing_zeros() as usize;
        let want = (size.count_ones() as usize - 1) + low;
        if path.len() != want {
            return None;
        }
        let mut h = leaf;
        for p in &path[..low] {
            h = node_hash(p, &h);
        }
        let mut nodes: Vec<Hash> = path[low..].iter().rev().copied().collect();
        nodes.push(h);
        Frontier::from_parts(size, nodes)
    }

    /// Where each node of a frontier of `size` sits: `(height, index)` of
    /// the perfect subtree (leaves `index << height` up to the next), largest
    /// first.
    pub fn positions(size: u64) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        let mut offset = 0u64;
        for h in (0..64u32).rev() {
            if size & (1u64 << h) != 0 {
                out.push((h, offset >> h));
                offset += 1u64 << h;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recursive definition of RFC 6962 §2.1, as the oracle.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = 1usize << (usize::BITS - (n - 1).leading_zeros() - 1);
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn audit_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = 1usize << (usize::BITS - (n - 1).leading_zeros() - 1);
        if m < k {
            let mut p = audit_path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = audit_path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    #[test]
    fn frontier_matches_the_recursive_definition() {
        let leaves: Vec<Hash> = (0u32..300).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut f = Frontier::empty();
        assert_eq!(f.root(), mth(&[]));
        for (i, l) in leaves.iter().enumerate() {
            f.push(*l);
            assert_eq!(f.root(), mth(&leaves[..=i]), "size {}", i + 1);
            let size = (i + 1) as u64;
            let rebuilt =
                Frontier::from_last_leaf_proof(size, *l, &audit_path(i, &leaves[..=i])).unwrap();
            assert_eq!(rebuilt, f, "size {size}");
            for ((h, idx), node) in Frontier::positions(size).iter().zip(f.nodes()) {
                let lo = (*idx as usize) << h;
                assert_eq!(&mth(&leaves[lo..lo + (1 << h)]), node);
                assert_eq!(&perfect_root(&leaves[lo..lo + (1 << h)]), node);
            }
        }
        assert!(Frontier::from_last_leaf_proof(6, leaves[5], &[]).is_none());
        assert!(Frontier::from_parts(3, vec![leaves[0]]).is_none());
    }
}
