//! Secret substitution plans: which placeholder becomes which secret, where.
//!
//! An app ships a placeholder (`Api-Key: shapes_api_key_placeholder`); after
//! its token passed, the proxy replaces it with the real key, only in the
//! configured header or query parameter, only on an exact match of the whole
//! value (after an optional prefix), and only towards the route's upstream.
//! This module decides what to replace; [`super::apply`] applies a
//! route's plan to a request.
//!
//! Real values are [`Secret`]s: zeroed on drop, redacted in `Debug`. A secret
//! read from a file is re-read when the file changes ([`LiveSecret`]).

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use http::HeaderName;
use zeroize::Zeroizing;

use crate::secrets::secret::{self, Secret, SecretSource, SecretSourceError};
use crate::watch::{FileChange, FileWatch};

/// Cap on a substitution secret file.
const SECRET_FILE_MAX_BYTES: usize = 64 * 1024;

/// A secret that follows its source: a `{ file = ... }` secret is re-read
/// when the file changes (by the one file watcher, [`crate::watch`]); the
/// last good value stays when a read fails.
pub struct LiveSecret {
    source: SecretSource,
    current: ArcSwap<Secret>,
    /// The watcher of a file source.
    watch: Option<Mutex<FileWatch>>,
    check: fn(&Secret) -> Result<(), String>,
}

impl fmt::Debug for LiveSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveSecret")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Why a substitution secret cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LiveSecretError {
    /// It could not be read.
    #[error(transparent)]
    Read(#[from] SecretSourceError),
    /// It was read but cannot be used (e.g. not a valid header value).
    #[error("{0}")]
    Invalid(String),
}

fn file_error(path: &Path, source: std::io::Error) -> SecretSourceError {
    SecretSourceError::File {
        path: path.to_owned(),
        source,
    }
}

fn what(path: &Path) -> String {
    format!("secret file {}", path.display())
}

impl LiveSecret {
    /// Reads the secret now; `check` validates every value read (now and on
    /// every reload).
    pub fn load(
        source: SecretSource,
        check: fn(&Secret) -> Result<(), String>,
    ) -> Result<LiveSecret, LiveSecretError> {
        let (secret, watch) = match source.file() {
            Some(path) => {
                let (watch, first) = FileWatch::open(path, SECRET_FILE_MAX_BYTES);
                let bytes = first.map_err(|e| file_error(path, e))?;
                (
                    secret::trimmed(&bytes, what(path))?,
                    Some(Mutex::new(watch)),
                )
            }
            None => (source.read()?, None),
        };
        check(&secret).map_err(LiveSecretError::Invalid)?;
        Ok(LiveSecret {
            source,
            current: ArcSwap::from_pointee(secret),
            watch,
            check,
        })
    }

    /// The value in service.
    pub fn get(&self) -> Arc<Secret> {
        self.current.load_full()
    }

    /// Where it comes from.
    pub fn source(&self) -> &SecretSource {
        &self.source
    }

    /// Polls a file source with the rules of [`crate::watch`] (inode,
    /// stamp and SHA-256; a new content is taken once two polls in a row
    /// read it the same; each bad content is reported once). Returns whether
    /// a new value was installed; on error the old value stays and the error
    /// says why (never the value).
    pub fn reload_if_changed(&self) -> Result<bool, LiveSecretError> {
        let Some(watch) = &self.watch else {
            return Ok(false);
        };
        let mut watch = watch.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = match watch.poll() {
            FileChange::Unchanged => return Ok(false),
            FileChange::Unreadable(e) => return Err(file_error(watch.path(), e).into()),
            FileChange::Content(bytes) => bytes,
        };
        let secret = secret::trimmed(&bytes, what(watch.path()))?;
        if secret.expose() == self.current.load().expose() {
            return Ok(false);
        }
        (self.check)(&secret).map_err(LiveSecretError::Invalid)?;
        self.current.store(Arc::new(secret));
        Ok(true)
    }
}

/// Checks a secret can be put into an HTTP header value.
pub fn check_header_value(secret: &Secret) -> Result<(), String> {
    if secret
        .expose()
        .iter()
        .all(|b| (0x20..0x7f).contains(b) || *b == b'\t')
    {
        Ok(())
    } else {
        Err(
            "contains bytes not allowed in an HTTP header value (control characters or non-ASCII)"
                .into(),
        )
    }
}

/// Any secret is fine in a query parameter (it is percent-encoded).
pub fn check_any(_: &Secret) -> Result<(), String> {
    Ok(())
}

