//! One log, whichever its protocol: its signed head, the frontier at a
//! size (to start at the end), batches of entries, and issuers. The watch
//! sees only this.

use super::http::{FetchError, Http};
use super::loglist::{Log, Protocol};
use super::merkle::Frontier;

pub use super::batch::{Batch, HeadError, Item, SignedHead};

/// A log to read.
#[derive(Clone, Debug)]
pub struct Source {
    /// The log.
    pub log: Log,
    http: Http,
    /// `get-entries` batch size (RFC 6962).
    pub batch: u64,
}

impl Source {
    /// A source for `log`.
    pub fn new(log: Log, http: Http) -> Source {
        Source {
            log,
            http,
            batch: 256,
        }
    }

    /// The log's current head, its signature checked.
    pub async fn head(&self) -> Result<SignedHead, HeadError> {
        match &self.log.protocol {
            Protocol::Tiled {
                monitoring_url,
                origin,
            } => super::tiles::head(&self.http, monitoring_url, origin, &self.log.key).await,
            Protocol::Rfc6962 { url } => super::rfc6962::head(&self.http, url, &self.log.key).await,
        }
    }

    /// The frontier of the tree at `head` (checked against its root by the
    /// caller).
    pub async fn frontier_at(&self, head: &SignedHead) -> Result<Frontier, FetchError> {
        match &self.log.protocol {
            Protocol::Tiled { monitoring_url, .. } => {
                super::tiles::frontier(&self.http, monitoring_url, head.size).await
            }
            Protocol::Rfc6962 { url } => super::rfc6962::frontier(&self.http, url, head.size).await,
        }
    }

    /// The next entries from `start`, below `end`.
    pub async fn batch(&self, start: u64, end: u64) -> Result<Batch, FetchError> {
        match &self.log.protocol {
            Protocol::Tiled { monitoring_url, .. } => {
                super::tiles::batch(&self.http, monitoring_url, start, end).await
            }
            Protocol::Rfc6962 { url } => {
                let last = end.min(start.saturating_add(self.batch)) - 1;
                super::rfc6962::batch(&self.http, url, start, last).await
            }
        }
    }

    /// An issuer named by fingerprint (static-ct-api); its hash is checked.
    pub async fn issuer(&self, fingerprint: &[u8; 32]) -> Result<Vec<u8>, FetchError> {
        match &self.log.protocol {
            Protocol::Tiled { monitoring_url, .. } => {
                super::tiles::issuer(&self.http, monitoring_url, fingerprint).await
            }
            Protocol::Rfc6962 { .. } => Err(FetchError::parse(
                "issuer",
                "an RFC 6962 log sends its issuers with the entry",
            )),
        }
    }
}
