//! `[route.policy.message_signing]` and `[token.message_signing]`: keys
//! over the core's defaults, route tables over `[token]`'s, and every bad
//! value reported with its key path (a Redis password never echoed).

use std::path::Path;
use std::time::Duration;

use attestgate::msgsig::{ContentDigestRule, MessageSigningPolicy, OnStoreError, ReplayMode};
use attestgate_config::Config;

const SECRET: &str =
    "uQ0ha1cKPsgLPzHD4YRqMfZiHz1Wq+p0GoZl0+1dkuQ3VnJ5jYtpLnqJuNwU2G0hT8nO2oQUvD3w2pIQ7r3Abw==";

fn load(extra_token: &str, routes: &str) -> Result<Config, Vec<String>> {
    let text = format!(
        "[token]\n[[token.secret]]\nbase64 = {{ value = \"{SECRET}\" }}\n{extra_token}\n{routes}"
    );
    Config::from_toml(&text, Path::new("/etc/attestgate/test.toml"))
        .map_err(|e| e.problems.iter().map(ToString::to_string).collect())
}

#[test]
fn tables_apply_over_the_defaults_and_over_token() {
    let c = load(
        "[token.message_signing]\nmax_age = \"30s\"\nreplay = \"off\"",
        r#"
[[route]]
name = "plain"
upstream = "demo"
path_prefix = "/plain"
token = "optional"

[[route]]
name = "signed"
upstream = "demo"
path_prefix = "/signed"
[route.policy.message_signing]
required = false
min_components = ["@method", "@path", "approov-token"]
content_digest = "optional"
max_body_bytes = 4096
replay = "redis"
redis_url = "redis://:pw@127.0.0.1:6390/1"
on_redis_error = "allow"
redis_timeout = "50ms"
leeway = "1s"
"#,
    )
    .unwrap();
    let plain = c.route("plain").unwrap().policy.message_signing.clone();
    assert_eq!(
        plain,
        Some(MessageSigningPolicy {
            max_age: Duration::from_secs(30),
            replay: ReplayMode::Off,
            ..MessageSigningPolicy::default()
        })
    );
    let s = c
        .route("signed")
        .unwrap()
        .policy
        .message_signing
        .clone()
        .unwrap();
    assert!(!s.required);
    assert_eq!(s.min_components, ["@method", "@path", "approov-token"]);
    assert_eq!(s.content_digest, ContentDigestRule::Optional);
    assert_eq!(s.max_age, Duration::from_secs(30), "from [token]");
    assert_eq!(s.max_body_bytes, 4096);
    assert_eq!(s.replay, ReplayMode::Redis);
    assert_eq!(s.on_redis_error, OnStoreError::Allow);
    assert_eq!(s.redis_timeout, Duration::from_millis(50));
    assert_eq!(s.leeway, Duration::from_secs(1));
}

#[test]
fn no_table_no_signing() {
    let c = load("", "[[route]]\nname = \"a\"\nupstream = \"demo\"\n").unwrap();
    assert_eq!(c.route("a").unwrap().policy.message_signing, None);
}

#[test]
fn every_bad_value_is_reported_with_its_path() {
    let got = load(
        "",
        r#"
[[route]]
name = "a"
upstream = "demo"
[route.policy.message_signing]
min_components = ["@method", "@status", "Bad Header"]
content_digest = "always"
max_age = "2h"
max_body_bytes = 0
replay = "disk"
on_redis_error = "maybe"
redis_timeout = "soon"
replay_capacity = -1
"#,
    )
    .unwrap_err();
    let at = "route[0].policy.message_signing";
    for key in [
        "content_digest",
        "max_age",
        "max_body_bytes",
        "replay",
        "on_redis_error",
        "redis_timeout",
        "replay_capacity",
        "min_components[1]",
        "min_components[2]",
    ] {
        assert!(
            got.iter().any(|p| p.starts_with(&format!("{at}.{key}:"))),
            "{key} not reported: {got:#?}"
        );
    }

    let got = load(
        "",
        "[[route]]\nname = \"a\"\nupstream = \"demo\"\n[route.policy.message_signing]\nreplay = \"redis\"\nredis_url = \"http://user:hunter2@h\"\n",
    )
    .unwrap_err();
    assert!(
        got.iter()
            .any(|p| p.starts_with(&format!("{at}.redis_url:"))),
        "{got:?}"
    );
    assert!(got.iter().all(|p| !p.contains("hunter2")), "{got:?}");

    let got = load(
        "",
        "[[route]]\nname = \"a\"\nupstream = \"demo\"\n[route.policy.message_signing]\nreplay = \"redis\"\n",
    )
    .unwrap_err();
    assert!(got.iter().any(|p| p.contains("redis_url")), "{got:?}");
    let got = load(
        "",
        "[[route]]\nname = \"a\"\nupstream = \"demo\"\n[route.policy.message_signing]\nunknown = 1\n",
    )
    .unwrap_err();
    assert!(got.iter().any(|p| p.contains("unknown")), "{got:?}");
}
