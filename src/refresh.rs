//! Keeping the keys current: the refresher, the one writer of the key set.
//!
//! # Policy
//!
//! **One snapshot, one writer.** Every key in service (HS256 secrets, the keys
//! of an inline JWKS, of the JWKS file and of the JWKS URL) sits in one
//! immutable [`KeySet`](crate::KeySet) behind one `ArcSwap`. The refresher
//! keeps the last good keys of each source apart; when any source changes,
//! it builds the next set from all of them and swaps it in whole, with a new
//! generation. The verified-token cache never serves a result of another
//! generation (and is cleared on each swap). A request only loads the
//! snapshot: it never waits on I/O, a lock or the refresher.
//!
//! **A failed source keeps its last good keys.** A bad answer or a bad file
//! never removes a key and never empties the set: it is counted, logged (one
//! `warn` line with the reason: status code, `timeout`, `body over 1 MiB`,
//! the parse error; never the body, never a secret) and retried.
//!
//! | source | read | afterwards |
//! |---|---|---|
//! | secret `{ value }`, `{ env }`, inline JWKS | when the verifier is built (an env var is read once) | never re-read |
//! | secret `{ file }`, JWKS `file` | when the verifier is built (an error fails the build) | checked every `watch_interval` |
//! | JWKS `url` | its `cache_file` (if any) when built; fetched when the refresher starts | refetched on the schedule below |
//!
//! ## JWKS URL (defaults: `refresh` 5 min, `min_refetch` 10 s, `timeout` 5 s, body cap 1 MiB)
//!
//! - **Each fetch** is one `GET` with `timeout` on the whole exchange
//!   (connect, TLS, headers, body), over `http://` or `https://` (rustls with
//!   ring and Mozilla's webpki roots). Redirects are not followed (a 3xx is an
//!   error). The body is read up to `max_body_bytes` (1 MiB) and no further.
//!   `If-None-Match` carries the `ETag` of the document in service; a 304
//!   keeps it and counts as a success. A 2xx body must be a JWKS with at least
//!   one usable key (unusable keys are skipped with a warning). Anything else
//!   (connection refused, timeout, 4xx/5xx, HTML, `{}`, `{"keys":[]}`,
//!   truncated JSON, an oversize body, a hang) is a failure: the last good set
//!   stays in service.
//! - **After a success** the next fetch comes `refresh` later, or after the
//!   answer's `Cache-Control: max-age` clamped to [`min_refetch`, `refresh`]
//!   (`no-cache`/`no-store` count as 0, so `min_refetch`), minus up to 10 %
//!   random jitter (never below `min_refetch`).
//! - **After a failure**: exponential backoff from max(`min_refetch`, 100 ms),
//!   doubling with each failure in a row, capped at `refresh`, minus up to
//!   25 % random jitter (never below `min_refetch`). With the defaults: about
//!   10 s, 20 s, 40 s, 80 s, 160 s, then every 5 min until a success.
//! - **Unknown `kid`** (and `no_keys`): the request is rejected at once and
//!   signals the refresher, which fetches no sooner than `min_refetch` after
//!   the start of its previous fetch (at once if that is past; on the regular
//!   schedule if that comes first). The early fetch is not held back by the
//!   failure backoff, only by `min_refetch`. There is one refresher and one
//!   fetch at a time, so a flood of unknown kids costs at most one fetch per
//!   `min_refetch`; when the fetch brings the key, the next request with it
//!   passes.
//! - **Cache file**: after a fetch that brought a new document, it is written
//!   to `cache_file` atomically (a temporary file in the same directory, then
//!   a rename). When the verifier is built, a valid cache file serves its
//!   keys until a fetch succeeds, so a cold start works while the endpoint is
//!   down.
//! - Schedule times are counted from the end of the previous fetch; two
//!   fetches of one refresher never start less than `min_refetch` apart.
//!
//! ## Files (default `watch_interval` 1 s)
//!
//! Every `watch_interval` each file's (modification time, size, inode) is
//! compared with the last seen; when it changed (or the modification time is
//! under 2 s old, for file systems with coarse timestamps) the file is read
//! and the SHA-256 of its content compared with the last content taken. A
//! new content is taken once it reads the same on two polls in a row (so a
//! write in progress is never taken: a change applies 1-2 `watch_interval`s
//! after it is written). It is then parsed; if valid, it replaces that
//! source's keys and a new set is swapped in; if not (half-written, invalid,
//! empty, missing, too large), the last good keys stay and one warning says
//! why, once per distinct bad content (never the content). An atomic rename
//! and an in-place rewrite are both seen. A JWKS file is read up to
//! `max_body_bytes`, a secret file up to 64 KiB. Files are checked between
//! fetches (a fetch in flight delays a check by at most `timeout`).
//!
//! ## Readiness
//!
//! Ready ([`Verifier::is_ready`]) once the key set holds a key: at once for
//! secrets, files and a valid cache file; after the first good fetch for a
//! URL alone. Until then every request gets `no_keys` (503) and the
//! refresher retries (backoff, and early on requests as above); when the
//! endpoint comes back, requests pass without a restart.
//!
//! ## Metrics
//!
//! `attestgate_keyset_refresh_total{source="url"}`: one `ok` (200 or 304) or
//! `error` per fetch. `{source="file"}`: one per changed content of a
//! watched file (JWKS or secret). `attestgate_keyset_keys` and
//! `attestgate_keyset_age_seconds` are set on each swap; a successful fetch
//! that brings no change (304 or the same document) also resets the age.
//!
//! ## Running it
//!
//! [`Verifier::run_refresher`] (inside the caller's task, e.g. a Pingora
//! background service) runs until its `shutdown` future resolves.
//! [`Verifier::spawn_refresher`] runs it in a tokio task holding only a weak
//! reference: it stops when its [`RefresherHandle`] is shut down or dropped,
//! or when every clone of the verifier is dropped. Both return at once when
//! there is nothing to refresh (only inline or env secrets, inline JWKS).
//! One refresher runs per verifier; a second one returns at once with a
//! warning. [`Verifier::refresh_once`] checks every source once (for a
//! command-line tool).
//!
//! ## Guarantees
//!
//! - The request path reads one snapshot (an `ArcSwap` load): no I/O, no
//!   lock, no waiting on the refresher.
//! - Once a key is loaded the set is never empty, and a key leaves it only
//!   when its own source, read successfully, no longer holds it.
//! - A key the issuer publishes verifies from the first request after the
//!   early fetch, which starts at most `min_refetch` after the previous one.
//!   A key it removes stops verifying at the next successful fetch (within
//!   `refresh`, or `max-age`), cached verifications included.
//! - At most one fetch is in flight; fetches start at least `min_refetch`
//!   apart, and at least every `refresh` (plus `timeout`) while running.

