//! When the JWKS URL is fetched next. Pure: times and random draws come in,
//! delays go out; nothing here sleeps or reads a clock, so the tests drive
//! it on tokio's paused clock.
//!
//! - After a success: `refresh`, or the answer's `max-age`, clamped to
//!   [`min_refetch`, `refresh`], minus up to 10 % jitter.
//! - After the n-th failure in a row: max(`min_refetch`, 100 ms) doubled
//!   n - 1 times, capped at `refresh`, minus up to 25 % jitter.
//! - Early (unknown `kid`): no sooner than `min_refetch` after the start of
//!   the previous fetch; never later than the regular due time.

use std::time::Duration;

use tokio::time::Instant;

use super::options::JwksOptions;

/// Floor of every interval (a zero would spin).
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// Floor of the first backoff step.
pub(crate) const MIN_BACKOFF: Duration = Duration::from_millis(100);

/// The schedule's settings, sanitized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timing {
    pub(crate) refresh: Duration,
    pub(crate) min_refetch: Duration,
    pub(crate) backoff_base: Duration,
    pub(crate) watch_interval: Duration,
}

impl Timing {
    pub(crate) fn new(o: &JwksOptions) -> Timing {
        let refresh = o.refresh.max(MIN_INTERVAL);
        let min_refetch = o.min_refetch.min(refresh);
        Timing {
            refresh,
            min_refetch,
            backoff_base: min_refetch.max(MIN_BACKOFF).min(refresh),
            watch_interval: o.watch_interval.max(MIN_INTERVAL),
        }
    }
}

/// Delay after a success: `max-age` (or `refresh`) clamped to
/// [`min_refetch`, `refresh`], minus up to 10 % (`r` in [0, 1)), never below
/// `min_refetch`.
pub(crate) fn ok_delay(t: Timing, max_age: Option<Duration>, r: f64) -> Duration {
    let base = max_age.unwrap_or(t.refresh).clamp(t.min_refetch, t.refresh);
    base.saturating_sub(base.mul_f64(0.1 * r.clamp(0.0, 1.0)))
        .max(t.min_refetch)
}

/// Delay after the `failures`-th failure in a row (from 1): the base doubled
/// `failures - 1` times, capped at `refresh`, minus up to 25 %, never below
/// `min_refetch`.
pub(crate) fn backoff_delay(t: Timing, failures: u32, r: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(30);
    let step = t
        .backoff_base
        .saturating_mul(1u32 << doublings)
        .min(t.refresh);
    step.saturating_sub(step.mul_f64(0.25 * r.clamp(0.0, 1.0)))
        .max(t.min_refetch)
}

/// When the URL is fetched next. Pure: times come in, times go out.
#[derive(Clone, Debug)]
pub(crate) struct UrlSchedule {
    timing: Timing,
    due: Instant,
    last_start: Option<Instant>,
    failures: u32,
}

impl UrlSchedule {
    /// A first fetch at once.
    pub(crate) fn new(timing: Timing, now: Instant) -> UrlSchedule {
        UrlSchedule {
            timing,
            due: now,
            last_start: None,
            failures: 0,
        }
    }

