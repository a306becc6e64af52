//! deploy/systemd/attestgate.service's commands, run the way systemd runs
//! them, with the real binary and its config beside the unit. No systemd
//! runs here (it is no container's PID 1); `systemd-analyze verify` checks
//! the unit itself (tests/repo/deploy/systemd.rs). What this holds the unit to:
//!
//! - start (`Type=forking`): ExecStartPre checks the config, ExecStart
//!   returns at once and PIDFile names the serving process;
//! - `systemctl reload` under load: the new process takes the sockets
//!   over, PIDFile names it before the old one exits (so systemd follows
//!   it), and no request fails;
//! - a reload with a broken config stops at ExecReload's check: the running
//!   process keeps serving and PIDFile is unchanged;
//! - stop (SIGTERM) ends the process within TimeoutStopSec.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attestgate_testkit::http::free_port;
use attestgate_testkit::tokens::HsFixture;
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};
use attestgate_testkit::{TempDir, repo_root};
use serde_json::json;

const UNIT: &str = "deploy/systemd/attestgate.service";

/// `[Service]` settings of the unit, in order.
fn service_settings() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_root().join(UNIT)).unwrap();
    let mut section = "";
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            section = line;
        } else if section == "[Service]" {
            let (k, v) = line.split_once('=').unwrap();
            out.push((k.to_owned(), v.to_owned()));
        }
    }
    out
}

fn setting<'a>(all: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    all.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// A command line as systemd splits it: words, 'single-quoted' words,
/// `$$` for `$`. Anything else systemd would treat specially (a prefix
/// such as `-`, double quotes, backslashes, `%` specifiers, `$VAR` outside
/// quotes) fails here, so the emulation never silently differs.
fn split(line: &str) -> Vec<String> {
    assert!(
        !line.starts_with(['-', '@', ':', '+', '!']),
        "prefix not emulated: {line}"
    );
    let mut words = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let word = if let Some(r) = rest.strip_prefix('\'') {
            let end = r.find('\'').expect("closing quote");
            let w = &r[..end];
            rest = &r[end + 1..];
            w
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            let w = &rest[..end];
            assert!(!w.contains('$'), "variable not emulated: {w}");
            rest = &rest[end..];
            w
        };
        assert!(
            !word.contains(['"', '\\', '%']),
            "syntax not emulated: {word}"
        );
        words.push(word.replace("$$", "$"));
        rest = rest.trim_start();
    }
    words
}

/// The machine as the unit sees it, moved into a temporary folder.
struct Machine {
    /// Removed when the test ends.
    _dir: TempDir,
    run_dir: PathBuf,
    config: PathBuf,
    log: PathBuf,
    settings: Vec<(String, String)>,
    /// Server processes seen, killed at the end whatever happens.
    pids: Mutex<Vec<u32>>,
}

impl Machine {
    /// Rewrites a command's paths onto this machine.
    fn argv(&self, line: &str) -> Vec<String> {
        let bin = env!("CARGO_BIN_EXE_attestgate");
        split(line)
            .into_iter()
            .map(|w| {
                w.replace("/usr/local/bin/attestgate", bin)
                    .replace(
                        "/etc/attestgate/attestgate.toml",
                        self.config.to_str().unwrap(),
                    )
                    .replace("/run/attestgate", self.run_dir.to_str().unwrap())
            })
            .collect()
    }

    /// Runs one Exec*= command in the environment systemd gives it, waits
    /// for it, and says whether it succeeded.
    fn exec(&self, line: &str, main_pid: Option<u32>) -> bool {
        let argv = self.argv(line);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUNTIME_DIRECTORY", &self.run_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for env in setting(&self.settings, "Environment") {
            let (k, v) = env.split_once('=').unwrap();
            cmd.env(k, v);
        }
        if let Some(pid) = main_pid {
            cmd.env("MAINPID", pid.to_string());
        }
        cmd.status().unwrap().success()
    }

    fn all(&self, key: &str) -> Vec<String> {
        setting(&self.settings, key)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// The PID in PIDFile, remembered for the clean-up.
    fn main_pid(&self) -> u32 {
        let file = self.argv(&self.all("PIDFile")[0])[0].clone();
        let pid: u32 = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{file}: {e}\n{}", self.logs()))
            .trim()
            .parse()
            .unwrap();
        self.pids.lock().unwrap().push(pid);
        pid
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        for pid in self.pids.lock().unwrap().iter() {
            let _ = signal(*pid, "KILL");
        }
    }
}

/// Sends a signal with the shell's `kill` (a builtin: no procps needed).
fn signal(pid: u32, name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("kill -{name} {pid}")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether a process runs (a zombie, reaped by no one here, does not).
fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, r)| r.trim_start().chars().next());
    state.is_some_and(|s| s != 'Z')
}

async fn wait_until(what: &str, timeout: Duration, cond: impl FnMut() -> bool) {
    assert!(
        attestgate_testkit::eventually(timeout, cond).await,
        "{what}: not within {timeout:?}"
    );
}

