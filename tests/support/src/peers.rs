//! Real third-party servers as test peers: nginx (the routing oracle: it
//! normalises paths the way most upstreams do) and Python's `http.server`
//! (a file server that decodes and normalises paths its own way).
//!
//! Both are installed by `scripts/ensure-tools`; a test that needs one and
//! does not find it fails, saying so: it never skips.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TempDir;
use crate::http::free_port;

fn find(program: &str, also: &[&str]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .chain(also.iter().map(PathBuf::from))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{program} is not installed: run scripts/ensure-tools (it installs the test peers)"
            )
        })
}

fn wait_listening(port: u16, child: &mut Child, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited with {status}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "{what} did not start listening");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An nginx process with a config the test gives, on ports the kit picks.
pub struct Nginx {
    child: Child,
    /// The ports `{PORT0}`, `{PORT1}`, … in the config stand for.
    pub ports: Vec<u16>,
    _dir: TempDir,
}

impl Nginx {
    /// Starts nginx with `http` as the body of its `http {}` block, where
    /// `{PORT0}`.. are replaced by `ports` free loopback ports.
    pub fn start(http: &str, ports: usize) -> Nginx {
        let bin = find("nginx", &["/usr/sbin/nginx"]);
        let dir = TempDir::new("nginx");
        let ports: Vec<u16> = (0..ports).map(|_| free_port()).collect();
        let mut body = http.to_owned();
        for (i, p) in ports.iter().enumerate() {
            body = body.replace(&format!("{{PORT{i}}}"), &p.to_string());
        }
        let d = dir.path().display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\nevents {{ worker_connections 512; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  default_type text/plain;\n{body}\n}}\n"
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let log = dir.join("error.log");
        let mut child = Command::new(bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for &p in &ports {
            wait_listening(p, &mut child, "nginx", &log);
        }
        Nginx {
            child,
            ports,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT` of port `i`.
    pub fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `python3 -m http.server` serving a directory.
pub struct PyHttpServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl PyHttpServer {
    /// Serves `root`.
    pub fn start(root: &Path) -> PyHttpServer {
        let bin = find("python3", &[]);
        let port = free_port();
        let log = root.with_extension("log");
        let mut child = Command::new(bin)
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        wait_listening(port, &mut child, "python3 -m http.server", &log);
        PyHttpServer { child, port }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for PyHttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange of raw bytes on a fresh blocking connection: the
/// status code (0 if none came) and the body. For targets no client
/// library would send.
pub fn raw_http(addr: &str, request: &[u8]) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let status = out
        .get(9..12)
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    let body = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or_else(Vec::new, |i| out[i + 4..].to_vec());
    (status, body)
}
