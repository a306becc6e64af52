//! A process serves on every listener or is gone: overlapping listeners
//! are refused before anything listens, a worker that cannot listen ends
//! the process at once, and a listener lost while serving makes the
//! health checks fail and the process stop. Start-up says where it
//! listens.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use attestgate_testkit::TempDir;
use attestgate_testkit::client::Client;
use attestgate_testkit::http::free_port;
use attestgate_testkit::proxy::{Proxy, Start, raw_exchange};
use attestgate_testkit::tls;
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};

use super::bin;

const ROUTE: &str = "[[route]]\nname = \"a\"\nupstream = \"demo\"\ntoken = \"off\"\n";

fn tls(addr: &str) -> String {
    format!(
        "[[server.tls]]\nlisten = \"{addr}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        tls::path("localhost.pem").display(),
        tls::path("localhost.key").display()
    )
}

fn run(args: &[&str], config: &std::path::Path) -> Output {
    Command::new(bin())
        .args(args)
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn two_listeners_on_one_address_are_refused_with_their_key_paths() {
    let p = free_port();
    let a = format!("127.0.0.1:{p}");
    let q = free_port();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "plain twice",
            format!("[server]\nlisten = [\"{a}\", \"{a}\"]\n"),
            "server.listen[1]",
        ),
        (
            "plain and TLS",
            format!("[server]\nlisten = [\"{a}\"]\n{}", tls(&a)),
            "server.tls[0].listen",
        ),
        (
            "plain and admin",
            format!("[server]\nlisten = [\"{a}\"]\n[admin]\nlisten = \"{a}\"\n"),
            "admin.listen",
        ),
        (
            "two TLS",
            format!("[server]\nlisten = []\n{}{}", tls(&a), tls(&a)),
            "server.tls[1].listen",
        ),
        (
            "TLS and admin",
            format!(
                "[server]\nlisten = []\n{}[admin]\nlisten = \"{a}\"\n",
                tls(&a)
            ),
            "admin.listen",
        ),
        (
            "0.0.0.0 over a specific address (admin)",
            format!("[server]\nlisten = [\"0.0.0.0:{p}\"]\n[admin]\nlisten = \"{a}\"\n"),
            "admin.listen",
        ),
        (
            "[::] over an IPv4 address",
            format!(
                "[server]\nlisten = [\"{a}\"]\n{}",
                tls(&format!("[::]:{p}"))
            ),
            "server.tls[0].listen",
        ),
        (
            "an IPv4-mapped address is its IPv4 one",
            format!("[server]\nlisten = [\"[::ffff:127.0.0.1]:{p}\", \"{a}\"]\n"),
            "server.listen[1]",
        ),
    ];
    let dir = TempDir::new("overlap");
    for (what, server, key) in cases {
        let path = dir.join("c.toml");
        std::fs::write(&path, format!("{server}\n{ROUTE}")).unwrap();
        for verb in ["check-config", "serve"] {
            let t = Instant::now();
            let out = run(&[verb, "--config"], &path);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{what}, {verb}: {err}");
            assert!(
                err.contains(&format!("c.toml: {key}: ")) && err.contains("also"),
                "{what}, {verb}: {err}"
            );
            assert!(t.elapsed() < Duration::from_secs(5), "{what}, {verb}");
        }
    }
    // Different ports, or different addresses on one port: fine.
    let path = dir.join("ok.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = [\"0.0.0.0:{p}\", \"127.0.0.1:{q}\"]\n{}[admin]\nlisten = \"127.0.0.3:{q}\"\n{ROUTE}",
            tls(&format!("127.0.0.2:{q}"))
        ),
    )
    .unwrap();
    let out = run(&["check-config", "--config"], &path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_that_cannot_listen_ends_the_process_within_a_second() {
    // The one way past the start-up checks: an upgrade (which skips the
    // "port in use" check, the old process holding the ports) to a config
    // with one more listener, on a port some other program holds.
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let config = format!(
        "[[route]]\nname = \"a\"\npath_prefix = \"/\"\nupstream = \"{}\"\ntoken = \"off\"\n",
        up.url()
    );
    let mut old = Proxy::start(
        bin(),
        Start {
            config: &config,
            server_extra: "drain_delay = \"0s\"",
            ..Start::default()
        },
    )
    .await;
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = held.local_addr().unwrap();
    let text = std::fs::read_to_string(&old.config_path).unwrap().replace(
        &format!("listen = [\"{}\"]", old.addr),
        &format!("listen = [\"{}\", \"{taken}\"]", old.addr),
    );
    assert!(text.contains(&taken.to_string()));
    let new_config = old.dir.join("new.toml");
    std::fs::write(&new_config, text).unwrap();
    let new_log = old.dir.join("new.log");
    let log = std::fs::File::create(&new_log).unwrap();
    let mut new = Killed(
        Command::new(bin())
            .args(["serve", "--upgrade", "--config"])
            .arg(&new_config)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let new = &mut new.0;
    // It is waiting once it has bound the upgrade socket.
    let sock = old.dir.join("upgrade.sock");
    assert!(
        attestgate_testkit::eventually(Duration::from_secs(10), || sock.exists()).await,
        "the new process never waited for the sockets:\n{}",
        std::fs::read_to_string(&new_log).unwrap_or_default()
    );
    old.signal("QUIT");
    // From the moment its workers start (after the hand-over) to the exit.
    let read_log = || std::fs::read_to_string(&new_log).unwrap_or_default();
    let t = Instant::now();
    while !read_log().contains("Starting services") {
        assert!(t.elapsed() < Duration::from_secs(10), "{}", read_log());
        if new.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let t = Instant::now();
    let status = loop {
        if let Some(s) = new.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "still running:\n{}",
            std::fs::read_to_string(&new_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let took = t.elapsed();
    let logs = std::fs::read_to_string(&new_log).unwrap();
    eprintln!("exit {status} after {took:?}:\n{logs}");
    assert_eq!(status.code(), Some(2), "{logs}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let reason = logs
        .lines()
        .find(|l| l.contains("cannot listen"))
        .unwrap_or_else(|| panic!("no reason given:\n{logs}"));
    assert!(
        reason.contains(&taken.to_string()) && reason.contains("server.listen[1]"),
        "{reason}"
    );
    // One line per panic, never the default hook's text.
    assert!(
        !logs.contains("RUST_BACKTRACE") && !logs.contains("panicked at"),
        "{logs}"
    );
    drop(held);
    let _ = old.wait_exit(Duration::from_secs(10)).await;
}

/// A child process killed when the test ends, failed or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `attestgate health --url URL`: its exit code.
async fn health(url: String) -> Option<i32> {
    tokio::task::spawn_blocking(move || {
        Command::new(bin())
            .args(["health", "--timeout", "2s", "--url", &url])
            .output()
            .unwrap()
            .status
            .code()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listener_lost_while_serving_fails_the_health_checks_and_stops_the_process() {
    let mut proxy = Proxy::start(
        bin(),
        Start {
            config: ROUTE,
            server_extra: "drain_delay = \"3s\"",
            ..Start::default()
        },
    )
    .await;
    let c = Client::new();
    assert_eq!(c.get(&proxy.admin_url("/readyz"), &[]).await.status, 200);
    assert_eq!(health(proxy.admin_url("/healthz")).await, Some(0));
    // Kill the workers' listening sockets, as an operator's `ss -K` (or a
    // bug) would; Pingora's accept loops would then spin on them.
    let out = Command::new("ss")
        .args(["-K", "-ltn"])
        .arg(format!("sport = :{}", proxy.addr.port()))
        .output()
        .expect("ss (iproute2) is not installed: run scripts/ensure-tools");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = Instant::now();
    let readyz = loop {
        let r = c.get(&proxy.admin_url("/readyz"), &[]).await;
        if r.status == 503 {
            break r.text();
        }
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "/readyz still {}",
            r.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("unready after {:?}: {readyz}", t.elapsed());
    assert!(readyz.contains("server.listen[0]"), "{readyz}");
    let healthz = c.get(&proxy.admin_url("/healthz"), &[]).await;
    assert_eq!(healthz.status, 503, "{}", healthz.text());
    assert_eq!(health(proxy.admin_url("/healthz")).await, Some(1));
    let status = proxy
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("the process stops");
    assert_eq!(status.code(), Some(1));
    let logs = proxy.logs();
    assert!(
        logs.lines().any(|l| l.contains("ERROR")
            && l.contains("server.listen[0]")
            && l.contains("not listening")),
        "{logs}"
    );
    // The accept loops' errors were bounded, not a flood.
    let accept_errors = logs.matches("Accept() failed").count();
    assert!(accept_errors < 200, "{accept_errors} accept error lines");
}

#[tokio::test(flavor = "multi_thread")]
async fn start_up_says_where_it_listens_and_no_service_exits() {
    let tls_port = free_port();
    let proxy = Proxy::start(
        bin(),
        Start {
            // A key source and a secret that need no refresh or watching:
            // their background services finish their work at once.
            config: &format!(
                "[token]\n[[token.secret]]\nbase64 = {{ value = \"{}\" }}\n[[route]]\nname = \"d\"\nupstream = \"demo\"\n[[route.substitute]]\nheader = \"api-key\"\nplaceholder = \"p\"\nsecret = {{ value = \"k\" }}\n",
                attestgate_testkit::tokens::TestKeys::new().secret_b64
            ),
            server_extra: &tls(&format!("127.0.0.1:{tls_port}")),
            ..Start::default()
        },
    )
    .await;
    let want = [
        format!(
            "listening on {} (server.listen[0]): plain HTTP/1.1 and h2c, the proxy (2 workers)",
            proxy.addr
        ),
        format!(
            "listening on 127.0.0.1:{tls_port} (server.tls[0].listen): TLS (h2 or HTTP/1.1 by ALPN), the proxy (2 workers)"
        ),
        format!(
            "listening on {} (admin.listen): plain HTTP/1.1, the admin endpoints /healthz, /readyz, /metrics",
            proxy.admin
        ),
        "(upstream = \"demo\"): unix socket, the built-in demo echo upstream".to_owned(),
    ];
    let t = Instant::now();
    while !want.iter().all(|w| proxy.logs().contains(w.as_str())) {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "missing start-up lines:\n{}",
            proxy.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // It serves (and a request makes the background work run).
    let answer = raw_exchange(
        proxy.addr,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // While it serves on, no start-up line comes twice and no service
    // exits.
    let steady = || {
        let logs = proxy.logs();
        want.iter().all(|w| logs.matches(w.as_str()).count() == 1) && !logs.contains("exited")
    };
    assert!(
        attestgate_testkit::holds_for(Duration::from_millis(300), steady).await,
        "{}",
        proxy.logs()
    );
    let logs = proxy.logs();
    assert!(
        logs.lines()
            .all(|l| !l.contains("ERROR") && !l.contains("WARN") || l.contains("inline secret")),
        "{logs}"
    );
}
