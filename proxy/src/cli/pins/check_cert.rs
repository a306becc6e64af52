//! `pins check-cert`: would apps shipped with these pins accept this
//! chain? The judging is `attestgate_pins::check::platform`; this file
//! reads the inputs and prints a table: platform × (chain, date, name,
//! pins), then each platform's reason.

use std::process::ExitCode;

use attestgate_pins::check::platform::{self, Judgement, PinSet, Verdict};
use attestgate_pins::fetch::{self, ChainCert};
use attestgate_pins::{Domain, PinsFile, clock, spki};

use super::{CheckCertArgs, EXIT_USAGE, load, now_from, print_json};

/// The domain of `file` that `host` falls under: its own, or one that
/// includes its subdomains.
fn domain_for<'a>(file: &'a PinsFile, host: &str) -> Option<&'a Domain> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    file.domain(&host).or_else(|| {
        file.domains.iter().find(|d| {
            d.include_subdomains
                && host
                    .strip_suffix(d.name.as_str())
                    .is_some_and(|p| p.len() > 1 && p.ends_with('.'))
        })
    })
}

fn read_chain(paths: &[std::path::PathBuf]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for path in paths {
        let ders = spki::read_certificates(path).map_err(|e| format!("{}: {e}", path.display()))?;
        out.extend(ders);
    }
    Ok(out)
}

fn cell(ok: bool) -> &'static str {
    if ok { "ok" } else { "FAIL" }
}

fn print_table(chain: &[Vec<u8>], j: &Judgement) {
    println!("chain as given:");
    for (i, der) in chain.iter().enumerate() {
        let c = ChainCert::from_der(i, der);
        let subject = c.info.as_ref().map_or("(unparsed)", |i| i.subject.as_str());
        let after = c.info.as_ref().map_or("", |i| i.not_after_text.as_str());
        let pin = c.pin.map_or_else(|| c.key.clone(), |p| p.to_base64());
        println!("  #{i} {subject}  notAfter {after}  {pin}");
    }
    let mut paths: Vec<(Vec<&str>, &Verdict)> = Vec::new();
    for v in j.verdicts.iter().filter(|v| !v.path.is_empty()) {
        match paths.iter_mut().find(|(_, w)| w.path == v.path) {
            Some((names, _)) => names.push(v.platform.as_str()),
            None => paths.push((vec![v.platform.as_str()], v)),
        }
    }
    for (names, v) in &paths {
        let steps: Vec<String> = v
            .path
            .iter()
            .map(|c| format!("{} {}", c.role.as_str(), c.subject))
            .collect();
        println!("path built ({}): {}", names.join(", "), steps.join(" -> "));
    }
    let when: Vec<String> = j
        .instants
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let day: String = clock::rfc3339(*t).chars().take(10).collect();
            if i == 0 {
                format!("now ({day})")
            } else {
                format!("{day} (--at)")
            }
        })
        .collect();
    println!("roots: {}; judged {}", j.roots, when.join(" and "));
    println!();
    println!(
        "{:<10} {:<6} {:<6} {:<6} {:<6} verdict",
        "platform", "chain", "date", "name", "pins"
    );
    for v in &j.verdicts {
        println!(
            "{:<10} {:<6} {:<6} {:<6} {:<6} {}",
            v.platform.as_str(),
            cell(v.chain.ok),
            cell(v.date.ok),
            cell(v.name.ok),
            cell(v.pins.ok),
            if v.accepts { "accepts" } else { "REFUSES" }
        );
    }
    println!();
    for v in &j.verdicts {
        println!(
            "{:<10} {}: {}",
            v.platform.as_str(),
            if v.accepts { "accepts" } else { "REFUSES" },
            v.reason
        );
    }
}

/// `pins check-cert --config pins.toml --domain NAME CERT... [--at DATE]
/// [--ca-file F] [--aia-issuer F]... [--today D] [--json]`: exit 0 when
/// every platform accepts, 1 when one refuses, 2 for unusable input.
pub(super) fn check_cert(args: &CheckCertArgs) -> ExitCode {
    let usage = |m: String| {
        eprintln!("attestgate pins check-cert: {m}");
        ExitCode::from(EXIT_USAGE)
    };
    let now = match now_from(args.today.as_deref()) {
        Ok(n) => n,
        Err(e) => return usage(e),
    };
    let mut instants = vec![now];
    if let Some(at) = &args.at {
        match clock::parse_instant(at, now) {
            Some(t) => instants.push(t),
            None => return usage(format!("--at {at:?}: write YYYY-MM-DD or +DURATION (+14d)")),
        }
    }
    let Some(file) = load(&args.config) else {
        return ExitCode::from(EXIT_USAGE);
    };
    let Some(domain) = domain_for(&file, &args.domain) else {
        return usage(format!(
            "{}: no [[domain]] named {:?} or including it as a subdomain (it has: {})",
            args.config.display(),
            args.domain,
            file.domains
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    let chain = match read_chain(&args.certs) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let fetched = match read_chain(&args.aia_issuer) {
        Ok(c) => c,
        Err(e) => return usage(format!("--aia-issuer {e}")),
    };
    let ca_file = args.ca_file.as_deref().or(domain.ca_file.as_deref());
    let roots = match fetch::load_roots(ca_file) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    let host = args.domain.trim_end_matches('.').to_ascii_lowercase();
    let j = platform::judge(
        &chain,
        &PinSet::from(domain),
        &host,
        &instants,
        &roots,
        &fetched,
    );
    if args.json {
        let given: Vec<ChainCert> = chain
            .iter()
            .enumerate()
            .map(|(i, d)| ChainCert::from_der(i, d))
            .collect();
        let value = serde_json::json!({
            "domain": domain.name,
            "host": j.host,
            "accepted": j.accepted(),
            "roots": j.roots,
            "instants": j.instants,
            "verdicts": j.verdicts,
            "chain": given,
        });
        if !print_json(&value) {
            return ExitCode::FAILURE;
        }
    } else {
        print_table(&chain, &j);
        let refusing: Vec<&str> = j.refusing().map(|v| v.platform.as_str()).collect();
        if refusing.is_empty() {
            println!("ok: apps with these pins accept this chain for {host}");
        } else {
            println!(
                "NO: {} would refuse this chain for {host}: do not deploy it",
                refusing.join(", ")
            );
        }
    }
    if j.accepted() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
