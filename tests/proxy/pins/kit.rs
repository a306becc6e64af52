//! Shared by the `[pins]` proxy tests: signing keys and configs made with
//! the real binary, a proxy started with a `[pins]` section, and metric
//! lookups.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use attestgate_testkit::proxy::{Proxy, Start};
use base64::Engine;

pub const NAME: &str = "api.pins.test";

pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_attestgate"))
}

pub fn run(args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin())
        .args(args)
        .output()
        .unwrap()
}

/// `pins signing-key` into `dir`: the private key's path.
pub fn signing_key(dir: &Path, name: &str) -> PathBuf {
    let out = run(&[
        "pins",
        "signing-key",
        "--out",
        dir.to_str().unwrap(),
        "--name",
        name,
        "--alg",
        "es256",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join(format!("{name}.key"))
}

/// A `pins.toml` for [`NAME`] with these pins (and addresses, ca_file).
pub fn pins_toml(
    dir: &Path,
    file: &str,
    pins: &[&str],
    addresses: &[std::net::SocketAddr],
) -> PathBuf {
    let list: Vec<String> = pins
        .iter()
        .map(|p| format!("  {{ sha256 = \"{p}\" }},"))
        .collect();
    let addrs: Vec<String> = addresses.iter().map(|a| format!("\"{a}\"")).collect();
    let text = format!(
        "[[domain]]\nname = \"{NAME}\"\naddresses = [{}]\nca_file = \"ca.pem\"\ntimeout = \"3s\"\npins = [\n{}\n]\n",
        addrs.join(", "),
        list.join("\n")
    );
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

/// `pins sign` of `pins` with `key`: the compact JWS.
pub fn sign(pins: &Path, key: &Path, seq: u64, extra: &[&str]) -> String {
    let seq = seq.to_string();
    let mut args = vec![
        "pins",
        "sign",
        "--config",
        pins.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--kid",
        "pins-1",
        "--audience",
        "com.example.app",
        "--seq",
        &seq,
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The payload of a compact JWS, decoded here (not by attestgate).
pub fn payload(jws: &str) -> serde_json::Value {
    let p = jws.trim().split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Writes `text` to `path` atomically (temp file, rename).
pub fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Starts the proxy with one open demo route and `pins` as the `[pins]`
/// section body.
pub async fn start(pins: &str, server_extra: &str) -> Proxy {
    let config = format!(
        "[[route]]\nname = \"open\"\npath_prefix = \"/\"\nupstream = \"demo\"\ntoken = \"off\"\n\n[pins]\n{pins}\n"
    );
    Proxy::start(
        bin(),
        Start {
            config: &config,
            server_extra,
            ..Start::default()
        },
    )
    .await
}

/// Polls until `f` holds, or panics after `limit` with `what`; how long
/// it took.
pub async fn until<F, Fut>(limit: Duration, what: &str, f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    assert!(
        attestgate_testkit::eventually_async(limit, f).await,
        "timed out waiting for: {what}"
    );
    start.elapsed()
}

/// The lines of `/metrics` that start with one of `prefixes`.
pub async fn metric_lines(proxy: &Proxy, prefixes: &[&str]) -> String {
    proxy
        .metrics()
        .await
        .lines()
        .filter(|l| prefixes.iter().any(|p| l.starts_with(p)))
        .collect::<Vec<_>>()
        .join("\n")
}
