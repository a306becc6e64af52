//! `[[route.rate_limit]]`: read as written, then handed to the core, which
//! parses the spellings (`rate`, `key`) and checks the values
//! ([`attestgate::ratelimit::validate_rules`]); problems come back with
//! their key paths (`route[1].rate_limit[0].rate`).

use attestgate::Mode;
use attestgate::ratelimit::{
    DEFAULT_MEMORY_CAPACITY, LimitKey, LimitStoreKind, OnLimitStoreError, Rate, RateLimitRule,
};
use serde::Deserialize;

use crate::checker::Checker;

/// One `[[route.rate_limit]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateLimit {
    pub(crate) name: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) rate: Option<String>,
    pub(crate) burst: Option<i64>,
    pub(crate) store: Option<String>,
    pub(crate) redis_url: Option<String>,
    pub(crate) redis_timeout: Option<String>,
    pub(crate) on_store_error: Option<String>,
    pub(crate) memory_capacity: Option<i64>,
    pub(crate) mode: Option<String>,
}

/// The rules of route `i`; `has_token`: whether a `[token]` section exists
/// (limits are checked after the token decision, so they need one).
pub(crate) fn check(
    c: &mut Checker<'_>,
    i: usize,
    raw: Vec<RawRateLimit>,
    has_token: bool,
) -> Vec<RateLimitRule> {
    let at = format!("route[{i}].rate_limit");
    if !raw.is_empty() && !has_token {
        c.problem(
            at.clone(),
            "rate limits are checked after the token decision; add a [token] section (a route may still have token = \"off\")",
        );
    }
    let mut rules = Vec::new();
    for (j, r) in raw.into_iter().enumerate() {
        let key_at = |k: &str| format!("{at}[{j}].{k}");
        let missing = |c: &mut Checker<'_>, k: &str, example: &str| {
            c.problem(key_at(k), format!("missing; e.g. {k} = {example}"));
        };
        let name = r.name.unwrap_or_else(|| {
            missing(c, "name", "\"per-device\" (the `limit` metric label)");
            format!("limit-{j}")
        });
        let key = match r.key.as_deref().map(LimitKey::parse) {
            Some(Ok(k)) => Some(k),
            Some(Err(why)) => {
                c.problem(key_at("key"), why);
                None
            }
            None => {
                missing(c, "key", "\"claim:did\"");
                None
            }
        };
        let rate = match r.rate.as_deref().map(Rate::parse) {
            Some(Ok(rate)) => Some(rate),
            Some(Err(why)) => {
                c.problem(key_at("rate"), why);
                None
            }
            None => {
                missing(c, "rate", "\"120/min\"");
                None
            }
        };
        let burst = match r.burst {
            Some(b) => u32::try_from(b).unwrap_or(0),
            None => {
                missing(c, "burst", "30 (requests a device may make at once)");
                1
            }
        };
        // A table with a bad key or rate is still checked whole (every
        // problem is listed), with stand-ins the file then fails on anyway.
        let mut rule = RateLimitRule::new(
            &name,
            key.unwrap_or(LimitKey::Ip),
            rate.unwrap_or(Rate {
                count: 1,
                period: std::time::Duration::from_secs(1),
            }),
            burst,
        );
        match r.store.as_deref() {
            None | Some("memory") => {}
            Some("redis") => rule.store = LimitStoreKind::Redis,
            Some(other) => c.problem(
                key_at("store"),
                format!("{other:?}: use \"memory\" or \"redis\""),
            ),
        }
        rule.redis_url = r.redis_url;
        rule.redis_timeout = c.duration(
            &key_at("redis_timeout"),
            r.redis_timeout.as_ref(),
            rule.redis_timeout,
        );
        match r.on_store_error.as_deref() {
            None | Some("allow") => {}
            Some("refuse") => rule.on_store_error = OnLimitStoreError::Refuse,
            Some(other) => c.problem(
                key_at("on_store_error"),
                format!("{other:?}: use \"allow\" or \"refuse\""),
            ),
        }
        rule.memory_capacity = match r.memory_capacity {
            Some(n) => u64::try_from(n).unwrap_or(0),
            None => DEFAULT_MEMORY_CAPACITY,
        };
        rule.mode = match r.mode.as_deref() {
            None => None,
            Some("enforce") => Some(Mode::Enforce),
            Some("monitor") => Some(Mode::Monitor),
            Some(other) => {
                c.problem(
                    key_at("mode"),
                    format!("{other:?}: use \"enforce\" or \"monitor\" (default: the route's)"),
                );
                None
            }
        };
        rules.push((j, rule));
    }
    // The core checks the values; its paths (`x[k].rate`) are mapped back
    // to the table's index in the file (a table skipped above keeps its
    // number).
    let (index, rules): (Vec<usize>, Vec<RateLimitRule>) = rules.into_iter().unzip();
    for p in attestgate::ratelimit::validate_rules(&rules, "x") {
        let mapped = p
            .path
            .strip_prefix("x[")
            .and_then(|rest| rest.split_once(']'))
            .and_then(|(k, rest)| Some((index.get(k.parse::<usize>().ok()?)?, rest)))
            .map(|(j, rest)| format!("{at}[{j}]{rest}"))
            .unwrap_or_else(|| at.clone());
        c.problem(mapped, p.message);
    }
    rules
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use attestgate::ratelimit::{LimitKey, LimitStoreKind, OnLimitStoreError};

    use crate::Config;

    const TOKEN: &str = "[token]\n[[token.secret]]\nbase64 = { value = \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg==\" }\n";

    fn route(limits: &str) -> String {
        format!("[[route]]\nname = \"api\"\nupstream = \"http://127.0.0.1:9\"\n{limits}")
    }

    fn problems(text: &str) -> Vec<String> {
        match Config::from_toml(text, Path::new("rl.toml")) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_route_reads_its_limits() {
        let text = format!(
            "{TOKEN}{}",
            route(
                "[[route.rate_limit]]\nname = \"per-device\"\nkey = \"claim:did\"\nrate = \"120/min\"\nburst = 30\n\
                 [[route.rate_limit]]\nname = \"fleet\"\nkey = \"header:X-Client\"\nrate = \"5/s\"\nburst = 1\nstore = \"redis\"\nredis_url = \"redis://127.0.0.1:6379\"\non_store_error = \"refuse\"\nredis_timeout = \"50ms\"\nmode = \"monitor\"\n"
            )
        );
        let cfg = Config::from_toml(&text, Path::new("rl.toml")).unwrap();
        let limits = &cfg.route("api").unwrap().rate_limits;
        assert_eq!(limits.len(), 2);
        assert_eq!(limits[0].key, LimitKey::Claim("did".into()));
        assert_eq!(limits[0].gcra().interval_us, 500_000);
        assert_eq!(limits[0].memory_capacity, 100_000);
        assert_eq!(limits[1].store, LimitStoreKind::Redis);
        assert_eq!(limits[1].on_store_error, OnLimitStoreError::Refuse);
        assert_eq!(limits[1].mode, Some(attestgate::Mode::Monitor));
    }

    #[test]
    fn every_mistake_names_its_key_path_and_the_fix() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "key = \"did\"\nrate = \"1/s\"\nburst = 1\nname = \"a\"",
                "rate_limit[0].key",
                "claim:NAME",
            ),
            (
                "key = \"ip\"\nrate = \"1/day\"\nburst = 1\nname = \"a\"",
                "rate_limit[0].rate",
                "120/min",
            ),
            (
                "key = \"ip\"\nrate = \"1/s\"\nburst = 0\nname = \"a\"",
                "rate_limit[0].burst",
                "1 to",
            ),
            (
                "key = \"ip\"\nrate = \"1/s\"\nname = \"a\"",
                "rate_limit[0].burst",
                "missing",
            ),
            (
                "key = \"ip\"\nrate = \"1/s\"\nburst = 1",
                "rate_limit[0].name",
                "missing",
            ),
            (
                "key = \"ip\"\nrate = \"1/s\"\nburst = 1\nname = \"a b\"",
                "rate_limit[0].name",
                "letters",
            ),
            (
                "key = \"ip\"\nrate = \"1/s\"\nburst = 1\nname = \"a\"\nstore = \"redis\"",
                "rate_limit[0].redis_url",
                "redis://",
            ),
            (
                "key = \"ip\"\nrate = \"1/s\"\nburst = 1\nname = \"a\"\nstore = \"disk\"",
                "rate_limit[0].store",
                "\"memory\"",
            ),
            (
                "key = \"ip\"\nrate = \"1/s\"\nburst = 1\nname = \"a\"\nredis_url = \"redis://x\"",
                "rate_limit[0].redis_url",
                "only with",
            ),
            (
                "key = \"ip\"\nrate = \"1/s\"\nburst = 1\nname = \"a\"\non_store_error = \"maybe\"",
                "rate_limit[0].on_store_error",
                "\"refuse\"",
            ),
            (
                "key = \"ip\"\nrate = \"1/s\"\nburst = 1\nname = \"a\"\nmemory_capacity = 0",
                "rate_limit[0].memory_capacity",
                "1 to",
            ),
            (
                "key = \"ip\"\nrate = \"1/s\"\nburst = 1\nname = \"a\"\nmode = \"off\"",
                "rate_limit[0].mode",
                "\"monitor\"",
            ),
            (
                "key = \"ip\"\nrate = \"1/s\"\nburst = 1\nname = \"a\"\nredis_timeout = \"0s\"",
                "rate_limit[0].redis_timeout",
                "above zero",
            ),
        ];
        for (table, path, fix) in cases {
            let text = format!(
                "{TOKEN}{}",
                route(&format!("[[route.rate_limit]]\n{table}\n"))
            );
            let found = problems(&text);
            assert!(
                found
                    .iter()
                    .any(|p| p.starts_with(&format!("route[0].{path}:")) && p.contains(fix)),
                "{table:?}: {found:?}"
            );
        }
        // unknown keys are errors; a second table with the same name too
        let found = problems(&format!(
            "{TOKEN}{}",
            route(
                "[[route.rate_limit]]\nkey = \"ip\"\nrate = \"1/s\"\nburst = 1\nname = \"a\"\nburts = 2\n"
            )
        ));
        assert!(found.iter().any(|p| p.contains("burts")), "{found:?}");
        let twice = "[[route.rate_limit]]\nkey = \"ip\"\nrate = \"1/s\"\nburst = 1\nname = \"a\"\n";
        let found = problems(&format!("{TOKEN}{}", route(&format!("{twice}{twice}"))));
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("route[0].rate_limit[1].name:")),
            "{found:?}"
        );
        // no [token]: limits come after the token decision
        let found = problems(&route(&format!("token = \"off\"\n{twice}")));
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("route[0].rate_limit:") && p.contains("[token]")),
            "{found:?}"
        );
    }
}