use std::future::Future;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::clock;
use crate::fetch::{self, Fetched, Fetcher, HttpFetcher};
use crate::keys::{self, Key};
use crate::metrics::VerifierMetrics;
use crate::secret::SecretSource;
use crate::verify::{JwksOptions, SecretSpec, Shared, Verifier, load_secret, log_skipped};

/// Default cap on a JWKS document, fetched or read from a file.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Cap on a secret file.
const SECRET_FILE_MAX_BYTES: usize = 64 * 1024;
/// Floor of every interval (a zero would spin).
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// Floor of the first backoff step.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// A file modified less than this long ago is re-read (and its hash
/// compared) even if its stamp looks unchanged: timestamps may be coarse.
const RACY_WINDOW: Duration = Duration::from_secs(2);

// ------------------------------------------------------------------ signal

/// The request path's line to the refresher: "a token named an unknown
/// `kid`". Shared by the verifier and its refresher (which holds no strong
/// reference to the verifier between passes).
pub(crate) struct Signal {
    wanted: AtomicBool,
    notify: Notify,
    running: AtomicBool,
}

impl Signal {
    pub(crate) fn new() -> Arc<Signal> {
        Arc::new(Signal {
            wanted: AtomicBool::new(false),
            notify: Notify::new(),
            running: AtomicBool::new(false),
        })
    }

    /// Asks for an early refetch. One atomic swap; wakes the refresher only
    /// on the first call since its last fetch.
    pub(crate) fn want_refetch(&self) {
        if !self.wanted.swap(true, Ordering::AcqRel) {
            self.notify.notify_one();
        }
    }
}

/// Marks a refresher as running while alive (one writer per verifier).
struct Running(Arc<Signal>);

impl Running {
    fn claim(signal: &Arc<Signal>) -> Option<Running> {
        (!signal.running.swap(true, Ordering::AcqRel)).then(|| Running(signal.clone()))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::Release);
    }
}

// ------------------------------------------------------------------ timing

/// The schedule's settings, sanitized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timing {
    pub(crate) refresh: Duration,
    pub(crate) min_refetch: Duration,
    pub(crate) backoff_base: Duration,
    pub(crate) watch_interval: Duration,
}

impl Timing {
    pub(crate) fn new(o: &JwksOptions) -> Timing {
        let refresh = o.refresh.max(MIN_INTERVAL);
        let min_refetch = o.min_refetch.min(refresh);
        Timing {
            refresh,
            min_refetch,
            backoff_base: min_refetch.max(MIN_BACKOFF).min(refresh),
            watch_interval: o.watch_interval.max(MIN_INTERVAL),
        }
    }
}

/// Delay after a success: `max-age` (or `refresh`) clamped to
/// [`min_refetch`, `refresh`], minus up to 10 % (`r` in [0, 1)), never below
/// `min_refetch`.
pub(crate) fn ok_delay(t: Timing, max_age: Option<Duration>, r: f64) -> Duration {
    let base = max_age.unwrap_or(t.refresh).clamp(t.min_refetch, t.refresh);
    base.saturating_sub(base.mul_f64(0.1 * r.clamp(0.0, 1.0)))
        .max(t.min_refetch)
}

/// Delay after the `failures`-th failure in a row (from 1): the base doubled
/// `failures - 1` times, capped at `refresh`, minus up to 25 %, never below
/// `min_refetch`.
pub(crate) fn backoff_delay(t: Timing, failures: u32, r: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(30);
    let step = t
        .backoff_base
        .saturating_mul(1u32 << doublings)
        .min(t.refresh);
    step.saturating_sub(step.mul_f64(0.25 * r.clamp(0.0, 1.0)))
        .max(t.min_refetch)
}

/// When the URL is fetched next. Pure: times come in, times go out.
#[derive(Clone, Debug)]
pub(crate) struct UrlSchedule {
    timing: Timing,
    due: Instant,
    last_start: Option<Instant>,
    failures: u32,
}

impl UrlSchedule {
    /// A first fetch at once.
    pub(crate) fn new(timing: Timing, now: Instant) -> UrlSchedule {
        UrlSchedule {
            timing,
            due: now,
            last_start: None,
            failures: 0,
        }
    }

    pub(crate) fn due(&self) -> Instant {
        self.due
    }

    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }

    /// An unknown `kid` was seen: fetch as soon as `min_refetch` allows.
    pub(crate) fn want_early(&mut self, now: Instant) {
        let earliest = match self.last_start {
            Some(t) => (t + self.timing.min_refetch).max(now),
            None => now,
        };
        self.due = self.due.min(earliest);
    }

    /// A fetch starts.
    pub(crate) fn started(&mut self, now: Instant) {
        self.last_start = Some(now);
    }

    /// It succeeded (ended at `now`); returns the delay to the next one.
    pub(crate) fn succeeded(
        &mut self,
        now: Instant,
        max_age: Option<Duration>,
        r: f64,
    ) -> Duration {
        self.failures = 0;
        let d = ok_delay(self.timing, max_age, r);
        self.due = now + d;
        d
    }

    /// It failed (ended at `now`); returns the delay to the next one.
    pub(crate) fn failed(&mut self, now: Instant, r: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let d = backoff_delay(self.timing, self.failures, r);
        self.due = now + d;
        d
    }
}

// ------------------------------------------------------------------- files

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

enum Change {
    Unchanged,
    Content(Zeroizing<Vec<u8>>),
    Unreadable(String),
}

/// One watched file: its stamp, what was last taken from it, and a new
/// content waiting to read the same twice.
struct FileWatch {
    path: PathBuf,
    max_bytes: usize,
    stamp: Option<Stamp>,
    /// The content (or read error) last applied or reported.
    seen: Option<Seen>,
    /// A different content read at the previous poll, not yet settled.
    pending: Option<Seen>,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Reads at most `max` bytes; more is an error.
fn read_capped(path: &Path, max: usize) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let file = std::fs::File::open(path)?;
    let hint = file.metadata().map_or(0, |m| m.len());
    let cap = usize::try_from(hint).unwrap_or(max).min(max);
    let mut buf = Zeroizing::new(Vec::with_capacity(cap.saturating_add(1)));
    file.take(max as u64 + 1).read_to_end(&mut buf)?;
    if buf.len() > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            fetch::over_cap(max).replacen("body", "file", 1),
        ));
    }
    Ok(buf)
}

