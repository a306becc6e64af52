//! deploy/k8s/extras: the ServiceMonitor, the PrometheusRule and the
//! NetworkPolicy, rendered by `kubectl kustomize` alone and inside an
//! overlay (as docs/DEPLOY.md says to add them), and checked against the
//! Services and pods they select and the rules promtool checks.

use std::path::{Component, Path, PathBuf};

use attestgate_config::Upstream;
use serde_yaml::{Mapping, Value};

use super::*;

const EXTRAS: &str = "deploy/k8s/extras";

/// `to` relative to the folder `from` (both absolute): kustomize takes
/// relative paths only.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component<'_>> = from.components().collect();
    let to: Vec<Component<'_>> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out
}

/// The enforce overlay with `../../extras` added to its bases, as
/// docs/DEPLOY.md tells: rendered from a copy in a temporary folder.
fn overlay_with_extras() -> (Manifests, String) {
    let dir = TempDir::new("overlay-extras");
    let here = dir.path().canonicalize().unwrap();
    let overlay = "deploy/k8s/overlays/enforce";
    let text = read(&format!("{overlay}/kustomization.yaml"));
    let base_line = "  - ../../base\n";
    assert!(text.contains(base_line), "{text}");
    let rel = |p: &str| relative(&here, &repo_root().join(p)).display().to_string();
    let text = text.replace(
        base_line,
        &format!("  - {}\n  - {}\n", rel(BASE), rel(EXTRAS)),
    );
    std::fs::write(dir.join("kustomization.yaml"), text).unwrap();
    let toml = read(&format!("{overlay}/attestgate.toml"));
    std::fs::write(dir.join("attestgate.toml"), &toml).unwrap();
    (Manifests::render(dir.path()), toml)
}

fn labels(v: &Value, path: &str) -> Mapping {
    get(v, path).as_mapping().unwrap().clone()
}

fn subset(small: &Mapping, big: &Mapping) -> bool {
    small.iter().all(|(k, v)| big.get(k) == Some(v))
}

#[test]
fn kubectl_kustomize_renders_the_extras_alone() {
    let m = Manifests::render(&repo_root().join(EXTRAS));
    let mut kinds: Vec<_> = m.docs.iter().map(|d| s(d, "kind")).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["NetworkPolicy", "PrometheusRule", "ServiceMonitor"]);
    for d in &m.docs {
        assert_eq!(
            s(d, "metadata.labels.[app.kubernetes.io/name]"),
            "attestgate"
        );
    }
}

#[test]
fn the_service_monitor_scrapes_the_admin_service_only() {
    let (m, toml) = overlay_with_extras();
    let namespace = s(m.kind("Deployment"), "metadata.namespace").to_owned();
    for d in &m.docs {
        assert_eq!(s(d, "metadata.namespace"), namespace, "{d:?}");
    }
    let sm = m.kind("ServiceMonitor");
    let selector = labels(sm, "spec.selector.matchLabels");
    let admin = m.named("Service", "attestgate-admin");
    let api = m.named("Service", "attestgate");
    assert!(subset(&selector, &labels(admin, "metadata.labels")));
    assert!(
        !subset(&selector, &labels(api, "metadata.labels")),
        "the ServiceMonitor selects the API Service too"
    );
    let (config, _, _dir) = load_config_text(&toml, &secret_items(m.kind("Deployment")));
    let admin_port = config.admin.unwrap().listen.port();
    for e in seq(sm, "spec.endpoints") {
        assert_eq!(s(e, "path"), "/metrics");
        let port = seq(admin, "spec.ports")
            .iter()
            .find(|p| s(p, "name") == s(e, "port"))
            .unwrap_or_else(|| panic!("the admin Service has no port {e:?}"));
        assert_eq!(
            port_named(container(m.kind("Deployment")), s(port, "targetPort")),
            admin_port
        );
    }
}

/// The container port a NetworkPolicy port stands for (a name or a number).
fn policy_port(c: &Value, p: &Value) -> u16 {
    match get(p, "port") {
        Value::String(name) => port_named(c, name),
        v => v.as_u64().unwrap() as u16,
    }
}

