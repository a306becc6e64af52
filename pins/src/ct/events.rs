//! What the watch tells: one JSON object per event (a line on stdout with
//! `--json`), and the same event in the environment of each `--hook`
//! command, under certspotter's names (certspotter-script(8)) plus
//! `ATTESTGATE_*`.
//!
//! Hooks are run without a shell: the command is split at whitespace into
//! a program and its arguments, nothing is expanded. Every variable name
//! is fixed here; every value is text from a certificate or a log, so it
//! is cleaned (control characters become spaces, at most 4 KiB) and can
//! never be read as anything but one variable's value. A hook gets 30 s,
//! then is killed; its output goes to the watch's stderr.

use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;

use super::verdict::{Facts, Finding, Refusal, Verdict};

/// The longest a hook may run.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest value put in a hook's environment.
pub const MAX_ENV_VALUE: usize = 4096;

/// One event.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A certificate of a watched name, judged.
    Cert(Box<CertEvent>),
    /// A log that misbehaved (and is no longer read).
    Misbehaviour(MisbehaviourEvent),
}

/// A judged certificate.
#[derive(Clone, Debug, Serialize)]
pub struct CertEvent {
    /// The verdict.
    pub verdict: Verdict,
    /// The watched domain (`pins.toml` name).
    pub domain: String,
    /// The watch item, certspotter's way (`.name` when subdomains count).
    pub watch_item: String,
    /// Hosts judged.
    pub hosts: Vec<String>,
    /// The log's description.
    pub log: String,
    /// The log's URL.
    pub log_uri: String,
    /// The entry's index.
    pub entry_index: u64,
    /// The entry's Merkle leaf hash, base64.
    pub leaf_hash: String,
    /// What the certificate is.
    #[serde(flatten)]
    pub facts: Facts,
    /// Its key's pin, base64 (as `pins.toml` writes pins).
    pub pin: Option<String>,
    /// Its issuer's key pin, base64.
    pub issuer_pin: Option<String>,
    /// Who refuses it, and why.
    pub refusing: Vec<Refusal>,
    /// More detail (the accepting rule, or what is malformed).
    pub detail: String,
}

/// A misbehaving log.
#[derive(Clone, Debug, Serialize)]
pub struct MisbehaviourEvent {
    /// `rollback`, `fork`, `root_mismatch`, `bad_signature`.
    pub kind: String,
    /// The log's description.
    pub log: String,
    /// The log's URL.
    pub log_uri: String,
    /// What was seen.
    pub message: String,
    /// Where both heads are kept.
    pub evidence: String,
}

impl CertEvent {
    /// The event of `finding` on `facts`.
    pub fn new(
        finding: Finding,
        facts: Facts,
        include_subdomains: bool,
        log: (&str, &str),
        entry_index: u64,
        leaf_hash: &[u8; 32],
    ) -> CertEvent {
        use base64::Engine;
        CertEvent {
            verdict: finding.verdict,
            watch_item: if include_subdomains {
                format!(".{}", finding.domain)
            } else {
                finding.domain.clone()
            },
            domain: finding.domain,
            hosts: finding.hosts,
            log: log.0.to_owned(),
            log_uri: log.1.to_owned(),
            entry_index,
            leaf_hash: base64::engine::general_purpose::STANDARD.encode(leaf_hash),
            pin: facts.pubkey.map(|p| p.to_base64()),
            issuer_pin: finding.issuer_pin.map(|p| p.to_base64()),
            facts,
            refusing: finding.refusing,
            detail: finding.detail,
        }
    }
}

impl Event {
    /// The JSON line (no newline).
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// One line for people.
    pub fn text(&self) -> String {
        match self {
            Event::Cert(c) => {
                let mut s = format!(
                    "{} {} [{}] in {} #{}: {}",
                    c.verdict.as_str(),
                    c.domain,
                    c.facts.dns_names.join(", "),
                    c.log,
                    c.entry_index,
                    c.facts.subject
                );
                for r in c.refusing.iter().take(5) {
                    s.push_str(&format!(
                        "\n  refused by {} ({}) for {}: {}",
                        r.platform, r.pin_set, r.host, r.reason
                    ));
                }
                clean(&s, 8192, true)
            }
            Event::Misbehaviour(m) => clean(
                &format!(
                    "misbehaviour {} by {}: {} (evidence in {})",
                    m.kind, m.log, m.message, m.evidence
                ),
                8192,
                false,
            ),
        }
    }