/// Where a placeholder is looked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A request header.
    Header(HeaderName),
    /// A query parameter (matched on its percent-decoded name).
    Query(Box<str>),
}

/// A rewritten query string and the secret it now holds.
pub type Replaced = (Zeroizing<String>, Arc<Secret>);

/// One configured substitution.
#[derive(Debug)]
pub struct Substitution {
    target: Target,
    prefix: Box<str>,
    placeholder: Box<str>,
    secret: LiveSecret,
}

/// Why a request cannot be substituted (the proxy answers 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubstituteError {
    /// The substituted header or query parameter appears more than once.
    #[error("the substituted header or query parameter appears more than once")]
    Repeated,
    /// The secret put in place of a header's placeholder is not a header
    /// value (the proxy answers 500: the configuration is at fault).
    #[error("the substituted value is not a header value")]
    NotAHeaderValue,
}

impl Substitution {
    /// A substitution of `placeholder` (after `prefix`) in `target`.
    pub fn new(
        target: Target,
        prefix: &str,
        placeholder: &str,
        secret: LiveSecret,
    ) -> Substitution {
        Substitution {
            target,
            prefix: prefix.into(),
            placeholder: placeholder.into(),
            secret,
        }
    }

    /// Where it applies.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The live secret.
    pub fn secret(&self) -> &LiveSecret {
        &self.secret
    }

    /// For a header value: the replacement value when the whole value is
    /// exactly `prefix + placeholder`, else `None`.
    pub fn replace_header_value(&self, value: &[u8]) -> Option<(Zeroizing<Vec<u8>>, Arc<Secret>)> {
        let rest = value.strip_prefix(self.prefix.as_bytes())?;
        if rest != self.placeholder.as_bytes() {
            return None;
        }
        let secret = self.secret.get();
        let mut out = Zeroizing::new(Vec::with_capacity(self.prefix.len() + secret.len()));
        out.extend_from_slice(self.prefix.as_bytes());
        out.extend_from_slice(secret.expose());
        Some((out, secret))
    }

    /// For a query string (without `?`): the new query string when the
    /// parameter is present exactly once with exactly the placeholder as its
    /// value; `Ok(None)` when there is nothing to replace; an error when the
    /// parameter appears more than once.
    pub fn replace_in_query(&self, query: &str) -> Result<Option<Replaced>, SubstituteError> {
        let Target::Query(name) = &self.target else {
            return Ok(None);
        };
        let mut hit: Option<(usize, usize)> = None;
        let mut seen = 0;
        let mut offset = 0;
        for pair in query.split('&') {
            let start = offset;
            offset += pair.len() + 1;
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if crate::canonical::query::form_decode(k).as_deref() != Some(name.as_bytes()) {
                continue;
            }
            seen += 1;
            if seen > 1 {
                return Err(SubstituteError::Repeated);
            }
            if crate::canonical::query::form_decode(v).as_deref()
                == Some(self.placeholder.as_bytes())
            {
                let value_start = start + k.len() + 1;
                hit = Some((value_start, value_start + v.len()));
            }
        }
        let Some((from, to)) = hit else {
            return Ok(None);
        };
        let secret = self.secret.get();
        let mut out = Zeroizing::new(String::with_capacity(query.len() + secret.len() * 3));
        out.push_str(&query[..from]);
        percent_encode_into(secret.expose(), &mut out);
        out.push_str(&query[to..]);
        Ok(Some((out, secret)))
    }
}

