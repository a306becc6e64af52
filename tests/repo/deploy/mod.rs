//! deploy/: every manifest parses, and what they say agrees with the
//! config they ship (which must load with attestgate-config) and with the
//! binary: ports, probe paths, file names and mount paths, time budgets,
//! metric names. Each file is also read by its real consumer: `kubectl
//! kustomize` renders the base, the overlays and the extras, `promtool`
//! checks the alerting rules, `systemd-analyze` verifies the unit. They come
//! from scripts/ensure-tools; a missing one fails the test, never skips it.

mod docker;
mod extras;
mod k8s;
mod kustomize;
mod metrics;
mod systemd;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use attestgate::SecretSource;
use attestgate_config::Config;
use attestgate_testkit::{TempDir, repo_root};
use serde_yaml::Value;

/// Where the Deployment mounts the Secret; the config names files in it.
pub(crate) const SECRETS_MOUNT: &str = "/etc/attestgate/secrets";

pub(crate) fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

pub(crate) fn yaml_docs(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// Keys of a dotted path; a key holding dots is written in brackets:
/// `metadata.labels.[app.kubernetes.io/name]`.
pub(crate) fn keys(path: &str) -> Vec<&str> {
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

pub(crate) fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
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

pub(crate) fn s<'a>(v: &'a Value, path: &str) -> &'a str {
    get(v, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string"))
}

pub(crate) fn seq<'a>(v: &'a Value, path: &str) -> &'a Vec<Value> {
    get(v, path)
        .as_sequence()
        .unwrap_or_else(|| panic!("{path} is not a list"))
}

/// The kustomize base, and where its config file is.
pub(crate) const BASE: &str = "deploy/k8s/base";

/// Kubernetes resources, looked up by kind and name: the base's files as
/// they are, or what `kubectl kustomize` renders.
pub(crate) struct Manifests {
    pub(crate) docs: Vec<Value>,
}

impl Manifests {
    /// The base's resource files, read without kustomize (the generated
    /// ConfigMap aside).
    pub(crate) fn base_files() -> Manifests {
        let k = yaml_docs(&read(&format!("{BASE}/kustomization.yaml"))).remove(0);
        let mut docs = Vec::new();
        for r in seq(&k, "resources") {
            let file = r.as_str().unwrap();
            docs.extend(yaml_docs(&read(&format!("{BASE}/{file}"))));
        }
        for g in seq(&k, "configMapGenerator") {
            for f in seq(g, "files") {
                assert!(
                    repo_root().join(BASE).join(f.as_str().unwrap()).is_file(),
                    "{f:?}"
                );
            }
        }
        Manifests { docs }
    }

    /// `kubectl kustomize DIR`.
    pub(crate) fn render(dir: &Path) -> Manifests {
        let out = run(Command::new(tool("kubectl")).arg("kustomize").arg(dir));
        Manifests {
            docs: yaml_docs(&String::from_utf8(out.stdout).unwrap()),
        }
    }

    pub(crate) fn all(&self, kind: &str) -> Vec<&Value> {
        self.docs.iter().filter(|d| s(d, "kind") == kind).collect()
    }

    pub(crate) fn kind(&self, kind: &str) -> &Value {
        let found = self.all(kind);
        assert_eq!(found.len(), 1, "one {kind}");
        found[0]
    }

    pub(crate) fn named(&self, kind: &str, name: &str) -> &Value {
        let found: Vec<_> = self
            .all(kind)
            .into_iter()
            .filter(|d| s(d, "metadata.name") == name)
            .collect();
        assert_eq!(found.len(), 1, "one {kind} {name}");
        found[0]
    }
}

/// A program from scripts/ensure-tools: found on PATH, or the test fails.
pub(crate) fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed: run scripts/ensure-tools"))
}

/// Runs a command; it must succeed.
pub(crate) fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The base's ConfigMap config; see [`load_config_text`].
pub(crate) fn load_config(secret_names: &[String]) -> (Config, BTreeSet<String>, TempDir) {
    load_config_text(&read(&format!("{BASE}/attestgate.toml")), secret_names)
}

/// A config for the Kubernetes pod, loaded with the Secret's files in a
/// temporary folder standing in for the mount. Returns it and the secret
/// file names it uses.
pub(crate) fn load_config_text(
    toml: &str,
    secret_names: &[String],
) -> (Config, BTreeSet<String>, TempDir) {
    let dir = TempDir::new("deploy-secrets");
    for name in secret_names {
        // A valid account secret: 64 bytes, base64 (header-safe as well).
        std::fs::write(
            dir.join(name),
            attestgate::mint::new_secret_base64().unwrap(),
        )
        .unwrap();
    }
    let text = toml.replace(SECRETS_MOUNT, dir.path().to_str().unwrap());
    let config = Config::from_toml(&text, &dir.join("attestgate.toml"))
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

pub(crate) fn container(deploy: &Value) -> &Value {
    let cs = seq(deploy, "spec.template.spec.containers");
    assert_eq!(cs.len(), 1);
    &cs[0]
}

pub(crate) fn port_named(c: &Value, name: &str) -> u16 {
    seq(c, "ports")
        .iter()
        .find(|p| s(p, "name") == name)
        .map(|p| get(p, "containerPort").as_u64().unwrap() as u16)
        .unwrap_or_else(|| panic!("no container port {name}"))
}

pub(crate) fn probe_port(c: &Value, probe: &str) -> u16 {
    match get(c, &format!("{probe}.httpGet.port")) {
        Value::String(name) => port_named(c, name),
        v => v.as_u64().unwrap() as u16,
    }
}

pub(crate) fn mount<'a>(c: &'a Value, volume: &str) -> &'a Value {
    seq(c, "volumeMounts")
        .iter()
        .find(|m| s(m, "name") == volume)
        .unwrap_or_else(|| panic!("no mount of {volume}"))
}

pub(crate) fn volume<'a>(deploy: &'a Value, name: &str) -> &'a Value {
    seq(deploy, "spec.template.spec.volumes")
        .iter()
        .find(|v| s(v, "name") == name)
        .unwrap_or_else(|| panic!("no volume {name}"))
}

pub(crate) fn secret_items(deploy: &Value) -> Vec<String> {
    seq(volume(deploy, "secrets"), "secret.items")
        .iter()
        .map(|i| s(i, "path").to_owned())
        .collect()
}
