//! The watch's state directory (`--state DIR`):
//!
//! ```text
//! DIR/lock                     the pid of the watch using DIR (one at a time)
//! DIR/logs/<log id hex>.json   position, frontier, verified and target heads, halt
//! DIR/reported.bin             (TBS SHA-256, verdict) pairs already reported: 33-byte records
//! DIR/issuers.json             issuer keys seen per domain (for unknown_issuer)
//! DIR/evidence/<log id hex>/<unix>-<kind>/   both signed heads and what was wrong
//! ```
//!
//! Every JSON file is written whole to a temporary file, synced, and
//! renamed over the old one (then the directory is synced), so a kill at
//! any moment leaves the old state or the new one. `reported.bin` is
//! appended and synced before an event is written out, so an event is
//! never reported twice (across restarts too). Every table is bounded.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::merkle::{Frontier, Hash};
use super::source::SignedHead;
use crate::spki::Pin;

/// The most (TBS, verdict) pairs remembered; past it the oldest half is
/// forgotten (a certificate logged again that long after is reported again).
pub const MAX_REPORTED: usize = 1 << 20;
/// The most issuer keys remembered per domain.
pub const MAX_ISSUERS: usize = 64;
/// The largest state file read.
const MAX_FILE: u64 = 1024 * 1024;

/// A signed head, as kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadRecord {
    /// Tree size.
    pub size: u64,
    /// Root, hex.
    pub root: String,
    /// Timestamp, ms.
    pub timestamp_ms: u64,
    /// What the log served, base64.
    pub raw: String,
}

impl HeadRecord {
    /// The record of `h`.
    pub fn of(h: &SignedHead) -> HeadRecord {
        HeadRecord {
            size: h.size,
            root: hex(&h.root),
            timestamp_ms: h.timestamp_ms,
            raw: STANDARD.encode(&h.raw),
        }
    }

    /// The raw bytes.
    pub fn raw_bytes(&self) -> Vec<u8> {
        STANDARD.decode(&self.raw).unwrap_or_default()
    }
}

/// Why a log was stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halt {
    /// `rollback`, `fork`, `root_mismatch`, `bad_signature`.
    pub kind: String,
    /// When, Unix seconds.
    pub at: i64,
    /// What was wrong.
    pub message: String,
    /// Where the evidence is.
    pub evidence: String,
}

/// One log's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogState {
    /// The log's description.
    pub description: String,
    /// Entries read (and added to the frontier).
    pub position: u64,
    /// The frontier of `position` leaves, hex.
    pub frontier: Vec<String>,
    /// The last head whose root the entries read matched.
    pub verified: Option<HeadRecord>,
    /// The head being read towards (a later head may not be smaller).
    pub target: Option<HeadRecord>,
    /// Set when the log misbehaved: it is not read any more.
    pub halted: Option<Halt>,
}

impl LogState {
    /// The frontier, checked against the position.
    pub fn frontier(&self) -> Option<Frontier> {
        let nodes: Option<Vec<Hash>> = self.frontier.iter().map(|h| unhex(h)).collect();
        Frontier::from_parts(self.position, nodes?)
    }