    /// The hook environment: `(name, value)` pairs, names fixed.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut v: Vec<(&'static str, String)> = Vec::new();
        match self {
            Event::Cert(c) => {
                let malformed = c.verdict == Verdict::Malformed;
                v.push((
                    "EVENT",
                    if malformed {
                        "malformed_cert"
                    } else {
                        "discovered_cert"
                    }
                    .into(),
                ));
                v.push((
                    "SUMMARY",
                    self.text().lines().next().unwrap_or("").to_owned(),
                ));
                v.push(("LOG_URI", c.log_uri.clone()));
                v.push(("ENTRY_INDEX", c.entry_index.to_string()));
                v.push(("WATCH_ITEM", c.watch_item.clone()));
                if malformed {
                    v.push(("LEAF_HASH", c.leaf_hash.clone()));
                    v.push(("PARSE_ERROR", c.detail.clone()));
                } else {
                    let f = &c.facts;
                    v.push(("TBS_SHA256", f.tbs_sha256.clone()));
                    v.push(("CERT_SHA256", f.cert_sha256.clone()));
                    if let Some(p) = f.pubkey {
                        v.push(("PUBKEY_SHA256", super::state::hex(&p.0)));
                    }
                    for (name, t) in [("NOT_BEFORE", f.not_before), ("NOT_AFTER", f.not_after)] {
                        let rfc = crate::clock::rfc3339(t);
                        v.push((name, rfc.clone()));
                        v.push((unixtime(name), t.to_string()));
                        v.push((rfc3339(name), rfc));
                    }
                    v.push(("SUBJECT_DN", f.subject.clone()));
                    v.push(("ISSUER_DN", f.issuer.clone()));
                    v.push(("SERIAL", f.serial.clone()));
                }
                v.push(("ATTESTGATE_EVENT", "cert".into()));
                v.push(("ATTESTGATE_VERDICT", c.verdict.as_str().into()));
                v.push(("ATTESTGATE_DOMAIN", c.domain.clone()));
                v.push(("ATTESTGATE_DNS_NAMES", c.facts.dns_names.join(",")));
                v.push(("ATTESTGATE_PIN", c.pin.clone().unwrap_or_default()));
                v.push((
                    "ATTESTGATE_ISSUER_PIN",
                    c.issuer_pin.clone().unwrap_or_default(),
                ));
                v.push((
                    "ATTESTGATE_REFUSING",
                    c.refusing
                        .iter()
                        .map(|r| format!("{} {} {}: {}", r.pin_set, r.platform, r.host, r.reason))
                        .collect::<Vec<_>>()
                        .join("; "),
                ));
            }
            Event::Misbehaviour(m) => {
                v.push(("EVENT", "error".into()));
                v.push(("SUMMARY", self.text()));
                v.push(("LOG_URI", m.log_uri.clone()));
                v.push(("ATTESTGATE_EVENT", "misbehaviour".into()));
                v.push(("ATTESTGATE_MISBEHAVIOUR", m.kind.clone()));
                v.push(("ATTESTGATE_EVIDENCE", m.evidence.clone()));
            }
        }
        v.push(("ATTESTGATE_EVENT_JSON", self.json()));
        v.into_iter()
            .map(|(k, val)| (k, clean(&val, MAX_ENV_VALUE, false)))
            .collect()
    }
}

fn unixtime(name: &str) -> &'static str {
    if name == "NOT_BEFORE" {
        "NOT_BEFORE_UNIXTIME"
    } else {
        "NOT_AFTER_UNIXTIME"
    }
}

fn rfc3339(name: &str) -> &'static str {
    if name == "NOT_BEFORE" {
        "NOT_BEFORE_RFC3339"
    } else {
        "NOT_AFTER_RFC3339"
    }
}

/// Control characters (newlines unless `lines`) become spaces; at most
/// `max` bytes, cut on a character boundary.
pub fn clean(s: &str, max: usize, lines: bool) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    for c in s.chars() {
        let c = if c.is_control() && !(lines && c == '\n') {
            ' '
        } else {
            c
        };
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

/// Runs `command` (split at whitespace, no shell) with `event` in its
/// environment; waits at most [`HOOK_TIMEOUT`]. The error says why it failed.
pub async fn run_hook(command: &str, event: &Event) -> Result<(), String> {
    let mut parts = command.split_whitespace();
    let program = parts.next().ok_or("an empty hook command")?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(parts)
        .stdin(Stdio::null())
        // the hook's stdout joins the watch's stderr: stdout stays the events
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str()
            && (k.starts_with("ATTESTGATE_") || HOOK_NAMES.contains(&k))
        {
            cmd.env_remove(k);
        }
    }
    cmd.envs(event.env());
    let mut child = cmd.spawn().map_err(|e| format!("{program}: {e}"))?;
    match tokio::time::timeout(HOOK_TIMEOUT, child.wait()).await {
        Ok(Ok(s)) if s.success() => Ok(()),
        Ok(Ok(s)) => Err(format!("{program}: {s}")),
        Ok(Err(e)) => Err(format!("{program}: {e}")),
        Err(_) => {
            let _ = child.kill().await;
            Err(format!("{program}: killed after {HOOK_TIMEOUT:?}"))
        }
    }
}

/// certspotter's variable names: inherited values are removed, so a hook
/// never mistakes the watch's own environment for an event's.
const HOOK_NAMES: &[&str] = &[
    "EVENT",
    "SUMMARY",
    "WATCH_ITEM",
    "LOG_URI",
    "ENTRY_INDEX",
    "TBS_SHA256",
    "CERT_SHA256",
    "PUBKEY_SHA256",
    "NOT_BEFORE",
    "NOT_BEFORE_UNIXTIME",
    "NOT_BEFORE_RFC3339",
    "NOT_AFTER",
    "NOT_AFTER_UNIXTIME",
    "NOT_AFTER_RFC3339",
    "SUBJECT_DN",
    "ISSUER_DN",
    "SERIAL",
    "LEAF_HASH",
    "PARSE_ERROR",
    "CERT_FILENAME",
    "JSON_FILENAME",
    "TEXT_FILENAME",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_cleaned_and_bounded() {
        assert_eq!(clean("a\nb\0c\u{1b}[31m", 100, false), "a b c [31m");
        assert_eq!(clean("a\nb", 100, true), "a\nb");
        assert_eq!(clean("ééé", 5, false), "éé");
        let m = Event::Misbehaviour(MisbehaviourEvent {
            kind: "fork".into(),
            log: "x\n$(rm -rf /)".into(),
            log_uri: "https://l/".into(),
            message: "m".repeat(10_000),
            evidence: "/e".into(),
        });
        for (k, v) in m.env() {
            assert!(v.len() <= MAX_ENV_VALUE, "{k}");
            assert!(!v.contains('\n') && !v.contains('\0'), "{k}");
        }
    }
}