impl FileWatch {
    /// Starts watching `path` and reads it now (the stamp is taken first, so
    /// a change during the read is seen at the next poll).
    fn open(path: PathBuf, max_bytes: usize) -> (FileWatch, Result<Zeroizing<Vec<u8>>, String>) {
        let mut watch = FileWatch {
            path,
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

    fn read(&self) -> (Seen, Result<Zeroizing<Vec<u8>>, String>) {
        match read_capped(&self.path, self.max_bytes) {
            Ok(bytes) => (Seen::Content(sha256(&bytes)), Ok(bytes)),
            Err(e) => (Seen::Unreadable(e.kind()), Err(e.to_string())),
        }
    }

    /// Checks the file. A new content (or a new read error) is returned once
    /// it has read the same on two polls in a row, so a write in progress
    /// is never taken.
    fn poll(&mut self) -> Change {
        let stamp = stamp_of(&self.path);
        let racy = stamp.and_then(|s| s.modified).is_none_or(|m| {
            SystemTime::now()
                .duration_since(m)
                .map_or(true, |age| age < RACY_WINDOW)
        });
        if self.pending.is_none() && stamp == self.stamp && !racy {
            return Change::Unchanged;
        }
        self.stamp = stamp;
        let (now, read) = self.read();
        if self.seen == Some(now) {
            self.pending = None;
            return Change::Unchanged;
        }
        if self.pending != Some(now) {
            self.pending = Some(now);
            return Change::Unchanged;
        }
        self.pending = None;
        self.seen = Some(now);
        match read {
            Ok(bytes) => Change::Content(bytes),
            Err(why) => Change::Unreadable(why),
        }
    }
}

// ----------------------------------------------------------------- sources

enum SecretSlot {
    /// `{ value }` or `{ env }`: read once.
    Fixed(Key),
    /// `{ file }`: re-read when it changes.
    File {
        index: usize,
        kid: Option<String>,
        watch: FileWatch,
        key: Key,
    },
}

struct JwksFile {
    watch: FileWatch,
    keys: Vec<Key>,
}

struct JwksUrl {
    keys: Vec<Key>,
    /// The `ETag` of the document the keys came from (none for the cache
    /// file's).
    etag: Option<String>,
    /// SHA-256 of that document.
    hash: Option<[u8; 32]>,
    cache_file: Option<PathBuf>,
}

/// Every key source with its last good keys. Lives in the verifier behind an
/// async mutex; only the refresher (or [`Verifier::refresh_once`]) takes it.
pub(crate) struct Sources {
    secrets: Vec<SecretSlot>,
    inline: Vec<Key>,
    jwks_file: Option<JwksFile>,
    url: Option<JwksUrl>,
}

/// What a fetch of the URL did, when it worked.
struct UrlOk {
    changed: bool,
    max_age: Option<Duration>,
}

fn secret_key(bytes: &[u8], kid: Option<&str>, index: usize, path: &Path) -> Result<Key, String> {
    let text = bytes.trim_ascii();
    if text.is_empty() {
        return Err(format!("secret file {} is empty", path.display()));
    }
    let secret = keys::decode_secret_base64(text)
        .map_err(|e| format!("secret file {} {e}", path.display()))?;
    Key::hmac(&secret, kid, index).map_err(|e| format!("secret file {} {e}", path.display()))
}

fn parse_jwks_doc(source: &str, bytes: &[u8]) -> Result<Vec<Key>, String> {
    let (found, skipped) = keys::parse_jwks(bytes).map_err(|e| e.to_string())?;
    log_skipped(source, &skipped);
    Ok(found)
}

/// Writes `bytes` to `path` atomically: a temporary file next to it, then a
/// rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

impl Sources {
    /// Loads every source now (build time). Problems are reported with the
    /// setting's path; a cache file that cannot be used is only a warning.
    pub(crate) fn load(
        secrets: &[SecretSpec],
        inline: Option<&[u8]>,
        jwks: &JwksOptions,
        problem: &mut impl FnMut(String, String),
    ) -> Sources {
        let mut slots = Vec::with_capacity(secrets.len());
        for (i, spec) in secrets.iter().enumerate() {
            let path = format!("secret[{i}].base64");
            if let SecretSource::File(file) = &spec.source {
                let (watch, first) = FileWatch::open(file.clone(), SECRET_FILE_MAX_BYTES);
                let key = first
                    .map_err(|e| format!("cannot read secret file {}: {e}", file.display()))
                    .and_then(|bytes| secret_key(&bytes, spec.kid.as_deref(), i, file));
                match key {
                    Ok(key) => slots.push(SecretSlot::File {
                        index: i,
                        kid: spec.kid.clone(),
                        watch,
                        key,
                    }),
                    Err(message) => problem(path, message),
                }
            } else {
                match load_secret(spec, i) {
                    Ok(key) => slots.push(SecretSlot::Fixed(key)),
                    Err(message) => problem(path, message),
                }
            }
        }
        let mut inline_keys = Vec::new();
        if let Some(json) = inline {
            match parse_jwks_doc("inline JWKS", json) {
                Ok(found) => inline_keys = found,
                Err(e) => problem("jwks".into(), e),
            }
        }
        if jwks.max_body_bytes < 1024 {
            problem(
                "jwks.max_body_bytes".into(),
                "must be at least 1024 bytes (default 1 MiB)".into(),
            );
        }
        let mut jwks_file = None;
        if let Some(path) = &jwks.file {
            let (watch, first) = FileWatch::open(path.clone(), jwks.max_body_bytes);
            let keys = first
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
                .and_then(|bytes| {
                    parse_jwks_doc(&path.display().to_string(), &bytes)
                        .map_err(|e| format!("{}: {e}", path.display()))
                });
            match keys {
                Ok(keys) => jwks_file = Some(JwksFile { watch, keys }),
                Err(message) => problem("jwks.file".into(), message),
            }
        }
        let mut url = None;
        if let Some(u) = &jwks.url {
            if let Err(message) = fetch::parse_url(u) {
                problem("jwks.url".into(), message);
            }
            let mut slot = JwksUrl {
                keys: Vec::new(),
                etag: None,
                hash: None,
                cache_file: jwks.cache_file.clone(),
            };
            if let Some(path) = &jwks.cache_file {
                // A cold start while the endpoint is down: the last good set.
                match read_capped(path, jwks.max_body_bytes) {
                    Ok(bytes) => match parse_jwks_doc(&path.display().to_string(), &bytes) {
                        Ok(keys) => {
                            slot.keys = keys;
                            slot.hash = Some(sha256(&bytes));
                        }
                        Err(e) => tracing::warn!(
                            file = %path.display(),
                            "ignoring the JWKS cache file: {e}"
                        ),
                    },
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(file = %path.display(), "ignoring the JWKS cache file: {e}")
                    }
                }
            }
            url = Some(slot);
        }
        Sources {
            secrets: slots,
            inline: inline_keys,
            jwks_file,
            url,
        }
    }

    /// The keys in service: secrets in their order, then the inline JWKS,
    /// the JWKS file and the URL's.
    pub(crate) fn keys(&self) -> Vec<Key> {
        let mut out = Vec::new();
        for s in &self.secrets {
            match s {
                SecretSlot::Fixed(key) | SecretSlot::File { key, .. } => out.push(key.clone()),
            }
        }
        out.extend(self.inline.iter().cloned());
        if let Some(f) = &self.jwks_file {
            out.extend(f.keys.iter().cloned());
        }
        if let Some(u) = &self.url {
            out.extend(u.keys.iter().cloned());
        }
        out
    }

    fn watches_files(&self) -> bool {
        self.jwks_file.is_some()
            || self
                .secrets
                .iter()
                .any(|s| matches!(s, SecretSlot::File { .. }))
    }

    /// Checks every watched file; returns whether any source changed. Each
    /// failure is logged, counted and pushed to `failures`.
    fn poll_files(&mut self, m: Option<&VerifierMetrics>, failures: &mut Vec<String>) -> bool {
        let mut changed = false;
        let counted = |ok: bool| {
            if let Some(m) = m {
                if ok {
                    &m.refresh_file_ok
                } else {
                    &m.refresh_file_error
                }
                .inc();
            }
        };
        for slot in &mut self.secrets {
            let SecretSlot::File {
                index,
                kid,
                watch,
                key,
            } = slot
            else {
                continue;
            };
            let source = format!("secret[{index}]");
            let result = match watch.poll() {
                Change::Unchanged => continue,
                Change::Unreadable(e) => Err(format!(
                    "cannot read secret file {}: {e}",
                    watch.path.display()
                )),
                Change::Content(bytes) => secret_key(&bytes, kid.as_deref(), *index, &watch.path),
            };
            match result {
                Ok(new) => {
                    *key = new;
                    changed = true;
                    counted(true);
                    tracing::info!(source, file = %watch.path.display(), "secret file reloaded");
                }
                Err(why) => {
                    counted(false);
                    tracing::warn!(
                        source,
                        "secret not reloaded, the last good key stays in service: {why}"
                    );
                    failures.push(format!("{source}: {why}"));
                }
            }
        }
        if let Some(f) = &mut self.jwks_file {
            let path = f.watch.path.display().to_string();
            let result = match f.watch.poll() {
                Change::Unchanged => None,
                Change::Unreadable(e) => Some(Err(format!("cannot read {path}: {e}"))),
                Change::Content(bytes) => {
                    Some(parse_jwks_doc(&path, &bytes).map_err(|e| format!("{path}: {e}")))
                }
            };
            match result {
                None => {}
                Some(Ok(keys)) => {
                    tracing::info!(source = "jwks.file", file = %path, keys = keys.len(), "JWKS file reloaded");
                    f.keys = keys;
                    changed = true;
                    counted(true);
                }
                Some(Err(why)) => {
                    counted(false);
                    tracing::warn!(
                        source = "jwks.file",
                        "JWKS file not reloaded, the last good keys stay in service: {why}"
                    );
                    failures.push(format!("jwks.file: {why}"));
                }
            }
        }
        changed
    }

    /// One fetch of the URL. Counts it; the caller logs a failure.
    async fn fetch_url<F: Fetcher>(
        &mut self,
        fetcher: &mut F,
        m: Option<&VerifierMetrics>,
    ) -> Result<UrlOk, String> {
        let Some(slot) = &mut self.url else {
            return Err("no JWKS URL is configured".into());
        };
        let etag = if slot.keys.is_empty() {
            None
        } else {
            slot.etag.as_deref()
        };
        let result = match fetcher.fetch(etag).await {
            Ok(Fetched::NotModified { max_age }) => Ok(UrlOk {
                changed: false,
                max_age,
            }),
            Ok(Fetched::Body {
                bytes,
                etag,
                max_age,
            }) => {
                let hash = sha256(&bytes);
                if slot.hash == Some(hash) && !slot.keys.is_empty() {
                    slot.etag = etag;
                    Ok(UrlOk {
                        changed: false,
                        max_age,
                    })
                } else {
                    match parse_jwks_doc("jwks.url", &bytes) {
                        Ok(keys) => {
                            tracing::info!(source = "jwks.url", keys = keys.len(), "JWKS fetched");
                            slot.keys = keys;
                            slot.etag = etag;
                            slot.hash = Some(hash);
                            if let Some(path) = &slot.cache_file
                                && let Err(e) = write_atomic(path, &bytes)
                            {
                                tracing::warn!(
                                    file = %path.display(),
                                    "cannot write the JWKS cache file: {e}"
                                );
                            }
                            Ok(UrlOk {
                                changed: true,
                                max_age,
                            })
                        }
                        Err(e) => Err(e),
                    }
                }
            }
            Err(e) => Err(e),
        };
        if let Some(m) = m {
            if result.is_ok() {
                &m.refresh_url_ok
            } else {
                &m.refresh_url_error
            }
            .inc();
        }
        result
    }
}

/// Swaps in the set built from every source's last good keys.
fn install(shared: &Arc<Shared>, sources: &Sources) {
    let keys = sources.keys();
    let count = keys.len();
    let verifier = Verifier {
        shared: shared.clone(),
    };
    if verifier.install(keys) {
        tracing::info!(
            keys = count,
            generation = shared.keys.load().generation(),
            "key set swapped in"
        );
    }
}

/// A success that changed nothing still proves the keys current.
fn confirmed(shared: &Shared) {
    if let Some(m) = shared.metrics.get() {
        m.keys_loaded(shared.keys.load().len(), clock::now());
    }
}

// -------------------------------------------------------------------- loop

/// The refresher: runs until `shutdown` resolves or the verifier is gone.
/// Holds only a weak reference between passes.
pub(crate) async fn run<F: Fetcher>(
    weak: Weak<Shared>,
    mut fetcher: Option<F>,
    shutdown: impl Future<Output = ()>,
) {
    let (signal, timing, files, url) = {
        let Some(shared) = weak.upgrade() else { return };
        let sources = shared.sources.lock().await;
        let url = sources.url.is_some() && fetcher.is_some();
        (
            shared.refetch.clone(),
            Timing::new(&shared.jwks),
            sources.watches_files(),
            url,
        )
    };
    if !files && !url {
        tracing::debug!("no key source to refresh (only inline or env keys)");
        return;
    }
    let Some(_running) = Running::claim(&signal) else {
        tracing::warn!("a key refresher already runs for this verifier; not starting another");
        return;
    };
    tokio::pin!(shutdown);
    let mut rng = fastrand::Rng::new();
    let start = Instant::now();
    let mut schedule = url.then(|| UrlSchedule::new(timing, start));
    let mut files_due = files.then(|| start + timing.watch_interval);
    loop {
        // Wake for the next due source, or a signal, and at least every
        // `watch_interval` to notice that the verifier is gone.
        let now = Instant::now();
        let mut wake = now + timing.watch_interval;
        if let Some(s) = &schedule {
            wake = wake.min(s.due());
        }
        if let Some(d) = files_due {
            wake = wake.min(d);
        }
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            () = signal.notify.notified() => {}
            () = tokio::time::sleep_until(wake) => {}
        }
        let Some(shared) = weak.upgrade() else { return };
        let now = Instant::now();
        match &mut schedule {
            Some(s) if signal.wanted.load(Ordering::Acquire) => s.want_early(now),
            Some(_) => {}
            None => signal.wanted.store(false, Ordering::Release),
        }
        let files_now = files_due.is_some_and(|d| now >= d);
        let url_now = schedule.as_ref().is_some_and(|s| now >= s.due());
        if !files_now && !url_now {
            continue;
        }
        let mut sources = shared.sources.lock().await;
        let m = shared.metrics.get();
        let mut changed = false;
        if files_now {
            changed |= sources.poll_files(m, &mut Vec::new());
            files_due = Some(now + timing.watch_interval);
        }
        if let (true, Some(s), Some(f)) = (url_now, &mut schedule, &mut fetcher) {
            s.started(now);
            let result = tokio::select! {
                biased;
                () = &mut shutdown => return,
                r = sources.fetch_url(f, m) => r,
            };
            let end = Instant::now();
            match result {
                Ok(ok) => {
                    s.succeeded(end, ok.max_age, rng.f64());
                    if ok.changed {
                        changed = true;
                    } else {
                        confirmed(&shared);
                    }
                }
                Err(why) => {
                    let retry_in = s.failed(end, rng.f64());
                    let held = sources.url.as_ref().is_some_and(|u| !u.keys.is_empty());
                    let keeping = if held {
                        "the last good keys stay in service"
                    } else {
                        "no JWKS key loaded yet"
                    };
                    tracing::warn!(
                        source = "jwks.url",
                        failures = s.failures(),
                        retry_in = ?retry_in,
                        "JWKS refresh failed, {keeping}: {why}"
                    );
                }
            }
        }
        if changed {
            install(&shared, &sources);
        }
        if url_now {
            // Requests that failed before this fetch (and its swap) are
            // answered by it.
            signal.wanted.store(false, Ordering::Release);
        }
    }
}

