//! `kubectl kustomize deploy/k8s`, when kubectl is there (always in CI).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use crate::*;

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
