//! The listening sockets, with the real binary. Every worker thread has
//! its own `SO_REUSEPORT` socket on each address (proxy/src/server/workers.rs):
//! a graceful upgrade (`serve --upgrade`, then SIGQUIT to the old process)
//! must hand every one of them over without losing a request, and a second
//! process on a port that is in use must refuse to start instead of
//! quietly sharing it.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attestgate_testkit::eventually;
use attestgate_testkit::proxy::{Proxy, Start, raw_exchange};
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_attestgate"))
}

/// The inodes of the sockets listening on `port` (any IPv4 address), from
/// /proc/net/tcp: one per worker, and the same ones after a hand-over.
fn listening_sockets(port: u16) -> BTreeSet<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = u16::from_str_radix(f.get(1)?.rsplit_once(':')?.1, 16).ok()?;
            (local_port == port && *f.get(3)? == "0A").then(|| f.get(9)?.parse().ok())?
        })
        .collect()
}

fn config(up: &RecordingUpstream) -> String {
    format!(
        "[[route]]\nname = \"a\"\npath_prefix = \"/\"\nupstream = \"{}\"\ntoken = \"off\"\n",
        up.url()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_hands_every_workers_socket_over_and_loses_no_request() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let mut old = Proxy::start(
        bin(),
        Start {
            config: &config(&up),
            server_extra: "drain_delay = \"0s\"",
            threads: 4,
            ..Start::default()
        },
    )
    .await;
    let sockets = listening_sockets(old.addr.port());
    assert_eq!(
        sockets.len(),
        4,
        "one listening socket per worker: {sockets:?}"
    );

    // Clients on fresh connections all through the hand-over (a new
    // connection lands on a random worker's socket: all of them are hit).
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(Mutex::new(Vec::new()));
    let addr = old.addr;
    let mut clients = Vec::new();
    for c in 0..4 {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let req = format!(
                    "GET /c{c}/{i} HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\r\n"
                );
                let answer = raw_exchange(addr, req.as_bytes(), Duration::from_secs(10)).await;
                if answer.starts_with("HTTP/1.1 200") {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.lock().unwrap().push(format!("c{c}/{i}: {answer:?}"));
                }
                i += 1;
            }
        }));
    }
    assert!(
        eventually(Duration::from_secs(10), || ok.load(Ordering::Relaxed) >= 20).await,
        "no request served before the upgrade: {:?}",
        failed.lock().unwrap().first()
    );

    // The new process waits for the sockets; SIGQUIT makes the old one
    // send them and drain.
    let new_log = old.dir.join("new.log");
    let log = std::fs::File::create(&new_log).unwrap();
    let mut new = Command::new(bin())
        .args(["serve", "--upgrade", "--config"])
        .arg(&old.config_path)
        .env("RUST_LOG", "info")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    // It is waiting once it has bound the upgrade socket.
    let sock = old.dir.join("upgrade.sock");
    assert!(
        eventually(Duration::from_secs(10), || sock.exists()).await,
        "the new process never waited for the sockets:\n{}",
        std::fs::read_to_string(&new_log).unwrap_or_default()
    );
    old.signal("QUIT");
    let exit = old
        .wait_exit(Duration::from_secs(30))
        .await
        .expect("the old process exits after the hand-over");
    assert!(exit.success(), "{exit}\n{}", old.logs());
    let at_exit = ok.load(Ordering::Relaxed);

    // Only the new process is left, on the very sockets the old one had
    // (new ones would have lost what queued on the old ones at exit).
    assert_eq!(listening_sockets(old.addr.port()), sockets);
    // It serves, on every socket.
    let served = eventually(Duration::from_secs(20), || {
        ok.load(Ordering::Relaxed) >= at_exit + 200
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let new_logs = std::fs::read_to_string(&new_log).unwrap_or_default();
    assert!(
        new.try_wait().unwrap().is_none(),
        "the new process died:\n{new_logs}"
    );
    let _ = new.kill();
    let _ = new.wait();
    assert!(
        served,
        "the new process served {} requests in 20 s:\n{new_logs}",
        ok.load(Ordering::Relaxed) - at_exit
    );
    let failed = failed.lock().unwrap();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed across the upgrade: {:?}\nold:\n{}\nnew:\n{new_logs}",
        failed.len(),
        failed.len() + ok.load(Ordering::Relaxed),
        &failed[..failed.len().min(5)],
        old.logs()
    );
    assert!(
        ok.load(Ordering::Relaxed) >= at_exit + 200,
        "the new process served {} requests after the old one left",
        ok.load(Ordering::Relaxed) - at_exit
    );
    assert_eq!(up.count(), ok.load(Ordering::Relaxed));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_process_on_a_port_in_use_refuses_to_start_and_says_why() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let first = Proxy::start(
        bin(),
        Start {
            config: &config(&up),
            ..Start::default()
        },
    )
    .await;
    let out = tokio::task::spawn_blocking({
        let path = first.config_path.clone();
        move || {
            Command::new(bin())
                .args(["serve", "--config"])
                .arg(&path)
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a second process started: {stderr}");
    assert!(
        stderr.contains(&first.addr.to_string()) && stderr.contains("--upgrade"),
        "{stderr}"
    );
    // The first one still serves every request.
    for i in 0..20 {
        let answer = raw_exchange(
            first.addr,
            format!("GET /{i} HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\r\n")
                .as_bytes(),
            Duration::from_secs(5),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    assert_eq!(up.count(), 20);
}