fn percent_encode_into(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

pub use crate::secrets::scrub::contains_secret;

/// Polls the file-backed secrets every `interval` and reloads changed ones,
/// until `shutdown` resolves. Failures keep the old value and are logged
/// (by source, never by value).
pub async fn watch_files(
    secrets: Vec<Arc<Substitution>>,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let watched: Vec<_> = secrets
        .into_iter()
        .filter(|s| s.secret.source().file().is_some())
        .collect();
    if watched.is_empty() {
        return;
    }
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(interval) => {}
        }
        for s in &watched {
            match s.secret.reload_if_changed() {
                Ok(true) => {
                    tracing::info!(source = %s.secret.source().describe(), "substitution secret reloaded")
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(
                    source = %s.secret.source().describe(),
                    "substitution secret not reloaded, the previous value stays: {e}"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(target: Target, prefix: &str) -> Substitution {
        let secret = LiveSecret::load(
            SecretSource::Value(Secret::new(b"real key/1".to_vec())),
            check_any,
        )
        .unwrap();
        Substitution::new(target, prefix, "ph", secret)
    }

    #[test]
    fn header_needs_an_exact_match_after_the_prefix() {
        let s = sub(
            Target::Header(HeaderName::from_static("api-key")),
            "Bearer ",
        );
        let (v, _) = s.replace_header_value(b"Bearer ph").unwrap();
        assert_eq!(&v[..], b"Bearer real key/1");
        for no in [
            &b"ph"[..],
            b"Bearer ph2",
            b"Bearer  ph",
            b"bearer ph",
            b"Bearer xph",
            b"",
        ] {
            assert!(
                s.replace_header_value(no).is_none(),
                "{:?}",
                String::from_utf8_lossy(no)
            );
        }
    }

    #[test]
    fn query_replaces_one_exact_parameter() {
        let s = sub(Target::Query("api_key".into()), "");
        let got = |q: &str| s.replace_in_query(q).map(|o| o.map(|(q, _)| q.to_string()));
        assert_eq!(
            got("a=1&api_key=ph&b=2"),
            Ok(Some("a=1&api_key=real%20key%2F1&b=2".into()))
        );
        assert_eq!(
            got("api%5Fkey=ph"),
            Ok(Some("api%5Fkey=real%20key%2F1".into()))
        );
        assert_eq!(
            got("api_key=%70h"),
            Ok(Some("api_key=real%20key%2F1".into()))
        );
        assert_eq!(got("api_key=ph2"), Ok(None));
        assert_eq!(got("xapi_key=ph"), Ok(None));
        assert_eq!(got("api_key"), Ok(None));
        assert_eq!(got("api_key=ph&api_key=ph"), Err(SubstituteError::Repeated));
        assert_eq!(got("api_key=x&api_key=ph"), Err(SubstituteError::Repeated));
    }

    #[test]
    fn file_secrets_reload_and_keep_the_last_good_value() {
        let dir = std::env::temp_dir().join(format!("attestgate-sub-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("k");
        std::fs::write(&path, "one\n").unwrap();
        let live = LiveSecret::load(SecretSource::File(path.clone()), check_header_value).unwrap();
        assert_eq!(live.get().expose(), b"one");
        std::fs::write(&path, "second\n").unwrap();
        // seen once: not yet taken (it may be half-written)
        assert!(!live.reload_if_changed().unwrap());
        assert_eq!(live.get().expose(), b"one");
        assert!(live.reload_if_changed().unwrap());
        assert_eq!(live.get().expose(), b"second");
        std::fs::write(&path, "bad\u{1}value").unwrap();
        assert!(!live.reload_if_changed().unwrap());
        assert!(live.reload_if_changed().is_err());
        assert_eq!(live.get().expose(), b"second");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_secrets_follow_same_size_rewrites_and_renames_with_the_watcher_rules() {
        let dir = std::env::temp_dir().join(format!("attestgate-sub2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("k");
        std::fs::write(&path, "aaaa").unwrap();
        let live = LiveSecret::load(SecretSource::File(path.clone()), check_header_value).unwrap();
        // Same size, in place, at once: the content hash sees it.
        std::fs::write(&path, "bbbb").unwrap();
        assert!(!live.reload_if_changed().unwrap());
        assert!(live.reload_if_changed().unwrap());
        assert_eq!(live.get().expose(), b"bbbb");
        // Atomic rename of a new file over it.
        let tmp = dir.join(".k.tmp");
        std::fs::write(&tmp, "cccc").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert!(!live.reload_if_changed().unwrap());
        assert!(live.reload_if_changed().unwrap());
        assert_eq!(live.get().expose(), b"cccc");
        // Only white space changed: same value, nothing installed.
        std::fs::write(&path, "cccc\n").unwrap();
        assert!(!live.reload_if_changed().unwrap());
        assert!(!live.reload_if_changed().unwrap());
        // A missing file is reported once, and the value stays.
        std::fs::remove_file(&path).unwrap();
        assert!(!live.reload_if_changed().unwrap());
        let err = live.reload_if_changed().unwrap_err().to_string();
        assert!(err.contains("cannot read secret file"), "{err}");
        assert!(!live.reload_if_changed().unwrap());
        assert_eq!(live.get().expose(), b"cccc");
        // Over the cap: refused, the value stays.
        std::fs::write(&path, "x".repeat(SECRET_FILE_MAX_BYTES + 1)).unwrap();
        assert!(!live.reload_if_changed().unwrap());
        let err = live.reload_if_changed().unwrap_err().to_string();
        assert!(err.contains("file over 65536 bytes"), "{err}");
        assert_eq!(live.get().expose(), b"cccc");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
