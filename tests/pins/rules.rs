//! `check-cert` by each platform's rules, `lint` rule by rule, and the
//! `pins.toml` problems each named by file and key path — through the
//! real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support.rs"]
mod support;

use std::path::PathBuf;
use std::process::Output;

use rcgen::{CertificateParams, DnType, KeyPair};
use serde_json::Value;
use support::*;

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
    dir: PathBuf,
    inter: Ca,
    other_inter: Ca,
    key_a: KeyPair,
}

fn rotation() -> Rotation {
    let root = root("rotation root");
    let inter = intermediate("rotation inter", &root);
    let other_inter = intermediate("other inter", &root);
    Rotation {
        dir: temp_dir("rotation"),
        inter,
        other_inter,
        key_a: p256(),
    }
}

fn write_chain(r: &Rotation, name: &str, chain: &[rustls_pki_types::CertificateDer<'_>]) -> String {
    let p = r.dir.join(name);
    std::fs::write(&p, chain_pem(chain)).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn check_cert_accepts_a_renewed_leaf_and_refuses_an_unpinned_key() {
    let r = rotation();
    let backup = key_pin(&p256());
    let toml = r.dir.join("pins.toml");
    std::fs::write(&toml, format!(
        "[[domain]]\nname = \"api.rot.test\"\npins = [\n {{ sha256 = \"{}\", label = \"leaf\" }},\n {{ sha256 = \"{backup}\", label = \"backup\" }},\n]\n",
        key_pin(&r.key_a)
    )).unwrap();
    let cfg = toml.to_str().unwrap();
    // A renewed certificate for the same key: accepted everywhere.
    let renewed = write_chain(
        &r,
        "renewed.pem",
        &[
            leaf(&["api.rot.test"], &copy(&r.key_a), &r.inter, 200),
            r.inter.der(),
        ],
    );
    let out = run(&[
        "pins",
        "check-cert",
        "--config",
        cfg,
        "--domain",
        "api.rot.test",
        &renewed,
    ]);
    let (o, _) = text(&out);
    assert_eq!(code(&out), 0, "{o}");
    assert_eq!(o.matches(" accepts ").count(), 4, "{o}");
    // A new key nobody pinned: refused, on every platform.
    let fresh = write_chain(
        &r,
        "fresh.pem",
        &[
            leaf(&["api.rot.test"], &p256(), &r.inter, 200),
            r.inter.der(),
        ],
    );
    let out = run(&[
        "pins",
        "check-cert",
        "--config",
        cfg,
        "--domain",
        "api.rot.test",
        &fresh,
        "--json",
    ]);
    assert_eq!(code(&out), 1);
    let v: Value = serde_json::from_str(&text(&out).0).unwrap();
    assert_eq!(v["accepted"], false);
    assert!(
        v["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["accepts"] == false),
        "{v}"
    );
    // Unknown domain, unreadable chain: exit 2.
    assert_eq!(
        code(&run(&[
            "pins",
            "check-cert",
            "--config",
            cfg,
            "--domain",
            "nope.test",
            &fresh
        ])),
        2
    );
    assert_eq!(
        code(&run(&[
            "pins",
            "check-cert",
            "--config",
            cfg,
            "--domain",
            "api.rot.test",
            cfg
        ])),
        2
    );
}

#[test]
fn check_cert_follows_the_ios_leaf_and_ca_rule_and_android_expiry() {
    let r = rotation();
    let inter_file = r.dir.join("inter.pem");
    std::fs::write(&inter_file, r.inter.pem()).unwrap();
    let toml = r.dir.join("pins.toml");
    let write = |expires: &str| {
        std::fs::write(&toml, format!(
            "[[domain]]\nname = \"api.rot.test\"\n{expires}pins = [\n {{ sha256 = \"{}\", label = \"leaf\", kind = \"leaf\" }},\n {{ file = \"inter.pem\", label = \"intermediate\" }},\n]\n",
            key_pin(&r.key_a)
        )).unwrap();
    };
    write("");
    let cfg = toml.to_str().unwrap();
    let verdicts = |chain: &str| -> (i32, Vec<(String, bool)>) {
        let out = run(&[
            "pins",
            "check-cert",
            "--config",
            cfg,
            "--domain",
            "api.rot.test",
            chain,
            "--json",
        ]);
        let v: Value = serde_json::from_str(&text(&out).0).unwrap();
        let list = v["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["platform"].as_str().unwrap().to_owned(),
                    x["accepts"].as_bool().unwrap(),
                )
            })
            .collect();
        (code(&out), list)
    };
    let get = |list: &[(String, bool)], p: &str| list.iter().find(|(n, _)| n == p).unwrap().1;
    // Pinned leaf under another intermediate: Android yes (a pin anywhere),
    // iOS no (both leaf and CA identities given: both must match).
    let moved = write_chain(
        &r,
        "moved.pem",
        &[
            leaf(&["api.rot.test"], &copy(&r.key_a), &r.other_inter, 90),
            r.other_inter.der(),
        ],
    );
    let (c, v) = verdicts(&moved);
    assert_eq!(c, 1);
    assert!(get(&v, "android") && get(&v, "okhttp") && get(&v, "trustkit"));
    assert!(!get(&v, "ios"));
    // Pinned leaf under the pinned intermediate: all accept.
    let same = write_chain(
        &r,
        "same.pem",
        &[
            leaf(&["api.rot.test"], &copy(&r.key_a), &r.inter, 90),
            r.inter.der(),
        ],
    );
    assert_eq!(verdicts(&same).0, 0);
    // New key under the pinned intermediate: Android yes, iOS no (leaf).
    let new_leaf = write_chain(
        &r,
        "newleaf.pem",
        &[
            leaf(&["api.rot.test"], &p256(), &r.inter, 90),
            r.inter.der(),
        ],
    );
    let (c, v) = verdicts(&new_leaf);
    assert_eq!(c, 1);
    assert!(get(&v, "android") && !get(&v, "ios"));
    // After the pin set's expiration Android and TrustKit stop pinning;
    // iOS and OkHttp have no expiry and still refuse an unpinned chain.
    write("expires = \"2020-01-01\"\n");
    let stranger = write_chain(
        &r,
        "stranger.pem",
        &[
            leaf(&["api.rot.test"], &p256(), &r.other_inter, 90),
            r.other_inter.der(),
        ],
    );
    let (c, v) = verdicts(&stranger);
    assert_eq!(c, 1);
    assert!(get(&v, "android") && get(&v, "trustkit"));
    assert!(!get(&v, "ios") && !get(&v, "okhttp"));
    let out = run(&[
        "pins",
        "check-cert",
        "--config",
        cfg,
        "--domain",
        "api.rot.test",
        &stranger,
    ]);
    assert!(
        text(&out).0.contains("the pin set expired on 2020-01-01"),
        "{}",
        text(&out).0
    );
}

#[test]
fn lint_catches_every_rule() {
    let dir = temp_dir("lint");
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
    let dir = temp_dir("model");
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
    let dir = temp_dir("nopins");
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
