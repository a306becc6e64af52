//! Log lists: Chrome's `log_list.json` v3 and Apple's (the same schema,
//! with Apple's extra members): `operators[].logs[]` are RFC 6962 logs
//! (`url`), `operators[].tiled_logs[]` static-ct-api logs
//! (`submission_url`, `monitoring_url`). Each log's `key` is a base64 DER
//! SubjectPublicKeyInfo and its `log_id` must be the key's SHA-256.
//!
//! Logs are watched when `usable`, `qualified` or `readonly` (a readonly
//! log still holds certificates), or when no state is given; `pending`,
//! `retired` and `rejected` logs are not. Unknown members are ignored.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::key::LogKey;
use super::note::origin_of;

/// The list the binary ships (its date is its `log_list_timestamp`).
pub const DEFAULT_LIST: &str = include_str!("../../loglist/default.json");

/// The largest list read.
pub const MAX_LIST: usize = 4 * 1024 * 1024;
/// The most logs watched from lists.
pub const MAX_LOGS: usize = 512;

/// How a log is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// RFC 6962: `url` is the prefix of `ct/v1/…`.
    Rfc6962 {
        /// The log's URL, ending in `/`.
        url: String,
    },
    /// static-ct-api: tiles under `monitoring_url`; checkpoints signed as
    /// the origin taken from `submission_url`.
    Tiled {
        /// The monitoring prefix, ending in `/`.
        monitoring_url: String,
        /// The checkpoint origin.
        origin: String,
    },
}

/// One log to watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Log {
    /// Its description (`Google 'Argon2027h1'`).
    pub description: String,
    /// Its operator.
    pub operator: String,
    /// Its key; `key.id` is the log ID.
    pub key: LogKey,
    /// How it is read.
    pub protocol: Protocol,
    /// Its state in the list (`usable`, …; `unknown` when absent).
    pub state: String,
}

impl Log {
    /// The URL a person recognises (certspotter's `LOG_URI`).
    pub fn uri(&self) -> &str {
        match &self.protocol {
            Protocol::Rfc6962 { url } => url,
            Protocol::Tiled { monitoring_url, .. } => monitoring_url,
        }
    }

    /// The log ID, base64 (as log lists write it).
    pub fn id_base64(&self) -> String {
        STANDARD.encode(self.key.id)
    }

