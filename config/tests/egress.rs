//! `[token.jwks]` egress settings: parsed, resolved against the config
//! file's folder, and checked with their key paths.

use std::path::{Path, PathBuf};

use attestgate::ProxySetting;
use attestgate_config::Config;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/tls")
        .join(name)
        .canonicalize()
        .unwrap()
}

fn load(jwks: &str) -> Result<Config, Vec<String>> {
    let text = format!("[token]\n[token.jwks]\n{jwks}\n");
    Config::from_toml(&text, &fixture("ca.pem").with_file_name("attestgate.toml"))
        .map_err(|e| e.problems.iter().map(ToString::to_string).collect())
}

const URL: &str = "url = \"https://issuer.example/jwks.json\"";

#[test]
fn egress_settings_parse_relative_to_the_config_file() {
    let c = load(&format!(
        "{URL}\nca_file = \"ca.pem\"\nsystem_roots = false\nproxy = \"http://u:p@proxy.internal:3128\"\nclient_cert = \"localhost.pem\"\nclient_key = \"localhost.key\""
    ))
    .unwrap();
    let e = &c.token.unwrap().jwks.unwrap().egress;
    assert_eq!(e.ca_file.as_deref(), Some(fixture("ca.pem").as_path()));
    assert_eq!(
        e.client_key.as_deref(),
        Some(fixture("localhost.key").as_path())
    );
    assert_eq!(
        e.proxy,
        ProxySetting::Url("http://u:p@proxy.internal:3128".into())
    );

    let c = load(&format!("{URL}\nproxy = \"off\"")).unwrap();
    assert_eq!(
        c.token.unwrap().jwks.unwrap().egress.proxy,
        ProxySetting::Off
    );
    let c = load(URL).unwrap();
    let e = c.token.unwrap().jwks.unwrap().egress;
    assert_eq!(e.proxy, ProxySetting::FromEnv, "the environment by default");
    assert!(e.is_default());
}

#[test]
fn bad_egress_settings_are_reported_with_their_key_paths() {
    let cases: &[(&str, &str)] = &[
        (
            "ca_file = \"missing.pem\"",
            "token.jwks.ca_file: cannot read",
        ),
        (
            "ca_file = \"localhost.key\"",
            "token.jwks.ca_file: no CERTIFICATE",
        ),
        (
            "client_cert = \"localhost.pem\"",
            "token.jwks.client_key: client_cert needs client_key",
        ),
        (
            "client_key = \"localhost.key\"",
            "token.jwks.client_cert: client_key needs client_cert",
        ),
        (
            "client_cert = \"localhost.pem\"\nclient_key = \"other.key\"",
            "token.jwks.client_key: does not fit",
        ),
        (
            "client_cert = \"localhost.pem\"\nclient_key = \"ca.pem\"",
            "token.jwks.client_key: no PEM private key",
        ),
        (
            "client_cert = \"localhost.key\"\nclient_key = \"localhost.key\"",
            "token.jwks.client_cert: no CERTIFICATE",
        ),
        ("proxy = \"\"", "token.jwks.proxy: empty"),
        ("proxy = \"https://proxy:3128\"", "token.jwks.proxy"),
        (
            "proxy = \"socks5://u:hunter2@proxy:1080\"",
            "token.jwks.proxy",
        ),
        (
            "proxy = \"http://u:hunter2@proxy:99999\"",
            "token.jwks.proxy",
        ),
        ("proxy = \"proxy:3128\"", "token.jwks.proxy"),
        ("proxy = \"http://proxy:3128/x\"", "token.jwks.proxy"),
        ("proxy = true", "token.jwks.proxy"),
        ("system_roots = \"yes\"", "token.jwks.system_roots"),
        ("ca_file = 1", "token.jwks.ca_file"),
        ("no_proxy = \"x\"", "unknown field"),
    ];
    for (lines, want) in cases {
        let got = load(&format!("{URL}\n{lines}")).unwrap_err();
        assert!(got.iter().any(|p| p.contains(want)), "{lines}: {got:?}");
        assert!(!got.iter().any(|p| p.contains("hunter2")), "{got:?}");
    }
    // Without url, every egress setting is pointless and said so.
    let got = load("file = \"jwks.json\"\nca_file = \"ca.pem\"\nproxy = \"off\"").unwrap_err();
    for key in ["token.jwks.ca_file", "token.jwks.proxy"] {
        assert!(
            got.iter()
                .any(|p| p.starts_with(key) && p.contains("only used with url")),
            "{got:?}"
        );
    }
}