/// Why [`Verifier::refresh_once`] could not refresh every source. Each entry
/// names the source and the reason; never a body, never a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct RefreshError(pub Vec<String>);

/// Stops the refresher started by [`Verifier::spawn_refresher`]: on
/// [`RefresherHandle::shutdown`], or when dropped.
#[derive(Debug)]
pub struct RefresherHandle {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RefresherHandle {
    /// Stops the refresher and waits until it has stopped (an attempt in
    /// flight is abandoned).
    pub async fn shutdown(mut self) {
        drop(self.stop.take());
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            tracing::warn!("the key refresher ended abnormally: {e}");
        }
    }

    /// Whether the refresher has stopped (nothing to refresh, stopped, or
    /// every clone of the verifier dropped).
    pub fn is_finished(&self) -> bool {
        self.task
            .as_ref()
            .is_none_or(tokio::task::JoinHandle::is_finished)
    }
}

impl Verifier {
    fn url_fetcher(&self) -> Option<HttpFetcher> {
        let j = &self.shared.jwks;
        let url = j.url.as_deref()?;
        match HttpFetcher::new(url, j.timeout, j.max_body_bytes) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(source = "jwks.url", "the JWKS URL cannot be fetched: {e}");
                None
            }
        }
    }

    /// Keeps the keys current (policy: [the `refresh` module](crate::refresh))
    /// until `shutdown` resolves: fetches the JWKS URL on its schedule and on
    /// unknown `kid`s, re-reads key files when they change, and swaps in a
    /// new key set whenever a source changes. Returns at once when there is
    /// nothing to refresh, or when another refresher already runs for this
    /// verifier.
    ///
    /// Holds only a weak reference to the verifier's state between passes;
    /// while this future borrows `self` the verifier stays alive, so it ends
    /// by `shutdown` (use [`Verifier::spawn_refresher`] to have it end with
    /// the last clone). Must run inside a tokio runtime (with the time
    /// driver).
    pub async fn run_refresher(&self, shutdown: impl Future<Output = ()>) {
        run(Arc::downgrade(&self.shared), self.url_fetcher(), shutdown).await;
    }

    /// Runs the refresher in a tokio task. It stops when the handle is shut
    /// down or dropped, or when every clone of this verifier is dropped (the
    /// task holds no strong reference between passes).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (as `tokio::spawn` does).
    pub fn spawn_refresher(&self) -> RefresherHandle {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let weak = Arc::downgrade(&self.shared);
        let fetcher = self.url_fetcher();
        let task = tokio::spawn(run(weak, fetcher, async move {
            // Resolves on a send or when the handle (the sender) is dropped.
            let _ = stopped.await;
        }));
        RefresherHandle {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Checks every source once, now: re-reads changed files and fetches the
    /// JWKS URL (whatever its schedule), then swaps in a new key set if
    /// anything changed. For command-line use (`token verify`); a server runs
    /// the refresher instead. On failure the last good keys stay and the
    /// error lists each failed source.
    pub async fn refresh_once(&self) -> Result<(), RefreshError> {
        let mut failures = Vec::new();
        let mut sources = self.shared.sources.lock().await;
        let m = self.shared.metrics.get();
        let mut changed = sources.poll_files(m, &mut failures);
        if sources.url.is_some() {
            match self.url_fetcher() {
                Some(mut f) => match sources.fetch_url(&mut f, m).await {
                    Ok(ok) if ok.changed => changed = true,
                    Ok(_) => confirmed(&self.shared),
                    Err(why) => {
                        tracing::warn!(
                            source = "jwks.url",
                            "JWKS fetch failed, the last good keys stay in service: {why}"
                        );
                        failures.push(format!("jwks.url: {why}"));
                    }
                },
                None => failures.push("jwks.url: cannot be fetched".into()),
            }
        }
        if changed {
            install(&self.shared, &sources);
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(RefreshError(failures))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use crate::alg::Alg;
    use crate::mint::{self, SigningKey};
    use crate::reason::Reason;

    const S: Duration = Duration::from_secs(1);

    fn timing(refresh: u64, min_refetch: u64) -> Timing {
        Timing::new(&JwksOptions {
            refresh: Duration::from_secs(refresh),
            min_refetch: Duration::from_secs(min_refetch),
            ..JwksOptions::default()
        })
    }

    #[test]
    fn success_delay_is_max_age_clamped_minus_jitter() {
        let t = timing(300, 10);
        for r in [0.0, 0.3, 0.999] {
            let d = ok_delay(t, None, r);
            assert!(d <= 300 * S && d >= 270 * S, "{d:?}");
            let d = ok_delay(t, Some(60 * S), r);
            assert!(d <= 60 * S && d >= 54 * S, "{d:?}");
            // Below min_refetch (and no-cache = 0): min_refetch, exactly.
            assert_eq!(ok_delay(t, Some(S), r), 10 * S);
            assert_eq!(ok_delay(t, Some(Duration::ZERO), r), 10 * S);
            assert!(ok_delay(t, Some(86_400 * S), r) <= 300 * S);
        }
        assert_eq!(ok_delay(t, None, 0.0), 300 * S);
    }

    #[test]
    fn backoff_doubles_from_min_refetch_up_to_refresh() {
        let t = timing(300, 10);
        let top: Vec<u64> = (1..=8)
            .map(|n| backoff_delay(t, n, 0.0).as_secs())
            .collect();
        assert_eq!(top, [10, 20, 40, 80, 160, 300, 300, 300]);
        for n in 1..=40 {
            let hi = backoff_delay(t, n, 0.0);
            let lo = backoff_delay(t, n, 0.999);
            assert!(
                lo <= hi && lo >= hi.mul_f64(0.75) && lo >= 10 * S,
                "{n}: {lo:?} {hi:?}"
            );
        }
        // A zero min_refetch still backs off from 100 ms; nothing below the
        // 10 ms floor.
        let z = Timing::new(&JwksOptions {
            refresh: Duration::ZERO,
            min_refetch: Duration::ZERO,
            watch_interval: Duration::ZERO,
            ..JwksOptions::default()
        });
        assert_eq!(z.refresh, MIN_INTERVAL);
        assert_eq!(z.watch_interval, MIN_INTERVAL);
        let t = timing(5, 0);
        assert_eq!(backoff_delay(t, 1, 0.0), MIN_BACKOFF);
        assert_eq!(backoff_delay(t, 2, 0.0), 2 * MIN_BACKOFF);
    }

    #[tokio::test(start_paused = true)]
    async fn early_refetch_waits_for_min_refetch_after_the_last_start() {
        let t = timing(300, 10);
        let t0 = Instant::now();
        let mut s = UrlSchedule::new(t, t0);
        assert_eq!(s.due(), t0);
        s.started(t0);
        tokio::time::advance(S).await;
        s.succeeded(Instant::now(), None, 0.0);
        assert_eq!(s.due(), t0 + 301 * S);
        tokio::time::advance(2 * S).await;
        s.want_early(Instant::now());
        assert_eq!(s.due(), t0 + 10 * S);
        tokio::time::advance(60 * S).await;
        s.want_early(Instant::now());
        assert_eq!(s.due(), t0 + 10 * S, "an early due time never moves later");
        // Past min_refetch: at once.
        let now = Instant::now();
        s.started(now);
        s.failed(now, 0.0);
        assert_eq!(s.failures(), 1);
        assert_eq!(s.due(), now + 10 * S);
        tokio::time::advance(30 * S).await;
        s.want_early(Instant::now());
        assert_eq!(s.due(), now + 10 * S);
    }

    // ------------------------------------------- the loop, on a paused clock

    type Answer = Result<Fetched, String>;

    /// A fetcher that answers from a script and records when it was called.
    struct Script {
        calls: Arc<Mutex<Vec<(Instant, Option<String>)>>>,
        answers: Arc<Mutex<VecDeque<Answer>>>,
        then: fn() -> Answer,
        takes: Duration,
    }

    impl Fetcher for Script {
        fn fetch(&mut self, etag: Option<&str>) -> impl Future<Output = Answer> + Send {
            self.calls
                .lock()
                .unwrap()
                .push((Instant::now(), etag.map(str::to_owned)));
            let answer = self
                .answers
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(self.then);
            let takes = self.takes;
            async move {
                tokio::time::sleep(takes).await;
                answer
            }
        }
    }

    struct Rig {
        verifier: Verifier,
        calls: Arc<Mutex<Vec<(Instant, Option<String>)>>>,
        answers: Arc<Mutex<VecDeque<Answer>>>,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<()>,
        start: Instant,
    }

    fn url_verifier(refresh: u64, min_refetch: u64) -> Verifier {
        Verifier::builder()
            .jwks_options(JwksOptions {
                url: Some("http://127.0.0.1:9/jwks.json".into()),
                refresh: Duration::from_secs(refresh),
                min_refetch: Duration::from_secs(min_refetch),
                ..JwksOptions::default()
            })
            .build()
            .unwrap()
    }

    fn rig(verifier: Verifier, answers: Vec<Answer>, then: fn() -> Answer, takes: Duration) -> Rig {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
        let script = Script {
            calls: calls.clone(),
            answers: answers.clone(),
            then,
            takes,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(
            Arc::downgrade(&verifier.shared),
            Some(script),
            async move {
                let _ = stopped.await;
            },
        ));
        Rig {
            verifier,
            calls,
            answers,
            stop: Some(stop),
            task,
            start: Instant::now(),
        }
    }

    impl Rig {
        /// Call times, as offsets from the start.
        fn times(&self) -> Vec<Duration> {
            self.calls
                .lock()
                .unwrap()
                .iter()
                .map(|(t, _)| *t - self.start)
                .collect()
        }
        fn gaps(&self) -> Vec<Duration> {
            self.times().windows(2).map(|w| w[1] - w[0]).collect()
        }
        async fn stop(mut self) {
            drop(self.stop.take());
            tokio::time::timeout(S, self.task).await.unwrap().unwrap();
        }
    }

    fn es_key() -> SigningKey {
        SigningKey::from_pem(&mint::generate_pem(Alg::ES256).unwrap(), Alg::ES256).unwrap()
    }

    fn doc(keys: &[(&SigningKey, &str)]) -> String {
        let keys: Vec<_> = keys
            .iter()
            .map(|(k, kid)| k.public_jwk(Some(kid)).unwrap())
            .collect();
        serde_json::json!({ "keys": keys }).to_string()
    }

    fn body(doc: &str, etag: &str, max_age: Option<u64>) -> Answer {
        Ok(Fetched::Body {
            bytes: bytes::Bytes::from(doc.to_owned()),
            etag: Some(etag.into()),
            max_age: max_age.map(Duration::from_secs),
        })
    }

    fn not_modified() -> Answer {
        Ok(Fetched::NotModified { max_age: None })
    }

    fn status_500() -> Answer {
        Err("status 500".into())
    }

    fn token(key: &SigningKey, kid: &str) -> String {
        let exp = clock::now() as u64 + 3600;
        mint::mint(key, Some(kid), &serde_json::json!({ "exp": exp })).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn refreshes_every_refresh_minus_jitter_with_if_none_match() {
        let k = es_key();
        let v = url_verifier(300, 10);
        assert_eq!(
            v.verify_token(&token(&k, "k1")).unwrap_err(),
            Reason::NoKeys
        );
        let r = rig(
            v.clone(),
            vec![body(&doc(&[(&k, "k1")]), "\"e1\"", None)],
            not_modified,
            Duration::ZERO,
        );
        tokio::time::sleep(3600 * S).await;
        assert!(r.verifier.verify_token(&token(&k, "k1")).is_ok());
        let times = r.times();
        assert_eq!(times[0], Duration::ZERO, "the first fetch is at start");
        for g in r.gaps() {
            assert!(g >= 270 * S && g <= 300 * S, "{g:?}");
        }
        assert!((12..=14).contains(&times.len()), "{times:?}");
        let calls = r.calls.lock().unwrap().clone();
        assert_eq!(calls[0].1, None);
        assert!(
            calls[1..]
                .iter()
                .all(|(_, e)| e.as_deref() == Some("\"e1\""))
        );
        // 304s changed nothing: still the first swapped-in set.
        assert_eq!(r.verifier.keyset().generation(), 1);
        r.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn max_age_sets_the_pace_within_min_refetch_and_refresh() {
        let k = es_key();
        let d = doc(&[(&k, "k1")]);
        let answers = vec![
            body(&d, "\"a\"", Some(60)),
            body(&d, "\"a\"", Some(60)),
            body(&d, "\"a\"", Some(1)),
            body(&d, "\"a\"", Some(1)),
            body(&d, "\"a\"", Some(86_400)),
        ];
        let r = rig(url_verifier(300, 10), answers, not_modified, Duration::ZERO);
        tokio::time::sleep(1000 * S).await;
        let gaps = r.gaps();
        assert!(gaps[0] >= 54 * S && gaps[0] <= 60 * S, "{gaps:?}");
        assert!(gaps[1] >= 54 * S && gaps[1] <= 60 * S, "{gaps:?}");
        assert_eq!(
            gaps[2],
            10 * S,
            "max-age below min_refetch waits min_refetch"
        );
        assert_eq!(gaps[3], 10 * S);
        assert!(
            gaps[4] >= 270 * S && gaps[4] <= 300 * S,
            "max-age above refresh waits refresh: {gaps:?}"
        );
        // The same document again is no change: one swap in all.
        assert_eq!(r.verifier.keyset().generation(), 1);
        r.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_exponentially_keep_the_keys_and_recover() {
        let k = es_key();
        let d = doc(&[(&k, "k1")]);
        let mut answers = vec![body(&d, "\"a\"", None)];
        answers.extend((0..8).map(|_| status_500()));
        let r = rig(url_verifier(300, 10), answers, not_modified, Duration::ZERO);
        // Leave the first periodic refresh (at 270-300 s) and the failures.
        tokio::time::sleep(2000 * S).await;
        let gaps = r.gaps();
        assert!(gaps.len() >= 11, "{gaps:?}");
        let expected_top = [10u32, 20, 40, 80, 160, 300, 300, 300];
        for (i, top) in expected_top.iter().enumerate() {
            let g = gaps[i + 1];
            let top = S * *top;
            assert!(
                g <= top && g >= top.mul_f64(0.75).max(10 * S),
                "failure {}: {g:?}",
                i + 1
            );
        }
        // After the 9th fetch (a success) the pace is `refresh` again.
        assert!(gaps[9] >= 270 * S && gaps[9] <= 300 * S, "{gaps:?}");
        // Throughout, the keys stayed in service.
        assert!(r.verifier.verify_token(&token(&k, "k1")).is_ok());
        assert_eq!(r.verifier.keyset().generation(), 1);
        r.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_fetch_counts_the_next_delay_from_its_end() {
        let k = es_key();
        let d = doc(&[(&k, "k1")]);
        let r = rig(
            url_verifier(300, 10),
            vec![status_500(), status_500(), body(&d, "\"a\"", None)],
            not_modified,
            4 * S,
        );
        tokio::time::sleep(100 * S).await;
        let gaps = r.gaps();
        // 4 s of fetch, then the backoff step (10 s, then 20 s, minus jitter).
        assert!(gaps[0] >= 4 * S + 10 * S && gaps[0] <= 14 * S, "{gaps:?}");
        assert!(gaps[1] >= 4 * S + 15 * S && gaps[1] <= 24 * S, "{gaps:?}");
        r.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_kids_cause_one_early_fetch_per_min_refetch() {
        let k1 = es_key();
        let k2 = es_key();
        let r = rig(
            url_verifier(300, 10),
            vec![body(&doc(&[(&k1, "k1")]), "\"a\"", None)],
            not_modified,
            Duration::ZERO,
        );
        tokio::time::sleep(S).await;
        assert_eq!(r.times(), [Duration::ZERO]);
        // A flood of unknown kids at t = 1 s: rejected at once.
        for i in 0..500 {
            let t = token(&k1, &format!("random-{i}"));
            assert_eq!(r.verifier.verify_token(&t).unwrap_err(), Reason::UnknownKey);
        }
        // The issuer now publishes k2.
        r.answers
            .lock()
            .unwrap()
            .push_back(body(&doc(&[(&k1, "k1"), (&k2, "k2")]), "\"b\"", None));
        tokio::time::sleep(5 * S).await;
        assert_eq!(r.times().len(), 1, "not before min_refetch");
        tokio::time::sleep(5 * S).await;
        assert_eq!(
            r.times(),
            [Duration::ZERO, 10 * S],
            "one fetch at min_refetch after the last"
        );
        assert!(r.verifier.verify_token(&token(&k2, "k2")).is_ok());
        // A new flood at 11 s: the next early fetch at 20 s, not before.
        for i in 0..500 {
            let _ = r.verifier.verify_token(&token(&k1, &format!("again-{i}")));
        }
        tokio::time::sleep(100 * S).await;
        assert_eq!(r.times(), [Duration::ZERO, 10 * S, 20 * S]);
        r.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_without_keys_asks_for_an_early_fetch() {
        let k = es_key();
        let d = doc(&[(&k, "k1")]);
        // Endpoint down at start: backoff would wait 10, 20, 40, ... s.
        let answers = vec![status_500(), status_500(), status_500(), status_500()];
        let r = rig(
            url_verifier(300, 10),
            answers,
            move || Err("status 503".into()),
            Duration::ZERO,
        );
        tokio::time::sleep(75 * S).await;
        // Fetches at 0, 10, 30, 70 (minus jitter); the next due is ~150 s.
        let before = r.times().len();
        assert_eq!(before, 4, "{:?}", r.times());
        assert!(!r.verifier.is_ready());
        r.answers.lock().unwrap().push_back(body(&d, "\"a\"", None));
        assert_eq!(
            r.verifier.verify_token(&token(&k, "k1")).unwrap_err(),
            Reason::NoKeys
        );
        tokio::time::sleep(10 * S).await;
        assert_eq!(
            r.times().len(),
            5,
            "the request's signal brought an early fetch"
        );
        assert!(r.verifier.verify_token(&token(&k, "k1")).is_ok());
        r.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn stops_when_every_clone_is_dropped() {
        let v = url_verifier(300, 10);
        let k = es_key();
        let r = rig(
            v,
            vec![body(&doc(&[(&k, "k1")]), "\"a\"", None)],
            not_modified,
            Duration::ZERO,
        );
        tokio::time::sleep(S / 2).await;
        let Rig {
            verifier,
            task,
            stop,
            ..
        } = r;
        drop(verifier);
        // Within one watch_interval (1 s), without the stop signal.
        tokio::time::timeout(2 * S, task).await.unwrap().unwrap();
        drop(stop);
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_to_refresh_returns_at_once_and_one_refresher_per_verifier() {
        let secret = mint::new_secret_base64().unwrap();
        let v = Verifier::builder()
            .secret_base64(&secret)
            .unwrap()
            .build()
            .unwrap();
        tokio::time::timeout(
            Duration::from_millis(1),
            v.run_refresher(std::future::pending()),
        )
        .await
        .unwrap();
        let h = v.spawn_refresher();
        tokio::task::yield_now().await;
        assert!(h.is_finished());

        let v = url_verifier(300, 10);
        let r = rig(v.clone(), vec![], status_500, Duration::ZERO);
        tokio::task::yield_now().await;
        // A second refresher on the same verifier: returns at once.
        tokio::time::timeout(
            Duration::from_millis(1),
            v.run_refresher(std::future::pending()),
        )
        .await
        .unwrap();
        r.stop().await;
        // Once the first has stopped, another may run.
        let second = rig(v, vec![], status_500, Duration::ZERO);
        tokio::time::sleep(S).await;
        assert_eq!(second.times().len(), 1);
        second.stop().await;
    }

    #[test]
    fn the_refresher_future_is_send() {
        fn is_send<T: Send>(_: &T) {}
        let v = url_verifier(300, 10);
        let f = v.run_refresher(std::future::pending());
        is_send(&f);
    }

    // ------------------------------------------------------------ files

    #[test]
    fn file_watch_sees_in_place_rewrites_of_the_same_size_once_settled_and_reports_errors_once() {
        let dir =
            std::env::temp_dir().join(format!("attestgate-refresh-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("watched");
        std::fs::write(&path, "aaaa").unwrap();
        let (mut w, first) = FileWatch::open(path.clone(), 16);
        assert_eq!(&first.unwrap()[..], b"aaaa");
        assert!(matches!(w.poll(), Change::Unchanged));
        // Same size, same second, in place: taken once it reads the same
        // twice in a row.
        std::fs::write(&path, "bbbb").unwrap();
        assert!(matches!(w.poll(), Change::Unchanged));
        assert!(matches!(w.poll(), Change::Content(b) if &b[..] == b"bbbb"));
        assert!(matches!(w.poll(), Change::Unchanged));
        // A write in progress (content moving between polls) is never taken.
        std::fs::write(&path, "cc").unwrap();
        assert!(matches!(w.poll(), Change::Unchanged));
        std::fs::write(&path, "cccc").unwrap();
        assert!(matches!(w.poll(), Change::Unchanged));
        assert!(matches!(w.poll(), Change::Content(b) if &b[..] == b"cccc"));
        // Back to what was taken: nothing to do.
        std::fs::write(&path, "cc").unwrap();
        assert!(matches!(w.poll(), Change::Unchanged));
        std::fs::write(&path, "cccc").unwrap();
        assert!(matches!(w.poll(), Change::Unchanged));
        assert!(matches!(w.poll(), Change::Unchanged));
        std::fs::write(&path, "x".repeat(17)).unwrap();
        assert!(matches!(w.poll(), Change::Unchanged));
        assert!(matches!(w.poll(), Change::Unreadable(e) if e == "file over 16 bytes"));
        assert!(
            matches!(w.poll(), Change::Unchanged),
            "one report per bad content"
        );
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(w.poll(), Change::Unchanged));
        assert!(matches!(w.poll(), Change::Unreadable(_)));
        assert!(matches!(w.poll(), Change::Unchanged));
        std::fs::write(&path, "bbbb").unwrap();
        assert!(matches!(w.poll(), Change::Unchanged));
        assert!(matches!(w.poll(), Change::Content(_)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
