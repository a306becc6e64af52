//! Loading and checking configuration files.

use std::path::Path;

use attestgate_config::{Config, SubstituteTarget, TokenRequirement, Upstream, UpstreamProtocol};

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn load_text(text: &str) -> Result<Config, attestgate_config::ConfigError> {
    Config::from_toml(text, Path::new("/etc/attestgate/test.toml"))
}

fn problems(text: &str) -> Vec<String> {
    match load_text(text) {
        Ok(_) => panic!("expected problems"),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

/// 64 random-looking bytes, base64: a valid account secret.
const SECRET: &str =
    "uQ0ha1cKPsgLPzHD4YRqMfZiHz1Wq+p0GoZl0+1dkuQ3VnJ5jYtpLnqJuNwU2G0hT8nO2oQUvD3w2pIQ7r3Abw==";

#[test]
fn the_demo_config_loads_and_runs_out_of_the_box() {
    let c = Config::load(repo("config/demo.toml")).unwrap();
    let token = c.token.as_ref().unwrap();
    assert_eq!(token.policy.header.as_str(), "approov-token");
    assert_eq!(token.secrets.len(), 1);
    assert!(token.build_verifier().unwrap().is_ready());
    let demo = c.route("demo").unwrap();
    assert_eq!(demo.upstream, Upstream::Demo);
    assert_eq!(demo.token, TokenRequirement::Required);
    assert_eq!(demo.substitute.len(), 1);
    assert!(matches!(&demo.substitute[0].target, SubstituteTarget::Header(h) if h == "api-key"));
    assert_eq!(c.route("public").unwrap().token, TokenRequirement::Off);
    // inline values are for demos, and the loader says so
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(c.admin.is_some());
}

#[test]
fn defaults_follow_the_design() {
    let c = load_text(&format!(
        "[token]\n[[token.secret]]\nbase64 = {{ value = \"{SECRET}\" }}\n[[route]]\nname = \"a\"\nupstream = \"http://127.0.0.1:9000\"\n"
    ))
    .unwrap();
    let t = c.token.as_ref().unwrap();
    assert_eq!(t.policy.reject_status, 401);
    assert_eq!(t.cache_capacity, 100_000);
    assert_eq!(t.policy.max_token_bytes, 8192);
    assert!(t.policy.algorithms.is_none());
    assert_eq!(c.server.listen, vec!["127.0.0.1:8080".parse().unwrap()]);
    assert_eq!(c.server.max_header_bytes, 65536);
    let r = &c.routes[0];
    assert_eq!(r.path_prefix, "/");
    assert_eq!(r.connect_timeout.as_secs(), 2);
    assert_eq!(r.read_timeout.as_secs(), 30);
    assert!(!r.forward_token);
    assert_eq!(r.protocol, UpstreamProtocol::Auto);
    assert_eq!(
        r.upstream,
        Upstream::Http {
            tls: false,
            host: "127.0.0.1".into(),
            port: 9000
        }
    );
    assert!(c.admin.is_none());
}

#[test]
fn every_problem_is_reported_with_its_key_path() {
    let short = "AAAAAAAAAAAAAAAAAAAAAA=="; // 16 bytes
    let got = problems(&format!(
        r#"
[server]
listen = ["nonsense"]
threads = 0
[token]
mode = "strict"
algorithms = ["HS256", "none"]
leeway = "5 parsecs"
binding_headers = ["Bad Header"]
reject_status = 200
[[token.secret]]
base64 = {{ value = "{short}" }}
[[token.secret]]
base64 = {{ env = "ATTESTGATE_SURELY_UNSET_VAR" }}
[[route]]
name = "a"
upstream = "ftp://x"
[[route]]
upstream = "http://127.0.0.1:1/api"
path_prefix = "api"
token = "maybe"
[[route.substitute]]
header = "Api-Key"
query = "k"
secret = {{ value = "x" }}
"#
    ));
    let want_paths = [
        "server.listen[0]",
        "server.threads",
        "token.mode",
        "token.algorithms[1]",
        "token.leeway",
        "token.binding_headers[0]",
        "token.reject_status",
        "token.secret[0].base64",
        "token.secret[1].base64",
        "route[0].upstream",
        "route[1].name",
        "route[1].path_prefix",
        "route[1].upstream",
        "route[1].token",
        "route[1].substitute[0]",
    ];
    for p in want_paths {
        assert!(
            got.iter().any(|g| g.starts_with(&format!("{p}: "))),
            "no problem for {p} in {got:#?}"
        );
    }
    assert!(got.contains(&"token.secret[0].base64: decodes to 16 bytes; an Approov secret is 64 bytes, at least 32 are required".to_owned()), "{got:#?}");
    assert!(
        got.iter()
            .any(|g| g.contains("ATTESTGATE_SURELY_UNSET_VAR is not set"))
    );
    assert!(got.iter().all(|g| !g.contains(short)));
}

#[test]
fn the_error_names_the_file() {
    let err = load_text("[token]\nbogus = 1\n").unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("/etc/attestgate/test.toml: token.bogus: unknown field `bogus`"),
        "{text}"
    );
    assert!(text.contains("line 2"), "{text}");
}

#[test]
fn no_message_ever_contains_a_secret_value() {
    let secret_like = "sk_live_THIS_MUST_NEVER_BE_PRINTED_123456";
    let cases = [
        // a secret pasted as a bare string where a reference belongs
        format!("[token]\n[[token.secret]]\nbase64 = \"{secret_like}\"\n"),
        format!(
            "[[route]]\nname=\"a\"\nupstream=\"demo\"\n[[route.substitute]]\nheader=\"K\"\nplaceholder=\"p\"\nsecret = \"{secret_like}\"\n"
        ),
        // an unknown key inside the reference
        format!("[token]\n[[token.secret]]\nbase64 = {{ valeu = \"{secret_like}\" }}\n"),
        // a secret that is not base64
        format!("[token]\n[[token.secret]]\nbase64 = {{ value = \"{secret_like}!!\" }}\n"),
        // a syntax error on the secret's line
        format!("[token]\n[[token.secret]]\nbase64 = {{ value = \"{secret_like} }}\n"),
        // two sources
        format!(
            "[token]\n[[token.secret]]\nbase64 = {{ value = \"{secret_like}\", env = \"X\" }}\n"
        ),
    ];
    for case in cases {
        let err = load_text(&case).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("THIS_MUST_NEVER"), "leaked in: {text}");
        assert!(!err.problems.is_empty());
    }
}

