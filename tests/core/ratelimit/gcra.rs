//! The GCRA of the rate limits against a reference model, and the memory
//! store under a flood of keys.
//!
//! The reference is the other form of the same algorithm in ITU-T I.371:
//! the continuous-state leaky bucket (a bucket content `X` that drains one
//! unit per microsecond, filled by `T` per conforming arrival, with limit
//! `L = (burst - 1)·T`). The implementation is the virtual-scheduling form
//! (one theoretical arrival time). The two must agree on every arrival of
//! every sequence, and on the wait a refused arrival is told.

use attestgate::ratelimit::{Gcra, MemoryStore, Step};
use proptest::prelude::*;

/// The continuous-state leaky bucket.
struct LeakyBucket {
    increment: i128,
    limit: i128,
    content: i128,
    last: Option<i128>,
}

impl LeakyBucket {
    fn new(interval_us: u64, burst: u32) -> LeakyBucket {
        let t = i128::from(interval_us);
        LeakyBucket {
            increment: t,
            limit: (i128::from(burst) - 1) * t,
            content: 0,
            last: None,
        }
    }

    /// `Ok(())` conforming, `Err(wait)` not (µs until it would be).
    fn arrive(&mut self, now: i128) -> Result<(), i128> {
        let drained = match self.last {
            None => 0,
            Some(last) => (self.content - (now - last)).max(0),
        };
        if drained > self.limit {
            return Err(drained - self.limit);
        }
        self.content = drained + self.increment;
        self.last = Some(now);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn gcra_agrees_with_the_leaky_bucket(
        interval_us in 1u64..5_000_000,
        burst in 1u32..50,
        gaps in proptest::collection::vec(0u64..3_000_000, 1..200),
    ) {
        let gcra = Gcra { interval_us, burst };
        let mut model = LeakyBucket::new(interval_us, burst);
        let mut tat = None;
        let mut now = 1_700_000_000_000_000u64;
        for gap in gaps {
            now += gap;
            let want = model.arrive(i128::from(now));
            match (gcra.step(tat, now), want) {
                (Step::Allow { tat: t, remaining, .. }, Ok(())) => {
                    prop_assert!(t > now);
                    prop_assert!(remaining < burst);
                    tat = Some(t);
                }
                (Step::Deny { retry_after_us, .. }, Err(wait)) => {
                    prop_assert_eq!(i128::from(retry_after_us), wait);
                    // exactly then, it passes (and not a microsecond before)
                    let then = matches!(gcra.step(tat, now + retry_after_us), Step::Allow { .. });
                    let before = matches!(gcra.step(tat, now + retry_after_us - 1), Step::Deny { .. });
                    prop_assert!(then, "refused again after the wait it was told");
                    prop_assert!(before, "passed before the wait it was told");
                }
                (got, want) => prop_assert!(false, "at {now}: gcra {got:?}, model {want:?}"),
            }
        }
    }

    /// Over any window, no more pass than `burst` plus the refill.
    #[test]
    fn no_window_lets_more_through_than_burst_and_refill(
        interval_us in 1u64..1_000_000,
        burst in 1u32..20,
        gaps in proptest::collection::vec(0u64..500_000, 1..300),
    ) {
        let gcra = Gcra { interval_us, burst };
        let mut tat = None;
        let mut now = 1_000_000u64;
        let mut passed = Vec::new();
        for gap in gaps {
            now += gap;
            if let Step::Allow { tat: t, .. } = gcra.step(tat, now) {
                tat = Some(t);
                passed.push(now);
            }
        }
        for (i, start) in passed.iter().enumerate() {
            for (j, end) in passed.iter().enumerate().skip(i) {
                let n = (j - i + 1) as u64;
                prop_assert!(n <= u64::from(burst) + (end - start) / interval_us);
            }
        }
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// One million distinct keys against a table of 100,000: the table keeps
/// its size (entries and bytes, fixed at creation), the process's memory
/// does not grow with the keys, and a device that spent its burst is still
/// limited afterwards.
#[test]
fn a_million_keys_leave_memory_flat() {
    // Resident memory is the process's: in this binary other tests run on
    // other threads and allocate as they please. So the flood runs in a
    // child process holding this test alone.
    const ALONE: &str = "ATTESTGATE_TEST_FLOOD_ALONE";
    if std::env::var_os(ALONE).is_none() {
        let module = module_path!().split_once("::").map_or("", |(_, m)| m);
        let name = format!("{module}::a_million_keys_leave_memory_flat");
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &name, "--test-threads=1", "--nocapture"])
            .env(ALONE, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "the flood alone failed or did not run:\n{stdout}\n{stderr}"
        );
        return;
    }
    let gcra = Gcra {
        interval_us: 500_000,
        burst: 30,
    };
    let store = MemoryStore::new(100_000);
    let capacity = store.capacity();
    let bytes = store.table_bytes();
    assert!((100_000..100_000 + 8).contains(&capacity), "{capacity}");
    assert!(bytes <= 26 * capacity, "{bytes} bytes for {capacity} keys");
    let now = 1_700_000_000_000_000u64;
    for _ in 0..30 {
        assert!(matches!(
            store.step(b"device-A", &gcra, now),
            Step::Allow { .. }
        ));
    }
    let before = rss_kib();
    for i in 0u64..1_000_000 {
        let key = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        store.step(key.as_bytes(), &gcra, now + i);
    }
    let after = rss_kib();
    assert!(store.len() <= capacity);
    assert_eq!(store.table_bytes(), bytes);
    // The table was allocated (and touched) before the flood; a few MB of
    // slack for the allocator and the test harness.
    assert!(
        after.saturating_sub(before) < 4 * 1024,
        "RSS grew {} KiB under the flood (table {} KiB)",
        after.saturating_sub(before),
        bytes / 1024
    );
    // Two intervals have passed: one request's worth left of the debt,
    // not a fresh burst of 30.
    match store.step(b"device-A", &gcra, now + 1_000_000) {
        Step::Allow { remaining, .. } => {
            assert!(remaining <= 1, "the device was forgotten: {remaining} left")
        }
        Step::Deny { .. } => {}
    }
}
