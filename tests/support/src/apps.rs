//! Real application servers that read header names their own way, as
//! upstreams for the claim-forgery tests:
//!
//! - [`AppKind::Wsgiref`]: Python's wsgiref (CGI folding: `X_Approov_Did`
//!   and `X-Approov-Did` are both `HTTP_X_APPROOV_DID`);
//! - [`AppKind::Flask`]: Flask under gunicorn with `--header-map
//!   dangerous` (gunicorn's setting that lets `_` names into the environ;
//!   its default drops them, the setting exists because apps asked);
//! - [`AppKind::Nginx`]: nginx with `underscores_in_headers on`
//!   (`$http_x_approov_did` matches `X-Approov-Did` and `X_Approov_Did`);
//! - [`AppKind::Node`]: Node's `http` server (lower-cases names, joins
//!   repeats with `, `).
//!
//! Each answers with what it saw; [`App::reads`] says what the app reads
//! as a given header. Installed by `scripts/ensure-tools` (python3 with
//! Flask and gunicorn from PyPI, node, nginx); a missing one fails the
//! test, saying so.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TempDir;
use crate::http::free_port;
use crate::peers::Nginx;

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppKind {
    Wsgiref,
    Flask,
    Nginx,
    Node,
}

impl AppKind {
    pub const ALL: [AppKind; 4] = [
        AppKind::Wsgiref,
        AppKind::Flask,
        AppKind::Nginx,
        AppKind::Node,
    ];

    /// A short name (route names, messages).
    pub fn name(self) -> &'static str {
        match self {
            AppKind::Wsgiref => "wsgiref",
            AppKind::Flask => "flask",
            AppKind::Nginx => "nginx",
            AppKind::Node => "node",
        }
    }
}

/// A running app server; stopped on drop.
pub struct App {
    pub kind: AppKind,
    pub port: u16,
    child: Option<Child>,
    _nginx: Option<Nginx>,
    log: PathBuf,
    _dir: TempDir,
}

fn program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not installed: run scripts/ensure-tools (it installs the test peers)")
        })
}

fn fixtures() -> PathBuf {
    crate::repo_root().join("tests/fixtures/upstreams")
}

impl App {
    pub fn start(kind: AppKind) -> App {
        let dir = TempDir::new(kind.name());
        let log = dir.join("app.log");
        if kind == AppKind::Nginx {
            let nginx = Nginx::start(
                r#"server {
    listen 127.0.0.1:{PORT0};
    underscores_in_headers on;
    ignore_invalid_headers off;
    location / {
        default_type text/plain;
        return 200 "did=$http_x_approov_did\nip=$http_x_approov_ip\n";
    }
}"#,
                1,
            );
            return App {
                kind,
                port: nginx.ports[0],
                child: None,
                _nginx: Some(nginx),
                log,
                _dir: dir,
            };
        }
        let port = free_port();
        let mut cmd = match kind {
            AppKind::Wsgiref => {
                let mut c = Command::new(program("python3"));
                c.arg(fixtures().join("wsgi_echo.py")).arg(port.to_string());
                c
            }
            AppKind::Flask => {
                let mut c = Command::new(program("python3"));
                c.args([
                    "-m",
                    "gunicorn",
                    "--header-map",
                    "dangerous",
                    "--workers",
                    "1",
                ])
                .args(["--threads", "8", "--chdir"])
                .arg(fixtures())
                .arg("-b")
                .arg(format!("127.0.0.1:{port}"))
                .arg("flask_echo:app");
                c
            }
            AppKind::Node => {
                let mut c = Command::new(program("node"));
                c.arg(fixtures().join("node_echo.js")).arg(port.to_string());
                c
            }
            AppKind::Nginx => unreachable!(),
        };
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{} exited with {status} (run scripts/ensure-tools):\n{}",
                    kind.name(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not start listening",
                kind.name()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        App {
            kind,
            port,
            child: Some(child),
            _nginx: None,
            log,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The app's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What the app reads as `header` (lower case, `-`, e.g.
    /// `x-approov-did`) in its answer `body`: every value it could take
    /// for that name, as the app's own API gives it (empty: it reads
    /// nothing).
    pub fn reads(&self, body: &[u8], header: &str) -> Vec<String> {
        let text = String::from_utf8_lossy(body);
        let cgi = format!("HTTP_{}", header.to_ascii_uppercase().replace('-', "_"));
        let json = || -> serde_json::Value {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {text}", self.kind.name()))
        };
        let mut out = Vec::new();
        match self.kind {
            // wsgiref: the CGI variable; Flask: `request.headers.get(…)`
            // (read from that same variable).
            AppKind::Wsgiref => {
                if let Some(s) = json()["environ"][&cgi].as_str() {
                    out.push(s.to_owned());
                }
            }
            AppKind::Flask => {
                let api = match header {
                    "x-approov-did" => "did",
                    "x-approov-ip" => "ip",
                    _ => "",
                };
                if let Some(s) = json().get(api).and_then(|x| x.as_str()) {
                    out.push(s.to_owned());
                }
            }
            AppKind::Nginx => {
                let key = header.trim_start_matches("x-approov-");
                for line in text.lines() {
                    if let Some(v) = line.strip_prefix(&format!("{key}="))
                        && !v.is_empty()
                    {
                        out.push(v.to_owned());
                    }
                }
            }
            AppKind::Node => {
                // req.headers, under the name or any spelling that folds to it
                let v = json();
                if let Some(map) = v["headers"].as_object() {
                    for (k, val) in map {
                        let folded: String = k
                            .chars()
                            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                            .collect();
                        if folded == header {
                            out.push(val.as_str().unwrap_or_default().to_owned());
                        }
                    }
                }
            }
        }
        out
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
