//! Would a platform accept this chain for this host, with these pins?
//! [`judge`] answers for each [`Platform`] the way its TLS stack does, in
//! its order:
//!
//! 1. **chain**: a path from the leaf to a trusted root (the `Roots`
//!    given: a `ca_file`, or the system's) built by webpki from the
//!    certificates given — and, on iOS and TrustKit, from a missing
//!    issuer fetched through the leaf's AIA caIssuers URL (`fetched`:
//!    what that URL serves; nothing here goes to the network);
//! 2. **date**: every certificate of that path valid at each instant
//!    given (now, and the planned deployment), plus Apple's limits on a
//!    leaf's validity period;
//! 3. **name**: the leaf's subjectAltName covers the host (RFC 6125: a
//!    `*.` wildcard is one label; the common name is not read);
//! 4. **pins**: the platform's pin rule on the path it built (root
//!    included, whether or not the server sent it), with its pin-set
//!    expiry and subdomain reach.
//!
//! A platform accepts only when all four hold at every instant. The rules
//! that differ between platforms, and where each is written, are in
//! `rules`. It reads no clock and no network: `pins check-cert` calls it
//! with the chain a person is about to deploy, and a watch of
//! Certificate Transparency logs can call it with every certificate
//! logged for a pinned name.
//!
//! ```no_run
//! # fn demo(domain: &attestgate_pins::Domain, chain: &[Vec<u8>]) -> Result<(), String> {
//! use attestgate_pins::check::platform::{judge, PinSet};
//! let roots = attestgate_pins::fetch::load_roots(domain.ca_file.as_deref())?;
//! let now = attestgate_pins::clock::now_unix();
//! let j = judge(chain, &PinSet::from(domain), &domain.name, &[now], &roots, &[]);
//! for v in j.refusing() {
//!     println!("{} refuses: {}", v.platform.as_str(), v.reason);
//! }
//! # Ok(()) }
//! ```

mod attempt;
mod facts;
mod judging;
mod path;
mod precert;
mod rules;

pub use judging::judge;
pub use path::{PathCert, Role};
pub use precert::judge_precert;

use crate::model::{Domain, PinKind};
use crate::spki::Pin;

/// A platform whose pinning the kit renders and judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// Android's network security config (`<pin-set>`).
    Android,
    /// iOS `NSPinnedDomains`.
    Ios,
    /// OkHttp 4.3.0 and later `CertificatePinner`.
    Okhttp,
    /// OkHttp 3.x `CertificatePinner` (no `**.` patterns).
    Okhttp3,
    /// TrustKit (iOS).
    Trustkit,
}

impl Platform {
    /// Every platform, in the order of the tables.
    pub const ALL: [Platform; 5] = [
        Platform::Android,
        Platform::Ios,
        Platform::Okhttp,
        Platform::Okhttp3,
        Platform::Trustkit,
    ];

    /// Its name in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Android => "android",
            Platform::Ios => "ios",
            Platform::Okhttp => "okhttp",
            Platform::Okhttp3 => "okhttp3",
            Platform::Trustkit => "trustkit",
        }
    }

    /// Whether it runs on Apple's trust evaluation (AIA fetching, Apple's
    /// certificate requirements).
    pub fn is_apple(self) -> bool {
        matches!(self, Platform::Ios | Platform::Trustkit)
    }
}

/// One pin set as an app carries it: a `pins.toml` domain, or a domain of
/// a signed pin config (whose pins are all leaf identities unless known).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinSet {
    /// The domain, lower case, no trailing dot.
    pub name: String,
    /// Whether its subdomains are pinned too.
    pub include_subdomains: bool,
    /// Android's and TrustKit's pin-set expiry.
    pub expires: Option<time::Date>,
    /// The pins.
    pub pins: Vec<PinSetEntry>,
}

/// One pin of a [`PinSet`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinSetEntry {
    /// The pin.
    pub pin: Pin,
    /// Leaf or CA identity (iOS).
    pub kind: PinKind,
    /// Its label (may be empty).
    pub label: String,
}

impl From<&Domain> for PinSet {
    fn from(d: &Domain) -> PinSet {
        PinSet {
            name: d.name.trim_end_matches('.').to_ascii_lowercase(),
            include_subdomains: d.include_subdomains,
            expires: d.expires,
            pins: d
                .pins
                .iter()
                .map(|p| PinSetEntry {
                    pin: p.pin,
                    kind: p.kind,
                    label: p.label.clone(),
                })
                .collect(),
        }
    }
}

/// One of the four checks.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    /// Whether it holds.
    pub ok: bool,
    /// What was found, in a sentence.
    pub detail: String,
}

impl Check {
    pub(crate) fn pass(detail: String) -> Check {
        Check { ok: true, detail }
    }
    pub(crate) fn fail(detail: String) -> Check {
        Check { ok: false, detail }
    }
}

/// One platform's answer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    /// The platform.
    pub platform: Platform,
    /// Whether it accepts the chain for the host.
    pub accepts: bool,
    /// Every failing check (`chain: …; date: …`), or the pin rule's
    /// detail when it accepts.
    pub reason: String,
    /// A path to a trusted root.
    pub chain: Check,
    /// Validity at every instant.
    pub date: Check,
    /// The leaf's names cover the host.
    pub name: Check,
    /// The pin rule.
    pub pins: Check,
    /// The path it built, leaf first (empty when none was built).
    pub path: Vec<PathCert>,
}

/// Every platform's answer for one chain and host.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Judgement {
    /// The host judged.
    pub host: String,
    /// The instants judged (Unix seconds), now first.
    pub instants: Vec<i64>,
    /// Where the roots came from.
    pub roots: String,
    /// Per platform, in [`Platform::ALL`] order.
    pub verdicts: Vec<Verdict>,
}

impl Judgement {
    /// Whether every platform accepts.
    pub fn accepted(&self) -> bool {
        self.verdicts.iter().all(|v| v.accepts)
    }

    /// The verdicts that refuse.
    pub fn refusing(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts.iter().filter(|v| !v.accepts)
    }

    /// The verdict of `platform`.
    pub fn of(&self, platform: Platform) -> Option<&Verdict> {
        self.verdicts.iter().find(|v| v.platform == platform)
    }
}
