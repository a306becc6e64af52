//! The settings of the asymmetric key sources (`[token.jwks]`).

use std::path::PathBuf;
use std::time::Duration;

use crate::keys::egress::EgressOptions;

/// Default cap on a JWKS document, fetched or read from a file.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Where the asymmetric keys come from and how they are refreshed. Its
/// `Debug` shows the URL without userinfo.
#[derive(Clone)]
pub struct JwksOptions {
    /// A JWKS file, re-read when it changes.
    pub file: Option<PathBuf>,
    /// A JWKS URL, fetched in the background.
    pub url: Option<String>,
    /// How often the URL is refetched.
    pub refresh: Duration,
    /// Earliest refetch after the previous one (unknown `kid`, `max-age`).
    pub min_refetch: Duration,
    /// Timeout of one fetch.
    pub timeout: Duration,
    /// Where the last good JWKS from the URL is kept, for cold starts while
    /// the endpoint is down.
    pub cache_file: Option<PathBuf>,
    /// How often watched files are checked for changes.
    pub watch_interval: Duration,
    /// Largest JWKS document read, from the URL or a file (default 1 MiB);
    /// reading stops beyond it.
    pub max_body_bytes: usize,
    /// How the URL is reached: roots, extra CA, client certificate, proxy.
    pub egress: EgressOptions,
    /// Accept a plain `http://` URL to a host that is not loopback (keys
    /// fetched in clear text: anyone on the path can replace them). Off by
    /// default; a warning at start when used.
    pub allow_insecure_http: bool,
}

impl std::fmt::Debug for JwksOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksOptions")
            .field("file", &self.file)
            .field("url", &self.url.as_deref().map(crate::secrets::redact::url))
            .field("refresh", &self.refresh)
            .field("min_refetch", &self.min_refetch)
            .field("timeout", &self.timeout)
            .field("cache_file", &self.cache_file)
            .field("watch_interval", &self.watch_interval)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("egress", &self.egress)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish()
    }
}

impl Default for JwksOptions {
    fn default() -> Self {
        JwksOptions {
            file: None,
            url: None,
            refresh: Duration::from_secs(300),
            min_refetch: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            cache_file: None,
            watch_interval: Duration::from_secs(1),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            egress: EgressOptions::default(),
            allow_insecure_http: false,
        }
    }
}
