//! deploy/: every manifest parses, and what they say agrees with the
//! config they ship (which must load with attestgate-config) and with the
//! binary: ports, probe paths, file names and mount paths, time budgets,
//! metric names. `kubectl kustomize deploy/k8s` is run when kubectl is on
//! PATH; in CI (CI=true) a missing kubectl fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use attestgate::SecretSource;
use attestgate_config::Config;
use attestgate_testkit::{TempDir, repo_root};
use serde_yaml::Value;

/// Where the Deployment mounts the Secret; the config names files in it.
const SECRETS_MOUNT: &str = "/etc/attestgate/secrets";

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml_docs(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// Keys of a dotted path; a key holding dots is written in brackets:
/// `metadata.labels.[app.kubernetes.io/name]`.
fn keys(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        let (key, after) = match rest.strip_prefix('[') {
            Some(r) => {
                let end = r.find(']').unwrap();
                (&r[..end], r[end + 1..].strip_prefix('.').unwrap_or(""))
            }
            None => match rest.split_once('.') {
                Some((k, a)) => (k, a),
                None => (rest, ""),
            },
        };
        out.push(key);
        rest = after;
    }
    out
}

fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    let mut cur = v;
    for key in keys(path) {
        cur = match key.parse::<usize>() {
            Ok(i) => cur.get(i),
            Err(_) => cur.get(key),
        }
        .unwrap_or_else(|| panic!("no {path} (at {key}) in {v:?}"));
    }
    cur
}

fn s<'a>(v: &'a Value, path: &str) -> &'a str {
    get(v, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string"))
}

fn seq<'a>(v: &'a Value, path: &str) -> &'a Vec<Value> {
    get(v, path)
        .as_sequence()
        .unwrap_or_else(|| panic!("{path} is not a list"))
}

/// The kustomize base's resources by kind (generated ConfigMap aside).
struct Base {
    docs: Vec<Value>,
}

impl Base {
    fn load() -> Base {
        let k = yaml_docs(&read("deploy/k8s/kustomization.yaml")).remove(0);
        let mut docs = Vec::new();
        for r in seq(&k, "resources") {
            let file = r.as_str().unwrap();
            docs.extend(yaml_docs(&read(&format!("deploy/k8s/{file}"))));
        }
        for g in seq(&k, "configMapGenerator") {
            for f in seq(g, "files") {
                assert!(
                    repo_root()
                        .join("deploy/k8s")
                        .join(f.as_str().unwrap())
                        .is_file(),
                    "{f:?}"
                );
            }
        }
        Base { docs }
    }

    fn kind(&self, kind: &str) -> &Value {
        let found: Vec<_> = self.docs.iter().filter(|d| s(d, "kind") == kind).collect();
        assert_eq!(found.len(), 1, "one {kind}");
        found[0]
    }
}

/// The ConfigMap's config, loaded with the Secret's files in a temporary
/// folder standing in for the mount. Returns it and the secret file names
/// it uses.
fn load_config(secret_names: &[String]) -> (Config, BTreeSet<String>, TempDir) {
    let dir = TempDir::new("deploy-secrets");
    for name in secret_names {
        // A valid account secret: 64 bytes, base64 (header-safe as well).
        std::fs::write(
            dir.join(name),
            attestgate::mint::new_secret_base64().unwrap(),
        )
        .unwrap();
    }
    let text =
        read("deploy/k8s/attestgate.toml").replace(SECRETS_MOUNT, dir.path().to_str().unwrap());
    let config = Config::from_toml(&text, &repo_root().join("deploy/k8s/attestgate.toml"))
        .unwrap_or_else(|e| panic!("the ConfigMap's config does not load: {e}"));
    let mut used = BTreeSet::new();
    let mut note = |src: &SecretSource| {
        if let Some(f) = src.file() {
            assert!(
                f.starts_with(dir.path()),
                "{f:?} is not in the Secret's mount"
            );
            used.insert(f.file_name().unwrap().to_string_lossy().into_owned());
        }
    };
    if let Some(t) = &config.token {
        t.secrets.iter().for_each(|s| note(&s.base64));
    }
    for r in &config.routes {
        r.substitute.iter().for_each(|s| note(&s.secret));
    }
    (config, used, dir)
}

