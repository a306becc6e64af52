//! `attestgate pins ...`: the pinning kit's verbs (docs/PINNING.md). The work
//! is in the `attestgate-pins` crate; this folder parses arguments and
//! prints: `files` for the offline verbs, `live` for those that connect.
//!
//! Exit status: 0 yes / clean, 1 no / rules broken / a chain without a
//! pin, 2 when the inputs themselves cannot be used (a file that does not
//! load, a bad argument).

mod check_cert;
mod ct_watch;
mod files;
mod live;
mod progress;
mod signed;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

/// Exit status when the inputs cannot be used.
pub const EXIT_USAGE: u8 = 2;

/// `attestgate pins ...`
#[derive(Subcommand, Debug)]
pub enum PinsCommand {
    /// Connect to every address of HOST (A and AAAA, or --address) with SNI
    /// and list each address's chain: position, subject, issuer, notAfter,
    /// SPKI SHA-256 pin; addresses whose chains differ are flagged.
    Fetch(FetchArgs),
    /// SPKI SHA-256 pins of certificates, chains, CSRs, public and private
    /// keys (PEM or DER; PKCS#8, SEC1, PKCS#1).
    FromFile {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// A new key pair and CSR for a certificate not yet in service; prints
    /// its pin (ship it now as the backup pin).
    BackupKey {
        /// Directory for NAME.key (mode 0600) and NAME.csr.
        #[arg(long)]
        out: PathBuf,
        /// Key algorithm: p256 or rsa2048.
        #[arg(long, default_value = "p256")]
        alg: String,
        /// Subject CN of the CSR (also its DNS name when it is a host name).
        #[arg(long, default_value = "backup")]
        subject: String,
        /// File name stem.
        #[arg(long, default_value = "backup")]
        name: String,
    },
    /// A server certificate from a staging CA (made in --ca on first use),
    /// for rehearsals and tests: for a new key, or for --key (a backup key
    /// going into service). Prints its pin. Trust the CA only in tests.
    StagingCert {
        /// Directory of the staging CA (ca.pem, ca.key).
        #[arg(long)]
        ca: PathBuf,
        /// A host name or IP address for the certificate (repeatable).
        #[arg(long = "name", required = true)]
        names: Vec<String>,
        /// Writes OUT.pem (and OUT.key when no --key is given).
        #[arg(long)]
        out: PathBuf,
        /// Certify this private key (PEM) instead of a new one.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Days of validity (at most 398, as public CAs).
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// Check a pins.toml against the rules; exit 0, or 1 listing every rule
    /// broken. Fetches the live chains for the backup rule unless --offline.
    Lint {
        /// The pins.toml.
        #[arg(long, short)]
        config: PathBuf,
        /// Do not connect: skip the rule that needs the live chains.
        #[arg(long)]
        offline: bool,
        /// Judge `expires` as of this day (YYYY-MM-DD) instead of today.
        #[arg(long, value_name = "YYYY-MM-DD")]
        today: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Print the platform config: android, ios, okhttp, trustkit or json.
    Render {
        /// The pins.toml.
        #[arg(long, short)]
        config: PathBuf,
        /// android | ios | okhttp | trustkit | json
        #[arg(long)]
        format: String,
    },
    /// Live: every domain at every address; exit 0 when every served chain
    /// validates and holds a pin, 1 otherwise.
    Check {
        /// The pins.toml.
        #[arg(long, short)]
        config: PathBuf,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Would apps shipped with these pins accept this (new) chain? Exit 0
    /// yes (every platform), 1 no. Run it before a rotation.
    CheckCert(CheckCertArgs),
    /// A new key pair for signing pin configs: NAME.key (offline) and
    /// NAME.pub.pem (embedded in the app).
    SigningKey {
        /// Directory for the files.
        #[arg(long)]
        out: PathBuf,
        /// File name stem (use the kid).
        #[arg(long, default_value = "pins-signing")]
        name: String,
        /// es256 or eddsa.
        #[arg(long, default_value = "es256")]
        alg: String,
    },
    /// Sign a pin config offline (compact JWS, typ attestgate-pins+jwt);
    /// prints it.
    Sign(signed::SignArgs),
    /// The reference verifier: print the payload as JSON and exit 0, or the
    /// reason and exit 1.
    Verify(signed::VerifyArgs),
    /// Watch Certificate Transparency logs for certificates of the names in
    /// pins.toml, judged against every pin set shipped apps carry. A
    /// daemon, or --once: exit 0 nothing to report, 1 a would_break /
    /// unknown_issuer certificate or a misbehaving log, 2 bad input, 3 a
    /// log could not be read.
    CtWatch(ct_watch::CtWatchArgs),
}

/// `pins fetch` arguments.
#[derive(Args, Debug)]
pub struct FetchArgs {
    /// HOST or HOST:PORT (default port 443).
    pub target: String,
    /// SNI to send (default: HOST).
    #[arg(long)]
    pub servername: Option<String>,
    /// Connect here instead of resolving HOST (repeatable).
    #[arg(long = "address", value_name = "IP:PORT")]
    pub addresses: Vec<String>,
    /// Validate against these roots instead of the system's.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Connect + handshake limit per address.
    #[arg(long, default_value = "10s")]
    pub timeout: String,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `pins check-cert` arguments.
#[derive(Args, Debug)]
pub struct CheckCertArgs {
    /// The pins.toml.
    #[arg(long, short)]
    pub config: PathBuf,
    /// The host to judge: a domain of pins.toml, or a name below one with
    /// include_subdomains.
    #[arg(long)]
    pub domain: String,
    /// The new chain: certificate files (PEM or DER), leaf first.
    #[arg(required = true)]
    pub certs: Vec<PathBuf>,
    /// The planned deployment: the chain must be valid then too
    /// (YYYY-MM-DD, or +DURATION from now such as +14d).
    #[arg(long, value_name = "DATE")]
    pub at: Option<String>,
    /// Roots the devices trust, instead of the domain's ca_file (or the
    /// system's roots when it has none).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// What the chain's AIA caIssuers URL serves (iOS fetches a missing
    /// intermediate from there; Android and OkHttp do not).
    #[arg(long, value_name = "FILE")]
    pub aia_issuer: Vec<PathBuf>,
    /// Judge as of this day (YYYY-MM-DD) instead of now.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub today: Option<String>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// Runs one `pins` verb.
pub fn run(command: PinsCommand) -> ExitCode {
    match command {
        PinsCommand::Fetch(args) => live::fetch(&args),
        PinsCommand::FromFile { files, json } => files::from_file(&files, json),
        PinsCommand::BackupKey {
            out,
            alg,
            subject,
            name,
        } => files::backup_key(&out, &alg, &subject, &name),
        PinsCommand::StagingCert {
            ca,
            names,
            out,
            key,
            days,
        } => files::staging_cert(&ca, &names, &out, key.as_deref(), days),
        PinsCommand::Lint {
            config,
            offline,
            today,
            json,
        } => live::lint(&config, offline, today.as_deref(), json),
        PinsCommand::Render { config, format } => files::render(&config, &format),
        PinsCommand::Check { config, json } => live::check(&config, json),
        PinsCommand::CheckCert(args) => check_cert::check_cert(&args),
        PinsCommand::SigningKey { out, name, alg } => signed::signing_key(&out, &name, &alg),
        PinsCommand::Sign(args) => signed::sign(&args),
        PinsCommand::Verify(args) => signed::verify(&args),
        PinsCommand::CtWatch(args) => ct_watch::ct_watch(&args),
    }
}

/// Prints `value` as pretty JSON.
fn print_json(value: &impl serde::Serialize) -> bool {
    match serde_json::to_string_pretty(value) {
        Ok(text) => {
            println!("{text}");
            true
        }
        Err(e) => {
            eprintln!("attestgate pins: {e}");
            false
        }
    }
}

/// `--today` as Unix seconds (noon UTC of that day), or now.
fn now_from(today: Option<&str>) -> Result<i64, String> {
    match today {
        None => Ok(crate::clock::unix_now()),
        Some(t) => attestgate_pins::clock::parse_date(t)
            .map(|d| attestgate_pins::clock::date_start(d) + 12 * 3600)
            .ok_or_else(|| format!("--today {t:?}: write it YYYY-MM-DD")),
    }
}

/// Loads a pins.toml, printing every problem on failure.
fn load(config: &std::path::Path) -> Option<attestgate_pins::PinsFile> {
    match attestgate_pins::PinsFile::load(config) {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!("{e}");
            None
        }
    }
}

/// A current-thread runtime for the verbs that connect.
fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("attestgate pins: {e}");
            None
        }
    }
}
