//! `kubectl kustomize` renders the base and each overlay, and what comes
//! out agrees with the config it carries. CI's kubectl is Debian's
//! (kustomize 2.0): the overlays use what it knows (`bases:`).

use std::collections::BTreeSet;

use attestgate::Mode;
use attestgate_config::Upstream;

use super::k8s::{check_pod, check_selectors};
use super::*;

/// The overlays, each named after the mode it sets.
pub(crate) const OVERLAYS: [(&str, Mode); 2] =
    [("monitor", Mode::Monitor), ("enforce", Mode::Enforce)];

fn kinds(m: &Manifests) -> BTreeSet<String> {
    m.docs.iter().map(|d| s(d, "kind").to_owned()).collect()
}

/// The generated ConfigMap: hash-suffixed, named in the Deployment's
/// volume, holding `toml`.
fn check_config_map(m: &Manifests, toml: &str) {
    let cm = m.kind("ConfigMap");
    let cm_name = s(cm, "metadata.name");
    assert!(
        cm_name.starts_with("attestgate-config-"),
        "hash-suffixed, so a change rolls the pods: {cm_name}"
    );
    assert_eq!(
        s(cm, "data.[attestgate.toml]"),
        toml,
        "the ConfigMap holds the file the test loaded"
    );
    assert_eq!(
        s(volume(m.kind("Deployment"), "config"), "configMap.name"),
        cm_name
    );
}

#[test]
fn kubectl_kustomize_renders_the_base() {
    let m = Manifests::render(&repo_root().join(BASE));
    let kinds = kinds(&m);
    for k in [
        "ConfigMap",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    ] {
        assert!(kinds.contains(k), "{k} missing: {kinds:?}");
    }
    let toml = read(&format!("{BASE}/attestgate.toml"));
    check_config_map(&m, &toml);
    check_pod(&m, &toml);
    check_selectors(&m);
    // No image is published: the base names a placeholder that every
    // overlay replaces.
    assert_eq!(s(container(m.kind("Deployment")), "image"), "attestgate");
    for d in &m.docs {
        assert_eq!(
            s(d, "metadata.labels.[app.kubernetes.io/name]"),
            "attestgate"
        );
    }
}

#[test]
fn each_overlay_renders_its_namespace_image_upstream_and_mode() {
    for (name, mode) in OVERLAYS {
        let dir = format!("deploy/k8s/overlays/{name}");
        let kustomization = yaml_docs(&read(&format!("{dir}/kustomization.yaml"))).remove(0);
        let namespace = s(&kustomization, "namespace");
        let image = &seq(&kustomization, "images")[0];
        assert_eq!(
            s(image, "name"),
            "attestgate",
            "{name}: the base's placeholder"
        );
        let expected_image = format!("{}:{}", s(image, "newName"), s(image, "newTag"));

        let m = Manifests::render(&repo_root().join(&dir));
        assert_eq!(
            kinds(&m),
            kinds(&Manifests::render(&repo_root().join(BASE)))
        );
        for d in &m.docs {
            assert_eq!(s(d, "metadata.namespace"), namespace, "{name}: {d:?}");
        }
        assert_eq!(
            s(container(m.kind("Deployment")), "image"),
            expected_image,
            "{name}"
        );
        let toml = read(&format!("{dir}/attestgate.toml"));
        check_config_map(&m, &toml);
        check_pod(&m, &toml);
        check_selectors(&m);

        // The config says what the folder's name says, and sends requests
        // to a Service of the overlay's namespace.
        let (config, _, _dir) = load_config_text(&toml, &secret_items(m.kind("Deployment")));
        assert_eq!(config.token.as_ref().unwrap().policy.mode, mode, "{name}");
        for r in &config.routes {
            assert_eq!(r.policy.mode, mode, "{name}: route {}", r.name);
            let Upstream::Http { host, .. } = &r.upstream else {
                panic!("{name}: route {} has no real upstream", r.name)
            };
            assert!(
                host.ends_with(&format!(".{namespace}.svc.cluster.local")),
                "{name}: {host} is not a Service of namespace {namespace}"
            );
        }
    }
}

/// The lines that carry a setting (comments and blank lines aside),
/// without the upstream and the mode.
fn settings_but_upstream_and_mode(toml: &str) -> Vec<String> {
    toml.lines()
        .map(|l| l.split(" #").next().unwrap().trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| !l.starts_with("upstream =") && !l.starts_with("mode ="))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_overlays_change_only_the_upstream_and_the_mode_of_the_base_config() {
    let base = read(&format!("{BASE}/attestgate.toml"));
    let base_settings = settings_but_upstream_and_mode(&base);
    assert!(base_settings.len() > 10, "{base_settings:?}");
    for (name, _) in OVERLAYS {
        let toml = read(&format!("deploy/k8s/overlays/{name}/attestgate.toml"));
        assert_eq!(
            settings_but_upstream_and_mode(&toml),
            base_settings,
            "deploy/k8s/overlays/{name}/attestgate.toml has drifted from the base's"
        );
    }
}

#[test]
fn the_docs_create_the_secret_the_deployment_mounts() {
    // The command as docs/DEPLOY.md prints it, continuation lines joined.
    let docs = read("docs/DEPLOY.md");
    let mut lines = docs
        .lines()
        .skip_while(|l| !l.starts_with("kubectl create secret generic "));
    let mut command = String::new();
    for line in lines.by_ref() {
        match line.strip_suffix('\\') {
            Some(part) => command.push_str(part),
            None => {
                command.push_str(line);
                break;
            }
        }
    }
    assert!(!command.is_empty(), "docs/DEPLOY.md creates no Secret");

    // Run by a shell in a folder holding the two files it names, on the
    // client only (no cluster, whatever the machine's kubeconfig says).
    tool("kubectl");
    let dir = TempDir::new("secret-docs");
    let deploy = Manifests::base_files();
    let deploy = deploy.kind("Deployment");
    let items = secret_items(deploy);
    for name in &items {
        std::fs::write(dir.join(name), "x").unwrap();
    }
    let out = run(Command::new("sh")
        .arg("-c")
        .arg(format!("{command} --dry-run=client -o yaml"))
        .current_dir(dir.path())
        .env("KUBECONFIG", dir.join("no-kubeconfig")));
    let secret = yaml_docs(&String::from_utf8(out.stdout).unwrap()).remove(0);
    assert_eq!(s(&secret, "kind"), "Secret");
    assert_eq!(
        s(&secret, "metadata.name"),
        s(volume(deploy, "secrets"), "secret.secretName")
    );
    let keys: Vec<_> = get(&secret, "data")
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        keys.iter().collect::<BTreeSet<_>>(),
        items.iter().collect::<BTreeSet<_>>(),
        "the Secret's keys are the files the config reads"
    );
    // In the overlays' namespace, beside the pods that mount it.
    for (name, _) in OVERLAYS {
        let k = yaml_docs(&read(&format!(
            "deploy/k8s/overlays/{name}/kustomization.yaml"
        )))
        .remove(0);
        assert_eq!(s(&secret, "metadata.namespace"), s(&k, "namespace"));
    }
}
