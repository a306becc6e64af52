//! The verbs that connect: fetch, lint (its backup rule), check.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use attestgate_pins::check::{self, DomainCheck};
use attestgate_pins::fetch::{self, Chain, Outcome, Report, Target};
use attestgate_pins::lint as rules;

use super::progress::{Progress, count};
use super::{EXIT_USAGE, FetchArgs, load, now_from, print_json, runtime};

/// `HOST`, `HOST:PORT`, `[V6]:PORT`.
fn host_port(text: &str) -> Option<(String, u16)> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some((addr.ip().to_string(), addr.port()));
    }
    if text.parse::<std::net::IpAddr>().is_ok() {
        return Some((text.to_owned(), 443));
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => port
            .parse()
            .ok()
            .filter(|&p| p > 0)
            .map(|p| (host.to_owned(), p)),
        Some(_) => None,
        None => (!text.is_empty()).then(|| (text.to_owned(), 443)),
    }
}

fn print_chain(chain: &Chain) {
    for c in &chain.certs {
        match &c.info {
            Some(i) => {
                println!(
                    "  #{} {}{}",
                    c.position,
                    i.subject,
                    if i.is_ca { " [CA]" } else { "" }
                );
                println!(
                    "     issuer {}  notAfter {}  {}",
                    i.issuer, i.not_after_text, c.key
                );
            }
            None => println!("  #{} (does not parse)", c.position),
        }
        match c.pin {
            Some(p) => println!("     pin {p}"),
            None => println!("     no pin: {}", c.key),
        }
    }
    if chain.served > chain.certs.len() {
        println!(
            "  … {} more not shown (the server sent {})",
            chain.served - chain.certs.len(),
            chain.served
        );
    }
}

fn print_report(report: &Report) {
    let n = report.addresses.len();
    println!(
        "{} (SNI {}): {n} address{}{}",
        report.host,
        report.servername,
        if n == 1 { "" } else { "es" },
        if report.differs {
            "; their chains DIFFER"
        } else {
            ""
        }
    );
    if let Some(e) = &report.resolve_error {
        println!("  {e}");
    }
    for a in &report.addresses {
        match &a.outcome {
            Outcome::Error(e) => println!("{}: no chain: {e}", a.address),
            Outcome::Chain(c) => {
                let group = a
                    .chain_group
                    .map(|g| format!(" chain {}", char::from(b'A' + (g % 26) as u8)));
                let valid = match &c.invalid {
                    None => "validates".to_owned(),
                    Some(r) => format!("does NOT validate: {r}"),
                };
                println!("{}:{} {valid}", a.address, group.unwrap_or_default());
                if let Some(h) = &c.handshake_error {
                    println!("  (handshake then failed: {h})");
                }
                print_chain(c);
            }
        }
    }
}

