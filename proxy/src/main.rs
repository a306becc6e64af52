//! The `attestgate` binary.

use std::process::ExitCode;

use attestgate_config::Config;
use attestgate_proxy::cli::{self, Cli, Command, LogFormat};
use clap::Parser;
use pingora_core::server::configuration::Opt;

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Serve { config, upgrade } => {
            let config = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(cli::EXIT_CONFIG);
                }
            };
            let opt = Opt {
                upgrade,
                ..Opt::default()
            };
            match attestgate_proxy::build_server(&config, Some(opt)) {
                Ok(built) => {
                    attestgate_proxy::run(built, None);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("attestgate: cannot start: {e}");
                    ExitCode::from(cli::EXIT_CONFIG)
                }
            }
        }
        other => cli::run_command(other),
    }
}
