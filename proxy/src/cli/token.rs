//! `attestgate token ...`: mint tokens and their JWKS for tests and trials,
//! and verify one against a config's `[token]` section.

use std::path::PathBuf;
use std::process::ExitCode;

use attestgate::mint::{self, SigningKey};
use attestgate::{Alg, Reason};
use attestgate_config::Config;
use clap::{Args, Subcommand};

use super::EXIT_CONFIG;

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

/// Runs a `token` verb.
pub(super) fn run(command: TokenCommand) -> ExitCode {
    match command {
        TokenCommand::Mint(args) => match mint_tokens(&args) {
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
        TokenCommand::Verify {
            config,
            bind,
            token,
        } => verify_token(&config, &bind, &token),
        TokenCommand::Jwks { key, alg, kid } => match public_jwks(&key, &alg, kid.as_deref()) {
            Ok(jwks) => {
                println!("{jwks}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("attestgate token jwks: {e}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
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
