//! From the raw file to the typed configuration: [`check_with`] runs every
//! section's checker in order and joins their problems; the sections that
//! need more than a few lines have their own file here (`server`, `token`,
//! `route`) or beside it (`limits`, `listeners`, `pins`, `policy`,
//! `signing`, `egress`, `headers`, `ratelimit`).

mod route;
mod server;
mod token;

use std::path::Path;
use std::time::Duration;

use crate::checker::Checker;
use crate::raw::RawConfig;
use crate::{AdminConfig, Config, Problem, TokenRequirement};

/// Default `[server] drain_delay`: long enough for Kubernetes endpoints and
/// cloud load balancers to stop sending (they learn of a terminating pod a
/// few seconds after it does), short enough that the defaults (5s + 20s
/// grace) fit Kubernetes' default 30s `terminationGracePeriodSeconds`.
pub const DEFAULT_DRAIN_DELAY: Duration = Duration::from_secs(5);

/// Default `[server] runtime_dir` when `$RUNTIME_DIRECTORY` is not set.
pub const DEFAULT_RUNTIME_DIR: &str = "/run/attestgate";

/// `offline`: secret references by env or file are checked for shape only.
pub(crate) fn check_with(
    raw: RawConfig,
    file: &Path,
    offline: bool,
) -> Result<Config, Vec<Problem>> {
    let base = file.parent().map(Path::to_owned).unwrap_or_default();
    let mut c = Checker {
        base: &base,
        problems: Vec::new(),
        warnings: Vec::new(),
        offline,
    };
    let server = server::check_server(&mut c, raw.server);
    let admin = raw.admin.and_then(|a| {
        c.addr("admin.listen", &a.listen)
            .map(|listen| AdminConfig { listen })
    });
    crate::listeners::check(&mut c, &server, admin.as_ref());
    let token = raw.token.map(|t| token::check_token(&mut c, t));
    let pins = raw.pins.map(|p| crate::pins::check(&mut c, p));
    let base = token.as_ref().map(|t| t.policy.clone());
    let mut routes = Vec::new();
    for (i, r) in raw.routes.into_iter().enumerate() {
        routes.push(route::check_route(
            &mut c,
            i,
            r,
            base.as_ref(),
            server.target_rules,
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, r) in routes.iter().enumerate() {
        if !seen.insert(r.name.clone()) {
            c.problem(
                format!("route[{i}].name"),
                format!(
                    "{:?} is used by an earlier route; names must be unique",
                    r.name
                ),
            );
        }
    }
    let mut matches = std::collections::HashSet::new();
    for (i, r) in routes.iter().enumerate() {
        if !matches.insert((r.host.clone(), r.path_prefix.clone())) {
            c.problem(
                format!("route[{i}].path_prefix"),
                format!(
                    "an earlier route already matches {} and path prefix {:?}; give this route another host or path_prefix, or remove one",
                    r.host
                        .as_deref()
                        .map_or_else(|| "any host".to_owned(), |h| format!("host {h:?}")),
                    r.path_prefix
                ),
            );
        }
    }
    if token.is_none()
        && let Some(i) = routes.iter().position(|r| r.token != TokenRequirement::Off)
    {
        c.problem(format!("route[{i}].token"), "the route requires a token but there is no [token] section; add one, or set token = \"off\"");
    }
    if c.problems.is_empty() {
        Ok(Config {
            path: file.to_owned(),
            server,
            admin,
            token,
            routes,
            pins,
            warnings: c.warnings,
        })
    } else {
        Err(c.problems)
    }
}

/// Turns a byte offset into 1-based line and column.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// TOML syntax and shape. The message never quotes the file's text.
pub(crate) fn parse(text: &str) -> Result<RawConfig, Problem> {
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
    serde_path_to_error::deserialize::<_, RawConfig>(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner();
        let message = format!(
            "{}{} ({})",
            in_user_words(inner.message().trim()),
            hint(inner.message()),
            located(inner)
        );
        Problem {
            path: if path == "." { "(file)".into() } else { path },
            message,
        }
    })
}

/// serde's type names in the words a user of the file knows.
fn in_user_words(message: &str) -> String {
    let mut m = message.to_owned();
    for (rust, user) in [
        ("expected i64", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected u16", "expected a whole number"),
        ("expected usize", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected a list"),
        ("expected a map", "expected a table"),
        ("expected struct", "expected a table"),
    ] {
        m = m.replace(rust, user);
    }
    m
}

/// How to write what was meant, for the mistakes people make: a duration
/// as a bare number, one address where a list is wanted.
fn hint(message: &str) -> &'static str {
    if message.starts_with("invalid type: integer") && message.contains("expected a string") {
        "; if this is a duration, write it as a string with a unit, like \"30s\" or \"500ms\""
    } else if message.starts_with("invalid type: string") && message.contains("expected a sequence")
    {
        "; write a list, like [\"127.0.0.1:8080\"]"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("a\nbc\nd", 0), (1, 1));
        assert_eq!(line_col("a\nbc\nd", 3), (2, 2));
        assert_eq!(line_col("a\nbc\nd", 5), (3, 1));
    }
}
