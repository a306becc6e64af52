//! The real `attestgate` binary, started on loopback ports with a config the
//! test writes, its log captured to a file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::TempDir;
use crate::client::Client;
use crate::http::free_port;

pub struct Proxy {
    pub child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub dir: TempDir,
    pub log_path: PathBuf,
    pub config_path: PathBuf,
}

/// Options for starting the proxy.
pub struct Start<'a> {
    /// The config after `[server]` and `[admin]` (which the kit writes).
    pub config: &'a str,
    /// Extra `[server]` lines.
    pub server_extra: &'a str,
    /// Environment for the process.
    pub env: Vec<(String, String)>,
    /// RUST_LOG.
    pub rust_log: &'a str,
    /// `[server] threads`.
    pub threads: usize,
    /// Start with this descriptor limit (soft, hard), set by the shell's
    /// `ulimit` before it runs the binary.
    pub nofile: Option<(u64, u64)>,
}

impl Default for Start<'_> {
    fn default() -> Self {
        Start {
            config: "",
            server_extra: "",
            env: Vec::new(),
            rust_log: "info,attestgate::reject=debug,attestgate::access=info",
            threads: 2,
            nofile: None,
        }
    }
}

impl Proxy {
    /// Starts `bin` and waits until `/healthz` answers; retries with new
    /// ports if the first ones were taken.
    pub async fn start(bin: &Path, opts: Start<'_>) -> Proxy {
        Proxy::start_on_host(bin, "127.0.0.1", opts).await
    }

    /// As [`Proxy::start`], with both listeners on `host` (another address
    /// of 127.0.0.0/8, for several instances side by side).
    pub async fn start_on_host(bin: &Path, host: &str, opts: Start<'_>) -> Proxy {
        for _ in 0..3 {
            if let Some(p) = Proxy::try_start(bin, host, &opts).await {
                return p;
            }
        }
        panic!("attestgate did not start; see the logs above");
    }

    async fn try_start(bin: &Path, host: &str, opts: &Start<'_>) -> Option<Proxy> {
        let dir = TempDir::new("proxy");
        let addr: SocketAddr = format!("{host}:{}", free_port()).parse().unwrap();
        let admin: SocketAddr = format!("{host}:{}", free_port()).parse().unwrap();
        let config = format!(
            "[server]\nlisten = [\"{addr}\"]\nthreads = {}\nupgrade_sock = \"{}\"\n{}\n[admin]\nlisten = \"{admin}\"\n\n{}",
            opts.threads,
            dir.join("upgrade.sock").display(),
            opts.server_extra,
            opts.config
        );
        let config_path = dir.join("attestgate.toml");
        std::fs::write(&config_path, &config).unwrap();
        let log_path = dir.join("attestgate.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = match opts.nofile {
            None => Command::new(bin),
            Some((soft, hard)) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!(
                        "ulimit -Sn {soft} && ulimit -Hn {hard} && exec \"$0\" \"$@\""
                    ))
                    .arg(bin);
                sh
            }
        };
        cmd.arg("serve")
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", opts.rust_log)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null());
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let client = Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                eprintln!(
                    "attestgate exited with {status} at start:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
                return None;
            }
            let health = client
                .try_send(crate::client::request(
                    "GET",
                    &format!("http://{admin}/healthz"),
                    &[],
                    "",
                ))
                .await;
            let listening = tokio::net::TcpStream::connect(addr).await.is_ok();
            if matches!(health, Ok(ref r) if r.status == 200) && listening {
                return Some(Proxy {
                    child,
                    addr,
                    admin,
                    dir,
                    log_path,
                    config_path,
                });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                eprintln!(
                    "attestgate did not become healthy:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The process's resident memory, in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// How many descriptors the process has open.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin, path)
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        Client::new()
            .get(&self.admin_url("/metrics"), &[])
            .await
            .text()
    }

    /// The value of one series, e.g. `attestgate_requests_total{outcome="allowed",route="a"}`.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        self.metrics().await.lines().find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends raw bytes on a fresh TCP connection and reads until the peer
/// closes or `timeout` passes (for requests a normal client cannot make:
/// absolute-form targets, several requests on one connection).
pub async fn raw_exchange(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
