//! The live chain fetcher: every address of a host (A and AAAA, or the ones
//! given), one TLS handshake each with SNI, bounded by one timeout covering
//! connect and handshake; each chain recorded as served, with whether it
//! validates (against `ca_file` or the system's roots) beside it.
//!
//! `verifier` records the chain inside the handshake; `roots` loads trust
//! anchors. Nothing here decides whether a chain is acceptable: `check`
//! does, from these reports.

mod roots;
mod verifier;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::sync::Semaphore;

use crate::model::Domain;
use crate::spki::{self, CertInfo, Pin};

pub use roots::{Roots, load_roots};
pub use verifier::MAX_CHAIN;

/// At most this many connections are open at once in one run (every
/// domain and every address of `lint`, `check`, `fetch` and the proxy's
/// monitor share one limit); the others wait for a free slot before their
/// own timeout starts.
pub const MAX_CONNECTIONS: usize = 32;

/// A fresh limit of [`MAX_CONNECTIONS`], to share across one run.
pub fn connection_limit() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(MAX_CONNECTIONS))
}

/// What to fetch.
#[derive(Clone, Debug)]
pub struct Target {
    /// Host name (resolved when `addresses` is empty).
    pub host: String,
    /// Port used with resolved addresses.
    pub port: u16,
    /// SNI and the name the chain is validated for.
    pub servername: String,
    /// Connect here instead of resolving `host`.
    pub addresses: Vec<SocketAddr>,
    /// Roots for validation instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// Connect + handshake limit, per address.
    pub timeout: Duration,
}

impl Target {
    /// The target of a `pins.toml` domain.
    pub fn of_domain(d: &Domain) -> Target {
        Target {
            host: d.name.clone(),
            port: d.port,
            servername: d.servername.clone(),
            addresses: d.addresses.clone(),
            ca_file: d.ca_file.clone(),
            timeout: d.timeout,
        }
    }
}

/// Everything seen for one target.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    /// Host asked for.
    pub host: String,
    /// SNI sent.
    pub servername: String,
    /// Why no address could be found (then `addresses` is empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolve_error: Option<String>,
    /// One entry per address, in the order resolved or given.
    pub addresses: Vec<AddressReport>,
    /// Whether the addresses that answered served different chains.
    pub differs: bool,
}

/// One address's answer.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AddressReport {
    /// Where we connected.
    pub address: SocketAddr,
    /// The chain, or why there is none.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Which distinct chain this is (0 for the first seen, 1 for the next
    /// different one, …); `None` without a chain.
    pub chain_group: Option<usize>,
}

/// A chain, or why there is none.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The server sent a chain.
    Chain(Chain),
    /// No chain: timeout, refused, handshake failure.
    Error(String),
}

/// A chain as served.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Chain {
    /// Certificates, leaf first (at most [`MAX_CHAIN`]).
    pub certs: Vec<ChainCert>,
    /// How many certificates the server sent.
    pub served: usize,
    /// `None` when it validates for `servername`; otherwise why not.
    pub invalid: Option<String>,
    /// Set when the handshake failed after the chain was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake_error: Option<String>,
}

impl Chain {
    /// Pins of the certificates that parsed, leaf first.
    pub fn pins(&self) -> impl Iterator<Item = Pin> + '_ {
        self.certs.iter().filter_map(|c| c.pin)
    }

    /// The leaf, when it parsed.
    pub fn leaf(&self) -> Option<&ChainCert> {
        self.certs.first().filter(|c| c.pin.is_some())
    }
}

/// One certificate of a served chain.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ChainCert {
    /// 0 for the leaf.
    pub position: usize,
    /// Described, when it parses.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub info: Option<CertInfo>,
    /// Its pin, when its key is one we read.
    pub pin: Option<Pin>,
    /// Key type, or why it has no pin.
    pub key: String,
    /// The certificate.
    #[serde(skip)]
    pub der: Vec<u8>,
}

impl ChainCert {
    /// Describes a DER certificate at `position`.
    pub fn from_der(position: usize, der: &[u8]) -> ChainCert {
        let described = spki::describe_cert(der)
            .and_then(|(info, spki_der)| spki::key_type(&spki_der).map(|k| (info, spki_der, k)));
        match described {
            Ok((info, spki_der, key)) => ChainCert {
                position,
                info: Some(info),
                pin: Some(Pin::of_spki(&spki_der)),
                key,
                der: der.to_vec(),
            },
            Err(e) => ChainCert {
                position,
                info: spki::describe_cert(der).ok().map(|(i, _)| i),
                pin: None,
                key: e.to_string(),
                der: der.to_vec(),
            },
        }
    }
}

/// Fetches every address of `target`, concurrently (at most
/// [`MAX_CONNECTIONS`] at once).
pub async fn fetch(target: &Target, roots: &Roots) -> Report {
    fetch_with(target, roots, &connection_limit(), &mut |_, _| {}).await
}

