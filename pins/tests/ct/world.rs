//! A test world for the CT watch: the scenario's certificates logged by
//! a static-ct-api log (Cloudflare's crates, served by nginx) and an RFC
//! 6962 log (same crates, served by rfc6962_server.py), the shipped
//! `pins.toml`, and a watch run through the library.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attestgate_ctlog::peers::{self, Peer};
use attestgate_ctlog::scenario::{Scenario, pem};
use attestgate_ctlog::{LogKeys, entries, write_rfc6962, write_static};
use attestgate_pins::ct::{metrics::CtMetrics, setup, state::StateDir, watch};

pub const ORIGIN: &str = "tiled.test.example/2026";
pub const T0: u64 = 1_780_000_000_000;

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "attestgate-ct-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct World {
    pub dir: TempDir,
    pub scenario: Scenario,
    pub static_keys: LogKeys,
    pub rfc_keys: LogKeys,
    pub static_root: PathBuf,
    pub rfc_root: PathBuf,
    pub nginx: Peer,
    pub rfc: Peer,
    pub pins: PathBuf,
    pub list: PathBuf,
    pub logged: Vec<(static_ct_api_entry::Entry, Vec<Vec<u8>>)>,
}

/// The entries as the crates made them (re-exported for re-publishing).
pub mod static_ct_api_entry {
    pub type Entry = attestgate_ctlog::LogEntry;
}

impl World {
    pub fn new(tag: &str) -> World {
        let dir = TempDir::new(tag);
        let scenario = Scenario::new();
        let static_keys = LogKeys::new(7);
        let rfc_keys = LogKeys::new(9);
        let logged = entries(&scenario.log_roots(), &scenario.submissions, T0);
        let static_root = dir.0.join("static");
        let rfc_root = dir.0.join("rfc");
        write_static(
            &static_root,
            ORIGIN,
            &static_keys,
            &logged,
            logged.len(),
            T0 + 1000,
        );
        write_rfc6962(&rfc_root, &rfc_keys, &logged, logged.len(), T0 + 1000);
        let nginx = peers::nginx(&static_root, &dir.0.join("nginx"));
        let rfc = peers::rfc6962(&rfc_root);
        let root_pem = dir.0.join("root.pem");
        std::fs::write(&root_pem, pem(&scenario.root.der())).unwrap();
        let pins = dir.0.join("pins.toml");
        std::fs::write(&pins, scenario.pins_toml(&root_pem.display().to_string())).unwrap();
        let list = dir.0.join("logs.json");
        std::fs::write(
            &list,
            peers::log_list(
                Some((&nginx.url, ORIGIN, &static_keys)),
                Some((&rfc.url, &rfc_keys)),
            ),
        )
        .unwrap();
        World {
            dir,
            scenario,
            static_keys,
            rfc_keys,
            static_root,
            rfc_root,
            nginx,
            rfc,
            pins,
            list,
            logged,
        }
    }

    /// Re-publishes the static log with only its first `size` entries.
    pub fn publish_static(&self, size: usize, time_ms: u64) -> Vec<u8> {
        write_static(
            &self.static_root,
            ORIGIN,
            &self.static_keys,
            &self.logged,
            size,
            time_ms,
        )
    }

    pub fn publish_rfc(&self, size: usize, time_ms: u64) {
        write_rfc6962(&self.rfc_root, &self.rfc_keys, &self.logged, size, time_ms);
    }

    pub fn state(&self, name: &str) -> PathBuf {
        self.dir.0.join(name)
    }
}

/// A Write that tests can read back.
#[derive(Clone, Default)]
pub struct Sink(pub Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink {
    pub fn events(&self) -> Vec<serde_json::Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

pub fn options(once: bool) -> watch::Options {
    watch::Options {
        start: watch::Start::Beginning,
        once,
        json: true,
        interval: Duration::from_millis(200),
        timeout: Duration::from_secs(5),
        retry_base: Duration::from_millis(100),
        retry_max: Duration::from_millis(500),
        once_attempts: 3,
        ..Default::default()
    }
}

/// Runs the watch once over `lists` with `state`; the outcome, the
/// events, and the metrics' text.
pub async fn run_once(
    pins: &Path,
    lists: &[String],
    state: &Path,
    opts: watch::Options,
) -> (watch::Outcome, Vec<serde_json::Value>, String) {
    let config = attestgate_pins::PinsFile::load(pins).unwrap();
    let judge = setup::judge(&config, &[]).unwrap();
    let http = attestgate_pins::ct::http::Http::new(Duration::from_secs(5)).unwrap();
    let logs = setup::logs(lists, &http).await.unwrap();
    let registry = prometheus::Registry::new();
    let metrics = CtMetrics::register(&registry).unwrap();
    let sink = Sink::default();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let st = StateDir::open(state).unwrap();
    let outcome = watch::run(logs, judge, st, metrics, opts, Box::new(sink.clone()), rx)
        .await
        .unwrap();
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    (outcome, sink.events(), text)
}

/// A watch running in the background (daemon mode).
pub struct Running {
    pub registry: prometheus::Registry,
    pub sink: Sink,
    pub stop: tokio::sync::watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<Result<watch::Outcome, String>>,
}

impl Running {
    pub fn metrics(&self) -> String {
        prometheus::TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap()
    }

    /// The value of a metric line starting with `prefix` (0 when absent).
    pub fn value(&self, prefix: &str) -> f64 {
        self.metrics()
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    /// Polls until `f` holds (10 s at most).
    pub async fn until(&self, what: &str, f: impl Fn(&Running) -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while !f(self) {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}:\n{}",
                self.metrics()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(self) -> watch::Outcome {
        self.stop.send(true).unwrap();
        self.task.await.unwrap().unwrap()
    }
}

pub async fn start(pins: &Path, lists: &[String], state: &Path, opts: watch::Options) -> Running {
    let config = attestgate_pins::PinsFile::load(pins).unwrap();
    let judge = setup::judge(&config, &[]).unwrap();
    let http = attestgate_pins::ct::http::Http::new(Duration::from_secs(5)).unwrap();
    let logs = setup::logs(lists, &http).await.unwrap();
    let registry = prometheus::Registry::new();
    let metrics = CtMetrics::register(&registry).unwrap();
    let sink = Sink::default();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let st = StateDir::open(state).unwrap();
    let task = tokio::spawn(watch::run(
        logs,
        judge,
        st,
        metrics,
        opts,
        Box::new(sink.clone()),
        rx,
    ));
    Running {
        registry,
        sink,
        stop,
        task,
    }
}
