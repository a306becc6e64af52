//! # attestgate-config
//!
//! The TOML file format of attestgate (README, "Configuration"): one file serves the
//! `attestgate` command line, the proxy, and (through `[token]`) the tower
//! layer.
//!
//! Loading reads the file into serde structs that mirror it
//! (`deny_unknown_fields`), then checks every value and collects **every**
//! problem with its key path, like a compiler:
//!
//! ```text
//! config/prod.toml: token.secret[0].base64: decodes to 16 bytes; an Approov secret is 64 bytes, at least 32 are required
//! config/prod.toml: route[1].upstream: "ftp://x" must start with http:// or https:// (or be "demo")
//! ```
//!
//! No message ever contains a secret value: secret references are parsed by
//! hand so that even a secret pasted where a `{ env = ... }` table belongs is
//! not echoed, and a syntax error is reported by line and column, never with
//! the offending line's text.

mod check;
mod checker;
mod egress;
mod headers;
mod limits;
mod listeners;
mod pins;
mod policy;
mod ratelimit;
mod raw;
mod secret_ref;
mod secret_shape;
mod signing;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use attestgate::{JwksOptions, Policy, SecretSource, Verifier, VerifierBuilder};
use http::HeaderName;

pub use check::{DEFAULT_DRAIN_DELAY, DEFAULT_RUNTIME_DIR};
pub use checker::parse_duration;
pub use limits::{
    ConnLimits, DEFAULT_H2_IDLE_TIMEOUT, DEFAULT_H2_MAX_CONCURRENT_STREAMS,
    DEFAULT_H2_MAX_SEND_BUFFER, DEFAULT_KEEPALIVE_TIMEOUT, DEFAULT_REQUEST_HEADER_TIMEOUT,
    DEFAULT_SEND_TIMEOUT,
};
pub use pins::{
    CtWatchConfig, DEFAULT_PINS_PATH, DEFAULT_REPORT_PATH, MAX_REPORT_BYTES, PinsConfig,
};

/// The whole configuration, checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// `[server]`.
    pub server: ServerConfig,
    /// `[admin]`; `None` when the section is absent (no admin listener).
    pub admin: Option<AdminConfig>,
    /// `[token]`; `None` when absent (only allowed if every route is `token = "off"`).
    pub token: Option<TokenConfig>,
    /// `[[route]]`, in file order.
    pub routes: Vec<RouteConfig>,
    /// `[pins]`; `None` when absent (nothing served at the pins paths).
    pub pins: Option<PinsConfig>,
    /// Things worth a startup warning (inline secret values, ...).
    pub warnings: Vec<String>,
}

/// `[server]`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Plain HTTP listeners.
    pub listen: Vec<SocketAddr>,
    /// HTTPS listeners.
    pub tls: Vec<TlsListener>,
    /// Worker threads (default: the number of CPUs). Each runs its own
    /// single-threaded proxy service with its own listening socket
    /// (`SO_REUSEPORT`) and upstream connection pool.
    pub threads: usize,
    /// On SIGTERM, `/readyz` answers 503 at once and the listeners keep
    /// serving this long (so load balancers stop sending first); then the
    /// shutdown below begins. Default 5s.
    pub drain_delay: Duration,
    /// Then: stop accepting, and give requests in flight at most this long
    /// to finish; the process exits as soon as none is left.
    pub grace_period: Duration,
    /// Then, how long background work may take to stop.
    pub graceful_shutdown_timeout: Duration,
    /// Cap on the total size of a request's headers (431 beyond it).
    pub max_header_bytes: usize,
    /// Idle upstream connections kept per worker for reuse.
    pub upstream_keepalive: usize,
    /// One log line per request (target `attestgate::access`).
    pub access_log: bool,
    /// Folder of the upgrade socket and the PID file (default
    /// `$RUNTIME_DIRECTORY`, as systemd's `RuntimeDirectory=` sets it, else
    /// `/run/attestgate`): a writable place on a read-only root.
    pub runtime_dir: PathBuf,
    /// Unix socket the old process hands its listeners over on `--upgrade`
    /// (default `runtime_dir/upgrade.sock`).
    pub upgrade_sock: String,
    /// PID file, written when daemonized (default `runtime_dir/attestgate.pid`).
    pub pid_file: String,
    /// CA certificates (PEM) that `https://` upstreams are verified against,
    /// instead of the system's roots (a private CA).
    pub upstream_ca_file: Option<PathBuf>,
    /// How request targets are read (`allow_encoded_slash`,
    /// `allow_path_params`).
    pub target_rules: attestgate::target::TargetRules,
    /// Route prefixes match ignoring ASCII case (`path_case =
    /// "insensitive"`, for IIS-like upstreams).
    pub path_case_insensitive: bool,
    /// Request headers removed before forwarding: `X-Original-URL`,
    /// `X-Rewrite-URL` and those named in `strip_request_headers`.
    pub strip_request_headers: Vec<HeaderName>,
    /// Resolve upstream names from this hosts-format file instead of the
    /// system resolver (`[server] hosts_file`).
    pub hosts_file: Option<PathBuf>,
    /// What happens to client headers whose name holds `_`
    /// (`[server] underscore_headers`, default `"drop"`); look-alikes of
    /// protected names are removed either way.
    pub underscore_headers: attestgate::target::UnderscoreHeaders,
    /// HTTP/1 requests for HTTP/1 upstreams take the lean path
    /// (`[server] http1_path = "lean"`, the default); `false`: every
    /// request goes through Pingora's proxy (`"proxy"`).
    pub lean_http1: bool,
    /// How long a client may take over each part of a connection, and how
    /// many connections may be open (`request_header_timeout`,
    /// `keepalive_timeout`, `h2_idle_timeout`, `send_timeout`,
    /// `max_connection_age`, `max_connections`, `h2_max_concurrent_streams`,
    /// `h2_max_send_buffer`).
    pub limits: ConnLimits,
}

