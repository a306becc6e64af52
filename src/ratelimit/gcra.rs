//! GCRA, the generic cell rate algorithm (virtual scheduling form): one
//! number per key, the theoretical arrival time (TAT) of the next request
//! had the key kept to its rate. No background refill: time passing is the
//! refill.
//!
//! With emission interval `T` (the period over the rate) and `burst` `b`,
//! a request at `now` is let through when `max(TAT, now) + T - now <= b·T`
//! (so a fresh key passes `b` requests at once, then one every `T`), and
//! the key's TAT becomes `max(TAT, now) + T`. A refused request changes
//! nothing. Times are whole microseconds (exact in the Redis script's
//! doubles until the year 2255).

/// A rule's GCRA parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gcra {
    /// Emission interval `T`, µs (at least 1).
    pub interval_us: u64,
    /// Requests a fresh key may make at once (at least 1).
    pub burst: u32,
}

/// The outcome of one arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Let through; the key's new TAT, and what is left.
    Allow {
        /// The key's new TAT.
        tat: u64,
        /// Requests that could follow at once.
        remaining: u32,
        /// µs until the key is back to a full burst.
        reset_us: u64,
    },
    /// Over the limit; the key's TAT is unchanged.
    Deny {
        /// µs until one request would pass.
        retry_after_us: u64,
        /// µs until the key is back to a full burst.
        reset_us: u64,
    },
}

impl Gcra {
    /// `b·T`, the largest debt a key may hold.
    pub fn tolerance_us(&self) -> u64 {
        self.interval_us.saturating_mul(u64::from(self.burst))
    }

    /// One arrival at `now` for a key whose TAT is `tat` (`None` or a past
    /// time: a fresh key).
    pub fn step(&self, tat: Option<u64>, now: u64) -> Step {
        let start = tat.unwrap_or(now).max(now);
        let new_tat = start.saturating_add(self.interval_us);
        let debt = new_tat - now;
        let tolerance = self.tolerance_us();
        if debt > tolerance {
            Step::Deny {
                retry_after_us: debt - tolerance,
                reset_us: start - now,
            }
        } else {
            let remaining = (tolerance - debt) / self.interval_us;
            Step::Allow {
                tat: new_tat,
                remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
                reset_us: debt,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_key_gets_its_burst_then_one_per_interval() {
        let g = Gcra {
            interval_us: 500_000,
            burst: 3,
        };
        let mut tat = None;
        let mut remaining = vec![];
        for _ in 0..3 {
            match g.step(tat, 1_000_000) {
                Step::Allow {
                    tat: t,
                    remaining: r,
                    ..
                } => {
                    tat = Some(t);
                    remaining.push(r);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(remaining, [2, 1, 0]);
        assert_eq!(
            g.step(tat, 1_000_000),
            Step::Deny {
                retry_after_us: 500_000,
                reset_us: 1_500_000
            }
        );
        // one interval later, exactly one more
        assert!(matches!(
            g.step(tat, 1_499_999),
            Step::Deny {
                retry_after_us: 1,
                ..
            }
        ));
        assert!(matches!(
            g.step(tat, 1_500_000),
            Step::Allow { remaining: 0, .. }
        ));
        // a long pause refills to the burst, never beyond
        assert!(matches!(
            g.step(tat, 100_000_000),
            Step::Allow { remaining: 2, .. }
        ));
    }
}
