//! The refresher's loop: wakes for the next due source (or a request's
//! signal), polls the files, fetches the URL, and swaps in a new key set
//! when anything changed.

use std::future::Future;
use std::sync::Weak;

use tokio::time::Instant;

use crate::keys::fetch::Fetcher;
use crate::keys::store::KeyStore;

use super::Owner;
use super::schedule::{Timing, UrlSchedule};
use super::signal::Running;
use super::sources::Sources;

/// Swaps in the set built from every source's last good keys.
pub(super) fn install(store: &KeyStore, sources: &Sources) {
    let keys = sources.keys();
    let count = keys.len();
    if store.install(keys) {
        tracing::info!(
            keys = count,
            generation = store.keys.load().generation(),
            "key set swapped in"
        );
    }
}

/// The refresher: runs until `shutdown` resolves or the verifier is gone.
/// Holds only a weak reference between passes.
pub(crate) async fn run<O: Owner, F: Fetcher>(
    weak: Weak<O>,
    mut fetcher: Option<F>,
    shutdown: impl Future<Output = ()>,
) {
    let (signal, timing, files, url) = {
        let Some(owner) = weak.upgrade() else { return };
        let keeper = owner.keeper();
        let sources = keeper.sources.lock().await;
        let url = sources.has_url() && fetcher.is_some();
        (
            keeper.signal.clone(),
            Timing::new(&keeper.jwks),
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
        let Some(owner) = weak.upgrade() else { return };
        let now = Instant::now();
        match &mut schedule {
            Some(s) if signal.is_wanted() => s.want_early(now),
            Some(_) => {}
            None => signal.answered(),
        }
        let files_now = files_due.is_some_and(|d| now >= d);
        let url_now = schedule.as_ref().is_some_and(|s| now >= s.due());
        if !files_now && !url_now {
            continue;
        }
        let store = owner.store();
        let mut sources = owner.keeper().sources.lock().await;
        let m = store.metrics.get();
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
                        store.confirmed();
                    }
                }
                Err(why) => {
                    let retry_in = s.failed(end, rng.f64());
                    let keeping = if sources.url_holds_keys() {
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
            install(store, &sources);
        }
        if url_now {
            // Requests that failed before this fetch (and its swap) are
            // answered by it.
            signal.answered();
        }
    }
}
