//! One way of building a platform's path (from the chain given, or with
//! fetched issuers too) and judging its dates at each instant; and how a
//! check over several instants is told.

use rustls_pki_types::SignatureVerificationAlgorithm;

use super::Check;
use super::facts::Facts;
use super::path::{self, Built};
use crate::fetch::Roots;

/// One way of building the path (without or with fetched issuers).
pub(super) struct Attempt {
    pub(super) built: Option<Built>,
    pub(super) chain: Check,
    pub(super) dates: Vec<(i64, Option<String>)>,
}

pub(super) fn attempt(
    chain: &[Vec<u8>],
    pool: &[Vec<u8>],
    roots: &Roots,
    instants: &[i64],
    algs: &[&dyn SignatureVerificationAlgorithm],
) -> Attempt {
    let leaf = &chain[0];
    let leaf_facts = Facts::of(leaf);
    let mut times = instants.to_vec();
    if let Some(f) = &leaf_facts {
        times.push(f.not_before + (f.not_after - f.not_before) / 2);
    }
    let mut built = None;
    let mut error: Option<webpki::Error> = None;
    for t in times {
        match path::build(leaf, pool, roots, t, algs) {
            Ok(b) => {
                built = Some(b);
                break;
            }
            Err(e) => {
                if error.as_ref().is_none_or(path::is_time) {
                    error = Some(e);
                }
            }
        }
    }
    let chain_check = match (&built, &error) {
        (Some(b), _) => Check::pass(format!(
            "{} certificate{} to {}",
            b.certs.len(),
            if b.certs.len() == 1 { "" } else { "s" },
            b.certs.last().map_or("", |c| c.subject.as_str())
        )),
        (None, Some(e)) if path::is_time(e) => {
            Check::fail("no time at which every certificate of the path is valid".into())
        }
        (None, Some(e)) => Check::fail(path::describe(e, roots)),
        (None, None) => Check::fail("no path".into()),
    };
    let dates = instants
        .iter()
        .map(|&t| {
            let problem = match &built {
                Some(b) => match path::build(leaf, pool, roots, t, algs) {
                    Ok(_) => None,
                    Err(e) if path::is_time(&e) => {
                        let list: Vec<String> =
                            b.dated.iter().filter_map(|f| f.invalid_at(t)).collect();
                        Some(if list.is_empty() {
                            path::describe(&e, roots)
                        } else {
                            list.join("; ")
                        })
                    }
                    Err(e) => Some(path::describe(&e, roots)),
                },
                None => leaf_facts.as_ref().and_then(|f| f.invalid_at(t)),
            };
            (t, problem)
        })
        .collect();
    Attempt {
        built,
        chain: chain_check,
        dates,
    }
}

/// `Check` over several instants: holds when it holds at each; the
/// detail says at which instant it does not.
pub(super) fn over(instants: &[i64], mut f: impl FnMut(i64) -> Check) -> Check {
    let results: Vec<(i64, Check)> = instants.iter().map(|&t| (t, f(t))).collect();
    let ok = results.iter().all(|(_, c)| c.ok);
    let same = results.windows(2).all(|w| w[0].1 == w[1].1);
    let detail = if same || results.len() == 1 {
        results
            .first()
            .map(|(_, c)| c.detail.clone())
            .unwrap_or_default()
    } else {
        results
            .iter()
            .filter(|(_, c)| c.ok == ok)
            .map(|(t, c)| format!("on {}: {}", day(*t), c.detail))
            .collect::<Vec<_>>()
            .join("; ")
    };
    Check { ok, detail }
}

pub(super) fn day(t: i64) -> String {
    crate::clock::rfc3339(t).chars().take(10).collect()
}
