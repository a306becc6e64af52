//! The `attestgate` command line (DESIGN §3).

use std::path::PathBuf;
use std::process::ExitCode;

use attestgate::mint::{self, SigningKey};
use attestgate::{Alg, Reason};
use attestgate_config::Config;
use clap::{Args, Parser, Subcommand};

/// attestgate: checks the Approov token of every API request.
#[derive(Parser, Debug)]
#[command(name = "attestgate", version, about, long_about = None)]
pub struct Cli {
    /// Log format (the level comes from RUST_LOG, default `info`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log line format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the proxy.
    Serve {
        /// The TOML configuration.
        #[arg(long, short)]
        config: PathBuf,
        /// Take over the listeners of a running attestgate (zero-downtime
        /// restart: start the new process with --upgrade, then send SIGQUIT
        /// to the old one).
        #[arg(long)]
        upgrade: bool,
    },
    /// Check a configuration file; exit 0, or exit 2 listing every problem.
    CheckConfig {
        /// The TOML configuration.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Mint and verify tokens (for tests and trials).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Account secrets.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// GET an admin endpoint; exit 0 on 200, 1 otherwise (a container
    /// HEALTHCHECK without curl).
    Health {
        /// The endpoint.
        #[arg(long, default_value = "http://127.0.0.1:9091/healthz")]
        url: String,
        /// Timeout of the whole exchange.
        #[arg(long, default_value = "2s", value_parser = attestgate_config::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Certificate pinning kit: pins from endpoints and files, platform
    /// configs, lint, live check, pre-rotation gate.
    #[command(subcommand)]
    Pins(crate::cli_pins::PinsCommand),
}

/// `attestgate token ...`
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Print a token.
    Mint(MintArgs),
    /// Print the JWKS that holds the public key of a PEM private key (for
    /// trials: serve or write it where [token.jwks] points).
    Jwks {
        /// PEM private key (PKCS#8, or PKCS#1 for RSA).
        #[arg(long)]
        key: PathBuf,
        /// Algorithm of the key.
        #[arg(long)]
        alg: String,
        /// Key id.
        #[arg(long)]
        kid: Option<String>,
    },
    /// Verify a token against a config's [token] section: print the claims
    /// as JSON and exit 0, or the reason and exit 1.
    Verify {
        /// The TOML configuration.
        #[arg(long, short)]
        config: PathBuf,
        /// Binding values, in the configured order.
        #[arg(long = "bind", value_name = "VALUE")]
        bind: Vec<String>,
        /// The token (`-` reads it from standard input).
        token: String,
    },
}

/// `attestgate token mint` arguments.
#[derive(Args, Debug)]
pub struct MintArgs {
    /// HS256 account secret, base64 (either alphabet).
    #[arg(long, conflicts_with_all = ["key", "secret_file"])]
    pub secret_base64: Option<String>,
    /// HS256 account secret, base64, read from a file (keeps it out of `ps`).
    #[arg(long, conflicts_with = "key")]
    pub secret_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, or PKCS#1 for RSA) for ES256, RS*, PS*, EdDSA.
    #[arg(long, requires = "alg")]
    pub key: Option<PathBuf>,
    /// Algorithm of --key.
    #[arg(long)]
    pub alg: Option<String>,
    /// Key id put in the header.
    #[arg(long)]
    pub kid: Option<String>,
    /// Lifetime in seconds (negative for an already expired token).
    #[arg(long, default_value_t = 300, allow_negative_numbers = true)]
    pub ttl: i64,
    /// Binding value(s): sets `pay` = base64(SHA-256(values)).
    #[arg(long = "bind", value_name = "VALUE")]
    pub bind: Vec<String>,
    /// Extra claim, NAME=JSON (a bare word is taken as a string).
    #[arg(long = "claim", value_name = "NAME=JSON")]
    pub claim: Vec<String>,
    /// Print this many distinct tokens, one per line, e.g. for a load
    /// test's token list: each gets a `jti`, and its own random `did` (a
    /// device id) unless --claim gives one.
    #[arg(long, default_value_t = 1)]
    pub count: u32,
}

/// `attestgate secret ...`
#[derive(Subcommand, Debug)]
pub enum SecretCommand {
    /// Print a fresh random 64-byte secret, base64.
    New,
}

/// Exit status of `check-config` when the file has problems.
pub const EXIT_CONFIG: u8 = 2;

/// Runs a command other than `serve`.
pub fn run_command(command: Command) -> ExitCode {
    match command {
        Command::Serve { .. } => ExitCode::FAILURE,
        Command::CheckConfig { config } => check_config(&config),
        Command::Health { url, timeout } => match crate::health::check(&url, timeout) {
            Ok(Ok(200)) => ExitCode::SUCCESS,
            Ok(Ok(status)) => {
                eprintln!("attestgate health: {url}: status {status}");
                ExitCode::FAILURE
            }
            Ok(Err(why)) => {
                eprintln!("attestgate health: {url}: {why}");
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("attestgate health: {e}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
        Command::Token(TokenCommand::Mint(args)) => match mint_tokens(&args) {
            Ok(tokens) => {
                use std::io::Write;
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                for t in tokens {
                    if writeln!(out, "{t}").is_err() {
                        return ExitCode::FAILURE;
                    }
                }
                if out.flush().is_err() {
                    return ExitCode::FAILURE;
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("attestgate token mint: {e}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
        Command::Token(TokenCommand::Verify {
            config,
            bind,
            token,
        }) => verify_token(&config, &bind, &token),
        Command::Token(TokenCommand::Jwks { key, alg, kid }) => {
            match public_jwks(&key, &alg, kid.as_deref()) {
                Ok(jwks) => {
                    println!("{jwks}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("attestgate token jwks: {e}");
                    ExitCode::from(EXIT_CONFIG)
                }
            }
        }
        Command::Pins(pins) => crate::cli_pins::run(pins),
        Command::Secret(SecretCommand::New) => match mint::new_secret_base64() {
            Ok(s) => {
                println!("{s}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("attestgate secret new: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn check_config(path: &PathBuf) -> ExitCode {
    match Config::load(path) {
        Ok(config) => {
            // Everything serve checks before it listens, all at once.
            let problems = crate::server::check_serve(&config);
            if !problems.is_empty() {
                for p in problems {
                    eprintln!("{}: {p}", path.display());
                }
                return ExitCode::from(EXIT_CONFIG);
            }
            for w in &config.warnings {
                eprintln!("warning: {}: {w}", path.display());
            }
            println!(
                "{}: ok ({} route{}, {})",
                path.display(),
                config.routes.len(),
                if config.routes.len() == 1 { "" } else { "s" },
                match &config.token {
                    Some(t) => format!(
                        "{} secret{}{}",
                        t.secrets.len(),
                        if t.secrets.len() == 1 { "" } else { "s" },
                        if t.jwks.is_some() { " and a JWKS" } else { "" }
                    ),
                    None => "no token checks".to_owned(),
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

fn parse_claim(text: &str) -> Result<(String, serde_json::Value), String> {
    let (name, value) = text.split_once('=').ok_or_else(|| {
        format!("--claim {text:?}: write it as NAME=JSON, e.g. did=\"abc\" or n=5")
    })?;
    if name.is_empty() {
        return Err(format!("--claim {text:?}: the name is empty"));
    }
    let value =
        serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
    Ok((name.to_owned(), value))
}

fn pem_key(pem: &PathBuf, alg_name: &str) -> Result<SigningKey, String> {
    let alg =
        Alg::from_name(alg_name).ok_or_else(|| format!("--alg {alg_name:?} is not supported"))?;
    let text = std::fs::read_to_string(pem).map_err(|e| format!("--key {}: {e}", pem.display()))?;
    SigningKey::from_pem(&text, alg).map_err(|e| format!("--key {}: {e}", pem.display()))
}

fn public_jwks(pem: &PathBuf, alg: &str, kid: Option<&str>) -> Result<String, String> {
    let key = pem_key(pem, alg)?;
    let jwk = key
        .public_jwk(kid)
        .ok_or_else(|| "an HS256 secret has no public key; it is never published".to_owned())?;
    serde_json::to_string_pretty(&serde_json::json!({ "keys": [jwk] })).map_err(|e| e.to_string())
}

/// Mints the token `args` describe (`--count` of them).
pub fn mint_tokens(args: &MintArgs) -> Result<Vec<String>, String> {
    let key = match (&args.secret_base64, &args.secret_file, &args.key) {
        (Some(b64), None, None) => SigningKey::hs256_base64(b64).map_err(|e| e.to_string())?,
        (None, Some(file), None) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("--secret-file {}: {e}", file.display()))?;
            SigningKey::hs256_base64(text.trim()).map_err(|e| e.to_string())?
        }
        (None, None, Some(pem)) => {
            let alg_name = args.alg.as_deref().unwrap_or_default();
            let alg = Alg::from_name(alg_name)
                .ok_or_else(|| format!("--alg {alg_name:?} is not supported"))?;
            let text = std::fs::read_to_string(pem)
                .map_err(|e| format!("--key {}: {e}", pem.display()))?;
            SigningKey::from_pem(&text, alg).map_err(|e| format!("--key {}: {e}", pem.display()))?
        }
        _ => {
            return Err(
                "give --secret-base64 B64, --secret-file PATH, or --key PEM --alg ALG".to_owned(),
            );
        }
    };
    let now = crate::clock::unix_now();
    let mut claims = serde_json::Map::new();
    claims.insert("exp".into(), (now + args.ttl).into());
    if !args.bind.is_empty() {
        claims.insert("pay".into(), attestgate::pay_claim(&args.bind).into());
    }
    for c in &args.claim {
        let (name, value) = parse_claim(c)?;
        claims.insert(name, value);
    }
    if args.count <= 1 {
        let token = mint::mint(
            &key,
            args.kid.as_deref(),
            &serde_json::Value::Object(claims),
        );
        return token.map(|t| vec![t]).map_err(|e| e.to_string());
    }
    let random_did = !claims.contains_key("did");
    let rng = ring::rand::SystemRandom::new();
    (0..args.count)
        .map(|i| {
            // A short unique `jti` keeps the tokens Approov-sized.
            claims.insert("jti".into(), base36(i).into());
            if random_did {
                let mut id = [0u8; 32];
                ring::rand::SecureRandom::fill(&rng, &mut id)
                    .map_err(|_| "no randomness".to_owned())?;
                let did = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, id);
                claims.insert("did".into(), did.into());
            }
            let claims = serde_json::Value::Object(claims.clone());
            mint::mint(&key, args.kid.as_deref(), &claims).map_err(|e| e.to_string())
        })
        .collect()
}

fn base36(mut n: u32) -> String {
    let mut out = Vec::new();
    loop {
        let d = (n % 36) as u8;
        out.push(if d < 10 { b'0' + d } else { b'a' + d - 10 });
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn verify_token(path: &PathBuf, bind: &[String], token: &str) -> ExitCode {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let Some(token_config) = &config.token else {
        eprintln!(
            "{}: token: no [token] section to verify against",
            path.display()
        );
        return ExitCode::from(EXIT_CONFIG);
    };
    let verifier = match token_config.build_verifier() {
        Ok(v) => v,
        Err(problems) => {
            for p in problems {
                eprintln!("{}: {p}", path.display());
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let token = if token == "-" {
        let mut s = String::new();
        if std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).is_err() {
            eprintln!("cannot read the token from standard input");
            return ExitCode::from(EXIT_CONFIG);
        }
        s.trim().to_owned()
    } else {
        token.trim().to_owned()
    };
    // A JWKS URL is fetched in the background when serving; here, once, now.
    if let Err(e) = block_on_refresh(&verifier) {
        eprintln!("{}: token.{e}", path.display());
    }
    let result = verifier.verify_token(&token).and_then(|v| {
        let values: Vec<&[u8]> = bind.iter().map(|b| b.as_bytes()).collect();
        verifier.check_binding_values(&v, &values).map(|()| v)
    });
    match result {
        Ok(v) => {
            let claims = serde_json::Value::Object(v.claims());
            println!(
                "{}",
                serde_json::to_string_pretty(&claims).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(reason) => {
            println!("{}", reason.as_str());
            eprintln!("rejected: {}", explain(reason));
            ExitCode::FAILURE
        }
    }
}

fn block_on_refresh(verifier: &attestgate::Verifier) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(verifier.refresh_once())
        .map_err(|e| e.to_string())
}

/// A sentence for each reason, for people at a terminal.
pub fn explain(reason: Reason) -> &'static str {
    match reason {
        Reason::Missing => "no token",
        Reason::Malformed => {
            "not a well-formed compact JWS/JWT (segments, base64url, JSON, size, header members)"
        }
        Reason::SdkStatus => "an Approov SDK status word instead of a token",
        Reason::Algorithm => "the alg is none, unknown, not allowed, or not the key's algorithm",
        Reason::UnknownKey => "no key matches the token's kid",
        Reason::BadSignature => "the signature does not verify with the configured keys",
        Reason::Expired => "exp is in the past",
        Reason::NotYetValid => "nbf is in the future",
        Reason::Claims => "a claim is missing or wrong (exp, iss, aud, lifetime)",
        Reason::Binding => "pay does not match the binding values (or is missing)",
        Reason::NoKeys => "no key could be loaded",
        Reason::Signature => "the RFC 9421 message signature is missing, wrong, or too old",
        Reason::Replay => "the message signature was seen before within its window",
    }
}
