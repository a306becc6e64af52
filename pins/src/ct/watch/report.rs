//! What every log task shares: the state directory, the judge, the
//! outputs. An event is recorded in the state (synced) before it is
//! written out, so nothing is reported twice, across logs (a certificate
//! is in several) and across restarts.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Mutex;

use crate::ct::events::{CertEvent, Event, MisbehaviourEvent, run_hook};
use crate::ct::metrics::CtMetrics;
use crate::ct::state::StateDir;
use crate::ct::verdict::{Facts, Finding, Judge, Verdict};

/// Shared by the log tasks.
pub struct Shared {
    /// The state directory.
    pub state: Mutex<StateDir>,
    /// The judging.
    pub judge: Judge,
    /// The metrics.
    pub metrics: CtMetrics,
    /// `--hook` commands.
    pub hooks: Vec<String>,
    /// JSON lines (else text).
    pub json: bool,
    /// Where events go (stdout for the verb; a log for the proxy).
    pub out: Mutex<Box<dyn Write + Send>>,
    /// A would_break or unknown_issuer was reported.
    pub alerted: AtomicBool,
}

impl Shared {
    /// Reports a judged certificate once per (TBS hash, verdict).
    pub async fn report_cert(
        &self,
        finding: Finding,
        facts: Facts,
        key: [u8; 32],
        log: (&str, &str),
        index: u64,
        leaf_hash: &[u8; 32],
    ) -> Result<(), String> {
        let verdict = finding.verdict;
        let domain = finding.domain.clone();
        let include_subdomains = self
            .judge
            .matcher
            .domains()
            .iter()
            .find(|d| d.name == domain)
            .is_some_and(|d| d.include_subdomains);
        {
            let mut st = self.state.lock().await;
            if !st.record_reported(&key, verdict.code())? {
                return Ok(());
            }
            if matches!(
                verdict,
                Verdict::KnownLeaf | Verdict::KnownBackup | Verdict::KnownCa
            ) && let Some(p) = finding.issuer_pin
            {
                st.remember_issuer(&domain, &p)?;
            }
        }
        self.metrics
            .certs
            .with_label_values(&[domain.as_str(), verdict.as_str()])
            .inc();
        if verdict.alerts() {
            self.alerted.store(true, Ordering::SeqCst);
        }
        let event = Event::Cert(Box::new(CertEvent::new(
            finding,
            facts,
            include_subdomains,
            log,
            index,
            leaf_hash,
        )));
        self.emit(&event).await;
        Ok(())
    }

    /// Reports a misbehaving log.
    pub async fn report_misbehaviour(&self, event: MisbehaviourEvent) {
        self.emit(&Event::Misbehaviour(event)).await;
    }

    async fn emit(&self, event: &Event) {
        {
            let line = if self.json {
                event.json()
            } else {
                event.text()
            };
            let mut out = self.out.lock().await;
            if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                tracing::warn!("could not write a CT event to the output");
            }
        }
        for h in &self.hooks {
            if let Err(e) = run_hook(h, event).await {
                tracing::warn!(hook = %crate::ct::events::clean(h, 200, false), "CT watch hook failed: {e}");
            }
        }
    }
}
