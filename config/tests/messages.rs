//! The words a user sees for the mistakes people make (issue 26): no Rust
//! names (`None`, `i64`, `KeyMismatch`), the right form for durations and
//! lists, and a warning that says which when a secret decodes but is
//! probably not what was meant (hex, a byte-order mark, a Windows line end).

use std::path::Path;

use attestgate_config::Config;

const ROUTE: &str = "[[route]]\nname = \"a\"\nupstream = \"demo\"\ntoken = \"off\"\n";

fn problems(text: &str) -> Vec<String> {
    match Config::from_toml(text, Path::new("/etc/attestgate/attestgate.toml")) {
        Ok(_) => panic!("expected problems"),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

fn rust_free(message: &str) {
    for word in [
        "None",
        "Some(",
        "i64",
        "u64",
        "usize",
        "KeyMismatch",
        "sequence",
    ] {
        assert!(!message.contains(word), "{word:?} in {message:?}");
    }
}

#[test]
fn two_routes_matching_any_host_say_any_host() {
    let p = problems(&format!(
        "{ROUTE}[[route]]\nname = \"b\"\nupstream = \"demo\"\ntoken = \"off\"\n"
    ));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains(
            "route[1].path_prefix: an earlier route already matches any host and path prefix \"/\""
        ),
        "{p:?}"
    );
    assert!(
        p[0].contains("give this route another host or path_prefix"),
        "{p:?}"
    );
    rust_free(&p[0]);
}

#[test]
fn a_number_of_the_wrong_type_is_a_whole_number_not_an_i64() {
    let p = problems(&format!("[server]\nthreads = \"four\"\n{ROUTE}"));
    assert!(
        p[0].contains("server.threads") && p[0].contains("expected a whole number"),
        "{p:?}"
    );
    rust_free(&p[0]);
}

#[test]
fn a_bare_number_where_a_duration_goes_says_to_write_30s() {
    for key in ["drain_delay = 5", "request_header_timeout = 30"] {
        let p = problems(&format!("[server]\n{key}\n{ROUTE}"));
        assert!(
            p[0].contains("write it as a string with a unit, like \"30s\""),
            "{p:?}"
        );
    }
    let p = problems(
        "[[route]]\nname = \"a\"\nupstream = \"http://127.0.0.1:9\"\ntoken = \"off\"\nread_timeout = 30\n",
    );
    assert!(
        p[0].contains("route[0].read_timeout") && p[0].contains("like \"30s\""),
        "{p:?}"
    );
}

#[test]
fn one_address_where_a_list_goes_says_to_write_a_list() {
    let p = problems(&format!("[server]\nlisten = \"127.0.0.1:8080\"\n{ROUTE}"));
    assert!(
        p[0].contains("server.listen") && p[0].contains("expected a list"),
        "{p:?}"
    );
    assert!(
        p[0].contains("write a list, like [\"127.0.0.1:8080\"]"),
        "{p:?}"
    );
    rust_free(&p[0]);
}

/// 64 random-looking bytes, base64.
const SECRET: &str =
    "uQ0ha1cKPsgLPzHD4YRqMfZiHz1Wq+p0GoZl0+1dkuQ3VnJ5jYtpLnqJuNwU2G0hT8nO2oQUvD3w2pIQ7r3Abw==";

fn warnings_for_secret_file(bytes: &[u8]) -> Vec<String> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ag-config-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("secret"), bytes).unwrap();
    let text = "[token]\n[[token.secret]]\nbase64 = { file = \"secret\" }\n[[route]]\nname = \"a\"\nupstream = \"demo\"\n";
    let c = Config::from_toml(text, &dir.join("attestgate.toml"));
    std::fs::remove_dir_all(&dir).unwrap();
    c.unwrap().warnings
}

#[test]
fn a_secret_file_that_decodes_but_looks_wrong_gets_a_warning_that_says_which() {
    assert!(warnings_for_secret_file(SECRET.as_bytes()).is_empty());
    assert!(warnings_for_secret_file(format!("{SECRET}\n").as_bytes()).is_empty());
    // 64 hex digits are base64 letters: they decode, to 48 wrong bytes.
    let hex = "a3".repeat(32);
    let w = warnings_for_secret_file(hex.as_bytes());
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("token.secret[0].base64: looks like hex (64 hex digits)"),
        "{w:?}"
    );
    assert!(w[0].contains("xxd -r -p") && !w[0].contains(&hex), "{w:?}");
    // A byte-order mark is skipped (the secret loads) and named.
    let w = warnings_for_secret_file(&[b"\xEF\xBB\xBF", SECRET.as_bytes()].concat());
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("byte-order mark (BOM)"), "{w:?}");
    let w = warnings_for_secret_file(format!("{SECRET}\r\n").as_bytes());
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("Windows line end"), "{w:?}");
    for w in warnings_for_secret_file(&[b"\xEF\xBB\xBF", SECRET.as_bytes(), b"\r\n"].concat()) {
        assert!(!w.contains(SECRET), "the secret is never quoted: {w}");
    }
}
