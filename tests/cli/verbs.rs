//! The `attestgate` command line, run as a process: secret new, token mint
//! (every algorithm, from the PEM fixtures), token jwks, token verify,
//! check-config.

use std::path::Path;
use std::process::{Command, Output};

use attestgate_testkit::{TempDir, repo_root};
use base64::Engine;

fn ag(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_attestgate"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fixture(name: &str) -> String {
    repo_root()
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn secret_new_prints_64_random_bytes_in_base64() {
    let a = ag(&["secret", "new"]);
    let b = ag(&["secret", "new"]);
    assert!(a.status.success());
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(stdout(&a))
        .unwrap();
    assert_eq!(bytes.len(), 64);
    assert_ne!(stdout(&a), stdout(&b));
}

#[test]
fn hs256_mint_then_verify_with_binding() {
    let dir = TempDir::new("cli-hs");
    let secret = stdout(&ag(&["secret", "new"]));
    let config = dir.join("attestgate.toml");
    std::fs::write(
        &config,
        format!("[token]\nbinding_headers = [\"Authorization\"]\n[[token.secret]]\nbase64 = {{ value = \"{secret}\" }}\n"),
    )
    .unwrap();
    let config = config.display().to_string();
    let minted = ag(&[
        "token",
        "mint",
        "--secret-base64",
        &secret,
        "--ttl",
        "60",
        "--bind",
        "Bearer u1",
        "--claim",
        "did=device-7",
        "--claim",
        "n=5",
    ]);
    assert!(minted.status.success(), "{}", stderr(&minted));
    let token = stdout(&minted);
    assert_eq!(token.split('.').count(), 3);

    let ok = ag(&[
        "token",
        "verify",
        "--config",
        &config,
        "--bind",
        "Bearer u1",
        &token,
    ]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let claims: serde_json::Value = serde_json::from_str(&stdout(&ok)).unwrap();
    assert_eq!(claims["did"], "device-7");
    assert_eq!(claims["n"], 5);
    assert_eq!(claims["pay"], attestgate::pay_claim(&["Bearer u1"]));

    let wrong = ag(&[
        "token",
        "verify",
        "--config",
        &config,
        "--bind",
        "Bearer u2",
        &token,
    ]);
    assert_eq!(wrong.status.code(), Some(1));
    assert_eq!(stdout(&wrong), "binding");

    let expired = stdout(&ag(&[
        "token",
        "mint",
        "--secret-base64",
        &secret,
        "--ttl",
        "-10",
        "--bind",
        "Bearer u1",
    ]));
    let out = ag(&[
        "token",
        "verify",
        "--config",
        &config,
        "--bind",
        "Bearer u1",
        &expired,
    ]);
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(1), "expired".to_owned())
    );
    // the reason, never the token, in what it prints
    assert!(!stderr(&out).contains(&expired));
}