fn container(deploy: &Value) -> &Value {
    let cs = seq(deploy, "spec.template.spec.containers");
    assert_eq!(cs.len(), 1);
    &cs[0]
}

fn port_named(c: &Value, name: &str) -> u16 {
    seq(c, "ports")
        .iter()
        .find(|p| s(p, "name") == name)
        .map(|p| get(p, "containerPort").as_u64().unwrap() as u16)
        .unwrap_or_else(|| panic!("no container port {name}"))
}

fn probe_port(c: &Value, probe: &str) -> u16 {
    match get(c, &format!("{probe}.httpGet.port")) {
        Value::String(name) => port_named(c, name),
        v => v.as_u64().unwrap() as u16,
    }
}

fn mount<'a>(c: &'a Value, volume: &str) -> &'a Value {
    seq(c, "volumeMounts")
        .iter()
        .find(|m| s(m, "name") == volume)
        .unwrap_or_else(|| panic!("no mount of {volume}"))
}

fn volume<'a>(deploy: &'a Value, name: &str) -> &'a Value {
    seq(deploy, "spec.template.spec.volumes")
        .iter()
        .find(|v| s(v, "name") == name)
        .unwrap_or_else(|| panic!("no volume {name}"))
}

fn secret_items(deploy: &Value) -> Vec<String> {
    seq(volume(deploy, "secrets"), "secret.items")
        .iter()
        .map(|i| s(i, "path").to_owned())
        .collect()
}

#[test]
fn the_deployment_agrees_with_its_config() {
    let base = Base::load();
    let deploy = base.kind("Deployment");
    let items = secret_items(deploy);
    let (config, used, _dir) = load_config(&items);
    let c = container(deploy);

    // Every file the config reads is a key of the mounted Secret, and the
    // Secret holds nothing the config does not read.
    assert_eq!(used, items.iter().cloned().collect::<BTreeSet<_>>());
    let secrets = mount(c, "secrets");
    assert_eq!(s(secrets, "mountPath"), SECRETS_MOUNT);
    assert!(
        secrets.get("subPath").is_none(),
        "a subPath mount is never updated: secrets would not hot-reload"
    );

    // Ports and probes.
    let listen = config.server.listen[0];
    assert_eq!(port_named(c, "http"), listen.port());
    assert!(
        listen.ip().is_unspecified(),
        "a pod listens on every interface"
    );
    let admin = config.admin.as_ref().expect("an [admin] listener").listen;
    assert_eq!(port_named(c, "admin"), admin.port());
    assert_eq!(s(c, "readinessProbe.httpGet.path"), "/readyz");
    assert_eq!(s(c, "livenessProbe.httpGet.path"), "/healthz");
    assert_eq!(probe_port(c, "readinessProbe"), admin.port());
    assert_eq!(probe_port(c, "livenessProbe"), admin.port());
    let annotations = get(deploy, "spec.template.metadata.annotations");
    assert_eq!(
        s(annotations, "[prometheus.io/port]"),
        admin.port().to_string()
    );
    assert!(
        c.get("lifecycle").is_none(),
        "no preStop: drain_delay does its job"
    );

    // Time budget: drain_delay + grace_period (+ shutdown) fit the
    // termination grace period.
    let budget = config.server.drain_delay + config.server.grace_period;
    let termination = get(deploy, "spec.template.spec.terminationGracePeriodSeconds")
        .as_u64()
        .unwrap();
    assert!(
        termination > budget.as_secs(),
        "terminationGracePeriodSeconds {termination} <= drain_delay + grace_period {budget:?}"
    );
    assert!(
        config.server.drain_delay.as_secs() >= 1,
        "a drain delay is set"
    );

    // The config file path, the runtime dir and the read-only root.
    let args: Vec<&str> = seq(c, "args").iter().map(|a| a.as_str().unwrap()).collect();
    let config_path = args[args.iter().position(|a| *a == "--config").unwrap() + 1];
    let cfg = mount(c, "config");
    assert_eq!(s(cfg, "mountPath"), config_path);
    assert_eq!(
        format!("/{}", s(cfg, "subPath")),
        config_path.trim_start_matches("/etc/attestgate"),
    );
    assert_eq!(
        Path::new(s(mount(c, "runtime"), "mountPath")),
        config.server.runtime_dir
    );
    assert!(volume(deploy, "runtime").get("emptyDir").is_some());
    assert_eq!(
        get(c, "securityContext.readOnlyRootFilesystem"),
        &Value::Bool(true)
    );
    assert_eq!(
        get(c, "securityContext.allowPrivilegeEscalation"),
        &Value::Bool(false)
    );
    assert_eq!(
        seq(c, "securityContext.capabilities.drop")[0].as_str(),
        Some("ALL")
    );
    let pod = get(deploy, "spec.template.spec.securityContext");
    assert_eq!(get(pod, "runAsNonRoot"), &Value::Bool(true));
    assert_ne!(get(pod, "runAsUser").as_u64(), Some(0));

    // Threads match the CPU limit; replicas and spread.
    let cpu = s(c, "resources.limits.cpu");
    assert_eq!(
        cpu.parse::<usize>().ok(),
        Some(config.server.threads),
        "threads = CPU limit"
    );
    assert!(c.get("resources").and_then(|r| r.get("requests")).is_some());
    assert_eq!(get(deploy, "spec.replicas").as_u64(), Some(3));
    assert!(seq(deploy, "spec.template.spec.topologySpreadConstraints").len() >= 2);
}

