//! The Dockerfile against the scripts and the ConfigMap's config.

use super::*;

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
    let build_stage: Vec<&str> = docker
        .lines()
        .skip_while(|l| !l.starts_with("FROM rust:"))
        .take_while(|l| !l.starts_with("FROM gcr.io/"))
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let runs: Vec<&&str> = build_stage
        .iter()
        .filter(|l| l.starts_with("RUN "))
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let script = runs[0]
        .trim_start_matches("RUN ")
        .split_whitespace()
        .next()
        .unwrap();
    assert_eq!(script, "scripts/build-release");
    let script_path = repo_root().join(script);
    let text = std::fs::read_to_string(&script_path).unwrap();
    assert!(text.contains("cargo build --release") && text.contains("--bin attestgate"));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&script_path).unwrap().permissions(),
    );
    assert!(mode & 0o111 != 0, "{script} is not executable");

    // The build stage installs what the build needs, never the test peers:
    // the script asks scripts/ensure-tools for the build's tools only, and
    // that list (as bash reads the script) holds no peer.
    let ensure: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains("scripts/ensure-tools"))
        .collect();
    assert!(!ensure.is_empty(), "{script} installs no build tool");
    for l in &ensure {
        assert!(l.contains("scripts/ensure-tools build"), "{script}: {l}");
    }
    let list = |args: &[&str]| -> Vec<String> {
        let out = run(Command::new(repo_root().join("scripts/ensure-tools"))
            .arg("--list")
            .args(args));
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(list(&["build"]), ["cmake", "build-essential"]);
    // The test peers are in the full list (so a mix-up shows here) ...
    let all = list(&[]);
    for package in [
        "nginx-light",
        "python3",
        "redis-server",
        "kubernetes-client",
        "prometheus",
        "systemd",
    ] {
        assert!(all.iter().any(|p| p == package), "{package}: {all:?}");
    }
    // ... and the build stage names none of them.
    for peer in [
        "nginx",
        "python",
        "redis",
        "kube",
        "prometheus",
        "promtool",
        "systemd",
        "ensure-tools",
    ] {
        for l in &build_stage {
            assert!(!l.contains(peer), "the build stage installs {peer}: {l}");
        }
    }

    // Non-root, and the health check hits the ConfigMap's admin port.
    let user = docker.lines().find(|l| l.starts_with("USER ")).unwrap();
    assert!(!user.contains("root") && !user.contains(" 0"), "{user}");
    let deploy_items = secret_items(Manifests::base_files().kind("Deployment"));
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
