//! deploy/systemd: `systemd-analyze verify` and `systemd-analyze security`
//! read the unit (no running systemd needed), and the unit agrees with the
//! VM config beside it and with docs/DEPLOY.md: paths, the runtime folder,
//! the stop budget, the upgrade on reload. The reload itself runs with the
//! real binary in tests/proxy/systemd_unit.rs.

use attestgate_config::parse_duration;

use super::*;

const UNIT: &str = "deploy/systemd/attestgate.service";
const VM_CONFIG: &str = "deploy/systemd/attestgate.toml";
/// Where the unit expects the binary and the config.
const BIN: &str = "/usr/local/bin/attestgate";
const CONFIG: &str = "/etc/attestgate/attestgate.toml";

/// A unit file's settings, in order: (section, key, value). A key may
/// repeat (ExecReload=, SystemCallFilter=).
pub(crate) struct Unit(Vec<(String, String, String)>);

impl Unit {
    pub(crate) fn parse(text: &str) -> Unit {
        let mut section = String::new();
        let mut out = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            assert!(!line.ends_with('\\'), "no continued lines: {line}");
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_owned();
                continue;
            }
            let (k, v) = line.split_once('=').unwrap_or_else(|| panic!("{line}"));
            out.push((section.clone(), k.trim().to_owned(), v.trim().to_owned()));
        }
        Unit(out)
    }

    pub(crate) fn all(&self, section: &str, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
            .collect()
    }

    pub(crate) fn one(&self, section: &str, key: &str) -> &str {
        let all = self.all(section, key);
        assert_eq!(all.len(), 1, "one {key}= in [{section}]: {all:?}");
        all[0]
    }
}

/// The unit with its binary replaced by an executable stub (verify checks
/// that every command exists), in a temporary folder.
fn unit_with_stub_binary() -> (TempDir, PathBuf) {
    let dir = TempDir::new("systemd");
    let stub = dir.join("attestgate");
    std::fs::write(&stub, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let text = read(UNIT);
    assert!(text.contains(BIN));
    let unit = dir.join("attestgate.service");
    std::fs::write(&unit, text.replace(BIN, stub.to_str().unwrap())).unwrap();
    (dir, unit)
}

#[test]
fn systemd_analyze_verifies_the_unit_without_a_warning() {
    let (_dir, unit) = unit_with_stub_binary();
    let out = run(Command::new(tool("systemd-analyze"))
        .arg("verify")
        .arg(&unit));
    // Unknown keys and bad values are warnings: verify still exits 0.
    assert!(
        out.stderr.is_empty() && out.stdout.is_empty(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn systemd_analyze_security_rates_the_sandbox_ok() {
    let (_dir, unit) = unit_with_stub_binary();
    // Exposure 2.0 or less ("OK"; an unhardened service is 9.6).
    run(Command::new(tool("systemd-analyze"))
        .args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
        .arg(&unit));
}

#[test]
fn the_unit_agrees_with_its_config_and_docs_deploy() {
    let unit = Unit::parse(&read(UNIT));
    let text = read(VM_CONFIG);
    let (config, used, _dir) =
        load_config_text(&text, &["approov-secret".into(), "api-key".into()]);
    assert_eq!(used.len(), 2, "{used:?}");

    // The runtime folder: the config leaves runtime_dir to
    // $RUNTIME_DIRECTORY, which RuntimeDirectory= sets; PIDFile is in it.
    assert!(
        !text
            .lines()
            .any(|l| l.trim_start().starts_with("runtime_dir")),
        "{VM_CONFIG} sets runtime_dir: it would not follow RuntimeDirectory="
    );
    let run_dir = format!("/run/{}", unit.one("Service", "RuntimeDirectory"));
    let pid_file = unit.one("Service", "PIDFile");
    assert_eq!(pid_file, format!("{run_dir}/attestgate.pid"));

    // Start: the config is checked first; the process runs in the
    // background and its PID goes to PIDFile (Type=forking).
    assert_eq!(unit.one("Service", "Type"), "forking");
    let check = format!("{BIN} check-config --config {CONFIG}");
    assert_eq!(unit.all("Service", "ExecStartPre"), [check.as_str()]);
    assert_eq!(
        unit.one("Service", "ExecStart"),
        format!("/bin/sh -c '{BIN} serve --config {CONFIG} & echo $$! >{pid_file}'")
    );
    // Reload: checked config, then the new process (its PID in PIDFile
    // before the old one exits), then SIGQUIT to the old one.
    assert_eq!(
        unit.all("Service", "ExecReload"),
        [
            check.clone(),
            format!(
                "/bin/sh -c '{BIN} serve --upgrade --config {CONFIG} & echo $$! >{pid_file} && kill -QUIT $MAINPID'"
            )
        ]
    );

    // Stop: drain_delay and grace_period fit in TimeoutStopSec.
    let stop = parse_duration(unit.one("Service", "TimeoutStopSec")).unwrap();
    let budget = config.server.drain_delay + config.server.grace_period;
    assert!(stop > budget, "TimeoutStopSec {stop:?} <= {budget:?}");

    // Not root, no privilege, sockets enough for its connections.
    assert!(!["root", "0"].contains(&unit.one("Service", "User")));
    assert_eq!(unit.one("Service", "NoNewPrivileges"), "yes");
    assert_eq!(unit.one("Service", "ProtectSystem"), "strict");
    let nofile: u64 = unit.one("Service", "LimitNOFILE").parse().unwrap();
    assert!(nofile >= 65536, "{nofile}");
    let low_port = config
        .server
        .listen
        .iter()
        .chain(config.server.tls.iter().map(|t| &t.listen))
        .any(|a| a.port() < 1024);
    let caps = unit.one("Service", "CapabilityBoundingSet");
    if low_port {
        assert_eq!(caps, "CAP_NET_BIND_SERVICE");
        assert_eq!(
            unit.one("Service", "AmbientCapabilities"),
            "CAP_NET_BIND_SERVICE"
        );
    } else {
        assert_eq!(caps, "", "no port below 1024: no capability");
    }

    // docs/DEPLOY.md installs it where the unit looks, and reloads it.
    let docs = read("docs/DEPLOY.md");
    for needle in [UNIT, VM_CONFIG, BIN, CONFIG, "systemctl reload attestgate"] {
        assert!(
            docs.contains(needle),
            "docs/DEPLOY.md does not say {needle}"
        );
    }
}
