//! `pins.toml`: read raw (`raw`), then checked into [`PinsFile`], with
//! every problem collected and named by its key path.
//!
//! A pin is given by `sha256`, by `file`, or both (then lint checks that
//! they agree). A `file` holding a chain gives one pin per certificate.
//! Relative paths are relative to the `pins.toml` that names them.

mod raw;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::spki::{self, Origin, Pin};

/// Default time for connect and TLS handshake, per address.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A checked `pins.toml`.
#[derive(Clone, Debug)]
pub struct PinsFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its `[[domain]]`s, in file order.
    pub domains: Vec<Domain>,
}

/// One `[[domain]]`.
#[derive(Clone, Debug)]
pub struct Domain {
    /// Host name (also the SNI unless `servername` is set).
    pub name: String,
    /// Whether the pins cover subdomains too.
    pub include_subdomains: bool,
    /// Where to connect instead of DNS; empty: every A and AAAA of `name`.
    pub addresses: Vec<SocketAddr>,
    /// TCP port (default 443).
    pub port: u16,
    /// SNI sent (default: `name`).
    pub servername: String,
    /// Roots to validate against instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// Pin-set expiry written into the platform configs.
    pub expires: Option<time::Date>,
    /// Connect + handshake time limit per address (default 10s).
    pub timeout: Duration,
    /// The pins, files expanded.
    pub pins: Vec<PinEntry>,
}

impl Domain {
    /// The pins' values, in order.
    pub fn pin_values(&self) -> impl Iterator<Item = Pin> + '_ {
        self.pins.iter().map(|p| p.pin)
    }
}

/// Which certificate of the chain a pin names, for iOS (which keeps leaf
/// and CA identities apart): `kind = "leaf" | "ca"`, or inferred.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PinKind {
    /// The server's own key (NSPinnedLeafIdentities).
    Leaf,
    /// An intermediate's or root's key (NSPinnedCAIdentities).
    Ca,
}

impl PinKind {
    /// `leaf` or `ca`.
    pub fn as_str(self) -> &'static str {
        match self {
            PinKind::Leaf => "leaf",
            PinKind::Ca => "ca",
        }
    }
}

/// One pin of a domain.
#[derive(Clone, Debug)]
pub struct PinEntry {
    /// The value.
    pub pin: Pin,
    /// Its label (may be empty).
    pub label: String,
    /// Leaf or CA identity.
    pub kind: PinKind,
    /// Key path in the file, e.g. `domain[0].pins[1]`.
    pub key_path: String,
    /// Where it came from.
    pub source: PinSource,
}

/// Where a pin came from.
#[derive(Clone, Debug)]
pub enum PinSource {
    /// Written as `sha256`.
    Literal,
    /// Read from `file`.
    File {
        /// The file, resolved.
        path: PathBuf,
        /// Every pin the file holds.
        found: Vec<Pin>,
        /// Whether `sha256` was written as well (lint checks it is in `found`).
        stated: bool,
    },
}

/// One problem in a `pins.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Key path (`domain[0].pins[1].sha256`) or `line L, column C`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// A `pins.toml` that cannot be used: every problem, with the file.
#[derive(Debug, thiserror::Error)]
pub struct LoadError {
    /// The file.
    pub file: PathBuf,
    /// Every problem found.
    pub problems: Vec<Problem>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {}: {}", self.file.display(), p.path, p.message)?;
        }
        Ok(())
    }
}

impl PinsFile {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<PinsFile, LoadError> {
        let fail = |problems| LoadError {
            file: path.to_owned(),
            problems,
        };
        let bytes = spki::read_bounded(path).map_err(|e| {
            fail(vec![Problem {
                path: "(file)".into(),
                message: e.to_string(),
            }])
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            fail(vec![Problem {
                path: "(file)".into(),
                message: "not UTF-8 text".into(),
            }])
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_text(&text, base)
            .map(|domains| PinsFile {
                path: path.to_owned(),
                domains,
            })
            .map_err(fail)
    }

    /// Checks the text of a `pins.toml`; relative paths are taken from `base`.
    pub fn from_text(text: &str, base: &Path) -> Result<Vec<Domain>, Vec<Problem>> {
        let raw = parse(text).map_err(|p| vec![p])?;
        let mut checker = Checker {
            base,
            problems: Vec::new(),
        };
        let domains: Vec<Domain> = raw
            .domain
            .iter()
            .enumerate()
            .filter_map(|(i, d)| checker.domain(i, d))
            .collect();
        for (i, d) in domains.iter().enumerate() {
            if domains[..i].iter().any(|o| o.name == d.name) {
                checker.problem(
                    format!("domain[{i}].name"),
                    format!("{:?} is listed twice", d.name),
                );
            }
        }
        if raw.domain.is_empty() {
            checker.problem("domain", "no [[domain]]: nothing to pin");
        }
        if checker.problems.is_empty() {
            Ok(domains)
        } else {
            Err(checker.problems)
        }
    }

    /// The domain named `name`.
    pub fn domain(&self, name: &str) -> Option<&Domain> {
        let name = name.trim_end_matches('.');
        self.domains
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// TOML syntax and shape; the message never quotes the file.
fn parse(text: &str) -> Result<raw::RawPinsFile, Problem> {
    let located = |e: &toml::de::Error| match e.span() {
        Some(span) => {
            let (l, c) = line_col(text, span.start);
            format!("line {l}, column {c}")
        }
        None => "(file)".to_owned(),
    };
    let de = toml::Deserializer::parse(text).map_err(|e| Problem {
        path: located(&e),
        message: format!("TOML syntax: {}", e.message().trim()),
    })?;
    serde_path_to_error::deserialize::<_, raw::RawPinsFile>(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner();
        Problem {
            path: if path == "." { "(file)".into() } else { path },
            message: format!("{} ({})", inner.message().trim(), located(inner)),
        }
    })
}

struct Checker<'a> {
    base: &'a Path,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn resolve(&self, file: &str) -> PathBuf {
        let p = Path::new(file);
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base.join(p)
        }
    }