#[test]
fn substitution_rules() {
    let base = format!("[token]\n[[token.secret]]\nbase64 = {{ value = \"{SECRET}\" }}\n");
    // a token = "off" route never gets secrets
    let got = problems(&format!(
        "{base}[[route]]\nname=\"a\"\nupstream=\"demo\"\ntoken=\"off\"\n[[route.substitute]]\nheader=\"Api-Key\"\nplaceholder=\"p\"\nsecret={{ value = \"real\" }}\n"
    ));
    assert!(
        got.iter().any(|g| g.starts_with("route[0].substitute: ")),
        "{got:?}"
    );
    // substituting the token header is refused; a query prefix is refused
    let got = problems(&format!(
        "{base}[[route]]\nname=\"a\"\nupstream=\"demo\"\n[[route.substitute]]\nheader=\"Approov-Token\"\nplaceholder=\"p\"\nsecret={{ value = \"real\" }}\n[[route.substitute]]\nquery=\"k\"\nprefix=\"x\"\nplaceholder=\"p\"\nsecret={{ value = \"real\" }}\n"
    ));
    assert!(
        got.iter()
            .any(|g| g.starts_with("route[0].substitute[0].header: ")),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|g| g.starts_with("route[0].substitute[1].prefix: ")),
        "{got:?}"
    );
}

#[test]
fn a_required_route_needs_a_token_section() {
    let got = problems("[[route]]\nname=\"a\"\nupstream=\"demo\"\n");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("route[0].token: "));
    // with token = "off" the same file is fine
    load_text("[[route]]\nname=\"a\"\nupstream=\"demo\"\ntoken=\"off\"\n").unwrap();
}

