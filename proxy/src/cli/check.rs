//! `attestgate check-config [--offline]`: everything `serve` checks before
//! it listens, all at once; exit 0, or exit 2 listing every problem.
//!
//! `--offline` is for CI validating a config away from where it runs (the
//! secrets in a Kubernetes Secret or a vault, the upstreams' names in the
//! cluster's DNS): secret references by `env` or `file` are checked for
//! shape but never read, upstream names are not resolved (unless
//! `[server] hosts_file` names them: that file is read, as online), and
//! the rest of the checks run with stand-ins in their place. The stand-ins
//! exist only inside this check; nothing is served with them.

use std::path::Path;
use std::process::ExitCode;

use attestgate::{Secret, SecretSource};
use attestgate_config::{Config, Upstream};
use base64::Engine;

use super::EXIT_CONFIG;

/// Runs the check on `path`.
pub(super) fn check_config(path: &Path, offline: bool) -> ExitCode {
    let loaded = if offline {
        Config::load_offline(path)
    } else {
        Config::load(path)
    };
    let config = match loaded {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let (checked, unread) = if offline {
        with_stand_ins(&config)
    } else {
        (config.clone(), 0)
    };
    // Everything serve checks before it listens, all at once.
    let problems = crate::server::check_serve(&checked);
    if !problems.is_empty() {
        for p in problems {
            eprintln!("{}: {p}", path.display());
        }
        return ExitCode::from(EXIT_CONFIG);
    }
    for w in &config.warnings {
        eprintln!("warning: {}: {w}", path.display());
    }
    let keys = match &config.token {
        Some(t) => format!(
            "{} secret{}{}",
            t.secrets.len(),
            plural(t.secrets.len()),
            if t.jwks.is_some() { " and a JWKS" } else { "" }
        ),
        None => "no token checks".to_owned(),
    };
    let offline = if offline {
        format!(
            "; offline: {unread} secret{} by env or file not read",
            plural(unread)
        )
    } else {
        String::new()
    };
    println!(
        "{}: ok ({} route{}, {keys}{offline})",
        path.display(),
        config.routes.len(),
        plural(config.routes.len()),
    );
    ExitCode::SUCCESS
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A copy of `config` whose env and file secrets are replaced by inline
/// stand-ins (a well-formed 64-byte account secret, a placeholder value),
/// and how many were replaced; without a hosts file, upstream names stand
/// as 127.0.0.1, so nothing is looked up.
fn with_stand_ins(config: &Config) -> (Config, usize) {
    let mut copy = config.clone();
    let mut unread = 0;
    let account = base64::engine::general_purpose::STANDARD.encode([0x5a_u8; 64]);
    let mut stand_in = |source: &mut SecretSource, value: &str| {
        if !matches!(source, SecretSource::Value(_)) {
            *source = SecretSource::Value(Secret::new(value.as_bytes().to_vec()));
            unread += 1;
        }
    };
    if let Some(token) = copy.token.as_mut() {
        for s in &mut token.secrets {
            stand_in(&mut s.base64, &account);
        }
    }
    let resolve_names = copy.server.hosts_file.is_some();
    for route in &mut copy.routes {
        if let Upstream::Http { host, .. } = &mut route.upstream
            && !resolve_names
            && host.parse::<std::net::IpAddr>().is_err()
        {
            *host = "127.0.0.1".to_owned();
        }
        for s in &mut route.substitute {
            stand_in(&mut s.secret, "offline-stand-in");
        }
    }
    (copy, unread)
}
