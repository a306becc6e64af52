//! [`judge`]: the four checks of every platform on one chain (the rules
//! that differ between platforms are in `rules`).

use super::attempt::{attempt, day, over};
use super::facts::Facts;
use super::path::{PathCert, Role};
use super::{Check, Judgement, PinSet, Platform, Verdict, path, rules};
use crate::fetch::Roots;

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
pub(super) fn judge_with(
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