/// Fetches every address of `target` within `limit`, calling `on_address`
/// as each address answers (for progress).
pub async fn fetch_with(
    target: &Target,
    roots: &Roots,
    limit: &Arc<Semaphore>,
    on_address: &mut (dyn FnMut(SocketAddr, &Outcome) + Send),
) -> Report {
    let mut report = Report {
        host: target.host.clone(),
        servername: target.servername.clone(),
        resolve_error: None,
        addresses: Vec::new(),
        differs: false,
    };
    let addresses = if target.addresses.is_empty() {
        match resolve(&target.host, target.port, target.timeout).await {
            Ok(a) => a,
            Err(e) => {
                report.resolve_error = Some(e);
                return report;
            }
        }
    } else {
        target.addresses.clone()
    };
    let name = match ServerName::try_from(target.servername.clone()) {
        Ok(n) => n,
        Err(_) => {
            report.resolve_error = Some(format!("{:?} is not a server name", target.servername));
            return report;
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    for (i, address) in addresses.iter().copied().enumerate() {
        let (name, roots, timeout, limit) =
            (name.clone(), roots.clone(), target.timeout, limit.clone());
        tasks.spawn(async move {
            let outcome = match limit.acquire_owned().await {
                Ok(_permit) => one(address, name, &roots, timeout).await,
                Err(_) => Outcome::Error("the connection limit was closed".into()),
            };
            (i, outcome)
        });
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; addresses.len()];
    while let Some(done) = tasks.join_next().await {
        if let Ok((i, outcome)) = done {
            on_address(addresses[i], &outcome);
            outcomes[i] = Some(outcome);
        }
    }
    let mut groups: Vec<Vec<Pin>> = Vec::new();
    for (address, outcome) in addresses.into_iter().zip(outcomes) {
        let outcome = outcome.unwrap_or_else(|| Outcome::Error("the fetch task failed".into()));
        let chain_group = match &outcome {
            Outcome::Chain(c) => {
                let pins: Vec<Pin> = c.pins().collect();
                Some(groups.iter().position(|g| *g == pins).unwrap_or_else(|| {
                    groups.push(pins);
                    groups.len() - 1
                }))
            }
            Outcome::Error(_) => None,
        };
        report.addresses.push(AddressReport {
            address,
            outcome,
            chain_group,
        });
    }
    report.differs = groups.len() > 1;
    report
}

/// Fetches every domain at every address, concurrently, sharing one
/// limit of [`MAX_CONNECTIONS`]; `on_domain(i, report)` is called as each
/// domain completes. Reports come back in `domains` order; a domain whose
/// roots cannot be loaded gets a report holding only that error.
pub async fn fetch_domains(
    domains: &[Domain],
    on_domain: &mut (dyn FnMut(usize, &Report) + Send),
) -> Vec<Report> {
    let limit = connection_limit();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, d) in domains.iter().enumerate() {
        let (target, limit, ca_file) = (Target::of_domain(d), limit.clone(), d.ca_file.clone());
        tasks.spawn(async move {
            let report = match load_roots(ca_file.as_deref()) {
                Ok(roots) => fetch_with(&target, &roots, &limit, &mut |_, _| {}).await,
                Err(e) => Report {
                    host: target.host.clone(),
                    servername: target.servername.clone(),
                    resolve_error: Some(e),
                    addresses: Vec::new(),
                    differs: false,
                },
            };
            (i, report)
        });
    }
    let mut out: Vec<Option<Report>> = vec![None; domains.len()];
    while let Some(done) = tasks.join_next().await {
        if let Ok((i, report)) = done {
            on_domain(i, &report);
            out[i] = Some(report);
        }
    }
    out.into_iter()
        .zip(domains)
        .map(|(r, d)| {
            r.unwrap_or_else(|| Report {
                host: d.name.clone(),
                servername: d.servername.clone(),
                resolve_error: Some("the fetch task failed".into()),
                addresses: Vec::new(),
                differs: false,
            })
        })
        .collect()
}

async fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, String> {
    let found = tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| format!("resolving {host}: no answer within {timeout:?}"))?
        .map_err(|e| format!("resolving {host}: {e}"))?;
    let mut out: Vec<SocketAddr> = Vec::new();
    for a in found {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    if out.is_empty() {
        return Err(format!("{host} has no A or AAAA record"));
    }
    Ok(out)
}

async fn one(
    address: SocketAddr,
    name: ServerName<'static>,
    roots: &Roots,
    timeout: Duration,
) -> Outcome {
    let recorder = match roots.recorder() {
        Ok(r) => Arc::new(r),
        Err(e) => return Outcome::Error(e),
    };
    let config = match rustls::ClientConfig::builder_with_provider(roots.provider())
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_no_client_auth(),
        Err(e) => return Outcome::Error(e.to_string()),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        connector
            .connect(name, tcp)
            .await
            .map(drop)
            .map_err(|e| format!("TLS handshake: {e}"))
    };
    let result = match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no TLS handshake within {timeout:?} (connect + handshake)"
        )),
    };
    match (recorder.take(), result) {
        (Some(seen), result) => Outcome::Chain(Chain {
            certs: seen
                .certs
                .iter()
                .enumerate()
                .map(|(i, c)| ChainCert::from_der(i, c.as_ref()))
                .collect(),
            served: seen.served,
            invalid: seen.invalid,
            handshake_error: result.err(),
        }),
        (None, Err(e)) => Outcome::Error(e),
        (None, Ok(())) => Outcome::Error("the handshake ended without a certificate".into()),
    }
}
