//! `[server]`: listeners, TLS, threads, limits, drain and the rest.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;

use super::{DEFAULT_DRAIN_DELAY, DEFAULT_RUNTIME_DIR};
use crate::checker::Checker;
use crate::raw;
use crate::{ServerConfig, TlsListener};

pub(super) fn check_server(c: &mut Checker<'_>, s: raw::RawServer) -> ServerConfig {
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
    let lean_http1 = crate::headers::http1_path(c, s.http1_path.as_deref());
    ServerConfig {
        underscore_headers,
        lean_http1,
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
