//! Each worker's sweeper: every tick, applies [`super::verdict`] to the
//! worker's connections, and watches the listeners (every worker does: a
//! worker whose listener died may be too busy spinning to notice). Worker
//! 0's proxy sweeper also reports Pingora log lines dropped by the flood
//! guard.

use std::sync::Arc;
use std::time::Duration;

use pingora_core::server::ShutdownWatch;

use super::Pool;
use super::listening::Listening;
use crate::clock::now_ms;

/// Runs until the worker's runtime stops.
pub(crate) async fn run(
    pool: Arc<Pool>,
    worker: usize,
    mut shutdown: ShutdownWatch,
    listening: Arc<Listening>,
    reports_floods: bool,
) {
    let tick = pool.deadlines.tick;
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The listener check reads /proc: not more than four times a second.
    let watch_every = (Duration::from_millis(250).as_millis() / tick.as_millis().max(1)).max(1);
    let each_second = (1000 / tick.as_millis().max(1)).max(1);
    let mut ticks: u128 = 0;
    let mut stopping = false;
    let mut tasks = 0;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            changed = shutdown.changed(), if !stopping => {
                if changed.is_err() || *shutdown.borrow() {
                    stopping = true;
                    pool.shutting_down(worker);
                }
                continue;
            }
        }
        pool.sweep(worker, now_ms());
        pool.report_tasks(&mut tasks);
        ticks += 1;
        if ticks.is_multiple_of(watch_every) {
            listening.watch(&pool);
        }
        if reports_floods && ticks.is_multiple_of(each_second) {
            let dropped = crate::logs::flood::take_dropped();
            if dropped > 0 {
                tracing::warn!(
                    dropped,
                    "Pingora log lines dropped: more than {} a second (a flood of failing clients, or a failing listener)",
                    crate::logs::flood::PER_SECOND
                );
            }
        }
    }
}
