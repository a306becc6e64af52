//! The `attestgate` command line: the verbs' arguments and what each does.
//! `serve` itself is in `main.rs` and [`crate::server`]; the `token` verbs
//! are in [`token`], `health` in [`health`], the pinning kit's in [`pins`].

mod check;
mod docs;
mod health;
pub mod pins;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use attestgate::mint;
use clap::{Parser, Subcommand};

pub use docs::Shell;
pub use token::{MintArgs, TokenCommand, explain, mint_tokens};

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
        /// Read no env or file secret (check their shape only) and resolve
        /// no upstream name: CI validating a config away from where it runs.
        #[arg(long)]
        offline: bool,
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
    Pins(pins::PinsCommand),
    /// Print a shell completion script (bash, zsh or fish) to stdout.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: docs::Shell,
    },
    /// Print the man page (roff) to stdout, or write one page per verb
    /// into a folder.
    Man {
        /// Write attestgate.1 and attestgate-VERB.1 pages here instead.
        #[arg(long)]
        out: Option<PathBuf>,
    },
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
        Command::CheckConfig { config, offline } => check::check_config(&config, offline),
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { out } => docs::man(out.as_deref()),
        Command::Health { url, timeout } => match health::check(&url, timeout) {
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
        Command::Token(command) => token::run(command),
        Command::Pins(pins) => pins::run(pins),
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