/// `[[server.tls]]`.
#[derive(Debug, Clone)]
pub struct TlsListener {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Certificate chain, PEM.
    pub cert: PathBuf,
    /// Private key, PEM.
    pub key: PathBuf,
}

/// `[admin]`.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Address of `/healthz`, `/readyz`, `/metrics`.
    pub listen: SocketAddr,
}

/// One `[[token.secret]]`.
#[derive(Debug, Clone)]
pub struct SecretConfig {
    /// Where the base64 secret is read from.
    pub base64: SecretSource,
    /// Optional key id.
    pub kid: Option<String>,
}

/// `[token]`.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// The policy keys (header, prefix, mode, algorithms, leeway,
    /// max_lifetime, issuer, audience, binding_headers, allow_missing_pay,
    /// reject_status, max_token_bytes, query_param) over the core's
    /// defaults; routes start from it.
    pub policy: Policy,
    /// Verified-token cache size.
    pub cache_capacity: u64,
    /// HS256 account secrets.
    pub secrets: Vec<SecretConfig>,
    /// `[token.jwks]`.
    pub jwks: Option<JwksOptions>,
}

pub use attestgate::TokenRequirement;

/// The HTTP version a route speaks to its upstream (`[[route]] protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamProtocol {
    /// `"http1"`: HTTP/1.1 only (TLS upstreams are offered `http/1.1` by ALPN).
    Http1,
    /// `"h2"`: HTTP/2 only: h2c with prior knowledge to `http://`, ALPN `h2`
    /// to `https://`. WebSocket upgrades still go as HTTP/1.1.
    H2,
    /// `"auto"` (default): gRPC (`content-type: application/grpc*`) as
    /// HTTP/2 (h2c to `http://`), the rest as HTTP/1.1 to `http://` and by
    /// ALPN, `h2` preferred, to `https://`.
    #[default]
    Auto,
}

/// Where a route forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// The built-in echo service (`upstream = "demo"`).
    Demo,
    /// A real upstream.
    Http {
        /// `https://`: TLS with certificate verification and SNI.
        tls: bool,
        /// Host name or IP literal, as written.
        host: String,
        /// Port (default 80 / 443).
        port: u16,
    },
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Upstream::Demo => f.write_str("demo"),
            Upstream::Http { tls, host, port } => {
                let scheme = if *tls { "https" } else { "http" };
                if host.contains(':') {
                    write!(f, "{scheme}://[{host}]:{port}")
                } else {
                    write!(f, "{scheme}://{host}:{port}")
                }
            }
        }
    }
}

/// Where a placeholder is looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubstituteTarget {
    /// A request header.
    Header(HeaderName),
    /// A query parameter.
    Query(String),
}

