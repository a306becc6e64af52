//! `check-config --offline`: every shipped config passes with none of its
//! secrets present; a broken one fails naming file and key; references are
//! checked for shape; nothing named as a secret is read; without
//! `--offline` a missing secret still fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use attestgate_testkit::{TempDir, repo_root};

/// The binary with no secret in its environment.
fn check(config: &Path, offline: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_attestgate"));
    cmd.args(["check-config", "--config", &config.display().to_string()]);
    if offline {
        cmd.arg("--offline");
    }
    cmd.env_remove("APPROOV_SECRET")
        .env_remove("SHAPES_API_KEY")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every `*.toml` under config/ and deploy/ that is an attestgate config
/// (pin sets, `[[domain]]` files, and the config crate's Cargo.toml are not).
fn shipped_configs() -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "toml") && !path.ends_with("Cargo.toml")
            {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&repo_root().join("config"), &mut found);
    walk(&repo_root().join("deploy"), &mut found);
    found.retain(|p| {
        !std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .any(|l| l.trim() == "[[domain]]")
    });
    found.sort();
    found
}

#[test]
fn every_shipped_config_passes_offline_without_its_secrets() {
    let configs = shipped_configs();
    let names: Vec<String> = configs
        .iter()
        .map(|p| p.strip_prefix(repo_root()).unwrap().display().to_string())
        .collect();
    for must in [
        "config/demo.toml",
        "config/example.toml",
        "deploy/k8s/base/attestgate.toml",
        "deploy/systemd/attestgate.toml",
    ] {
        assert!(names.iter().any(|n| n == must), "{must} not in {names:?}");
    }
    for config in &configs {
        let out = check(config, true);
        assert!(
            out.status.success(),
            "{}:\n{}",
            config.display(),
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).contains(": ok ("),
            "{}",
            text(&out.stdout)
        );
    }
    // The example's two secrets are env references, absent here.
    let example = check(&repo_root().join("config/example.toml"), true);
    assert!(
        text(&example.stdout).contains("offline: 2 secrets by env or file not read"),
        "{}",
        text(&example.stdout)
    );
    let online = check(&repo_root().join("config/example.toml"), false);
    assert_eq!(online.status.code(), Some(2));
    assert!(text(&online.stderr).contains("APPROOV_SECRET"));
}

#[test]
fn a_broken_shipped_config_fails_offline_naming_file_and_key() {
    let dir = TempDir::new("cli-offline-broken");
    let shipped =
        std::fs::read_to_string(repo_root().join("deploy/k8s/base/attestgate.toml")).unwrap();
    let broken = shipped
        .replace("drain_delay = \"5s\"", "drain_delay = \"soon\"")
        .replace(
            "upstream = \"http://api.default.svc.cluster.local:8080\"",
            "upstream = \"ftp://api\"",
        );
    assert_ne!(broken, shipped);
    let path = dir.join("attestgate.toml");
    std::fs::write(&path, broken).unwrap();
    let out = check(&path, true);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for key in ["server.drain_delay", "route[0].upstream"] {
        assert!(
            err.contains(&format!("{}: {key}: ", path.display())),
            "{key} missing in:\n{err}"
        );
    }
}

