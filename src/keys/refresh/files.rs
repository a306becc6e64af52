//! Re-reading the watched key files: secret files and the JWKS file, through
//! the one file watcher ([`crate::watch`]).

use crate::metrics::VerifierMetrics;
use crate::watch::FileChange;

use super::sources::{SecretSlot, Sources, parse_jwks_doc, secret_key};

impl Sources {
    /// Checks every watched file; returns whether any source changed. Each
    /// failure is logged, counted and pushed to `failures`.
    pub(super) fn poll_files(
        &mut self,
        m: Option<&VerifierMetrics>,
        failures: &mut Vec<String>,
    ) -> bool {
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
                FileChange::Unchanged => continue,
                FileChange::Unreadable(e) => Err(format!(
                    "cannot read secret file {}: {e}",
                    watch.path().display()
                )),
                FileChange::Content(bytes) => {
                    secret_key(&bytes, kid.as_deref(), *index, watch.path())
                }
            };
            match result {
                Ok(new) => {
                    *key = new;
                    changed = true;
                    counted(true);
                    tracing::info!(source, file = %watch.path().display(), "secret file reloaded");
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
            let path = f.watch.path().display().to_string();
            let result = match f.watch.poll() {
                FileChange::Unchanged => None,
                FileChange::Unreadable(e) => Some(Err(format!("cannot read {path}: {e}"))),
                FileChange::Content(bytes) => {
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
}