/// One `[[route.substitute]]`.
#[derive(Debug, Clone)]
pub struct SubstituteConfig {
    /// Header or query parameter.
    pub target: SubstituteTarget,
    /// Text before the placeholder that stays (e.g. `Bearer `), as Approov's
    /// `addSubstitutionHeader(header, prefix)`.
    pub prefix: String,
    /// The value the app ships.
    pub placeholder: String,
    /// The real value.
    pub secret: SecretSource,
}

/// One `[[route]]`.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// Name (metric label, logs).
    pub name: String,
    /// Path prefix; longest match wins.
    pub path_prefix: String,
    /// Optional `Host` match (lower-case, no port).
    pub host: Option<String>,
    /// Where requests go.
    pub upstream: Upstream,
    /// Token required, optional or off (also in `policy.token`).
    pub token: TokenRequirement,
    /// The route's policy: `[token]`'s, with `[route.policy]` applied, the
    /// route's name, `token`, `methods_without_token` and `mode`.
    pub policy: Policy,
    /// Headers sent upstream, each the value of a claim of the passing
    /// token (`[route.forward_claims]`); removed from every client request
    /// on every route.
    pub forward_claims: Vec<(HeaderName, String)>,
    /// Keep the token header when forwarding.
    pub forward_token: bool,
    /// HTTP version to the upstream.
    pub protocol: UpstreamProtocol,
    /// Upstream connect timeout.
    pub connect_timeout: Duration,
    /// Re-resolve the upstream name this often and spread requests over
    /// every address found (`None`: resolved once, at start).
    pub resolve_interval: Option<Duration>,
    /// Upstream read timeout.
    pub read_timeout: Duration,
    /// Placeholders to replace.
    pub substitute: Vec<SubstituteConfig>,
    /// `[[route.rate_limit]]`, in file order: a request must pass all.
    pub rate_limits: Vec<attestgate::ratelimit::RateLimitRule>,
}

/// One problem, with the key path it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Key path, e.g. `token.secret[0].base64`, or `line 4, column 9`.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in one file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {p}", self.file.display())?;
        }
        Ok(())
    }
}

impl Config {
    /// Reads, parses and checks a file. Secret references are resolved to
    /// check they are readable (and, for HS256 secrets, decodable).
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        Config::load_with(path.as_ref(), false)
    }

    /// As [`Config::load`], but secret references named by `env` or `file`
    /// are checked for shape only, never read (`check-config --offline`: CI
    /// validating a config whose secrets live elsewhere). The sources stay
    /// unread in the result, so serve it only after a [`Config::load`].
    pub fn load_offline(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        Config::load_with(path.as_ref(), true)
    }

    fn load_with(path: &Path, offline: bool) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_owned(),
            problems: vec![Problem {
                path: "(file)".into(),
                message: format!("cannot read the file: {e}"),
            }],
        })?;
        Config::check_text(&text, path, offline)
    }

    /// Parses and checks TOML text; `path` names it in errors and anchors
    /// relative file paths (they are relative to the file's directory).
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        Config::check_text(text, path, false)
    }

    fn check_text(text: &str, path: &Path, offline: bool) -> Result<Config, ConfigError> {
        let fail = |problems| ConfigError {
            file: path.to_owned(),
            problems,
        };
        let raw = check::parse(text).map_err(|p| fail(vec![p]))?;
        check::check_with(raw, path, offline).map_err(fail)
    }

    /// The route named `name`.
    pub fn route(&self, name: &str) -> Option<&RouteConfig> {
        self.routes.iter().find(|r| r.name == name)
    }
}

impl TokenConfig {
    /// A verifier builder with every `[token]` setting applied.
    pub fn verifier_builder(&self) -> VerifierBuilder {
        let mut b = Verifier::builder()
            .policy(self.policy.clone())
            .cache_capacity(self.cache_capacity);
        for s in &self.secrets {
            b = b.secret_source(s.base64.clone(), s.kid.as_deref());
        }
        if let Some(jwks) = &self.jwks {
            b = b.jwks_options(jwks.clone());
        }
        b
    }

    /// Builds the verifier (loading keys now); problems carry `token.` paths.
    pub fn build_verifier(&self) -> Result<Verifier, Vec<Problem>> {
        self.verifier_builder().build().map_err(|e| {
            e.0.into_iter()
                .map(|p| Problem {
                    path: format!("token.{}", p.path),
                    message: p.message,
                })
                .collect()
        })
    }
}
