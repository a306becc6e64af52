//! `[pins]` (docs/PINNING.md): the signed pin config the proxy serves, the
//! `pins.toml` its monitor checks, and the report endpoint. Shapes and
//! numbers are checked here, with key paths; the files' contents (a
//! `pins.toml` the pins crate can load, a signed config it can read) are
//! checked by the proxy before it listens, so `check-config` reports them
//! too.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::checker::Checker;

/// Default `path`.
pub const DEFAULT_PINS_PATH: &str = "/.well-known/attestgate/pins";
/// Default `report_path`.
pub const DEFAULT_REPORT_PATH: &str = "/.well-known/attestgate/pin-report";
/// Largest report body accepted (16 KiB).
pub const MAX_REPORT_BYTES: usize = 16 * 1024;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPins {
    pub(crate) config: Option<String>,
    pub(crate) signed: Option<String>,
    pub(crate) public_key: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) monitor_interval: Option<String>,
    pub(crate) report_path: Option<String>,
    pub(crate) report_rate: Option<i64>,
    pub(crate) max_report_bytes: Option<i64>,
    pub(crate) watch_interval: Option<String>,
    pub(crate) ct_watch: Option<RawCtWatch>,
}

/// `[pins.ct_watch]` as written (the `pins ct-watch` verb's options).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCtWatch {
    pub(crate) enabled: Option<bool>,
    pub(crate) state: Option<String>,
    pub(crate) logs: Option<Vec<String>>,
    pub(crate) shipped: Option<Vec<String>>,
    pub(crate) start: Option<String>,
    pub(crate) hooks: Option<Vec<String>>,
    pub(crate) interval: Option<String>,
}

/// `[pins.ct_watch]`, checked: the Certificate Transparency watch run in
/// the background (off by default), over the domains of `pins.config`.
#[derive(Debug, Clone)]
pub struct CtWatchConfig {
    /// The state directory (the proxy's own).
    pub state: PathBuf,
    /// Log lists: files (resolved) or `https://` URLs; empty: the shipped list.
    pub logs: Vec<String>,
    /// More shipped pin sets (older pins.toml files, signed configs).
    pub shipped: Vec<PathBuf>,
    /// Start new logs at their beginning (else at their end).
    pub from_beginning: bool,
    /// Hook commands.
    pub hooks: Vec<String>,
    /// How long a log read to its head waits before asking again.
    pub interval: Duration,
}

fn ct_watch(c: &mut Checker<'_>, raw: RawCtWatch, has_config: bool) -> Option<CtWatchConfig> {
    if raw.enabled != Some(true) {
        return None;
    }
    if !has_config {
        c.problem(
            "pins.ct_watch",
            "needs pins.config: the names to watch come from it",
        );
    }
    let state = match raw.state.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => c.file(s),
        _ => {
            c.problem(
                "pins.ct_watch.state",
                "missing: give a directory for the watch's state",
            );
            PathBuf::new()
        }
    };
    let mut logs = Vec::new();
    for (i, l) in raw.logs.unwrap_or_default().into_iter().enumerate() {
        if l.starts_with("https://") {
            logs.push(l);
        } else if let Some(p) = readable(c, &format!("ct_watch.logs[{i}]"), Some(&l)) {
            logs.push(p.display().to_string());
        }
    }
    let shipped = raw
        .shipped
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, f)| readable(c, &format!("ct_watch.shipped[{i}]"), Some(f)))
        .collect();
    let from_beginning = match raw.start.as_deref() {
        None | Some("end") => false,
        Some("beginning") => true,
        Some(o) => {
            c.problem("pins.ct_watch.start", format!("{o:?}: end or beginning"));
            false
        }
    };
    let hooks: Vec<String> = raw.hooks.unwrap_or_default();
    if hooks.iter().any(|h| h.trim().is_empty()) {
        c.problem("pins.ct_watch.hooks", "an empty command");
    }
    let interval = c.duration(
        "pins.ct_watch.interval",
        raw.interval.as_ref(),
        Duration::from_secs(60),
    );
    if interval < Duration::from_secs(1) {
        c.problem(
            "pins.ct_watch.interval",
            "under 1s; a log is asked for a new head each interval",
        );
    }
    Some(CtWatchConfig {
        state,
        logs,
        shipped,
        from_beginning,
        hooks,
        interval,
    })
}