#[test]
fn service_hpa_and_pdb_select_the_deployment() {
    let base = Base::load();
    let deploy = base.kind("Deployment");
    let pod_labels = get(deploy, "spec.template.metadata.labels")
        .as_mapping()
        .unwrap();
    let selects = |selector: &Value| {
        selector
            .as_mapping()
            .unwrap()
            .iter()
            .all(|(k, v)| pod_labels.get(k) == Some(v))
    };
    assert!(selects(get(deploy, "spec.selector.matchLabels")));
    let svc = base.kind("Service");
    assert!(selects(get(svc, "spec.selector")));
    let c = container(deploy);
    for p in seq(svc, "spec.ports") {
        port_named(c, s(p, "targetPort"));
    }
    let pdb = base.kind("PodDisruptionBudget");
    assert!(selects(get(pdb, "spec.selector.matchLabels")));
    let hpa = base.kind("HorizontalPodAutoscaler");
    assert_eq!(s(hpa, "spec.scaleTargetRef.kind"), "Deployment");
    assert_eq!(
        s(hpa, "spec.scaleTargetRef.name"),
        s(deploy, "metadata.name")
    );
    assert_eq!(s(hpa, "spec.metrics.0.resource.name"), "cpu");
    assert!(get(hpa, "spec.minReplicas").as_u64().unwrap() >= 2);
}