/// One request on a new connection: the answer, or the error in
/// parentheses when the connection is refused, broken or too slow (a
/// failed request, to the caller).
async fn get(addr: SocketAddr, path: &str, headers: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: api.example\r\n{headers}Connection: close\r\n\r\n");
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(req.as_bytes()).await?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&answer).into_owned())
    };
    match tokio::time::timeout(Duration::from_secs(10), exchange).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => format!("({e})"),
        Err(_) => "(timed out)".to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn start_reload_under_load_and_stop_as_systemd_runs_the_unit() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let hs = HsFixture::new();
    let dir = TempDir::new("systemd-unit");
    let secrets = dir.join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    std::fs::write(secrets.join("approov-secret"), &hs.secret_b64).unwrap();
    std::fs::write(secrets.join("api-key"), "real-key").unwrap();
    let run_dir = dir.join("run");
    std::fs::create_dir(&run_dir).unwrap(); // RuntimeDirectory=

    // The config beside the unit, moved onto loopback ports and this
    // folder; every replaced value must be there.
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut text =
        std::fs::read_to_string(repo_root().join("deploy/systemd/attestgate.toml")).unwrap();
    for (from, to) in [
        ("0.0.0.0:8080", addr.to_string()),
        ("0.0.0.0:9091", admin.to_string()),
        ("/etc/attestgate/secrets", secrets.display().to_string()),
        ("http://127.0.0.1:3000", up.url()),
    ] {
        assert!(text.contains(from), "the VM config has no {from}");
        text = text.replace(from, &to);
    }
    let config = dir.join("attestgate.toml");
    std::fs::write(&config, &text).unwrap();
    let m = Machine {
        log: dir.join("journal.log"),
        _dir: dir,
        run_dir,
        config,
        settings: service_settings(),
        pids: Mutex::new(Vec::new()),
    };
    assert_eq!(m.all("Type"), ["forking"]);

    // Start: the checks, then ExecStart returns and PIDFile names the server.
    for line in m.all("ExecStartPre") {
        assert!(m.exec(&line, None), "ExecStartPre={line}\n{}", m.logs());
    }
    let start = m.all("ExecStart");
    assert_eq!(start.len(), 1);
    assert!(m.exec(&start[0], None), "{}", m.logs());
    let old = m.main_pid();
    wait_until("ready", Duration::from_secs(20), || alive(old)).await;
    let t = Instant::now();
    while !get(admin, "/readyz", "").await.starts_with("HTTP/1.1 200") {
        assert!(alive(old), "the server died:\n{}", m.logs());
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "not ready:\n{}",
            m.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Clients with a valid token all through the reload.
    let token = hs.token(json!({ "exp": attestgate_testkit::now() + 600 }));
    let headers = format!("Approov-Token: {token}\r\nApi-Key: api_key_placeholder\r\n");
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (stop, ok, failed, headers) =
            (stop.clone(), ok.clone(), failed.clone(), headers.clone());
        clients.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let answer = get(addr, &format!("/c{c}/{i}"), &headers).await;
                if answer.starts_with("HTTP/1.1 200") {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.lock().unwrap().push(format!("c{c}/{i}: {answer:?}"));
                }
                i += 1;
            }
        }));
    }
    wait_until(
        "requests before the reload",
        Duration::from_secs(20),
        || ok.load(Ordering::Relaxed) > 50,
    )
    .await;

    // systemctl reload: every ExecReload= in order, MAINPID set.
    for line in m.all("ExecReload") {
        assert!(m.exec(&line, Some(old)), "ExecReload={line}\n{}", m.logs());
    }
    let new = m.main_pid();
    assert_ne!(new, old, "PIDFile still names the old process");
    assert!(alive(new), "the new process is not running:\n{}", m.logs());
    wait_until("the old process exits", Duration::from_secs(40), || {
        !alive(old)
    })
    .await;
    let at_exit = ok.load(Ordering::Relaxed);
    wait_until("the new process serves", Duration::from_secs(20), || {
        ok.load(Ordering::Relaxed) > at_exit + 200
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    {
        let failed = failed.lock().unwrap();
        assert!(
            failed.is_empty(),
            "{} requests failed across the reload: {:?}\n{}",
            failed.len(),
            &failed[..failed.len().min(5)],
            m.logs()
        );
    }
    assert_eq!(up.count(), ok.load(Ordering::Relaxed));
    assert_eq!(
        up.last()
            .unwrap()
            .headers
            .get("api-key")
            .and_then(|v| v.to_str().ok()),
        Some("real-key"),
        "the secret file was read"
    );

    // A reload with a broken config stops at the check: nothing changes.
    std::fs::write(&m.config, text.replace("[token]", "[tokne]")).unwrap();
    let reload = m.all("ExecReload");
    assert!(
        !m.exec(&reload[0], Some(new)),
        "a broken config passed the check"
    );
    assert_eq!(m.main_pid(), new);
    assert!(
        get(addr, "/after", &headers)
            .await
            .starts_with("HTTP/1.1 200")
    );

    // systemctl stop: SIGTERM; it exits within TimeoutStopSec.
    let timeout = attestgate_config::parse_duration(&m.all("TimeoutStopSec")[0]).unwrap();
    assert!(signal(new, "TERM"));
    wait_until("exit on SIGTERM", timeout, || !alive(new)).await;
}
