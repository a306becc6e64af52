//! `attestgate pins ct-watch` through the real binary, against the test
//! logs (Cloudflare's crates, nginx, the RFC 6962 server): the verdicts,
//! the exit codes, the hook environment (certspotter's names, hostile
//! names kept inert), `--shipped` pin sets, `--metrics`, and a SIGKILL in
//! the middle of a tile followed by a restart.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::world::World;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_attestgate"))
}

fn ct(w: &World, state: &str, extra: &[&str]) -> Command {
    let mut c = bin();
    c.args(["pins", "ct-watch", "--config"])
        .arg(&w.pins)
        .arg("--state")
        .arg(w.state(state))
        .arg("--logs")
        .arg(&w.list)
        .args([
            "--start",
            "beginning",
            "--retry-base",
            "100ms",
            "--timeout",
            "5s",
        ])
        .args(extra);
    c
}

fn events(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn table(events: &[serde_json::Value]) -> BTreeMap<String, usize> {
    let mut t = BTreeMap::new();
    for e in events {
        *t.entry(e["verdict"].as_str().unwrap_or("misbehaviour").to_owned())
            .or_default() += 1;
    }
    t
}

fn expected(w: &World) -> BTreeMap<String, usize> {
    let mut t = BTreeMap::new();
    for v in w.scenario.expected.iter().filter_map(|e| e.verdict) {
        *t.entry(v.to_owned()).or_default() += 1;
    }
    t
}

fn hook_script(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("hook.sh");
    std::fs::write(
        &p,
        format!("#!/bin/sh\nenv > \"{}/env-$$\"\n", dir.display()),
    )
    .unwrap();
    let mut perm = std::fs::metadata(&p).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&p, perm).unwrap();
    p
}

