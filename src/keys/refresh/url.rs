//! The JWKS URL source: its last good keys, the cache file, and one fetch.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::keys::Key;
use crate::keys::fetch::{self, Fetched, Fetcher};
use crate::metrics::VerifierMetrics;
use crate::watch::{read_capped, sha256};

use super::jwks_doc::parse_jwks_doc;
use super::options::JwksOptions;

/// The URL's last good keys and what identifies their document.
pub(super) struct JwksUrl {
    pub(super) keys: Vec<Key>,
    /// The `ETag` of the document the keys came from (none for the cache
    /// file's).
    etag: Option<String>,
    /// SHA-256 of that document.
    hash: Option<[u8; 32]>,
    cache_file: Option<PathBuf>,
}

/// What a fetch of the URL did, when it worked.
pub(super) struct UrlOk {
    pub(super) changed: bool,
    pub(super) max_age: Option<Duration>,
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

impl JwksUrl {
    /// Checks the URL and loads the cache file, if any (a cold start while
    /// the endpoint is down serves the last good set).
    pub(super) fn load(
        url: &str,
        jwks: &JwksOptions,
        problem: &mut impl FnMut(String, String),
    ) -> JwksUrl {
        match fetch::parse_url(url, jwks.allow_insecure_http) {
            Err(message) => problem("jwks.url".into(), message),
            Ok(u)
                if u.scheme_str() == Some("http")
                    && !fetch::is_loopback(u.host().unwrap_or_default()) =>
            {
                tracing::warn!(
                    source = "jwks.url",
                    url = %crate::secrets::redact::url(url),
                    "keys are fetched over plain http:// (allow_insecure_http = true): anyone on the path can replace them"
                );
            }
            Ok(_) => {}
        }
        if let Err(e) = jwks.egress.check() {
            problem(format!("jwks.{}", e.setting), e.message);
        }
        let mut slot = JwksUrl {
            keys: Vec::new(),
            etag: None,
            hash: None,
            cache_file: jwks.cache_file.clone(),
        };
        if let Some(path) = &jwks.cache_file {
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
        slot
    }

    /// Takes a fetched answer: a 304 or the same document changes nothing;
    /// a new valid document replaces the keys (and the cache file).
    fn take(&mut self, fetched: Fetched) -> Result<UrlOk, String> {
        let (bytes, etag, max_age) = match fetched {
            Fetched::NotModified { max_age } => {
                return Ok(UrlOk {
                    changed: false,
                    max_age,
                });
            }
            Fetched::Body {
                bytes,
                etag,
                max_age,
            } => (bytes, etag, max_age),
        };
        let hash = sha256(&bytes);
        if self.hash == Some(hash) && !self.keys.is_empty() {
            self.etag = etag;
            return Ok(UrlOk {
                changed: false,
                max_age,
            });
        }
        let keys = parse_jwks_doc("jwks.url", &bytes)?;
        tracing::info!(source = "jwks.url", keys = keys.len(), "JWKS fetched");
        self.keys = keys;
        self.etag = etag;
        self.hash = Some(hash);
        if let Some(path) = &self.cache_file
            && let Err(e) = write_atomic(path, &bytes)
        {
            tracing::warn!(file = %path.display(), "cannot write the JWKS cache file: {e}");
        }
        Ok(UrlOk {
            changed: true,
            max_age,
        })
    }
}

impl JwksUrl {
    /// One fetch of the URL. Counts it; the caller logs a failure.
    pub(super) async fn fetch<F: Fetcher>(
        &mut self,
        fetcher: &mut F,
        m: Option<&VerifierMetrics>,
    ) -> Result<UrlOk, String> {
        let slot = self;
        let etag = if slot.keys.is_empty() {
            None
        } else {
            slot.etag.as_deref()
        };
        let result = match fetcher.fetch(etag).await {
            Ok(fetched) => slot.take(fetched),
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
