//! The pure parts of the proxy's pin monitor: when to check
//! next (the interval with jitter, so a fleet does not probe in step), and
//! which results changed since the last round (one warning per change, not
//! one per check). The checking is [`crate::check::check_domains`]; the
//! metrics and logs are the proxy's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::check::{AddressStatus, PinResult};

/// `interval` moved by up to ±`fraction` of itself; `unit` is a uniform
/// random number in [0, 1) supplied by the caller (so this stays pure).
pub fn jittered(interval: Duration, fraction: f64, unit: f64) -> Duration {
    let fraction = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.5
    };
    let factor = 1.0 + fraction * (2.0 * unit - 1.0);
    Duration::try_from_secs_f64(interval.as_secs_f64() * factor).unwrap_or(interval)
}

/// A result that changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The domain.
    pub domain: String,
    /// The address (`None`: the domain had none to check).
    pub address: Option<SocketAddr>,
    /// The result before (`None`: first seen).
    pub from: Option<PinResult>,
    /// The result now (`None`: the address is gone).
    pub to: Option<PinResult>,
}

impl Change {
    /// Whether it deserves a warning (anything but a first `match`, or a
    /// recovery to `match`, which deserves an info line).
    pub fn is_bad(&self) -> bool {
        matches!(self.to, Some(PinResult::Mismatch | PinResult::Error))
    }
}

/// The last result of each domain and address.
#[derive(Clone, Debug, Default)]
pub struct States {
    last: HashMap<(String, Option<SocketAddr>), PinResult>,
}

impl States {
    /// No results yet.
    pub fn new() -> States {
        States::default()
    }

    /// Takes a round of results; returns what changed (a first result that
    /// is not `match` counts as a change; a first `match` does not).
    pub fn update(&mut self, round: &[AddressStatus]) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut next = HashMap::with_capacity(round.len());
        for s in round {
            let key = (s.domain.clone(), s.address);
            let before = self.last.get(&key).copied();
            if before != Some(s.result) && !(before.is_none() && s.result == PinResult::Match) {
                changes.push(Change {
                    domain: s.domain.clone(),
                    address: s.address,
                    from: before,
                    to: Some(s.result),
                });
            }
            next.insert(key, s.result);
        }
        let mut gone: Vec<_> = self
            .last
            .iter()
            .filter(|(k, _)| !next.contains_key(*k))
            .collect();
        gone.sort_by(|a, b| a.0.cmp(b.0));
        for ((domain, address), result) in gone {
            changes.push(Change {
                domain: domain.clone(),
                address: *address,
                from: Some(*result),
                to: None,
            });
        }
        self.last = next;
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(domain: &str, addr: &str, result: PinResult) -> AddressStatus {
        AddressStatus {
            domain: domain.into(),
            address: Some(addr.parse().unwrap()),
            result,
            expiry_seconds: None,
        }
    }

    #[test]
    fn one_change_per_state_change_not_per_check() {
        use PinResult::*;
        let mut states = States::new();
        let a = |r| status("api.test", "127.0.0.1:443", r);
        let b = |r| status("api.test", "127.0.0.2:443", r);
        assert_eq!(states.update(&[a(Match), b(Match)]), vec![]);
        assert_eq!(states.update(&[a(Match), b(Match)]), vec![]);
        let c = states.update(&[a(Match), b(Mismatch)]);
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].address.unwrap().to_string(), c[0].from, c[0].to),
            ("127.0.0.2:443".into(), Some(Match), Some(Mismatch))
        );
        assert!(c[0].is_bad());
        assert_eq!(states.update(&[a(Match), b(Mismatch)]), vec![]);
        let c = states.update(&[a(Match), b(Match)]);
        assert_eq!((c.len(), c[0].to, c[0].is_bad()), (1, Some(Match), false));
        // An address that disappears is a change; a new one that fails too.
        let c = states.update(&[a(Match), status("api.test", "127.0.0.3:443", Error)]);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].from, c[0].to), (None, Some(Error)));
        assert_eq!(
            (c[1].address.unwrap().to_string(), c[1].to),
            ("127.0.0.2:443".into(), None)
        );
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let i = Duration::from_secs(300);
        assert_eq!(jittered(i, 0.1, 0.5), i);
        assert_eq!(jittered(i, 0.1, 0.0), Duration::from_secs(270));
        assert!(jittered(i, 0.1, 0.999_999) <= Duration::from_secs(330));
        assert_eq!(jittered(i, 5.0, 0.0), Duration::ZERO);
        assert_eq!(jittered(i, 0.1, f64::NAN), i);
        assert_eq!(jittered(i, f64::NAN, 0.0), i);
        assert_eq!(jittered(Duration::MAX, 0.5, 1.0), Duration::MAX);
    }
}
