//! Every key source with its last good keys, loaded at build time.
//!
//! The secrets keep their configured order, then come the inline JWKS, the
//! JWKS file ([`super::files`] re-reads it and secret files) and the URL's
//! keys ([`super::url`] fetches them). The key set in service is always
//! built from all of them at once ([`Sources::keys`]).

use std::path::Path;

use crate::keys::{self, Key};
use crate::metrics::VerifierMetrics;
use crate::secrets::secret::SecretSource;
use crate::watch::FileWatch;

pub(super) use super::jwks_doc::parse_jwks_doc;
use super::options::JwksOptions;
use super::url::{JwksUrl, UrlOk};
use crate::keys::fetch::Fetcher;

/// Cap on a secret file.
pub(super) const SECRET_FILE_MAX_BYTES: usize = 64 * 1024;

/// One configured account secret.
#[derive(Clone, Debug)]
pub(crate) struct SecretSpec {
    pub(crate) source: SecretSource,
    pub(crate) kid: Option<String>,
}

pub(super) enum SecretSlot {
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

pub(super) struct JwksFile {
    pub(super) watch: FileWatch,
    pub(super) keys: Vec<Key>,
}

/// Every key source with its last good keys. Lives in the verifier behind an
/// async mutex; only the refresher (or a one-off refresh) takes it.
pub(crate) struct Sources {
    pub(super) secrets: Vec<SecretSlot>,
    pub(super) inline: Vec<Key>,
    pub(super) jwks_file: Option<JwksFile>,
    pub(super) url: Option<JwksUrl>,
}

/// Decodes a secret file's content into an HS256 key.
pub(super) fn secret_key(
    bytes: &[u8],
    kid: Option<&str>,
    index: usize,
    path: &Path,
) -> Result<Key, String> {
    let text = bytes.trim_ascii();
    if text.is_empty() {
        return Err(format!("secret file {} is empty", path.display()));
    }
    let secret = keys::decode_secret_base64(text)
        .map_err(|e| format!("secret file {} {e}", path.display()))?;
    Key::hmac(&secret, kid, index).map_err(|e| format!("secret file {} {e}", path.display()))
}

/// Reads, decodes and prepares one account secret given by value or env.
fn load_secret(spec: &SecretSpec, index: usize) -> Result<Key, String> {
    let text = spec.source.read().map_err(|e| e.to_string())?;
    let secret = keys::decode_secret_base64(text.expose()).map_err(|e| e.to_string())?;
    Key::hmac(&secret, spec.kid.as_deref(), index).map_err(|e| e.to_string())
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
        let url = jwks.url.as_deref().map(|u| JwksUrl::load(u, jwks, problem));
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

    /// Whether any file is watched.
    pub(super) fn watches_files(&self) -> bool {
        self.jwks_file.is_some()
            || self
                .secrets
                .iter()
                .any(|s| matches!(s, SecretSlot::File { .. }))
    }

    /// Whether a URL is configured.
    pub(super) fn has_url(&self) -> bool {
        self.url.is_some()
    }

    /// Whether the URL has brought (or its cache file held) keys.
    pub(super) fn url_holds_keys(&self) -> bool {
        self.url.as_ref().is_some_and(|u| !u.keys.is_empty())
    }
}

impl Sources {
    /// One fetch of the URL. Counts it; the caller logs a failure.
    pub(super) async fn fetch_url<F: Fetcher>(
        &mut self,
        fetcher: &mut F,
        m: Option<&VerifierMetrics>,
    ) -> Result<UrlOk, String> {
        match &mut self.url {
            Some(slot) => slot.fetch(fetcher, m).await,
            None => Err("no JWKS URL is configured".into()),
        }
    }
}
