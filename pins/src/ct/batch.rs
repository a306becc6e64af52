//! What a log hands the watch, whichever its protocol: a verified head,
//! the error of not getting one, and a batch of entries. A leaf: both
//! protocol readers (`rfc6962`, `tiles`) and the `source` that picks
//! between them take these types from here.

use super::entry::{Entry, EntryError, parse_rfc6962, parse_tile};
use super::http::FetchError;
use super::merkle::Hash;

/// A head whose signature verified with the log's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHead {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// The log's timestamp, milliseconds.
    pub timestamp_ms: u64,
    /// The bytes as the log served them (checkpoint or `get-sth` JSON):
    /// evidence, should the log misbehave.
    pub raw: Vec<u8>,
}

/// Why no head could be had.
#[derive(Clone, Debug, thiserror::Error)]
pub enum HeadError {
    /// The log could not be read.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The head does not verify with the log's key: misbehaviour.
    #[error("bad signature: {message}")]
    BadSignature {
        /// Why.
        message: String,
        /// What the log served.
        raw: Vec<u8>,
    },
}

/// Entries as fetched, owning their bytes.
#[derive(Debug)]
pub enum Batch {
    /// A data tile: entries `first..first + count`, of which those from
    /// `skip_to` on are new.
    Tile {
        /// The tile, inflated.
        bytes: Vec<u8>,
        /// Index of its first entry.
        first: u64,
        /// Entries in it.
        count: usize,
        /// The first index wanted.
        skip_to: u64,
    },
    /// `get-entries` items from `first` on: `(leaf_input, extra_data)`.
    Items {
        /// Index of the first item.
        first: u64,
        /// The items.
        items: Vec<(Vec<u8>, Vec<u8>)>,
    },
}

/// One parsed entry, or the index and bytes of one that does not parse
/// (RFC 6962 only: a tile that does not parse cannot be cut into entries,
/// and fails whole).
pub enum Item<'a> {
    /// An entry.
    Entry(Entry<'a>),
    /// A malformed entry: its leaf hash (it is still in the tree), the
    /// bytes a pre-filter can search, and why.
    Malformed {
        /// Its index.
        index: u64,
        /// Its Merkle leaf hash.
        leaf_hash: Hash,
        /// `leaf_input` followed by `extra_data`'s bytes, for the pre-filter.
        bytes: &'a [u8],
        /// `extra_data`.
        extra: &'a [u8],
        /// Why it does not parse.
        error: EntryError,
    },
}

impl Batch {
    /// The new entries, in order. A tile that does not parse is an error.
    pub fn items(&self) -> Result<Vec<Item<'_>>, EntryError> {
        match self {
            Batch::Tile {
                bytes,
                first,
                count,
                skip_to,
            } => Ok(parse_tile(bytes, *first, *count)?
                .into_iter()
                .filter(|e| e.index >= *skip_to)
                .map(Item::Entry)
                .collect()),
            Batch::Items { first, items } => Ok(items
                .iter()
                .enumerate()
                .map(|(i, (leaf, extra))| {
                    let index = first + i as u64;
                    match parse_rfc6962(index, leaf, extra) {
                        Ok(e) => Item::Entry(e),
                        Err(error) => Item::Malformed {
                            index,
                            leaf_hash: super::merkle::leaf_hash(leaf),
                            bytes: leaf,
                            extra,
                            error,
                        },
                    }
                })
                .collect()),
        }
    }

    /// How many new entries it holds.
    pub fn len(&self) -> u64 {
        match self {
            Batch::Tile {
                first,
                count,
                skip_to,
                ..
            } => (first + *count as u64).saturating_sub(*skip_to),
            Batch::Items { items, .. } => items.len() as u64,
        }
    }

    /// Whether it holds no new entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
