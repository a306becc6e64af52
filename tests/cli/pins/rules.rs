//! `check-cert` by each platform's rules, `lint` rule by rule, and the
//! `pins.toml` problems each named by file and key path — through the
//! real binary.

use attestgate_testkit::TempDir;
use std::process::Output;

use attestgate_testkit::pki::*;
use rcgen::{CertificateParams, DnType, KeyPair};
use serde_json::Value;

fn run(list: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_attestgate"))
        .args(list)
        .output()
        .unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited by signal")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

struct Rotation {
    dir: TempDir,
    inter: Ca,
    key_a: KeyPair,
}

fn rotation() -> Rotation {
    let root = root("rotation root");
    let inter = intermediate("rotation inter", &root);

    Rotation {
        dir: TempDir::new("rotation"),
        inter,
        key_a: p256(),
    }
}

fn write_chain(r: &Rotation, name: &str, chain: &[rustls_pki_types::CertificateDer<'_>]) -> String {
    let p = r.dir.join(name);
    std::fs::write(&p, chain_pem(chain)).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn check_cert_exits_2_on_input_it_cannot_use() {
    let r = rotation();
    let toml = r.dir.join("pins.toml");
    std::fs::write(&toml, format!(
        "[[domain]]\nname = \"api.rot.test\"\npins = [\n {{ sha256 = \"{}\", label = \"leaf\" }},\n {{ sha256 = \"{}\", label = \"backup\" }},\n]\n",
        key_pin(&r.key_a), key_pin(&p256())
    )).unwrap();
    let cfg = toml.to_str().unwrap();
    let chain = write_chain(
        &r,
        "chain.pem",
        &[
            leaf(&["api.rot.test"], &copy(&r.key_a), &r.inter, 90),
            r.inter.der(),
        ],
    );
    let check = |extra: &[&str]| {
        let mut list = vec!["pins", "check-cert", "--config", cfg];
        list.extend_from_slice(extra);
        code(&run(&list))
    };
    // a domain pins.toml does not have; a "chain" that is not certificates
    assert_eq!(check(&["--domain", "nope.test", &chain]), 2);
    assert_eq!(check(&["--domain", "api.rot.test", cfg]), 2);
    // a date it cannot read; roots it cannot read
    assert_eq!(
        check(&["--domain", "api.rot.test", "--at", "soon", &chain]),
        2
    );
    assert_eq!(
        check(&["--domain", "api.rot.test", "--ca-file", cfg, &chain]),
        2
    );
    assert_eq!(
        check(&["--domain", "api.rot.test", "--aia-issuer", cfg, &chain]),
        2
    );
    // the chain is fine, but its root is in no store given: every platform refuses
    assert_eq!(check(&["--domain", "api.rot.test", &chain]), 1);
}

#[test]
fn lint_catches_every_rule() {
    let dir = TempDir::new("lint");
    let k = [key_pin(&p256()), key_pin(&p256()), key_pin(&p256())];
    let csr_key = p256();
    let mut params = CertificateParams::new(vec![]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "lint");
    std::fs::write(
        dir.join("backup.csr"),
        params.serialize_request(&csr_key).unwrap().pem().unwrap(),
    )
    .unwrap();
    let toml = dir.join("pins.toml");
    std::fs::write(
        &toml,
        format!(
            r#"
[[domain]]
name = "one-pin.test"
pins = [{{ sha256 = "{a}" }}]

[[domain]]
name = "dup.test"
pins = [{{ sha256 = "{a}" }}, {{ sha256 = "{b}" }}, {{ sha256 = "{a}", label = "again" }}]

[[domain]]
name = "expired.test"
expires = "2026-03-01"
pins = [{{ sha256 = "{a}" }}, {{ sha256 = "{b}" }}]

[[domain]]
name = "mismatch.test"
pins = [{{ sha256 = "{a}" }}, {{ sha256 = "{c}", file = "backup.csr" }}]

[[domain]]
name = "clean.test"
expires = "2026-03-02"
pins = [{{ sha256 = "{a}" }}, {{ file = "backup.csr", label = "backup" }}]
"#,
            a = k[0],
            b = k[1],
            c = k[2]
        ),
    )
    .unwrap();
    let cfg = toml.to_str().unwrap();
    let out = run(&[
        "pins",
        "lint",
        "--config",
        cfg,
        "--offline",
        "--today",
        "2026-03-01",
        "--json",
    ]);
    assert_eq!(code(&out), 1);
    let v: Value = serde_json::from_str(&text(&out).0).unwrap();
    let got: Vec<(String, String, String)> = v["broken"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["rule"].as_str().unwrap().into(),
                b["path"].as_str().unwrap().into(),
                b["domain"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = [
        ("two_pins", "domain[0].pins", "one-pin.test"),
        ("duplicate", "domain[1].pins[2]", "dup.test"),
        ("expires", "domain[2].expires", "expired.test"),
        ("file_match", "domain[3].pins[1].sha256", "mismatch.test"),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (w, g) in want.iter().zip(&got) {
        assert_eq!((w.0, w.1, w.2), (g.0.as_str(), g.1.as_str(), g.2.as_str()));
    }
    // The day before, `expires` is still in the future.
    let out = run(&[
        "pins",
        "lint",
        "--config",
        cfg,
        "--offline",
        "--today",
        "2026-02-28",
    ]);
    let (o, _) = text(&out);
    assert!(!o.contains(": expires:"), "{o}");
    assert_eq!(o.lines().count(), 3, "{o}");
}

#[test]
fn pins_toml_problems_name_the_file_and_key_path() {
    let dir = TempDir::new("model");
    let good = key_pin(&p256());
    let cases = [
        (
            format!("[[domain]]\nname = \"a.test\"\npins = [{{ sha265 = \"{good}\" }}]\n"),
            "domain[0].pins[0].sha265: unknown field `sha265`, expected one of",
        ),
        (
            "[[domain]]\nname = \"a.test\"\npins = [{ sha256 = \"AAAA\" }]\n".into(),
            "domain[0].pins[0].sha256: not the base64 of 32 bytes",
        ),
        (
            format!(
                "[[domain]]\nname = \"a.test\"\npins = [{{ sha256 = \"{good}\", kind = \"root\" }}]\n"
            ),
            "domain[0].pins[0].kind",
        ),
        (
            format!("[[domain]]\nname = \"*.a.test\"\npins = [{{ sha256 = \"{good}\" }}]\n"),
            "domain[0].name",
        ),
        (
            format!(
                "[[domain]]\nname = \"a.test\"\naddresses = [\"x\"]\npins = [{{ sha256 = \"{good}\" }}]\n"
            ),
            "domain[0].addresses[0]",
        ),
        (
            format!(
                "[[domain]]\nname = \"a.test\"\nport = 70000\npins = [{{ sha256 = \"{good}\" }}]\n"
            ),
            "domain[0].port",
        ),
        (
            format!(
                "[[domain]]\nname = \"a.test\"\nexpires = \"June\"\npins = [{{ sha256 = \"{good}\" }}]\n"
            ),
            "domain[0].expires",
        ),
        (
            "[[domain]]\nname = \"a.test\"\npins = [{ file = \"missing.pem\" }]\n".into(),
            "domain[0].pins[0].file",
        ),
        (
            "[[domain]]\nname = \"a.test\"\npins = [{ label = \"x\" }]\n".into(),
            "domain[0].pins[0]: give sha256 or file",
        ),
        (
            "[[domain]]\nname = \"a.test\"\npins = [\n".into(),
            "TOML syntax",
        ),
        ("".into(), "domain: no [[domain]]"),
        (
            format!(
                "[[domain]]\nname = \"a.test\"\npins = [{{ sha256 = \"{good}\" }}]\n[[domain]]\nname = \"A.test\"\npins = [{{ sha256 = \"{good}\" }}]\n"
            ),
            "domain[1].name: \"a.test\" is listed twice",
        ),
    ];
    for (i, (body, want)) in cases.iter().enumerate() {
        let p = dir.join(format!("bad{i}.toml"));
        std::fs::write(&p, body).unwrap();
        let out = run(&["pins", "lint", "--offline", "--config", p.to_str().unwrap()]);
        let (_, e) = text(&out);
        assert_eq!(code(&out), 2, "{body}: {e}");
        assert!(
            e.contains(&format!("{}: ", p.display())) && e.contains(want),
            "{body}: want {want:?} in {e}"
        );
    }
}

#[test]
fn a_domain_without_pins_is_neither_rendered_nor_signed() {
    let dir = TempDir::new("nopins");
    let toml = dir.join("pins.toml");
    std::fs::write(&toml, "[[domain]]\nname = \"empty.test\"\npins = []\n").unwrap();
    let cfg = toml.to_str().unwrap();
    let out = run(&["pins", "lint", "--offline", "--config", cfg]);
    assert_eq!(code(&out), 1);
    assert!(text(&out).0.contains("two_pins: 0 distinct pins"));
    for format in ["android", "ios", "okhttp", "trustkit", "json"] {
        let out = run(&["pins", "render", "--config", cfg, "--format", format]);
        assert_eq!(code(&out), 2, "{format}");
        assert!(text(&out).1.contains("empty.test has no pins"), "{format}");
        assert!(out.stdout.is_empty());
    }
    let key = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/pins/signed/test-es256.key");
    let out = run(&[
        "pins",
        "sign",
        "--config",
        cfg,
        "--key",
        key.to_str().unwrap(),
        "--kid",
        "k",
        "--audience",
        "a",
        "--seq",
        "1",
    ]);
    assert_eq!(code(&out), 2);
    assert!(text(&out).1.contains("a domain without pins"));
    assert!(out.stdout.is_empty());
}
