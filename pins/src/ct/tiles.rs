//! A static-ct-api log (c2sp.org/static-ct-api, c2sp.org/tlog-tiles):
//! `checkpoint`, hash tiles `tile/<L>/<N>[.p/<W>]`, data tiles
//! `tile/data/<N>[.p/<W>]` (256 entries each, the last one partial),
//! `issuer/<hex SHA-256>`. Tile indexes are written in groups of three
//! digits, all but the last prefixed with `x` (`x001/x234/067`).

use ring::digest::{SHA256, digest};

use super::batch::{Batch, HeadError, SignedHead};
use super::http::{FetchError, Http};
use super::key::LogKey;
use super::merkle::{Frontier, Hash, perfect_root};
use super::note::{NoteError, open_checkpoint};

/// Entries (or hashes) per full tile.
pub const WIDTH: u64 = 256;
/// The largest data tile read, inflated (a real one is ~400 KiB).
pub const MAX_DATA_TILE: usize = 64 * 1024 * 1024;
/// The largest issuer certificate read.
pub const MAX_ISSUER: usize = 64 * 1024;

/// The path of a tile: `level` `None` for data tiles.
pub fn tile_path(level: Option<u8>, index: u64, width: u64) -> String {
    let mut n = index;
    let mut digits = format!("{:03}", n % 1000);
    while n >= 1000 {
        n /= 1000;
        digits = format!("x{:03}/{digits}", n % 1000);
    }
    let l = level.map_or_else(|| "data".to_owned(), |l| l.to_string());
    if width == WIDTH {
        format!("tile/{l}/{digits}")
    } else {
        format!("tile/{l}/{digits}.p/{width}")
    }
}

pub(super) async fn head(
    http: &Http,
    base: &str,
    origin: &str,
    key: &LogKey,
) -> Result<SignedHead, HeadError> {
    let raw = http
        .get(&format!("{base}checkpoint"), super::note::MAX_NOTE)
        .await?;
    match open_checkpoint(&raw, origin, key) {
        Ok(cp) => Ok(SignedHead {
            size: cp.size,
            root: cp.root,
            timestamp_ms: cp.timestamp_ms,
            raw,
        }),
        Err(NoteError::Malformed(m)) => Err(FetchError::parse("checkpoint", m).into()),
        Err(NoteError::Signature(message)) => Err(HeadError::BadSignature { message, raw }),
    }
}

/// The entries of the data tile holding `start`, up to `end` (exclusive).
pub(super) async fn batch(
    http: &Http,
    base: &str,
    start: u64,
    end: u64,
) -> Result<Batch, FetchError> {
    let n = start / WIDTH;
    let first = n * WIDTH;
    let width = (end - first).min(WIDTH);
    let path = tile_path(None, n, width);
    let bytes = http.get(&format!("{base}{path}"), MAX_DATA_TILE).await?;
    Ok(Batch::Tile {
        bytes,
        first,
        count: width as usize,
        skip_to: start,
    })
}

/// The hashes of hash tile `(level, index)` of a tree of `size` leaves.
async fn hash_tile(
    http: &Http,
    base: &str,
    level: u8,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, FetchError> {
    let at_level = size >> (8 * u32::from(level));
    let width = (at_level - index * WIDTH).min(WIDTH);
    let path = tile_path(Some(level), index, width);
    let bytes = http
        .get(&format!("{base}{path}"), (WIDTH * 32) as usize)
        .await?;
    if bytes.len() as u64 != width * 32 {
        return Err(FetchError::parse(
            &path,
            format!("{} bytes, expected {}", bytes.len(), width * 32),
        ));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect())
}

/// The frontier of the tree of `size` leaves, from its hash tiles: each
/// perfect subtree of height `h` is a node of tile level `h / 8`'s row,
/// hashed up `h % 8` levels.
pub(super) async fn frontier(http: &Http, base: &str, size: u64) -> Result<Frontier, FetchError> {
    let mut nodes = Vec::new();
    for (h, index) in Frontier::positions(size) {
        let level = (h / 8) as u8;
        let up = h % 8;
        let lo = index << up; // first node of the row at level 8·level
        let tile = lo / WIDTH;
        let row = hash_tile(http, base, level, tile, size).await?;
        let from = (lo - tile * WIDTH) as usize;
        let span = row
            .get(from..from + (1usize << up))
            .ok_or_else(|| FetchError::parse("hash tile", "shorter than the tree needs"))?;
        nodes.push(perfect_root(span));
    }
    Frontier::from_parts(size, nodes)
        .ok_or_else(|| FetchError::parse("hash tiles", "no frontier for this size"))
}

/// `issuer/<hex>`, checked against its fingerprint.
pub(super) async fn issuer(
    http: &Http,
    base: &str,
    fingerprint: &[u8; 32],
) -> Result<Vec<u8>, FetchError> {
    let hex: String = fingerprint.iter().map(|b| format!("{b:02x}")).collect();
    let der = http.get(&format!("{base}issuer/{hex}"), MAX_ISSUER).await?;
    if digest(&SHA256, &der).as_ref() != fingerprint {
        return Err(FetchError::parse(
            "issuer",
            format!("issuer/{hex} does not hash to its name"),
        ));
    }
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_paths_as_the_spec_writes_them() {
        assert_eq!(tile_path(Some(0), 0, 256), "tile/0/000");
        assert_eq!(tile_path(Some(1), 1234067, 256), "tile/1/x001/x234/067");
        assert_eq!(tile_path(None, 3, 10), "tile/data/003.p/10");
        assert_eq!(tile_path(None, 1000, 256), "tile/data/x001/000");
        assert_eq!(tile_path(Some(2), 999, 1), "tile/2/999.p/1");
    }
}
