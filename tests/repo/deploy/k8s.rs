//! The Deployment, Services, HPA and PDB against the ConfigMap's config:
//! the base's files here; the same checks run on every rendered overlay
//! (kustomize.rs).

use std::collections::BTreeSet;
use std::path::Path;

use serde_yaml::Value;

use super::*;

#[test]
fn the_deployment_agrees_with_its_config() {
    check_pod(
        &Manifests::base_files(),
        &read(&format!("{BASE}/attestgate.toml")),
    );
}

#[test]
fn service_hpa_and_pdb_select_the_deployment() {
    check_selectors(&Manifests::base_files());
}

/// The Deployment of `m` agrees with the config `toml` its ConfigMap holds.
pub(crate) fn check_pod(m: &Manifests, toml: &str) {
    let deploy = m.kind("Deployment");
    let items = secret_items(deploy);
    let (config, used, _dir) = load_config_text(toml, &items);
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

/// The Services, the PDB and the HPA of `m` select its Deployment's pods;
/// API traffic and the admin port are on separate Services.
pub(crate) fn check_selectors(m: &Manifests) {
    let deploy = m.kind("Deployment");
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
    let c = container(deploy);
    assert_eq!(m.all("Service").len(), 2, "the API and the admin Service");
    for svc in m.all("Service") {
        assert!(selects(get(svc, "spec.selector")));
        assert_eq!(s(svc, "spec.type"), "ClusterIP", "{svc:?}");
        for p in seq(svc, "spec.ports") {
            port_named(c, s(p, "targetPort"));
        }
    }
    // Whatever reaches the API Service (an Ingress, a LoadBalancer) never
    // reaches /metrics: the admin port is on a Service of its own.
    let target_ports = |svc: &Value| -> Vec<String> {
        seq(svc, "spec.ports")
            .iter()
            .map(|p| s(p, "targetPort").to_owned())
            .collect()
    };
    let api = m.named("Service", "attestgate");
    assert_eq!(target_ports(api), ["http"], "the API Service: {api:?}");
    let admin_port = port_named(c, "admin");
    for p in seq(api, "spec.ports") {
        assert_ne!(get(p, "port").as_u64(), Some(u64::from(admin_port)));
    }
    let admin = m.named("Service", "attestgate-admin");
    assert_eq!(
        target_ports(admin),
        ["admin"],
        "the admin Service: {admin:?}"
    );
    let pdb = m.kind("PodDisruptionBudget");
    assert!(selects(get(pdb, "spec.selector.matchLabels")));
    let hpa = m.kind("HorizontalPodAutoscaler");
    assert_eq!(s(hpa, "spec.scaleTargetRef.kind"), "Deployment");
    assert_eq!(
        s(hpa, "spec.scaleTargetRef.name"),
        s(deploy, "metadata.name")
    );
    assert_eq!(s(hpa, "spec.metrics.0.resource.name"), "cpu");
    assert!(get(hpa, "spec.minReplicas").as_u64().unwrap() >= 2);
}
