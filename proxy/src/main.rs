//! The `attestgate` binary.

use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: Pingora allocates per request, and
/// glibc's arenas cost ~17% of the proxy's CPU under load (perf, measured
/// here); see docs/PERFORMANCE.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use attestgate_config::Config;
use attestgate_proxy::cli::{self, Cli, Command, LogFormat};
use clap::Parser;

/// Logs go to stderr; the level comes from RUST_LOG (default `info`).
///
/// Pingora, h2 and hyper are held at `info` whatever RUST_LOG says: at debug
/// they print request and response headers and bodies, which carry tokens
/// and substituted secrets. No log line may hold either: every line, at
/// every level and from every library, is also redacted on its way out
/// (`attestgate_proxy::logs`).
fn init_logging(format: LogFormat) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let env = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let clamp = tracing_subscriber::filter::filter_fn(|meta| {
        let t = meta.target();
        let noisy = t.starts_with("pingora") || t.starts_with("h2") || t.starts_with("hyper");
        !(noisy && *meta.level() > tracing::Level::INFO)
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(attestgate_proxy::logs::RedactingStderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(attestgate_proxy::logs::RedactingStderr)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(
            layer
                .with_filter(env)
                .with_filter(clamp)
                .with_filter(attestgate_proxy::PingoraFloodGuard),
        )
        .init();
    // Pingora logs through the `log` crate, whose macros check this level
    // before doing anything: held at info (as above), its debug and trace
    // calls on the request path cost one atomic load instead of a trip
    // through the tracing dispatcher.
    log::set_max_level(log::LevelFilter::Info);
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Serve { config, upgrade } => {
            attestgate_proxy::one_line_panics();
            let config = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(cli::EXIT_CONFIG);
                }
            };
            let options = attestgate_proxy::ServeOptions {
                upgrade,
                exit_when_drained: true,
            };
            match attestgate_proxy::build_server(&config, options) {
                Ok(built) => {
                    attestgate_proxy::run(built, None);
                    if attestgate_proxy::failed() {
                        ExitCode::FAILURE
                    } else {
                        ExitCode::SUCCESS
                    }
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