    pub(crate) fn due(&self) -> Instant {
        self.due
    }

    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }

    /// An unknown `kid` was seen: fetch as soon as `min_refetch` allows.
    pub(crate) fn want_early(&mut self, now: Instant) {
        let earliest = match self.last_start {
            Some(t) => (t + self.timing.min_refetch).max(now),
            None => now,
        };
        self.due = self.due.min(earliest);
    }

    /// A fetch starts.
    pub(crate) fn started(&mut self, now: Instant) {
        self.last_start = Some(now);
    }

    /// It succeeded (ended at `now`); returns the delay to the next one.
    pub(crate) fn succeeded(
        &mut self,
        now: Instant,
        max_age: Option<Duration>,
        r: f64,
    ) -> Duration {
        self.failures = 0;
        let d = ok_delay(self.timing, max_age, r);
        self.due = now + d;
        d
    }

    /// It failed (ended at `now`); returns the delay to the next one.
    pub(crate) fn failed(&mut self, now: Instant, r: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let d = backoff_delay(self.timing, self.failures, r);
        self.due = now + d;
        d
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn timing(refresh: u64, min_refetch: u64) -> Timing {
        Timing::new(&JwksOptions {
            refresh: Duration::from_secs(refresh),
            min_refetch: Duration::from_secs(min_refetch),
            ..JwksOptions::default()
        })
    }
    #[test]
    fn success_delay_is_max_age_clamped_minus_jitter() {
        let t = timing(300, 10);
        for r in [0.0, 0.3, 0.999] {
            let d = ok_delay(t, None, r);
            assert!(d <= 300 * S && d >= 270 * S, "{d:?}");
            let d = ok_delay(t, Some(60 * S), r);
            assert!(d <= 60 * S && d >= 54 * S, "{d:?}");
            // Below min_refetch (and no-cache = 0): min_refetch, exactly.
            assert_eq!(ok_delay(t, Some(S), r), 10 * S);
            assert_eq!(ok_delay(t, Some(Duration::ZERO), r), 10 * S);
            assert!(ok_delay(t, Some(86_400 * S), r) <= 300 * S);
        }
        assert_eq!(ok_delay(t, None, 0.0), 300 * S);
    }

    #[test]
    fn backoff_doubles_from_min_refetch_up_to_refresh() {
        let t = timing(300, 10);
        let top: Vec<u64> = (1..=8)
            .map(|n| backoff_delay(t, n, 0.0).as_secs())
            .collect();
        assert_eq!(top, [10, 20, 40, 80, 160, 300, 300, 300]);
        for n in 1..=40 {
            let hi = backoff_delay(t, n, 0.0);
            let lo = backoff_delay(t, n, 0.999);
            assert!(
                lo <= hi && lo >= hi.mul_f64(0.75) && lo >= 10 * S,
                "{n}: {lo:?} {hi:?}"
            );
        }
        // A zero min_refetch still backs off from 100 ms; nothing below the
        // 10 ms floor.
        let z = Timing::new(&JwksOptions {
            refresh: Duration::ZERO,
            min_refetch: Duration::ZERO,
            watch_interval: Duration::ZERO,
            ..JwksOptions::default()
        });
        assert_eq!(z.refresh, MIN_INTERVAL);
        assert_eq!(z.watch_interval, MIN_INTERVAL);
        let t = timing(5, 0);
        assert_eq!(backoff_delay(t, 1, 0.0), MIN_BACKOFF);
        assert_eq!(backoff_delay(t, 2, 0.0), 2 * MIN_BACKOFF);
    }

    #[tokio::test(start_paused = true)]
    async fn early_refetch_waits_for_min_refetch_after_the_last_start() {
        let t = timing(300, 10);
        let t0 = Instant::now();
        let mut s = UrlSchedule::new(t, t0);
        assert_eq!(s.due(), t0);
        s.started(t0);
        tokio::time::advance(S).await;
        s.succeeded(Instant::now(), None, 0.0);
        assert_eq!(s.due(), t0 + 301 * S);
        tokio::time::advance(2 * S).await;
        s.want_early(Instant::now());
        assert_eq!(s.due(), t0 + 10 * S);
        tokio::time::advance(60 * S).await;
        s.want_early(Instant::now());
        assert_eq!(s.due(), t0 + 10 * S, "an early due time never moves later");
        // Past min_refetch: at once.
        let now = Instant::now();
        s.started(now);
        s.failed(now, 0.0);
        assert_eq!(s.failures(), 1);
        assert_eq!(s.due(), now + 10 * S);
        tokio::time::advance(30 * S).await;
        s.want_early(Instant::now());
        assert_eq!(s.due(), now + 10 * S);
    }
}
