//! The signed pin config the proxy publishes at `[pins] path`: read at
//! start, hot-reloaded with the core's file watcher, answered with
//! `Content-Type: application/jose`, `Cache-Control: max-age=<refresh>`, an
//! `ETag` and 304 on a matching `If-None-Match`.
//!
//! What is served is what the signer wrote, byte for byte. A new content
//! is taken only when the pins crate reads it as a signed pin config (JWS
//! shape, `typ`, `alg`, payload shape; the signature too when `[pins]
//! public_key` is set) and its `seq` is not lower than the one served
//! (the apps would refuse a rollback anyway). Otherwise the last good one
//! stays, as with secret files. An expired config is still served (the
//! apps then keep their last good one or their built-in pins), logged once
//! and counted.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use attestgate::watch::{FileChange, FileWatch};
use attestgate_pins::Pin;
use attestgate_pins::signed::{MAX_JWS_BYTES, Payload, PublicKey, inspect};
use bytes::Bytes;
use http::StatusCode;
use pingora_error::Result;
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use super::metrics::PinMetrics;
use crate::clock::unix_now;

/// The config being served.
pub(crate) struct Current {
    body: Bytes,
    etag: String,
    cache_control: String,
    payload: Payload,
}

/// An HTTPS listener's served chain, for `attestgate_listener_pinned`.
pub(crate) struct Listener {
    /// The label: the listen address.
    pub(crate) label: String,
    /// The leaf's DNS names.
    pub(crate) names: Vec<String>,
    /// The pins of every certificate of the chain file.
    pub(crate) pins: Vec<Pin>,
}

/// The served config and what checks new ones.
pub(crate) struct Signed {
    current: ArcSwap<Current>,
    keys: Option<Vec<PublicKey>>,
    metrics: PinMetrics,
    expiry_logged: AtomicBool,
    listeners: Vec<Listener>,
}

/// Why a new content is not served.
fn read(bytes: &[u8], keys: Option<&[PublicKey]>) -> Result<Current, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    let v = inspect(text, keys)
        .map_err(|r| format!("not a signed pin config: {} ({})", r.as_str(), r.explain()))?;
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let etag = format!(
        "\"{}\"",
        digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    Ok(Current {
        body: Bytes::copy_from_slice(bytes),
        etag,
        cache_control: format!("max-age={}", v.payload.refresh),
        payload: v.payload,
    })
}

impl Signed {
    /// Reads the file now (a problem when it cannot be served) and opens
    /// its watcher.
    pub(crate) fn open(
        path: &Path,
        public_key: Option<&Path>,
        listeners: Vec<Listener>,
        metrics: PinMetrics,
    ) -> Result<(Signed, FileWatch), String> {
        let keys = match public_key {
            Some(p) => Some(vec![
                PublicKey::from_file(p, None).map_err(|e| format!("pins.public_key: {e}"))?,
            ]),
            None => None,
        };
        let (watch, first) = FileWatch::open(path, MAX_JWS_BYTES);
        let bytes = first.map_err(|e| format!("pins.signed: {}: {e}", path.display()))?;
        let current = read(&bytes, keys.as_deref()).map_err(|e| format!("pins.signed: {e}"))?;
        let signed = Signed {
            current: ArcSwap::from_pointee(current),
            keys,
            metrics,
            expiry_logged: AtomicBool::new(false),
            listeners,
        };
        Ok((signed, watch))
    }

    /// After start and after each reload: the expiry gauge, the expired
    /// warning (once per content), the listeners' check.
    pub(crate) fn took(&self, reloaded: bool) {
        let cur = self.current.load();
        tracing::info!(
            seq = cur.payload.seq,
            exp = cur.payload.exp,
            domains = cur.payload.domains.len(),
            reloaded,
            "serving the signed pin config"
        );
        self.expiry_logged.store(false, Ordering::Relaxed);
        self.tick();
        self.check_listeners(&cur.payload);
    }

