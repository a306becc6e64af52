//! `[pins.ct_watch]`: the Certificate Transparency watch of `pins ct-watch`
//! run as a background service of the proxy (off by default), its metrics
//! in the proxy's registry (the admin `/metrics`), its events in the log
//! (target `attestgate::ct`, one JSON object each) and to its hooks. The
//! work is in `attestgate_pins::ct`; this file only wires it in.

use std::io::Write;
use std::sync::Mutex;

use async_trait::async_trait;
use attestgate_config::CtWatchConfig;
use attestgate_pins::PinsFile;
use attestgate_pins::ct::{metrics::CtMetrics, setup, state::StateDir, verdict::Judge, watch};
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use prometheus::Registry;

/// The service, built (and checked) before the proxy listens.
pub(crate) struct CtWatch {
    cfg: CtWatchConfig,
    judge: Mutex<Option<Judge>>,
    metrics: CtMetrics,
}

impl CtWatch {
    /// Judging from `pins.toml` and the shipped files, the state directory
    /// made, log list files read, metrics registered. The directory is
    /// opened (and locked) when the service starts, and waited for while
    /// another process holds it (the old process of a graceful upgrade).
    pub(crate) fn build(
        cfg: &CtWatchConfig,
        file: &PinsFile,
        registry: &Registry,
    ) -> Result<CtWatch, Vec<String>> {
        let mut problems = Vec::new();
        let judge = setup::judge(file, &cfg.shipped)
            .map_err(|e| problems.push(format!("pins.ct_watch: {e}")))
            .ok();
        for l in cfg.logs.iter().filter(|l| !l.starts_with("https://")) {
            match std::fs::read_to_string(l) {
                Ok(text) => {
                    if let Err(e) = attestgate_pins::ct::loglist::parse(&text, l) {
                        problems.push(format!("pins.ct_watch.logs: {e}"));
                    }
                }
                Err(e) => problems.push(format!("pins.ct_watch.logs: {l}: {e}")),
            }
        }
        if let Err(e) = std::fs::create_dir_all(&cfg.state) {
            problems.push(format!("pins.ct_watch.state: {}: {e}", cfg.state.display()));
        }
        let metrics = CtMetrics::register(registry).map_err(|e| vec![format!("metrics: {e}")])?;
        match judge {
            Some(j) if problems.is_empty() => Ok(CtWatch {
                cfg: cfg.clone(),
                judge: Mutex::new(Some(j)),
                metrics,
            }),
            _ => Err(problems),
        }
    }
}

/// Events into the log, one line each.
struct ToLog(Vec<u8>);

impl Write for ToLog {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(b);
        while let Some(i) = self.0.iter().position(|c| *c == b'\n') {
            let line: Vec<u8> = self.0.drain(..=i).collect();
            let text = String::from_utf8_lossy(&line);
            tracing::warn!(target: "attestgate::ct", "{}", text.trim_end());
        }
        if self.0.len() > 1 << 20 {
            self.0.clear();
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[async_trait]
impl BackgroundService for CtWatch {
    async fn start(&self, shutdown: ShutdownWatch) {
        let Some(judge) = self.judge.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let options = watch::Options {
            start: if self.cfg.from_beginning {
                watch::Start::Beginning
            } else {
                watch::Start::End
            },
            json: true,
            hooks: self.cfg.hooks.clone(),
            interval: self.cfg.interval,
            ..Default::default()
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            crate::shutdown::shutdown_of(shutdown).await;
            let _ = stop.send(true);
        });
        let state = loop {
            match StateDir::open(&self.cfg.state) {
                Ok(s) => break s,
                Err(e) => tracing::warn!("pins.ct_watch: {e}; trying again in 5s"),
            }
            let mut s = stopped.clone();
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                _ = s.changed() => return,
            }
        };
        let logs = loop {
            let http = match attestgate_pins::ct::http::Http::new(options.timeout) {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!("pins.ct_watch: {e}");
                    return;
                }
            };
            match setup::logs(&self.cfg.logs, &http).await {
                Ok(l) => break l,
                Err(e) => tracing::warn!(
                    "pins.ct_watch: {e}; trying again in {:?}",
                    self.cfg.interval
                ),
            }
            let mut s = stopped.clone();
            tokio::select! {
                _ = tokio::time::sleep(self.cfg.interval) => {}
                _ = s.changed() => return,
            }
        };
        tracing::info!(logs = logs.len(), "CT watch started");
        if let Err(e) = watch::run(
            logs,
            judge,
            state,
            self.metrics.clone(),
            options,
            Box::new(ToLog(Vec::new())),
            stopped,
        )
        .await
        {
            tracing::error!("pins.ct_watch stopped: {e}");
        }
    }
}
