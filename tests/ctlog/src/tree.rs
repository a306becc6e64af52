//! An in-memory tree for `tlog_tiles`: every stored hash of the records,
//! computed by `tlog_tiles::stored_hashes` (its order is the tile order).

use tlog_tiles::{Hash, HashReader};

/// The stored hashes of a list of records.
pub struct Tree {
    hashes: Vec<Hash>,
}

impl Tree {
    /// Stores `records` (each record's leaf is `SHA-256(0x00 ‖ record)`).
    pub fn new(records: &[Vec<u8>]) -> Tree {
        let mut t = Tree { hashes: Vec::new() };
        for (n, r) in records.iter().enumerate() {
            let add = tlog_tiles::stored_hashes(n as u64, r, &t).unwrap();
            t.hashes.extend(add);
        }
        t
    }
}

impl HashReader for Tree {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|i| {
                self.hashes
                    .get(*i as usize)
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}
