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
//!   ring; Mozilla's webpki roots or the system's, an extra CA, a client
//!   certificate, a proxy: see [`crate::keys::egress`]). Redirects are not followed (a 3xx is an
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
//! Files are watched by the one file watcher ([`crate::watch`]): every
//! `watch_interval` each file's (modification time, size, inode) is
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
//! Ready ([`Verifier::is_ready`](crate::Verifier::is_ready)) once the key set holds a key: at once for
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
//! [`Verifier::run_refresher`](crate::Verifier::run_refresher) (inside the caller's task, e.g. a Pingora
//! background service) runs until its `shutdown` future resolves.
//! [`Verifier::spawn_refresher`](crate::Verifier::spawn_refresher) runs it in a tokio task holding only a weak
//! reference: it stops when its [`RefresherHandle`] is shut down or dropped,
//! or when every clone of the verifier is dropped. Both return at once when
//! there is nothing to refresh (only inline or env secrets, inline JWKS).
//! One refresher runs per verifier; a second one returns at once with a
//! warning. [`Verifier::refresh_once`](crate::Verifier::refresh_once) checks every source once (for a
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
//!
//! ## How the modules fit
//!
//! Imports run one way: the verifier (`verify`, `builder`, `state`) uses
//! this module; this module uses only the key store (`store`),
//! the file watcher ([`crate::watch`]), the fetcher and the key parsers.
//!
//! - `options`: [`JwksOptions`], the settings.
//! - `schedule`: when the URL is fetched next (pure; tested on tokio's
//!   paused clock).
//! - `sources`: every source with its last good keys, loaded at build
//!   time; `files` re-reads the watched files; `url` fetches the URL and
//!   keeps the cache file.
//! - `signal`: the request path's "unknown `kid`" line to the refresher,
//!   and the one-refresher-per-verifier rule.
//! - `task`: the loop (the one writer of the key set).
//! - `handle`: starting it ([`RefresherHandle`]), and one-off runs.
//!
//! The refresher reaches the verifier's state only through a weak
//! reference to an `Owner`, so it ends with the last clone of the
//! verifier.

mod files;
mod handle;
mod jwks_doc;
mod options;
mod schedule;
mod signal;
mod sources;
mod task;
#[cfg(test)]
mod tests;
mod url;

use std::sync::Arc;

use crate::keys::store::KeyStore;

pub use handle::{RefreshError, RefresherHandle};
pub(crate) use handle::{refresh_once, run_in_place, spawn};
pub use options::{DEFAULT_MAX_BODY_BYTES, JwksOptions};
pub(crate) use signal::Signal;
pub(crate) use sources::{SecretSpec, Sources};

/// The refresher's part of a verifier's state: the settings, every source
/// with its last good keys (taken by the refresher for each pass), and the
/// request path's signal.
pub(crate) struct Keeper {
    pub(crate) jwks: JwksOptions,
    pub(crate) sources: tokio::sync::Mutex<Sources>,
    pub(crate) signal: Arc<Signal>,
}

impl Keeper {
    pub(crate) fn new(jwks: JwksOptions, sources: Sources) -> Keeper {
        Keeper {
            jwks,
            sources: tokio::sync::Mutex::new(sources),
            signal: Signal::new(),
        }
    }

    /// A request failed for want of a key: ask for an early fetch (only a
    /// URL can bring a new key unasked).
    pub(crate) fn want_refetch(&self) {
        if self.jwks.url.is_some() {
            self.signal.want_refetch();
        }
    }
}

/// What the refresher reaches through its weak reference: the key store it
/// writes and its own part of the state.
pub(crate) trait Owner: Send + Sync + 'static {
    /// The store the refresher swaps new key sets into.
    fn store(&self) -> &KeyStore;
    /// The refresher's state.
    fn keeper(&self) -> &Keeper;
}
