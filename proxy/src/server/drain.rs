//! Drain for load balancers: on SIGTERM, `/readyz` answers 503 at once
//! while the listeners keep serving for `drain_delay`; then Pingora's own
//! graceful shutdown begins (stop accepting, let requests in flight finish
//! within `grace_period`, exit).
//!
//! A load balancer (a Kubernetes Service's endpoints, a cloud target group)
//! learns that an instance is going away a few seconds after the instance
//! itself does. Closing the listeners at once refuses the connections sent
//! in that window; serving them for `drain_delay` while readiness already
//! says "going away" lets every balancer catch up first. So no `preStop`
//! sleep is needed on Kubernetes.
//!
//! During the delay a second signal cuts it short: SIGTERM again starts
//! the shutdown now, SIGINT stops fast, SIGQUIT hands over (upgrade).
//!
//! SIGINT in the binary exits the process at once: Pingora 0.9's fast
//! shutdown can spin for ever in a listener's accept loop (`accept()`
//! fails once the runtime is shutting down, and the loop retries without
//! yielding; seen here, in about one run out of three).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::server::{ShutdownSignal, ShutdownSignalWatch, ShutdownWatch};
use pingora_core::services::background::BackgroundService;

use crate::shutdown::shutdown_of;

/// Whether this process is draining (SIGTERM received). Shared by the
/// signal watcher (which sets it) and `/readyz` (which reads it).
#[derive(Clone, Debug, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    /// Whether SIGTERM has been received.
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn start(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Wraps a signal watcher: a graceful terminate is passed on only
/// `delay` after it arrived, with [`Draining`] set at once.
pub(crate) struct DelayedTerminate {
    pub(crate) inner: Box<dyn ShutdownSignalWatch + Send + Sync>,
    pub(crate) delay: Duration,
    pub(crate) draining: Draining,
    /// Exit the process on a fast shutdown instead of returning it (the
    /// binary; see the module comment).
    pub(crate) exit_on_fast: bool,
}

#[async_trait]
impl ShutdownSignalWatch for DelayedTerminate {
    async fn recv(&self) -> ShutdownSignal {
        let signal = self.delayed().await;
        if self.exit_on_fast && matches!(signal, ShutdownSignal::FastShutdown) {
            tracing::info!("SIGINT: stopping now");
            std::process::exit(0);
        }
        signal
    }
}

impl DelayedTerminate {
    async fn delayed(&self) -> ShutdownSignal {
        let first = self.inner.recv().await;
        if !matches!(first, ShutdownSignal::GracefulTerminate) {
            return first;
        }
        self.draining.start();
        if self.delay.is_zero() {
            return first;
        }
        tracing::info!(
            drain_delay = ?self.delay,
            "SIGTERM: /readyz answers 503 from now; the listeners keep serving for drain_delay"
        );
        tokio::select! {
            () = tokio::time::sleep(self.delay) => {
                tracing::info!("drain delay over: no new connections; requests in flight finish");
                ShutdownSignal::GracefulTerminate
            }
            next = self.inner.recv() => {
                tracing::info!("a second signal during the drain delay: not waiting any longer");
                next
            }
        }
    }
}

/// Exits the process once shutdown has begun and no request is in flight
/// (or the grace period is over: then Pingora's own shutdown goes on).
pub(super) struct Drain {
    pub(super) grace: Duration,
    pub(super) demo_socket: Option<String>,
}

#[async_trait]
impl BackgroundService for Drain {
    async fn start(&self, shutdown: ShutdownWatch) {
        shutdown_of(shutdown).await;
        let started = std::time::Instant::now();
        // Let the listeners stop and requests already accepted register.
        tokio::time::sleep(Duration::from_millis(100)).await;
        loop {
            let in_flight = crate::gateway::IN_FLIGHT.load(std::sync::atomic::Ordering::Relaxed);
            if in_flight == 0 {
                tracing::info!(after = ?started.elapsed(), "drained: no request in flight, exiting");
                if let Some(p) = &self.demo_socket {
                    let _ = std::fs::remove_file(p);
                }
                // 1 when the drain was started because a listener was lost.
                std::process::exit(i32::from(crate::conns::listening::failure().is_some()));
            }
            if started.elapsed() >= self.grace {
                tracing::warn!(in_flight, "grace period over with requests still in flight");
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Hands out scripted signals, each after a pause.
    struct Script(Mutex<Vec<(Duration, ShutdownSignal)>>);

    #[async_trait]
    impl ShutdownSignalWatch for Script {
        async fn recv(&self) -> ShutdownSignal {
            let next = self.0.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match next {
                Some((after, s)) => {
                    tokio::time::sleep(after).await;
                    s
                }
                None => std::future::pending().await,
            }
        }
    }

    fn watch(delay: u64, script: Vec<(u64, ShutdownSignal)>) -> DelayedTerminate {
        let mut script: Vec<_> = script
            .into_iter()
            .map(|(s, sig)| (Duration::from_secs(s), sig))
            .collect();
        script.reverse();
        DelayedTerminate {
            inner: Box::new(Script(Mutex::new(script))),
            delay: Duration::from_secs(delay),
            draining: Draining::default(),
            exit_on_fast: false,
        }
    }

    fn name(s: &ShutdownSignal) -> &'static str {
        match s {
            ShutdownSignal::GracefulTerminate => "terminate",
            ShutdownSignal::GracefulUpgrade => "upgrade",
            ShutdownSignal::FastShutdown => "fast",
        }
    }

    #[tokio::test(start_paused = true)]
    async fn terminate_is_passed_on_after_the_delay_with_readiness_off_at_once() {
        let w = watch(5, vec![(1, ShutdownSignal::GracefulTerminate)]);
        let draining = w.draining.clone();
        let t0 = tokio::time::Instant::now();
        let task = tokio::spawn(async move { w.recv().await });
        tokio::time::sleep(Duration::from_millis(1001)).await;
        assert!(
            draining.is_draining(),
            "readiness is off as soon as SIGTERM comes"
        );
        assert!(!task.is_finished(), "but the listeners keep serving");
        let got = task.await.unwrap();
        assert_eq!(name(&got), "terminate");
        assert_eq!(t0.elapsed(), Duration::from_secs(6));
    }

    #[tokio::test(start_paused = true)]
    async fn other_signals_pass_at_once_and_a_second_signal_cuts_the_delay_short() {
        for (sig, want) in [
            (ShutdownSignal::FastShutdown, "fast"),
            (ShutdownSignal::GracefulUpgrade, "upgrade"),
        ] {
            let w = watch(30, vec![(1, sig)]);
            let t0 = tokio::time::Instant::now();
            assert_eq!(name(&w.recv().await), want);
            assert_eq!(t0.elapsed(), Duration::from_secs(1));
            assert!(!w.draining.is_draining());
        }
        for (second, want) in [
            (ShutdownSignal::FastShutdown, "fast"),
            (ShutdownSignal::GracefulTerminate, "terminate"),
            (ShutdownSignal::GracefulUpgrade, "upgrade"),
        ] {
            let w = watch(
                30,
                vec![(1, ShutdownSignal::GracefulTerminate), (2, second)],
            );
            let t0 = tokio::time::Instant::now();
            assert_eq!(name(&w.recv().await), want);
            assert_eq!(t0.elapsed(), Duration::from_secs(3));
            assert!(w.draining.is_draining());
        }
        let w = watch(0, vec![(1, ShutdownSignal::GracefulTerminate)]);
        let t0 = tokio::time::Instant::now();
        assert_eq!(name(&w.recv().await), "terminate");
        assert_eq!(
            t0.elapsed(),
            Duration::from_secs(1),
            "drain_delay 0: at once"
        );
        assert!(w.draining.is_draining());
    }
}