/// `[pins]`, checked.
#[derive(Debug, Clone)]
pub struct PinsConfig {
    /// `pins.toml`: the domains the monitor checks and the pins reports
    /// are classified against. `None`: no monitor, reports count as `other`.
    pub config: Option<PathBuf>,
    /// The signed pin config (compact JWS), served as is at `path`.
    /// `None`: nothing served at `path`.
    pub signed: Option<PathBuf>,
    /// The signing public key(s) (PEM): when set, a signed file whose
    /// signature does not verify is not served (the last good one stays).
    /// Without it the proxy checks the file's shape and payload only.
    pub public_key: Option<PathBuf>,
    /// Where the signed config is served, on every proxy listener.
    pub path: String,
    /// How often every domain of `config` is checked at every address
    /// (±10 % jitter).
    pub monitor_interval: Duration,
    /// Where pin-failure reports are accepted (POST).
    pub report_path: String,
    /// Reports accepted per client address per minute (429 beyond).
    pub report_rate: u32,
    /// Largest report body (413 beyond), at most 16 KiB.
    pub max_report_bytes: usize,
    /// How often the signed file is polled for changes.
    pub watch_interval: Duration,
    /// The background CT watch, when enabled.
    pub ct_watch: Option<CtWatchConfig>,
}

fn url_path(c: &mut Checker<'_>, key: &str, v: Option<&str>, default: &str) -> String {
    let Some(p) = v else {
        return default.to_owned();
    };
    let ok = p.starts_with('/')
        && p.len() > 1
        && !p.contains(['?', '#', '%', ' '])
        && p.parse::<http::uri::PathAndQuery>().is_ok()
        && !p.split('/').any(|s| s == "." || s == "..");
    if !ok {
        c.problem(
            format!("pins.{key}"),
            format!("{p:?} is not a plain absolute path like {default:?} (no query, no escapes, no dot segments)"),
        );
    }
    p.to_owned()
}

fn readable(c: &mut Checker<'_>, key: &str, v: Option<&str>) -> Option<PathBuf> {
    let text = v?;
    if text.trim().is_empty() {
        c.problem(
            format!("pins.{key}"),
            "empty; give a file path or remove it",
        );
        return None;
    }
    let path = c.file(text);
    if let Err(e) = std::fs::File::open(&path) {
        c.problem(
            format!("pins.{key}"),
            format!("cannot read {}: {e}", path.display()),
        );
    }
    Some(path)
}