fn env_files(dir: &Path) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    for f in std::fs::read_dir(dir).unwrap().flatten() {
        if f.file_name().to_string_lossy().starts_with("env-") {
            let text = std::fs::read_to_string(f.path()).unwrap();
            out.push(
                text.lines()
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            );
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_gives_the_verdicts_the_exit_code_and_the_hook_environment() {
    let w = World::new("cli");
    let hooks = w.dir.0.join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let hook = hook_script(&hooks);
    let out = ct(&w, "s", &["--once", "--json", "--hook"])
        .arg(&hook)
        .current_dir(&hooks)
        .output()
        .unwrap();
    let ev = events(&out);
    assert_eq!(
        table(&ev),
        expected(&w),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // one hook run per event, with certspotter's names and ours
    let envs = env_files(&hooks);
    assert_eq!(envs.len(), ev.len());
    for e in &ev {
        let tbs = e["tbs_sha256"].as_str().unwrap();
        let env = envs
            .iter()
            .find(|v| {
                v.get("ENTRY_INDEX").map(String::as_str) == Some(&e["entry_index"].to_string())
                    && v["ATTESTGATE_VERDICT"] == e["verdict"].as_str().unwrap()
            })
            .unwrap_or_else(|| panic!("no hook run for {e}"));
        assert_eq!(env["ATTESTGATE_DOMAIN"], e["domain"].as_str().unwrap());
        assert_eq!(env["LOG_URI"], e["log_uri"].as_str().unwrap());
        if e["verdict"] == "malformed" {
            assert_eq!(env["EVENT"], "malformed_cert");
            assert!(!env["PARSE_ERROR"].is_empty());
        } else {
            assert_eq!(env["EVENT"], "discovered_cert");
            assert_eq!(env["TBS_SHA256"], tbs);
            assert_eq!(env["CERT_SHA256"], e["cert_sha256"].as_str().unwrap());
            assert_eq!(env["PUBKEY_SHA256"].len(), 64);
            assert!(env["NOT_BEFORE_RFC3339"].ends_with('Z'));
            assert!(env["NOT_AFTER_UNIXTIME"].parse::<i64>().unwrap() > 1_700_000_000);
            assert!(
                env["WATCH_ITEM"] == "api.example.com" || env["WATCH_ITEM"] == ".cdn.example.com",
                "{env:?}"
            );
        }
        if e["verdict"] == "would_break" || e["verdict"] == "unknown_issuer" {
            assert!(env["ATTESTGATE_REFUSING"].contains("android"), "{env:?}");
        }
    }
    // hostile names: inert in the environment (no shell ran them, no forged variable)
    assert!(!hooks.join("pwned").exists() && !w.dir.0.join("pwned").exists());
    let hostile = envs
        .iter()
        .find(|v| {
            v.get("ATTESTGATE_DNS_NAMES")
                .is_some_and(|n| n.contains("$(touch"))
        })
        .unwrap();
    assert!(
        hostile["ATTESTGATE_DNS_NAMES"]
            .contains("a EVENT=forged ATTESTGATE_VERDICT=known_leaf.cdn.example.com"),
        "{hostile:?}"
    );
    assert_eq!(hostile["EVENT"], "discovered_cert");
    assert_eq!(hostile["ATTESTGATE_VERDICT"], "would_break");
    // a second run: nothing new, exit 0; text output without --json
    let again = ct(&w, "s", &["--once"]).output().unwrap();
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        again.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_pin_sets_are_judged_too() {
    let w = World::new("shipped");
    let root_pem = w.dir.0.join("root.pem");
    let old = w.dir.0.join("old-pins.toml");
    std::fs::write(
        &old,
        w.scenario.old_pins_toml(&root_pem.display().to_string()),
    )
    .unwrap();
    let out = ct(&w, "s", &["--once", "--json", "--shipped"])
        .arg(&old)
        .output()
        .unwrap();
    let ev = events(&out);
    // the backup key went into service: apps shipped with the old pins refuse it
    let backup = ev.iter().find(|e| e["entry_index"] == 3).unwrap();
    assert_eq!(backup["verdict"], "would_break", "{backup}");
    let refusing = backup["refusing"].as_array().unwrap();
    assert!(
        !refusing.is_empty()
            && refusing
                .iter()
                .all(|r| r["pin_set"] == old.display().to_string()),
        "{refusing:?}"
    );
    // a signed pin config that holds only the leaf pin does the same
    let dir = w.dir.0.join("signing");
    let key = bin()
        .args(["pins", "signing-key", "--out"])
        .arg(&dir)
        .args(["--name", "k"])
        .output()
        .unwrap();
    assert!(key.status.success());
    let jws = bin()
        .args(["pins", "sign", "--config"])
        .arg(&old)
        .arg("--key")
        .arg(dir.join("k.key"))
        .args(["--kid", "k", "--audience", "app", "--seq", "1"])
        .output()
        .unwrap();
    assert!(
        jws.status.success(),
        "{}",
        String::from_utf8_lossy(&jws.stderr)
    );
    let jws_file = w.dir.0.join("pins.jws");
    std::fs::write(&jws_file, &jws.stdout).unwrap();
    let out = ct(&w, "s2", &["--once", "--json", "--shipped"])
        .arg(&jws_file)
        .output()
        .unwrap();
    let backup = events(&out)
        .into_iter()
        .find(|e| e["entry_index"] == 3)
        .unwrap();
    assert_eq!(backup["verdict"], "would_break", "{backup}");
    assert!(
        backup["refusing"][0]["pin_set"]
            .as_str()
            .unwrap()
            .ends_with("pins.jws")
    );
}

#[test]
fn bad_input_is_2_and_a_dead_log_is_3() {
    let w = World::new("codes");
    let code = |c: &mut Command| c.output().unwrap().status.code();
    assert_eq!(
        code(&mut ct(&w, "a", &["--once", "--start", "middle"])),
        Some(2)
    );
    let bad = w.dir.0.join("bad.toml");
    std::fs::write(&bad, "[[domain]]\nname = 1\n").unwrap();
    assert_eq!(
        code(
            bin()
                .args(["pins", "ct-watch", "--once", "--config"])
                .arg(&bad)
                .arg("--state")
                .arg(w.state("b"))
        ),
        Some(2)
    );
    let list = w.dir.0.join("bad-list.json");
    std::fs::write(&list, r#"{"operators":[{"name":"x","logs":[{"log_id":"AA==","key":"AA==","url":"https://x/"}]}]}"#).unwrap();
    let out = bin()
        .args(["pins", "ct-watch", "--once", "--config"])
        .arg(&w.pins)
        .arg("--state")
        .arg(w.state("c"))
        .arg("--logs")
        .arg(&list)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("operators[0].logs[0]"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // everything read, nothing to report, one log down: 3
    let first = ct(&w, "d", &["--once"]).output().unwrap();
    assert_eq!(first.status.code(), Some(1));
    std::fs::write(w.rfc_root.join("fail500"), "").unwrap();
    let out = ct(&w, "d", &["--once"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(w.rfc_root.join("fail500")).unwrap();
    // a state directory another live watch holds
    let mut daemon = ct(&w, "d", &["--interval", "1h"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lock = std::fs::read_to_string(w.state("d").join("lock")).unwrap_or_default();
        if lock.trim() == daemon.id().to_string() {
            break;
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = ct(&w, "d", &["--once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by process"));
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}

fn read_lines(child: &mut Child, n: usize) -> Vec<String> {
    let stdout = child.stdout.take().unwrap();
    let mut r = BufReader::new(stdout);
    let mut lines = Vec::new();
    while lines.len() < n {
        let mut l = String::new();
        assert!(r.read_line(&mut l).unwrap() > 0, "the watch ended early");
        lines.push(l.trim().to_owned());
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_tile_then_restart_reports_every_certificate_once() {
    let w = World::new("kill");
    let hooks = w.dir.0.join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let slow = hooks.join("slow.sh");
    std::fs::write(&slow, "#!/bin/sh\nsleep 2\n").unwrap();
    let mut perm = std::fs::metadata(&slow).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&slow, perm).unwrap();
    let mut child = ct(&w, "s", &["--json", "--hook"])
        .arg(&slow)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // two events out, the third certificate's hook still running: the tile is not done
    let first = read_lines(&mut child, 2);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let state: serde_json::Value = std::fs::read_dir(w.state("s").join("logs"))
        .unwrap()
        .flatten()
        .map(|f| serde_json::from_slice(&std::fs::read(f.path()).unwrap()).unwrap())
        .find(|s: &serde_json::Value| s["position"].as_u64() == Some(0))
        .expect("a log killed before its first tile was saved");
    assert!(state["verified"].is_null());
    let rest = ct(&w, "s", &["--once", "--json"]).output().unwrap();
    let mut all: Vec<serde_json::Value> = first
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    all.extend(events(&rest));
    let keys: Vec<(String, String)> = all
        .iter()
        .map(|e| {
            (
                e["tbs_sha256"]
                    .as_str()
                    .unwrap_or(e["leaf_hash"].as_str().unwrap())
                    .to_owned(),
                e["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let unique: BTreeSet<_> = keys.iter().cloned().collect();
    assert_eq!(unique.len(), keys.len(), "reported twice: {keys:?}");
    assert_eq!(table(&all), expected(&w));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_serves_its_metrics_and_stops_on_sigterm() {
    let w = World::new("metrics");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = ct(
        &w,
        "s",
        &[
            "--json",
            "--interval",
            "200ms",
            "--metrics",
            &format!("127.0.0.1:{port}"),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let n = w.logged.len();
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let got = std::process::Command::new("python3")
            .args(["-c", &format!("import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:{port}/metrics').read().decode())")])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&got.stdout).to_string();
        if text.contains(&format!(
            "attestgate_ct_log_position{{log=\"{}\"}} {n}",
            w.rfc.url
        )) && text.contains(&format!(
            "attestgate_ct_log_position{{log=\"{}\"}} {n}",
            w.nginx.url
        )) {
            break text;
        }
        assert!(Instant::now() < deadline, "{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    for name in [
        "attestgate_ct_log_tree_size",
        "attestgate_ct_log_backlog_entries",
        "attestgate_ct_log_last_success_timestamp_seconds",
        "attestgate_ct_certs_total{domain=\"api.example.com\",verdict=\"unknown_issuer\"} 1",
    ] {
        assert!(body.contains(name), "{name}: {body}");
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "still running after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}