    /// Every poll: the expiry gauge, and the one warning when it expires.
    pub(crate) fn tick(&self) {
        let cur = self.current.load();
        let left = cur.payload.exp.saturating_sub(unix_now());
        self.metrics.config_expiry.set(left);
        if left <= 0 && !self.expiry_logged.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                seq = cur.payload.seq,
                expired_seconds_ago = -left,
                "the signed pin config has expired; still serving it: apps refuse it and keep their last good config. Sign and publish a new one"
            );
        }
    }

    /// One poll of the file.
    pub(crate) fn poll(&self, watch: &mut FileWatch) {
        match watch.poll() {
            FileChange::Unchanged => {}
            FileChange::Unreadable(e) => {
                self.metrics
                    .reloads
                    .with_label_values(&["unreadable"])
                    .inc();
                tracing::warn!(file = %watch.path().display(), error = %e, "cannot read the signed pin config; serving the last good one");
            }
            FileChange::Content(bytes) => match read(&bytes, self.keys.as_deref()) {
                Err(e) => {
                    self.metrics.reloads.with_label_values(&["invalid"]).inc();
                    tracing::warn!(file = %watch.path().display(), "{e}; serving the last good one");
                }
                Ok(next) if next.payload.seq < self.current.load().payload.seq => {
                    self.metrics.reloads.with_label_values(&["rollback"]).inc();
                    tracing::warn!(
                        file = %watch.path().display(),
                        seq = next.payload.seq,
                        served = self.current.load().payload.seq,
                        "the new signed pin config has a lower seq than the one served (apps refuse a rollback); serving the last good one"
                    );
                }
                Ok(next) => {
                    self.metrics.reloads.with_label_values(&["ok"]).inc();
                    self.current.store(Arc::new(next));
                    self.took(true);
                }
            },
        }
    }

    fn check_listeners(&self, payload: &Payload) {
        for l in &self.listeners {
            let pinned = l.names.iter().any(|n| payload.holds_pin(n, &l.pins));
            self.metrics
                .listener_pinned
                .with_label_values(&[l.label.as_str()])
                .set(i64::from(pinned));
            if !pinned {
                tracing::warn!(
                    listener = %l.label,
                    names = ?l.names,
                    "THIS LISTENER SERVES A CERTIFICATE ITS OWN APPS WOULD REFUSE: its chain holds no pin of the signed pin config for its names. Ship the new key's pin (sign a config with it) before serving this certificate"
                );
            }
        }
    }

    /// Answers GET/HEAD at `path`.
    pub(crate) async fn answer(&self, session: &mut Session, head: bool) -> Result<()> {
        crate::respond::settle_request_body(session);
        let cur = self.current.load_full();
        if cur.payload.exp <= unix_now() {
            self.metrics.expired_served.inc();
        }
        let not_modified = session
            .req_header()
            .headers
            .get_all(http::header::IF_NONE_MATCH)
            .iter()
            .any(|v| etag_matches(v.as_bytes(), &cur.etag));
        let status = if not_modified {
            StatusCode::NOT_MODIFIED
        } else {
            StatusCode::OK
        };
        let mut resp = ResponseHeader::build(status, Some(4))?;
        resp.insert_header(http::header::ETAG, cur.etag.as_str())?;
        resp.insert_header(http::header::CACHE_CONTROL, cur.cache_control.as_str())?;
        if not_modified {
            session.write_response_header(Box::new(resp), true).await?;
            return Ok(());
        }
        resp.insert_header(http::header::CONTENT_TYPE, "application/jose")?;
        resp.insert_header(http::header::CONTENT_LENGTH, cur.body.len())?;
        if head {
            session.write_response_header(Box::new(resp), true).await?;
        } else {
            session.write_response_header(Box::new(resp), false).await?;
            session
                .write_response_body(Some(cur.body.clone()), true)
                .await?;
        }
        Ok(())
    }
}

/// Whether an `If-None-Match` value names `etag` (weak comparison, `*`).
pub(crate) fn etag_matches(header: &[u8], etag: &str) -> bool {
    let Ok(text) = std::str::from_utf8(header) else {
        return false;
    };
    text.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

#[cfg(test)]
mod tests {
    use super::etag_matches;

    #[test]
    fn if_none_match_lists() {
        let e = "\"abc\"";
        for yes in ["\"abc\"", "W/\"abc\"", "\"x\", \"abc\"", "*", " \"abc\" "] {
            assert!(etag_matches(yes.as_bytes(), e), "{yes}");
        }
        for no in ["abc", "\"abcd\"", "", "\"ab\", \"c\"", "W/abc", "\u{ff}"] {
            assert!(!etag_matches(no.as_bytes(), e), "{no}");
        }
        assert!(!etag_matches(&[0xff, b'"'], e));
    }
}
