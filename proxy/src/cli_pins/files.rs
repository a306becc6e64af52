//! The verbs that only read and write files: from-file, backup-key,
//! render, check-cert.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use attestgate_pins::fetch::ChainCert;
use attestgate_pins::spki::{self, Found, Origin};
use attestgate_pins::{backup, check, render as platform};

use super::{CheckCertArgs, EXIT_USAGE, load, now_from, print_json};

fn describe(found: &Found) -> String {
    match &found.origin {
        Origin::Certificate(c) => format!(
            "certificate {}{} (issuer {}, notAfter {}), {}",
            c.subject,
            if c.is_ca { " [CA]" } else { "" },
            c.issuer,
            c.not_after_text,
            found.key
        ),
        Origin::Csr { subject } => format!("certificate request {subject}, {}", found.key),
        Origin::PublicKey => format!("public key, {}", found.key),
        Origin::PrivateKey { format } => {
            format!("private key ({format}), {}: its public key", found.key)
        }
    }
}

/// `pins from-file FILE... [--json]`
pub(super) fn from_file(files: &[PathBuf], json: bool) -> ExitCode {
    let mut failed = false;
    let mut entries = Vec::new();
    for file in files {
        match spki::read_file(file) {
            Ok(found) => {
                if !json {
                    println!("{}", file.display());
                    for (i, f) in found.iter().enumerate() {
                        println!("  #{i} {}", describe(f));
                        println!("     {}", f.pin);
                    }
                }
                entries.push(serde_json::json!({"file": file, "keys": found}));
            }
            Err(e) => {
                failed = true;
                eprintln!("{}: {e}", file.display());
                entries.push(serde_json::json!({"file": file, "error": e.to_string()}));
            }
        }
    }
    if json && !print_json(&entries) {
        return ExitCode::FAILURE;
    }
    if failed {
        ExitCode::from(EXIT_USAGE)
    } else {
        ExitCode::SUCCESS
    }
}

/// `pins backup-key --out DIR [--alg p256|rsa2048] [--subject CN]`
pub(super) fn backup_key(out: &Path, alg: &str, subject: &str, name: &str) -> ExitCode {
    let Some(alg) = backup::KeyAlg::from_name(alg) else {
        eprintln!("attestgate pins backup-key: --alg {alg:?}: write p256 or rsa2048");
        return ExitCode::from(EXIT_USAGE);
    };
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        eprintln!("attestgate pins backup-key: --name {name:?}: a plain file name stem, please");
        return ExitCode::from(EXIT_USAGE);
    }
    match backup::write_backup_key(out, name, alg, subject) {
        Ok(k) => {
            println!("{}", k.pin);
            eprintln!(
                "wrote {} (private: keep it offline until the certificate is issued) and {} (send it to your CA when you rotate)",
                k.key_file.display(),
                k.csr_file.display()
            );
            eprintln!(
                "add to pins.toml:  {{ file = \"{}\", label = \"backup\" }}",
                k.csr_file.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("attestgate pins backup-key: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// `pins render --config pins.toml --format F`
pub(super) fn render(config: &Path, format: &str) -> ExitCode {
    let Some(format) = platform::Format::from_name(format) else {
        eprintln!(
            "attestgate pins render: --format {format:?}: write android, ios, okhttp, trustkit or json"
        );
        return ExitCode::from(EXIT_USAGE);
    };
    let Some(file) = load(config) else {
        return ExitCode::from(EXIT_USAGE);
    };
    match platform::render(&file, format) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("attestgate pins render: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// `pins check-cert --config pins.toml --domain NAME CERT...`
pub(super) fn check_cert(args: &CheckCertArgs) -> ExitCode {
    let now = match now_from(args.today.as_deref()) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("attestgate pins check-cert: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let Some(file) = load(&args.config) else {
        return ExitCode::from(EXIT_USAGE);
    };
    let Some(domain) = file.domain(&args.domain) else {
        eprintln!(
            "{}: no [[domain]] named {:?} (it has: {})",
            args.config.display(),
            args.domain,
            file.domains
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return ExitCode::from(EXIT_USAGE);
    };
    let mut chain = Vec::new();
    for path in &args.certs {
        match spki::read_certificates(path) {
            Ok(ders) => {
                for der in ders {
                    chain.push(ChainCert::from_der(chain.len(), &der));
                }
            }
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    let result = check::check_cert(domain, &chain, now);
    if args.json {
        let value = serde_json::json!({
            "domain": result.domain,
            "accepted": result.accepted(),
            "verdicts": result.verdicts,
            "warnings": result.warnings,
            "chain": chain,
        });
        if !print_json(&value) {
            return ExitCode::FAILURE;
        }
    } else {
        for c in &chain {
            let subject = c.info.as_ref().map_or("(unparsed)", |i| i.subject.as_str());
            let pin = c.pin.map_or_else(|| c.key.clone(), |p| p.to_base64());
            println!("#{} {subject}  {pin}", c.position);
        }
        for v in &result.verdicts {
            println!(
                "{:<9} {}  {}",
                v.platform,
                if v.accepts { "accepts" } else { "REFUSES" },
                v.reason
            );
        }
        for w in &result.warnings {
            println!("warning: {w}");
        }
        println!(
            "{}",
            if result.accepted() {
                format!(
                    "ok: apps with these pins accept this chain for {}",
                    domain.name
                )
            } else {
                format!(
                    "NO: apps with these pins would refuse this chain for {}: do not deploy it",
                    domain.name
                )
            }
        );
    }
    if result.accepted() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
