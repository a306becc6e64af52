//! `attestgate pins signing-key`, `sign` and `verify` through the binary:
//! every published test vector gives its documented answer on the command
//! line too, and a config signed here verifies, rotation key included.

use attestgate_testkit::TempDir;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

fn run(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_attestgate"))
        .args(args)
        .output()
        .unwrap()
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/pins/signed")
}

#[test]
fn verify_gives_each_vector_its_answer() {
    let d = vectors_dir();
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("vectors.json")).unwrap()).unwrap();
    for v in doc["vectors"].as_array().unwrap() {
        let jws = d.join(v["jws"].as_str().unwrap());
        let mut args: Vec<String> =
            vec!["pins".into(), "verify".into(), jws.to_str().unwrap().into()];
        for k in v["keys"].as_array().unwrap() {
            args.push("--public-key".into());
            args.push(format!(
                "{}={}",
                k["kid"].as_str().unwrap(),
                d.join(k["file"].as_str().unwrap()).display()
            ));
        }
        for (flag, value) in [
            ("--audience", v["audience"].to_string()),
            ("--min-seq", v["min_seq"].to_string()),
            ("--now", v["now"].to_string()),
        ] {
            args.push(flag.into());
            args.push(value.trim_matches('"').into());
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&argv);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let expect = v["expect"].as_str().unwrap();
        if expect == "ok" {
            assert_eq!(out.status.code(), Some(0), "{}: {stdout}", v["name"]);
            let payload: Value = serde_json::from_str(&stdout).unwrap();
            assert_eq!(payload["seq"], 42);
        } else {
            assert_eq!(out.status.code(), Some(1), "{}", v["name"]);
            assert_eq!(stdout.trim(), expect, "{}", v["name"]);
            assert!(String::from_utf8_lossy(&out.stderr).starts_with("refused: "));
        }
    }
}

#[test]
fn sign_then_verify_with_a_new_key_and_its_successor() {
    let dir = TempDir::new("sign");
    let keys = dir.join("keys");
    let k = keys.to_str().unwrap();
    for (name, alg) in [("pins-2026", "es256"), ("pins-2027", "eddsa")] {
        let out = run(&[
            "pins",
            "signing-key",
            "--out",
            k,
            "--name",
            name,
            "--alg",
            alg,
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("PRIVATE"));
    }
    let pins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/pins/pins.toml");
    let pins = pins.to_str().unwrap();
    let sign = |key: &str, kid: &str, seq: &str| -> String {
        let key = keys.join(format!("{key}.key"));
        let out = run(&[
            "pins",
            "sign",
            "--config",
            pins,
            "--key",
            key.to_str().unwrap(),
            "--kid",
            kid,
            "--audience",
            "com.example.app",
            "--seq",
            seq,
            "--ttl",
            "14d",
            "--next-kid",
            "pins-2027",
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let jws = String::from_utf8(out.stdout).unwrap();
        assert_eq!(jws.trim().split('.').count(), 3);
        let file = dir.join(format!("{kid}-{seq}.jws"));
        std::fs::write(&file, jws).unwrap();
        file.to_str().unwrap().to_owned()
    };
    let p26 = format!("pins-2026={}", keys.join("pins-2026.pub.pem").display());
    let p27 = format!("pins-2027={}", keys.join("pins-2027.pub.pem").display());
    let jws = sign("pins-2026", "pins-2026", "42");
    let out = run(&[
        "pins",
        "verify",
        &jws,
        "--public-key",
        &p26,
        "--public-key",
        &p27,
        "--audience",
        "com.example.app",
        "--min-seq",
        "42",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let payload: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(payload["domains"][0]["name"], "api.example.com");
    assert_eq!(payload["next_kids"][0], "pins-2027");
    let ttl = payload["exp"].as_i64().unwrap() - payload["iat"].as_i64().unwrap();
    assert_eq!(ttl, 14 * 86_400);
    // The next key's config verifies for an app holding both keys.
    let next = sign("pins-2027", "pins-2027", "43");
    let out = run(&[
        "pins",
        "verify",
        &next,
        "--public-key",
        &p26,
        "--public-key",
        &p27,
        "--audience",
        "com.example.app",
        "--min-seq",
        "42",
    ]);
    assert_eq!(out.status.code(), Some(0));
    // Rollback, from standard input.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_attestgate"))
        .args([
            "pins",
            "verify",
            "-",
            "--public-key",
            &p26,
            "--audience",
            "com.example.app",
            "--min-seq",
            "43",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &std::fs::read(&jws).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "rollback");
}

#[test]
fn sign_refuses_keys_it_cannot_use() {
    let pins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/pins/pins.toml");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    for (key, want) in [
        (fixtures.join("rsa2048.pem"), "RSA 2048 keys cannot sign"),
        (
            fixtures.join("pins/signed/test-es256.pub.pem"),
            "PKCS#8 private key",
        ),
        (fixtures.join("pins/leaf.pem"), "PKCS#8 private key"),
        (fixtures.join("nonexistent.pem"), "cannot read"),
    ] {
        let out = run(&[
            "pins",
            "sign",
            "--config",
            pins.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--kid",
            "k",
            "--audience",
            "a",
            "--seq",
            "1",
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", key.display());
        assert!(err.contains(want), "{}: {err}", key.display());
        assert!(out.stdout.is_empty());
    }
    let out = run(&[
        "pins",
        "sign",
        "--config",
        pins.to_str().unwrap(),
        "--key",
        "x",
        "--kid",
        "k",
        "--audience",
        "a",
        "--seq",
        "1",
        "--ttl",
        "soon",
    ]);
    assert_eq!(out.status.code(), Some(2));
}