#[test]
fn secret_files_are_relative_to_the_config_file() {
    let dir = std::env::temp_dir().join(format!("attestgate-config-test-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    std::fs::write(dir.join("secrets/approov"), format!("{SECRET}\n")).unwrap();
    let file = dir.join("attestgate.toml");
    std::fs::write(
        &file,
        "[token]\n[[token.secret]]\nbase64 = { file = \"secrets/approov\" }\n",
    )
    .unwrap();
    let c = Config::load(&file).unwrap();
    assert!(c.token.unwrap().build_verifier().unwrap().is_ready());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn syntax_errors_give_line_and_column_without_the_text() {
    let err = load_text("[server]\nthreads = 2\nlisten = [\"127.0.0.1:8080\"\n").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("line 3") || text.contains("line 4"), "{text}");
    assert!(text.contains("TOML syntax"), "{text}");
    assert!(!text.contains("listen = ["), "{text}");
}

#[test]
fn request_reading_rules_are_checked_with_their_key_paths() {
    let route = |extra: &str| {
        format!(
            "[[route]]\nname = \"a\"\ntoken = \"off\"\nupstream = \"http://127.0.0.1:9000\"\n{extra}"
        )
    };
    let p = problems(&format!(
        "[server]\npath_case = \"upper\"\nstrip_request_headers = [\"bad header\"]\n{}",
        route("path_prefix = \"/%61pi/\"\nhost = \"api.example.com:443\"\n")
    ));
    let text = p.join("\n");
    assert!(text.contains("server.path_case: \"upper\""), "{text}");
    assert!(text.contains("server.strip_request_headers[0]"), "{text}");
    assert!(
        text.contains("route[0].path_prefix") && text.contains("write \"/api/\""),
        "{text}"
    );
    assert!(text.contains("route[0].host"), "{text}");
    for prefix in ["/a/../b", "/a%2Fb", "/a;x", "/a?b", "/a%zz", "//a"] {
        let p = problems(&route(&format!("path_prefix = \"{prefix}\"\n")));
        assert!(
            p.iter().any(|m| m.contains("route[0].path_prefix")),
            "{prefix}: {p:?}"
        );
    }
    let c = load_text(&format!(
        "[server]\nallow_encoded_slash = true\nallow_path_params = true\npath_case = \"insensitive\"\nstrip_request_headers = [\"X-Debug\", \"x-original-url\"]\n{}",
        route("path_prefix = \"/a%2Fb;v=1/\"\nhost = \"API.Example.com.\"\n")
    ))
    .unwrap();
    assert!(c.server.target_rules.allow_encoded_slash);
    assert!(c.server.path_case_insensitive);
    let strip: Vec<&str> = c
        .server
        .strip_request_headers
        .iter()
        .map(|h| h.as_str())
        .collect();
    assert_eq!(strip, ["x-original-url", "x-rewrite-url", "x-debug"]);
    assert_eq!(c.routes[0].host.as_deref(), Some("api.example.com"));
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("server.allow_encoded_slash")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn protocol_is_auto_http1_or_h2() {
    let route = |extra: &str, upstream: &str| {
        format!("[[route]]\nname = \"a\"\ntoken = \"off\"\nupstream = \"{upstream}\"\n{extra}")
    };
    for (text, want) in [
        ("", UpstreamProtocol::Auto),
        ("protocol = \"auto\"\n", UpstreamProtocol::Auto),
        ("protocol = \"http1\"\n", UpstreamProtocol::Http1),
        ("protocol = \"h2\"\n", UpstreamProtocol::H2),
    ] {
        for upstream in ["http://127.0.0.1:9000", "https://localhost:9443"] {
            let c = load_text(&route(text, upstream)).unwrap();
            assert_eq!(c.routes[0].protocol, want, "{text} {upstream}");
        }
    }
    for bad in [
        "\"H2\"",
        "\"http2\"",
        "\"h2c\"",
        "\"\"",
        "\"grpc\"",
        "2",
        "true",
    ] {
        let p = problems(&route(
            &format!("protocol = {bad}\n"),
            "http://127.0.0.1:9000",
        ));
        assert!(
            p.iter().any(|m| m.contains("route[0].protocol")),
            "{bad}: {p:?}"
        );
    }
    // The built-in demo upstream speaks HTTP/1.1 only.
    let p = problems(&route("protocol = \"h2\"\n", "demo"));
    assert!(p.iter().any(|m| m.contains("route[0].protocol")), "{p:?}");
    assert!(load_text(&route("protocol = \"http1\"\n", "demo")).is_ok());
}
