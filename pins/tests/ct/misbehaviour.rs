//! A log that misbehaves is caught, counted, its evidence kept, and it is
//! no longer read — while the other log goes on. A log that answers 429,
//! 500 or slowly is retried with backoff and recovers. Starting at the
//! end reads nothing old, on both protocols.

use std::time::Duration;

use super::world::{ORIGIN, T0, World, options, run_once, start};
use attestgate_ctlog::{LogKeys, entries, write_data_tiles, write_static};

fn evidence_dirs(state: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for log in std::fs::read_dir(state.join("evidence")).unwrap().flatten() {
        for d in std::fs::read_dir(log.path()).unwrap().flatten() {
            out.push(d.path());
        }
    }
    out
}

async fn misbehaves(w: &World, tag: &str, kind: &str, first: usize, publish: impl Fn(&World)) {
    let state = w.state(tag);
    let n = w.logged.len();
    w.publish_static(first, T0 + 1000);
    w.publish_rfc(n - 4, T0 + 1000);
    let lists = vec![w.list.display().to_string()];
    let (first, _, _) = run_once(&w.pins, &lists, &state, options(true)).await;
    assert!(!first.misbehaving, "{first:?}");
    publish(w);
    w.publish_rfc(n, T0 + 2000);
    let (second, events, metrics) = run_once(&w.pins, &lists, &state, options(true)).await;
    assert!(second.misbehaving, "{kind}: {second:?}");
    assert_eq!(second.exit_code(), 1);
    let m = events
        .iter()
        .find(|e| e["event"] == "misbehaviour")
        .unwrap_or_else(|| panic!("{kind}: {events:#?}"));
    assert_eq!(m["kind"], kind);
    assert!(
        metrics.contains(&format!(
            "attestgate_ct_log_misbehaviour_total{{kind=\"{kind}\",log=\"{}\"}} 1",
            w.nginx.url
        )),
        "{metrics}"
    );
    // the other log went on to its new head
    assert!(
        metrics.contains(&format!(
            "attestgate_ct_log_position{{log=\"{}\"}} {n}",
            w.rfc.url
        )),
        "{metrics}"
    );
    // both signed heads are kept
    let dirs = evidence_dirs(&state);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let served = std::fs::read(dirs[0].join("served")).unwrap();
    assert!(
        served.starts_with(ORIGIN.as_bytes()),
        "{}",
        String::from_utf8_lossy(&served)
    );
    if kind != "bad_signature" {
        assert!(dirs[0].join("verified").exists());
    }
    // the log stays halted: a third run does not read it, and says so again
    w.publish_static(n, T0 + 1000);
    let (third, _, metrics) = run_once(&w.pins, &lists, &state, options(true)).await;
    assert!(third.misbehaving);
    assert!(
        metrics.contains(&format!(
            "attestgate_ct_log_misbehaviour_total{{kind=\"{kind}\",log=\"{}\"}} 1",
            w.nginx.url
        )),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_fork_root_mismatch_and_bad_signature_each_halt_only_their_log() {
    let w = World::new("misbehaviour");
    let n = w.logged.len();
    misbehaves(&w, "rollback", "rollback", n, |w| {
        w.publish_static(n - 3, T0 + 3000);
    })
    .await;
    misbehaves(&w, "fork", "fork", n, |w| {
        let other = entries(&w.scenario.log_roots(), &w.scenario.submissions, T0 + 5);
        write_static(&w.static_root, ORIGIN, &w.static_keys, &other, n, T0 + 3000);
    })
    .await;
    misbehaves(&w, "mismatch", "root_mismatch", n - 4, |w| {
        // a bigger head, but tiles whose entries are not the ones it signed
        let other = entries(&w.scenario.log_roots(), &w.scenario.submissions, T0 + 5);
        write_static(
            &w.static_root,
            ORIGIN,
            &w.static_keys,
            &w.logged,
            n,
            T0 + 1000,
        );
        write_data_tiles(&w.static_root, &other, n);
    })
    .await;
    misbehaves(&w, "badsig", "bad_signature", n, |w| {
        write_static(
            &w.static_root,
            ORIGIN,
            &LogKeys::new(8),
            &w.logged,
            n,
            T0 + 3000,
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc6962_rollback_and_bad_signature() {
    let w = World::new("rfcbad");
    let n = w.logged.len();
    let lists = vec![w.list.display().to_string()];
    let state = w.state("s");
    run_once(&w.pins, &lists, &state, options(true)).await;
    w.publish_rfc(n - 1, T0 + 2000);
    let (o, events, metrics) = run_once(&w.pins, &lists, &state, options(true)).await;
    assert!(o.misbehaving);
    assert!(
        events.iter().any(|e| e["kind"] == "rollback"),
        "{events:#?}"
    );
    assert!(
        metrics.contains(&format!(
            "attestgate_ct_log_misbehaviour_total{{kind=\"rollback\",log=\"{}\"}} 1",
            w.rfc.url
        )),
        "{metrics}"
    );
    let state2 = w.state("s2");
    attestgate_ctlog::write_rfc6962(&w.rfc_root, &LogKeys::new(3), &w.logged, n, T0);
    let (o, events, _) = run_once(&w.pins, &lists, &state2, options(true)).await;
    assert!(o.misbehaving);
    assert!(
        events.iter().any(|e| e["kind"] == "bad_signature"),
        "{events:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_a_500_and_a_slow_log_are_retried_then_read() {
    let w = World::new("outage");
    let n = w.logged.len() as f64;
    let lists = vec![w.list.display().to_string()];
    std::fs::write(w.static_root.join("fail429"), "").unwrap();
    std::fs::write(w.rfc_root.join("fail500"), "").unwrap();
    let mut opts = options(false);
    opts.timeout = Duration::from_millis(700);
    let r = start(&w.pins, &lists, &w.state("s"), opts).await;
    let tiled = format!(
        "attestgate_ct_fetch_errors_total{{kind=\"rate_limited\",log=\"{}\"}}",
        w.nginx.url
    );
    let rfc500 = format!(
        "attestgate_ct_fetch_errors_total{{kind=\"server_error\",log=\"{}\"}}",
        w.rfc.url
    );
    r.until("a 429 and a 500", |r| {
        r.value(&tiled) >= 1.0 && r.value(&rfc500) >= 2.0
    })
    .await;
    // Retry-After: 1 is honoured: no second 429 within the second
    let at = r.value(&tiled);
    assert!(
        attestgate_testkit::holds_for(Duration::from_millis(600), || r.value(&tiled) == at).await,
        "retried before Retry-After"
    );
    std::fs::remove_file(w.static_root.join("fail429")).unwrap();
    std::fs::remove_file(w.rfc_root.join("fail500")).unwrap();
    std::fs::write(w.rfc_root.join("slow"), "").unwrap();
    let pos = |u: &str| format!("attestgate_ct_log_position{{log=\"{u}\"}}");
    r.until("the tiled log read", |r| r.value(&pos(&w.nginx.url)) == n)
        .await;
    let timeouts = format!(
        "attestgate_ct_fetch_errors_total{{kind=\"timeout\",log=\"{}\"}}",
        w.rfc.url
    );
    r.until("a slow answer timed out", |r| r.value(&timeouts) >= 1.0)
        .await;
    std::fs::remove_file(w.rfc_root.join("slow")).unwrap();
    r.until("the RFC 6962 log read", |r| r.value(&pos(&w.rfc.url)) == n)
        .await;
    let last = format!(
        "attestgate_ct_log_last_success_timestamp_seconds{{log=\"{}\"}}",
        w.rfc.url
    );
    assert!(r.value(&last) > 1.7e9);
    let events = r.sink.events();
    let outcome = r.stop().await;
    assert!(!outcome.misbehaving && !outcome.unreadable, "{outcome:?}");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["verdict"] == "known_leaf")
            .count(),
        2,
        "{events:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_gives_up_on_a_log_that_stays_down_and_reads_the_other() {
    let w = World::new("down");
    std::fs::write(w.rfc_root.join("fail500"), "").unwrap();
    let lists = vec![w.list.display().to_string()];
    let (o, events, _) = run_once(&w.pins, &lists, &w.state("s"), options(true)).await;
    assert!(o.unreadable && o.alerted, "{o:?}");
    assert!(!events.is_empty());
    // nothing to report, one log unreadable: 3
    let (o, events, _) = run_once(&w.pins, &lists, &w.state("s"), options(true)).await;
    assert!(events.is_empty(), "{events:#?}");
    assert_eq!(o.exit_code(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_at_the_end_reads_only_what_comes_after_on_both_protocols() {
    let w = World::new("end");
    let n = w.logged.len();
    w.publish_static(5, T0 + 1000);
    w.publish_rfc(5, T0 + 1000);
    let lists = vec![w.list.display().to_string()];
    let mut opts = options(true);
    opts.start = attestgate_pins::ct::watch::Start::End;
    let (o, events, metrics) = run_once(&w.pins, &lists, &w.state("s"), opts.clone()).await;
    assert!(events.is_empty(), "{events:#?}");
    assert_eq!(o.exit_code(), 0);
    for u in [&w.nginx.url, &w.rfc.url] {
        assert!(
            metrics.contains(&format!("attestgate_ct_log_position{{log=\"{u}\"}} 5")),
            "{metrics}"
        );
    }
    w.publish_static(n, T0 + 2000);
    w.publish_rfc(n, T0 + 2000);
    let (_, events, _) = run_once(&w.pins, &lists, &w.state("s"), opts).await;
    let idx: Vec<u64> = events
        .iter()
        .map(|e| e["entry_index"].as_u64().unwrap())
        .collect();
    assert!(!idx.is_empty() && idx.iter().all(|i| *i >= 5), "{idx:?}");
}