#[test]
fn the_dockerfile_builds_with_the_scripts_and_checks_the_admin_port() {
    let docker = read("deploy/Dockerfile");
    let froms: Vec<&str> = docker.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "multi-stage: {froms:?}");
    assert!(
        froms[0].starts_with("FROM rust:"),
        "official Rust image: {}",
        froms[0]
    );
    assert!(froms[1].contains("distroless/cc"), "{}", froms[1]);
    // The build runs the repository's own script, which exists and runs
    // the release build of the binary.
    let run = docker.lines().find(|l| l.starts_with("RUN ")).unwrap();
    let script = run
        .trim_start_matches("RUN ")
        .split_whitespace()
        .next()
        .unwrap();
    let script_path = repo_root().join(script);
    let text = std::fs::read_to_string(&script_path).unwrap();
    assert!(text.contains("cargo build --release") && text.contains("--bin attestgate"));
    assert!(text.contains("scripts/ensure-tools"));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&script_path).unwrap().permissions(),
    );
    assert!(mode & 0o111 != 0, "{script} is not executable");
    // Non-root, and the health check hits the ConfigMap's admin port.
    let user = docker.lines().find(|l| l.starts_with("USER ")).unwrap();
    assert!(!user.contains("root") && !user.contains(" 0"), "{user}");
    let deploy_items = secret_items(Base::load().kind("Deployment"));
    let (config, _, _dir) = load_config(&deploy_items);
    let admin = config.admin.unwrap().listen.port();
    let health = docker
        .lines()
        .skip_while(|l| !l.starts_with("HEALTHCHECK"))
        .nth(1)
        .unwrap();
    assert!(
        health.contains("\"health\"")
            && health.contains(&format!("http://127.0.0.1:{admin}/healthz")),
        "{health}"
    );
    let expose = docker.lines().find(|l| l.starts_with("EXPOSE ")).unwrap();
    for port in [config.server.listen[0].port(), admin] {
        assert!(
            expose.split_whitespace().any(|p| p == port.to_string()),
            "{expose}"
        );
    }
    let cmd = docker.lines().find(|l| l.starts_with("CMD ")).unwrap();
    assert!(cmd.contains("\"/etc/attestgate/attestgate.toml\""), "{cmd}");
    let ignore = read(".dockerignore");
    assert!(
        ignore.lines().any(|l| l.trim() == "target/"),
        "the build context skips target/"
    );
}

/// Metric names the code registers (string literals in the sources).
fn known_metrics() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for file in ["src/metrics.rs"] {
        let text = read(file);
        for part in text.split('"').skip(1).step_by(2) {
            if part.starts_with("attestgate_")
                && part.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            {
                names.insert(part.to_owned());
            }
        }
    }
    // DESIGN §9 adds this one with per-route policy (another branch); the
    // dashboard has its panel ready.
    names.insert("attestgate_request_duration_seconds".to_owned());
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
            // Balanced brackets: a cheap syntax check (promtool is not here).
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

fn kubectl() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
}

#[test]
fn kubectl_kustomize_renders_the_base() {
    let Some(kubectl) = kubectl() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "kubectl is not on PATH in CI: install it (scripts/ensure-tools)"
        );
        eprintln!("SKIPPED: kubectl is not on PATH (this fails in CI)");
        return;
    };
    let out = Command::new(kubectl)
        .args(["kustomize"])
        .arg(repo_root().join("deploy/k8s"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = yaml_docs(&String::from_utf8(out.stdout).unwrap());
    let kinds: BTreeSet<_> = docs.iter().map(|d| s(d, "kind").to_owned()).collect();
    for k in [
        "ConfigMap",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    ] {
        assert!(kinds.contains(k), "{k} missing: {kinds:?}");
    }
    let cm = docs.iter().find(|d| s(d, "kind") == "ConfigMap").unwrap();
    let cm_name = s(cm, "metadata.name");
    assert!(
        cm_name.starts_with("attestgate-config-"),
        "hash-suffixed: {cm_name}"
    );
    assert_eq!(
        s(cm, "data.[attestgate.toml]"),
        read("deploy/k8s/attestgate.toml"),
        "the ConfigMap holds the file the test loaded"
    );
    let deploy = docs.iter().find(|d| s(d, "kind") == "Deployment").unwrap();
    assert_eq!(s(volume(deploy, "config"), "configMap.name"), cm_name);
    assert_eq!(
        s(container(deploy), "image"),
        "ghcr.io/attestgate/attestgate:0.1.0"
    );
    for d in &docs {
        assert_eq!(
            s(d, "metadata.labels.[app.kubernetes.io/name]"),
            "attestgate"
        );
    }
}
