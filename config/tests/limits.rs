//! `[server]` connection limits and listener overlaps: defaults, values,
//! and every bad value reported with its key path and the fix.

use std::path::Path;
use std::time::Duration;

use attestgate_config::{Config, ConnLimits};

const ROUTE: &str = "[[route]]\nname = \"a\"\nupstream = \"demo\"\ntoken = \"off\"\n";

fn load(text: &str) -> Result<Config, Vec<String>> {
    Config::from_toml(
        &format!("{text}\n{ROUTE}"),
        Path::new("/etc/attestgate/attestgate.toml"),
    )
    .map_err(|e| e.problems.iter().map(ToString::to_string).collect())
}

#[test]
fn the_defaults_are_of_nginxs_order_of_magnitude() {
    let l = load("").unwrap().server.limits;
    assert_eq!(l, ConnLimits::default());
    assert_eq!(l.request_header_timeout, Duration::from_secs(15));
    assert_eq!(l.keepalive_timeout, Duration::from_secs(75));
    assert_eq!(l.h2_idle_timeout, Duration::from_secs(75));
    assert_eq!(l.send_timeout, Duration::from_secs(30));
    assert_eq!(l.max_connection_age, None);
    assert_eq!(l.max_connections, None);
    assert_eq!(l.h2_max_concurrent_streams, 100);
    assert_eq!(l.h2_max_send_buffer, 65536);
}

#[test]
fn every_limit_can_be_set() {
    let l = load(
        "[server]\nrequest_header_timeout = \"2s\"\nkeepalive_timeout = \"500ms\"\nh2_idle_timeout = \"3m\"\nsend_timeout = \"45s\"\nmax_connection_age = \"1h\"\nmax_connections = 5000\nh2_max_concurrent_streams = 32\nh2_max_send_buffer = 16384\n",
    )
    .unwrap()
    .server
    .limits;
    assert_eq!(
        l,
        ConnLimits {
            request_header_timeout: Duration::from_secs(2),
            keepalive_timeout: Duration::from_millis(500),
            h2_idle_timeout: Duration::from_secs(180),
            send_timeout: Duration::from_secs(45),
            max_connection_age: Some(Duration::from_secs(3600)),
            max_connections: Some(5000),
            h2_max_concurrent_streams: 32,
            h2_max_send_buffer: 16384,
        }
    );
}

#[test]
fn bad_limits_name_their_key_and_the_fix() {
    for (line, want) in [
        (
            "request_header_timeout = \"15\"",
            "server.request_header_timeout: \"15\" is not a duration; write it like \"300ms\"",
        ),
        (
            "request_header_timeout = \"2m\"",
            "server.request_header_timeout: 2m is out of range; use 100ms to 1m (default 15s)",
        ),
        (
            "keepalive_timeout = \"0s\"",
            "server.keepalive_timeout: 0s is out of range; use 100ms to 1h (default 1m 15s)",
        ),
        (
            "h2_idle_timeout = \"2h\"",
            "server.h2_idle_timeout: 2h is out of range",
        ),
        (
            "send_timeout = \"10ms\"",
            "server.send_timeout: 10ms is out of range",
        ),
        (
            "max_connection_age = \"1ms\"",
            "server.max_connection_age: 1ms is out of range",
        ),
        (
            "max_connections = 0",
            "server.max_connections: 0 is out of range; use 1 to 10000000, or remove it",
        ),
        (
            "h2_max_concurrent_streams = 0",
            "server.h2_max_concurrent_streams: 0 is out of range; use 1 to 1000 (default 100)",
        ),
        (
            "h2_max_send_buffer = 100",
            "server.h2_max_send_buffer: 100 is out of range; use 4096 to 16777216",
        ),
        ("send_timeout = 30", "server.send_timeout"),
        ("idle_timeout = \"30s\"", "unknown field `idle_timeout`"),
    ] {
        let got = load(&format!("[server]\n{line}")).unwrap_err();
        assert!(got.iter().any(|p| p.contains(want)), "{line}: {got:?}");
    }
}

#[test]
fn overlapping_listeners_are_refused_with_the_later_key() {
    let got = load(
        "[server]\nlisten = [\"0.0.0.0:8080\", \"127.0.0.1:8081\", \"[::1]:8080\"]\n[admin]\nlisten = \"127.0.0.1:8080\"\n",
    )
    .unwrap_err();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with(
            "admin.listen: 127.0.0.1:8080 is also server.listen[0] (0.0.0.0:8080, which overlaps it on the same port)"
        ) && got[0].contains("give the admin a port of its own"),
        "{got:?}"
    );
    let got = load("[server]\nlisten = [\"127.0.0.1:8080\", \"127.0.0.1:8080\"]\n").unwrap_err();
    assert_eq!(
        got,
        [
            "server.listen[1]: 127.0.0.1:8080 is also server.listen[0] (the same address and port): both would take the same connections; listen on each address once"
        ]
    );
}
