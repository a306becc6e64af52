//! Starting, stopping and one-off runs of the refresher.

use std::future::Future;
use std::sync::Arc;

use crate::keys::fetch::HttpFetcher;
use crate::keys::store::KeyStore;

use super::options::JwksOptions;
use super::task::{install, run};
use super::{Keeper, Owner};

/// Why a one-off refresh (`Verifier::refresh_once`) could not refresh every
/// source. Each entry names the source and the reason; never a body, never
/// a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct RefreshError(pub Vec<String>);

/// Stops the refresher started by `Verifier::spawn_refresher`: on
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

/// The fetcher of the configured URL, if any can be built.
fn url_fetcher(j: &JwksOptions) -> Option<HttpFetcher> {
    let url = j.url.as_deref()?;
    match HttpFetcher::new(url, j.timeout, j.max_body_bytes, &j.egress) {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!(source = "jwks.url", "the JWKS URL cannot be fetched: {e}");
            None
        }
    }
}

/// Runs the refresher of `owner` in the caller's task until `shutdown`.
pub(crate) async fn run_in_place<O: Owner>(owner: &Arc<O>, shutdown: impl Future<Output = ()>) {
    let fetcher = url_fetcher(&owner.keeper().jwks);
    run(Arc::downgrade(owner), fetcher, shutdown).await;
}

/// Runs the refresher of `owner` in a tokio task holding a weak reference.
pub(crate) fn spawn<O: Owner>(owner: &Arc<O>) -> RefresherHandle {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let weak = Arc::downgrade(owner);
    let fetcher = url_fetcher(&owner.keeper().jwks);
    let task = tokio::spawn(run(weak, fetcher, async move {
        // Resolves on a send or when the handle (the sender) is dropped.
        let _ = stopped.await;
    }));
    RefresherHandle {
        stop: Some(stop),
        task: Some(task),
    }
}

/// Checks every source once, now, and swaps in a new set if anything
/// changed.
pub(crate) async fn refresh_once(store: &KeyStore, keeper: &Keeper) -> Result<(), RefreshError> {
    let mut failures = Vec::new();
    let mut sources = keeper.sources.lock().await;
    let m = store.metrics.get();
    let mut changed = sources.poll_files(m, &mut failures);
    if sources.has_url() {
        match url_fetcher(&keeper.jwks) {
            Some(mut f) => match sources.fetch_url(&mut f, m).await {
                Ok(ok) if ok.changed => changed = true,
                Ok(_) => store.confirmed(),
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
        install(store, &sources);
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(RefreshError(failures))
    }
}
