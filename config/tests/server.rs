//! `[server]` drain and runtime settings: defaults, paths, bad values.

use std::path::{Path, PathBuf};
use std::time::Duration;

use attestgate_config::{Config, DEFAULT_DRAIN_DELAY, DEFAULT_RUNTIME_DIR};

const ROUTE: &str = "[[route]]\nname = \"a\"\nupstream = \"demo\"\ntoken = \"off\"\n";

fn load(server: &str) -> Result<Config, Vec<String>> {
    let text = format!("[server]\nlisten = [\"127.0.0.1:8080\"]\n{server}\n{ROUTE}");
    Config::from_toml(&text, Path::new("/etc/attestgate/attestgate.toml"))
        .map_err(|e| e.problems.iter().map(ToString::to_string).collect())
}

#[test]
fn defaults_are_5s_and_the_runtime_dir_out_of_tmp() {
    let s = load("").unwrap().server;
    assert_eq!(s.drain_delay, Duration::from_secs(5));
    assert_eq!(DEFAULT_DRAIN_DELAY, Duration::from_secs(5));
    let want = std::env::var_os("RUNTIME_DIRECTORY")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_RUNTIME_DIR), PathBuf::from);
    assert_eq!(s.runtime_dir, want);
    assert_eq!(Path::new(&s.upgrade_sock), want.join("upgrade.sock"));
    assert_eq!(Path::new(&s.pid_file), want.join("attestgate.pid"));
    assert!(!s.upgrade_sock.starts_with("/tmp") || want.starts_with("/tmp"));
}

#[test]
fn the_runtime_dir_moves_both_files_and_explicit_paths_win() {
    let s = load("drain_delay = \"0s\"\nruntime_dir = \"run\"")
        .unwrap()
        .server;
    assert_eq!(s.drain_delay, Duration::ZERO);
    assert_eq!(s.runtime_dir, Path::new("/etc/attestgate/run"));
    assert_eq!(s.upgrade_sock, "/etc/attestgate/run/upgrade.sock");
    assert_eq!(s.pid_file, "/etc/attestgate/run/attestgate.pid");
    let s = load("runtime_dir = \"/var/run/ag\"\nupgrade_sock = \"/srv/u.sock\"")
        .unwrap()
        .server;
    assert_eq!(s.upgrade_sock, "/srv/u.sock");
    assert_eq!(s.pid_file, "/var/run/ag/attestgate.pid");
}

#[test]
fn bad_drain_settings_name_their_key() {
    for (line, want) in [
        ("drain_delay = \"5\"", "server.drain_delay"),
        ("drain_delay = \"-1s\"", "server.drain_delay"),
        ("drain_delay = \"soon\"", "server.drain_delay"),
        ("drain_delay = \"10m\"", "server.drain_delay: above 5m"),
        ("drain_delay = 5", "server.drain_delay"),
        ("runtime_dir = 1", "server.runtime_dir"),
        ("drain = \"5s\"", "unknown field"),
    ] {
        let got = load(line).unwrap_err();
        assert!(got.iter().any(|p| p.contains(want)), "{line}: {got:?}");
    }
}
