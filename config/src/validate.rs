//! From the raw file to the typed configuration, collecting every problem
//! with its key path.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use attestgate::{JwksOptions, Mode, Policy, SecretSource};
use http::HeaderName;

use crate::raw::{self, RawConfig, RawSecretRef};
use crate::{
    AdminConfig, Config, Problem, RouteConfig, SecretConfig, ServerConfig, SubstituteConfig,
    SubstituteTarget, TlsListener, TokenConfig, TokenRequirement, Upstream, UpstreamProtocol,
};

/// Default `[server] drain_delay`: long enough for Kubernetes endpoints and
/// cloud load balancers to stop sending (they learn of a terminating pod a
/// few seconds after it does), short enough that the defaults (5s + 20s
/// grace) fit Kubernetes' default 30s `terminationGracePeriodSeconds`.
pub const DEFAULT_DRAIN_DELAY: Duration = Duration::from_secs(5);

/// Default `[server] runtime_dir` when `$RUNTIME_DIRECTORY` is not set.
pub const DEFAULT_RUNTIME_DIR: &str = "/run/attestgate";

/// Parses a duration written as `"300ms"`, `"30s"`, `"5m"`, `"1h"` (or any
/// combination humantime accepts, like `"1m 30s"`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|_| {
        format!("{text:?} is not a duration; write it like \"300ms\", \"30s\", \"5m\" or \"1h\"")
    })
}

/// Turns a byte offset into 1-based line and column.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// TOML syntax and shape. The message never quotes the file's text.
pub(crate) fn parse(text: &str) -> Result<RawConfig, Problem> {
    let located = |e: &toml::de::Error| match e.span() {
        Some(span) => {
            let (l, c) = line_col(text, span.start);
            format!("line {l}, column {c}")
        }
        None => "(file)".to_owned(),
    };
    let de = toml::Deserializer::parse(text).map_err(|e| Problem {
        path: located(&e),
        message: format!("TOML syntax: {}", e.message().trim()),
    })?;
    serde_path_to_error::deserialize::<_, RawConfig>(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner();
        let message = format!("{} ({})", inner.message().trim(), located(inner));
        Problem {
            path: if path == "." { "(file)".into() } else { path },
            message,
        }
    })
}

pub(crate) struct Checker<'a> {
    base: &'a Path,
    problems: Vec<Problem>,
    pub(crate) warnings: Vec<String>,
    /// Secrets by env or file are not read (`Config::load_offline`).
    pub(crate) offline: bool,
}

impl Checker<'_> {
    pub(crate) fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    pub(crate) fn duration(
        &mut self,
        path: &str,
        value: Option<&String>,
        default: Duration,
    ) -> Duration {
        match value {
            None => default,
            Some(text) => parse_duration(text).unwrap_or_else(|m| {
                self.problem(path, m);
                default
            }),
        }
    }

    pub(crate) fn addr(&mut self, path: &str, text: &str) -> Option<SocketAddr> {
        match text.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.problem(path, format!("{text:?} is not an address; write it like \"127.0.0.1:8080\" or \"[::]:443\""));
                None
            }
        }
    }

    pub(crate) fn header(&mut self, path: &str, text: &str) -> Option<HeaderName> {
        match HeaderName::try_from(text) {
            Ok(h) => Some(h),
            Err(_) => {
                self.problem(path, format!("{text:?} is not a valid HTTP header name"));
                None
            }
        }
    }

    pub(crate) fn file(&self, text: &str) -> PathBuf {
        let p = Path::new(text);
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base.join(p)
        }
    }

    /// A secret reference; checks its shape, and that it can be read now
    /// (unless offline: then only inline values are read).
    pub(crate) fn secret(&mut self, path: &str, r: RawSecretRef) -> SecretSource {
        // A malformed reference is not read: one problem, the name not echoed.
        let malformed = crate::secret_shape::problem(&r);
        if let Some(why) = &malformed {
            self.problem(path, why.as_str());
        }
        let source = match r {
            RawSecretRef::Env(name) => SecretSource::Env(name),
            RawSecretRef::File(f) => SecretSource::File(self.file(&f)),
            RawSecretRef::Value(v) => {
                self.warnings.push(format!(
                    "{path}: an inline secret value is for demos and tests; in production use {{ env = \"NAME\" }} or {{ file = \"path\" }}"
                ));
                SecretSource::Value(attestgate::Secret::new(v.as_bytes().to_vec()))
            }
        };
        if malformed.is_none()
            && !(self.offline && crate::secret_shape::external(&source))
            && let Err(e) = source.read()
        {
            self.problem(path, e.to_string());
        }
        source
    }

    pub(crate) fn int_in(
        &mut self,
        path: &str,
        v: Option<i64>,
        min: i64,
        max: i64,
        default: i64,
    ) -> i64 {
        match v {
            None => default,
            Some(n) if (min..=max).contains(&n) => n,
            Some(n) => {
                self.problem(
                    path,
                    format!("{n} is out of range; use {min} to {max} (default {default})"),
                );
                default
            }
        }
    }

    pub(crate) fn mode(&mut self, path: &str, v: Option<&str>, default: Mode) -> Mode {
        match v {
            None => default,
            Some("enforce") => Mode::Enforce,
            Some("monitor") => Mode::Monitor,
            Some(other) => {
                self.problem(
                    path,
                    format!("{other:?} is not a mode; use \"enforce\" or \"monitor\""),
                );
                default
            }
        }
    }
}