/// Checks `[pins]`, every problem recorded in `c`.
pub(crate) fn check(c: &mut Checker<'_>, raw: RawPins) -> PinsConfig {
    let config = readable(c, "config", raw.config.as_deref());
    let signed = readable(c, "signed", raw.signed.as_deref());
    let public_key = readable(c, "public_key", raw.public_key.as_deref());
    if public_key.is_some() && signed.is_none() {
        c.problem(
            "pins.public_key",
            "only used with signed; remove it or add signed",
        );
    }
    let path = url_path(c, "path", raw.path.as_deref(), DEFAULT_PINS_PATH);
    let report_path = url_path(
        c,
        "report_path",
        raw.report_path.as_deref(),
        DEFAULT_REPORT_PATH,
    );
    if path == report_path {
        c.problem(
            "pins.report_path",
            "the same as pins.path; give each its own path",
        );
    }
    let monitor_interval = c.duration(
        "pins.monitor_interval",
        raw.monitor_interval.as_ref(),
        Duration::from_secs(300),
    );
    if monitor_interval < Duration::from_millis(100) {
        c.problem(
            "pins.monitor_interval",
            "under 100ms; every domain is probed each interval",
        );
    }
    let watch_interval = c.duration(
        "pins.watch_interval",
        raw.watch_interval.as_ref(),
        Duration::from_secs(1),
    );
    if watch_interval.is_zero() {
        c.problem("pins.watch_interval", "must be more than 0s");
    }
    let report_rate = c.int_in("pins.report_rate", raw.report_rate, 1, 10_000, 10);
    let max_report_bytes = c.int_in(
        "pins.max_report_bytes",
        raw.max_report_bytes,
        256,
        MAX_REPORT_BYTES as i64,
        MAX_REPORT_BYTES as i64,
    );
    let ct_watch = ct_watch(c, raw.ct_watch.unwrap_or_default(), config.is_some());
    if config.is_none() && signed.is_none() {
        c.warnings.push(
            "pins: neither config nor signed is set; only reports are accepted (all counted as \"other\")"
                .to_owned(),
        );
    }
    PinsConfig {
        config,
        signed,
        public_key,
        path,
        monitor_interval,
        report_path,
        report_rate: u32::try_from(report_rate).unwrap_or(10),
        max_report_bytes: usize::try_from(max_report_bytes).unwrap_or(MAX_REPORT_BYTES),
        watch_interval,
        ct_watch,
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    fn load(pins: &str) -> Result<Config, crate::ConfigError> {
        Config::from_toml(
            &format!(
                "[[route]]\nname = \"a\"\nupstream = \"demo\"\ntoken = \"off\"\n[pins]\n{pins}"
            ),
            std::path::Path::new("/nonexistent/attestgate.toml"),
        )
    }

    #[test]
    fn defaults_and_key_paths() {
        let c = load("").unwrap();
        let p = c.pins.unwrap();
        assert_eq!(p.path, super::DEFAULT_PINS_PATH);
        assert_eq!(p.report_path, super::DEFAULT_REPORT_PATH);
        assert_eq!(p.monitor_interval, std::time::Duration::from_secs(300));
        assert_eq!((p.report_rate, p.max_report_bytes), (10, 16 * 1024));
        assert!(p.config.is_none() && p.signed.is_none());
        assert!(c.warnings.iter().any(|w| w.starts_with("pins:")));
        for (text, key) in [
            ("path = \"\"", "pins.path"),
            ("path = \"/a?b\"", "pins.path"),
            ("path = \"/a/./b\"", "pins.path"),
            ("path = \"/%2e\"", "pins.path"),
            ("report_path = \"x\"", "pins.report_path"),
            (
                "path = \"/same\"\nreport_path = \"/same\"",
                "pins.report_path",
            ),
            ("monitor_interval = \"1ms\"", "pins.monitor_interval"),
            ("monitor_interval = \"often\"", "pins.monitor_interval"),
            ("watch_interval = \"0s\"", "pins.watch_interval"),
            ("report_rate = 0", "pins.report_rate"),
            ("report_rate = -5", "pins.report_rate"),
            ("max_report_bytes = 16385", "pins.max_report_bytes"),
            ("max_report_bytes = 10", "pins.max_report_bytes"),
            ("signed = \"\"", "pins.signed"),
            ("config = \"missing.toml\"", "pins.config"),
            ("signed = \"missing.jws\"", "pins.signed"),
            ("public_key = \"k.pem\"", "pins.public_key"),
        ] {
            let e = load(text)
                .err()
                .unwrap_or_else(|| panic!("{text} accepted"));
            assert!(
                e.problems.iter().any(|p| p.path == key),
                "{text}: {:?}",
                e.problems
            );
        }
        assert!(p.ct_watch.is_none());
        for (text, key) in [
            (
                "[pins.ct_watch]\nenabled = true\nstate = \"/tmp/x\"",
                "pins.ct_watch",
            ),
            (
                "config = \"/etc/passwd\"\n[pins.ct_watch]\nenabled = true",
                "pins.ct_watch.state",
            ),
            (
                "config = \"/etc/passwd\"\n[pins.ct_watch]\nenabled = true\nstate = \"s\"\nstart = \"middle\"",
                "pins.ct_watch.start",
            ),
            (
                "config = \"/etc/passwd\"\n[pins.ct_watch]\nenabled = true\nstate = \"s\"\ninterval = \"10ms\"",
                "pins.ct_watch.interval",
            ),
            (
                "config = \"/etc/passwd\"\n[pins.ct_watch]\nenabled = true\nstate = \"s\"\nlogs = [\"missing.json\"]",
                "pins.ct_watch.logs[0]",
            ),
            (
                "config = \"/etc/passwd\"\n[pins.ct_watch]\nenabled = true\nstate = \"s\"\nshipped = [\"old.toml\"]",
                "pins.ct_watch.shipped[0]",
            ),
        ] {
            let e = load(text)
                .err()
                .unwrap_or_else(|| panic!("{text} accepted"));
            assert!(
                e.problems.iter().any(|p| p.path == key),
                "{text}: {:?}",
                e.problems
            );
        }
        let on = load("config = \"/etc/passwd\"\n[pins.ct_watch]\nenabled = true\nstate = \"ct\"\nlogs = [\"https://l.example/list.json\"]").unwrap();
        let ct = on.pins.unwrap().ct_watch.unwrap();
        assert_eq!(ct.state, std::path::Path::new("/nonexistent/ct"));
        assert!(!ct.from_beginning && ct.interval == std::time::Duration::from_secs(60));
        assert!(
            load("[pins.ct_watch]\nenabled = false")
                .unwrap()
                .pins
                .unwrap()
                .ct_watch
                .is_none()
        );
        assert!(load("[pins.ct_watch]\nunknown = 1").is_err());
        assert!(load("unknown = 1").is_err());
        assert!(load("path = 7").is_err());
    }
}
