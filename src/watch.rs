//! The one file watcher: key files, secret files (keys and substitution
//! secrets) and any other file attestgate re-reads when it changes.
//!
//! # Rules
//!
//! - Every poll compares the file's (modification time, size, inode) with
//!   the last seen; when they changed, or the modification time is under 2 s
//!   old (file systems with coarse timestamps), the file is read and the
//!   SHA-256 of its content compared with the content last taken.
//! - A new content (or a new read error) is taken only once two polls in a
//!   row read it the same, so a write in progress is never taken: a change
//!   applies one to two poll intervals after it is written.
//! - A content is reported once: a bad file is reported once per distinct
//!   bad content, not at every poll.
//! - An in-place rewrite of the same size within one second, an atomic
//!   rename, and the Kubernetes ConfigMap/Secret swap (the `..data` symlink
//!   moved to a new timestamped folder) are all seen: the path is followed,
//!   so a new inode or a new content under the same stamp both count.
//! - A file is read up to its cap and no further; a larger file is a read
//!   error (`file over N bytes`).
//!
//! The watcher holds no timer: its owner calls [`FileWatch::poll`] on its
//! own schedule (the key refresher and the substitution-secret watcher
//! every `watch_interval`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

/// A file modified less than this long ago is re-read (and its hash
/// compared) even if its stamp looks unchanged: timestamps may be coarse.
const RACY_WINDOW: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp_of(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode,
    })
}

/// What was last seen in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Content([u8; 32]),
    Unreadable(std::io::ErrorKind),
}

/// What a poll found.
#[derive(Debug)]
pub enum FileChange {
    /// Nothing new to take (no change, or a change not yet settled).
    Unchanged,
    /// A new content, read the same on two polls in a row. Zeroed on drop.
    Content(Zeroizing<Vec<u8>>),
    /// The file cannot be read (missing, too large, no permission), for the
    /// second poll in a row. Reported once until the file changes again.
    Unreadable(std::io::Error),
}

/// One watched file: its stamp, what was last taken from it, and a new
/// content waiting to read the same twice.
#[derive(Debug)]
pub struct FileWatch {
    path: PathBuf,
    max_bytes: usize,
    stamp: Option<Stamp>,
    /// The content (or read error) last taken or reported.
    seen: Option<Seen>,
    /// A different content read at the previous poll, not yet settled.
    pending: Option<Seen>,
}

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The message of an oversize read: `file over 1 MiB`, `body over 1000 bytes`.
pub(crate) fn over_cap(what: &str, max: usize) -> String {
    if max >= 1024 * 1024 && max.is_multiple_of(1024 * 1024) {
        format!("{what} over {} MiB", max / (1024 * 1024))
    } else {
        format!("{what} over {max} bytes")
    }
}

/// Reads at most `max` bytes of `path`; more is an error.
pub(crate) fn read_capped(path: &Path, max: usize) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let file = std::fs::File::open(path)?;
    let hint = file.metadata().map_or(0, |m| m.len());
    let cap = usize::try_from(hint).unwrap_or(max).min(max);
    let mut buf = Zeroizing::new(Vec::with_capacity(cap.saturating_add(1)));
    file.take(max as u64 + 1).read_to_end(&mut buf)?;
    if buf.len() > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            over_cap("file", max),
        ));
    }
    Ok(buf)
}

impl FileWatch {
    /// Starts watching `path` (read up to `max_bytes`) and reads it now. The
    /// stamp is taken first, so a change during the read is seen at the
    /// next poll.
    pub fn open(
        path: impl Into<PathBuf>,
        max_bytes: usize,
    ) -> (FileWatch, std::io::Result<Zeroizing<Vec<u8>>>) {
        let mut watch = FileWatch {
            path: path.into(),
            max_bytes,
            stamp: None,
            seen: None,
            pending: None,
        };
        watch.stamp = stamp_of(&watch.path);
        let (seen, first) = watch.read();
        watch.seen = Some(seen);
        (watch, first)
    }

    /// The watched path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> (Seen, std::io::Result<Zeroizing<Vec<u8>>>) {
        match read_capped(&self.path, self.max_bytes) {
            Ok(bytes) => (Seen::Content(sha256(&bytes)), Ok(bytes)),
            Err(e) => (Seen::Unreadable(e.kind()), Err(e)),
        }
    }

    /// Checks the file. A new content (or a new read error) is returned once
    /// it has read the same on two polls in a row, so a write in progress
    /// is never taken.
    pub fn poll(&mut self) -> FileChange {
        let stamp = stamp_of(&self.path);
        let racy = stamp.and_then(|s| s.modified).is_none_or(|m| {
            SystemTime::now()
                .duration_since(m)
                .map_or(true, |age| age < RACY_WINDOW)
        });
        if self.pending.is_none() && stamp == self.stamp && !racy {
            return FileChange::Unchanged;
        }
        self.stamp = stamp;
        let (now, read) = self.read();
        if self.seen == Some(now) {
            self.pending = None;
            return FileChange::Unchanged;
        }
        if self.pending != Some(now) {
            self.pending = Some(now);
            return FileChange::Unchanged;
        }
        self.pending = None;
        self.seen = Some(now);
        match read {
            Ok(bytes) => FileChange::Content(bytes),
            Err(e) => FileChange::Unreadable(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_watch_sees_in_place_rewrites_of_the_same_size_once_settled_and_reports_errors_once() {
        let dir =
            std::env::temp_dir().join(format!("attestgate-refresh-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("watched");
        std::fs::write(&path, "aaaa").unwrap();
        let (mut w, first) = FileWatch::open(path.clone(), 16);
        assert_eq!(&first.unwrap()[..], b"aaaa");
        assert!(matches!(w.poll(), FileChange::Unchanged));
        // Same size, same second, in place: taken once it reads the same
        // twice in a row.
        std::fs::write(&path, "bbbb").unwrap();
        assert!(matches!(w.poll(), FileChange::Unchanged));
        assert!(matches!(w.poll(), FileChange::Content(b) if &b[..] == b"bbbb"));
        assert!(matches!(w.poll(), FileChange::Unchanged));
        // A write in progress (content moving between polls) is never taken.
        std::fs::write(&path, "cc").unwrap();
        assert!(matches!(w.poll(), FileChange::Unchanged));
        std::fs::write(&path, "cccc").unwrap();
        assert!(matches!(w.poll(), FileChange::Unchanged));
        assert!(matches!(w.poll(), FileChange::Content(b) if &b[..] == b"cccc"));
        // Back to what was taken: nothing to do.
        std::fs::write(&path, "cc").unwrap();
        assert!(matches!(w.poll(), FileChange::Unchanged));
        std::fs::write(&path, "cccc").unwrap();
        assert!(matches!(w.poll(), FileChange::Unchanged));
        assert!(matches!(w.poll(), FileChange::Unchanged));
        std::fs::write(&path, "x".repeat(17)).unwrap();
        assert!(matches!(w.poll(), FileChange::Unchanged));
        assert!(
            matches!(w.poll(), FileChange::Unreadable(e) if e.to_string() == "file over 16 bytes")
        );
        assert!(
            matches!(w.poll(), FileChange::Unchanged),
            "one report per bad content"
        );
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(w.poll(), FileChange::Unchanged));
        assert!(matches!(w.poll(), FileChange::Unreadable(_)));
        assert!(matches!(w.poll(), FileChange::Unchanged));
        std::fs::write(&path, "bbbb").unwrap();
        assert!(matches!(w.poll(), FileChange::Unchanged));
        assert!(matches!(w.poll(), FileChange::Content(_)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