    fn domain(&mut self, i: usize, raw: &raw::RawDomain) -> Option<Domain> {
        let at = format!("domain[{i}]");
        let before = self.problems.len();
        let name = raw.name.trim().trim_end_matches('.').to_ascii_lowercase();
        if !valid_host(&name) {
            self.problem(
                format!("{at}.name"),
                format!("{:?} is not a host name (letters, digits, '-', '.'; no wildcard: use include_subdomains)", raw.name),
            );
        }
        let port = match raw.port {
            None => 443,
            Some(p) => u16::try_from(p).ok().filter(|&p| p > 0).unwrap_or_else(|| {
                self.problem(format!("{at}.port"), format!("{p} is not a TCP port"));
                443
            }),
        };
        let mut addresses = Vec::new();
        for (j, a) in raw.addresses.iter().enumerate() {
            match parse_address(a, port) {
                Some(addr) => addresses.push(addr),
                None => self.problem(
                    format!("{at}.addresses[{j}]"),
                    format!("{a:?} is not IP:PORT or IP (e.g. \"127.0.0.1:8443\", \"[::1]:443\")"),
                ),
            }
        }
        let servername = if raw.servername.trim().is_empty() {
            name.clone()
        } else {
            raw.servername.trim().to_owned()
        };
        let ca_file = (!raw.ca_file.trim().is_empty()).then(|| self.resolve(raw.ca_file.trim()));
        let expires = raw.expires.as_deref().and_then(|e| {
            crate::clock::parse_date(e).or_else(|| {
                self.problem(
                    format!("{at}.expires"),
                    format!("{e:?} is not a date; write it YYYY-MM-DD"),
                );
                None
            })
        });
        let timeout = match raw.timeout.as_deref() {
            None => DEFAULT_TIMEOUT,
            Some(t) => humantime::parse_duration(t.trim())
                .ok()
                .filter(|d| !d.is_zero() && *d <= Duration::from_secs(600))
                .unwrap_or_else(|| {
                    self.problem(
                        format!("{at}.timeout"),
                        format!("{t:?} is not a duration from \"1ms\" to \"10m\""),
                    );
                    DEFAULT_TIMEOUT
                }),
        };
        let mut pins = Vec::new();
        for (j, p) in raw.pins.iter().enumerate() {
            self.pin(&format!("{at}.pins[{j}]"), p, &mut pins);
        }
        (self.problems.len() == before).then_some(Domain {
            name,
            include_subdomains: raw.include_subdomains,
            addresses,
            port,
            servername,
            ca_file,
            expires,
            timeout,
            pins,
        })
    }

    fn pin(&mut self, at: &str, raw: &raw::RawPin, out: &mut Vec<PinEntry>) {
        let kind = match raw.kind.as_deref().map(str::trim) {
            None => None,
            Some("leaf") => Some(PinKind::Leaf),
            Some("ca") => Some(PinKind::Ca),
            Some(other) => {
                self.problem(
                    format!("{at}.kind"),
                    format!("{other:?}: write \"leaf\" or \"ca\""),
                );
                return;
            }
        };
        let stated = match raw.sha256.as_deref() {
            None => None,
            Some(text) => match Pin::parse(text) {
                Some(p) => Some(p),
                None => {
                    self.problem(
                        format!("{at}.sha256"),
                        "not the base64 of 32 bytes (an SPKI SHA-256 pin)",
                    );
                    return;
                }
            },
        };
        let label = raw.label.trim().to_owned();
        let key_path = at.to_owned();
        let Some(file) = raw.file.as_deref() else {
            match stated {
                Some(pin) => out.push(PinEntry {
                    pin,
                    label,
                    kind: kind.unwrap_or(PinKind::Leaf),
                    key_path,
                    source: PinSource::Literal,
                }),
                None => self.problem(at, "give sha256 or file (or both)"),
            }
            return;
        };
        let path = self.resolve(file);
        let found = match spki::read_file(&path) {
            Ok(f) => f,
            Err(e) => {
                self.problem(format!("{at}.file"), format!("{}: {e}", path.display()));
                return;
            }
        };
        let all: Vec<Pin> = found.iter().map(|f| f.pin).collect();
        let inferred = |f: &spki::Found| match &f.origin {
            Origin::Certificate(c) if c.is_ca => PinKind::Ca,
            _ => PinKind::Leaf,
        };
        if let Some(pin) = stated {
            let from_file = found.iter().find(|f| f.pin == pin);
            out.push(PinEntry {
                pin,
                label,
                kind: kind.or(from_file.map(inferred)).unwrap_or(PinKind::Leaf),
                key_path,
                source: PinSource::File {
                    path,
                    found: all,
                    stated: true,
                },
            });
            return;
        }
        for f in &found {
            out.push(PinEntry {
                pin: f.pin,
                label: label.clone(),
                kind: kind.unwrap_or_else(|| inferred(f)),
                key_path: key_path.clone(),
                source: PinSource::File {
                    path: path.clone(),
                    found: all.clone(),
                    stated: false,
                },
            });
        }
    }
}

fn parse_address(text: &str, port: u16) -> Option<SocketAddr> {
    let text = text.trim();
    text.parse::<SocketAddr>().ok().or_else(|| {
        text.parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, port))
    })
}

/// A host name as `pins.toml` takes it: LDH labels of 1..=63, at most
/// 253 in all, no wildcard.
pub(crate) fn valid_host(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}
