//! The servers the test logs run on: nginx (static-ct-api tiles, as a
//! real CDN or bucket serves them) and `rfc6962_server.py` (python3).
//! Both are installed by `scripts/ensure-tools`; a missing one fails the
//! test, saying so.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn find(program: &str, also: &[&str]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .chain(also.iter().map(PathBuf::from))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not installed: run scripts/ensure-tools"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process, killed on drop.
pub struct Peer {
    child: Child,
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_listening(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(s)) = child.try_wait() {
            panic!("{what} exited with {s}");
        }
        assert!(Instant::now() < deadline, "{what} did not start listening");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// nginx serving the static-ct-api log under `root` (`work` holds its
/// config and temporary files).
pub fn nginx(root: &Path, work: &Path) -> Peer {
    let bin = find("nginx", &["/usr/sbin/nginx"]);
    std::fs::create_dir_all(work).unwrap();
    let port = free_port();
    let server = crate::nginx_conf(root).replace("{PORT0}", &port.to_string());
    let d = work.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\nevents {{ worker_connections 256; }}\nhttp {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  default_type application/octet-stream;\n{server}\n}}\n"
    );
    let path = work.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let mut child = Command::new(bin)
        .arg("-p")
        .arg(work)
        .arg("-c")
        .arg(&path)
        .arg("-e")
        .arg(work.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(port, &mut child, "nginx");
    Peer {
        child,
        url: format!("http://127.0.0.1:{port}/"),
    }
}

/// The RFC 6962 server over the answers in `dir`.
pub fn rfc6962(dir: &Path) -> Peer {
    let python = find("python3", &[]);
    let script = dir.join("rfc6962_server.py");
    std::fs::write(&script, crate::RFC6962_SERVER).unwrap();
    let mut child = Command::new(python)
        .arg(&script)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("rfc6962_server.py said {line:?}"));
    wait_listening(port, &mut child, "rfc6962_server.py");
    Peer {
        child,
        url: format!("http://127.0.0.1:{port}/"),
    }
}

/// A v3 log list naming a static-ct-api log and an RFC 6962 log.
pub fn log_list(
    tiled: Option<(&str, &str, &crate::LogKeys)>,
    rfc: Option<(&str, &crate::LogKeys)>,
) -> String {
    let mut tiled_logs = Vec::new();
    if let Some((url, origin, k)) = tiled {
        tiled_logs.push(serde_json::json!({
            "description": "Test tiled log", "log_id": k.log_id_b64(), "key": k.spki_b64(),
            "submission_url": format!("https://{origin}/"), "monitoring_url": url, "mmd": 60,
            "state": {"usable": {"timestamp": "2026-01-01T00:00:00Z"}}
        }));
    }
    let mut logs = Vec::new();
    if let Some((url, k)) = rfc {
        logs.push(serde_json::json!({
            "description": "Test RFC 6962 log", "log_id": k.log_id_b64(), "key": k.spki_b64(),
            "url": url, "mmd": 86400, "state": {"usable": {"timestamp": "2026-01-01T00:00:00Z"}}
        }));
    }
    serde_json::json!({
        "version": "test", "log_list_timestamp": "2026-12-01T00:00:00Z",
        "operators": [{"name": "Test", "email": ["ct@example.com"], "logs": logs, "tiled_logs": tiled_logs}]
    })
    .to_string()
}
