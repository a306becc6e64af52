//! The verbs that only read and write files: from-file, backup-key,
//! render (check-cert has its own file).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use attestgate_pins::spki::{self, Found, Origin};
use attestgate_pins::{backup, render as platform};

use super::{EXIT_USAGE, load, print_json};

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

/// `pins staging-cert --ca DIR --name NAME... --out STEM [--key FILE] [--days N]`
pub(super) fn staging_cert(
    ca: &Path,
    names: &[String],
    out: &Path,
    key: Option<&Path>,
    days: u32,
) -> ExitCode {
    if days == 0 || days > 398 {
        eprintln!(
            "attestgate pins staging-cert: --days {days}: give 1 to 398 (Apple refuses longer)"
        );
        return ExitCode::from(EXIT_USAGE);
    }
    match attestgate_pins::staging::issue(ca, names, key, out, days) {
        Ok(i) => {
            println!("{}", i.pin);
            let ca_note = if i.new_ca { "made now" } else { "found" };
            match &i.key_file {
                Some(k) => eprintln!(
                    "wrote {} and {} (new key), issued by {} ({ca_note}; trust it only in tests)",
                    i.cert_file.display(),
                    k.display(),
                    i.ca_file.display()
                ),
                None => eprintln!(
                    "wrote {} for the key you gave, issued by {} ({ca_note}; trust it only in tests)",
                    i.cert_file.display(),
                    i.ca_file.display()
                ),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("attestgate pins staging-cert: {e}");
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
