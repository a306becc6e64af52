//! The Grafana dashboard and the alert rules name only real metrics.

use std::collections::BTreeSet;

use super::*;

/// Metric names the code registers (string literals in the sources).
fn known_metrics() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for file in [
        "src/metrics.rs",
        "src/msgsig/replay/mod.rs",
        "proxy/src/pins/metrics.rs",
        "pins/src/ct/metrics.rs",
        "proxy/src/gateway/inbound.rs",
        "proxy/src/conns/metrics.rs",
        "src/ratelimit/check.rs",
    ] {
        let text = read(file);
        for part in text.split('"').skip(1).step_by(2) {
            if part.starts_with("attestgate_")
                && part.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            {
                names.insert(part.to_owned());
            }
        }
    }
    names
}

fn metric_names_in(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("attestgate_") {
        let name: String = rest[i..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        rest = &rest[i + name.len()..];
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suf| name.strip_suffix(suf))
            .unwrap_or(&name)
            .to_owned();
        out.push(base);
    }
    out
}

fn readme_metrics() -> BTreeSet<String> {
    read("README.md")
        .lines()
        .filter_map(|l| l.strip_prefix("| `attestgate_"))
        .map(|l| format!("attestgate_{}", l.split('`').next().unwrap()))
        .collect()
}

#[test]
fn the_dashboard_and_the_alerts_use_real_metric_names() {
    let known = known_metrics();
    let documented = readme_metrics();
    assert!(documented.len() >= 9, "{documented:?}");
    assert!(
        documented.is_subset(&known),
        "README lists unknown metrics: {documented:?}"
    );

    let dash: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/attestgate.json")).unwrap();
    assert_eq!(dash["uid"], "attestgate");
    let mut on_dashboard = BTreeSet::new();
    let panels = dash["panels"].as_array().unwrap();
    for p in panels {
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()));
        for t in p["targets"].as_array().unwrap() {
            for name in metric_names_in(t["expr"].as_str().unwrap()) {
                assert!(known.contains(&name), "dashboard: unknown metric {name}");
                on_dashboard.insert(name);
            }
        }
    }
    let ids: BTreeSet<_> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    for m in &documented {
        assert!(on_dashboard.contains(m), "no panel shows {m}");
    }

    let alerts = yaml_docs(&read("deploy/prometheus/alerts.yml")).remove(0);
    let mut names = BTreeSet::new();
    for g in seq(&alerts, "groups") {
        for r in seq(g, "rules") {
            let alert = s(r, "alert");
            assert!(names.insert(alert.to_owned()), "duplicate alert {alert}");
            let expr = s(r, "expr");
            let used = metric_names_in(expr);
            assert!(!used.is_empty(), "{alert} uses no attestgate metric");
            for name in used {
                assert!(known.contains(&name), "{alert}: unknown metric {name}");
            }
            assert!(
                ["critical", "warning", "info"].contains(&s(r, "labels.severity")),
                "{alert}"
            );
            assert!(!s(r, "annotations.summary").is_empty());
            // Balanced brackets (promtool checks the syntax: extras.rs).
            for (open, close) in [('(', ')'), ('{', '}'), ('[', ']')] {
                assert_eq!(
                    expr.matches(open).count(),
                    expr.matches(close).count(),
                    "{alert}"
                );
            }
        }
    }
    assert!(names.contains("AttestgateNoKeys"));
}