    /// The log ID, hex (file names).
    pub fn id_hex(&self) -> String {
        self.key.id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[derive(Deserialize)]
struct RawList {
    operators: Vec<RawOperator>,
}

#[derive(Deserialize)]
struct RawOperator {
    #[serde(default)]
    name: String,
    #[serde(default)]
    logs: Vec<RawLog>,
    #[serde(default)]
    tiled_logs: Vec<RawLog>,
}

#[derive(Deserialize)]
struct RawLog {
    #[serde(default)]
    description: String,
    log_id: String,
    key: String,
    url: Option<String>,
    submission_url: Option<String>,
    monitoring_url: Option<String>,
    state: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Reads a list; `source` names it in messages. Every problem is
/// reported (a list with one bad log is refused whole: the list is
/// someone's statement of which logs to trust).
pub fn parse(text: &str, source: &str) -> Result<Vec<Log>, String> {
    if text.len() > MAX_LIST {
        return Err(format!("{source}: larger than {MAX_LIST} bytes"));
    }
    let raw: RawList =
        serde_json::from_str(text).map_err(|e| format!("{source}: not a v3 log list: {e}"))?;
    let mut logs = Vec::new();
    let mut problems = Vec::new();
    for (o, op) in raw.operators.iter().enumerate() {
        for (kind, list) in [("logs", &op.logs), ("tiled_logs", &op.tiled_logs)] {
            for (i, l) in list.iter().enumerate() {
                let at = format!("{source}: operators[{o}].{kind}[{i}]");
                match one(l, kind == "tiled_logs", &op.name) {
                    Ok(Some(log)) => logs.push(log),
                    Ok(None) => {}
                    Err(e) => problems.push(format!("{at}: {e}")),
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    if logs.len() > MAX_LOGS {
        return Err(format!("{source}: more than {MAX_LOGS} logs to watch"));
    }
    Ok(logs)
}

fn one(l: &RawLog, tiled: bool, operator: &str) -> Result<Option<Log>, String> {
    let state = l
        .state
        .as_ref()
        .and_then(|s| s.keys().next().cloned())
        .unwrap_or_else(|| "unknown".into());
    let der = STANDARD
        .decode(&l.key)
        .map_err(|_| "key: not base64".to_owned())?;
    let key = LogKey::from_spki(&der).map_err(|e| format!("key: {e}"))?;
    let id = STANDARD
        .decode(&l.log_id)
        .map_err(|_| "log_id: not base64".to_owned())?;
    if id != key.id {
        return Err("log_id is not the SHA-256 of the key".into());
    }
    let protocol = if tiled {
        let sub = l.submission_url.as_deref().ok_or("no submission_url")?;
        let mon = l.monitoring_url.as_deref().ok_or("no monitoring_url")?;
        Protocol::Tiled {
            monitoring_url: prefix(mon)?,
            origin: origin_of(sub),
        }
    } else {
        Protocol::Rfc6962 {
            url: prefix(l.url.as_deref().ok_or("no url")?)?,
        }
    };
    if !matches!(
        state.as_str(),
        "usable" | "qualified" | "readonly" | "unknown"
    ) {
        return Ok(None);
    }
    Ok(Some(Log {
        description: clean(&l.description),
        operator: clean(operator),
        key,
        protocol,
        state,
    }))
}

/// A URL prefix ending in `/`, `https://` (or `http://` to loopback).
fn prefix(url: &str) -> Result<String, String> {
    super::http::check_url(url)?;
    Ok(if url.ends_with('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    })
}

/// Text for labels and messages: no control characters, at most 128.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(128)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_list_loads_and_names_both_protocols() {
        let logs = parse(DEFAULT_LIST, "default").unwrap();
        assert!(
            logs.iter()
                .any(|l| matches!(l.protocol, Protocol::Rfc6962 { .. }))
        );
        assert!(
            logs.iter()
                .any(|l| matches!(l.protocol, Protocol::Tiled { .. }))
        );
        let v: serde_json::Value = serde_json::from_str(DEFAULT_LIST).unwrap();
        assert!(
            v["log_list_timestamp"]
                .as_str()
                .is_some_and(|t| t.starts_with("20"))
        );
    }

    #[test]
    fn refuses_a_log_id_that_is_not_its_key() {
        let key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEPIcer7RB32jt4bTEbhgUKLKvOctFD+I2hoDItFxUBlJiGFvftBuRk3fO7e1T7gC2ekyfL7XoO2oN/ObcZyc4EA==";
        let list = |id: &str, state: &str| {
            format!(
                r#"{{"operators":[{{"name":"T","tiled_logs":[{{"description":"t","log_id":"{id}","key":"{key}","submission_url":"https://t.example/","monitoring_url":"https://m.example/","state":{{"{state}":{{}}}}}}]}}]}}"#
            )
        };
        let good = "CKIDXIl+znJaHUyhzhNVaSxIUov59RCXLh3fJXJExnk=";
        let logs = parse(&list(good, "usable"), "t").unwrap();
        assert_eq!(
            logs[0].protocol,
            Protocol::Tiled {
                monitoring_url: "https://m.example/".into(),
                origin: "t.example".into()
            }
        );
        assert!(parse(&list(good, "retired"), "t").unwrap().is_empty());
        let bad = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        assert!(
            parse(&list(bad, "usable"), "t")
                .unwrap_err()
                .contains("SHA-256")
        );
        // Apple's list: the same schema with members of its own
        let apple = format!(
            r#"{{"$schema":"https://valid.apple.com/ct/log_list/schema_versions/log_list_schema_v4.json","assetVersion":1,"assetVersionV2":"2.1","version":"227","operators":[{{"name":"T","email":["a@b"],"logs":[{{"description":"t","log_id":"{good}","key":"{key}","url":"https://ct.example/log","mmd":86400,"log_type":"prod","state":{{"usable":{{"timestamp":"2026-01-01T00:00:00Z"}}}}}}]}}]}}"#
        );
        let logs = parse(&apple, "apple").unwrap();
        assert_eq!(logs[0].uri(), "https://ct.example/log/");
        assert!(parse("[]", "t").is_err());
        assert!(parse("{}", "t").is_err());
    }
}
