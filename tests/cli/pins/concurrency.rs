//! `lint`, `check` and `fetch` connect to every domain and address at
//! once, within one bound; progress goes to stderr only when stderr is a
//! terminal; every run ends with a summary line on stderr.

use attestgate_testkit::{TempDir, eventually};
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attestgate_testkit::pki::*;
use attestgate_testkit::tls::serve_tls;

const BIN: &str = env!("CARGO_BIN_EXE_attestgate");

async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || Command::new(BIN).args(&args).output().unwrap())
        .await
        .unwrap()
}

/// Accepts TCP, never answers (a connection is let go when the client
/// closes it); counts open connections and records when each arrived.
async fn counting_stall() -> (SocketAddr, Arc<AtomicUsize>, Arc<Mutex<Vec<Instant>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let open = Arc::new(AtomicUsize::new(0));
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let (o, a) = (open.clone(), arrivals.clone());
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            a.lock().unwrap().push(Instant::now());
            o.fetch_add(1, Ordering::SeqCst);
            let o = o.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buf = [0u8; 4096];
                while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
                o.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (addr, open, arrivals)
}

fn three_dead_domains(dir: &std::path::Path, dead: SocketAddr, live: SocketAddr) -> String {
    let mut toml = String::new();
    for i in 0..3 {
        toml.push_str(&format!(
            "[[domain]]\nname = \"d{i}.pins.test\"\naddresses = [\"{live}\", \"{dead}\"]\ntimeout = \"2s\"\nca_file = \"ca.pem\"\npins = [\n {{ sha256 = \"{}\" }},\n {{ sha256 = \"{}\" }},\n]\n\n",
            key_pin(&p256()),
            key_pin(&p256())
        ));
    }
    let path = dir.join("pins.toml");
    std::fs::write(&path, toml).unwrap();
    path.display().to_string()
}

/// Three domains with one dead address each: lint and check wait for
/// the timeouts side by side (2 s), not one after another (6 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lint_and_check_wait_for_dead_addresses_side_by_side() {
    let dir = TempDir::new("concurrency");
    let root = root("concurrency root");
    std::fs::write(dir.join("ca.pem"), root.pem()).unwrap();
    let key = p256();
    let names = ["d0.pins.test", "d1.pins.test", "d2.pins.test"];
    let live = serve_tls("127.0.0.1", vec![leaf(&names, &key, &root, 90)], &key).await;
    let (dead, _, _) = counting_stall().await;
    let cfg = three_dead_domains(&dir, dead, live);
    for verb in ["lint", "check"] {
        let started = Instant::now();
        let out = run(vec![
            "pins".into(),
            verb.into(),
            "--config".into(),
            cfg.clone(),
        ])
        .await;
        let took = started.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{verb}: {err}");
        // sequential would be at least 3 x 2 s
        assert!(took < Duration::from_millis(5500), "{verb} took {took:?}");
        assert!(
            took >= Duration::from_secs(2),
            "{verb} did not wait for the timeout"
        );
        // not a terminal: no progress line, one summary line
        assert!(!err.contains('\r'), "{verb}: {err:?}");
        let summary = err.lines().last().unwrap();
        let want = match verb {
            "lint" => "lint: fetched 3 domains at 6 addresses (3 without a chain) in ",
            _ => "check: 3 domains at 6 addresses: 0 match, 3 mismatch, 3 error in ",
        };
        assert!(summary.starts_with(want), "{verb}: {summary:?}");
    }
}

/// 40 addresses of one host on a server that never answers, 2 s timeout:
/// the first 32 (`MAX_CONNECTIONS`) connect at once, the other 8 only
/// when those time out; every address is reported, every socket closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_32_connections_are_open_at_once() {
    let (dead, open, arrivals) = counting_stall().await;
    let mut args: Vec<String> = vec!["pins".into(), "fetch".into(), "bounded.pins.test".into()];
    for _ in 0..40 {
        args.push("--address".into());
        args.push(dead.to_string());
    }
    args.extend(["--timeout".into(), "2s".into(), "--json".into()]);
    let out = run(args).await;
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["addresses"].as_array().unwrap().len(), 40);
    let arrivals = arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 40);
    // the second wave cannot start before the first times out (2 s)
    let first_wave = arrivals
        .iter()
        .filter(|t| t.duration_since(arrivals[0]) < Duration::from_secs(1))
        .count();
    assert_eq!(first_wave, 32, "the bound");
    assert!(
        eventually(Duration::from_secs(5), || open.load(Ordering::SeqCst) == 0).await,
        "every connection was closed: {} still open",
        open.load(Ordering::SeqCst)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("fetch: 40 addresses, 0 served a chain (0 distinct chains) in "),
        "{err}"
    );
}

/// Under a terminal (a pty made by python), stderr shows the progress
/// line being rewritten; stdout is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_shown_on_a_terminal() {
    let dir = TempDir::new("progress");
    let root = root("progress root");
    std::fs::write(dir.join("ca.pem"), root.pem()).unwrap();
    let key = p256();
    let names = ["d0.pins.test", "d1.pins.test", "d2.pins.test"];
    let live = serve_tls("127.0.0.1", vec![leaf(&names, &key, &root, 90)], &key).await;
    let (dead, _, _) = counting_stall().await;
    let cfg = three_dead_domains(&dir, dead, live);
    let stdout_file = dir.join("stdout.txt");
    let script = format!(
        "import pty, sys\npty.spawn(['sh', '-c', '\"$0\" pins check --config \"$1\" > \"$2\"', {BIN:?}, {cfg:?}, {:?}])\n",
        stdout_file.display().to_string()
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .output()
            .expect("python3 is missing: run scripts/ensure-tools")
    })
    .await
    .unwrap();
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(
        tty.contains("\rcheck: 1/3 d") || tty.contains("\r\x1b[2Kcheck: 1/3 d"),
        "{tty:?}"
    );
    assert!(tty.contains("check: 3/3 d"), "{tty:?}");
    assert!(tty.contains("check: 3 domains at 6 addresses"), "{tty:?}");
    let report = std::fs::read_to_string(&stdout_file).unwrap();
    assert!(
        report.contains("d0.pins.test: FAILED") && !report.contains("1/3"),
        "{report}"
    );
}