    /// Sets position and frontier together.
    pub fn set_frontier(&mut self, f: &Frontier) {
        self.position = f.size();
        self.frontier = f.nodes().iter().map(|n| hex(n)).collect();
    }
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Hash> {
    if s.len() != 64 {
        return None;
    }
    let mut h = [0u8; 32];
    for (i, b) in h.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(h)
}

/// Writes `bytes` to `path` atomically (temporary file, sync, rename, sync
/// the directory).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state")
    ));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn read_small(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match File::open(path) {
        Ok(f) => {
            let mut v = Vec::new();
            f.take(MAX_FILE + 1).read_to_end(&mut v)?;
            if v.len() as u64 > MAX_FILE {
                return Err(std::io::Error::other(format!(
                    "{} is larger than 1 MiB",
                    path.display()
                )));
            }
            Ok(Some(v))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The state directory, opened and locked.
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
    reported: HashSet<[u8; 33]>,
    order: Vec<[u8; 33]>,
    issuers: HashMap<String, Vec<String>>,
}

impl StateDir {
    /// Opens (creating) `dir`; refuses when another live watch holds it.
    pub fn open(dir: &Path) -> Result<StateDir, String> {
        let ctx = |e: std::io::Error| format!("state directory {}: {e}", dir.display());
        fs::create_dir_all(dir.join("logs")).map_err(ctx)?;
        fs::create_dir_all(dir.join("evidence")).map_err(ctx)?;
        let lock = dir.join("lock");
        if let Some(pid) = read_small(&lock).map_err(ctx)? {
            let pid = String::from_utf8_lossy(&pid).trim().to_owned();
            let me = std::process::id().to_string();
            if !pid.is_empty()
                && pid != me
                && pid.bytes().all(|b| b.is_ascii_digit())
                && Path::new("/proc").join(&pid).exists()
            {
                return Err(format!(
                    "state directory {}: in use by process {pid} (one watch per directory)",
                    dir.display()
                ));
            }
        }
        write_atomic(&lock, std::process::id().to_string().as_bytes()).map_err(ctx)?;
        let mut s = StateDir {
            dir: dir.to_owned(),
            reported: HashSet::new(),
            order: Vec::new(),
            issuers: HashMap::new(),
        };
        if let Ok(bytes) = fs::read(dir.join("reported.bin")) {
            for r in bytes.chunks_exact(33) {
                let mut k = [0u8; 33];
                k.copy_from_slice(r);
                if s.reported.insert(k) {
                    s.order.push(k);
                }
            }
        }
        if let Some(b) = read_small(&dir.join("issuers.json")).map_err(ctx)? {
            s.issuers = serde_json::from_slice(&b)
                .map_err(|e| format!("{}: {e}", dir.join("issuers.json").display()))?;
        }
        Ok(s)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn log_path(&self, id_hex: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{id_hex}.json"))
    }

    /// A log's state (default when new).
    pub fn load_log(&self, id_hex: &str) -> Result<Option<LogState>, String> {
        let p = self.log_path(id_hex);
        match read_small(&p).map_err(|e| format!("{}: {e}", p.display()))? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| format!("{}: {e} (delete it to start this log again)", p.display())),
        }
    }

    /// Saves a log's state atomically.
    pub fn save_log(&self, id_hex: &str, s: &LogState) -> Result<(), String> {
        let p = self.log_path(id_hex);
        let bytes = serde_json::to_vec_pretty(s).map_err(|e| e.to_string())?;
        write_atomic(&p, &bytes).map_err(|e| format!("{}: {e}", p.display()))
    }

    /// Whether (tbs, verdict) was reported.
    pub fn was_reported(&self, tbs: &[u8; 32], verdict: u8) -> bool {
        self.reported.contains(&key(tbs, verdict))
    }

    /// Records (tbs, verdict) durably; `false` when it already was.
    pub fn record_reported(&mut self, tbs: &[u8; 32], verdict: u8) -> Result<bool, String> {
        let k = key(tbs, verdict);
        if self.reported.contains(&k) {
            return Ok(false);
        }
        let p = self.dir.join("reported.bin");
        if self.order.len() >= MAX_REPORTED {
            let keep = self.order.split_off(self.order.len() / 2);
            self.reported = keep.iter().copied().collect();
            self.order = keep;
            write_atomic(&p, &self.order.concat()).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .map_err(|e| format!("{}: {e}", p.display()))?;
        f.write_all(&k)
            .and_then(|()| f.sync_data())
            .map_err(|e| format!("{}: {e}", p.display()))?;
        self.reported.insert(k);
        self.order.push(k);
        Ok(true)
    }

    /// Whether `pin` issued a certificate judged known for `domain` before.
    pub fn issuer_seen(&self, domain: &str, pin: &Pin) -> bool {
        let b = pin.to_base64();
        self.issuers.get(domain).is_some_and(|v| v.contains(&b))
    }

    /// Remembers `pin` as an issuer of `domain`.
    pub fn remember_issuer(&mut self, domain: &str, pin: &Pin) -> Result<(), String> {
        if self.issuer_seen(domain, pin)
            || (self.issuers.len() >= 4096 && !self.issuers.contains_key(domain))
        {
            return Ok(());
        }
        let list = self.issuers.entry(domain.to_owned()).or_default();
        list.push(pin.to_base64());
        if list.len() > MAX_ISSUERS {
            list.remove(0);
        }
        let p = self.dir.join("issuers.json");
        let bytes = serde_json::to_vec_pretty(&self.issuers).map_err(|e| e.to_string())?;
        write_atomic(&p, &bytes).map_err(|e| format!("{}: {e}", p.display()))
    }

    /// Keeps evidence of a misbehaving log; returns its directory.
    pub fn keep_evidence(
        &self,
        id_hex: &str,
        kind: &str,
        files: &[(&str, &[u8])],
    ) -> Result<PathBuf, String> {
        let d = self
            .dir
            .join("evidence")
            .join(id_hex)
            .join(format!("{}-{kind}", crate::clock::now_unix()));
        fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for (name, bytes) in files {
            write_atomic(&d.join(name), bytes).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        Ok(d)
    }
}

fn key(tbs: &[u8; 32], verdict: u8) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[..32].copy_from_slice(tbs);
    k[32] = verdict;
    k
}

/// Parses a hex TBS hash.
pub fn tbs_bytes(hex_text: &str) -> Option<[u8; 32]> {
    unhex(hex_text)
}
