//! The policy keys, read the same way in `[token]` (over the core's
//! defaults) and in `[route.policy]` (over `[token]`'s values): each key
//! that is present replaces the base's value; the result is checked once by
//! the core ([`attestgate::Policy::validate`]).

use std::time::Duration;

use attestgate::{Alg, AlgSet, Policy};
use serde::Deserialize;

use crate::checker::Checker;

/// The policy keys as written (`[route.policy]`, and the same keys of
/// `[token]`).
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub(crate) header: Option<String>,
    pub(crate) prefix: Option<String>,
    pub(crate) mode: Option<String>,
    pub(crate) algorithms: Option<Vec<String>>,
    pub(crate) leeway: Option<String>,
    pub(crate) max_lifetime: Option<String>,
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Option<String>,
    pub(crate) binding_headers: Option<Vec<String>>,
    pub(crate) allow_missing_pay: Option<bool>,
    pub(crate) reject_status: Option<i64>,
    pub(crate) max_token_bytes: Option<i64>,
    pub(crate) query_param: Option<String>,
    pub(crate) message_signing: Option<crate::signing::RawMessageSigning>,
}

/// `base` with the keys of `raw` applied; problems are reported under `at`
/// (`token`, `route[2].policy`).
pub(crate) fn apply(c: &mut Checker<'_>, at: &str, raw: RawPolicy, base: &Policy) -> Policy {
    let key = |k: &str| format!("{at}.{k}");
    let mut p = base.clone();
    if let Some(h) = raw.header.as_deref()
        && let Some(h) = c.header(&key("header"), h)
    {
        p.header = h;
    }
    if let Some(prefix) = raw.prefix {
        p.prefix = prefix;
    }
    p.mode = c.mode(&key("mode"), raw.mode.as_deref(), base.mode);
    if let Some(list) = raw.algorithms {
        if list.is_empty() {
            c.problem(
                key("algorithms"),
                "empty; list at least one, e.g. [\"HS256\"]",
            );
        }
        let mut set = AlgSet::EMPTY;
        for (i, name) in list.iter().enumerate() {
            match Alg::from_name(name) {
                Some(alg) => set = set.with(alg),
                None => {
                    let supported: Vec<&str> = Alg::ALL.iter().map(|a| a.as_str()).collect();
                    c.problem(
                        format!("{at}.algorithms[{i}]"),
                        format!(
                            "{name:?} is not supported; use some of {}",
                            supported.join(", ")
                        ),
                    );
                }
            }
        }
        if !set.is_empty() {
            p.algorithms = Some(set);
        }
    }
    p.leeway = c.duration(&key("leeway"), raw.leeway.as_ref(), base.leeway);
    if let Some(v) = raw.max_lifetime.as_ref() {
        p.max_lifetime = Some(c.duration(&key("max_lifetime"), Some(v), Duration::ZERO));
    }
    if raw.issuer.is_some() {
        p.issuer = raw.issuer;
    }
    if raw.audience.is_some() {
        p.audience = raw.audience;
    }
    if let Some(list) = raw.binding_headers {
        p.binding_headers = list
            .iter()
            .enumerate()
            .filter_map(|(i, h)| c.header(&format!("{at}.binding_headers[{i}]"), h))
            .collect();
    }
    if let Some(allow) = raw.allow_missing_pay {
        p.allow_missing_pay = allow;
    }
    if let Some(status) = raw.reject_status {
        let s = c.int_in(&key("reject_status"), Some(status), 400, 599, 401);
        if let Ok(s) = http::StatusCode::from_u16(s as u16) {
            p.reject_status = s;
        }
    }
    // The range is the core's (Policy::validate below).
    if let Some(n) = raw.max_token_bytes {
        match usize::try_from(n) {
            Ok(n) => p.max_token_bytes = n,
            Err(_) => c.problem(
                key("max_token_bytes"),
                format!("{n} is not a size; use a positive number of bytes"),
            ),
        }
    }
    if raw.query_param.is_some() {
        p.query_param = raw.query_param;
    }
    if let Some(ms) = raw.message_signing {
        let base = p.message_signing.take().unwrap_or_default();
        p.message_signing = Some(crate::signing::apply(c, &key("message_signing"), ms, base));
    }
    for problem in p.validate(at) {
        c.problem(problem.path, problem.message);
    }
    p
}
