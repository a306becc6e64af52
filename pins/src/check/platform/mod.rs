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
mod path;
mod precert;
mod rules;

pub use precert::judge_precert;

pub use path::{PathCert, Role};

use attempt::{attempt, day, over};
use facts::Facts;

use crate::fetch::Roots;
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

/// Judges `chain` (DER, leaf first, as the server would send it) for
/// `host` against the pin set an app carries, at each of `instants` (Unix
/// seconds; give at least one), with `roots` as the devices' trust store
/// and `fetched` as what the chain's AIA caIssuers URLs serve (empty when
/// not known). One verdict per [`Platform`], in [`Platform::ALL`] order.
///
/// Bounded: more than [`crate::fetch::MAX_CHAIN`] certificates (given or
/// fetched) are refused unread, repeats are dropped, and webpki's own
/// path-building budget limits the rest.
pub fn judge(
    chain: &[Vec<u8>],
    pins: &PinSet,
    host: &str,
    instants: &[i64],
    roots: &Roots,
    fetched: &[Vec<u8>],
) -> Judgement {
    let algs: Vec<&dyn rustls_pki_types::SignatureVerificationAlgorithm> =
        roots.algorithms().iter().map(|a| *a as _).collect();
    judge_with(chain, pins, host, instants, roots, fetched, &algs)
}

/// [`judge`], checking signatures with `algs` (a precertificate's
/// announced certificate is checked against the signature its issuer
/// made: `judge_precert`).
fn judge_with(
    chain: &[Vec<u8>],
    pins: &PinSet,
    host: &str,
    instants: &[i64],
    roots: &Roots,
    fetched: &[Vec<u8>],
    algs: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm],
) -> Judgement {
    let now = [crate::clock::now_unix()];
    let instants = if instants.is_empty() {
        &now[..]
    } else {
        instants
    };
    let mut out = Judgement {
        host: host.to_owned(),
        instants: instants.to_vec(),
        roots: roots.source.clone(),
        verdicts: Vec::new(),
    };
    let Some(leaf) = chain.first() else {
        for platform in Platform::ALL {
            let none = Check::fail("no certificate".into());
            out.verdicts.push(Verdict {
                platform,
                accepts: false,
                reason: none.detail.clone(),
                chain: none.clone(),
                date: none.clone(),
                name: none.clone(),
                pins: none,
                path: Vec::new(),
            });
        }
        return out;
    };
    if chain.len() > crate::fetch::MAX_CHAIN || fetched.len() > crate::fetch::MAX_CHAIN {
        let why = Check::fail(format!(
            "{} certificates given (and {} fetched): more than {} is no real chain, and no platform builds from it",
            chain.len(),
            fetched.len(),
            crate::fetch::MAX_CHAIN
        ));
        for platform in Platform::ALL {
            out.verdicts.push(Verdict {
                platform,
                accepts: false,
                reason: format!("chain: {}", why.detail),
                chain: why.clone(),
                date: Check::fail("not judged".into()),
                name: Check::fail("not judged".into()),
                pins: Check::fail("not judged".into()),
                path: Vec::new(),
            });
        }
        return out;
    }
    let leaf_facts = Facts::of(leaf);
    // the same certificate twice adds nothing but paths to try
    let mut given: Vec<Vec<u8>> = Vec::new();
    for c in &chain[1..] {
        if !given.contains(c) && c != leaf {
            given.push(c.clone());
        }
    }
    let given = &given[..];
    let plain = attempt(chain, given, roots, instants, algs);
    let aia: Vec<String> = chain
        .iter()
        .filter_map(|c| Facts::of(c))
        .flat_map(|f| f.ca_issuers)
        .collect();
    let fetching = (plain.built.is_none() && !aia.is_empty() && !fetched.is_empty()).then(|| {
        let mut pool: Vec<Vec<u8>> = given.to_vec();
        for c in fetched {
            if !pool.contains(c) {
                pool.push(c.clone());
            }
        }
        attempt(chain, &pool, roots, instants, algs)
    });
    let name = match path::name_problem(leaf, host) {
        None => Check::pass(format!("the leaf's names cover {host}")),
        Some(why) => Check::fail(why),
    };
    let as_given: Vec<PathCert> = chain
        .iter()
        .enumerate()
        .filter_map(|(i, der)| {
            let c = crate::fetch::ChainCert::from_der(i, der);
            Some(PathCert {
                subject: c.info.map_or_else(|| "(unparsed)".into(), |i| i.subject),
                pin: c.pin?,
                role: if i == 0 {
                    Role::Leaf
                } else {
                    Role::Intermediate
                },
            })
        })
        .collect();
    for platform in Platform::ALL {
        let used = match (&fetching, platform.is_apple()) {
            (Some(f), true) => f,
            _ => &plain,
        };
        let mut chain_check = used.chain.clone();
        if used.built.is_none() && !aia.is_empty() {
            chain_check.detail.push_str(&if platform.is_apple() {
                if fetched.is_empty() {
                    format!(
                        "; iOS would fetch the missing issuer from {} (AIA): give what it serves with --aia-issuer to judge it",
                        aia.join(", ")
                    )
                } else {
                    String::new()
                }
            } else {
                "; Android and OkHttp do not fetch a missing intermediate (AIA): the server must send it".into()
            });
        }
        if platform.is_apple()
            && chain_check.ok
            && let Some(why) = leaf_facts.as_ref().and_then(rules::apple_eku)
        {
            chain_check = Check::fail(why);
        }
        let mut date = over(instants, |t| {
            match used
                .dates
                .iter()
                .find(|(u, _)| *u == t)
                .and_then(|(_, p)| p.clone())
            {
                None => Check::pass("valid".into()),
                Some(p) => Check::fail(p),
            }
        });
        if date.ok && instants.len() > 1 {
            date.detail = format!(
                "valid {}",
                instants
                    .iter()
                    .enumerate()
                    .map(|(i, t)| if i == 0 {
                        "now".to_owned()
                    } else {
                        format!("on {}", day(*t))
                    })
                    .collect::<Vec<_>>()
                    .join(" and ")
            );
        }
        if platform.is_apple()
            && date.ok
            && let Some(why) = leaf_facts
                .as_ref()
                .and_then(|f| rules::apple_validity(f, roots.public))
        {
            date = Check::fail(why);
        }
        let (path, judged_on) = match &used.built {
            Some(b) => (b.certs.clone(), ""),
            None => (
                Vec::new(),
                " (judged on the chain as given: no path was built)",
            ),
        };
        let on = if path.is_empty() { &as_given } else { &path };
        let mut pin_check = over(instants, |t| rules::pins(platform, pins, host, on, t));
        pin_check.detail.push_str(judged_on);
        let checks = [
            ("chain", &chain_check),
            ("date", &date),
            ("name", &name),
            ("pins", &pin_check),
        ];
        let failing: Vec<String> = checks
            .iter()
            .filter(|(_, c)| !c.ok)
            .map(|(k, c)| format!("{k}: {}", c.detail))
            .collect();
        let reason = if failing.is_empty() {
            pin_check.detail.clone()
        } else {
            failing.join("; ")
        };
        out.verdicts.push(Verdict {
            platform,
            accepts: checks.iter().all(|(_, c)| c.ok),
            reason,
            chain: chain_check.clone(),
            date: date.clone(),
            name: name.clone(),
            pins: pin_check.clone(),
            path,
        });
    }
    out
}
