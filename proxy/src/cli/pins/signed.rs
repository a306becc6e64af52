//! The signed pin config's verbs: signing-key, sign, verify (docs/PINNING.md,
//! "Signed pin configs").

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use attestgate_pins::signed::{self, PublicKey, Rules, SigAlg, SignOptions, SigningKey};

use super::{EXIT_USAGE, load};

/// `pins sign` arguments.
#[derive(clap::Args, Debug)]
pub struct SignArgs {
    /// The pins.toml whose domains and pins are published.
    #[arg(long, short)]
    pub config: PathBuf,
    /// The private signing key (PKCS#8 PEM or DER, EC P-256 or Ed25519).
    #[arg(long)]
    pub key: PathBuf,
    /// Key id written into the header.
    #[arg(long)]
    pub kid: String,
    /// The app id (`aud`).
    #[arg(long)]
    pub audience: String,
    /// Sequence number: raise it with every config you publish.
    #[arg(long)]
    pub seq: u64,
    /// Lifetime (`exp` = now + this), e.g. 14d.
    #[arg(long, default_value = "14d")]
    pub ttl: String,
    /// How often apps fetch it again (`refresh`), e.g. 1d.
    #[arg(long, default_value = "1d")]
    pub refresh: String,
    /// Kid of a key that will sign later configs (repeatable).
    #[arg(long = "next-kid", value_name = "KID")]
    pub next_kids: Vec<String>,
    /// Issue as of this Unix time instead of now (reproducible output).
    #[arg(long, value_name = "UNIX")]
    pub now: Option<i64>,
}

/// `pins verify` arguments.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The signed config (`-` reads standard input).
    pub file: PathBuf,
    /// An embedded public key, `PEM` or `KID=PEM` (repeatable). A key
    /// given without a kid answers to any kid.
    #[arg(long = "public-key", value_name = "[KID=]PEM", required = true)]
    pub public_keys: Vec<String>,
    /// This app's id.
    #[arg(long)]
    pub audience: String,
    /// The lowest seq accepted (the last accepted config's).
    #[arg(long, default_value_t = 0)]
    pub min_seq: u64,
    /// Judge `exp` as of this Unix time instead of now (test vectors).
    #[arg(long, value_name = "UNIX")]
    pub now: Option<i64>,
}

fn seconds(flag: &str, text: &str) -> Result<u64, String> {
    humantime::parse_duration(text.trim())
        .map(|d| d.as_secs())
        .ok()
        .filter(|&s| s > 0)
        .ok_or_else(|| format!("{flag} {text:?}: write a duration such as 14d, 12h or 3600s"))
}

/// `pins signing-key --out DIR [--name NAME] [--alg es256|eddsa]`
pub(super) fn signing_key(out: &Path, name: &str, alg: &str) -> ExitCode {
    let alg = match alg {
        "es256" => SigAlg::Es256,
        "eddsa" => SigAlg::EdDsa,
        other => {
            eprintln!("attestgate pins signing-key: --alg {other:?}: write es256 or eddsa");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        eprintln!("attestgate pins signing-key: --name {name:?}: a plain file name stem, please");
        return ExitCode::from(EXIT_USAGE);
    }
    match attestgate_pins::backup::write_signing_key(out, name, alg) {
        Ok((key, public)) => {
            println!("{}", public.display());
            eprintln!(
                "wrote {} (private: keep it on the offline machine that runs `pins sign`) and {} (embed it in the app)",
                key.display(),
                public.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("attestgate pins signing-key: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// `pins sign --config pins.toml --key signing.pem --kid KID --audience APP --seq N [--ttl 14d]`
pub(super) fn sign(args: &SignArgs) -> ExitCode {
    let usage = |m: String| {
        eprintln!("attestgate pins sign: {m}");
        ExitCode::from(EXIT_USAGE)
    };
    let (ttl, refresh) = match (
        seconds("--ttl", &args.ttl),
        seconds("--refresh", &args.refresh),
    ) {
        (Ok(t), Ok(r)) => (t, r),
        (Err(e), _) | (_, Err(e)) => return usage(e),
    };
    if args.kid.trim().is_empty() || args.audience.trim().is_empty() {
        return usage("--kid and --audience must not be empty".into());
    }
    let Some(file) = load(&args.config) else {
        return ExitCode::from(EXIT_USAGE);
    };
    let key = match SigningKey::from_file(&args.key, &args.kid) {
        Ok(k) => k,
        Err(e) => return usage(format!("--key {}: {e}", args.key.display())),
    };
    let options = SignOptions {
        audience: args.audience.clone(),
        seq: args.seq,
        iat: args.now.unwrap_or_else(crate::clock::unix_now),
        ttl: i64::try_from(ttl).unwrap_or(i64::MAX),
        refresh,
        next_kids: args.next_kids.clone(),
    };
    let payload = signed::payload_of(&file, &options);
    match signed::sign(&payload, &key) {
        Ok(jws) => {
            println!("{jws}");
            eprintln!(
                "signed seq {} for {} ({} domain{}), expires {}",
                payload.seq,
                args.audience,
                payload.domains.len(),
                if payload.domains.len() == 1 { "" } else { "s" },
                attestgate_pins::clock::rfc3339(payload.exp)
            );
            ExitCode::SUCCESS
        }
        Err(e) => usage(e.to_string()),
    }
}

fn read_jws(path: &Path) -> Result<String, String> {
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(signed::MAX_JWS_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("standard input: {e}"))?;
    } else {
        bytes = attestgate_pins::spki::read_bounded(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    // Too large or not text: the verifier says `malformed`.
    Ok(String::from_utf8(bytes).unwrap_or_default())
}

/// `pins verify FILE --public-key PEM --audience APP [--min-seq N]`
pub(super) fn verify(args: &VerifyArgs) -> ExitCode {
    let usage = |m: String| {
        eprintln!("attestgate pins verify: {m}");
        ExitCode::from(EXIT_USAGE)
    };
    let mut keys = Vec::new();
    for spec in &args.public_keys {
        let (kid, path) = match spec.split_once('=') {
            Some((kid, path)) if !kid.is_empty() && !Path::new(spec).exists() => (Some(kid), path),
            _ => (None, spec.as_str()),
        };
        match PublicKey::from_file(Path::new(path), kid) {
            Ok(k) => keys.push(k),
            Err(e) => return usage(format!("--public-key {path}: {e}")),
        }
    }
    let jws = match read_jws(&args.file) {
        Ok(j) => j,
        Err(e) => return usage(e),
    };
    let rules = Rules {
        keys: &keys,
        audience: &args.audience,
        min_seq: args.min_seq,
        now: args.now.unwrap_or_else(crate::clock::unix_now),
        allowed_kids: None,
    };
    match signed::verify(&jws, &rules) {
        Ok(v) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&v.payload_json).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(reason) => {
            println!("{reason}");
            eprintln!("refused: {}", reason.explain());
            ExitCode::FAILURE
        }
    }
}