#[test]
fn the_network_policy_opens_the_api_to_all_and_the_admin_port_to_monitoring_only() {
    let (m, toml) = overlay_with_extras();
    let deploy = m.kind("Deployment");
    let c = container(deploy);
    let (config, _, _dir) = load_config_text(&toml, &secret_items(deploy));
    let api_port = config.server.listen[0].port();
    let admin_port = config.admin.unwrap().listen.port();

    let np = m.kind("NetworkPolicy");
    assert!(subset(
        &labels(np, "spec.podSelector.matchLabels"),
        &labels(deploy, "spec.template.metadata.labels")
    ));
    let types: Vec<_> = seq(np, "spec.policyTypes")
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(types, ["Ingress", "Egress"]);

    let mut api_open = false;
    for rule in seq(np, "spec.ingress") {
        let ports: Vec<u16> = seq(rule, "ports")
            .iter()
            .map(|p| policy_port(c, p))
            .collect();
        let from = rule.get("from").and_then(Value::as_sequence);
        if ports.contains(&admin_port) {
            assert_eq!(
                ports,
                [admin_port],
                "the admin port shares a rule: {rule:?}"
            );
            let from = from.expect("the admin port is open to every source");
            assert_eq!(from.len(), 1, "{rule:?}");
            let peer = from[0].as_mapping().unwrap();
            assert_eq!(peer.len(), 1, "only a namespace: {peer:?}");
            assert_eq!(
                s(
                    &from[0],
                    "namespaceSelector.matchLabels.[kubernetes.io/metadata.name]"
                ),
                "monitoring"
            );
        }
        if ports.contains(&api_port) {
            assert!(from.is_none(), "the API port is open to all: {rule:?}");
            api_open = true;
        }
    }
    assert!(api_open, "no rule lets API traffic in");

    // Out: DNS to the cluster's resolver, the upstream's port, HTTPS.
    let egress = seq(np, "spec.egress");
    let rule_for = |port: u64, protocol: &str| {
        egress.iter().find(|r| {
            seq(r, "ports")
                .iter()
                .any(|p| get(p, "port").as_u64() == Some(port) && s(p, "protocol") == protocol)
        })
    };
    for protocol in ["UDP", "TCP"] {
        let dns = rule_for(53, protocol).unwrap_or_else(|| panic!("no DNS over {protocol}"));
        assert_eq!(s(dns, "to.0.podSelector.matchLabels.[k8s-app]"), "kube-dns");
    }
    for r in &config.routes {
        let Upstream::Http { port, .. } = r.upstream else {
            panic!("route {} has no real upstream", r.name)
        };
        assert!(
            rule_for(u64::from(port), "TCP").is_some(),
            "route {}: nothing lets attestgate reach port {port}",
            r.name
        );
    }
    assert!(rule_for(443, "TCP").is_some(), "a JWKS URL is unreachable");
}

/// `groups` of each alerting rules file, in order.
fn groups_of(files: &[&str]) -> Vec<Value> {
    files
        .iter()
        .flat_map(|f| seq(&yaml_docs(&read(f))[0], "groups").clone())
        .collect()
}

const RULE_FILES: [&str; 2] = [
    "deploy/prometheus/alerts.yml",
    "deploy/prometheus/pins-alerts.yml",
];

#[test]
fn the_prometheus_rule_holds_the_rules_promtool_checks() {
    let promtool = tool("promtool");
    for f in RULE_FILES {
        run(Command::new(&promtool)
            .args(["check", "rules"])
            .arg(repo_root().join(f)));
    }
    let rule = yaml_docs(&read(&format!("{EXTRAS}/prometheusrule.yaml"))).remove(0);
    assert_eq!(s(&rule, "kind"), "PrometheusRule");
    assert_eq!(s(&rule, "apiVersion"), "monitoring.coreos.com/v1");
    let groups = seq(&rule, "spec.groups");
    assert_eq!(
        groups,
        &groups_of(&RULE_FILES),
        "{EXTRAS}/prometheusrule.yaml differs from deploy/prometheus: run scripts/gen-prometheusrule"
    );

    // What the operator hands Prometheus, checked by promtool as well.
    let dir = TempDir::new("prometheusrule");
    let mut spec = Mapping::new();
    spec.insert("groups".into(), Value::Sequence(groups.clone()));
    let extracted = dir.join("rules.yml");
    std::fs::write(&extracted, serde_yaml::to_string(&spec).unwrap()).unwrap();
    run(Command::new(&promtool)
        .args(["check", "rules"])
        .arg(&extracted));

    // The checked-in file is exactly what the script writes.
    let generated = dir.join("generated.yaml");
    run(Command::new(repo_root().join("scripts/gen-prometheusrule")).arg(&generated));
    assert_eq!(
        std::fs::read_to_string(&generated).unwrap(),
        read(&format!("{EXTRAS}/prometheusrule.yaml")),
        "run scripts/gen-prometheusrule"
    );
}
