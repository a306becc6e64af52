//! A second monitor on the same log: Debian's certspotter (RFC 6962 only)
//! reads the RFC 6962 test log with a watch list made of pins.toml's names
//! (`name`, or `.name` with include_subdomains) and must find the same
//! certificates — the same TBS hashes, under the same watch items — as
//! `attestgate pins ct-watch`. certspotter is installed by
//! scripts/ensure-tools; without it this test fails.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certspotter_finds_the_same_certificates_for_the_same_names() {
    let w = super::world::World::new("certspotter");
    let n = w.logged.len();
    let dir = w.dir.0.join("certspotter");
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let list = dir.join("list.json");
    std::fs::write(
        &list,
        attestgate_ctlog::peers::log_list(None, Some((&w.rfc.url, &w.rfc_keys))),
    )
    .unwrap();
    let watchlist = dir.join("watchlist");
    std::fs::write(&watchlist, "api.example.com\n.cdn.example.com\n").unwrap();
    let hook = dir.join("hook.sh");
    std::fs::write(
        &hook,
        format!("#!/bin/sh\nenv > \"{}/env-$$\"\n", out.display()),
    )
    .unwrap();
    let mut perm = std::fs::metadata(&hook).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&hook, perm).unwrap();
    let log = dir.join("stderr");
    let bin = ["/usr/bin/certspotter"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("certspotter");
    let mut child = Command::new(bin)
        .arg("-logs")
        .arg(&list)
        .arg("-watchlist")
        .arg(&watchlist)
        .arg("-script")
        .arg(&hook)
        .arg("-state_dir")
        .arg(dir.join("state"))
        .arg("-no_save")
        .arg("-verbose")
        .env("CERTSPOTTER_CONFIG_DIR", dir.join("config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("certspotter is not installed ({e}): run scripts/ensure-tools"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("finished downloading entries") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "certspotter did not finish:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait().unwrap();
    let mut theirs: BTreeSet<(String, String)> = BTreeSet::new();
    let mut their_malformed = BTreeSet::new();
    for f in std::fs::read_dir(&out).unwrap().flatten() {
        let env: BTreeMap<String, String> = std::fs::read_to_string(f.path())
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        match env.get("EVENT").map(String::as_str) {
            Some("discovered_cert") => {
                theirs.insert((env["TBS_SHA256"].clone(), env["WATCH_ITEM"].clone()));
            }
            Some("malformed_cert") => {
                their_malformed.insert(env["ENTRY_INDEX"].parse::<u64>().unwrap());
            }
            other => panic!("certspotter event {other:?}: {env:?}"),
        }
    }
    // ours, on the same log only
    let ours_list = dir.join("ours.json");
    std::fs::write(
        &ours_list,
        attestgate_ctlog::peers::log_list(None, Some((&w.rfc.url, &w.rfc_keys))),
    )
    .unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_attestgate"))
        .args([
            "pins",
            "ct-watch",
            "--once",
            "--json",
            "--start",
            "beginning",
            "--config",
        ])
        .arg(&w.pins)
        .arg("--state")
        .arg(dir.join("ours-state"))
        .arg("--logs")
        .arg(&ours_list)
        .output()
        .unwrap();
    let events: Vec<serde_json::Value> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ours: BTreeSet<(String, String)> = events
        .iter()
        .filter(|e| e["verdict"] != "malformed")
        .map(|e| {
            (
                e["tbs_sha256"].as_str().unwrap().to_owned(),
                e["watch_item"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let our_malformed: BTreeSet<u64> = events
        .iter()
        .filter(|e| e["verdict"] == "malformed")
        .map(|e| e["entry_index"].as_u64().unwrap())
        .collect();
    eprintln!(
        "certspotter: {} certificates, malformed entries {:?}; attestgate: {} certificates, malformed {:?} (of {n} entries)",
        theirs.len(),
        their_malformed,
        ours.len(),
        our_malformed
    );
    assert!(!ours.is_empty());
    assert_eq!(ours, theirs, "the two monitors disagree");
    assert_eq!(our_malformed, their_malformed);
}