#[test]
fn verify_refuses_a_correctly_signed_token_with_jwe_header_members() {
    let dir = TempDir::new("cli-jwe");
    let secret = stdout(&ag(&["secret", "new"]));
    let config = dir.join("attestgate.toml");
    std::fs::write(
        &config,
        format!("[token]\n[[token.secret]]\nbase64 = {{ value = \"{secret}\" }}\n"),
    )
    .unwrap();
    let config = config.display().to_string();
    let key = attestgate_testkit::forge::secret_bytes(&secret);
    let exp = attestgate_testkit::now() + 60;
    let claims = format!(r#"{{"exp":{exp}}}"#);
    // The same token with a plain header verifies: only the header differs.
    let plain = attestgate_testkit::forge::hmac_raw(&key, br#"{"alg":"HS256"}"#, claims.as_bytes());
    let ok = ag(&["token", "verify", "--config", &config, &plain]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    for header in [
        r#"{"alg":"HS256","enc":"A256GCM"}"#,
        r#"{"alg":"HS256","typ":"JWT","zip":"DEF"}"#,
        r#"{"alg":"HS256","epk":{"kty":"EC"}}"#,
        r#"{"alg":"HS256","p2c":1000,"p2s":"AAAA"}"#,
    ] {
        let token = attestgate_testkit::forge::hmac_raw(&key, header.as_bytes(), claims.as_bytes());
        let out = ag(&["token", "verify", "--config", &config, &token]);
        assert_eq!(
            (out.status.code(), stdout(&out)),
            (Some(1), "malformed".to_owned()),
            "{header}"
        );
    }
}

#[test]
fn asymmetric_keys_from_pem_fixtures_mint_and_verify_through_a_jwks_file() {
    let dir = TempDir::new("cli-jwks");
    for (pem, alg) in [
        ("ec256.pem", "ES256"),
        ("ed25519.pem", "EdDSA"),
        ("rsa2048.pem", "RS256"),
        ("rsa2048.pem", "PS256"),
    ] {
        let jwks = ag(&[
            "token",
            "jwks",
            "--key",
            &fixture(pem),
            "--alg",
            alg,
            "--kid",
            "k1",
        ]);
        assert!(jwks.status.success(), "{alg}: {}", stderr(&jwks));
        let jwks_path = dir.join(format!("{alg}.json"));
        std::fs::write(&jwks_path, stdout(&jwks)).unwrap();
        let config = dir.join(format!("{alg}.toml"));
        std::fs::write(
            &config,
            format!(
                "[token]\nalgorithms = [\"{alg}\"]\n[token.jwks]\nfile = \"{}\"\n",
                jwks_path.display()
            ),
        )
        .unwrap();
        let token = ag(&[
            "token",
            "mint",
            "--key",
            &fixture(pem),
            "--alg",
            alg,
            "--kid",
            "k1",
        ]);
        assert!(token.status.success(), "{alg}: {}", stderr(&token));
        let out = ag(&[
            "token",
            "verify",
            "--config",
            &config.display().to_string(),
            &stdout(&token),
        ]);
        assert!(
            out.status.success(),
            "{alg}: {} {}",
            stdout(&out),
            stderr(&out)
        );
    }
    // a PEM for the wrong algorithm is refused with a message, not a panic
    let out = ag(&[
        "token",
        "mint",
        "--key",
        &fixture("ec256.pem"),
        "--alg",
        "RS256",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("RS256"), "{}", stderr(&out));
}

#[test]
fn check_config_accepts_the_samples_and_lists_every_problem() {
    let demo = ag(&[
        "check-config",
        "--config",
        &repo_root().join("config/demo.toml").display().to_string(),
    ]);
    assert!(demo.status.success(), "{}", stderr(&demo));
    assert!(stdout(&demo).contains("ok"));

    // the full example, with its environment
    let secret = stdout(&ag(&["secret", "new"]));
    let example = Command::new(env!("CARGO_BIN_EXE_attestgate"))
        .args([
            "check-config",
            "--config",
            &repo_root()
                .join("config/example.toml")
                .display()
                .to_string(),
        ])
        .env("APPROOV_SECRET", &secret)
        .env("SHAPES_API_KEY", "real-key")
        .output()
        .unwrap();
    assert!(example.status.success(), "{}", stderr(&example));

    let dir = TempDir::new("cli-bad");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[token]\nleeway = \"soon\"\n[[token.secret]]\nbase64 = { value = \"AAAA\" }\n[[route]]\nname = \"a\"\nupstream = \"ftp://x\"\n",
    )
    .unwrap();
    let out = ag(&["check-config", "--config", &bad.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for path in [
        "token.leeway",
        "token.secret[0].base64",
        "route[0].upstream",
    ] {
        assert!(
            err.contains(&format!("{}: {path}: ", bad.display())),
            "{path} missing in:\n{err}"
        );
    }
    assert!(!Path::new(&bad).with_extension("").exists());
}

#[test]
fn check_config_runs_every_check_serve_runs_and_lists_them_all() {
    let dir = TempDir::new("cli-serve-checks");
    let secret = stdout(&ag(&["secret", "new"]));
    let path = dir.join("serve.toml");
    // Each route is fine as TOML; serve would refuse both: a substitution
    // secret that cannot be a header value, and one whose file is gone.
    std::fs::write(
        &path,
        format!(
            "[token]\n[[token.secret]]\nbase64 = {{ value = \"{secret}\" }}\n\n[[route]]\nname = \"a\"\npath_prefix = \"/a\"\nupstream = \"http://127.0.0.1:9\"\n[[route.substitute]]\nheader = \"Api-Key\"\nplaceholder = \"ph\"\nsecret = {{ env = \"TEST_BAD_KEY\" }}\n\n[[route]]\nname = \"b\"\nupstream = \"http://127.0.0.1:9\"\n[[route.substitute]]\nheader = \"Api-Key\"\nplaceholder = \"ph\"\nsecret = {{ env = \"TEST_BAD_KEY2\" }}\n"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_attestgate"))
        .args(["check-config", "--config", &path.display().to_string()])
        .env("TEST_BAD_KEY", "line one\nline two")
        .env("TEST_BAD_KEY2", "tab\tand\u{7f}del")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("route[0].substitute[0].secret"), "{err}");
    assert!(err.contains("route[1].substitute[0].secret"), "{err}");
    assert!(
        !err.contains("line one") && !err.contains("and\u{7f}del"),
        "{err}"
    );
}

/// `[[server.tls]]` files are read and checked before anything listens:
/// `check-config` and `serve` name the listener's key and the file, exit 2,
/// never panic, and never print the key.
#[test]
fn a_tls_listener_whose_files_do_not_hold_a_fitting_chain_and_key_is_refused() {
    let dir = TempDir::new("cli-tls-files");
    let tls = attestgate_testkit::tls::path;
    let key_text = std::fs::read_to_string(tls("localhost.key")).unwrap();
    let key_body = key_text.lines().nth(1).unwrap().to_owned();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let garbage = write("garbage.pem", b"not a pem file\n");
    let empty = write("empty.pem", b"");
    let broken = write(
        "broken.pem",
        b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    );
    let cut_key = write("cut.key", &key_text.as_bytes()[..key_text.len() / 2]);
    let missing = dir.join("missing.pem");
    let (cert, key) = (tls("localhost.pem"), tls("localhost.key"));
    // The same key, encrypted by openssl as people do (PKCS#8, AES-256).
    let encrypted = dir.join("encrypted.key");
    let made = Command::new("openssl")
        .args(["pkey", "-aes256", "-passout", "pass:secret", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&encrypted)
        .status()
        .expect("openssl (scripts/ensure-tools installs it)");
    assert!(made.success());
    // (cert, key, the key path expected, a word of the reason)
    let cases = [
        (&garbage, &key, "server.tls[0].cert", "CERTIFICATE"),
        (&empty, &key, "server.tls[0].cert", "CERTIFICATE"),
        (&broken, &key, "server.tls[0].cert", "not valid PEM"),
        (&key, &key, "server.tls[0].cert", "CERTIFICATE"),
        (&missing, &key, "server.tls[0].cert", "missing.pem"),
        (&cert, &cert, "server.tls[0].key", "private key"),
        (&cert, &garbage, "server.tls[0].key", "private key"),
        (&cert, &cut_key, "server.tls[0].key", "private key"),
        (
            &cert,
            &tls("other.key"),
            "server.tls[0].key",
            "does not fit",
        ),
        (
            &tls("other.pem"),
            &key,
            "server.tls[0].key",
            "not the certificate's",
        ),
        (
            &cert,
            &encrypted,
            "server.tls[0].key",
            "encrypted keys are not supported",
        ),
    ];
    for (i, (c, k, setting, reason)) in cases.iter().enumerate() {
        let path = dir.join(format!("tls-{i}.toml"));
        let port = attestgate_testkit::http::free_port();
        std::fs::write(
            &path,
            format!(
                "[server]\nlisten = []\n[[server.tls]]\nlisten = \"127.0.0.1:{port}\"\ncert = \"{}\"\nkey = \"{}\"\n[admin]\nlisten = \"127.0.0.1:{}\"\n\n[[route]]\nname = \"a\"\npath_prefix = \"/\"\nupstream = \"demo\"\ntoken = \"off\"\n",
                c.display(),
                k.display(),
                attestgate_testkit::http::free_port()
            ),
        )
        .unwrap();
        for verb in ["check-config", "serve"] {
            let out = run_briefly(&[verb, "--config", &path.display().to_string()]);
            let err = stderr(&out);
            let case = format!("case {i} ({verb}): {err}");
            assert_eq!(out.status.code(), Some(2), "{case}");
            assert!(err.contains(setting) && err.contains(reason), "{case}");
            assert!(!err.contains("panicked"), "{case}");
            assert!(!err.contains("KeyMismatch"), "{case}");
            assert!(!err.contains(&key_body), "{case}");
        }
    }
}

/// Runs the binary; kills it (and fails) if it is still running after 20 s.
fn run_briefly(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_attestgate"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            panic!("{args:?} still running after 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}
