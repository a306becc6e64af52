//! `attestgate pins ct-watch`: read Certificate Transparency logs for the
//! names of `pins.toml` and judge every new certificate against every pin
//! set shipped apps carry. The work is in `attestgate_pins::ct`; this file
//! reads the arguments, opens the state, starts the metrics listener and
//! maps the outcome to the exit status:
//!
//! 0 nothing to report; 1 a would_break / unknown_issuer certificate or a
//! misbehaving log; 2 bad input; 3 a log could not be read (`--once`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use attestgate_pins::ct::{metrics::CtMetrics, setup, state::StateDir, watch};
use clap::Args;

use super::EXIT_USAGE;

/// `pins ct-watch` arguments.
#[derive(Args, Debug)]
pub struct CtWatchArgs {
    /// The pins.toml: the names to watch and the pins apps carry now.
    #[arg(long, short)]
    pub config: PathBuf,
    /// State directory: per log position, frontier and verified head;
    /// what was reported; evidence of misbehaving logs.
    #[arg(long)]
    pub state: PathBuf,
    /// Log list (Chrome's log_list.json v3 or Apple's), a file or an
    /// https:// URL (repeatable); default: the list the binary ships.
    #[arg(long, value_name = "FILE|URL")]
    pub logs: Vec<String>,
    /// More pin sets still in shipped apps: older pins.toml files or
    /// signed pin configs (repeatable).
    #[arg(long, value_name = "FILE")]
    pub shipped: Vec<PathBuf>,
    /// Where a log not seen before starts: end or beginning.
    #[arg(long, default_value = "end")]
    pub start: String,
    /// Read every log up to its current head, then exit.
    #[arg(long)]
    pub once: bool,
    /// One JSON object per event on stdout (else one line for people).
    #[arg(long)]
    pub json: bool,
    /// A command run for each event, with the event in its environment
    /// (certspotter's names and ATTESTGATE_*); split at spaces, no shell
    /// (repeatable).
    #[arg(long, value_name = "CMD")]
    pub hook: Vec<String>,
    /// Serve the metrics at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// How long a log that is read to its head waits before asking again.
    #[arg(long, default_value = "60s")]
    pub interval: String,
    /// One request's time limit.
    #[arg(long, default_value = "30s")]
    pub timeout: String,
    /// The first backoff after a failed read (doubles up to 10 minutes;
    /// a log's Retry-After is honoured).
    #[arg(long, default_value = "1s")]
    pub retry_base: String,
}

fn duration(flag: &str, text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("--{flag} {text:?}: write a duration such as 30s or 5m"))
}

/// Everything checked before anything is read from a log.
struct Ready {
    options: watch::Options,
    judge: attestgate_pins::ct::verdict::Judge,
    state: StateDir,
}

fn prepare(args: &CtWatchArgs) -> Result<Ready, String> {
    let start = match args.start.as_str() {
        "end" => watch::Start::End,
        "beginning" => watch::Start::Beginning,
        other => return Err(format!("--start {other:?}: end or beginning")),
    };
    let options = watch::Options {
        start,
        once: args.once,
        json: args.json,
        hooks: args.hook.clone(),
        interval: duration("interval", &args.interval)?,
        timeout: duration("timeout", &args.timeout)?,
        retry_base: duration("retry-base", &args.retry_base)?,
        ..Default::default()
    };
    for h in &args.hook {
        if h.split_whitespace().next().is_none() {
            return Err("--hook: an empty command".into());
        }
    }
    let config = attestgate_pins::PinsFile::load(&args.config).map_err(|e| e.to_string())?;
    let judge = setup::judge(&config, &args.shipped)?;
    let state = StateDir::open(&args.state)?;
    Ok(Ready {
        options,
        judge,
        state,
    })
}

/// Runs `pins ct-watch`.
pub(super) fn ct_watch(args: &CtWatchArgs) -> ExitCode {
    let ready = match prepare(args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("attestgate pins ct-watch: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("attestgate pins ct-watch: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    rt.block_on(run(args, ready))
}

async fn run(args: &CtWatchArgs, ready: Ready) -> ExitCode {
    let usage = |e: String| {
        eprintln!("attestgate pins ct-watch: {e}");
        ExitCode::from(EXIT_USAGE)
    };
    let http = match attestgate_pins::ct::http::Http::new(ready.options.timeout) {
        Ok(h) => h,
        Err(e) => return usage(e),
    };
    let logs = match setup::logs(&args.logs, &http).await {
        Ok(l) => l,
        Err(e) => return usage(e),
    };
    let registry = prometheus::Registry::new();
    let metrics = match CtMetrics::register(&registry) {
        Ok(m) => m,
        Err(e) => return usage(e.to_string()),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    if let Some(addr) = args.metrics {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => {
                eprintln!(
                    "attestgate pins ct-watch: metrics on http://{}/metrics",
                    l.local_addr().unwrap_or(addr)
                );
                tokio::spawn(attestgate_pins::ct::metrics::serve(
                    l,
                    registry.clone(),
                    stopped.clone(),
                ));
            }
            Err(e) => return usage(format!("--metrics {addr}: {e}")),
        }
    }
    eprintln!(
        "attestgate pins ct-watch: {} logs, {} domains{}",
        logs.len(),
        ready.judge.matcher.domains().len(),
        if args.once { ", once" } else { "" }
    );
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let outcome = watch::run(
        logs,
        ready.judge,
        ready.state,
        metrics,
        ready.options,
        Box::new(std::io::stdout()),
        stopped,
    )
    .await;
    match outcome {
        Ok(o) if args.once => ExitCode::from(o.exit_code()),
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => usage(e),
    }
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