/// `pins fetch HOST[:PORT] [--servername NAME] [--address IP:PORT]... [--json]`:
/// exit 0 when every address served a chain, 1 otherwise.
pub(super) fn fetch(args: &FetchArgs) -> ExitCode {
    let usage = |m: String| {
        eprintln!("attestgate pins fetch: {m}");
        ExitCode::from(EXIT_USAGE)
    };
    let Some((host, port)) = host_port(args.target.trim()) else {
        return usage(format!("{:?}: write HOST or HOST:PORT", args.target));
    };
    let mut addresses = Vec::new();
    for a in &args.addresses {
        match a.parse::<SocketAddr>() {
            Ok(addr) => addresses.push(addr),
            Err(_) => match a.parse::<std::net::IpAddr>() {
                Ok(ip) => addresses.push(SocketAddr::new(ip, port)),
                Err(_) => return usage(format!("--address {a:?}: write IP:PORT")),
            },
        }
    }
    let Ok(timeout) = humantime_like(&args.timeout) else {
        return usage(format!(
            "--timeout {:?}: write it like 10s or 500ms",
            args.timeout
        ));
    };
    let target = Target {
        servername: args.servername.clone().unwrap_or_else(|| host.clone()),
        host,
        port,
        addresses,
        ca_file: args.ca_file.clone(),
        timeout,
    };
    let roots = match fetch::load_roots(target.ca_file.as_deref()) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let progress = Progress::new("fetch");
    let total = target.addresses.len();
    let mut done = 0;
    let report = rt.block_on(fetch::fetch_with(
        &target,
        &roots,
        &fetch::connection_limit(),
        &mut |address, outcome| {
            done += 1;
            let what = match outcome {
                Outcome::Chain(_) => "chain",
                Outcome::Error(_) => "no chain",
            };
            let total = if total == 0 { done } else { total };
            progress.step(done, total, &format!("{address}: {what}"));
        },
    ));
    if args.json {
        if !print_json(&report) {
            return ExitCode::FAILURE;
        }
    } else {
        print_report(&report);
    }
    let chains = report
        .addresses
        .iter()
        .filter(|a| matches!(a.outcome, Outcome::Chain(_)))
        .count();
    let groups = report
        .addresses
        .iter()
        .filter_map(|a| a.chain_group)
        .max()
        .map_or(0, |g| g + 1);
    progress.summary(&format!(
        "{}, {} served a chain ({})",
        count(report.addresses.len(), "address"),
        chains,
        count(groups, "distinct chain")
    ));
    let all_answered = report.resolve_error.is_none()
        && report
            .addresses
            .iter()
            .all(|a| matches!(a.outcome, Outcome::Chain(_)));
    if all_answered {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn humantime_like(text: &str) -> Result<std::time::Duration, ()> {
    let t = text.trim();
    let (number, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = number.parse().map_err(|_| ())?;
    let d = match unit {
        "ms" => std::time::Duration::from_millis(n),
        "s" | "" => std::time::Duration::from_secs(n),
        "m" => std::time::Duration::from_secs(n * 60),
        _ => return Err(()),
    };
    if d.is_zero() || d > std::time::Duration::from_secs(600) {
        Err(())
    } else {
        Ok(d)
    }
}

/// `pins lint --config pins.toml [--offline] [--today D] [--json]`
pub(super) fn lint(config: &Path, offline: bool, today: Option<&str>, json: bool) -> ExitCode {
    let now = match now_from(today) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("attestgate pins lint: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let Some(file) = load(config) else {
        return ExitCode::from(EXIT_USAGE);
    };
    let today = time::OffsetDateTime::from_unix_timestamp(now)
        .map(|t| t.date())
        .unwrap_or(time::Date::MIN);
    let mut summary = None;
    let served = if offline {
        eprintln!("lint: --offline: the backup rule (a pin in no chain served now) is not checked");
        None
    } else {
        let Some(rt) = runtime() else {
            return ExitCode::FAILURE;
        };
        let progress = Progress::new("lint");
        let total = file.domains.len();
        let mut done = 0;
        let reports = rt.block_on(fetch::fetch_domains(&file.domains, &mut |_, r| {
            done += 1;
            progress.step(
                done,
                total,
                &format!("{}: {}", r.host, count(r.addresses.len(), "address")),
            );
        }));
        let addresses: usize = reports.iter().map(|r| r.addresses.len()).sum();
        let unreachable = reports
            .iter()
            .map(|r| {
                usize::from(r.resolve_error.is_some())
                    + r.addresses
                        .iter()
                        .filter(|a| matches!(a.outcome, Outcome::Error(_)))
                        .count()
            })
            .sum::<usize>();
        summary = Some((
            progress,
            format!(
                "fetched {} at {} ({unreachable} without a chain)",
                count(total, "domain"),
                count(addresses, "address")
            ),
        ));
        let served: HashMap<String, Report> = file
            .domains
            .iter()
            .map(|d| d.name.clone())
            .zip(reports)
            .collect();
        Some(served)
    };
    let broken = rules::lint(&file, today, served.as_ref());
    if json {
        if !print_json(&serde_json::json!({"file": config, "broken": broken})) {
            return ExitCode::FAILURE;
        }
    } else if broken.is_empty() {
        println!(
            "{}: ok ({} domain{})",
            config.display(),
            file.domains.len(),
            if file.domains.len() == 1 { "" } else { "s" }
        );
    } else {
        for b in &broken {
            println!(
                "{}: {} ({}): {}: {}",
                config.display(),
                b.path,
                b.domain,
                b.rule.as_str(),
                b.message
            );
        }
    }
    if let Some((progress, line)) = summary {
        progress.summary(&line);
    }
    if broken.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_check(c: &DomainCheck) {
    println!("{}: {}", c.domain, if c.passed() { "ok" } else { "FAILED" });
    if let Some(e) = &c.error {
        println!("  {e}");
    }
    for a in &c.addresses {
        let expiry = a
            .expiry_seconds
            .map(|s| format!(", first expiry in {} days", s.div_euclid(86_400)))
            .unwrap_or_default();
        println!("  {} {}{expiry}", a.address, a.result.as_str());
        for f in &a.findings {
            println!("    {}", f.describe());
        }
    }
}

/// `pins check --config pins.toml [--json]`: exit 0 when every address of
/// every domain served a valid chain holding a pin.
pub(super) fn check(config: &Path, json: bool) -> ExitCode {
    let Some(file) = load(config) else {
        return ExitCode::from(EXIT_USAGE);
    };
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let progress = Progress::new("check");
    let total = file.domains.len();
    let mut done = 0;
    let results = rt.block_on(check::check_domains_with(
        &file.domains,
        crate::clock::unix_now(),
        &mut |_, c| {
            done += 1;
            let verdict = if c.passed() { "ok" } else { "FAILED" };
            progress.step(done, total, &format!("{}: {verdict}", c.domain));
        },
    ));
    let tally = |r: check::PinResult| {
        results
            .iter()
            .flat_map(|c| &c.addresses)
            .filter(|a| a.result == r)
            .count()
    };
    let summary = format!(
        "{} at {}: {} match, {} mismatch, {} error",
        count(total, "domain"),
        count(results.iter().map(|c| c.addresses.len()).sum(), "address"),
        tally(check::PinResult::Match),
        tally(check::PinResult::Mismatch),
        tally(check::PinResult::Error),
    );
    let passed = results.iter().all(DomainCheck::passed);
    if json {
        let value = serde_json::json!({"passed": passed, "domains": results});
        if !print_json(&value) {
            return ExitCode::FAILURE;
        }
    } else {
        for c in &results {
            print_check(c);
        }
    }
    progress.summary(&summary);
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
