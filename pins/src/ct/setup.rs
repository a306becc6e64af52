//! Building a watch from files: the watched names and pin sets from
//! `pins.toml`, more pin sets still in shipped apps (`--shipped`: older
//! `pins.toml` files or signed pin configs), trust anchors per domain
//! (its `ca_file`, else the system's), which pins are backups, and the
//! logs (`--logs` files or URLs, else the list the binary ships).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::http::Http;
use super::loglist::{self, Log};
use super::matcher::{Matcher, Watched};
use super::verdict::{Judge, Shipped};
use crate::check::platform::{PinSet, PinSetEntry};
use crate::model::{PinKind, PinSource, PinsFile};
use crate::spki::{self, Origin, Pin};

/// The judging of `config` and `shipped` (every problem names its file).
pub fn judge(config: &PinsFile, shipped: &[PathBuf]) -> Result<Judge, String> {
    let matcher = Matcher::new(
        config
            .domains
            .iter()
            .map(|d| Watched {
                name: d.name.clone(),
                include_subdomains: d.include_subdomains,
            })
            .collect(),
    )?;
    let mut roots = Vec::new();
    for d in &config.domains {
        roots.push(
            crate::fetch::load_roots(d.ca_file.as_deref())
                .map_err(|e| format!("{}: domain {}: {e}", config.path.display(), d.name))?,
        );
    }
    let kinds: Vec<(Pin, PinKind)> = config
        .domains
        .iter()
        .flat_map(|d| d.pins.iter().map(|p| (p.pin, p.kind)))
        .collect();
    let mut all = vec![Shipped {
        label: name_of(&config.path),
        sets: config.domains.iter().map(PinSet::from).collect(),
    }];
    for path in shipped {
        all.push(shipped_file(path, &kinds)?);
    }
    Ok(Judge {
        matcher,
        shipped: all,
        roots,
        backups: backups(config),
    })
}

fn name_of(p: &Path) -> String {
    p.display().to_string()
}

/// One `--shipped` file: a `pins.toml`, or a signed pin config (its
/// signature is not checked here: an app that holds it holds it).
fn shipped_file(path: &Path, kinds: &[(Pin, PinKind)]) -> Result<Shipped, String> {
    let bytes =
        spki::read_bounded(path).map_err(|e| format!("--shipped {}: {e}", path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("--shipped {}: not UTF-8 text", path.display()))?;
    let trimmed = text.trim();
    let looks_jws = trimmed.split('.').count() == 3
        && trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if looks_jws {
        let v = crate::signed::inspect(trimmed, None).map_err(|r| {
            format!(
                "--shipped {}: not a usable signed pin config: {}",
                path.display(),
                r.explain()
            )
        })?;
        let mut sets = Vec::new();
        for d in &v.payload.domains {
            let mut pins = Vec::new();
            for p in &d.pins {
                let pin = Pin::parse(p).ok_or_else(|| {
                    format!(
                        "--shipped {}: domain {}: {p:?} is not a pin",
                        path.display(),
                        d.name
                    )
                })?;
                let kind = kinds
                    .iter()
                    .find(|(k, _)| *k == pin)
                    .map_or(PinKind::Leaf, |(_, k)| *k);
                pins.push(PinSetEntry {
                    pin,
                    kind,
                    label: String::new(),
                });
            }
            sets.push(PinSet {
                name: d.name.trim_end_matches('.').to_ascii_lowercase(),
                include_subdomains: d.include_subdomains,
                expires: None,
                pins,
            });
        }
        return Ok(Shipped {
            label: name_of(path),
            sets,
        });
    }
    let file = PinsFile::load(path).map_err(|e| format!("--shipped {e}"))?;
    Ok(Shipped {
        label: name_of(path),
        sets: file.domains.iter().map(PinSet::from).collect(),
    })
}

/// Pins that are backups: labelled so, or read from a CSR or a key (a
/// key that had no certificate when it was pinned).
fn backups(config: &PinsFile) -> HashSet<Pin> {
    let mut out = HashSet::new();
    for d in &config.domains {
        for p in &d.pins {
            if p.label.to_ascii_lowercase().contains("backup") {
                out.insert(p.pin);
            }
            if let PinSource::File { path, .. } = &p.source
                && let Ok(found) = spki::read_file(path)
            {
                for f in found {
                    if f.pin == p.pin && !matches!(f.origin, Origin::Certificate(_)) {
                        out.insert(p.pin);
                    }
                }
            }
        }
    }
    out
}

/// The logs of `lists` (files or URLs); the shipped list when empty.
/// Logs named twice are read once.
pub async fn logs(lists: &[String], http: &Http) -> Result<Vec<Log>, String> {
    let mut out: Vec<Log> = Vec::new();
    if lists.is_empty() {
        out = loglist::parse(loglist::DEFAULT_LIST, "the shipped log list")?;
    }
    for l in lists {
        let text = if l.starts_with("https://") || l.starts_with("http://") {
            let b = http
                .get(l, loglist::MAX_LIST)
                .await
                .map_err(|e| format!("--logs {e}"))?;
            String::from_utf8(b).map_err(|_| format!("--logs {l}: not UTF-8"))?
        } else {
            let p = Path::new(l);
            let b = spki::read_bounded(p).map_err(|e| format!("--logs {l}: {e}"))?;
            String::from_utf8(b).map_err(|_| format!("--logs {l}: not UTF-8"))?
        };
        for log in loglist::parse(&text, l)? {
            if !out.iter().any(|o| o.key.id == log.key.id) {
                out.push(log);
            }
        }
    }
    if out.is_empty() {
        return Err("no log to watch in the log lists".into());
    }
    if out.len() > loglist::MAX_LOGS {
        return Err(format!("more than {} logs to watch", loglist::MAX_LOGS));
    }
    Ok(out)
}
