//! Lint rules for a `pins.toml`, each a [`Rule`]:
//!
//! - `two_pins`: every domain has at least two pins;
//! - `backup`: at least one of them is in no chain the domain serves now
//!   (needs the live chains; skipped when none are given);
//! - `duplicate`: no pin is listed twice in a domain;
//! - `expires`: `expires`, when given, is in the future (as of the `today`
//!   passed in, so the rule can be run as of any day);
//! - `file_match`: a pin given by `sha256` and `file` is a key of that file;
//! - `ios_backup` (added): iOS checks leaf and CA pins separately, so each
//!   kind in use needs its own backup (needs the live chains too).

use std::collections::HashMap;

use crate::fetch::{Outcome, Report};
use crate::model::{PinKind, PinSource, PinsFile};
use crate::spki::Pin;

/// A lint rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Fewer than two pins.
    TwoPins,
    /// No backup pin (every pin is in a served chain), or it cannot be told.
    Backup,
    /// A pin listed twice.
    Duplicate,
    /// `expires` is not in the future.
    Expires,
    /// A `sha256` that is not a key of its `file`.
    FileMatch,
    /// A kind of pin (leaf or CA) all of whose pins are in service: iOS,
    /// which needs a match in each kind given, has no backup for it.
    IosBackup,
}

impl Rule {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::TwoPins => "two_pins",
            Rule::Backup => "backup",
            Rule::Duplicate => "duplicate",
            Rule::Expires => "expires",
            Rule::FileMatch => "file_match",
            Rule::IosBackup => "ios_backup",
        }
    }
}

/// One broken rule.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Broken {
    /// The rule.
    pub rule: Rule,
    /// Key path (`domain[0]`, `domain[0].pins[2]`).
    pub path: String,
    /// The domain's name.
    pub domain: String,
    /// What is wrong, and what to do.
    pub message: String,
}

/// Lints `file` as of `today`. `served` holds the live fetch of each domain
/// (by name) for the `backup` rule; `None` skips that rule.
pub fn lint(
    file: &PinsFile,
    today: time::Date,
    served: Option<&HashMap<String, Report>>,
) -> Vec<Broken> {
    let mut out = Vec::new();
    for (i, d) in file.domains.iter().enumerate() {
        let at = format!("domain[{i}]");
        let mut broken = |rule, path: String, message: String| {
            out.push(Broken {
                rule,
                path,
                domain: d.name.clone(),
                message,
            });
        };
        let distinct: Vec<Pin> = d.pin_values().fold(Vec::new(), |mut v, p| {
            if !v.contains(&p) {
                v.push(p);
            }
            v
        });
        if distinct.len() < 2 {
            broken(
                Rule::TwoPins,
                format!("{at}.pins"),
                format!(
                    "{} distinct pin{}: give at least two (the key in service and a backup key not yet in service)",
                    distinct.len(),
                    if distinct.len() == 1 { "" } else { "s" }
                ),
            );
        }
        for (j, p) in d.pins.iter().enumerate() {
            if let Some(first) = d.pins[..j].iter().find(|q| q.pin == p.pin) {
                broken(
                    Rule::Duplicate,
                    p.key_path.clone(),
                    format!("pin {} is already given at {}", p.pin, first.key_path),
                );
            }
            if let PinSource::File {
                path,
                found,
                stated: true,
            } = &p.source
                && !found.contains(&p.pin)
            {
                broken(
                    Rule::FileMatch,
                    format!("{}.sha256", p.key_path),
                    format!(
                        "{} is not the pin of {} (it holds {})",
                        p.pin,
                        path.display(),
                        found
                            .iter()
                            .map(Pin::to_base64)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
        if let Some(expires) = d.expires
            && expires <= today
        {
            broken(
                Rule::Expires,
                format!("{at}.expires"),
                format!(
                    "{} is not in the future (today is {}): Android and TrustKit stop pinning after it",
                    crate::clock::date_text(expires),
                    crate::clock::date_text(today)
                ),
            );
        }
        let Some(served) = served else { continue };
        match served.get(&d.name) {
            None => broken(
                Rule::Backup,
                at.clone(),
                "no live chain was fetched for this domain".into(),
            ),
            Some(report) => {
                let mut in_service: Vec<Pin> = Vec::new();
                let mut unreachable = Vec::new();
                if let Some(e) = &report.resolve_error {
                    unreachable.push(e.clone());
                }
                for a in &report.addresses {
                    match &a.outcome {
                        Outcome::Chain(c) => in_service.extend(c.pins()),
                        Outcome::Error(e) => unreachable.push(format!("{}: {e}", a.address)),
                    }
                }
                if !unreachable.is_empty() {
                    broken(
                        Rule::Backup,
                        at.clone(),
                        format!(
                            "cannot tell which pin is the backup: {} (lint --offline skips this rule)",
                            unreachable.join("; ")
                        ),
                    );
                } else if distinct.iter().all(|p| in_service.contains(p)) {
                    broken(
                        Rule::Backup,
                        at.clone(),
                        "every pin is in a chain served now: add a backup pin (attestgate pins backup-key) so a rotation does not lock the apps out".into(),
                    );
                } else {
                    for kind in [PinKind::Leaf, PinKind::Ca] {
                        let of_kind: Vec<Pin> = d
                            .pins
                            .iter()
                            .filter(|p| p.kind == kind)
                            .map(|p| p.pin)
                            .collect();
                        if !of_kind.is_empty() && of_kind.iter().all(|p| in_service.contains(p)) {
                            broken(
                                Rule::IosBackup,
                                at.clone(),
                                format!(
                                    "every {} pin is in service: iOS needs a match among the {} pins on its own, so add a backup {} pin (kind = \"{}\")",
                                    kind.as_str(),
                                    kind.as_str(),
                                    kind.as_str(),
                                    kind.as_str()
                                ),
                            );
                        }
                    }
                }
            }
        }
    }
    out
}
