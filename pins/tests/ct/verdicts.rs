//! The CT watch against logs written by another implementation
//! (Cloudflare's static_ct_api / tlog_tiles / signed_note) and served by
//! real servers: every watched certificate gets exactly its verdict,
//! once, across both logs; unrelated names give nothing; a second run
//! over the same state reports nothing again.

use std::collections::BTreeMap;

use super::world::{World, options, run_once};

fn table(events: &[serde_json::Value]) -> BTreeMap<String, usize> {
    let mut t = BTreeMap::new();
    for e in events {
        assert_eq!(e["event"], "cert", "{e}");
        *t.entry(e["verdict"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_watched_certificate_gets_its_verdict_once_across_both_logs() {
    let w = World::new("verdicts");
    let lists = vec![w.list.display().to_string()];
    let (outcome, events, metrics) =
        run_once(&w.pins, &lists, &w.state("state"), options(true)).await;
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for e in w.scenario.expected.iter().filter_map(|e| e.verdict) {
        *want.entry(e.to_owned()).or_default() += 1;
    }
    eprintln!("verdicts: {:?}", table(&events));
    assert_eq!(table(&events), want, "{events:#?}");
    // every event names an entry the scenario expects that verdict for
    for e in &events {
        let i = e["entry_index"].as_u64().unwrap() as usize;
        let exp = &w.scenario.expected[i];
        assert_eq!(
            Some(e["verdict"].as_str().unwrap()),
            exp.verdict,
            "entry {i} ({}): {e}",
            exp.what
        );
    }
    assert_eq!(
        outcome.exit_code(),
        1,
        "would_break and unknown_issuer were found"
    );
    assert!(!outcome.misbehaving && !outcome.unreadable, "{outcome:?}");
    // the refusals say who refuses and why
    let ub = events
        .iter()
        .find(|e| e["verdict"] == "unknown_issuer")
        .unwrap();
    assert_eq!(ub["precert"], true);
    assert!(
        ub["refusing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["platform"] == "android" && r["reason"].as_str().unwrap().contains("chain"))
    );
    let wb = events
        .iter()
        .find(|e| e["verdict"] == "would_break" && e["entry_index"] == 4)
        .unwrap();
    assert!(
        wb["refusing"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["reason"].as_str().unwrap().contains("pin")),
        "{wb}"
    );
    for log in ["Test tiled log", "Test RFC 6962 log"] {
        let _ = log;
    }
    assert!(
        metrics.contains(
            "attestgate_ct_certs_total{domain=\"api.example.com\",verdict=\"known_leaf\"} 2"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "attestgate_ct_log_position{{log=\"{}\"}} {}",
            w.nginx.url,
            w.logged.len()
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "attestgate_ct_log_tree_size{{log=\"{}\"}} {}",
            w.rfc.url,
            w.logged.len()
        )),
        "{metrics}"
    );
    // a second run over the same state: nothing new, exit 0
    let (again, events, _) = run_once(&w.pins, &lists, &w.state("state"), options(true)).await;
    assert!(events.is_empty(), "{events:#?}");
    assert_eq!(again.exit_code(), 0);
}