#[test]
fn offline_checks_the_shape_of_references_and_never_echoes_them() {
    let dir = TempDir::new("cli-offline-shape");
    let pasted = "yak9bzWCxDxwwLrNx3YVs1ku2cV9+akSs3GcZ/EPWpiWr2sCr7lFopb==";
    let path = dir.join("shape.toml");
    std::fs::write(
        &path,
        format!(
            "[token]\n[[token.secret]]\nbase64 = {{ env = \"{pasted}\" }}\n[[token.secret]]\nbase64 = {{ file = \"\" }}\n[[token.secret]]\nbase64 = {{ env = \"\" }}\n\
             [[route]]\nname = \"a\"\nupstream = \"http://127.0.0.1:9\"\n[[route.substitute]]\nheader = \"Api-Key\"\nplaceholder = \"ph\"\nsecret = {{ file = \"/run/secrets/\" }}\n"
        ),
    )
    .unwrap();
    for offline in [true, false] {
        let out = check(&path, offline);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        for (key, why) in [
            ("token.secret[0].base64", "not an environment variable name"),
            ("token.secret[1].base64", "file path is empty"),
            ("token.secret[2].base64", "not an environment variable name"),
            ("route[0].substitute[0].secret", "ends in / (a folder)"),
        ] {
            let at = format!("{}: {key}: ", path.display());
            assert!(
                err.lines().any(|l| l.starts_with(&at) && l.contains(why)),
                "{key} ({why}) missing, offline {offline}, in:\n{err}"
            );
        }
        assert!(!err.contains(pasted), "{err}");
    }
}

#[test]
fn offline_reads_no_secret_but_checks_the_rest() {
    let dir = TempDir::new("cli-offline-reads");
    // A secret file that exists but would fail (too short): offline never
    // reads it; online does and says so.
    std::fs::write(dir.join("short"), "AAAA\n").unwrap();
    let path = dir.join("reads.toml");
    std::fs::write(
        &path,
        "[token]\n[[token.secret]]\nbase64 = { file = \"short\" }\n[[token.secret]]\nbase64 = { file = \"absent\" }\n\
         [[route]]\nname = \"a\"\nupstream = \"http://127.0.0.1:9\"\n[[route.substitute]]\nheader = \"Api-Key\"\nplaceholder = \"ph\"\nsecret = { env = \"ATTESTGATE_TEST_UNSET_KEY\" }\n",
    )
    .unwrap();
    let offline = check(&path, true);
    assert!(offline.status.success(), "{}", text(&offline.stderr));
    assert!(
        text(&offline.stdout).contains("offline: 3 secrets by env or file not read"),
        "{}",
        text(&offline.stdout)
    );

    let online = check(&path, false);
    let err = text(&online.stderr);
    assert_eq!(online.status.code(), Some(2), "{err}");
    for key in [
        "token.secret[0].base64",
        "token.secret[1].base64",
        "route[0].substitute[0].secret",
    ] {
        assert!(
            err.contains(&format!("{}: {key}: ", path.display())),
            "{key} missing in:\n{err}"
        );
    }
    assert!(err.contains("absent"), "{err}");

    // Inline values are in the file itself: offline still decodes them; and
    // files that are not secret references (a TLS listener's) are still
    // checked.
    let inline = dir.join("inline.toml");
    std::fs::write(
        &inline,
        "[server]\nlisten = []\n[[server.tls]]\nlisten = \"127.0.0.1:0\"\ncert = \"no-cert.pem\"\nkey = \"no-key.pem\"\n\
         [token]\n[[token.secret]]\nbase64 = { value = \"AAAA\" }\n[[route]]\nname = \"a\"\nupstream = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    let out = check(&inline, true);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}: token.secret[0].base64: ", inline.display())),
        "{err}"
    );
    assert!(err.contains("server.tls[0]"), "{err}");

    // serve's own checks run offline too: an inline substitution value that
    // cannot be a header value, beside a file secret that is not read.
    let serve = dir.join("serve.toml");
    std::fs::write(
        &serve,
        "[token]\n[[token.secret]]\nbase64 = { file = \"absent\" }\n\
         [[route]]\nname = \"a\"\nupstream = \"http://api.internal.invalid:8080\"\n[[route.substitute]]\nheader = \"Api-Key\"\nplaceholder = \"ph\"\nsecret = { value = \"line one\\nline two\" }\n",
    )
    .unwrap();
    let out = check(&serve, true);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}: route[0].substitute[0].secret: ",
            serve.display()
        )),
        "{err}"
    );
    assert!(
        !err.contains("line one") && !err.contains("absent") && !err.contains("resolve"),
        "{err}"
    );
}