pub(crate) fn check(raw: RawConfig, file: &Path) -> Result<Config, Vec<Problem>> {
    check_with(raw, file, false)
}

/// `offline`: secret references by env or file are checked for shape only.
pub(crate) fn check_with(
    raw: RawConfig,
    file: &Path,
    offline: bool,
) -> Result<Config, Vec<Problem>> {
    let base = file.parent().map(Path::to_owned).unwrap_or_default();
    let mut c = Checker {
        base: &base,
        problems: Vec::new(),
        warnings: Vec::new(),
        offline,
    };
    let server = check_server(&mut c, raw.server);
    let admin = raw.admin.and_then(|a| {
        c.addr("admin.listen", &a.listen)
            .map(|listen| AdminConfig { listen })
    });
    crate::listeners::check(&mut c, &server, admin.as_ref());
    let token = raw.token.map(|t| check_token(&mut c, t));
    let pins = raw.pins.map(|p| crate::pins::check(&mut c, p));
    let base = token.as_ref().map(|t| t.policy.clone());
    let mut routes = Vec::new();
    for (i, r) in raw.routes.into_iter().enumerate() {
        routes.push(check_route(
            &mut c,
            i,
            r,
            base.as_ref(),
            server.target_rules,
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, r) in routes.iter().enumerate() {
        if !seen.insert(r.name.clone()) {
            c.problem(
                format!("route[{i}].name"),
                format!(
                    "{:?} is used by an earlier route; names must be unique",
                    r.name
                ),
            );
        }
    }
    let mut matches = std::collections::HashSet::new();
    for (i, r) in routes.iter().enumerate() {
        if !matches.insert((r.host.clone(), r.path_prefix.clone())) {
            c.problem(
                format!("route[{i}].path_prefix"),
                format!(
                    "an earlier route already matches host {:?} and path prefix {:?}",
                    r.host, r.path_prefix
                ),
            );
        }
    }
    if token.is_none()
        && let Some(i) = routes.iter().position(|r| r.token != TokenRequirement::Off)
    {
        c.problem(format!("route[{i}].token"), "the route requires a token but there is no [token] section; add one, or set token = \"off\"");
    }
    if c.problems.is_empty() {
        Ok(Config {
            path: file.to_owned(),
            server,
            admin,
            token,
            routes,
            pins,
            warnings: c.warnings,
        })
    } else {
        Err(c.problems)
    }
}

fn check_server(c: &mut Checker<'_>, s: raw::RawServer) -> ServerConfig {
    let limits = crate::limits::check(c, &s);
    let listen_text = s
        .listen
        .unwrap_or_else(|| vec!["127.0.0.1:8080".to_owned()]);
    let listen: Vec<SocketAddr> = listen_text
        .iter()
        .enumerate()
        .filter_map(|(i, a)| c.addr(&format!("server.listen[{i}]"), a))
        .collect();
    let mut tls = Vec::new();
    for (i, t) in s.tls.into_iter().enumerate() {
        let cert = c.file(&t.cert);
        let key = c.file(&t.key);
        for (what, p) in [("cert", &cert), ("key", &key)] {
            if !p.is_file() {
                c.problem(
                    format!("server.tls[{i}].{what}"),
                    format!("{} does not exist or is not a file", p.display()),
                );
            }
        }
        if let Some(listen) = c.addr(&format!("server.tls[{i}].listen"), &t.listen) {
            tls.push(TlsListener { listen, cert, key });
        }
    }
    if listen_text.is_empty() && tls.is_empty() {
        c.problem("server.listen", "no listener; give at least one address, e.g. [\"127.0.0.1:8080\"], or a [[server.tls]]");
    }
    let upstream_ca_file = s.upstream_ca_file.as_deref().map(|f| c.file(f));
    if let Some(f) = &upstream_ca_file
        && !f.is_file()
    {
        c.problem(
            "server.upstream_ca_file",
            format!("{} does not exist or is not a file", f.display()),
        );
    }
    let cpus = std::thread::available_parallelism().map_or(1, usize::from) as i64;
    let target_rules = attestgate::target::TargetRules {
        allow_encoded_slash: s.allow_encoded_slash.unwrap_or(false),
        allow_path_params: s.allow_path_params.unwrap_or(false),
    };
    if target_rules.allow_encoded_slash {
        c.warnings.push("server.allow_encoded_slash: %2F is forwarded as part of a path segment; safe only if no upstream decodes it into '/' (one that does can be reached past a route's prefix)".to_owned());
    }
    let path_case_insensitive = match s.path_case.as_deref() {
        None | Some("sensitive") => false,
        Some("insensitive") => true,
        Some(other) => {
            c.problem(
                "server.path_case",
                format!("{other:?} is not a path case; use \"sensitive\" or \"insensitive\""),
            );
            false
        }
    };
    let mut strip_request_headers = vec![
        HeaderName::from_static("x-original-url"),
        HeaderName::from_static("x-rewrite-url"),
    ];
    for (i, h) in s
        .strip_request_headers
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if let Some(h) = c.header(&format!("server.strip_request_headers[{i}]"), h)
            && !strip_request_headers.contains(&h)
        {
            strip_request_headers.push(h);
        }
    }
    let runtime_dir = s.runtime_dir.as_deref().map_or_else(
        || {
            std::env::var_os("RUNTIME_DIRECTORY")
                .filter(|d| !d.is_empty())
                .map_or_else(|| PathBuf::from(DEFAULT_RUNTIME_DIR), PathBuf::from)
        },
        |d| c.file(d),
    );
    let drain_delay = c.duration(
        "server.drain_delay",
        s.drain_delay.as_ref(),
        DEFAULT_DRAIN_DELAY,
    );
    if drain_delay > Duration::from_secs(300) {
        c.problem(
            "server.drain_delay",
            "above 5m; load balancers catch up within seconds (default 5s)",
        );
    }
    let hosts_file = s.hosts_file.as_deref().map(|f| c.file(f));
    if let Some(f) = &hosts_file
        && !f.is_file()
    {
        c.problem(
            "server.hosts_file",
            format!("{} does not exist or is not a file", f.display()),
        );
    }
    let underscore_headers = crate::headers::underscore_headers(c, s.underscore_headers.as_deref());
    ServerConfig {
        underscore_headers,
        limits,
        hosts_file,
        target_rules,
        path_case_insensitive,
        strip_request_headers,
        drain_delay,
        listen,
        tls,
        threads: c.int_in("server.threads", s.threads, 1, 1024, cpus) as usize,
        grace_period: c.duration(
            "server.grace_period",
            s.grace_period.as_ref(),
            Duration::from_secs(20),
        ),
        graceful_shutdown_timeout: c.duration(
            "server.graceful_shutdown_timeout",
            s.graceful_shutdown_timeout.as_ref(),
            Duration::from_secs(5),
        ),
        max_header_bytes: c.int_in(
            "server.max_header_bytes",
            s.max_header_bytes,
            1024,
            1 << 20,
            64 * 1024,
        ) as usize,
        upstream_keepalive: c.int_in(
            "server.upstream_keepalive",
            s.upstream_keepalive,
            0,
            65536,
            128,
        ) as usize,
        access_log: s.access_log.unwrap_or(false),
        upgrade_sock: s.upgrade_sock.map_or_else(
            || {
                runtime_dir
                    .join("upgrade.sock")
                    .to_string_lossy()
                    .into_owned()
            },
            |p| c.file(&p).to_string_lossy().into_owned(),
        ),
        pid_file: s.pid_file.map_or_else(
            || {
                runtime_dir
                    .join("attestgate.pid")
                    .to_string_lossy()
                    .into_owned()
            },
            |p| c.file(&p).to_string_lossy().into_owned(),
        ),
        runtime_dir,
        upstream_ca_file,
    }
}

fn check_token(c: &mut Checker<'_>, mut t: raw::RawToken) -> TokenConfig {
    let policy = crate::policy::apply(c, "token", t.take_policy(), &Policy::default());
    let cache_capacity = c.int_in(
        "token.cache_capacity",
        t.cache_capacity,
        0,
        100_000_000,
        100_000,
    ) as u64;
    let mut secrets = Vec::new();
    for (i, s) in t.secrets.into_iter().enumerate() {
        let path = format!("token.secret[{i}].base64");
        let source = c.secret(&path, s.base64);
        // Decode now too, so check-config reports a short or garbled secret.
        if !(c.offline && crate::secret_shape::external(&source))
            && let Ok(text) = source.read()
            && let Err(e) = attestgate::keys::decode_secret_base64(text.expose())
        {
            c.problem(path, e.to_string());
        }
        if s.kid.as_deref() == Some("") {
            c.problem(
                format!("token.secret[{i}].kid"),
                "empty; remove it or give the key id",
            );
        }
        secrets.push(SecretConfig {
            base64: source,
            kid: s.kid,
        });
    }
    let jwks = t.jwks.map(|j| check_jwks(c, j));
    if secrets.is_empty()
        && jwks
            .as_ref()
            .is_none_or(|j| j.file.is_none() && j.url.is_none())
    {
        c.problem(
            "token",
            "no key source; add a [[token.secret]] with base64 = { env = \"APPROOV_SECRET\" }, or a [token.jwks] file or url",
        );
    }
    TokenConfig {
        policy,
        cache_capacity,
        secrets,
        jwks,
    }
}

fn check_jwks(c: &mut Checker<'_>, j: raw::RawJwks) -> JwksOptions {
    let d = JwksOptions::default();
    let file = j.file.as_deref().map(|f| c.file(f));
    if let Some(f) = &file {
        match std::fs::read(f) {
            Err(e) => c.problem(
                "token.jwks.file",
                format!("cannot read {}: {e}", f.display()),
            ),
            Ok(bytes) => {
                if let Err(e) = attestgate::keys::parse_jwks(&bytes) {
                    c.problem("token.jwks.file", format!("{}: {e}", f.display()));
                }
            }
        }
    }
    let allow_insecure_http = j.allow_insecure_http.unwrap_or(false);
    if let Some(url) = &j.url {
        crate::headers::check_jwks_url(c, url, allow_insecure_http);
    }
    if j.cache_file.is_some() && j.url.is_none() {
        c.problem(
            "token.jwks.cache_file",
            "only used with url; remove it or add url",
        );
    }
    let refresh = c.duration("token.jwks.refresh", j.refresh.as_ref(), d.refresh);
    let min_refetch = c.duration(
        "token.jwks.min_refetch",
        j.min_refetch.as_ref(),
        d.min_refetch,
    );
    let timeout = c.duration("token.jwks.timeout", j.timeout.as_ref(), d.timeout);
    let watch_interval = c.duration(
        "token.jwks.watch_interval",
        j.watch_interval.as_ref(),
        d.watch_interval,
    );
    if refresh < Duration::from_secs(1) {
        c.problem(
            "token.jwks.refresh",
            "below 1s; refetching that often only loads the issuer",
        );
    }
    if min_refetch > refresh {
        c.problem(
            "token.jwks.min_refetch",
            "longer than refresh; it must not exceed it",
        );
    }
    if timeout.is_zero() {
        c.problem("token.jwks.timeout", "must be above zero");
    }
    if watch_interval < Duration::from_millis(10) {
        c.problem("token.jwks.watch_interval", "below 10ms");
    }
    let egress = crate::egress::check(c, &j);
    JwksOptions {
        egress,
        file,
        url: j.url,
        refresh,
        min_refetch,
        timeout,
        cache_file: j.cache_file.as_deref().map(|f| c.file(f)),
        max_body_bytes: c.int_in(
            "token.jwks.max_body_bytes",
            j.max_body_bytes,
            1024,
            64 * 1024 * 1024,
            attestgate::refresh::DEFAULT_MAX_BODY_BYTES as i64,
        ) as usize,
        watch_interval,
        allow_insecure_http,
    }
}

fn check_upstream(c: &mut Checker<'_>, path: &str, text: &str) -> Upstream {
    if text == "demo" {
        return Upstream::Demo;
    }
    let fallback = Upstream::Demo;
    let Ok(uri) = text.parse::<http::Uri>() else {
        c.problem(
            path,
            format!("{text:?} is not a URL; write it like \"http://127.0.0.1:9000\""),
        );
        return fallback;
    };
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => {
            c.problem(
                path,
                format!("{text:?} must start with http:// or https:// (or be \"demo\")"),
            );
            return fallback;
        }
    };
    let Some(authority) = uri.authority() else {
        c.problem(path, format!("{text:?} has no host"));
        return fallback;
    };
    if authority.as_str().contains('@') {
        c.problem(path, "user info in the upstream URL is not supported");
        return fallback;
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        c.problem(
            path,
            format!("{text:?} has a path or query; requests keep their own path, so give only scheme, host and port"),
        );
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    Upstream::Http { tls, host, port }
}

fn check_route(
    c: &mut Checker<'_>,
    i: usize,
    r: raw::RawRoute,
    base: Option<&Policy>,
    target_rules: attestgate::target::TargetRules,
) -> RouteConfig {
    let at = |k: &str| format!("route[{i}].{k}");
    let name = r.name.unwrap_or_else(|| {
        c.problem(
            at("name"),
            "missing; every route needs a name (it is the `route` metric label)",
        );
        format!("route-{i}")
    });
    if !name.is_empty()
        && !name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    {
        c.problem(
            at("name"),
            format!("{name:?}: use letters, digits, '-', '_' and '.' only"),
        );
    }
    let path_prefix = r.path_prefix.unwrap_or_else(|| "/".to_owned());
    if !path_prefix.starts_with('/') {
        c.problem(
            at("path_prefix"),
            format!("{path_prefix:?} must start with '/'"),
        );
    } else if path_prefix.contains('?') {
        c.problem(
            at("path_prefix"),
            format!("{path_prefix:?}: a path prefix cannot hold a query"),
        );
    } else if let Err(why) = attestgate::target::check_prefix(&path_prefix, target_rules) {
        c.problem(at("path_prefix"), why);
    }
    // Matched against the canonical `Host` name (lower case, no trailing
    // dot, port ignored): the same rules make the configured name.
    let host = r
        .host
        .clone()
        .map(|h| match attestgate::target::canonical_host(h.as_bytes()) {
            Ok(canon) if canon.port().is_none() => canon.name().to_owned(),
            _ => {
                c.problem(
                    at("host"),
                    format!(
                        "{h:?} is not a host name (no port, no scheme), e.g. \"api.example.com\""
                    ),
                );
                h
            }
        });
    let upstream = match &r.upstream {
        Some(u) => check_upstream(c, &at("upstream"), u),
        None => {
            c.problem(
                at("upstream"),
                "missing; give \"http://host:port\", \"https://host\" or \"demo\"",
            );
            Upstream::Demo
        }
    };
    let token = match r.token.as_deref() {
        None | Some("required") => TokenRequirement::Required,
        Some("optional") => TokenRequirement::Optional,
        Some("off") => TokenRequirement::Off,
        Some(other) => {
            c.problem(
                at("token"),
                format!("{other:?}: use \"required\", \"optional\" or \"off\""),
            );
            TokenRequirement::Required
        }
    };
    let protocol = match r.protocol.as_deref() {
        None | Some("auto") => UpstreamProtocol::Auto,
        Some("http1") => UpstreamProtocol::Http1,
        Some("h2") => UpstreamProtocol::H2,
        Some(other) => {
            c.problem(
                at("protocol"),
                format!("{other:?}: use \"auto\", \"http1\" or \"h2\""),
            );
            UpstreamProtocol::Auto
        }
    };
    if protocol == UpstreamProtocol::H2 && upstream == Upstream::Demo {
        c.problem(
            at("protocol"),
            "the demo upstream speaks HTTP/1.1 only; remove protocol or set it to \"auto\"",
        );
    }
    let policy = route_policy(
        c,
        i,
        &name,
        token,
        (r.policy, r.mode, r.methods_without_token),
        base,
    );
    let token_header = base.map(|_| &policy.header);
    let connect_timeout = c.duration(
        &at("connect_timeout"),
        r.connect_timeout.as_ref(),
        Duration::from_secs(2),
    );
    let read_timeout = c.duration(
        &at("read_timeout"),
        r.read_timeout.as_ref(),
        Duration::from_secs(30),
    );
    let resolve_interval = r.resolve_interval.as_ref().map(|v| {
        let d = c.duration(&at("resolve_interval"), Some(v), Duration::from_secs(30));
        if d < Duration::from_millis(100) {
            c.problem(
                at("resolve_interval"),
                "below 100ms; resolving that often only loads the resolver",
            );
        }
        d
    });
    if resolve_interval.is_some()
        && match &upstream {
            Upstream::Demo => true,
            Upstream::Http { host, .. } => host.parse::<std::net::IpAddr>().is_ok(),
        }
    {
        c.problem(
            at("resolve_interval"),
            "the upstream is not a host name, so there is nothing to resolve; remove resolve_interval",
        );
    }
    for (k, d) in [
        ("connect_timeout", connect_timeout),
        ("read_timeout", read_timeout),
    ] {
        if d.is_zero() {
            c.problem(at(k), "must be above zero");
        }
    }
    let mut substitute = Vec::new();
    for (j, s) in r.substitute.into_iter().enumerate() {
        let sat = |k: &str| format!("route[{i}].substitute[{j}].{k}");
        let secret = c.secret(&sat("secret"), s.secret);
        let target = match (s.header, s.query) {
            (Some(h), None) => c.header(&sat("header"), &h).map(SubstituteTarget::Header),
            (None, Some(q)) if !q.is_empty() => {
                if s.prefix.is_some() {
                    c.problem(sat("prefix"), "only for header substitutions");
                }
                Some(SubstituteTarget::Query(q))
            }
            _ => {
                c.problem(
                    format!("route[{i}].substitute[{j}]"),
                    "give exactly one of header = \"...\" or query = \"...\"",
                );
                None
            }
        };
        if let (Some(SubstituteTarget::Header(h)), Some(th)) = (&target, token_header)
            && h == th
        {
            c.problem(
                sat("header"),
                "is the token header; substitute another header",
            );
        }
        let placeholder = s.placeholder.unwrap_or_default();
        if placeholder.is_empty() {
            c.problem(
                sat("placeholder"),
                "missing or empty; give the placeholder value the app ships",
            );
        }
        if let Some(target) = target {
            if substitute
                .iter()
                .any(|o: &SubstituteConfig| o.target == target)
            {
                c.problem(
                    sat("header"),
                    "this header or query parameter is already substituted in this route",
                );
            }
            substitute.push(SubstituteConfig {
                target,
                prefix: s.prefix.unwrap_or_default(),
                placeholder,
                secret,
            });
        }
    }
    if token == TokenRequirement::Off && !substitute.is_empty() {
        c.problem(
            at("substitute"),
            "this route has token = \"off\", and a route without a token check never gets secrets; remove the substitutions or set token = \"required\"",
        );
    }
    let forward_claims = check_forward_claims(c, i, r.forward_claims, &policy, &substitute);
    let rate_limits = crate::ratelimit::check(c, i, r.rate_limit, base.is_some());
    RouteConfig {
        name,
        path_prefix,
        host,
        upstream,
        token,
        policy,
        forward_claims,
        forward_token: r.forward_token.unwrap_or(false),
        protocol,
        connect_timeout,
        resolve_interval,
        read_timeout,
        substitute,
        rate_limits,
    }
}

/// The route's policy: `[token]`'s (or the defaults), `[route.policy]`
/// applied, then the route's own `token`, `mode` and
/// `methods_without_token`.
fn route_policy(
    c: &mut Checker<'_>,
    i: usize,
    name: &str,
    token: TokenRequirement,
    (raw_policy, mode, methods): (
        Option<crate::policy::RawPolicy>,
        Option<String>,
        Option<Vec<String>>,
    ),
    base: Option<&Policy>,
) -> Policy {
    let at = |k: &str| format!("route[{i}].{k}");
    let base = base.cloned().unwrap_or_default();
    let mut policy = match raw_policy {
        Some(raw) => {
            if token == TokenRequirement::Off {
                c.warnings.push(format!(
                    "{}: the route has token = \"off\", so its policy is never used",
                    at("policy")
                ));
            }
            crate::policy::apply(c, &at("policy"), raw, &base)
        }
        None => base,
    };
    policy.name = name.to_owned();
    policy.token = token;
    policy.mode = c.mode(&at("mode"), mode.as_deref(), policy.mode);
    for (j, m) in methods.iter().flatten().enumerate() {
        match http::Method::from_bytes(m.as_bytes()) {
            Ok(method) if m.bytes().all(|b| b.is_ascii_uppercase()) => {
                policy.methods_without_token.push(method);
            }
            _ => c.problem(
                format!("route[{i}].methods_without_token[{j}]"),
                format!("{m:?} is not a method; write it in capitals, e.g. \"OPTIONS\""),
            ),
        }
    }
    policy
}

fn check_forward_claims(
    c: &mut Checker<'_>,
    i: usize,
    raw: Option<std::collections::BTreeMap<String, String>>,
    policy: &Policy,
    substitute: &[SubstituteConfig],
) -> Vec<(HeaderName, String)> {
    let mut out = Vec::new();
    for (header, claim) in raw.unwrap_or_default() {
        let at = format!("route[{i}].forward_claims.{header:?}");
        let Some(h) = c.header(&at, &header) else {
            continue;
        };
        if claim.is_empty() {
            c.problem(
                &at,
                "empty claim name; give the claim to send, e.g. \"did\"",
            );
        }
        let clashes = h == policy.header
            || policy.binding_headers.contains(&h)
            || substitute
                .iter()
                .any(|s| s.target == SubstituteTarget::Header(h.clone()));
        if clashes {
            c.problem(
                &at,
                "is also the token, a binding or a substituted header; forward the claim in a header of its own",
            );
        }
        if matches!(
            h.as_str(),
            "host" | "content-length" | "transfer-encoding" | "connection"
        ) {
            c.problem(
                &at,
                "is a framing header; pick another name, e.g. \"X-Approov-Did\"",
            );
        }
        out.push((h, claim));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("a\nbc\nd", 0), (1, 1));
        assert_eq!(line_col("a\nbc\nd", 3), (2, 2));
        assert_eq!(line_col("a\nbc\nd", 5), (3, 1));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("10").is_err());
    }
}
